//! Reductions (`sum`, `max`, `argmax`, ...) and matmul.

use super::apply;
use crate::error::Result;
use crate::tensor::Tensor;
use ember_ir::dtype::promote;
use ember_ir::op::matmul_shape;
use ember_ir::shape::{normalize_axes, normalize_axis};
use ember_ir::{Op, ReduceOp};
use smallvec::SmallVec;

/// Reduces `x` over `axes` (`None` = all axes), NumPy style.
#[track_caller]
pub fn reduce(op: ReduceOp, x: &Tensor, axes: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let axes = normalize_axes(op.name(), axes, x.ndim())?;
    apply(
        Op::Reduce {
            op,
            axes: SmallVec::from_vec(axes),
            keepdims,
        },
        &[x],
    )
}

macro_rules! reduce_fns {
    ($($name:ident => $op:ident),* $(,)?) => {$(
        #[doc = concat!("`np.", stringify!($name), "(x, axis=axes, keepdims=keepdims)`.")]
        #[track_caller]
        pub fn $name(x: &Tensor, axes: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
            reduce(ReduceOp::$op, x, axes, keepdims)
        }
    )*};
}
reduce_fns!(sum => Sum, prod => Prod, max => Max, min => Min, any => Any, all => All);

/// `np.argmax(x, axis)`; `None` flattens first, like NumPy.
#[track_caller]
pub fn argmax(x: &Tensor, axis: Option<i64>, keepdims: bool) -> Result<Tensor> {
    arg_reduce(ReduceOp::ArgMax, x, axis, keepdims)
}

/// `np.argmin(x, axis)`; `None` flattens first, like NumPy.
#[track_caller]
pub fn argmin(x: &Tensor, axis: Option<i64>, keepdims: bool) -> Result<Tensor> {
    arg_reduce(ReduceOp::ArgMin, x, axis, keepdims)
}

#[track_caller]
fn arg_reduce(op: ReduceOp, x: &Tensor, axis: Option<i64>, keepdims: bool) -> Result<Tensor> {
    match axis {
        Some(a) => {
            let a = normalize_axis(op.name(), a, x.ndim())?;
            apply(
                Op::Reduce {
                    op,
                    axes: SmallVec::from_slice(&[a]),
                    keepdims,
                },
                &[x],
            )
        }
        None => {
            let flat = super::reshape(x, &[-1])?;
            let r = arg_reduce(op, &flat, Some(0), false)?;
            if keepdims {
                super::reshape(&r, &vec![1; x.ndim()])
            } else {
                Ok(r)
            }
        }
    }
}

/// `np.matmul(a, b)` (`a @ b`).
///
/// A 1-d operand is promoted as NumPy does (`a` `[k]` to `[1, k]`, `b` `[k]` to `[k, 1]`)
/// by a reshape, and the added axis is removed from the product by another: every matmul
/// in a graph has operands of at least 2 dimensions, so dot products and matrix-vector
/// products run on the GEMM step (its thin-product loops) instead of the eager kernel.
/// Operands of mixed dtypes are cast to the promoted one first.
#[track_caller]
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (na, nb) = (a.ndim(), b.ndim());
    // Mixed dtypes: NumPy casts both operands to the promoted dtype (an int operand of a
    // float product to that float, and runs BLAS on it); so does this, in one pass over the
    // operand, so that the product runs on the GEMM of one dtype (float, or the exact
    // integer / bool products of the runtime).
    let dtype = promote(a.dtype(), b.dtype());
    if (a.dtype() != dtype || b.dtype() != dtype) && na > 0 && nb > 0 {
        return matmul(&super::astype(a, dtype)?, &super::astype(b, dtype)?);
    }
    let promote = (na == 1 || nb == 1) && na > 0 && nb > 0;
    // Invalid shapes go to the op itself, which raises NumPy's error for them.
    let Some(out) = promote
        .then(|| matmul_shape(a.shape(), b.shape()).ok())
        .flatten()
    else {
        return apply(Op::MatMul, &[a, b]);
    };
    let dims = |s: &[usize]| s.iter().map(|&d| d as i64).collect::<Vec<i64>>();
    let a2 = match a.shape() {
        &[k] => super::reshape(a, &[1, k as i64])?,
        _ => a.clone(),
    };
    let b2 = match b.shape() {
        &[k] => super::reshape(b, &[k as i64, 1])?,
        _ => b.clone(),
    };
    let product = apply(Op::MatMul, &[&a2, &b2])?;
    super::reshape(&product, &dims(&out))
}
