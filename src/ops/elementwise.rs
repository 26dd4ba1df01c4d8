//! Elementwise functions: unary math, binary arithmetic and comparisons, where, clip, astype.

use super::{apply, resolve, Operand};
use crate::error::Result;
use crate::tensor::Tensor;
use ember_ir::{BinaryOp, DType, Op, Scalar, UnaryOp, WeakKind};

/// Applies a unary elementwise function.
#[track_caller]
pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    apply(Op::Unary(op), &[x])
}

/// Applies a binary elementwise function with broadcasting and NEP 50 promotion.
#[track_caller]
pub fn binary(op: BinaryOp, a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Tensor> {
    let mut operands = [a.into(), b.into()];
    if let Some(r) = beyond_int64(op, &mut operands)? {
        return Ok(r);
    }
    let exact = op.is_predicate()
        || matches!(
            op,
            BinaryOp::Div | BinaryOp::Atan2 | BinaryOp::Hypot | BinaryOp::Copysign
        );
    if exact && operands.iter().any(beyond_int32) {
        // NumPy 2 compares an int32 array with a Python int beyond int32's range exactly
        // (`int32_array < 2**40` is all True; logical ops too) and divides by it in float64
        // (also arctan2, hypot, copysign),
        // where integer arithmetic raises OverflowError: these run in int64, which gives the
        // same results.
        for o in operands.iter_mut() {
            if let Operand::Tensor(t) = o {
                if t.dtype() == DType::I32 {
                    *o = Operand::Tensor(astype(t, DType::I64)?);
                }
            }
        }
    }
    let t = resolve(&operands)?;
    if op == BinaryOp::Pow {
        if let Some(r) = power_by_scalar(&t[0], &t[1])? {
            return Ok(r);
        }
    }
    apply(Op::Binary(op), &[&t[0], &t[1]])
}

/// NumPy's float power loop, given one exponent for every element (a scalar, or an array
/// broadcast from one value), computes `x ** 0.5` as `sqrt(x)`, `x ** 2` as `x * x` and
/// `x ** -1` as `1 / x` (and `x ** 0` as ones). For 2 and -1 these are `pow`'s values at a fraction of its cost; for
/// 0.5 they differ from C's `pow` at `-0.0` (`-0.0`, not `+0.0`) and `-inf` (NaN, not `inf`).
/// `None` when the exponent is not such a known value (a traced exponent goes through `pow`).
fn power_by_scalar(x: &Tensor, e: &Tensor) -> Result<Option<Tensor>> {
    let dtype = ember_ir::promote(x.dtype(), e.dtype());
    if !dtype.is_float() || e.numel() != 1 || e.ndim() > x.ndim() || e.is_traced() {
        return Ok(None);
    }
    let v = e.item()?.cast(dtype).to_f64();
    if v == 0.0 {
        // `pow(x, 0)` is 1 for every x, NaN and infinities included (C99; NumPy's `x ** 0`
        // is `ones_like`): a fill in the kernel instead of a `pow` per element (perf fuzzer
        // seeds 11353, 12327, 12454: 3.7 ms against NumPy's 0.12 at 400k elements).
        let x = astype(x, dtype)?;
        let one = Scalar::F64(1.0).cast(dtype);
        let nan = unary(UnaryOp::IsNan, &x)?;
        let one = Tensor::scalar(one);
        return where_(&nan, &one, &one).map(Some);
    }
    let op = if v == 0.5 {
        UnaryOp::Sqrt
    } else if v == 2.0 {
        UnaryOp::Square
    } else if v == -1.0 {
        UnaryOp::Reciprocal
    } else {
        return Ok(None);
    };
    unary(op, &astype(x, dtype)?).map(Some)
}

/// A Python int beyond int64 (a weak int held as a float64) against an integer or bool
/// tensor, where NumPy 2 does not raise: division, arctan2, hypot and copysign compute in
/// float64 (the int tensor is cast first, as NumPy's float loop does), and predicates compare
/// exactly: every int64 lies below such an int when it is positive, above it when negative,
/// so the comparison of an int32/int64 tensor becomes one against int64's bound that gives
/// the same answer everywhere. Other ops (logical ones, comparisons of bools, arithmetic) keep
/// it and raise `OverflowError` in `resolve`, as NumPy does.
/// `Some` with the result when the operation was rewritten and run here.
fn beyond_int64(op: BinaryOp, operands: &mut [Operand; 2]) -> Result<Option<Tensor>> {
    let huge = |o: &Operand| match o {
        Operand::Weak(Scalar::F64(v), WeakKind::Int) => Some(*v),
        _ => None,
    };
    use BinaryOp::*;
    if matches!(op, And | Or | Xor) && operands.iter().any(|o| huge(o).is_some()) {
        return Err(crate::error::EmberError::Overflow(
            "Python integer beyond int64 in a logical operation".into(),
        ));
    }
    let int_tensor = |o: &Operand| matches!(o, Operand::Tensor(t) if !t.dtype().is_float());
    let (Some(h), true) = (
        operands.iter().find_map(huge),
        operands.iter().any(int_tensor),
    ) else {
        return Ok(None);
    };
    if matches!(
        op,
        BinaryOp::Div | BinaryOp::Atan2 | BinaryOp::Hypot | BinaryOp::Copysign
    ) {
        for o in operands.iter_mut() {
            if let Operand::Tensor(t) = o {
                *o = Operand::Tensor(astype(t, DType::F64)?);
            }
        }
        return Ok(None);
    }
    // Comparisons of int32/int64 only: NumPy raises for bool operands and logical ops.
    let ints = operands
        .iter()
        .any(|o| matches!(o, Operand::Tensor(t) if matches!(t.dtype(), DType::I32 | DType::I64)));
    if !ints || !matches!(op, Eq | Ne | Lt | Le | Gt | Ge) {
        return Ok(None);
    }
    // Put the huge int second: `a op h`.
    let (a, op) = match (&operands[0], &operands[1]) {
        (Operand::Tensor(t), _) => (t.clone(), op),
        (_, Operand::Tensor(t)) => (t.clone(), op.swapped().unwrap_or(op)),
        _ => return Ok(None),
    };
    let (bound, op) = match op {
        // h > int64::MAX: a < h, a <= h and a != h hold for every a (a <= MAX); a > h,
        // a >= h and a == h for none (a > MAX).
        Lt | Le | Ne if h > 0.0 => (i64::MAX, Le),
        Gt | Ge | Eq if h > 0.0 => (i64::MAX, Gt),
        // h < int64::MIN, mirrored.
        Gt | Ge | Ne => (i64::MIN, Ge),
        _ => (i64::MIN, Lt),
    };
    let a = astype(&a, DType::I64)?;
    binary(op, &a, bound).map(Some)
}

/// A weak Python int that does not fit in int32.
fn beyond_int32(o: &Operand) -> bool {
    matches!(o, Operand::Weak(Scalar::I64(v), WeakKind::Int) if i32::try_from(*v).is_err())
}

macro_rules! unary_fns {
    ($($name:ident => $op:ident),* $(,)?) => {$(
        #[doc = concat!("Elementwise `", stringify!($name), "` (NumPy semantics).")]
        #[track_caller]
        pub fn $name(x: &Tensor) -> Result<Tensor> { unary(UnaryOp::$op, x) }
    )*};
}
unary_fns!(
    negative => Neg, abs => Abs, sign => Sign, exp => Exp, expm1 => Expm1, log => Log,
    log1p => Log1p, sqrt => Sqrt, square => Square, reciprocal => Reciprocal, sin => Sin,
    cos => Cos, tan => Tan, tanh => Tanh, sinh => Sinh, cosh => Cosh, arcsin => Asin,
    arccos => Acos, arctan => Atan, erf => Erf, sigmoid => Sigmoid, relu => Relu,
    floor => Floor, ceil => Ceil, round => Round, isnan => IsNan, isinf => IsInf,
    isfinite => IsFinite, logical_not => LogicalNot, log2 => Log2, log10 => Log10,
    exp2 => Exp2, cbrt => Cbrt, arcsinh => Asinh, arccosh => Acosh, arctanh => Atanh,
);

macro_rules! binary_fns {
    ($($name:ident => $op:ident),* $(,)?) => {$(
        #[doc = concat!("Elementwise `", stringify!($name), "` with broadcasting (NumPy semantics).")]
        #[track_caller]
        pub fn $name(a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Tensor> {
            binary(BinaryOp::$op, a, b)
        }
    )*};
}
binary_fns!(
    add => Add, subtract => Sub, multiply => Mul, divide => Div, floor_divide => FloorDiv,
    remainder => Rem, power => Pow, maximum => Max, minimum => Min, arctan2 => Atan2,
    equal => Eq, not_equal => Ne, less => Lt, less_equal => Le, greater => Gt,
    greater_equal => Ge, logical_and => And, logical_or => Or, logical_xor => Xor,
    hypot => Hypot, copysign => Copysign, fmod => Fmod,
);

/// `np.where(cond, a, b)`: elements of `a` where `cond` is truthy, else of `b`.
#[track_caller]
pub fn where_(cond: &Tensor, a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Tensor> {
    let t = resolve(&[a.into(), b.into()])?;
    apply(Op::Where, &[cond, &t[0], &t[1]])
}

/// `np.clip(x, lo, hi)` = `minimum(maximum(x, lo), hi)`; `None` leaves that side open.
///
/// The three operands are promoted together, as NumPy does (NEP 50): `clip(bool_array, 0.5,
/// np.float32(3))` is float32, where promoting pairwise would widen to float64 at `maximum`.
#[track_caller]
pub fn clip(x: &Tensor, lo: Option<Operand>, hi: Option<Operand>) -> Result<Tensor> {
    // NumPy (`_methods._clip`) drops a Python-int bound at or beyond an integer array's range
    // on the side that clips nothing (`clip(int32_array, 0, 2**40)`, `clip(x, lo,
    // 2**31 - 1)`); on the other side it raises OverflowError. At the range's edge the drop
    // shows when the bounds cross: `clip(int32_array, np.inf, 2**31 - 1)` is inf, not a_max.
    let range: Option<(i64, i64)> = match x.dtype() {
        DType::I32 => Some((i32::MIN.into(), i32::MAX.into())),
        DType::I64 => Some((i64::MIN, i64::MAX)),
        _ => None,
    };
    let weak_int = |o: &Operand| match (o, range) {
        (Operand::Weak(Scalar::I64(v), WeakKind::Int), Some(r)) => Some((*v, r)),
        _ => None,
    };
    let lo = lo.filter(|o| weak_int(o).is_none_or(|(v, (min, _))| v > min));
    let hi = hi.filter(|o| weak_int(o).is_none_or(|(v, (_, max))| v < max));
    let mut operands = vec![Operand::Tensor(x.clone())];
    operands.extend(lo.iter().cloned());
    operands.extend(hi.iter().cloned());
    let resolved = resolve(&operands)?;
    let dtype = resolved
        .iter()
        .map(Tensor::dtype)
        .reduce(ember_ir::promote)
        .unwrap_or(x.dtype());
    let mut out = astype(x, dtype)?;
    let mut bounds = resolved.into_iter().skip(1);
    let (lo, hi) = (
        lo.and_then(|_| bounds.next()),
        hi.and_then(|_| bounds.next()),
    );
    if let Some(lo) = lo {
        out = maximum(&out, lo)?;
    }
    if let Some(hi) = hi {
        out = minimum(&out, hi)?;
    }
    Ok(out)
}

/// `x.astype(dtype)`: converts elements (a no-op returning `x` for its own dtype).
#[track_caller]
pub fn astype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    apply(Op::Cast(dtype), &[x])
}
