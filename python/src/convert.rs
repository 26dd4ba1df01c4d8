//! The NumPy boundary: arrays in (borrowed without a copy where the layout allows), arrays
//! out (read-only views of the tensor's memory), dtypes and Python scalars.

use crate::errors::IntoPy;
use crate::tensor::PyTensor;
use ember::ops::Operand;
use ember::storage::Storage;
use ember::tensor::{Buffer, Strides};
use ember::{DType, Scalar, Tensor};
use numpy::npyffi::{self, flags};
use numpy::{PyArray, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};
use std::sync::Arc;

/// The supported dtypes, for messages.
pub const SUPPORTED: &str = "bool, int32, int64, float32, float64";

/// Maps a NumPy dtype to an Ember dtype by kind and size; `None` when unsupported.
pub fn dtype_from_numpy(kind: u8, itemsize: usize) -> Option<DType> {
    match (kind, itemsize) {
        (b'b', 1) => Some(DType::Bool),
        (b'i', 4) => Some(DType::I32),
        (b'i', 8) => Some(DType::I64),
        (b'f', 4) => Some(DType::F32),
        (b'f', 8) => Some(DType::F64),
        _ => None,
    }
}

/// Parses anything `np.dtype()` accepts (`np.float32`, `"int64"`, `float`, a dtype object)
/// into an Ember dtype; `arg` names the argument in the error.
pub fn parse_dtype(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<DType> {
    let py = obj.py();
    let np_dtype = py
        .import("numpy")?
        .getattr("dtype")?
        .call1((obj,))
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "{arg}: {obj} is not a dtype; expected one of {SUPPORTED}"
            ))
        })?;
    let kind: String = np_dtype.getattr("kind")?.extract()?;
    let itemsize: usize = np_dtype.getattr("itemsize")?.extract()?;
    dtype_from_numpy(kind.as_bytes()[0], itemsize).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "{arg}: unsupported dtype {np_dtype}; Ember supports {SUPPORTED}"
        ))
    })
}

/// The NumPy dtype object for an Ember dtype.
pub fn numpy_dtype<'py>(py: Python<'py>, d: DType) -> PyResult<Bound<'py, PyAny>> {
    py.import("numpy")?.getattr("dtype")?.call1((d.name(),))
}

/// Keeps the NumPy array whose memory a tensor borrows alive.
struct ArrayOwner(#[allow(dead_code)] Py<PyAny>);

/// Wraps a NumPy array as a tensor. Borrows its memory when the dtype is supported, the
/// byte order native, the data aligned and the strides whole elements (any order, including
/// Fortran and reversed views); otherwise copies through `np.ascontiguousarray`. Unsupported
/// dtypes raise `TypeError` naming `arg` (no silent conversion).
pub fn tensor_from_numpy(arr: &Bound<'_, PyUntypedArray>, arg: &str) -> PyResult<Tensor> {
    let py = arr.py();
    let descr = arr.dtype();
    let kind = descr.kind();
    let itemsize = descr.itemsize();
    let dtype = dtype_from_numpy(kind, itemsize).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "{arg}: unsupported dtype {descr}; Ember supports {SUPPORTED} (convert with .astype first)"
        ))
    })?;
    let native = descr.is_native_byteorder().unwrap_or(true);
    // SAFETY: `arr` is a live ndarray; we only read its header fields.
    let fields = unsafe { &*npyffi::objects::_PyArray_GET_ITEM_DATA(arr.as_array_ptr()) };
    let data = fields.data as usize;
    let byte_strides = arr.strides();
    let shape: Vec<usize> = arr.shape().to_vec();
    let aligned = data.is_multiple_of(itemsize)
        && byte_strides.iter().all(|s| s % itemsize as isize == 0)
        && fields.flags & flags::NPY_ARRAY_ALIGNED != 0;
    if !native || !aligned {
        let why = if native {
            "misaligned data"
        } else {
            "non-native byte order"
        };
        let cause = format!("{arg}: {descr} array with {why} copied to native, aligned memory");
        let nbytes = arr.len() * itemsize;
        // np.array with copy=True makes fresh, aligned, native-order memory; the ledger
        // records it and the transfer guard may refuse it.
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("dtype", dtype.name())?;
        kwargs.set_item("copy", true)?;
        let mut made = None;
        ember::runtime::transfers::copy(
            nbytes,
            ember::profile::Direction::HostToHost,
            ember::Device::Cpu,
            &cause,
            false,
            || {
                made = Some(
                    py.import("numpy")
                        .and_then(|np| np.getattr("array"))
                        .and_then(|f| f.call((arr,), Some(&kwargs))),
                );
                Ok(())
            },
        )
        .py()?;
        let copy = made.ok_or_else(|| PyTypeError::new_err(format!("{arg}: copy failed")))??;
        let copy = copy.cast::<PyUntypedArray>()?;
        // SAFETY: reading the header of a live array.
        let fresh = unsafe { &*npyffi::objects::_PyArray_GET_ITEM_DATA(copy.as_array_ptr()) };
        if !(fresh.data as usize).is_multiple_of(itemsize) {
            return Err(PyTypeError::new_err(format!(
                "{arg}: could not make an aligned copy"
            )));
        }
        return tensor_from_numpy(copy, arg);
    }
    let strides: Strides = byte_strides.iter().map(|s| s / itemsize as isize).collect();
    // The storage spans from the lowest to the highest element address.
    let numel: usize = shape.iter().product();
    let (mut lo, mut hi) = (0isize, 0isize);
    if numel > 0 {
        for (&d, &s) in shape.iter().zip(&strides) {
            let span = (d as isize - 1) * s;
            if span < 0 {
                lo += span;
            } else {
                hi += span;
            }
        }
    }
    let base = data as isize + lo * itemsize as isize;
    let nbytes = if numel == 0 {
        0
    } else {
        ((hi - lo + 1) as usize) * itemsize
    };
    let owner = ArrayOwner(arr.clone().into_any().unbind());
    // SAFETY: the array's memory covers [base, base + nbytes) and stays valid while the
    // array object (held by the owner) lives.
    let storage = unsafe { Storage::foreign(base as *const u8, nbytes, Box::new(owner)) };
    Tensor::from_buffer(
        dtype,
        &shape,
        Buffer {
            storage: Arc::new(storage),
            strides,
            offset: (-lo) as usize,
        },
    )
    .py()
}

/// Converts a Python object to a tensor: an Ember tensor as is, a NumPy array borrowed,
/// anything else through `np.asarray` (lists, NumPy scalars, Python numbers as strong
/// default dtypes).
pub fn to_tensor(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<Tensor> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(t.get().inner.clone());
    }
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return tensor_from_numpy(a, arg);
    }
    let np = obj.py().import("numpy")?;
    let arr = np.getattr("asarray")?.call1((obj,)).map_err(|e| {
        PyTypeError::new_err(format!(
            "{arg}: expected an array-like, got {} ({e})",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    let arr = arr.cast::<PyUntypedArray>()?;
    if arr.dtype().kind() == b'O' {
        return Err(PyTypeError::new_err(format!(
            "{arg}: cannot convert {} to an array of numbers",
            obj.get_type().name()?
        )));
    }
    tensor_from_numpy(arr, arg)
}

/// True for NumPy's scalar types. `np.float64` subclasses Python's `float`, but NEP 50 types
/// it strongly: `float32_array * np.float64(2)` is float64, `* 2.0` float32.
fn is_numpy_scalar(obj: &Bound<'_, PyAny>) -> bool {
    if obj.is_exact_instance_of::<PyFloat>() {
        return false;
    }
    obj.get_type()
        .module()
        .is_ok_and(|m| m.to_str().is_ok_and(|m| m == "numpy"))
}

/// Converts a Python object to an op operand: Python `bool`/`int`/`float` stay weak (NEP 50),
/// everything else (NumPy scalars included) becomes a tensor.
pub fn to_operand(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<Operand> {
    if obj.is_instance_of::<PyBool>() {
        return Ok(Operand::Weak(
            Scalar::Bool(obj.extract()?),
            ember::ir::WeakKind::Bool,
        ));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(v) = obj.extract::<i64>() {
            return Ok(Operand::Weak(Scalar::I64(v), ember::ir::WeakKind::Int));
        }
        // Beyond int64: still a weak int, held as its nearest float64 (±inf beyond float64's
        // range). NumPy computes with it against float operands (`float_array + 2**70`),
        // compares int arrays with it exactly, and refuses it elsewhere, as `ops` does.
        let v: f64 = match obj.extract() {
            Ok(v) => v,
            Err(_) if obj.gt(0)? => f64::INFINITY,
            Err(_) => f64::NEG_INFINITY,
        };
        return Ok(Operand::Weak(Scalar::F64(v), ember::ir::WeakKind::Int));
    }
    if obj.is_instance_of::<PyFloat>() && !is_numpy_scalar(obj) {
        return Ok(Operand::Weak(
            Scalar::F64(obj.extract()?),
            ember::ir::WeakKind::Float,
        ));
    }
    to_tensor(obj, arg).map(Operand::Tensor)
}

/// A NumPy array viewing the tensor's memory, read-only, kept alive by `owner` (the Python
/// tensor object). No copy.
pub fn numpy_view<'py>(owner: &Bound<'py, PyTensor>) -> PyResult<Bound<'py, PyAny>> {
    let t = &owner.get().inner;
    if t.device() != ember::Device::Cpu && !t.is_traced() {
        // Reading a device tensor on the host copies it down (an explicit copy: the user
        // asked for the values); the view is of that host copy.
        let host = owner.py().detach(|| t.to(ember::Device::Cpu)).py()?;
        let owner = Bound::new(owner.py(), PyTensor { inner: host })?;
        return numpy_view(&owner);
    }
    let arr = ember::with_dtype!(t.dtype(), T => {
        let view = t.view::<T>().py()?;
        // SAFETY: the storage is immutable and lives as long as `owner`, which becomes the
        // NumPy array's base object.
        unsafe { PyArray::borrow_from_array(&view, owner.clone().into_any()) }.into_any()
    });
    // SAFETY: a live ndarray we just made; clearing WRITEABLE keeps tensors immutable.
    unsafe {
        let ptr = arr.as_ptr() as *mut npyffi::PyArrayObject;
        (*npyffi::objects::_PyArray_GET_ITEM_DATA(ptr)).flags &= !flags::NPY_ARRAY_WRITEABLE;
    }
    Ok(arr)
}

/// Parses an `axis` argument: `None`, an int or a tuple of ints.
pub fn parse_axes(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<i64>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => {
            if let Ok(a) = o.extract::<i64>() {
                Ok(Some(vec![a]))
            } else {
                o.extract::<Vec<i64>>().map(Some).map_err(|_| {
                    PyTypeError::new_err(format!(
                        "axis: expected None, an int or a tuple of ints, got {o}"
                    ))
                })
            }
        }
    }
}
