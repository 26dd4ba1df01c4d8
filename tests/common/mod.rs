//! Helpers shared by the Rust end-to-end tests: a small deterministic RNG, random tensors of
//! every dtype (with edge values and non-contiguous layouts), and the comparison that decides
//! whether two results agree (exact for bool and integers, a magnitude-scaled tolerance for
//! floats, NaN equal to NaN).

#![allow(dead_code)] // Each test binary uses a different subset.

use ember::{DType, Scalar, Tensor};
use ndarray::{ArrayD, IxDyn};

/// SplitMix64: tiny, deterministic and good enough to fill test tensors from a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform float in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// A float for test data: mostly moderate values (continuous, or multiples of 0.5 so that
    /// ties and exact equalities happen), sometimes zeros of either sign, infinities, NaN and
    /// large or tiny magnitudes.
    pub fn float_value(&mut self, specials: bool) -> f64 {
        const SPECIAL: [f64; 10] = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e30,
            -1e30,
            1e-30,
        ];
        match self.below(100) {
            0..=39 => (self.uniform(-3.0, 3.0) * 2.0).round() / 2.0,
            40..=94 => self.uniform(-3.0, 3.0),
            _ if specials => SPECIAL[self.below(SPECIAL.len() as u64) as usize],
            _ => self.uniform(0.1, 2.0),
        }
    }

    /// An integer for test data: mostly small (zero and negatives included, so division by
    /// zero and floor semantics are exercised), sometimes near the dtype's limits (wrapping).
    pub fn int_value(&mut self, min: i64, max: i64, extremes: bool) -> i64 {
        match self.below(100) {
            0..=69 => self.below(9) as i64 - 4,
            70..=91 => self.below(201) as i64 - 100,
            _ if extremes => [min, max, min + 1, max - 1][self.below(4) as usize],
            _ => self.below(5) as i64,
        }
    }
}

/// A random tensor of `dtype` and `shape` from `seed`. `specials` allows NaN, infinities and
/// extreme integers. With `transposed`, the tensor is an F-order view (its data laid out in
/// the reversed shape and the axes reversed), so kernels see non-contiguous strides.
pub fn random_tensor(
    dtype: DType,
    shape: &[usize],
    seed: u64,
    specials: bool,
    transposed: bool,
) -> Tensor {
    let mut rng = Rng::new(seed);
    let n: usize = shape.iter().product();
    let layout: Vec<usize> = if transposed {
        shape.iter().rev().copied().collect()
    } else {
        shape.to_vec()
    };
    fn build<T>(layout: &[usize], data: Vec<T>, transposed: bool) -> ArrayD<T> {
        let a = ArrayD::from_shape_vec(IxDyn(layout), data).expect("sizes match");
        if transposed {
            a.reversed_axes()
        } else {
            a
        }
    }
    match dtype {
        DType::Bool => {
            let d = (0..n).map(|_| rng.below(2) == 1).collect();
            Tensor::from(build::<bool>(&layout, d, transposed))
        }
        DType::I32 => {
            let (lo, hi) = (i32::MIN as i64, i32::MAX as i64);
            let d = (0..n)
                .map(|_| rng.int_value(lo, hi, specials) as i32)
                .collect();
            Tensor::from(build::<i32>(&layout, d, transposed))
        }
        DType::I64 => {
            let d = (0..n)
                .map(|_| rng.int_value(i64::MIN, i64::MAX, specials))
                .collect();
            Tensor::from(build::<i64>(&layout, d, transposed))
        }
        DType::F32 => {
            let d = (0..n).map(|_| rng.float_value(specials) as f32).collect();
            Tensor::from(build::<f32>(&layout, d, transposed))
        }
        DType::F64 => {
            let d = (0..n).map(|_| rng.float_value(specials)).collect();
            Tensor::from(build::<f64>(&layout, d, transposed))
        }
    }
}

/// The relative tolerance for results of `dtype` (bool and integers: exact). Compiled code
/// may use other (polynomial) math and summation orders than the eager kernels, so floats get
/// a few hundred ulps of their precision.
pub fn rtol(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => 1e-4,
        DType::F64 => 1e-9,
        _ => 0.0,
    }
}

/// The precision float results are held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// Each result's own dtype.
    OwnDtype,
    /// float32 for every float result: for computations with float32 intermediates, whose
    /// rounding carries into float64 results.
    Float32,
}

/// True when two floats agree: NaN equals NaN, infinities must match exactly, and finite
/// values may differ by `rtol` times the larger magnitude (at least 1, so values near zero get
/// an absolute tolerance).
pub fn floats_close(a: f64, b: f64, rtol: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= rtol * a.abs().max(b.abs()).max(1.0)
}

/// Checks that `got` equals `want`: the same dtype and shape, bool and integer elements
/// exactly, float elements within [`rtol`] of their dtype. The error names the first
/// mismatching element.
pub fn compare(what: &str, got: &Tensor, want: &Tensor) -> Result<(), String> {
    compare_at(what, got, want, Precision::OwnDtype)
}

/// [`compare`] holding float results to `precision`.
pub fn compare_at(
    what: &str,
    got: &Tensor,
    want: &Tensor,
    precision: Precision,
) -> Result<(), String> {
    if got.value_type() != want.value_type() {
        return Err(format!(
            "{what}: type {} differs from the expected {}",
            got.value_type(),
            want.value_type()
        ));
    }
    let g = got
        .to_scalars()
        .map_err(|e| format!("{what}: reading the result: {e}"))?;
    let w = want
        .to_scalars()
        .map_err(|e| format!("{what}: reading the expected value: {e}"))?;
    let tol = match precision {
        Precision::Float32 if want.dtype().is_float() => rtol(DType::F32),
        _ => rtol(want.dtype()),
    };
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let same = match (a, b) {
            (Scalar::F32(_), Scalar::F32(_)) | (Scalar::F64(_), Scalar::F64(_)) => {
                floats_close(a.to_f64(), b.to_f64(), tol)
            }
            _ => a == b,
        };
        if !same {
            return Err(format!(
                "{what}: element {i} (row-major) of {} is {a}, expected {b}\n  got:      {}\n  expected: {}",
                want.value_type(),
                show(&g),
                show(&w)
            ));
        }
    }
    Ok(())
}

/// Compares two lists of results pairwise (see [`compare`]).
pub fn compare_all(what: &str, got: &[Tensor], want: &[Tensor]) -> Result<(), String> {
    compare_all_at(what, got, want, Precision::OwnDtype)
}

/// [`compare_all`] holding float results to `precision`.
pub fn compare_all_at(
    what: &str,
    got: &[Tensor],
    want: &[Tensor],
    precision: Precision,
) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} result(s), expected {}",
            got.len(),
            want.len()
        ));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        compare_at(&format!("{what}, result {i}"), g, w, precision)?;
    }
    Ok(())
}

/// The elements as text, NaN included (for checking that data did not change).
pub fn fingerprint(ts: &[Tensor]) -> String {
    let v: Vec<Vec<Scalar>> = ts
        .iter()
        .map(|t| t.to_scalars().unwrap_or_default())
        .collect();
    format!("{v:?}")
}

/// At most 16 elements, for messages.
fn show(v: &[Scalar]) -> String {
    let head: Vec<String> = v.iter().take(16).map(|s| s.to_string()).collect();
    let more = if v.len() > 16 { ", ..." } else { "" };
    format!("[{}{more}]", head.join(", "))
}
