//! Tracing: the same op call that computes on concrete tensors records a graph node when any
//! operand is a traced tensor (JAX's model). A [`Trace`] owns the graph being built.

use crate::error::{EmberError, Result};
use crate::tensor::{Repr, Tensor};
use ember_ir::{Device, Graph, Literal, NodeId, Op, SourceLoc, ValueType};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

static NEXT_TRACE_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// A source location set by a front end (Python) for the next recorded op; it wins over
    /// the Rust caller's location.
    static LOCATION_OVERRIDE: RefCell<Option<SourceLoc>> = const { RefCell::new(None) };
}

/// Sets the user-visible location of the ops recorded next on this thread (the Python layer
/// calls this with the `file:line` of the user's code). `None` goes back to Rust locations.
pub fn set_location(loc: Option<SourceLoc>) {
    LOCATION_OVERRIDE.with(|l| *l.borrow_mut() = loc);
}

struct TraceInner {
    graph: Graph,
    /// Concrete tensors captured as constants, by data pointer and type, so a closed-over
    /// array used twice becomes one constant. The tensor is kept alive with its node: were it
    /// freed, a later tensor could reuse its address and wrongly match its key.
    captured: HashMap<(usize, ValueType, Vec<isize>), (NodeId, Tensor)>,
    /// Set by [`Trace::finish`]: values of a finished trace must not be used again.
    finished: bool,
}

/// The state of one trace, shared by its traced tensors.
pub struct TraceState {
    id: u64,
    inner: Mutex<TraceInner>,
}

impl std::fmt::Debug for TraceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trace#{}", self.id)
    }
}

/// A symbolic value: a node of a trace's graph.
#[derive(Clone, Debug)]
pub struct TracedValue {
    state: Arc<TraceState>,
    node: NodeId,
    device: Device,
}

impl TracedValue {
    /// The node this value is.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The device the value will live on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The error for an operation that needs concrete data (`bool(x)`, `float(x)`, ...).
    pub fn concretization_error(&self, what: &str) -> EmberError {
        EmberError::Trace(format!(
            "{what} a traced value needs its data, which is unknown while tracing"
        ))
    }
}

/// A trace being built: make inputs, run the user's function on them, then [`Trace::finish`].
#[derive(Clone, Debug)]
pub struct Trace {
    state: Arc<TraceState>,
}

impl Default for Trace {
    fn default() -> Self {
        Self::new()
    }
}

impl Trace {
    /// Starts an empty trace.
    pub fn new() -> Trace {
        Trace {
            state: Arc::new(TraceState {
                id: NEXT_TRACE_ID.fetch_add(1, Ordering::Relaxed),
                inner: Mutex::new(TraceInner {
                    graph: Graph::new(),
                    captured: HashMap::new(),
                    finished: false,
                }),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TraceInner> {
        lock(&self.state)
    }

    /// Adds the next argument of the traced function.
    pub fn input(&self, ty: ValueType, device: Device) -> Tensor {
        let node = self.lock().graph.input(ty.clone(), device);
        Tensor::traced(
            ty,
            TracedValue {
                state: self.state.clone(),
                node,
                device,
            },
        )
    }

    /// Ends the trace with the function's results and returns the graph.
    pub fn finish(self, outputs: &[Tensor]) -> Result<Graph> {
        let mut inner = self.lock();
        inner.finished = true;
        for out in outputs {
            let node = node_of(&self.state, &mut inner, out)?;
            inner.graph.output(node)?;
        }
        Ok(std::mem::take(&mut inner.graph))
    }

    /// A copy of the graph recorded so far (for diagnostics).
    pub fn graph_snapshot(&self) -> Graph {
        self.lock().graph.clone()
    }
}

fn lock(state: &TraceState) -> MutexGuard<'_, TraceInner> {
    // A poisoned lock only means another thread panicked mid-record; the graph is still
    // structurally valid (nodes are added atomically), so keep going.
    state.inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// The graph node for `t` in this trace: its own node if traced here, else a constant.
fn node_of(state: &Arc<TraceState>, inner: &mut TraceInner, t: &Tensor) -> Result<NodeId> {
    match t.repr() {
        Repr::Traced(v) if Arc::ptr_eq(&v.state, state) => Ok(v.node),
        Repr::Traced(_) => Err(EmberError::Trace(
            "a value traced by another (outer or finished) trace was used here; pass it as an argument instead of closing over it".into(),
        )),
        Repr::Data(_) => {
            let key = (
                t.data_ptr()? as usize,
                t.value_type().clone(),
                t.strides().to_vec(),
            );
            if let Some((n, _)) = inner.captured.get(&key) {
                return Ok(*n);
            }
            let lit = literal_of(t)?;
            let n = inner.graph.add(Op::Const(lit), &[], None)?;
            inner.captured.insert(key, (n, t.clone()));
            Ok(n)
        }
    }
}

/// The tensor's data as a [`Literal`] (row-major bytes).
pub fn literal_of(t: &Tensor) -> Result<Literal> {
    let c = t.contiguous()?;
    let nbytes = c.numel() * c.dtype().size();
    // SAFETY: a contiguous tensor's elements are the `nbytes` bytes from its data pointer.
    let bytes = unsafe { std::slice::from_raw_parts(c.data_ptr()?, nbytes) }.to_vec();
    Literal::from_bytes(c.dtype(), c.shape(), bytes)
        .ok_or_else(|| EmberError::Value("constant size mismatch".into()))
}

/// A tensor holding a literal's data (see [`crate::eager::creation::from_literal`]).
pub fn tensor_of(lit: &Literal) -> Result<Tensor> {
    crate::eager::creation::from_literal(lit)
}

/// Records `op` on `inputs` (at least one traced) in their trace.
#[track_caller]
pub(crate) fn record(op: Op, inputs: &[&Tensor]) -> Result<Tensor> {
    let caller = std::panic::Location::caller();
    let state = inputs
        .iter()
        .find_map(|t| match t.repr() {
            Repr::Traced(v) => Some(v.state.clone()),
            Repr::Data(_) => None,
        })
        .ok_or_else(|| EmberError::Trace("record called without a traced operand".into()))?;
    let mut inner = lock(&state);
    if inner.finished {
        return Err(EmberError::Trace(
            "a traced value escaped the function that traced it (stored in a global or a closure) and was used after tracing ended; return it instead"
                .into(),
        ));
    }
    let nodes = inputs
        .iter()
        .map(|t| node_of(&state, &mut inner, t))
        .collect::<Result<Vec<_>>>()?;
    let loc = LOCATION_OVERRIDE
        .with(|l| l.borrow().clone())
        .unwrap_or_else(|| SourceLoc {
            file: caller.file().into(),
            line: caller.line(),
        });
    let node = inner.graph.add(op, &nodes, Some(loc))?;
    let n = inner.graph.node(node);
    let (ty, device) = (n.ty.clone(), n.device);
    drop(inner);
    Ok(Tensor::traced(
        ty,
        TracedValue {
            state,
            node,
            device,
        },
    ))
}
