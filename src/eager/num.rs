//! Numeric traits over the element types, so that each kernel is written once and
//! monomorphized per dtype (no `num-traits` dependency: the set of types is closed).

use crate::element::Element;
use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

/// NumPy truthiness: nonzero is true (NaN is nonzero, hence true).
pub(crate) trait Truthy: Element {
    /// `self != 0`.
    fn truthy(self) -> bool;
}

impl Truthy for bool {
    #[inline(always)]
    fn truthy(self) -> bool {
        self
    }
}

macro_rules! truthy_num {
    ($($t:ty),*) => {$(
        impl Truthy for $t {
            #[inline(always)]
            fn truthy(self) -> bool {
                self != (0 as $t)
            }
        }
    )*};
}
truthy_num!(i32, i64, f32, f64);

/// Elements with an order in which NaN (where it exists) is detectable; used by the
/// arg-reductions, which treat NaN as the extreme value like NumPy.
pub(crate) trait Ordered: Element + PartialOrd {
    /// True for a float NaN; always false for bool and ints.
    fn is_nan_value(self) -> bool;
}

impl Ordered for bool {
    #[inline(always)]
    fn is_nan_value(self) -> bool {
        false
    }
}

impl Ordered for i32 {
    #[inline(always)]
    fn is_nan_value(self) -> bool {
        false
    }
}

impl Ordered for i64 {
    #[inline(always)]
    fn is_nan_value(self) -> bool {
        false
    }
}

impl Ordered for f32 {
    #[inline(always)]
    fn is_nan_value(self) -> bool {
        self.is_nan()
    }
}

impl Ordered for f64 {
    #[inline(always)]
    fn is_nan_value(self) -> bool {
        self.is_nan()
    }
}

/// The signed integer element types (int32, int64), with NumPy's integer semantics:
/// arithmetic wraps, division is floored, division by zero gives 0.
pub(crate) trait Int: Ordered + Ord + Eq {
    /// 0.
    const ZERO: Self;
    /// Wrapping `a + b`.
    fn wadd(self, o: Self) -> Self;
    /// Wrapping `a - b`.
    fn wsub(self, o: Self) -> Self;
    /// Wrapping `a * b`.
    fn wmul(self, o: Self) -> Self;
    /// Wrapping `-a` (`-MIN == MIN`).
    fn wneg(self) -> Self;
    /// Wrapping `|a|` (`|MIN| == MIN`).
    fn wabs(self) -> Self;
    /// -1, 0 or 1.
    fn sign(self) -> Self;
    /// Python `a // b`; 0 when `b == 0`, and `MIN // -1` wraps to `MIN` (NumPy's results).
    fn floor_div(self, b: Self) -> Self;
    /// Python `a % b` (sign of the divisor); 0 when `b == 0` (NumPy's result).
    fn py_rem(self, b: Self) -> Self;
    /// C `a % b` (`np.fmod`: sign of the dividend); 0 when `b == 0` (NumPy's result), and
    /// `MIN % -1` is 0.
    fn c_fmod(self, b: Self) -> Self;
    /// `self ** e` by repeated squaring with wrapping; `None` for a negative exponent.
    fn wpow(self, e: Self) -> Option<Self>;
}

macro_rules! int_impl {
    ($($t:ty),*) => {$(
        impl Int for $t {
            const ZERO: Self = 0;
            #[inline(always)]
            fn wadd(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline(always)]
            fn wsub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            #[inline(always)]
            fn wmul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            #[inline(always)]
            fn wneg(self) -> Self {
                self.wrapping_neg()
            }
            #[inline(always)]
            fn wabs(self) -> Self {
                self.wrapping_abs()
            }
            #[inline(always)]
            fn sign(self) -> Self {
                self.signum()
            }
            #[inline(always)]
            fn floor_div(self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                // `wrapping_div` turns the one overflowing case, MIN / -1, into MIN.
                let q = self.wrapping_div(b);
                if self.wrapping_rem(b) != 0 && ((self < 0) != (b < 0)) {
                    q - 1
                } else {
                    q
                }
            }
            #[inline(always)]
            fn py_rem(self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let r = self.wrapping_rem(b);
                if r != 0 && ((r < 0) != (b < 0)) {
                    r + b
                } else {
                    r
                }
            }
            #[inline(always)]
            fn c_fmod(self, b: Self) -> Self {
                if b == 0 {
                    0
                } else {
                    self.wrapping_rem(b)
                }
            }
            #[inline]
            fn wpow(self, e: Self) -> Option<Self> {
                if e < 0 {
                    return None;
                }
                let (mut base, mut e, mut acc) = (self, e, 1 as $t);
                while e > 0 {
                    if e & 1 == 1 {
                        acc = acc.wrapping_mul(base);
                    }
                    e >>= 1;
                    if e > 0 {
                        base = base.wrapping_mul(base);
                    }
                }
                Some(acc)
            }
        }
    )*};
}
int_impl!(i32, i64);

/// The float element types (float32, float64), forwarding to the inherent `std` methods.
pub(crate) trait Float:
    Ordered
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Rem<Output = Self>
    + Neg<Output = Self>
{
    /// 0.0.
    const ZERO: Self;
    /// 1.0.
    const ONE: Self;
    /// 0.5.
    const HALF: Self;
    /// Rounds an f64 to this type (nearest).
    fn from_f64(v: f64) -> Self;
    /// Widens (or keeps) to f64.
    fn to_f64(self) -> f64;
    /// Round down.
    fn floor(self) -> Self;
    /// Round up.
    fn ceil(self) -> Self;
    /// Round half to even.
    fn round_even(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Magnitude of `self` with the sign of `s`.
    fn copysign(self, s: Self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// `e^x`.
    fn exp(self) -> Self;
    /// `e^x - 1`.
    fn exp_m1(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `ln(1 + x)`.
    fn ln_1p(self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// Tangent.
    fn tan(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Hyperbolic sine.
    fn sinh(self) -> Self;
    /// Hyperbolic cosine.
    fn cosh(self) -> Self;
    /// Inverse sine.
    fn asin(self) -> Self;
    /// Inverse cosine.
    fn acos(self) -> Self;
    /// Inverse tangent.
    fn atan(self) -> Self;
    /// `atan2(self, x)`.
    fn atan2(self, x: Self) -> Self;
    /// `self ** e` (C `pow`).
    fn powf(self, e: Self) -> Self;
    /// True for ±inf.
    fn is_infinite(self) -> bool;
    /// True for neither NaN nor ±inf.
    fn is_finite(self) -> bool;
}

macro_rules! float_impl {
    ($($t:ident),*) => {$(
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const HALF: Self = 0.5;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn floor(self) -> Self {
                $t::floor(self)
            }
            #[inline(always)]
            fn ceil(self) -> Self {
                $t::ceil(self)
            }
            #[inline(always)]
            fn round_even(self) -> Self {
                $t::round_ties_even(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline(always)]
            fn copysign(self, s: Self) -> Self {
                $t::copysign(self, s)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $t::exp(self)
            }
            #[inline(always)]
            fn exp_m1(self) -> Self {
                $t::exp_m1(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $t::ln(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                $t::ln_1p(self)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                $t::sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                $t::cos(self)
            }
            #[inline(always)]
            fn tan(self) -> Self {
                $t::tan(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $t::tanh(self)
            }
            #[inline(always)]
            fn sinh(self) -> Self {
                $t::sinh(self)
            }
            #[inline(always)]
            fn cosh(self) -> Self {
                $t::cosh(self)
            }
            #[inline(always)]
            fn asin(self) -> Self {
                $t::asin(self)
            }
            #[inline(always)]
            fn acos(self) -> Self {
                $t::acos(self)
            }
            #[inline(always)]
            fn atan(self) -> Self {
                $t::atan(self)
            }
            #[inline(always)]
            fn atan2(self, x: Self) -> Self {
                $t::atan2(self, x)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                $t::powf(self, e)
            }
            #[inline(always)]
            fn is_infinite(self) -> bool {
                $t::is_infinite(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
        }
    )*};
}
float_impl!(f32, f64);
