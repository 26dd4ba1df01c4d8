//! Runs ember ops for Python: converts arguments, records the user's source line while
//! tracing, releases nothing else. All Python-facing ops funnel through here.

use crate::convert::{to_operand, to_tensor};
use crate::errors::IntoPy;
use crate::tensor::PyTensor;
use ember::ir::SourceLoc;
use ember::ops::Operand;
use ember::{ops, Tensor};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static PACKAGE_DIR: PyOnceLock<String> = PyOnceLock::new();

/// Remembers the `ember` package directory, whose frames are skipped when finding the
/// user's line.
pub fn set_package_dir(py: Python<'_>, dir: String) {
    let _ = PACKAGE_DIR.set(py, dir);
}

/// The innermost Python frame outside the `ember` package, as `file:line`.
fn user_location(py: Python<'_>) -> Option<SourceLoc> {
    let pkg = PACKAGE_DIR.get(py).cloned().unwrap_or_default();
    let mut frame = py
        .import("sys")
        .ok()?
        .call_method1("_getframe", (0,))
        .ok()?;
    loop {
        let file: String = frame
            .getattr("f_code")
            .ok()?
            .getattr("co_filename")
            .ok()?
            .extract()
            .ok()?;
        if pkg.is_empty() || !file.starts_with(&pkg) {
            let line: u32 = frame.getattr("f_lineno").ok()?.extract().ok()?;
            return Some(SourceLoc {
                file: file.into(),
                line,
            });
        }
        frame = frame.getattr("f_back").ok()?;
        if frame.is_none() {
            return None;
        }
    }
}

/// Runs `f`; when any operand is traced, first tells the tracer the user's source line.
pub fn run<F>(py: Python<'_>, traced: bool, f: F) -> PyResult<Tensor>
where
    F: FnOnce() -> ember::Result<Tensor>,
{
    if traced {
        ember::trace::set_location(user_location(py));
        let r = f();
        ember::trace::set_location(None);
        r.py()
    } else {
        f().py()
    }
}

fn is_traced(o: &Operand) -> bool {
    matches!(o, Operand::Tensor(t) if t.is_traced())
}

/// Wraps a result tensor as a Python object.
pub fn wrap(py: Python<'_>, t: Tensor) -> PyResult<Py<PyTensor>> {
    Py::new(py, PyTensor { inner: t })
}

/// A unary op by NumPy name on an array-like.
pub fn unary(py: Python<'_>, name: &str, x: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
    let op = ember::ir::UnaryOp::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown unary op {name}")))?;
    let x = to_tensor(x, "x")?;
    let t = run(py, x.is_traced(), || ops::unary(op, &x))?;
    wrap(py, t)
}

/// A binary op by NumPy name on two operands (Python scalars stay weak).
pub fn binary(
    py: Python<'_>,
    name: &str,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
) -> PyResult<Py<PyTensor>> {
    let op = ember::ir::BinaryOp::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown binary op {name}")))?;
    let (a, b) = (to_operand(a, "x1")?, to_operand(b, "x2")?);
    let traced = is_traced(&a) || is_traced(&b);
    let t = run(py, traced, || ops::binary(op, a, b))?;
    wrap(py, t)
}

/// Converts several operands, reporting whether any is traced.
pub fn operands(items: &[(&Bound<'_, PyAny>, &str)]) -> PyResult<(Vec<Operand>, bool)> {
    let ops = items
        .iter()
        .map(|(o, n)| to_operand(o, n))
        .collect::<PyResult<Vec<_>>>()?;
    let traced = ops.iter().any(is_traced);
    Ok((ops, traced))
}
