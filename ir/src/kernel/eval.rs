//! Scalar semantics of kernel instructions: the definition the interpreter uses and backends
//! must reproduce (bit for bit for exact ops; within the documented ULP bounds for the
//! transcendental ones). They follow NumPy 2 on x86-64, like the eager kernels: integer
//! arithmetic wraps; integer division or remainder by zero gives 0 (NumPy warns and gives 0
//! too); an integer to a negative power gives 0 (NumPy raises, so the fusion pass leaves such
//! powers to eager); float to int conversions of NaN, ±inf and out-of-range values give the
//! minimum integer; `maximum`/`minimum` return the second operand on ties (signed zeros).
//! The public float helpers are called by the CPU backend for the ops it does not inline, so
//! both paths agree exactly there.

use crate::dtype::DType;
use crate::literal::Scalar;
use crate::op::{BinaryOp, UnaryOp};

/// NumPy's `floor_divide` for floats (`npy_floor_divide`, including its rounding fix-ups).
pub fn floor_div_f64(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return a / b;
    }
    divmod_f64(a, b).0
}

/// NumPy's `remainder` for floats: the result has the sign of the divisor.
pub fn rem_f64(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return a % b;
    }
    divmod_f64(a, b).1
}

fn divmod_f64(a: f64, b: f64) -> (f64, f64) {
    let mut m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m += b;
            div -= 1.0;
        }
    } else {
        m = 0f64.copysign(b);
    }
    let fd = if div != 0.0 {
        let f = div.floor();
        if div - f > 0.5 {
            f + 1.0
        } else {
            f
        }
    } else {
        0f64.copysign(a / b)
    };
    (fd, m)
}

/// [`floor_div_f64`] for float32 (computed in float32 like NumPy).
pub fn floor_div_f32(a: f32, b: f32) -> f32 {
    if b == 0.0 {
        return a / b;
    }
    let mut m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && (b < 0.0) != (m < 0.0) {
        m += b;
        div -= 1.0;
    }
    let _ = m;
    if div != 0.0 {
        let f = div.floor();
        if div - f > 0.5 {
            f + 1.0
        } else {
            f
        }
    } else {
        0f32.copysign(a / b)
    }
}

/// [`rem_f64`] for float32.
pub fn rem_f32(a: f32, b: f32) -> f32 {
    let m = a % b;
    if b == 0.0 {
        return m;
    }
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m + b
        } else {
            m
        }
    } else {
        0f32.copysign(b)
    }
}

/// `a ** b` for integers by squaring, wrapping; negative exponents give 0.
pub fn ipow(mut a: i64, mut b: i64) -> i64 {
    if b < 0 {
        return 0;
    }
    let mut r: i64 = 1;
    while b > 0 {
        if b & 1 == 1 {
            r = r.wrapping_mul(a);
        }
        a = a.wrapping_mul(a);
        b >>= 1;
    }
    r
}

/// Python floor division of integers; 0 when dividing by 0.
pub fn ifloor_div(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let q = a.wrapping_div(b);
    // wrapping_rem: `MIN % -1` overflows (and would panic inside generated code's helper).
    if (a.wrapping_rem(b) != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// Python remainder of integers (sign of the divisor); 0 when dividing by 0.
pub fn irem(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let r = a.wrapping_rem(b);
    if r != 0 && ((r < 0) != (b < 0)) {
        r + b
    } else {
        r
    }
}

/// Integer `fmod` (C's truncated remainder: the sign of the dividend); 0 when dividing by 0
/// (NumPy warns and gives 0), and `MIN % -1` is 0.
pub fn ifmod(a: i64, b: i64) -> i64 {
    if b == 0 {
        0
    } else {
        a.wrapping_rem(b)
    }
}

/// `log2`, `log10`, `exp2`, `cbrt`, `arcsinh`, `arccosh`, `arctanh` of a float64: the ops
/// that no backend inlines on the CPU. The first four are the system math library's (Rust's
/// `f64` methods call it, as NumPy does); the inverse hyperbolics are the `libm` crate's
/// (FreeBSD / musl algorithms), because Rust's `f64::asinh`/`acosh`/`atanh` are written in
/// Rust with simple formulas: `asinh` and `acosh` overflow to infinity above about 9e307,
/// `acosh` loses up to half its digits just above 1, and `atanh` is off by up to 1e14 ULP
/// next to -1. Against `np.longdouble` over 380K values (tiny, subnormal, near ±1, up to
/// 1.8e308, infinities, NaN) these are within 2 ULP, as NumPy's own loops are; NumPy
/// agrees exactly for 86-99% of them (its AVX-512 loops use other polynomials).
///
/// float32 computes these in float64 and rounds once ([`unary`]): the correctly rounded
/// float32 result unless the exact value lies within a few float64 ULP of a float32
/// rounding boundary (none of the 380K values did); NumPy's float32 loops are within 1-2
/// ULP of it.
///
/// # Panics
/// For any other op.
pub fn libm_f64(op: UnaryOp, x: f64) -> f64 {
    use UnaryOp::*;
    match op {
        Log2 => x.log2(),
        Log10 => x.log10(),
        Exp2 => x.exp2(),
        Cbrt => x.cbrt(),
        Asinh => libm::asinh(x),
        // `libm::acosh` ignores the sign of arguments at or below -2 (musl's exponent test):
        // it would give acosh(|x|) where the answer is NaN.
        Acosh if x < 1.0 => f64::NAN,
        Acosh => libm::acosh(x),
        Atanh => libm::atanh(x),
        _ => panic!("{op} is not a math library function"),
    }
}

/// `hypot(a, b)` of float64: the system math library's (no intermediate overflow:
/// `hypot(1e300, 1e300)` is finite; `hypot(±inf, NaN)` is inf, as in C).
pub fn hypot_f64(a: f64, b: f64) -> f64 {
    a.hypot(b)
}

/// The logistic function `1 / (1 + e^-x)` (as `e^x / (1 + e^x)` for negative `x`, which keeps
/// tiny results accurate).
pub fn sigmoid_f64(x: f64) -> f64 {
    let e = (-x.abs()).exp();
    let s = 1.0 / (1.0 + e);
    if x < 0.0 {
        e * s
    } else {
        s
    }
}

fn truthy(s: Scalar) -> bool {
    match s {
        Scalar::Bool(b) => b,
        Scalar::I32(v) => v != 0,
        Scalar::I64(v) => v != 0,
        Scalar::F32(v) => v != 0.0,
        Scalar::F64(v) => v != 0.0,
    }
}

/// NumPy's `maximum` on x86-64: `a` when `a > b` or `a` is NaN, else `b`. NaN in either
/// operand propagates, and on equal operands (`-0.0` and `+0.0`) the second one is returned:
/// `maximum(-0.0, 0.0)` is `+0.0`, `maximum(0.0, -0.0)` is `-0.0`. (Not IEEE 754-2019
/// `maximum`, which ranks `+0` above `-0`.)
pub fn fmax64(a: f64, b: f64) -> f64 {
    if a > b || a.is_nan() {
        a
    } else {
        b
    }
}

/// NumPy's `minimum` on x86-64: `a` when `a < b` or `a` is NaN, else `b` (see [`fmax64`]).
pub fn fmin64(a: f64, b: f64) -> f64 {
    if a < b || a.is_nan() {
        a
    } else {
        b
    }
}

/// Float to integer conversion as NumPy does it on x86-64: truncation toward zero, and NaN,
/// ±inf and values outside the target's range give its minimum (the "integer indefinite"
/// value of the x86 conversion instructions).
pub fn float_to_int(x: f64, to: DType) -> Scalar {
    // Both bounds are powers of two, exact in float32 and float64; NaN fails the test.
    match to {
        DType::I32 if (-2147483648.0..2147483648.0).contains(&x) => Scalar::I32(x as i32),
        DType::I32 => Scalar::I32(i32::MIN),
        DType::I64 if (-9223372036854775808.0..9223372036854775808.0).contains(&x) => {
            Scalar::I64(x as i64)
        }
        DType::I64 => Scalar::I64(i64::MIN),
        _ => Scalar::F64(x).cast(to),
    }
}

macro_rules! float_unary {
    ($x:expr, $t:ty, $op:expr) => {{
        let x: $t = $x;
        use UnaryOp::*;
        match $op {
            Neg => -x,
            Abs => x.abs(),
            // NaN stays NaN; both zeros give +0.0, like NumPy.
            Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x + 0.0
                }
            }
            Exp => x.exp(),
            Expm1 => x.exp_m1(),
            Log => x.ln(),
            Log1p => x.ln_1p(),
            Sqrt => x.sqrt(),
            Square => x * x,
            Reciprocal => 1.0 / x,
            Sin => x.sin(),
            Cos => x.cos(),
            Tan => x.tan(),
            Tanh => x.tanh(),
            Sinh => x.sinh(),
            Cosh => x.cosh(),
            Asin => x.asin(),
            Acos => x.acos(),
            Atan => x.atan(),
            Erf => libm::erf(x as f64) as $t,
            Sigmoid => {
                let e = (-x.abs()).exp();
                let s = 1.0 / (1.0 + e);
                if x < 0.0 {
                    e * s
                } else {
                    s
                }
            }
            // `maximum(x, 0)`: NaN propagates, -0.0 gives +0.0.
            Relu => {
                if x <= 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Floor => x.floor(),
            Ceil => x.ceil(),
            Round => x.round_ties_even(),
            // float32 through float64, rounded once (see `libm_f64`).
            Log2 | Log10 | Exp2 | Cbrt | Asinh | Acosh | Atanh => libm_f64($op, x as f64) as $t,
            IsNan | IsInf | IsFinite | LogicalNot => {
                unreachable!("predicates handled by the caller")
            }
        }
    }};
}

macro_rules! int_unary {
    ($x:expr, $t:ty, $op:expr) => {{
        let x: $t = $x;
        use UnaryOp::*;
        match $op {
            Neg => x.wrapping_neg(),
            Abs => x.wrapping_abs(),
            Sign => x.signum(),
            Square => x.wrapping_mul(x),
            // NumPy computes `1.0 / x` and converts back: 1 / 0 = inf gives the minimum
            // (x86-64), anything but ±1 truncates to 0.
            Reciprocal => match x {
                1 => 1,
                -1 => -1,
                0 => <$t>::MIN,
                _ => 0,
            },
            Relu => x.max(0),
            // Identity on integers; the float-only functions never reach here (the kernel
            // verifier rejects them).
            _ => x,
        }
    }};
}

/// `op(x)` with kernel semantics (`x` already of the op's dtype).
pub fn unary(op: UnaryOp, x: Scalar) -> Scalar {
    use UnaryOp::*;
    match op {
        IsNan => {
            return Scalar::Bool(match x {
                Scalar::F32(v) => v.is_nan(),
                Scalar::F64(v) => v.is_nan(),
                _ => false,
            })
        }
        IsInf => {
            return Scalar::Bool(match x {
                Scalar::F32(v) => v.is_infinite(),
                Scalar::F64(v) => v.is_infinite(),
                _ => false,
            })
        }
        IsFinite => {
            return Scalar::Bool(match x {
                Scalar::F32(v) => v.is_finite(),
                Scalar::F64(v) => v.is_finite(),
                _ => true,
            })
        }
        LogicalNot => return Scalar::Bool(!truthy(x)),
        _ => {}
    }
    match x {
        Scalar::F32(v) => Scalar::F32(match op {
            // float32 erf is defined through the float64 function, rounded once.
            Erf => libm::erf(v as f64) as f32,
            _ => float_unary!(v, f32, op),
        }),
        Scalar::F64(v) => Scalar::F64(float_unary!(v, f64, op)),
        Scalar::I32(v) => Scalar::I32(int_unary!(v, i32, op)),
        Scalar::I64(v) => Scalar::I64(int_unary!(v, i64, op)),
        // abs, relu, floor, ceil, round of bool are the identity.
        Scalar::Bool(b) => Scalar::Bool(b),
    }
}

fn compare<T: PartialOrd + PartialEq>(op: BinaryOp, a: T, b: T) -> bool {
    use BinaryOp::*;
    match op {
        Eq => a == b,
        Ne => a != b,
        Lt => a < b,
        Le => a <= b,
        Gt => a > b,
        Ge => a >= b,
        _ => false,
    }
}

macro_rules! float_binary {
    ($a:expr, $b:expr, $t:ty, $op:expr, $fd:path, $rem:path) => {{
        let (a, b): ($t, $t) = ($a, $b);
        use BinaryOp::*;
        match $op {
            Add => a + b,
            Sub => a - b,
            Mul => a * b,
            Div => a / b,
            FloorDiv => $fd(a, b),
            Rem => $rem(a, b),
            Pow => a.powf(b),
            Max => fmax64(a as f64, b as f64) as $t,
            Min => fmin64(a as f64, b as f64) as $t,
            Atan2 => a.atan2(b),
            // float32 through float64, rounded once: the correctly rounded result (or next
            // to it), as `libm_f64` does for the unary functions.
            Hypot => hypot_f64(a as f64, b as f64) as $t,
            Copysign => a.copysign(b),
            // `%` on floats is C's `fmod` (exact).
            Fmod => a % b,
            _ => unreachable!("predicates handled by the caller"),
        }
    }};
}

/// `op(a, b)` with kernel semantics (`a` and `b` of the same dtype).
pub fn binary(op: BinaryOp, a: Scalar, b: Scalar) -> Scalar {
    use BinaryOp::*;
    match op {
        And => return Scalar::Bool(truthy(a) && truthy(b)),
        Or => return Scalar::Bool(truthy(a) || truthy(b)),
        Xor => return Scalar::Bool(truthy(a) != truthy(b)),
        _ => {}
    }
    if op.is_predicate() {
        return Scalar::Bool(match (a, b) {
            (Scalar::F32(x), Scalar::F32(y)) => compare(op, x, y),
            (Scalar::F64(x), Scalar::F64(y)) => compare(op, x, y),
            (Scalar::I32(x), Scalar::I32(y)) => compare(op, x, y),
            (Scalar::I64(x), Scalar::I64(y)) => compare(op, x, y),
            (Scalar::Bool(x), Scalar::Bool(y)) => compare(op, x, y),
            _ => false,
        });
    }
    match (a, b) {
        (Scalar::F32(x), Scalar::F32(y)) => {
            Scalar::F32(float_binary!(x, y, f32, op, floor_div_f32, rem_f32))
        }
        (Scalar::F64(x), Scalar::F64(y)) => {
            Scalar::F64(float_binary!(x, y, f64, op, floor_div_f64, rem_f64))
        }
        (Scalar::I32(x), Scalar::I32(y)) => Scalar::I32(int_binary(op, x as i64, y as i64) as i32),
        (Scalar::I64(x), Scalar::I64(y)) => Scalar::I64(int_binary(op, x, y)),
        (Scalar::Bool(x), Scalar::Bool(y)) => Scalar::Bool(match op {
            Add | Max => x || y,
            Mul | Min => x && y,
            _ => false,
        }),
        // Mixed dtypes never pass the verifier.
        _ => a,
    }
}

fn int_binary(op: BinaryOp, a: i64, b: i64) -> i64 {
    use BinaryOp::*;
    match op {
        Add => a.wrapping_add(b),
        Sub => a.wrapping_sub(b),
        Mul => a.wrapping_mul(b),
        FloorDiv => ifloor_div(a, b),
        Rem => irem(a, b),
        Fmod => ifmod(a, b),
        Pow => ipow(a, b),
        Max => a.max(b),
        Min => a.min(b),
        _ => 0,
    }
}

/// `x as to` with NumPy `astype` semantics on x86-64: floats to ints truncate toward zero,
/// and NaN, ±inf and out-of-range values give the target's minimum ([`float_to_int`]).
pub fn cast(x: Scalar, to: DType) -> Scalar {
    match (x, to) {
        (Scalar::F32(v), DType::I32 | DType::I64) => float_to_int(v as f64, to),
        (Scalar::F64(v), DType::I32 | DType::I64) => float_to_int(v, to),
        _ => x.cast(to),
    }
}

/// The value a constant or accumulator of `dtype` holds as f64 (for tests and messages).
pub fn to_f64(x: Scalar) -> f64 {
    x.to_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64_of(s: Scalar) -> f64 {
        s.to_f64()
    }

    #[test]
    fn maximum_and_minimum_follow_numpy_on_ties_and_nan() {
        assert!(fmax64(-0.0, 0.0).is_sign_positive());
        assert!(fmax64(0.0, -0.0).is_sign_negative());
        assert!(fmin64(-0.0, 0.0).is_sign_positive());
        assert!(fmin64(0.0, -0.0).is_sign_negative());
        assert!(fmax64(f64::NAN, 1.0).is_nan() && fmax64(1.0, f64::NAN).is_nan());
        assert!(fmin64(f64::NAN, 1.0).is_nan() && fmin64(1.0, f64::NAN).is_nan());
        assert_eq!(fmax64(2.0, 3.0), 3.0);
        assert_eq!(fmin64(2.0, 3.0), 2.0);
    }

    #[test]
    fn relu_and_sign_of_signed_zeros() {
        for x in [Scalar::F32(-0.0), Scalar::F64(-0.0)] {
            assert!(f64_of(unary(UnaryOp::Relu, x)).is_sign_positive());
            assert!(f64_of(unary(UnaryOp::Sign, x)).is_sign_positive());
            assert!(f64_of(unary(UnaryOp::Sin, x)).is_sign_negative());
            assert!(f64_of(unary(UnaryOp::Expm1, x)).is_sign_negative());
        }
        assert!(f64_of(unary(UnaryOp::Relu, Scalar::F64(f64::NAN))).is_nan());
        assert!(f64_of(unary(UnaryOp::Sign, Scalar::F32(f32::NAN))).is_nan());
    }

    #[test]
    fn float_to_int_gives_the_minimum_for_nan_inf_and_out_of_range() {
        let c = |x: f64, to| cast(Scalar::F64(x), to);
        assert_eq!(c(f64::NAN, DType::I32), Scalar::I32(i32::MIN));
        assert_eq!(c(f64::INFINITY, DType::I64), Scalar::I64(i64::MIN));
        assert_eq!(c(3e9, DType::I32), Scalar::I32(i32::MIN));
        assert_eq!(c(2147483647.9, DType::I32), Scalar::I32(i32::MAX));
        assert_eq!(c(-2.7, DType::I64), Scalar::I64(-2));
        assert_eq!(c(1e19, DType::I64), Scalar::I64(i64::MIN));
        assert_eq!(
            cast(Scalar::F32(3e9), DType::I64),
            Scalar::I64(3_000_000_000)
        );
        assert_eq!(cast(Scalar::F32(f32::NAN), DType::Bool), Scalar::Bool(true));
    }

    fn un64(op: UnaryOp, x: f64) -> f64 {
        f64_of(unary(op, Scalar::F64(x)))
    }

    fn un32(op: UnaryOp, x: f32) -> f32 {
        match unary(op, Scalar::F32(x)) {
            Scalar::F32(v) => v,
            s => panic!("{op} of float32 gave {s:?}"),
        }
    }

    fn bin64(op: BinaryOp, a: f64, b: f64) -> f64 {
        f64_of(binary(op, Scalar::F64(a), Scalar::F64(b)))
    }

    /// Within `n` units in the last place (same sign; NaN only for NaN).
    fn near(got: f64, want: f64, n: u64) -> bool {
        if got.is_nan() || want.is_nan() {
            return got.is_nan() && want.is_nan();
        }
        got == want
            || (got.is_sign_negative() == want.is_sign_negative()
                && got.to_bits().abs_diff(want.to_bits()) <= n)
    }

    #[test]
    fn math_library_functions_give_exact_results_where_numpy_does() {
        use UnaryOp::*;
        for (op, x, want) in [
            (Log10, 1000.0, 3.0),
            (Log10, 1e-5, -5.0),
            (Log2, 8.0, 3.0),
            (Log2, 0.125, -3.0),
            (Exp2, 10.0, 1024.0),
            (Exp2, -3.0, 0.125),
            (Cbrt, 27.0, 3.0),
            (Cbrt, -27.0, -3.0),
            (Asinh, 0.0, 0.0),
            (Acosh, 1.0, 0.0),
            (Atanh, 0.0, 0.0),
        ] {
            assert_eq!(un64(op, x), want, "{op}({x}) float64");
            assert_eq!(un32(op, x as f32), want as f32, "{op}({x}) float32");
        }
    }

    #[test]
    fn math_library_functions_at_their_edges() {
        use UnaryOp::*;
        let (inf, nan) = (f64::INFINITY, f64::NAN);
        for (op, x, want) in [
            // Outside the domain: NaN (NumPy warns "invalid value").
            (Log10, -1.0, nan),
            (Log2, -inf, nan),
            (Acosh, 0.5, nan),
            (Acosh, -1.0, nan),
            (Acosh, -3.0, nan),
            (Acosh, -1e6, nan),
            (Acosh, -inf, nan),
            (Atanh, 2.0, nan),
            (Atanh, -inf, nan),
            // Poles.
            (Log2, 0.0, -inf),
            (Log10, -0.0, -inf),
            (Atanh, 1.0, inf),
            (Atanh, -1.0, -inf),
            // Infinities and NaN.
            (Exp2, inf, inf),
            (Exp2, -inf, 0.0),
            (Exp2, 1024.0, inf),
            (Cbrt, -inf, -inf),
            (Asinh, -inf, -inf),
            (Acosh, inf, inf),
            (Log10, inf, inf),
            (Asinh, nan, nan),
            (Acosh, nan, nan),
            (Atanh, nan, nan),
            // Huge and tiny arguments, against their closed forms: asinh(x) = ln 2x and
            // acosh(x) = ln 2x for huge x (no overflow up to f64::MAX), asinh(x) = x and
            // atanh(x) = x for tiny x, acosh(1 + e) = sqrt(2e), atanh(1 - e) = ln(2/e)/2.
            (
                Asinh,
                1e300,
                std::f64::consts::LN_2 + 300.0 * std::f64::consts::LN_10,
            ),
            (
                Asinh,
                -1e300,
                -(std::f64::consts::LN_2 + 300.0 * std::f64::consts::LN_10),
            ),
            (
                Acosh,
                1e300,
                std::f64::consts::LN_2 + 300.0 * std::f64::consts::LN_10,
            ),
            (Asinh, f64::MAX, 710.4758600739439),
            (Acosh, f64::MAX, 710.4758600739439),
            (Asinh, 1e-300, 1e-300),
            (Atanh, -1e-300, -1e-300),
            (Asinh, 5e-324, 5e-324),
            (Acosh, 1.0 + f64::EPSILON, 2.1073424255447017e-8),
            (
                Atanh,
                1.0 - f64::EPSILON / 2.0,
                27.0 * std::f64::consts::LN_2,
            ),
            (
                Atanh,
                -1.0 + f64::EPSILON / 2.0,
                -27.0 * std::f64::consts::LN_2,
            ),
            (Cbrt, 1e300, 1e100),
            (Log10, 5e-324, -323.3062153431158),
        ] {
            let got = un64(op, x);
            assert!(near(got, want, 2), "{op}({x:e}) = {got:e}, want {want:e}");
            let (x32, want32) = (x as f32, un64(op, x as f32 as f64) as f32);
            assert_eq!(
                un32(op, x32).to_bits(),
                want32.to_bits(),
                "{op}({x32:e}) float32 is the float64 result rounded"
            );
        }
        // Odd functions keep the sign of zero.
        for op in [Cbrt, Asinh, Atanh] {
            assert!(un64(op, -0.0).is_sign_negative() && un64(op, -0.0) == 0.0);
            assert!(un32(op, -0.0).is_sign_negative() && un32(op, -0.0) == 0.0);
        }
    }

    #[test]
    fn hypot_copysign_and_fmod_follow_c() {
        use BinaryOp::*;
        let (inf, nan) = (f64::INFINITY, f64::NAN);
        assert_eq!(bin64(Hypot, 3.0, -4.0), 5.0);
        assert!(near(
            bin64(Hypot, 1e300, 1e300),
            1e300 * std::f64::consts::SQRT_2,
            1
        ));
        assert!(near(
            bin64(Hypot, 1e-300, 1e-300),
            1e-300 * std::f64::consts::SQRT_2,
            1
        ));
        assert_eq!(bin64(Hypot, inf, nan), inf);
        assert_eq!(bin64(Hypot, nan, -inf), inf);
        assert!(bin64(Hypot, nan, 1.0).is_nan());
        assert_eq!(
            binary(Hypot, Scalar::F32(3e38), Scalar::F32(3e38)),
            Scalar::F32(f32::INFINITY)
        );
        assert_eq!(
            binary(Hypot, Scalar::F32(2e38), Scalar::F32(1e38)),
            Scalar::F32((5f64.sqrt() * 1e38) as f32)
        );
        assert_eq!(bin64(Copysign, 1.0, -0.0), -1.0);
        assert_eq!(bin64(Copysign, -2.0, 0.0), 2.0);
        assert_eq!(bin64(Copysign, 3.0, -nan), -3.0);
        assert!(bin64(Copysign, nan, -1.0).is_sign_negative());
        assert_eq!(bin64(Copysign, inf, -1.0), -inf);
        // fmod: the sign of the dividend, exact.
        assert_eq!(bin64(Fmod, 5.0, 3.0), 2.0);
        assert_eq!(bin64(Fmod, -5.0, 3.0), -2.0);
        assert_eq!(bin64(Fmod, 5.0, -3.0), 2.0);
        assert_eq!(bin64(Fmod, -5.0, -3.0), -2.0);
        assert!(bin64(Fmod, -6.0, 3.0).is_sign_negative());
        assert_eq!(bin64(Fmod, 1.0, inf), 1.0);
        assert_eq!(bin64(Fmod, 1e300, 3.0), 1e300 % 3.0);
        assert!(bin64(Fmod, 1.0, 0.0).is_nan() && bin64(Fmod, inf, 1.0).is_nan());
        assert_eq!(
            binary(Fmod, Scalar::F32(-7.5), Scalar::F32(2.0)),
            Scalar::F32(-1.5)
        );
        // Integers: 0 for a zero divisor, `MIN % -1` is 0.
        for (a, b, want) in [(7, 2, 1), (-7, 2, -1), (7, -2, 1), (-7, -2, -1), (5, 0, 0)] {
            assert_eq!(
                binary(Fmod, Scalar::I32(a), Scalar::I32(b)),
                Scalar::I32(want)
            );
            assert_eq!(
                binary(Fmod, Scalar::I64(a as i64), Scalar::I64(b as i64)),
                Scalar::I64(want as i64)
            );
        }
        assert_eq!(
            binary(Fmod, Scalar::I32(i32::MIN), Scalar::I32(-1)),
            Scalar::I32(0)
        );
        assert_eq!(
            binary(Fmod, Scalar::I64(i64::MIN), Scalar::I64(-1)),
            Scalar::I64(0)
        );
    }

    #[test]
    fn new_math_ops_have_numpys_dtypes() {
        use DType::*;
        for op in [
            UnaryOp::Log2,
            UnaryOp::Log10,
            UnaryOp::Exp2,
            UnaryOp::Cbrt,
            UnaryOp::Asinh,
            UnaryOp::Acosh,
            UnaryOp::Atanh,
        ] {
            assert!(op.is_transcendental());
            assert_eq!(op.result_dtype(I32).unwrap(), F64);
            assert_eq!(op.result_dtype(I64).unwrap(), F64);
            assert_eq!(op.result_dtype(F32).unwrap(), F32);
            assert_eq!(op.result_dtype(F64).unwrap(), F64);
            // NumPy gives float16.
            assert!(op.result_dtype(Bool).is_err());
        }
        for op in [BinaryOp::Hypot, BinaryOp::Copysign] {
            assert_eq!(op.result_dtype(I32, I32).unwrap(), F64);
            assert_eq!(op.result_dtype(Bool, F32).unwrap(), F32);
            assert_eq!(op.result_dtype(I32, F32).unwrap(), F64);
            assert!(op.result_dtype(Bool, Bool).is_err());
        }
        let f = BinaryOp::Fmod;
        assert_eq!(f.result_dtype(I32, I32).unwrap(), I32);
        assert_eq!(f.result_dtype(Bool, I64).unwrap(), I64);
        assert_eq!(f.result_dtype(F32, Bool).unwrap(), F32);
        assert_eq!(f.result_dtype(I64, F32).unwrap(), F64);
        // NumPy gives int8.
        assert!(f.result_dtype(Bool, Bool).is_err());
    }

    #[test]
    fn integer_reciprocal_of_zero_is_the_minimum() {
        assert_eq!(
            unary(UnaryOp::Reciprocal, Scalar::I32(0)),
            Scalar::I32(i32::MIN)
        );
        assert_eq!(
            unary(UnaryOp::Reciprocal, Scalar::I64(0)),
            Scalar::I64(i64::MIN)
        );
        assert_eq!(unary(UnaryOp::Reciprocal, Scalar::I32(-1)), Scalar::I32(-1));
        assert_eq!(unary(UnaryOp::Reciprocal, Scalar::I64(5)), Scalar::I64(0));
    }
}
