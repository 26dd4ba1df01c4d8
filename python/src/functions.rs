//! Module-level functions of `ember._ember`, wrapped by the Python namespace (`ember.exp`,
//! `ember.sum`, ...). Ops are looked up by their NumPy names so the Python side stays a thin
//! table.

use crate::convert::{parse_axes, parse_dtype, to_tensor};
use crate::dispatch::{self, run, wrap};
use crate::errors::IntoPy;
use crate::op_args;
use crate::tensor::PyTensor;
use ember::ops::{self, Operand};
use ember::{eager, DType, Scalar, Tensor};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// `unary(name, x)`: a unary op by NumPy name.
#[pyfunction]
pub fn unary(py: Python<'_>, name: &str, x: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
    dispatch::unary(py, name, x)
}

/// `binary(name, a, b)`: a binary op by NumPy name.
#[pyfunction]
pub fn binary(
    py: Python<'_>,
    name: &str,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
) -> PyResult<Py<PyTensor>> {
    dispatch::binary(py, name, a, b)
}

/// `reduce(name, x, axis, dtype, keepdims)`.
#[pyfunction]
#[pyo3(signature = (name, x, axis=None, dtype=None, keepdims=false))]
pub fn reduce(
    name: &str,
    x: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
    keepdims: bool,
) -> PyResult<Py<PyTensor>> {
    op_args::reduce_impl(x, name, axis, dtype, None, keepdims)
}

/// `moment(name, x, axis, dtype, ddof, keepdims)` for var/std.
#[pyfunction]
#[pyo3(signature = (name, x, axis=None, dtype=None, ddof=0, keepdims=false))]
pub fn moment(
    name: &str,
    x: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
    ddof: i64,
    keepdims: bool,
) -> PyResult<Py<PyTensor>> {
    op_args::moment_impl(x, name, axis, dtype, None, ddof, keepdims)
}

/// `matmul(a, b)`.
#[pyfunction]
pub fn matmul(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
    op_args::matmul_objs(a, b)
}

/// `where(cond, x, y)`.
#[pyfunction]
#[pyo3(name = "where")]
pub fn where_(
    cond: &Bound<'_, PyAny>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
) -> PyResult<Py<PyTensor>> {
    op_args::where_impl(cond, x, y)
}

/// `clip(x, lo, hi)`.
#[pyfunction]
#[pyo3(signature = (x, lo=None, hi=None))]
pub fn clip(
    x: &Bound<'_, PyAny>,
    lo: Option<&Bound<'_, PyAny>>,
    hi: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    op_args::clip_impl(x, lo, hi)
}

/// `composite(name, x, axis, keepdims, extra)`: softmax, log_softmax, logsumexp, gelu,
/// silu, layer_norm.
#[pyfunction]
#[pyo3(signature = (name, x, axis=None, keepdims=false, approximate=false, eps=1e-5))]
pub fn composite(
    py: Python<'_>,
    name: &str,
    x: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    keepdims: bool,
    approximate: bool,
    eps: f64,
) -> PyResult<Py<PyTensor>> {
    let t = to_tensor(x, "x")?;
    let axes = parse_axes(axis)?;
    let one_axis = |default: i64| -> PyResult<i64> {
        match axes.as_deref() {
            None => Ok(default),
            Some([a]) => Ok(*a),
            Some(_) => Err(PyValueError::new_err(format!(
                "{name}: axis must be a single int"
            ))),
        }
    };
    let r = match name {
        "softmax" => {
            let a = one_axis(-1)?;
            run(py, t.is_traced(), || ops::softmax(&t, a))?
        }
        "log_softmax" => {
            let a = one_axis(-1)?;
            run(py, t.is_traced(), || ops::log_softmax(&t, a))?
        }
        "logsumexp" => run(py, t.is_traced(), || {
            ops::logsumexp(&t, axes.as_deref(), keepdims)
        })?,
        "gelu" => run(py, t.is_traced(), || ops::gelu(&t, approximate))?,
        "silu" => run(py, t.is_traced(), || ops::silu(&t))?,
        "layer_norm" => run(py, t.is_traced(), || {
            ops::layer_norm(&t, axes.as_deref(), eps)
        })?,
        _ => return Err(PyValueError::new_err(format!("unknown function {name}"))),
    };
    wrap(py, r)
}

/// `movement(name, x, arg)`: reshape, transpose, expand_dims, squeeze, broadcast_to,
/// swapaxes.
#[pyfunction]
#[pyo3(signature = (name, x, arg=None, arg2=None))]
pub fn movement(
    py: Python<'_>,
    name: &str,
    x: &Bound<'_, PyAny>,
    arg: Option<&Bound<'_, PyAny>>,
    arg2: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let t = to_tensor(x, "a")?;
    let ints = parse_axes(arg)?;
    let r = match name {
        "reshape" => {
            let shape =
                ints.ok_or_else(|| PyValueError::new_err("reshape: newshape is required"))?;
            run(py, t.is_traced(), || ops::reshape(&t, &shape))?
        }
        "transpose" => run(py, t.is_traced(), || ops::transpose(&t, ints.as_deref()))?,
        "expand_dims" => {
            let axes =
                ints.ok_or_else(|| PyValueError::new_err("expand_dims: axis is required"))?;
            run(py, t.is_traced(), || ops::expand_dims(&t, &axes))?
        }
        "squeeze" => run(py, t.is_traced(), || ops::squeeze(&t, ints.as_deref()))?,
        "broadcast_to" => {
            let shape: Vec<usize> = arg
                .map(|a| {
                    a.extract::<Vec<usize>>()
                        .or_else(|_| a.extract::<usize>().map(|v| vec![v]))
                })
                .transpose()
                .map_err(|_| {
                    PyValueError::new_err(
                        "broadcast_to: shape must be a tuple of non-negative ints",
                    )
                })?
                .ok_or_else(|| PyValueError::new_err("broadcast_to: shape is required"))?;
            run(py, t.is_traced(), || ops::broadcast_to(&t, &shape))?
        }
        "swapaxes" => {
            let a: i64 = arg
                .ok_or_else(|| PyValueError::new_err("swapaxes: axis1 is required"))?
                .extract()?;
            let b: i64 = arg2
                .ok_or_else(|| PyValueError::new_err("swapaxes: axis2 is required"))?
                .extract()?;
            run(py, t.is_traced(), || ops::swapaxes(&t, a, b))?
        }
        _ => return Err(PyValueError::new_err(format!("unknown function {name}"))),
    };
    wrap(py, r)
}

fn tensors(xs: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<Tensor>> {
    xs.try_iter()?
        .enumerate()
        .map(|(i, o)| to_tensor(&o?, &format!("{name}[{i}]")))
        .collect()
}

/// `concatenate(xs, axis)`.
#[pyfunction]
#[pyo3(signature = (xs, axis=0))]
pub fn concatenate(py: Python<'_>, xs: &Bound<'_, PyAny>, axis: i64) -> PyResult<Py<PyTensor>> {
    let ts = tensors(xs, "arrays")?;
    let traced = ts.iter().any(Tensor::is_traced);
    let r = run(py, traced, || ops::concatenate(&ts, axis))?;
    wrap(py, r)
}

/// `stack(xs, axis)`.
#[pyfunction]
#[pyo3(signature = (xs, axis=0))]
pub fn stack(py: Python<'_>, xs: &Bound<'_, PyAny>, axis: i64) -> PyResult<Py<PyTensor>> {
    let ts = tensors(xs, "arrays")?;
    let traced = ts.iter().any(Tensor::is_traced);
    let r = run(py, traced, || ops::stack(&ts, axis))?;
    wrap(py, r)
}

/// `astype(x, dtype)`.
#[pyfunction]
pub fn astype(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    dtype: &Bound<'_, PyAny>,
) -> PyResult<Py<PyTensor>> {
    let t = to_tensor(x, "x")?;
    let d = parse_dtype(dtype, "dtype")?;
    let r = run(py, t.is_traced(), || ops::astype(&t, d))?;
    wrap(py, r)
}

fn dtype_or(dtype: Option<&Bound<'_, PyAny>>, default: DType) -> PyResult<DType> {
    match dtype.filter(|d| !d.is_none()) {
        Some(d) => parse_dtype(d, "dtype"),
        None => Ok(default),
    }
}

fn shape_arg(shape: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    shape
        .extract::<usize>()
        .map(|n| vec![n])
        .or_else(|_| shape.extract::<Vec<usize>>())
        .map_err(|_| {
            PyValueError::new_err(format!(
                "shape: expected a non-negative int or a tuple of them, got {shape}"
            ))
        })
}

/// `full(shape, value, dtype)`; the dtype defaults to the value's (NumPy rules).
#[pyfunction]
#[pyo3(signature = (shape, fill_value, dtype=None))]
pub fn full(
    py: Python<'_>,
    shape: &Bound<'_, PyAny>,
    fill_value: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let shape = shape_arg(shape)?;
    let value = match crate::convert::to_operand(fill_value, "fill_value")? {
        Operand::Weak(Scalar::F64(_), ember::ir::WeakKind::Int) => {
            return Err(beyond_int64("fill_value", fill_value));
        }
        Operand::Weak(s, _) => s,
        Operand::Tensor(t) => t.item().py()?,
    };
    let d = dtype_or(dtype, value.dtype())?;
    wrap(py, eager::creation::full(&shape, value.cast(d)).py()?)
}

/// `zeros(shape, dtype=float64)`.
#[pyfunction]
#[pyo3(signature = (shape, dtype=None))]
pub fn zeros(
    py: Python<'_>,
    shape: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let d = dtype_or(dtype, DType::F64)?;
    wrap(py, Tensor::zeros(d, &shape_arg(shape)?).py()?)
}

/// `ones(shape, dtype=float64)`.
#[pyfunction]
#[pyo3(signature = (shape, dtype=None))]
pub fn ones(
    py: Python<'_>,
    shape: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let d = dtype_or(dtype, DType::F64)?;
    wrap(
        py,
        eager::creation::full(&shape_arg(shape)?, Scalar::I64(1).cast(d)).py()?,
    )
}

/// `arange(start, stop, step, dtype)` with NumPy's defaults (ints give int64, any float
/// gives float64).
#[pyfunction]
#[pyo3(signature = (start, stop=None, step=None, dtype=None))]
pub fn arange(
    py: Python<'_>,
    start: &Bound<'_, PyAny>,
    stop: Option<&Bound<'_, PyAny>>,
    step: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let scalar = |o: &Bound<'_, PyAny>, n: &str| -> PyResult<Scalar> {
        match crate::convert::to_operand(o, n)? {
            Operand::Weak(Scalar::F64(_), ember::ir::WeakKind::Int) => Err(beyond_int64(n, o)),
            Operand::Weak(s, _) => Ok(s),
            Operand::Tensor(t) => t.item().py(),
        }
    };
    let stop = stop.filter(|s| !s.is_none());
    let step = step.filter(|s| !s.is_none());
    let (start, stop) = match stop {
        None => (Scalar::I64(0), scalar(start, "stop")?),
        Some(s) => (scalar(start, "start")?, scalar(s, "stop")?),
    };
    let step = step
        .map(|s| scalar(s, "step"))
        .transpose()?
        .unwrap_or(Scalar::I64(1));
    let natural = [start, stop, step]
        .iter()
        .map(|s| s.dtype())
        .fold(DType::I64, ember::ir::promote);
    let d = dtype_or(dtype, natural)?;
    wrap(py, eager::creation::arange(start, stop, step, d).py()?)
}

/// `linspace(start, stop, num=50, endpoint=True, dtype=float64)`.
#[pyfunction]
#[pyo3(signature = (start, stop, num=50, endpoint=true, dtype=None))]
pub fn linspace(
    py: Python<'_>,
    start: f64,
    stop: f64,
    num: usize,
    endpoint: bool,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let d = dtype_or(dtype, DType::F64)?;
    wrap(
        py,
        eager::creation::linspace(start, stop, num, endpoint, d).py()?,
    )
}

/// `eye(N, M=None, k=0, dtype=float64)`.
#[pyfunction]
#[pyo3(signature = (n, m=None, k=0, dtype=None))]
pub fn eye(
    py: Python<'_>,
    n: usize,
    m: Option<usize>,
    k: i64,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let d = dtype_or(dtype, DType::F64)?;
    wrap(py, eager::creation::eye(n, m, k, d).py()?)
}

/// `asarray(x, dtype=None, copy=None)`: borrows NumPy memory where it can; `copy=True`
/// always copies; `copy=False` raises when a copy would be needed.
#[pyfunction]
#[pyo3(signature = (x, dtype=None, copy=None))]
pub fn asarray(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    copy: Option<bool>,
) -> PyResult<Py<PyAny>> {
    if let (Ok(t), None, None | Some(false)) =
        (x.cast::<PyTensor>(), dtype.filter(|d| !d.is_none()), copy)
    {
        return Ok(t.clone().unbind().into_any());
    }
    let mut t = to_tensor(x, "x")?;
    if let Some(d) = dtype.filter(|d| !d.is_none()) {
        let d = parse_dtype(d, "dtype")?;
        if d != t.dtype() {
            if copy == Some(false) {
                return Err(PyValueError::new_err(format!(
                    "asarray: converting {} to {d} needs a copy, but copy=False was given",
                    t.dtype()
                )));
            }
            t = ops::astype(&t, d).py()?;
        }
    }
    if copy == Some(true) {
        t = t.deep_copy().py()?;
    }
    Ok(wrap(py, t)?.into_any())
}

/// Whether `x` shares memory with a NumPy array: a data-pointer check used by tests.
#[pyfunction]
pub fn data_ptr(x: &Bound<'_, PyTensor>) -> PyResult<usize> {
    Ok(x.get().inner.data_ptr().py()? as usize)
}

/// Lists the op names this build supports, for the Python namespace and docs.
#[pyfunction]
pub fn op_names<'py>(py: Python<'py>) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
    let u = PyList::new(py, ember::ir::UnaryOp::ALL.iter().map(|o| o.name()))?;
    let b = PyList::new(py, ember::ir::BinaryOp::ALL.iter().map(|o| o.name()))?;
    Ok((u, b))
}

/// `devices()`: `["cpu", "cuda:0", ...]`, discovered at run time.
#[pyfunction]
pub fn devices() -> Vec<String> {
    ember::runtime::devices()
        .iter()
        .map(|d| d.to_string())
        .collect()
}

/// One line describing `device` (`"cuda:0 NVIDIA H100 ... (sm_90, 81559 MiB)"`, or that it
/// is simulated); `DeviceError` when it is not available.
#[pyfunction]
pub fn describe_device(device: &str) -> PyResult<String> {
    let d = ember::Device::parse(device).ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "device: expected 'cpu', 'cuda' or 'cuda:N', got {device:?}"
        ))
    })?;
    ember::runtime::devices::describe(d).py()
}

/// Turns the simulated CUDA device on with `capacity` bytes of memory, or off with `None`
/// (see `ember.testing.simulate_cuda`).
#[pyfunction]
#[pyo3(signature = (capacity))]
pub fn simulate_cuda(capacity: Option<usize>) {
    ember::runtime::device::simulate_cuda(capacity);
}

/// Waits until all work queued on `device` has finished (device launches are asynchronous;
/// reading a result waits by itself, so this is for timing).
#[pyfunction]
pub fn synchronize(py: Python<'_>, device: &str) -> PyResult<()> {
    match ember::Device::parse(device) {
        Some(ember::Device::Cpu) => Ok(()),
        Some(d) => {
            let rt = ember::runtime::device::runtime(d).py()?;
            py.detach(|| rt.synchronize()).py()
        }
        None => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "device: expected 'cpu', 'cuda' or 'cuda:N', got {device:?}"
        ))),
    }
}

/// Bytes allocated on `device` through Ember right now (0 for the host, which Ember does not
/// count here).
#[pyfunction]
pub fn device_bytes_in_use(device: &str) -> PyResult<usize> {
    match ember::Device::parse(device) {
        Some(ember::Device::Cpu) => Ok(0),
        Some(d) => Ok(ember::runtime::device::runtime(d).py()?.bytes_in_use()),
        None => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "device: expected 'cpu', 'cuda' or 'cuda:N', got {device:?}"
        ))),
    }
}

/// `set_transfer_guard(level, scope)`: sets the guard for the process (`scope="global"`) or
/// this thread (`"thread"`; `level=None` clears the thread's override). Returns the previous
/// level of that scope.
#[pyfunction]
#[pyo3(signature = (level, scope="global"))]
pub fn set_transfer_guard(level: Option<&str>, scope: &str) -> PyResult<Option<String>> {
    use ember::runtime::transfers::{current_guard, set_global_guard, set_thread_guard, Guard};
    let parse = |l: &str| {
        Guard::parse(l).ok_or_else(|| {
            PyValueError::new_err(format!(
                "transfer_guard: expected 'allow', 'log' or 'disallow', got {l:?}"
            ))
        })
    };
    match scope {
        "global" => {
            let level =
                level.ok_or_else(|| PyValueError::new_err("transfer_guard: level is required"))?;
            let g = parse(level)?;
            let prev = set_thread_guard(None);
            let old = current_guard();
            set_thread_guard(prev);
            set_global_guard(g);
            Ok(Some(old.name().to_string()))
        }
        "thread" => {
            let g = level.map(parse).transpose()?;
            Ok(set_thread_guard(g).map(|p| p.name().to_string()))
        }
        _ => Err(PyValueError::new_err(format!(
            "scope: expected 'global' or 'thread', got {scope:?}"
        ))),
    }
}

/// One ledger record as Python sees it: bytes, direction, device, seconds, cause, explicit.
type LedgerRow = (usize, String, String, f64, String, bool);

/// `transfer_ledger(reset=False)`: the copies recorded so far as
/// `(bytes, direction, device, seconds, cause, explicit)` tuples, and how many more were only
/// counted.
#[pyfunction]
#[pyo3(signature = (reset=false))]
pub fn transfer_ledger(reset: bool) -> (Vec<LedgerRow>, usize) {
    let (records, dropped) = ember::runtime::transfers::ledger(reset);
    let rows = records
        .into_iter()
        .map(|r| {
            (
                r.bytes,
                r.direction.name().to_string(),
                r.device.to_string(),
                r.duration.as_secs_f64(),
                r.cause,
                r.explicit,
            )
        })
        .collect();
    (rows, dropped)
}

/// The error for a Python int beyond int64 where Ember needs the int itself (NumPy would
/// make an object array, which Ember does not have).
fn beyond_int64(arg: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    pyo3::exceptions::PyOverflowError::new_err(format!(
        "{arg}: Python integer {obj} does not fit in int64"
    ))
}
