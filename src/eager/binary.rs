//! Elementwise functions of two broadcast operands ([`BinaryOp`]) and `where`.
//!
//! Both operands are first converted to `BinaryOp::compute_dtype` (NumPy's loop dtype),
//! then one monomorphized loop runs per (op, dtype).

use super::cast::astype;
use super::map::{zip3_map, zip_map};
use super::math;
use super::num::{Float, Int, Ordered, Truthy};
use crate::error::{EmberError, Result};
use crate::tensor::Tensor;
use ember_ir::kernel::eval;
use ember_ir::{BinaryOp, DType, ValueType};
use std::cell::Cell;

/// NumPy's message (a `ValueError`) for `int ** negative int`.
pub(crate) const NEGATIVE_INT_POWER: &str = "Integers to negative integer powers are not allowed.";

/// Runs `op` on `a` and `b` broadcast to `out.shape`.
pub(crate) fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, out: &ValueType) -> Result<Tensor> {
    let ct = op.compute_dtype(a.dtype(), b.dtype())?;
    let a = astype(a, ct)?;
    let b = astype(b, ct)?;
    let shape = &out.shape[..];
    if op.is_predicate() {
        return match ct {
            DType::Bool => predicate::<bool>(op, &a, &b, shape),
            DType::I32 => predicate::<i32>(op, &a, &b, shape),
            DType::I64 => predicate::<i64>(op, &a, &b, shape),
            DType::F32 => predicate::<f32>(op, &a, &b, shape),
            DType::F64 => predicate::<f64>(op, &a, &b, shape),
        };
    }
    match ct {
        DType::Bool => bool_op(op, &a, &b, shape),
        DType::I32 => int_op::<i32>(op, &a, &b, shape),
        DType::I64 => int_op::<i64>(op, &a, &b, shape),
        DType::F32 => float_op::<f32>(op, &a, &b, shape),
        DType::F64 => float_op::<f64>(op, &a, &b, shape),
    }
}

fn unsupported(op: BinaryOp, d: DType) -> EmberError {
    EmberError::Type(format!("{}: no eager kernel for dtype {d}", op.name()))
}

/// Comparisons (IEEE: any comparison with NaN is false, `!=` true) and logical ops on
/// truthiness; all produce bool.
fn predicate<T: Ordered + Truthy>(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    s: &[usize],
) -> Result<Tensor> {
    use BinaryOp::*;
    match op {
        Eq => zip_map(a, b, s, |x: T, y: T| x == y),
        Ne => zip_map(a, b, s, |x: T, y: T| x != y),
        Lt => zip_map(a, b, s, |x: T, y: T| x < y),
        Le => zip_map(a, b, s, |x: T, y: T| x <= y),
        Gt => zip_map(a, b, s, |x: T, y: T| x > y),
        Ge => zip_map(a, b, s, |x: T, y: T| x >= y),
        And => zip_map(a, b, s, |x: T, y: T| x.truthy() && y.truthy()),
        Or => zip_map(a, b, s, |x: T, y: T| x.truthy() || y.truthy()),
        Xor => zip_map(a, b, s, |x: T, y: T| x.truthy() != y.truthy()),
        _ => Err(unsupported(op, T::DTYPE)),
    }
}

/// Bool arithmetic: add/maximum are `or`, multiply/minimum are `and` (NumPy's bool loops).
fn bool_op(op: BinaryOp, a: &Tensor, b: &Tensor, s: &[usize]) -> Result<Tensor> {
    use BinaryOp::*;
    match op {
        Add | Max => zip_map(a, b, s, |x: bool, y: bool| x | y),
        Mul | Min => zip_map(a, b, s, |x: bool, y: bool| x & y),
        _ => Err(unsupported(op, DType::Bool)),
    }
}

/// Integer arithmetic with NumPy's semantics: wrapping, floored division, 0 on division by
/// zero (NumPy warns and returns 0), and an error for negative powers.
fn int_op<I: Int>(op: BinaryOp, a: &Tensor, b: &Tensor, s: &[usize]) -> Result<Tensor> {
    use BinaryOp::*;
    match op {
        Add => zip_map(a, b, s, |x: I, y: I| x.wadd(y)),
        Sub => zip_map(a, b, s, |x: I, y: I| x.wsub(y)),
        Mul => zip_map(a, b, s, |x: I, y: I| x.wmul(y)),
        FloorDiv => zip_map(a, b, s, |x: I, y: I| x.floor_div(y)),
        Rem => zip_map(a, b, s, |x: I, y: I| x.py_rem(y)),
        Fmod => zip_map(a, b, s, |x: I, y: I| x.c_fmod(y)),
        Max => zip_map(a, b, s, |x: I, y: I| x.max(y)),
        Min => zip_map(a, b, s, |x: I, y: I| x.min(y)),
        Pow => {
            // The error is raised only for exponents actually used (an empty broadcast
            // result raises nothing), as in NumPy's loop.
            let negative = Cell::new(false);
            let r = zip_map(a, b, s, |x: I, y: I| {
                x.wpow(y).unwrap_or_else(|| {
                    negative.set(true);
                    I::ZERO
                })
            })?;
            if negative.get() {
                return Err(EmberError::Value(NEGATIVE_INT_POWER.into()));
            }
            Ok(r)
        }
        _ => Err(unsupported(op, I::DTYPE)),
    }
}

/// Float arithmetic with IEEE semantics and NumPy's floor division and remainder.
fn float_op<F: Float>(op: BinaryOp, a: &Tensor, b: &Tensor, s: &[usize]) -> Result<Tensor> {
    use BinaryOp::*;
    match op {
        Add => zip_map(a, b, s, |x: F, y: F| x + y),
        Sub => zip_map(a, b, s, |x: F, y: F| x - y),
        Mul => zip_map(a, b, s, |x: F, y: F| x * y),
        Div => zip_map(a, b, s, |x: F, y: F| x / y),
        FloorDiv => zip_map(a, b, s, math::floor_divide::<F>),
        Rem => zip_map(a, b, s, math::remainder::<F>),
        Pow => zip_map(a, b, s, |x: F, y: F| x.powf(y)),
        Max => zip_map(a, b, s, math::maximum::<F>),
        Min => zip_map(a, b, s, math::minimum::<F>),
        Atan2 => zip_map(a, b, s, |x: F, y: F| x.atan2(y)),
        // float32 through float64, rounded once, as the kernel interpreter does.
        Hypot => zip_map(a, b, s, |x: F, y: F| {
            F::from_f64(eval::hypot_f64(x.to_f64(), y.to_f64()))
        }),
        Copysign => zip_map(a, b, s, |x: F, y: F| x.copysign(y)),
        // `%` on floats is C's `fmod`.
        Fmod => zip_map(a, b, s, |x: F, y: F| x % y),
        _ => Err(unsupported(op, F::DTYPE)),
    }
}

/// `np.where(cond, a, b)`: `cond` by truthiness, both branches cast to the result dtype.
pub(crate) fn where_(cond: &Tensor, a: &Tensor, b: &Tensor, out: &ValueType) -> Result<Tensor> {
    let c = astype(cond, DType::Bool)?;
    let a = astype(a, out.dtype)?;
    let b = astype(b, out.dtype)?;
    crate::with_dtype!(out.dtype, T => zip3_map(&c, &a, &b, &out.shape, |c: bool, x: T, y: T| {
        if c {
            x
        } else {
            y
        }
    }))
}
