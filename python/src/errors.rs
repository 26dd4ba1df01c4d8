//! Maps Ember's Rust errors to Python exceptions. Every error crossing into Python goes
//! through [`to_py`], so the exception class is chosen in one place.

use ember::ir::IrError;
use ember::EmberError;
use pyo3::exceptions::{PyIndexError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    ember,
    EmberException,
    pyo3::exceptions::PyException,
    "Base class of Ember's own errors."
);
pyo3::create_exception!(
    ember,
    TraceError,
    EmberException,
    "Tracing met something it cannot record (bool(x), float(x), a data-dependent shape, a NumPy function Ember does not implement). A jitted function falls back to eager execution unless fallback='error'."
);
pyo3::create_exception!(
    ember,
    BackendError,
    EmberException,
    "A backend failed to compile or run a kernel."
);
pyo3::create_exception!(
    ember,
    TransferError,
    EmberException,
    "An implicit copy or host/device transfer refused by ember.transfer_guard('disallow')."
);
pyo3::create_exception!(
    ember,
    DeviceError,
    EmberException,
    "A device is unavailable or failed."
);

/// `ember.OutOfMemoryError`: both an Ember error and a `MemoryError` (so `except
/// MemoryError` code keeps working), made at import time because it has two bases.
static OUT_OF_MEMORY: pyo3::sync::PyOnceLock<Py<pyo3::types::PyType>> =
    pyo3::sync::PyOnceLock::new();

/// The `OutOfMemoryError` class (created on first use).
pub fn out_of_memory_type(py: Python<'_>) -> PyResult<&Bound<'_, pyo3::types::PyType>> {
    OUT_OF_MEMORY
        .get_or_try_init(py, || {
            let bases = pyo3::types::PyTuple::new(
                py,
                [
                    py.get_type::<EmberException>().into_any(),
                    py.get_type::<pyo3::exceptions::PyMemoryError>().into_any(),
                ],
            )?;
            let dict = pyo3::types::PyDict::new(py);
            dict.set_item("__module__", "ember")?;
            dict.set_item(
                "__doc__",
                "Host or device memory ran out (the allocation failed; the process keeps \
                 working). A subclass of MemoryError.",
            )?;
            let t =
                py.import("builtins")?
                    .getattr("type")?
                    .call1(("OutOfMemoryError", bases, dict))?;
            Ok(t.cast_into::<pyo3::types::PyType>()?.unbind())
        })
        .map(|t| t.bind(py))
}

/// Python's `numpy.exceptions.AxisError` is both a ValueError and an IndexError; we raise a
/// ValueError subclass with NumPy's message.
fn axis_error(py: Python<'_>, msg: String) -> PyErr {
    py.import("numpy.exceptions")
        .and_then(|m| m.getattr("AxisError"))
        .and_then(|cls| cls.call1((msg.clone(),)))
        .map(|e| PyErr::from_value(e))
        .unwrap_or_else(|_| PyValueError::new_err(msg))
}

/// Converts an Ember error to the matching Python exception.
pub fn to_py(e: EmberError) -> PyErr {
    let msg = e.to_string();
    match e {
        EmberError::Ir(IrError::DType { .. }) | EmberError::Type(_) => PyTypeError::new_err(msg),
        EmberError::Ir(IrError::Axis { .. }) => Python::attach(|py| axis_error(py, msg)),
        EmberError::Ir(IrError::Index { .. }) | EmberError::Index(_) => PyIndexError::new_err(msg),
        EmberError::Ir(_) | EmberError::Value(_) => PyValueError::new_err(msg),
        EmberError::Trace(_) => TraceError::new_err(msg),
        EmberError::Backend(_) => BackendError::new_err(msg),
        EmberError::Device(_) => DeviceError::new_err(msg),
        EmberError::Overflow(_) => PyOverflowError::new_err(msg),
        EmberError::Transfer(_) => TransferError::new_err(msg),
        EmberError::OutOfMemory(_) => Python::attach(|py| match out_of_memory_type(py) {
            Ok(t) => PyErr::from_type(t.clone(), msg),
            Err(_) => pyo3::exceptions::PyMemoryError::new_err(msg),
        }),
    }
}

/// `Result<T, EmberError>` to `PyResult<T>`.
pub trait IntoPy<T> {
    /// Maps the error with [`to_py`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, EmberError> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

impl<T> IntoPy<T> for Result<T, IrError> {
    fn py(self) -> PyResult<T> {
        self.map_err(|e| to_py(e.into()))
    }
}
