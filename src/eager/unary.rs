//! Elementwise functions of one operand ([`UnaryOp`]), with NumPy's results on every dtype.

use super::cast::{astype, cast_value, CastFrom};
use super::map::map;
use super::math;
use super::num::{Float, Int, Truthy};
use crate::error::{EmberError, Result};
use crate::tensor::Tensor;
use ember_ir::kernel::eval;
use ember_ir::{DType, UnaryOp, ValueType};

/// Runs `op` on `x`; `out` is the inferred result type.
pub(crate) fn unary(op: UnaryOp, x: &Tensor, out: &ValueType) -> Result<Tensor> {
    use UnaryOp::*;
    match op {
        IsNan | IsInf | IsFinite | LogicalNot => predicate(op, x),
        // Float functions of ints compute in the (float) result dtype: cast first.
        _ if op.is_transcendental() => {
            let xf = astype(x, out.dtype)?;
            match out.dtype {
                DType::F32 => float_op::<f32>(op, &xf),
                DType::F64 => float_op::<f64>(op, &xf),
                d => Err(unsupported(op, d)),
            }
        }
        _ => match x.dtype() {
            DType::F32 => float_op::<f32>(op, x),
            DType::F64 => float_op::<f64>(op, x),
            DType::I32 => int_op::<i32>(op, x),
            DType::I64 => int_op::<i64>(op, x),
            DType::Bool => bool_op(op, x),
        },
    }
}

fn unsupported(op: UnaryOp, d: DType) -> EmberError {
    EmberError::Type(format!("{}: no eager kernel for dtype {d}", op.name()))
}

/// isnan/isinf/isfinite and logical_not, which produce bool for every input dtype.
fn predicate(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    use UnaryOp::*;
    fn float_pred<F: Float + Truthy>(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
        match op {
            IsNan => map(x, |v: F| v.is_nan_value()),
            IsInf => map(x, |v: F| v.is_infinite()),
            IsFinite => map(x, |v: F| v.is_finite()),
            _ => map(x, |v: F| !v.truthy()),
        }
    }
    fn exact_pred<T: Truthy>(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
        // Ints and bools are never NaN or infinite.
        match op {
            IsNan | IsInf => map(x, |_: T| false),
            IsFinite => map(x, |_: T| true),
            _ => map(x, |v: T| !v.truthy()),
        }
    }
    match x.dtype() {
        DType::F32 => float_pred::<f32>(op, x),
        DType::F64 => float_pred::<f64>(op, x),
        DType::I32 => exact_pred::<i32>(op, x),
        DType::I64 => exact_pred::<i64>(op, x),
        DType::Bool => exact_pred::<bool>(op, x),
    }
}

/// Every non-predicate op on a float tensor (already in its result dtype).
fn float_op<F: Float>(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    use UnaryOp::*;
    match op {
        Neg => map(x, |v: F| -v),
        Abs => map(x, |v: F| v.abs()),
        // NumPy: 1 for > 0, -1 for < 0, +0 for ±0, NaN for NaN.
        Sign => map(x, |v: F| {
            if v > F::ZERO {
                F::ONE
            } else if v < F::ZERO {
                -F::ONE
            } else if v == F::ZERO {
                F::ZERO
            } else {
                v
            }
        }),
        Exp => map(x, |v: F| v.exp()),
        Expm1 => map(x, |v: F| v.exp_m1()),
        Log => map(x, |v: F| v.ln()),
        Log1p => map(x, |v: F| v.ln_1p()),
        Sqrt => map(x, |v: F| v.sqrt()),
        Square => map(x, |v: F| v * v),
        Reciprocal => map(x, |v: F| F::ONE / v),
        Sin => map(x, |v: F| v.sin()),
        Cos => map(x, |v: F| v.cos()),
        Tan => map(x, |v: F| v.tan()),
        Tanh => map(x, |v: F| v.tanh()),
        Sinh => map(x, |v: F| v.sinh()),
        Cosh => map(x, |v: F| v.cosh()),
        Asin => map(x, |v: F| v.asin()),
        Acos => map(x, |v: F| v.acos()),
        Atan => map(x, |v: F| v.atan()),
        // Computed in f64 and rounded once: float32 results are then correctly rounded
        // (almost always), which is within an ulp of any float32 reference.
        Erf => map(x, |v: F| F::from_f64(math::erf(v.to_f64()))),
        Sigmoid => map(x, |v: F| F::from_f64(math::sigmoid(v.to_f64()))),
        // np.maximum(x, 0): NaN propagates, -0.0 gives +0.0.
        Relu => map(x, |v: F| math::maximum(v, F::ZERO)),
        Floor => map(x, |v: F| v.floor()),
        Ceil => map(x, |v: F| v.ceil()),
        Round => map(x, |v: F| v.round_even()),
        // The kernel interpreter's functions (float32 through float64, rounded once), so
        // eager and compiled results agree bit for bit.
        Log2 | Log10 | Exp2 | Cbrt | Asinh | Acosh | Atanh => {
            map(x, |v: F| F::from_f64(eval::libm_f64(op, v.to_f64())))
        }
        IsNan | IsInf | IsFinite | LogicalNot => predicate(op, x),
    }
}

/// The ops that keep an integer dtype.
fn int_op<I>(op: UnaryOp, x: &Tensor) -> Result<Tensor>
where
    I: Int + CastFrom<f64>,
    f64: CastFrom<I>,
{
    use UnaryOp::*;
    match op {
        Neg => map(x, |v: I| v.wneg()),
        Abs => map(x, |v: I| v.wabs()),
        Sign => map(x, |v: I| v.sign()),
        Square => map(x, |v: I| v.wmul(v)),
        // NumPy computes `1.0 / x` in double and converts back: 1 -> 1, -1 -> -1, 0 -> inf
        // -> MIN (x86 conversion of inf), anything else truncates to 0.
        Reciprocal => map(x, |v: I| {
            cast_value::<f64, I>(1.0 / cast_value::<I, f64>(v))
        }),
        Relu => map(x, |v: I| if v > I::ZERO { v } else { I::ZERO }),
        // Rounding an integer is the identity; the tensor is immutable, so share it.
        Floor | Ceil | Round => Ok(x.clone()),
        IsNan | IsInf | IsFinite | LogicalNot => predicate(op, x),
        _ => Err(unsupported(op, x.dtype())),
    }
}

/// The ops `Op::infer` allows on bool with a bool result: all are the identity
/// (`abs`, `relu = maximum(x, False)`, `floor`, `ceil`).
fn bool_op(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    use UnaryOp::*;
    match op {
        Abs | Relu | Floor | Ceil => Ok(x.clone()),
        IsNan | IsInf | IsFinite | LogicalNot => predicate(op, x),
        _ => Err(unsupported(op, DType::Bool)),
    }
}
