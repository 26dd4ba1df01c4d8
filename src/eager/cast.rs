//! Dtype conversion with NumPy `astype` semantics.
//!
//! - anything to bool: `x != 0` (NaN is true);
//! - bool to a number: 0 or 1;
//! - int to int: two's complement wrapping (int64 to int32 keeps the low 32 bits);
//! - float to int: truncation toward zero; NaN, ±inf and values out of the target's range
//!   give the target's minimum (`i32::MIN`/`i64::MIN`). That is what NumPy returns on x86-64,
//!   where the conversion instruction yields the "integer indefinite" value; NumPy on ARM
//!   saturates instead. We follow x86, where NumPy is tested against most;
//! - int/float to float: round to nearest.

use super::map::map;
use crate::element::Element;
use crate::error::Result;
use crate::tensor::Tensor;
use ember_ir::{DType, Scalar};

/// Conversion from element type `S` with NumPy `astype` semantics.
pub(crate) trait CastFrom<S>: Sized {
    /// Converts one value.
    fn cast_from(s: S) -> Self;
}

macro_rules! cast_as {
    ($($s:ty => $($d:ty),*);* $(;)?) => {$($(
        impl CastFrom<$s> for $d {
            #[inline(always)]
            fn cast_from(s: $s) -> $d {
                s as $d
            }
        }
    )*)*};
}
cast_as!(
    i32 => i32, i64, f32, f64;
    i64 => i32, i64, f32, f64;
    f32 => f32, f64;
    f64 => f32, f64;
);

macro_rules! cast_bool {
    ($($t:ty),*) => {$(
        impl CastFrom<bool> for $t {
            #[inline(always)]
            fn cast_from(s: bool) -> $t {
                s as u8 as $t
            }
        }
        impl CastFrom<$t> for bool {
            #[inline(always)]
            fn cast_from(s: $t) -> bool {
                s != (0 as $t)
            }
        }
    )*};
}
cast_bool!(i32, i64, f32, f64);

impl CastFrom<bool> for bool {
    #[inline(always)]
    fn cast_from(s: bool) -> bool {
        s
    }
}

/// Float to int: truncate, and map NaN/inf/out-of-range to `MIN` (x86 behaviour).
macro_rules! cast_float_int {
    ($($f:ty => $i:ty),*) => {$(
        impl CastFrom<$f> for $i {
            #[inline(always)]
            fn cast_from(s: $f) -> $i {
                // The range test is written so that NaN fails it. Both bounds are exact
                // powers of two in the float type: [-2^(bits-1), 2^(bits-1)).
                const LO: $f = <$i>::MIN as $f;
                if (LO..-LO).contains(&s) {
                    s as $i
                } else {
                    <$i>::MIN
                }
            }
        }
    )*};
}
cast_float_int!(f32 => i32, f32 => i64, f64 => i32, f64 => i64);

/// One value converted with [`CastFrom`].
#[inline(always)]
pub(crate) fn cast_value<S, D: CastFrom<S>>(s: S) -> D {
    D::cast_from(s)
}

/// Element types convertible from every element type.
pub(crate) trait CastAll:
    Element + CastFrom<bool> + CastFrom<i32> + CastFrom<i64> + CastFrom<f32> + CastFrom<f64>
{
}
impl<T> CastAll for T where
    T: Element + CastFrom<bool> + CastFrom<i32> + CastFrom<i64> + CastFrom<f32> + CastFrom<f64>
{
}

/// A [`Scalar`] converted with NumPy `astype` semantics (unlike `Scalar::cast`, which
/// saturates float-to-int conversions).
pub(crate) fn scalar_as<T: CastAll>(s: Scalar) -> T {
    match s {
        Scalar::Bool(v) => T::cast_from(v),
        Scalar::I32(v) => T::cast_from(v),
        Scalar::I64(v) => T::cast_from(v),
        Scalar::F32(v) => T::cast_from(v),
        Scalar::F64(v) => T::cast_from(v),
    }
}

fn cast_typed<S: Element, D: Element + CastFrom<S>>(x: &Tensor) -> Result<Tensor> {
    map::<S, D>(x, D::cast_from)
}

/// `x.astype(dtype)`. Returns `x` itself (sharing its storage, no copy) when the dtype
/// already matches: tensors are immutable, so sharing is unobservable.
pub fn astype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    crate::with_dtype!(x.dtype(), S => crate::with_dtype!(dtype, D => cast_typed::<S, D>(x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_to_int_truncates_and_marks_invalid_with_min() {
        assert_eq!(cast_value::<f64, i64>(2.9), 2);
        assert_eq!(cast_value::<f64, i64>(-2.9), -2);
        assert_eq!(cast_value::<f64, i64>(f64::NAN), i64::MIN);
        assert_eq!(cast_value::<f64, i64>(f64::INFINITY), i64::MIN);
        assert_eq!(cast_value::<f64, i64>(1e19), i64::MIN);
        assert_eq!(cast_value::<f64, i32>(3e9), i32::MIN);
        assert_eq!(cast_value::<f64, i32>(-2147483648.9), i32::MIN);
        assert_eq!(cast_value::<f64, i32>(2147483647.9), i32::MAX);
        assert_eq!(cast_value::<f32, i32>(f32::NEG_INFINITY), i32::MIN);
        assert_eq!(cast_value::<f32, i64>(-2.5), -2);
    }

    #[test]
    fn int_and_bool_conversions() {
        assert_eq!(cast_value::<i64, i32>((1 << 40) + 3), 3);
        assert_eq!(cast_value::<i64, i32>(-1), -1);
        assert!(cast_value::<f64, bool>(f64::NAN));
        assert!(!cast_value::<f64, bool>(-0.0));
        assert!(cast_value::<i32, bool>(-7));
        assert_eq!(cast_value::<bool, f32>(true), 1.0);
        assert_eq!(cast_value::<i64, f32>(16777217), 16777216.0);
    }

    #[test]
    fn astype_same_dtype_shares_storage() {
        let t = Tensor::from_vec(vec![1.5f32, -2.5], &[2]).unwrap();
        let same = astype(&t, DType::F32).unwrap();
        assert_eq!(same.data_ptr().unwrap(), t.data_ptr().unwrap());
        let ints = astype(&t, DType::I32).unwrap();
        assert_eq!(
            ints.to_array::<i32>().unwrap().as_slice().unwrap(),
            &[1, -2]
        );
    }
}
