//! `ember._ember`: the pyo3 extension behind the `ember` Python package.
//!
//! Every function converts Rust errors to Python exceptions through `errors::to_py`; no Rust
//! panic is meant to cross this boundary (pyo3 would turn one into `PanicException`).

mod convert;
mod dispatch;
mod errors;
mod fastpath;
mod functions;
mod jit;
mod numpy_api;
mod op_args;
mod profile;
mod tensor;

use pyo3::prelude::*;

/// Records the package directory so traced ops can name the user's own source lines.
#[pyfunction]
fn _set_package_dir(py: Python<'_>, dir: String) {
    dispatch::set_package_dir(py, dir);
}

#[pymodule]
fn _ember(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<tensor::PyTensor>()?;
    m.add_class::<jit::PyTrace>()?;
    m.add_class::<jit::PyCompiled>()?;
    m.add_class::<fastpath::FastCache>()?;
    m.add("EmberError", py.get_type::<errors::EmberException>())?;
    m.add("TraceError", py.get_type::<errors::TraceError>())?;
    m.add("BackendError", py.get_type::<errors::BackendError>())?;
    m.add("DeviceError", py.get_type::<errors::DeviceError>())?;
    m.add("TransferError", py.get_type::<errors::TransferError>())?;
    m.add("OutOfMemoryError", errors::out_of_memory_type(py)?)?;
    m.add_function(wrap_pyfunction!(functions::set_transfer_guard, m)?)?;
    m.add_function(wrap_pyfunction!(functions::transfer_ledger, m)?)?;
    m.add_function(wrap_pyfunction!(_set_package_dir, m)?)?;
    m.add_function(wrap_pyfunction!(functions::unary, m)?)?;
    m.add_function(wrap_pyfunction!(functions::binary, m)?)?;
    m.add_function(wrap_pyfunction!(functions::reduce, m)?)?;
    m.add_function(wrap_pyfunction!(functions::moment, m)?)?;
    m.add_function(wrap_pyfunction!(functions::matmul, m)?)?;
    m.add_function(wrap_pyfunction!(functions::where_, m)?)?;
    m.add_function(wrap_pyfunction!(functions::clip, m)?)?;
    m.add_function(wrap_pyfunction!(functions::composite, m)?)?;
    m.add_function(wrap_pyfunction!(functions::movement, m)?)?;
    m.add_function(wrap_pyfunction!(functions::concatenate, m)?)?;
    m.add_function(wrap_pyfunction!(functions::stack, m)?)?;
    m.add_function(wrap_pyfunction!(functions::astype, m)?)?;
    m.add_function(wrap_pyfunction!(functions::full, m)?)?;
    m.add_function(wrap_pyfunction!(functions::zeros, m)?)?;
    m.add_function(wrap_pyfunction!(functions::ones, m)?)?;
    m.add_function(wrap_pyfunction!(functions::arange, m)?)?;
    m.add_function(wrap_pyfunction!(functions::linspace, m)?)?;
    m.add_function(wrap_pyfunction!(functions::eye, m)?)?;
    m.add_function(wrap_pyfunction!(functions::asarray, m)?)?;
    m.add_function(wrap_pyfunction!(functions::data_ptr, m)?)?;
    m.add_function(wrap_pyfunction!(functions::op_names, m)?)?;
    m.add_function(wrap_pyfunction!(functions::devices, m)?)?;
    m.add_function(wrap_pyfunction!(functions::describe_device, m)?)?;
    m.add_function(wrap_pyfunction!(functions::simulate_cuda, m)?)?;
    m.add_function(wrap_pyfunction!(functions::synchronize, m)?)?;
    m.add_function(wrap_pyfunction!(functions::device_bytes_in_use, m)?)?;
    profile::register(m)?;
    Ok(())
}
