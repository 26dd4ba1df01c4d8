//! Creation functions with NumPy's semantics: `full`, `zeros`, `ones`, `arange`,
//! `linspace`, `eye`, and constants from IR literals.

use super::cast::{cast_value, scalar_as, CastAll, CastFrom};
use super::map::build;
use crate::element::Element;
use crate::error::{EmberError, Result};
use crate::storage::Storage;
use crate::tensor::Tensor;
use ember_ir::{DType, Literal, Scalar};
use std::sync::Arc;

/// An array of `shape` filled with `value`, of `value`'s dtype (`np.full`).
pub fn full(shape: &[usize], value: Scalar) -> Result<Tensor> {
    fn fill<T: CastAll>(shape: &[usize], v: Scalar) -> Result<Tensor> {
        let v = scalar_as::<T>(v);
        build::<T>(shape, |o| {
            o.fill(v);
            Ok(())
        })
    }
    crate::with_dtype!(value.dtype(), T => fill::<T>(shape, value))
}

/// An array of zeros (`np.zeros`).
pub fn zeros(shape: &[usize], dtype: DType) -> Result<Tensor> {
    // Fresh storage is already zeroed.
    crate::with_dtype!(dtype, T => build::<T>(shape, |_| Ok(())))
}

/// An array of ones (`np.ones`).
pub fn ones(shape: &[usize], dtype: DType) -> Result<Tensor> {
    full(shape, scalar_of(dtype, 1))
}

/// `v` as a scalar of `dtype`.
fn scalar_of(dtype: DType, v: i64) -> Scalar {
    crate::with_dtype!(dtype, T => scalar_as::<T>(Scalar::I64(v)).to_scalar())
}

/// True for bool and int scalars, which `arange` handles exactly in int64.
fn is_exact(s: Scalar) -> bool {
    !s.dtype().is_float()
}

fn as_i64(s: Scalar) -> i64 {
    match s.cast(DType::I64) {
        Scalar::I64(v) => v,
        _ => 0,
    }
}

/// `np.arange(start, stop, step, dtype=dtype)`.
///
/// The length is `ceil((stop - start) / step)` (0 when negative; exact when all three are
/// integers). Like NumPy, the first two values `start` and `start + step` are computed and
/// converted to `dtype`, and element `i` is `first + i * (second - first)` computed in
/// `dtype` (so `arange(0.5, 3, 1, dtype=int64)` is `[0, 1, 2]`, and float32 ranges round
/// like NumPy's).
pub fn arange(start: Scalar, stop: Scalar, step: Scalar, dtype: DType) -> Result<Tensor> {
    let exact = is_exact(start) && is_exact(stop) && is_exact(step);
    let len = if exact {
        let (a, b, s) = (as_i64(start), as_i64(stop), as_i64(step));
        if s == 0 {
            return Err(EmberError::Value("arange: step must not be zero".into()));
        }
        // ceil((b - a) / s) in i128 so no operand overflows.
        let (d, s) = (b as i128 - a as i128, s as i128);
        let q = d / s + i128::from(d % s != 0 && ((d < 0) == (s < 0)));
        q.max(0)
    } else {
        let (a, b, s) = (start.to_f64(), stop.to_f64(), step.to_f64());
        if s == 0.0 {
            return Err(EmberError::Value("arange: step must not be zero".into()));
        }
        let q = ((b - a) / s).ceil();
        if q.is_nan() {
            return Err(EmberError::Value(
                "arange: cannot compute length (NaN or infinite bounds)".into(),
            ));
        }
        if q > i64::MAX as f64 {
            i128::MAX
        } else {
            q.max(0.0) as i128
        }
    };
    let len = usize::try_from(len)
        .ok()
        .filter(|&n| {
            n.checked_mul(dtype.size())
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(|| EmberError::Value(format!("arange: length {len} is too large")))?;
    // The second value, computed before conversion to dtype (as NumPy does with Python
    // numbers).
    let second = if exact {
        Scalar::I64(as_i64(start).wrapping_add(as_i64(step)))
    } else {
        Scalar::F64(start.to_f64() + step.to_f64())
    };
    fn fill<T: CastAll + RangeStep>(len: usize, first: Scalar, second: Scalar) -> Result<Tensor> {
        let (f, s) = (scalar_as::<T>(first), scalar_as::<T>(second));
        let delta = s.minus(f);
        build::<T>(&[len], |o| {
            for (i, v) in o.iter_mut().enumerate() {
                *v = match i {
                    0 => f,
                    1 => s,
                    _ => f.plus_times(i, delta),
                };
            }
            Ok(())
        })
    }
    match dtype {
        DType::Bool => {
            // NumPy allows only ranges of length <= 2 for bool (no "delta" exists).
            if len > 2 {
                return Err(EmberError::Type(
                    "arange() is only supported for booleans when the result has at most length 2."
                        .into(),
                ));
            }
            fill::<bool>(len, start, second)
        }
        DType::I32 => fill::<i32>(len, start, second),
        DType::I64 => fill::<i64>(len, start, second),
        DType::F32 => fill::<f32>(len, start, second),
        DType::F64 => fill::<f64>(len, start, second),
    }
}

/// The arithmetic of NumPy's `@NAME@_fill`: `delta = buf[1] - buf[0]`,
/// `buf[i] = buf[0] + i * delta`, all in the element type.
trait RangeStep: Sized {
    fn minus(self, o: Self) -> Self;
    fn plus_times(self, i: usize, delta: Self) -> Self;
}

impl RangeStep for bool {
    fn minus(self, _: Self) -> Self {
        false
    }
    fn plus_times(self, _: usize, _: Self) -> Self {
        self
    }
}

macro_rules! range_int {
    ($($t:ty),*) => {$(
        impl RangeStep for $t {
            fn minus(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            fn plus_times(self, i: usize, delta: Self) -> Self {
                self.wrapping_add((i as $t).wrapping_mul(delta))
            }
        }
    )*};
}
range_int!(i32, i64);

macro_rules! range_float {
    ($($t:ty),*) => {$(
        impl RangeStep for $t {
            fn minus(self, o: Self) -> Self {
                self - o
            }
            fn plus_times(self, i: usize, delta: Self) -> Self {
                self + (i as $t) * delta
            }
        }
    )*};
}
range_float!(f32, f64);

/// `np.linspace(start, stop, num, endpoint, dtype=dtype)`.
///
/// Computed in float64 exactly like NumPy: `step = (stop - start) / div` with
/// `div = num - 1` (or `num` without endpoint); element `i` is `i * step + start` (or
/// `i / div * delta + start` when the step is 0); the last element is `stop` when
/// `endpoint`; integer dtypes take the floor before the conversion.
pub fn linspace(start: f64, stop: f64, num: usize, endpoint: bool, dtype: DType) -> Result<Tensor> {
    // The float64 samples are built first: refuse sizes that cannot exist before allocating.
    ember_ir::shape::check_size("linspace", &[num], 8)?;
    let div = if endpoint { num.saturating_sub(1) } else { num };
    let delta = stop - start;
    let step = delta / div as f64;
    let mut y: Vec<f64> = (0..num)
        .map(|i| {
            let i = i as f64;
            if div == 0 {
                i * delta + start
            } else if step == 0.0 {
                i / div as f64 * delta + start
            } else {
                i * step + start
            }
        })
        .collect();
    if endpoint && num > 1 {
        if let Some(last) = y.last_mut() {
            *last = stop;
        }
    }
    if dtype.is_int() {
        y.iter_mut().for_each(|v| *v = v.floor());
    }
    fn convert<T: Element + CastFrom<f64>>(y: &[f64]) -> Result<Tensor> {
        build::<T>(&[y.len()], |o| {
            for (o, &v) in o.iter_mut().zip(y) {
                *o = cast_value::<f64, T>(v);
            }
            Ok(())
        })
    }
    crate::with_dtype!(dtype, T => convert::<T>(&y))
}

/// `np.eye(n, m, k, dtype=dtype)`: ones on the `k`-th diagonal (above the main one for
/// `k > 0`), `m` columns (default `n`).
pub fn eye(n: usize, m: Option<usize>, k: i64, dtype: DType) -> Result<Tensor> {
    let m = m.unwrap_or(n);
    fn fill<T: CastAll>(n: usize, m: usize, k: i64) -> Result<Tensor> {
        let one = scalar_as::<T>(Scalar::I64(1));
        build::<T>(&[n, m], |o| {
            for i in 0..n {
                let j = i as i128 + k as i128;
                if j >= 0 && (j as u128) < m as u128 {
                    o[i * m + j as usize] = one;
                }
            }
            Ok(())
        })
    }
    crate::with_dtype!(dtype, T => fill::<T>(n, m, k))
}

/// A tensor holding an IR constant's data (a fresh, aligned copy).
pub fn from_literal(lit: &Literal) -> Result<Tensor> {
    let expected = lit.numel() * lit.dtype.size();
    if lit.data.len() != expected {
        return Err(EmberError::Value(format!(
            "constant of type {}{:?} has {} bytes, expected {expected}",
            lit.dtype,
            lit.shape.as_slice(),
            lit.data.len()
        )));
    }
    let storage = Storage::zeroed(expected)?;
    // SAFETY: fresh storage of exactly `expected` bytes, not shared yet; the source has the
    // same length.
    unsafe { std::ptr::copy_nonoverlapping(lit.data.as_ptr(), storage.as_mut_ptr(), expected) };
    Tensor::from_storage(lit.dtype, &lit.shape, Arc::new(storage))
}
