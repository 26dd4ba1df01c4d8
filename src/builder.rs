//! Building graphs by hand, for programs that construct an IR graph directly instead of
//! tracing a closure with [`crate::jit()`].
//!
//! [`GraphBuilder`] is a thin layer over [`ember_ir::Graph`]: arguments by dtype and shape,
//! constants from tensors or scalars, any [`Op`] with its result type inferred (and the Rust
//! caller's line recorded, so dumps and errors point at the user's code), then
//! [`GraphBuilder::compile`] to verify, optimize and plan it like a traced graph.
//!
//! ```
//! use ember::builder::GraphBuilder;
//! use ember::ir::{BinaryOp, Op, UnaryOp};
//! use ember::{DType, Scalar, Tensor};
//!
//! // y = exp(x) * 2
//! let mut b = GraphBuilder::new();
//! let x = b.input(DType::F32, &[3]);
//! let e = b.op(Op::Unary(UnaryOp::Exp), &[x])?;
//! let two = b.scalar(Scalar::F32(2.0));
//! let y = b.op(Op::Binary(BinaryOp::Mul), &[e, two])?;
//! b.output(y)?;
//! let compiled = b.compile()?;
//! let out = compiled.run(&[Tensor::from_vec(vec![0f32, 1.0, 2.0], &[3])?])?;
//! assert_eq!(out[0].to_array::<f32>()?[[0]], 2.0);
//! # Ok::<(), ember::EmberError>(())
//! ```

use crate::error::Result;
use crate::jit::{compile, CompileOptions, Compiled};
use crate::tensor::Tensor;
use crate::trace::literal_of;
use ember_ir::{DType, Device, Graph, Literal, NodeId, Op, Scalar, SourceLoc, ValueType};

/// Builds a [`Graph`] node by node; see the [module documentation](self).
#[derive(Clone, Debug, Default)]
pub struct GraphBuilder {
    graph: Graph,
}

impl GraphBuilder {
    /// An empty graph.
    pub fn new() -> GraphBuilder {
        GraphBuilder::default()
    }

    /// Adds the next argument of the graph (arguments are passed to
    /// [`Compiled::run`] in the order they were added), on the host.
    pub fn input(&mut self, dtype: DType, shape: &[usize]) -> NodeId {
        self.graph.input(ValueType::new(dtype, shape), Device::Cpu)
    }

    /// Adds a constant holding a copy of `t`'s data (a concrete tensor; a traced one is an
    /// error).
    #[track_caller]
    pub fn constant(&mut self, t: &Tensor) -> Result<NodeId> {
        let loc = caller();
        Ok(self.graph.add(Op::Const(literal_of(t)?), &[], Some(loc))?)
    }

    /// Adds a 0-d constant. Its dtype is the scalar's: unlike the NumPy-style functions in
    /// [`crate::ops`], a graph has no weakly typed scalars, so `Scalar::F32(2.0)` is the way
    /// to scale a float32 value without promoting it.
    #[track_caller]
    pub fn scalar(&mut self, value: Scalar) -> NodeId {
        let ty = ValueType::new(value.dtype(), &[]);
        let loc = caller();
        self.graph.add_typed(
            Op::Const(Literal::scalar(value)),
            ty,
            Device::Cpu,
            &[],
            Some(loc),
        )
    }

    /// Adds `op` applied to `operands`. The result type comes from [`Op::infer`], so shape and
    /// dtype errors are reported here, naming the op.
    #[track_caller]
    pub fn op(&mut self, op: Op, operands: &[NodeId]) -> Result<NodeId> {
        let loc = caller();
        Ok(self.graph.add(op, operands, Some(loc))?)
    }

    /// Marks `value` as the next result of the graph.
    pub fn output(&mut self, value: NodeId) -> Result<()> {
        self.graph.output(value)?;
        Ok(())
    }

    /// The dtype and shape of a value added so far.
    pub fn value_type(&self, value: NodeId) -> Result<&ValueType> {
        Ok(&self.graph.try_node(value)?.ty)
    }

    /// The graph built so far.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Ends building: checks the graph with [`ember_ir::verify()`] and returns it.
    pub fn finish(self) -> Result<Graph> {
        ember_ir::verify(&self.graph)?;
        Ok(self.graph)
    }

    /// Ends building and compiles the graph (see [`compile_graph`]).
    pub fn compile(self) -> Result<Compiled> {
        compile_graph(self.finish()?)
    }
}

/// Verifies, optimizes and plans a hand-built (or parsed) graph with default options, exactly
/// as `jit` does for a traced one. Run it with [`Compiled::run`]; `compiled.traced` and
/// `compiled.optimized` show the graph before and after optimization.
pub fn compile_graph(graph: Graph) -> Result<Compiled> {
    ember_ir::verify(&graph)?;
    compile(graph, &CompileOptions::default())
}

#[track_caller]
fn caller() -> SourceLoc {
    let loc = std::panic::Location::caller();
    SourceLoc {
        file: loc.file().into(),
        line: loc.line(),
    }
}
