//! Tracing and compiled functions for `ember.jit` (the Python decorator lives in
//! `ember/_jit.py`; this is the part that must not run Python per op).

use crate::convert::{parse_dtype, to_tensor};
use crate::errors::IntoPy;
use crate::tensor::PyTensor;
use ember::jit::{compile, CompileOptions, Compiled, DevicePolicy};
use ember::trace::Trace;
use ember::{Device, Tensor};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use std::sync::{Arc, Mutex};

/// Parses `"cpu"`, `"cuda"`, `"cuda:N"` for the argument named `what`.
fn parse_device(s: &str, what: &str) -> PyResult<Device> {
    Device::parse(s).ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "{what}: expected 'cpu', 'cuda', 'cuda:N' or 'auto', got {s:?}"
        ))
    })
}

/// A trace in progress: make inputs, run the function, finish with its outputs.
#[pyclass(name = "Trace", module = "ember._ember")]
pub struct PyTrace {
    trace: Mutex<Option<Trace>>,
}

#[pymethods]
impl PyTrace {
    #[new]
    fn new() -> Self {
        PyTrace {
            trace: Mutex::new(Some(Trace::new())),
        }
    }

    /// A traced argument of the given dtype and shape, living on `device`.
    #[pyo3(signature = (dtype, shape, device="cpu"))]
    fn input(
        &self,
        py: Python<'_>,
        dtype: &Bound<'_, PyAny>,
        shape: Vec<usize>,
        device: &str,
    ) -> PyResult<Py<PyTensor>> {
        let d = parse_dtype(dtype, "dtype")?;
        let dev = parse_device(device, "device")?;
        let guard = self
            .trace
            .lock()
            .map_err(|_| PyTypeError::new_err("trace lock poisoned"))?;
        let t = guard
            .as_ref()
            .ok_or_else(|| PyTypeError::new_err("this trace is already finished"))?
            .input(ember::ir::ValueType::new(d, &shape), dev);
        Py::new(py, PyTensor { inner: t })
    }

    /// Ends the trace with `outputs` (a list of tensors or array-likes) and compiles it for
    /// `device` (`None`: where the arguments are; `"cpu"`, `"cuda"`, `"cuda:N"`: every node
    /// that device can run; `"auto"`: the placement pass's cost model decides).
    #[pyo3(signature = (outputs, name="f", device=None))]
    fn finish(
        &self,
        py: Python<'_>,
        outputs: &Bound<'_, PyList>,
        name: &str,
        device: Option<&str>,
    ) -> PyResult<PyCompiled> {
        let policy = match device {
            None => DevicePolicy::Follow,
            Some("auto") => DevicePolicy::Auto,
            Some(d) => DevicePolicy::On(parse_device(d, "device")?),
        };
        let trace = self
            .trace
            .lock()
            .map_err(|_| PyTypeError::new_err("trace lock poisoned"))?
            .take()
            .ok_or_else(|| PyTypeError::new_err("this trace is already finished"))?;
        let outs = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| to_tensor(&o, &format!("output {i}")))
            .collect::<PyResult<Vec<Tensor>>>()?;
        let graph = trace.finish(&outs).py()?;
        let opts = CompileOptions {
            record_passes: true,
            name: name.to_string(),
            device: policy,
            ..CompileOptions::default()
        };
        let compiled = py.detach(|| compile(graph, &opts)).py()?;
        Ok(PyCompiled {
            inner: Arc::new(compiled),
        })
    }
}

/// A compiled graph: runs on arrays without Python per op.
#[pyclass(name = "Compiled", module = "ember._ember", frozen)]
pub struct PyCompiled {
    inner: Arc<Compiled>,
}

impl PyCompiled {
    /// The shared compiled graph (for the fast-path cache).
    pub fn shared(&self) -> Arc<Compiled> {
        self.inner.clone()
    }
}

#[pymethods]
impl PyCompiled {
    /// Runs on a list of arrays (NumPy arrays are borrowed, not copied) and returns a list
    /// of tensors.
    fn run<'py>(&self, py: Python<'py>, args: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyList>> {
        let mut tensors = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            tensors.push(to_tensor(&a, &format!("argument {i}"))?);
        }
        let inner = self.inner.clone();
        let outs = py.detach(move || inner.run(&tensors)).py()?;
        let objs = outs
            .into_iter()
            .map(|t| Py::new(py, PyTensor { inner: t }))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, objs)
    }

    /// The graph as traced, in IR text form.
    #[getter]
    fn traced_text(&self) -> String {
        self.inner.traced.to_string()
    }

    /// The optimized graph, in IR text form.
    #[getter]
    fn optimized_text(&self) -> String {
        self.inner.optimized.to_string()
    }

    /// What the placement pass decided (devices, copies with reasons, cost estimates), or
    /// `None` when the graph stayed on the host.
    #[getter]
    fn placement_text(&self) -> Option<String> {
        self.inner.placement.as_ref().map(|p| p.explain())
    }

    /// The optimized graph as DOT.
    #[getter]
    fn dot(&self) -> String {
        self.inner.optimized.to_dot()
    }

    /// `(pass name, changed, seconds, graph text after)` for each pass run.
    #[getter]
    fn passes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = self
            .inner
            .passes
            .iter()
            .map(|p| {
                PyTuple::new(
                    py,
                    [
                        p.name.clone().into_pyobject(py)?.into_any(),
                        p.changed.into_pyobject(py)?.to_owned().into_any(),
                        p.seconds.into_pyobject(py)?.into_any(),
                        p.text.clone().into_pyobject(py)?.into_any(),
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, rows)
    }

    /// DOT of the optimized graph with kernels as clusters and copies highlighted.
    #[getter]
    fn plan_dot(&self) -> String {
        self.inner.plan_dot()
    }

    /// `(name, kernel IR text, CUDA C source or the reason it cannot be rendered, source
    /// lines, compile seconds)` for each compiled kernel.
    #[getter]
    fn kernels(&self) -> Vec<(String, String, String, Vec<String>, f64)> {
        self.inner
            .kernels()
            .iter()
            .map(|k| {
                let cuda = ember_codegen_render(&k.kernel);
                let mut locs: Vec<String> = Vec::new();
                for n in &k.nodes {
                    if let Some(l) = &self.inner.optimized.node(*n).loc {
                        let l = l.to_string();
                        if !locs.contains(&l) {
                            locs.push(l);
                        }
                    }
                }
                (
                    k.name.clone(),
                    k.kernel.to_string(),
                    cuda,
                    locs,
                    k.compile_seconds,
                )
            })
            .collect()
    }

    /// The placement pass's decisions on `target` (`"simulated"`: a host plus a simulated
    /// GPU with measured-style rates; `"host"`: this machine's devices), as text.
    #[pyo3(signature = (target="simulated"))]
    fn placement(&self, target: &str) -> PyResult<String> {
        let t = match target {
            "simulated" => ember::ir::target::Target::simulated_two_device(),
            "host" => ember::ir::target::Target::host_only(),
            _ => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "target: expected 'simulated' or 'host', got {target:?}"
                )))
            }
        };
        self.inner.placement_report(&t).py()
    }

    /// Seconds spent optimizing and building the plan.
    #[getter]
    fn compile_seconds(&self) -> f64 {
        self.inner.compile_seconds
    }

    /// A one-line summary of the plan (kernels, library calls, eager steps).
    #[getter]
    fn plan_summary(&self) -> String {
        self.inner.plan_summary()
    }
}

/// The CUDA C rendering of a kernel, or why it has none.
fn ember_codegen_render(k: &ember::ir::kernel::Kernel) -> String {
    ember::codegen::cuda::render(k).unwrap_or_else(|e| format!("// not renderable for CUDA: {e}"))
}
