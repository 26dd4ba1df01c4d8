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
        EmberError::OutOfMemory(_) => pyo3::exceptions::PyMemoryError::new_err(msg),
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
