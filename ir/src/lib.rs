//! # ember-ir
//!
//! What an Ember program *is*: dtypes and NumPy 2 promotion, shapes and broadcasting, the
//! closed [`Op`] set, the [`Graph`], its text form, the optimization passes and
//! the kernel IR. No Cranelift, no CUDA, no Python.

pub mod composite;
pub mod dot;
pub mod dtype;
pub mod error;
pub mod graph;
pub mod kernel;
pub mod literal;
pub mod op;
pub mod shape;
pub mod target;
pub mod text;
pub mod verify;

pub use dtype::{promote, promote_weak, DType, Kind, WeakKind};
pub use error::{IrError, Result};
pub use graph::{Graph, Node, NodeId, SourceLoc};
pub use literal::{Literal, Scalar};
pub use op::{BinaryOp, Composite, Device, Op, ReduceOp, SliceDim, UnaryOp, ValueType};
pub use shape::Shape;
pub use verify::verify;
pub mod passes;
