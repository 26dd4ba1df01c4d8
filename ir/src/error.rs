//! Typed errors of the IR: shape and dtype inference, verification and parsing.

use crate::dtype::DType;
use crate::shape::Shape;
use thiserror::Error;

/// Every error the IR crate reports. Messages name the operation and what was expected, so
/// they can reach a Python user unchanged.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum IrError {
    /// Two shapes that do not broadcast together.
    #[error("{op}: operands could not be broadcast together with shapes {lhs:?} and {rhs:?}")]
    Broadcast {
        /// The operation.
        op: String,
        /// The left shape.
        lhs: Shape,
        /// The right shape.
        rhs: Shape,
    },
    /// An axis outside `-ndim..ndim`.
    #[error("{op}: axis {axis} is out of bounds for array of dimension {ndim}")]
    Axis {
        /// The operation.
        op: String,
        /// The axis given.
        axis: i64,
        /// The number of dimensions.
        ndim: usize,
    },
    /// A dtype the operation does not accept.
    #[error("{op}: unsupported dtype {dtype}: {why}")]
    DType {
        /// The operation.
        op: String,
        /// The offending dtype.
        dtype: DType,
        /// What was expected.
        why: String,
    },
    /// A shape the operation does not accept.
    #[error("{op}: {why}")]
    Shape {
        /// The operation.
        op: String,
        /// What was wrong and what was expected.
        why: String,
    },
    /// An index outside the dimension.
    #[error("index {index} is out of bounds for axis {axis} with size {size}")]
    Index {
        /// The index given.
        index: i64,
        /// The axis indexed.
        axis: usize,
        /// The size of that axis.
        size: usize,
    },
    /// Wrong number of operands for an op.
    #[error("{op}: expected {expected} operand(s), got {got}")]
    Arity {
        /// The operation.
        op: String,
        /// The expected count.
        expected: usize,
        /// The count given.
        got: usize,
    },
    /// The graph violates an invariant (found by the verifier).
    #[error("invalid graph: {0}")]
    Verify(String),
    /// The IR text could not be parsed.
    #[error("parse error at line {line}: {why}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What was expected.
        why: String,
    },
}

/// Result alias of the IR crate.
pub type Result<T, E = IrError> = std::result::Result<T, E>;
