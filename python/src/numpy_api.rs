//! Forwards NumPy's dispatch protocols (`__array_ufunc__`, `__array_function__`) to the
//! Python module `ember._numpy_api`, which maps NumPy functions onto Ember ops. The table
//! lives in Python because it mirrors NumPy's Python signatures.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

static API: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Calls `ember._numpy_api.<name>(*args, **kwargs)`.
pub fn forward<'py, A>(
    py: Python<'py>,
    name: &str,
    args: A,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>>
where
    A: pyo3::call::PyCallArgs<'py>,
{
    let module = API.get_or_try_init(py, || {
        py.import("ember._numpy_api").map(|m| m.into_any().unbind())
    })?;
    module.bind(py).getattr(name)?.call(args, kwargs)
}
