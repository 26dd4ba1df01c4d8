//! High-level functions kept whole in traces (`mean`, `var`, `softmax`, `gelu`, ...). Eagerly
//! they run the same primitive decomposition the `decompose` pass applies to graphs.

use super::apply;
use crate::error::{EmberError, Result};
use crate::tensor::Tensor;
use crate::trace::tensor_of;
use ember_ir::passes::decompose::{expand, Emitter};
use ember_ir::shape::{normalize_axes, normalize_axis};
use ember_ir::{Composite, IrError, Literal, Op, ValueType};
use smallvec::SmallVec;

/// Runs a composite on a concrete tensor through its primitive decomposition.
pub(super) fn eager_composite(c: &Composite, x: &Tensor) -> Result<Tensor> {
    struct Eager;
    impl Emitter for Eager {
        type Value = Tensor;
        fn emit(&mut self, op: Op, args: &[Tensor]) -> ember_ir::Result<Tensor> {
            let refs: Vec<&Tensor> = args.iter().collect();
            apply(op, &refs).map_err(to_ir)
        }
        fn value_type(&self, v: &Tensor) -> ValueType {
            v.value_type().clone()
        }
        fn constant(&mut self, lit: Literal) -> ember_ir::Result<Tensor> {
            tensor_of(&lit).map_err(to_ir)
        }
    }
    expand(c, x.clone(), &mut Eager).map_err(EmberError::from)
}

/// Carries an eager error through the IR's emitter interface without losing its message.
fn to_ir(e: EmberError) -> IrError {
    match e {
        EmberError::Ir(ir) => ir,
        other => IrError::Shape {
            op: "decompose".into(),
            why: other.to_string(),
        },
    }
}

fn axes_of(op: &str, x: &Tensor, axes: Option<&[i64]>) -> Result<SmallVec<[usize; 4]>> {
    Ok(SmallVec::from_vec(normalize_axes(op, axes, x.ndim())?))
}

/// `np.mean(x, axis=axes, keepdims=keepdims)`.
#[track_caller]
pub fn mean(x: &Tensor, axes: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let axes = axes_of("mean", x, axes)?;
    apply(Op::Composite(Composite::Mean { axes, keepdims }), &[x])
}

/// `np.var(x, axis=axes, ddof=ddof, keepdims=keepdims)`.
#[track_caller]
pub fn var(x: &Tensor, axes: Option<&[i64]>, ddof: u32, keepdims: bool) -> Result<Tensor> {
    let axes = axes_of("var", x, axes)?;
    apply(
        Op::Composite(Composite::Var {
            axes,
            keepdims,
            ddof,
        }),
        &[x],
    )
}

/// `np.std(x, axis=axes, ddof=ddof, keepdims=keepdims)`.
#[track_caller]
pub fn std(x: &Tensor, axes: Option<&[i64]>, ddof: u32, keepdims: bool) -> Result<Tensor> {
    let axes = axes_of("std", x, axes)?;
    apply(
        Op::Composite(Composite::Std {
            axes,
            keepdims,
            ddof,
        }),
        &[x],
    )
}

/// `scipy.special.logsumexp(x, axis=axes, keepdims=keepdims)`, computed stably.
#[track_caller]
pub fn logsumexp(x: &Tensor, axes: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let axes = axes_of("logsumexp", x, axes)?;
    apply(Op::Composite(Composite::LogSumExp { axes, keepdims }), &[x])
}

/// Softmax along `axis`.
#[track_caller]
pub fn softmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    let axis = normalize_axis("softmax", axis, x.ndim())?;
    apply(Op::Composite(Composite::Softmax { axis }), &[x])
}

/// Log-softmax along `axis`.
#[track_caller]
pub fn log_softmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    let axis = normalize_axis("log_softmax", axis, x.ndim())?;
    apply(Op::Composite(Composite::LogSoftmax { axis }), &[x])
}

/// Gaussian error linear unit (`approximate` selects the tanh form).
#[track_caller]
pub fn gelu(x: &Tensor, approximate: bool) -> Result<Tensor> {
    apply(Op::Composite(Composite::Gelu { approximate }), &[x])
}

/// `x * sigmoid(x)`.
#[track_caller]
pub fn silu(x: &Tensor) -> Result<Tensor> {
    apply(Op::Composite(Composite::Silu), &[x])
}

/// Layer normalization over `axes` (default: the last axis), without affine parameters.
#[track_caller]
pub fn layer_norm(x: &Tensor, axes: Option<&[i64]>, eps: f64) -> Result<Tensor> {
    let axes = axes_of("layer_norm", x, Some(axes.unwrap_or(&[-1])))?;
    apply(
        Op::Composite(Composite::LayerNorm {
            axes,
            eps_bits: eps.to_bits(),
        }),
        &[x],
    )
}
