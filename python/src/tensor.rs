//! `ember.Tensor`: the Python face of [`ember::Tensor`]. Operators and methods follow
//! NumPy; conversions to NumPy are zero-copy read-only views.

use crate::convert::{numpy_dtype, numpy_view, parse_axes, parse_dtype, to_tensor};
use crate::dispatch::{binary, run, unary, wrap};
use crate::errors::{IntoPy, TraceError};
use crate::numpy_api;
use crate::op_args::{clip_impl, matmul_objs, moment_impl, reduce_impl};
use ember::ops::{self, IndexItem};
use ember::{Device, Scalar, Tensor};
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyEllipsis, PySlice, PyTuple};

/// An immutable n-d array (see the `ember` package docs).
#[pyclass(name = "Tensor", module = "ember", frozen, weakref)]
pub struct PyTensor {
    /// The Rust tensor.
    pub inner: Tensor,
}

fn scalar_to_py(py: Python<'_>, s: Scalar) -> PyResult<Py<PyAny>> {
    Ok(match s {
        Scalar::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        Scalar::I32(v) => v.into_pyobject(py)?.into_any().unbind(),
        Scalar::I64(v) => v.into_pyobject(py)?.into_any().unbind(),
        Scalar::F32(v) => (v as f64).into_pyobject(py)?.into_any().unbind(),
        Scalar::F64(v) => v.into_pyobject(py)?.into_any().unbind(),
    })
}

impl PyTensor {
    fn concrete(&self, what: &str) -> PyResult<&Tensor> {
        if self.inner.is_traced() {
            return Err(TraceError::new_err(format!(
                "{what} needs the value of a traced tensor (shape {:?}, dtype {}), which is unknown while tracing; Ember runs this call eagerly instead",
                self.inner.shape(),
                self.inner.dtype()
            )));
        }
        Ok(&self.inner)
    }

    fn item_scalar(&self, what: &str) -> PyResult<Scalar> {
        self.concrete(what)?.item().py()
    }

    fn bin(
        slf: &Bound<'_, Self>,
        name: &str,
        other: &Bound<'_, PyAny>,
        reflected: bool,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let me = slf.as_any();
        let r = if reflected {
            binary(py, name, other, me)
        } else {
            binary(py, name, me, other)
        };
        match r {
            Ok(t) => Ok(t.into_any()),
            // Unknown operand types give NotImplemented so Python can try the other side.
            Err(e) if e.is_instance_of::<PyTypeError>(py) && !is_numeric_like(other) => {
                Ok(py.NotImplemented())
            }
            Err(e) => Err(e),
        }
    }
}

fn is_numeric_like(o: &Bound<'_, PyAny>) -> bool {
    o.is_instance_of::<PyTensor>()
        || o.hasattr("__array__").unwrap_or(false)
        || o.hasattr("__float__").unwrap_or(false)
        || o.hasattr("__len__").unwrap_or(false)
}

/// Parses a Python index expression into basic index items; `None` when it needs advanced
/// (integer-array or boolean) indexing.
fn parse_index(key: &Bound<'_, PyAny>) -> PyResult<Option<Vec<IndexItem>>> {
    let items: Vec<Bound<'_, PyAny>> = match key.cast::<PyTuple>() {
        Ok(t) => t.iter().collect(),
        Err(_) => vec![key.clone()],
    };
    let mut out = Vec::with_capacity(items.len());
    for it in &items {
        if it.is_none() {
            out.push(IndexItem::NewAxis);
        } else if it.is_instance_of::<PyEllipsis>() {
            out.push(IndexItem::Ellipsis);
        } else if let Ok(s) = it.cast::<PySlice>() {
            let get = |n: &str| -> PyResult<Option<i64>> {
                let v = s.getattr(n)?;
                if v.is_none() {
                    Ok(None)
                } else {
                    v.extract::<i64>().map(Some).map_err(|_| {
                        PyIndexError::new_err("slice indices must be integers or None")
                    })
                }
            };
            out.push(IndexItem::Slice(get("start")?, get("stop")?, get("step")?));
        } else if it.is_instance_of::<pyo3::types::PyBool>() {
            return Ok(None);
        } else if let Ok(i) = it
            .call_method0("__index__")
            .and_then(|v| v.extract::<i64>())
        {
            out.push(IndexItem::Int(i));
        } else {
            return Ok(None);
        }
    }
    Ok(Some(out))
}

#[pymethods]
impl PyTensor {
    #[new]
    #[pyo3(signature = (data, dtype=None))]
    fn py_new(data: &Bound<'_, PyAny>, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let mut t = to_tensor(data, "data")?;
        if let Some(d) = dtype.filter(|d| !d.is_none()) {
            t = ops::astype(&t, parse_dtype(d, "dtype")?).py()?;
        }
        Ok(PyTensor { inner: t })
    }

    /// The dimensions as a tuple.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.shape())
    }

    /// The NumPy dtype.
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        numpy_dtype(py, self.inner.dtype())
    }

    /// Number of dimensions.
    #[getter]
    fn ndim(&self) -> usize {
        self.inner.ndim()
    }

    /// Number of elements.
    #[getter]
    fn size(&self) -> usize {
        self.inner.numel()
    }

    /// Bytes per element.
    #[getter]
    fn itemsize(&self) -> usize {
        self.inner.dtype().size()
    }

    /// Total bytes of the elements.
    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.numel() * self.inner.dtype().size()
    }

    /// Strides in bytes, like NumPy.
    #[getter]
    fn strides<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let s = self.inner.dtype().size() as isize;
        PyTuple::new(py, self.inner.strides().iter().map(|x| x * s))
    }

    /// The device the data lives on (`"cpu"`, `"cuda:0"`).
    #[getter]
    fn device(&self) -> String {
        self.inner.device().to_string()
    }

    /// True while this tensor is a symbolic value inside `@ember.jit` tracing.
    #[getter]
    fn is_traced(&self) -> bool {
        self.inner.is_traced()
    }

    /// The transpose (axes reversed).
    #[getter(T)]
    fn t(slf: &Bound<'_, Self>) -> PyResult<Py<PyTensor>> {
        let x = &slf.get().inner;
        let r = run(slf.py(), x.is_traced(), || ops::transpose(x, None))?;
        wrap(slf.py(), r)
    }

    /// A read-only NumPy view of the data: no copy on the host; a device tensor is copied
    /// to the host first (recorded in the copy ledger as explicit).
    fn numpy<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.get().concrete("Tensor.numpy()")?;
        numpy_view(slf)
    }

    /// NumPy 2 `__array__`: a read-only view unless a dtype change or `copy=True` asks for
    /// a new array; `copy=False` with a dtype change raises `ValueError`.
    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__<'py>(
        slf: &Bound<'py, Self>,
        dtype: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let t = slf.get().concrete("np.asarray(tensor)")?;
        if t.device() != Device::Cpu && copy == Some(false) {
            return Err(PyValueError::new_err(format!(
                "__array__: the tensor lives on {}; NumPy needs a copy in host memory, but \
                 copy=False was given",
                t.device()
            )));
        }
        let view = numpy_view(slf)?;
        let dtype = dtype.filter(|d| !d.is_none());
        let same_dtype = match dtype {
            None => true,
            Some(d) => view.getattr("dtype")?.eq(slf
                .py()
                .import("numpy")?
                .getattr("dtype")?
                .call1((d,))?)?,
        };
        if !same_dtype && copy == Some(false) {
            return Err(PyValueError::new_err(
                "__array__: a copy is needed to change the dtype, but copy=False was given",
            ));
        }
        if copy == Some(true) || !same_dtype {
            let kwargs = PyDict::new(slf.py());
            if let Some(d) = dtype {
                kwargs.set_item("dtype", d)?;
            }
            kwargs.set_item("copy", true)?;
            return slf
                .py()
                .import("numpy")?
                .getattr("array")?
                .call((view,), Some(&kwargs));
        }
        Ok(view)
    }

    /// The array interface (version 3): NumPy reads the data pointer without a copy.
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = self.concrete("__array_interface__")?;
        if t.device() != Device::Cpu {
            // AttributeError makes NumPy fall back to `__array__`, which copies to the host.
            return Err(pyo3::exceptions::PyAttributeError::new_err(format!(
                "__array_interface__: the tensor lives on {}, not in host memory",
                t.device()
            )));
        }
        let d = PyDict::new(py);
        let typestr = numpy_dtype(py, t.dtype())?.getattr("str")?;
        d.set_item("version", 3)?;
        d.set_item("shape", PyTuple::new(py, t.shape())?)?;
        d.set_item("typestr", typestr)?;
        d.set_item("data", (t.data_ptr().py()? as usize, true))?;
        let s = t.dtype().size() as isize;
        d.set_item(
            "strides",
            PyTuple::new(py, t.strides().iter().map(|x| x * s))?,
        )?;
        Ok(d)
    }

    /// DLPack export (through a read-only NumPy view of the same memory).
    #[pyo3(signature = (**kwargs))]
    fn __dlpack__<'py>(
        slf: &Bound<'py, Self>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let t = slf.get().concrete("__dlpack__")?;
        if t.device() != Device::Cpu {
            return Err(pyo3::exceptions::PyBufferError::new_err(format!(
                "__dlpack__: exporting {} memory is not supported; move the tensor with \
                 .to('cpu') first",
                t.device()
            )));
        }
        numpy_view(slf)?.call_method("__dlpack__", (), kwargs)
    }

    /// DLPack device: (1, 0) is the CPU.
    fn __dlpack_device__(&self) -> (i32, i32) {
        match self.inner.device() {
            Device::Cpu => (1, 0),
            Device::Cuda(i) => (2, i as i32),
        }
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let t = &slf.get().inner;
        if t.is_traced() {
            return Ok(format!(
                "Tensor(traced, shape={:?}, dtype={})",
                t.shape(),
                t.dtype()
            ));
        }
        let r: String = numpy_view(slf)?.repr()?.extract()?;
        Ok(r.replacen("array(", "tensor(", 1)
            .replace("\n      ", "\n       "))
    }

    fn __str__(slf: &Bound<'_, Self>) -> PyResult<String> {
        if slf.get().inner.is_traced() {
            return Self::__repr__(slf);
        }
        numpy_view(slf)?.str()?.extract()
    }

    fn __len__(&self) -> PyResult<usize> {
        self.inner
            .shape()
            .first()
            .copied()
            .ok_or_else(|| PyTypeError::new_err("len() of unsized object (0-d tensor)"))
    }

    fn __bool__(&self) -> PyResult<bool> {
        let t = self.concrete("bool(tensor)")?;
        if t.numel() != 1 {
            return Err(PyValueError::new_err(format!(
                "The truth value of an array with more than one element is ambiguous (shape {:?}). Use a.any() or a.all()",
                t.shape()
            )));
        }
        Ok(self.item_scalar("bool(tensor)")?.to_f64() != 0.0)
    }

    fn __float__(&self) -> PyResult<f64> {
        Ok(self.item_scalar("float(tensor)")?.to_f64())
    }

    fn __int__(&self) -> PyResult<i64> {
        Ok(match self.item_scalar("int(tensor)")? {
            Scalar::I64(v) => v,
            s => s.cast(ember::DType::I64).to_f64() as i64,
        })
    }

    fn __index__(&self) -> PyResult<i64> {
        match self.item_scalar("using a tensor as an index")? {
            Scalar::I32(v) => Ok(v as i64),
            Scalar::I64(v) => Ok(v),
            _ => Err(PyTypeError::new_err(
                "only integer scalar tensors can be converted to a scalar index",
            )),
        }
    }

    /// The single element as a Python number.
    fn item(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        scalar_to_py(py, self.item_scalar("Tensor.item()")?)
    }

    /// The data as nested Python lists.
    fn tolist<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.get().concrete("Tensor.tolist()")?;
        numpy_view(slf)?.call_method0("tolist")
    }

    fn __getitem__(slf: &Bound<'_, Self>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let x = &slf.get().inner;
        match parse_index(key)? {
            Some(items) => {
                let r = run(py, x.is_traced(), || ops::index(x, &items))?;
                Ok(wrap(py, r)?.into_any())
            }
            None => {
                if x.is_traced() {
                    return Err(TraceError::new_err(
                        "advanced indexing (integer arrays or boolean masks) is not supported while tracing: a boolean mask gives a data-dependent shape; Ember runs this call eagerly instead",
                    ));
                }
                // Advanced indexing runs in NumPy on a view and comes back as a tensor.
                let r = numpy_view(slf)?.get_item(key)?;
                Ok(wrap(py, to_tensor(&r, "index result")?)?.into_any())
            }
        }
    }

    fn __setitem__(&self, _key: &Bound<'_, PyAny>, _value: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "ember.Tensor is immutable; build a new tensor (e.g. with ember.where) instead of assigning",
        ))
    }

    fn __add__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "add", other, false)
    }
    fn __radd__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "add", other, true)
    }
    fn __sub__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "subtract", other, false)
    }
    fn __rsub__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "subtract", other, true)
    }
    fn __mul__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "multiply", other, false)
    }
    fn __rmul__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "multiply", other, true)
    }
    fn __truediv__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "divide", other, false)
    }
    fn __rtruediv__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "divide", other, true)
    }
    fn __floordiv__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "floor_divide", other, false)
    }
    fn __rfloordiv__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "floor_divide", other, true)
    }
    fn __mod__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "remainder", other, false)
    }
    fn __rmod__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "remainder", other, true)
    }
    fn __pow__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        reject_modulo(modulo)?;
        let square = other.is_exact_instance_of::<pyo3::types::PyInt>()
            && other.extract::<i64>().is_ok_and(|e| e == 2);
        if square && slf.get().inner.dtype() == ember::DType::Bool {
            // NumPy's `bool_array ** 2` is `np.square`, computed in int8 (np.power gives int64).
            return Err(PyTypeError::new_err(
                "**: NumPy computes bool_array ** 2 as np.square in int8, which Ember does not \
                 support; cast first",
            ));
        }
        Self::bin(slf, "power", other, false)
    }

    fn __rpow__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        reject_modulo(modulo)?;
        Self::bin(slf, "power", other, true)
    }

    fn __matmul__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        matmul_objs(slf.as_any(), other)
    }

    fn __rmatmul__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        matmul_objs(other, slf.as_any())
    }

    fn __neg__(slf: &Bound<'_, Self>) -> PyResult<Py<PyTensor>> {
        unary(slf.py(), "negative", slf.as_any())
    }

    fn __pos__(slf: &Bound<'_, Self>) -> Py<PyTensor> {
        slf.clone().unbind()
    }

    fn __abs__(slf: &Bound<'_, Self>) -> PyResult<Py<PyTensor>> {
        unary(slf.py(), "absolute", slf.as_any())
    }

    fn __invert__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        if slf.get().inner.dtype() != ember::DType::Bool {
            // NumPy's bitwise invert: runs in NumPy eagerly, falls back under jit.
            let invert = slf.py().import("numpy")?.getattr("invert")?;
            return Ok(invert.call1((slf,))?.unbind());
        }
        Ok(unary(slf.py(), "logical_not", slf.as_any())?.into_any())
    }

    fn __and__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        bitwise(slf, o, "logical_and", "bitwise_and", false)
    }
    fn __rand__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        bitwise(slf, o, "logical_and", "bitwise_and", true)
    }
    fn __or__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        bitwise(slf, o, "logical_or", "bitwise_or", false)
    }
    fn __ror__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        bitwise(slf, o, "logical_or", "bitwise_or", true)
    }
    fn __xor__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        bitwise(slf, o, "logical_xor", "bitwise_xor", false)
    }
    fn __rxor__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        bitwise(slf, o, "logical_xor", "bitwise_xor", true)
    }

    fn __eq__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "equal", o, false)
    }
    fn __ne__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "not_equal", o, false)
    }
    fn __lt__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "less", o, false)
    }
    fn __le__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "less_equal", o, false)
    }
    fn __gt__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "greater", o, false)
    }
    fn __ge__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bin(slf, "greater_equal", o, false)
    }

    /// `x.astype(dtype)`.
    #[pyo3(signature = (dtype, copy=true))]
    fn astype(
        slf: &Bound<'_, Self>,
        dtype: &Bound<'_, PyAny>,
        copy: bool,
    ) -> PyResult<Py<PyTensor>> {
        let _ = copy; // tensors are immutable: sharing is always safe
        let d = parse_dtype(dtype, "dtype")?;
        let x = &slf.get().inner;
        let r = run(slf.py(), x.is_traced(), || ops::astype(x, d))?;
        wrap(slf.py(), r)
    }

    /// `x.reshape(shape)` or `x.reshape(*shape)`.
    #[pyo3(signature = (*shape))]
    fn reshape(slf: &Bound<'_, Self>, shape: &Bound<'_, PyTuple>) -> PyResult<Py<PyTensor>> {
        let dims: Vec<i64> = if shape.len() == 1 && shape.get_item(0)?.extract::<i64>().is_err() {
            shape.get_item(0)?.extract().map_err(|_| {
                PyTypeError::new_err("reshape: shape must be ints or a tuple of ints")
            })?
        } else {
            shape.extract().map_err(|_| {
                PyTypeError::new_err("reshape: shape must be ints or a tuple of ints")
            })?
        };
        let x = &slf.get().inner;
        let r = run(slf.py(), x.is_traced(), || ops::reshape(x, &dims))?;
        wrap(slf.py(), r)
    }

    /// `x.transpose(*axes)`.
    #[pyo3(signature = (*axes))]
    fn transpose(slf: &Bound<'_, Self>, axes: &Bound<'_, PyTuple>) -> PyResult<Py<PyTensor>> {
        let axes: Option<Vec<i64>> = match axes.len() {
            0 => None,
            1 if axes.get_item(0)?.is_none() => None,
            1 if axes.get_item(0)?.extract::<i64>().is_err() => Some(axes.get_item(0)?.extract()?),
            _ => Some(axes.extract()?),
        };
        let x = &slf.get().inner;
        let r = run(slf.py(), x.is_traced(), || {
            ops::transpose(x, axes.as_deref())
        })?;
        wrap(slf.py(), r)
    }

    /// `x.ravel()`.
    fn ravel(slf: &Bound<'_, Self>) -> PyResult<Py<PyTensor>> {
        let x = &slf.get().inner;
        let r = run(slf.py(), x.is_traced(), || ops::ravel(x))?;
        wrap(slf.py(), r)
    }

    /// `x.flatten()` (same as ravel: tensors are immutable, so no copy is needed).
    fn flatten(slf: &Bound<'_, Self>) -> PyResult<Py<PyTensor>> {
        Self::ravel(slf)
    }

    /// `x.squeeze(axis=None)`.
    #[pyo3(signature = (axis=None))]
    fn squeeze(slf: &Bound<'_, Self>, axis: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyTensor>> {
        let axes = parse_axes(axis)?;
        let x = &slf.get().inner;
        let r = run(slf.py(), x.is_traced(), || ops::squeeze(x, axes.as_deref()))?;
        wrap(slf.py(), r)
    }

    /// `x.clip(min, max)`.
    #[pyo3(signature = (min=None, max=None))]
    fn clip(
        slf: &Bound<'_, Self>,
        min: Option<&Bound<'_, PyAny>>,
        max: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyTensor>> {
        clip_impl(slf.as_any(), min, max)
    }

    /// Moves the tensor to a device (`"cpu"`, `"cuda"`, `"cuda:N"`).
    fn to(slf: &Bound<'_, Self>, device: &str) -> PyResult<Py<PyTensor>> {
        let d = Device::parse(device).ok_or_else(|| {
            PyValueError::new_err(format!(
                "device: expected 'cpu', 'cuda' or 'cuda:N', got {device:?}"
            ))
        })?;
        if d == slf.get().inner.device() {
            return Ok(slf.clone().unbind());
        }
        let x = slf.get().concrete("Tensor.to()")?;
        let r = slf.py().detach(|| x.to(d)).py()?;
        Py::new(slf.py(), PyTensor { inner: r })
    }

    /// The tensor in host memory (`t.to("cpu")`).
    fn cpu(slf: &Bound<'_, Self>) -> PyResult<Py<PyTensor>> {
        Self::to(slf, "cpu")
    }

    #[pyo3(signature = (axis=None, dtype=None, out=None, keepdims=false))]
    fn sum(
        slf: &Bound<'_, Self>,
        axis: Option<&Bound<'_, PyAny>>,
        dtype: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        keepdims: bool,
    ) -> PyResult<Py<PyTensor>> {
        reduce_impl(slf.as_any(), "sum", axis, dtype, out, keepdims)
    }
    #[pyo3(signature = (axis=None, dtype=None, out=None, keepdims=false))]
    fn prod(
        slf: &Bound<'_, Self>,
        axis: Option<&Bound<'_, PyAny>>,
        dtype: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        keepdims: bool,
    ) -> PyResult<Py<PyTensor>> {
        reduce_impl(slf.as_any(), "prod", axis, dtype, out, keepdims)
    }
    #[pyo3(signature = (axis=None, dtype=None, out=None, keepdims=false))]
    fn mean(
        slf: &Bound<'_, Self>,
        axis: Option<&Bound<'_, PyAny>>,
        dtype: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        keepdims: bool,
    ) -> PyResult<Py<PyTensor>> {
        reduce_impl(slf.as_any(), "mean", axis, dtype, out, keepdims)
    }
    #[pyo3(signature = (axis=None, out=None, keepdims=false))]
    fn max(
        slf: &Bound<'_, Self>,
        axis: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        keepdims: bool,
    ) -> PyResult<Py<PyTensor>> {
        reduce_impl(slf.as_any(), "max", axis, None, out, keepdims)
    }
    #[pyo3(signature = (axis=None, out=None, keepdims=false))]
    fn min(
        slf: &Bound<'_, Self>,
        axis: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        keepdims: bool,
    ) -> PyResult<Py<PyTensor>> {
        reduce_impl(slf.as_any(), "min", axis, None, out, keepdims)
    }
    #[pyo3(signature = (axis=None, out=None, keepdims=false))]
    fn any(
        slf: &Bound<'_, Self>,
        axis: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        keepdims: bool,
    ) -> PyResult<Py<PyTensor>> {
        reduce_impl(slf.as_any(), "any", axis, None, out, keepdims)
    }
    #[pyo3(signature = (axis=None, out=None, keepdims=false))]
    fn all(
        slf: &Bound<'_, Self>,
        axis: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        keepdims: bool,
    ) -> PyResult<Py<PyTensor>> {
        reduce_impl(slf.as_any(), "all", axis, None, out, keepdims)
    }
    #[pyo3(signature = (axis=None, out=None, keepdims=false))]
    fn argmax(
        slf: &Bound<'_, Self>,
        axis: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        keepdims: bool,
    ) -> PyResult<Py<PyTensor>> {
        reduce_impl(slf.as_any(), "argmax", axis, None, out, keepdims)
    }
    #[pyo3(signature = (axis=None, out=None, keepdims=false))]
    fn argmin(
        slf: &Bound<'_, Self>,
        axis: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        keepdims: bool,
    ) -> PyResult<Py<PyTensor>> {
        reduce_impl(slf.as_any(), "argmin", axis, None, out, keepdims)
    }
    #[pyo3(signature = (axis=None, dtype=None, out=None, ddof=0, keepdims=false))]
    fn var(
        slf: &Bound<'_, Self>,
        axis: Option<&Bound<'_, PyAny>>,
        dtype: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        ddof: i64,
        keepdims: bool,
    ) -> PyResult<Py<PyTensor>> {
        moment_impl(slf.as_any(), "var", axis, dtype, out, ddof, keepdims)
    }
    #[pyo3(signature = (axis=None, dtype=None, out=None, ddof=0, keepdims=false))]
    fn std(
        slf: &Bound<'_, Self>,
        axis: Option<&Bound<'_, PyAny>>,
        dtype: Option<&Bound<'_, PyAny>>,
        out: Option<&Bound<'_, PyAny>>,
        ddof: i64,
        keepdims: bool,
    ) -> PyResult<Py<PyTensor>> {
        moment_impl(slf.as_any(), "std", axis, dtype, out, ddof, keepdims)
    }

    /// NumPy ufunc protocol: `np.exp(t)` and friends run in Ember.
    #[pyo3(signature = (ufunc, method, *inputs, **kwargs))]
    fn __array_ufunc__<'py>(
        slf: &Bound<'py, Self>,
        ufunc: &Bound<'py, PyAny>,
        method: &Bound<'py, PyAny>,
        inputs: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        numpy_api::forward(slf.py(), "array_ufunc", (ufunc, method, inputs), kwargs)
    }

    /// NumPy function protocol: `np.sum(t, axis=1)` and friends run in Ember.
    fn __array_function__<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
        types: &Bound<'py, PyAny>,
        args: &Bound<'py, PyAny>,
        kwargs: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        numpy_api::forward(
            slf.py(),
            "array_function",
            (func, types, args, kwargs),
            None,
        )
    }
}

fn reject_modulo(modulo: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    if modulo.is_some_and(|m| !m.is_none()) {
        return Err(PyTypeError::new_err(
            "pow() with a modulo is not supported by ember.Tensor",
        ));
    }
    Ok(())
}

/// `&`, `|`, `^`: Ember's logical functions when both operands are bool; otherwise NumPy's
/// bitwise ufunc, which Ember does not implement, so the call goes through
/// `Tensor.__array_ufunc__`: NumPy computes it on concrete tensors, and a traced call falls
/// back to eager execution (with the ufunc named as the reason) instead of failing.
fn bitwise(
    slf: &Bound<'_, PyTensor>,
    o: &Bound<'_, PyAny>,
    logical: &str,
    ufunc: &str,
    reflected: bool,
) -> PyResult<Py<PyAny>> {
    let other_bool = match o.cast::<PyTensor>() {
        Ok(t) => t.get().inner.dtype() == ember::DType::Bool,
        Err(_) => {
            o.is_instance_of::<pyo3::types::PyBool>()
                || to_tensor(o, "other")
                    .map(|t| t.dtype() == ember::DType::Bool)
                    .unwrap_or(false)
        }
    };
    if slf.get().inner.dtype() == ember::DType::Bool && other_bool {
        return PyTensor::bin(slf, logical, o, reflected);
    }
    let f = slf.py().import("numpy")?.getattr(ufunc)?;
    let r = if reflected {
        f.call1((o, slf))?
    } else {
        f.call1((slf, o))?
    };
    Ok(r.unbind())
}
