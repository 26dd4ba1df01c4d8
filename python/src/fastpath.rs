//! The cached-call fast path of `@ember.jit`: for calls whose arguments are all NumPy arrays
//! or tensors, the signature is read from the array headers, looked up and run in Rust, so a
//! cache hit costs one Python call instead of pytree flattening and dict lookups in Python.

use crate::convert::{dtype_from_numpy, numpy_view, tensor_from_numpy};
use crate::errors::IntoPy;
use crate::jit::PyCompiled;
use crate::tensor::PyTensor;
use ember::ir::Shape;
use ember::{DType, Device};
use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// One argument's part of the key: NumPy array or tensor, dtype, shape, device.
type ArgKey = (bool, DType, Shape, Device);

struct FastEntry {
    compiled: Arc<ember::jit::Compiled>,
    /// How outputs are returned: `'*'` one bare array, `'L'` a list, `'T'` a tuple.
    form: char,
    /// Return tensors (the call passed tensors) rather than NumPy views.
    tensors: bool,
}

/// Per-function cache of compiled entries keyed by array signatures.
#[pyclass(name = "FastCache", module = "ember._ember", frozen)]
#[derive(Default)]
pub struct FastCache {
    map: RwLock<HashMap<Vec<ArgKey>, FastEntry>>,
    hits: AtomicUsize,
}

/// The key part of one argument; `None` for anything but an array or a tensor.
fn arg_key(obj: &Bound<'_, PyAny>) -> Option<ArgKey> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        let t = &t.get().inner;
        return Some((true, t.dtype(), Shape::from_slice(t.shape()), t.device()));
    }
    let a = obj.cast::<PyUntypedArray>().ok()?;
    let d = a.dtype();
    let dtype = dtype_from_numpy(d.kind(), d.itemsize())?;
    Some((false, dtype, Shape::from_slice(a.shape()), Device::Cpu))
}

#[pymethods]
impl FastCache {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Runs the cached entry for these arguments; returns `None` on a miss (the caller then
    /// takes the general path).
    fn call<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let mut key = Vec::with_capacity(args.len());
        for a in args.iter() {
            match arg_key(&a) {
                Some(k) => key.push(k),
                None => return Ok(None),
            }
        }
        let (compiled, form, tensors) = {
            let map = self
                .map
                .read()
                .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("cache lock poisoned"))?;
            match map.get(&key) {
                Some(e) => (e.compiled.clone(), e.form, e.tensors),
                None => return Ok(None),
            }
        };
        self.hits.fetch_add(1, Ordering::Relaxed);
        let mut inputs = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            match a.cast::<PyTensor>() {
                Ok(t) => inputs.push(t.get().inner.clone()),
                Err(_) => inputs.push(tensor_from_numpy(
                    a.cast::<PyUntypedArray>()?,
                    &format!("argument {i}"),
                )?),
            }
        }
        let outs = if inputs.iter().map(|t| t.numel()).sum::<usize>() < 1 << 16 {
            compiled.run(&inputs)
        } else {
            py.detach(|| compiled.run(&inputs))
        }
        .py()?;
        let mut objs = Vec::with_capacity(outs.len());
        for t in outs {
            let obj = Bound::new(py, PyTensor { inner: t })?;
            objs.push(if tensors {
                obj.into_any().unbind()
            } else {
                numpy_view(&obj)?.unbind()
            });
        }
        Ok(Some(match form {
            '*' => objs
                .pop()
                .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("no output"))?,
            'T' => PyTuple::new(py, objs)?.into_any().unbind(),
            _ => PyList::new(py, objs)?.into_any().unbind(),
        }))
    }

    /// Adds an entry for the signature of `args`; `form` is `'*'`, `'L'` or `'T'`.
    fn insert(
        &self,
        args: &Bound<'_, PyTuple>,
        compiled: &Bound<'_, PyCompiled>,
        form: char,
        tensors: bool,
    ) -> PyResult<bool> {
        let mut key = Vec::with_capacity(args.len());
        for a in args.iter() {
            match arg_key(&a) {
                Some(k) => key.push(k),
                None => return Ok(false),
            }
        }
        let entry = FastEntry {
            compiled: compiled.get().shared(),
            form,
            tensors,
        };
        self.map
            .write()
            .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("cache lock poisoned"))?
            .insert(key, entry);
        Ok(true)
    }

    /// Hits answered by the fast path so far.
    #[getter]
    fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    /// Forgets every entry.
    fn clear(&self) -> PyResult<()> {
        self.map
            .write()
            .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("cache lock poisoned"))?
            .clear();
        Ok(())
    }
}
