//! Reference kernels on ndarray: eager mode, the fallback path and the test oracle.
//!
//! Every primitive [`Op`] runs here on concrete host tensors with NumPy 2's results: the
//! same dtypes, bit-exact integer results, floats within an ulp or two (float sums use
//! NumPy's pairwise order). Movement ops are zero-copy views where the layout allows; every
//! other result is fresh C-contiguous, 64-byte aligned storage written once.
//!
//! One file per concern: unary and binary elementwise ops, casts, reductions,
//! movement, matmul, creation functions and the scalar math they share.

mod binary;
mod cast;
pub mod creation;
mod map;
mod math;
mod matmul;
pub(crate) mod movement;
mod num;
mod reduce;
mod unary;

#[cfg(test)]
mod tests;

pub use cast::astype;
pub use creation::{arange, eye, from_literal, full, linspace, ones, zeros};
pub use math::{erf, sigmoid};

use crate::error::{EmberError, Result};
use crate::tensor::Tensor;
use ember_ir::{Device, Op, ValueType};

/// Executes one primitive `op` on concrete `inputs`, producing a tensor of type `out`
/// (already inferred by `Op::infer`).
///
/// `Input`, `Output` and `Composite` ops are rejected (the caller binds inputs and decomposes
/// composites before execution); `Copy(Cpu)` is the identity. The inputs must be host
/// tensors with data (not traced values), and `out` must be what `Op::infer` gives for them:
/// a mismatch is reported as an error rather than trusted, because every kernel relies on it.
pub fn execute(op: &Op, inputs: &[&Tensor], out: &ValueType) -> Result<Tensor> {
    match op {
        Op::Input { .. } | Op::Output { .. } => {
            return Err(EmberError::Value(format!(
                "eager: {} nodes are bound by the caller, not executed",
                op.name()
            )))
        }
        Op::Composite(c) => {
            return Err(EmberError::Value(format!(
                "eager: composite op {} must be decomposed into primitives before execution",
                c.name()
            )))
        }
        _ => {}
    }
    for (i, t) in inputs.iter().enumerate() {
        t.buffer()?;
        if t.device() != Device::Cpu {
            return Err(EmberError::Device(format!(
                "eager {}: operand {i} lives on {}, expected host memory",
                op.name(),
                t.device()
            )));
        }
    }
    let types: Vec<&ValueType> = inputs.iter().map(|t| t.value_type()).collect();
    let inferred = op.infer(&types)?;
    if inferred != *out {
        return Err(EmberError::Value(format!(
            "eager {}: result type {out} was given, but the operands give {inferred}",
            op.name()
        )));
    }
    match op {
        Op::Const(lit) => from_literal(lit),
        Op::Unary(u) => unary::unary(*u, inputs[0], out),
        Op::Binary(b) => binary::binary(*b, inputs[0], inputs[1], out),
        Op::Where => binary::where_(inputs[0], inputs[1], inputs[2], out),
        Op::Cast(d) => astype(inputs[0], *d),
        Op::Reduce { op: r, axes, .. } => reduce::reduce(*r, inputs[0], axes, out),
        Op::Reshape(shape) => movement::reshape(inputs[0], shape),
        Op::Permute(perm) => movement::permute(inputs[0], perm),
        Op::Broadcast(shape) => movement::broadcast(inputs[0], shape),
        Op::Slice(dims) => movement::slice(inputs[0], dims),
        Op::Concat { axis } => movement::concat(inputs, *axis, out),
        Op::MatMul => matmul::matmul(inputs[0], inputs[1], out),
        Op::Copy(Device::Cpu) => Ok(inputs[0].clone()),
        Op::Copy(d) => Err(EmberError::Device(format!(
            "eager: copies to {d} are not run by the host kernels"
        ))),
        Op::Input { .. } | Op::Output { .. } | Op::Composite(_) => Err(EmberError::Value(format!(
            "eager: {} is not executable",
            op.name()
        ))),
    }
}
