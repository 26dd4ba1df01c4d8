//! 512-bit float32 row loops that row kernels call on AVX-512 hosts (`lower::row_calls`).
//!
//! A row kernel (softmax and its relatives) runs a few loops over each row: a max, an
//! `exp(x - max)` that is summed and stored, a division by the sum. With Cranelift's 128-bit
//! vectors the exp made W2 (row softmax of 4096x4096 float32) compute-bound at about 0.7 ns
//! per element per thread. Each such loop, when it has exactly one of the shapes below and
//! its rows are contiguous at run time, is one call here instead:
//!
//! * [`ember_row_max_f32`] / [`ember_row_min_f32`]: the row's max (min); NaN when any element
//!   is NaN, as NumPy.
//! * [`ember_row_exp_sum_f32`]: `y = exp(x - m)` (stored when `y` is not null) and its sum.
//!   `exp` is the wide routine's ([`super::wide`]), so each element has the same bits as the
//!   inline code's scalar path. The sum keeps 16 lane sums with TwoSum compensation (the same
//!   error bound as the inline vector loop's compensated sum, in another order).
//! * [`ember_row_scale_f32`]: `z = y / s` (or `y * s`), optionally with non-temporal stores:
//!   when the kernel kept the exp row in a scratch row instead of the output, the output is
//!   written once and never read back, and streaming it past the cache saves the read the
//!   cache would do first (W2: 64 MB fewer bytes moved).
//!
//! On hosts without AVX-512 the functions run plain Rust loops with the same results (nothing
//! calls them there: the lowering only plans row calls when [`super::wide::available`]).

use super::wide::host_has_avx512;
use ember_ir::kernel::eval;
use ember_ir::{Scalar, UnaryOp};

/// `ember_row_scale_f32` flag: multiply by `s` instead of dividing.
pub const SCALE_MUL: u32 = 1;
/// `ember_row_scale_f32` flag: store with non-temporal (streaming) stores.
pub const SCALE_STREAM: u32 = 2;

/// The max of `x[..n]` (`-inf` when `n == 0`); NaN when any element is NaN.
///
/// # Safety
/// `x` readable for `n` float32 elements.
pub unsafe extern "C" fn ember_row_max_f32(x: *const f32, n: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if host_has_avx512() {
        // SAFETY: AVX-512F present; the caller guarantees the buffer.
        return unsafe { avx512::extreme(x, n, true) };
    }
    // SAFETY: forwarded contract.
    unsafe { extreme_scalar(x, n, true) }
}

/// The min of `x[..n]` (`inf` when `n == 0`); NaN when any element is NaN.
///
/// # Safety
/// `x` readable for `n` float32 elements.
pub unsafe extern "C" fn ember_row_min_f32(x: *const f32, n: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if host_has_avx512() {
        // SAFETY: AVX-512F present; the caller guarantees the buffer.
        return unsafe { avx512::extreme(x, n, false) };
    }
    // SAFETY: forwarded contract.
    unsafe { extreme_scalar(x, n, false) }
}

/// `y[i] = exp(x[i] - m)` for `i < n` (not stored when `y` is null); returns the sum of
/// those values.
///
/// # Safety
/// `x` readable and, unless null, `y` writable for `n` float32 elements; `y` may be `x`.
pub unsafe extern "C" fn ember_row_exp_sum_f32(
    x: *const f32,
    m: f32,
    y: *mut f32,
    n: usize,
) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if host_has_avx512() {
        // SAFETY: AVX-512F present; the caller guarantees the buffers.
        return unsafe { avx512::exp_sum(x, m, y, n) };
    }
    let mut sum = Compensated::default();
    for i in 0..n {
        // SAFETY: `i < n` (caller).
        let v = unsafe { x.add(i).read() } - m;
        let e = match eval::unary(UnaryOp::Exp, Scalar::F32(v)) {
            Scalar::F32(e) => e,
            _ => f32::NAN,
        };
        if !y.is_null() {
            // SAFETY: as above.
            unsafe { y.add(i).write(e) };
        }
        sum.add(e);
    }
    sum.total()
}

/// `z[i] = y[i] / s` (`y[i] * s` with [`SCALE_MUL`]) for `i < n`, streamed past the cache
/// with [`SCALE_STREAM`] (the kernel fences once at its end: `super::wide::ember_store_fence`).
///
/// # Safety
/// `y` readable and `z` writable for `n` float32 elements; `z` may be `y`.
pub unsafe extern "C" fn ember_row_scale_f32(
    y: *const f32,
    s: f32,
    z: *mut f32,
    n: usize,
    flags: u32,
) {
    #[cfg(target_arch = "x86_64")]
    if host_has_avx512() {
        // SAFETY: AVX-512F present; the caller guarantees the buffers.
        unsafe { avx512::scale(y, s, z, n, flags) };
        return;
    }
    for i in 0..n {
        // SAFETY: `i < n` (caller).
        let v = unsafe { y.add(i).read() };
        let r = if flags & SCALE_MUL != 0 { v * s } else { v / s };
        // SAFETY: as above.
        unsafe { z.add(i).write(r) };
    }
}

/// The routines' symbols and addresses, for the JIT module.
pub fn symbols() -> [(&'static str, *const u8); 4] {
    [
        ("ember_row_max_f32", ember_row_max_f32 as *const u8),
        ("ember_row_min_f32", ember_row_min_f32 as *const u8),
        ("ember_row_exp_sum_f32", ember_row_exp_sum_f32 as *const u8),
        ("ember_row_scale_f32", ember_row_scale_f32 as *const u8),
    ]
}

/// # Safety
/// `x` readable for `n` elements.
unsafe fn extreme_scalar(x: *const f32, n: usize, max: bool) -> f32 {
    let mut r = if max {
        f32::NEG_INFINITY
    } else {
        f32::INFINITY
    };
    for i in 0..n {
        // SAFETY: `i < n` (caller).
        let v = unsafe { x.add(i).read() };
        if v.is_nan() {
            return v;
        }
        if (max && v > r) || (!max && v < r) {
            r = v;
        }
    }
    r
}

/// A float32 sum with TwoSum compensation (the plain-Rust fallback's).
#[derive(Default)]
struct Compensated {
    s: f32,
    c: f32,
}

impl Compensated {
    fn add(&mut self, v: f32) {
        let t = self.s + v;
        let bp = t - self.s;
        self.c += (self.s - (t - bp)) + (v - bp);
        self.s = t;
    }

    /// The sum; the compensation is dropped once the sum is not finite (it is NaN then).
    fn total(&self) -> f32 {
        let t = self.s + self.c;
        if self.c.is_finite() {
            t
        } else {
            self.s
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::wide::avx512::exp_v;
    use super::{SCALE_MUL, SCALE_STREAM};
    use std::arch::x86_64::*;

    /// Lanes at or past `n - i` masked off.
    fn tail_mask(left: usize) -> __mmask16 {
        if left >= 16 {
            0xffff
        } else {
            ((1u32 << left) - 1) as __mmask16
        }
    }

    /// # Safety
    /// AVX-512F present; `x` readable for `n` elements.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn extreme(x: *const f32, n: usize, max: bool) -> f32 {
        let id = _mm512_set1_ps(if max {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        });
        let (mut a0, mut a1) = (id, id);
        let mut nan: __mmask16 = 0;
        let mut fold = |a: &mut __m512, v: __m512| {
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            *a = if max {
                _mm512_max_ps(*a, v)
            } else {
                _mm512_min_ps(*a, v)
            };
        };
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: `i + 32 <= n`.
            let (v0, v1) = unsafe { (_mm512_loadu_ps(x.add(i)), _mm512_loadu_ps(x.add(i + 16))) };
            fold(&mut a0, v0);
            fold(&mut a1, v1);
            i += 32;
        }
        while i < n {
            let k = tail_mask(n - i);
            // SAFETY: masked lanes beyond `n` are not read.
            let v = unsafe { _mm512_mask_loadu_ps(id, k, x.add(i)) };
            fold(&mut a0, v);
            i += 16;
        }
        if nan != 0 {
            return f32::NAN;
        }
        if max {
            _mm512_reduce_max_ps(_mm512_max_ps(a0, a1))
        } else {
            _mm512_reduce_min_ps(_mm512_min_ps(a0, a1))
        }
    }

    /// `s + e` into `(s, c)` with TwoSum: `t + err == s + e` exactly; the errors gather in `c`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn two_sum(s: &mut __m512, c: &mut __m512, e: __m512) {
        let t = _mm512_add_ps(*s, e);
        let bp = _mm512_sub_ps(t, *s);
        let err = _mm512_add_ps(
            _mm512_sub_ps(*s, _mm512_sub_ps(t, bp)),
            _mm512_sub_ps(e, bp),
        );
        *c = _mm512_add_ps(*c, err);
        *s = t;
    }

    /// # Safety
    /// AVX-512F present; `x` readable and `y` (unless null) writable for `n` elements.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn exp_sum(x: *const f32, m: f32, y: *mut f32, n: usize) -> f32 {
        let mv = _mm512_set1_ps(m);
        let mut s = _mm512_setzero_ps();
        let mut c = _mm512_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: `i + 16 <= n`.
            let e = unsafe {
                let e = exp_v(_mm512_sub_ps(_mm512_loadu_ps(x.add(i)), mv));
                if !y.is_null() {
                    _mm512_storeu_ps(y.add(i), e);
                }
                e
            };
            two_sum(&mut s, &mut c, e);
            i += 16;
        }
        if i < n {
            let k = tail_mask(n - i);
            // SAFETY: masked lanes beyond `n` are neither read nor written.
            let e = unsafe {
                let v = _mm512_maskz_loadu_ps(k, x.add(i));
                let e = _mm512_maskz_mov_ps(k, exp_v(_mm512_sub_ps(v, mv)));
                if !y.is_null() {
                    _mm512_mask_storeu_ps(y.add(i), k, e);
                }
                e
            };
            two_sum(&mut s, &mut c, e);
        }
        // Lanes pairwise, in a fixed order (the same bits on every call).
        let mut sl = [0.0f32; 16];
        let mut cl = [0.0f32; 16];
        // SAFETY: 16 floats each.
        unsafe {
            _mm512_storeu_ps(sl.as_mut_ptr(), s);
            _mm512_storeu_ps(cl.as_mut_ptr(), c);
        }
        let (st, ct) = (pairwise(&sl), pairwise(&cl));
        if ct.is_finite() {
            st + ct
        } else {
            st
        }
    }

    fn pairwise(v: &[f32]) -> f32 {
        if v.len() == 1 {
            return v[0];
        }
        let h = v.len() / 2;
        pairwise(&v[..h]) + pairwise(&v[h..])
    }

    /// How a row is scaled: `y * s`, `y / s`, or `y / s` through the reciprocal.
    #[derive(Clone, Copy)]
    struct By {
        s: __m512,
        /// `1 / s` correctly rounded, when division goes through it.
        r: Option<__m512>,
        mul: bool,
    }

    impl By {
        #[target_feature(enable = "avx512f")]
        fn new(s: f32, mul: bool) -> By {
            // Through the reciprocal when every quotient of a `y` in the range `apply` takes
            // that path is a normal number.
            let recip =
                !mul && s.is_finite() && (2f32.powi(-30)..=2f32.powi(30)).contains(&s.abs());
            By {
                s: _mm512_set1_ps(s),
                r: recip.then(|| _mm512_div_ps(_mm512_set1_ps(1.0), _mm512_set1_ps(s))),
                mul,
            }
        }
    }

    /// `v * s` or `v / s`. A division goes through the correctly rounded reciprocal `r`:
    /// `q = v r`, then one correction `q + (v - q s) r` with the remainder exact in a fused
    /// multiply-add, which is the correctly rounded quotient (Markstein's theorem: `r` within
    /// half an ulp of `1/s`, `q` within an ulp of `v/s`, no overflow or underflow), so the
    /// bits are those of `v / s`, at three multiply-adds instead of a 512-bit divide (about
    /// 16 cycles each). Lanes where `v` is zero keep `q` (the sign of zero); lanes outside
    /// `[2^-90, 2^90]` or NaN are divided.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn apply(v: __m512, by: By) -> __m512 {
        if by.mul {
            return _mm512_mul_ps(v, by.s);
        }
        let Some(r) = by.r else {
            return _mm512_div_ps(v, by.s);
        };
        let q = _mm512_mul_ps(v, r);
        let e = _mm512_fnmadd_ps(q, by.s, v);
        let q1 = _mm512_fmadd_ps(e, r, q);
        let a = _mm512_castsi512_ps(_mm512_and_si512(
            _mm512_castps_si512(v),
            _mm512_set1_epi32(i32::MAX),
        ));
        let zero = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v, _mm512_setzero_ps());
        let q1 = _mm512_mask_blend_ps(zero, q1, q);
        // `!(lo <= |v| <= hi)`: out of range or NaN (unordered compares are true).
        let low = _mm512_cmp_ps_mask::<_CMP_NGE_UQ>(a, _mm512_set1_ps(2f32.powi(-90)));
        let high = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(a, _mm512_set1_ps(2f32.powi(90)));
        let odd = (low | high) & !zero;
        if odd == 0 {
            return q1;
        }
        _mm512_mask_div_ps(q1, odd, v, by.s)
    }

    /// # Safety
    /// AVX-512F present; `y` readable and `z` writable for `n` elements.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn scale(y: *const f32, s: f32, z: *mut f32, n: usize, flags: u32) {
        let by = By::new(s, flags & SCALE_MUL != 0);
        let mut i = 0;
        if flags & SCALE_STREAM != 0 {
            // Up to the first 64-byte boundary of `z` with ordinary stores, then streaming.
            let head = ((64 - (z as usize % 64)) % 64 / 4).min(n);
            if (z as usize).is_multiple_of(4) {
                let k = tail_mask(head);
                // SAFETY: masked lanes beyond `head <= n` are neither read nor written.
                unsafe {
                    let v = _mm512_maskz_loadu_ps(k, y);
                    _mm512_mask_storeu_ps(z, k, apply(v, by));
                }
                i = head;
                while i + 16 <= n {
                    // SAFETY: `z + i` is 64-byte aligned and `i + 16 <= n`.
                    unsafe {
                        let v = _mm512_loadu_ps(y.add(i));
                        _mm512_stream_ps(z.add(i), apply(v, by));
                    }
                    i += 16;
                }
            }
        }
        while i < n {
            let k = tail_mask(n - i);
            // SAFETY: masked lanes beyond `n` are neither read nor written.
            unsafe {
                let v = _mm512_maskz_loadu_ps(k, y.add(i));
                _mm512_mask_storeu_ps(z.add(i), k, apply(v, by));
            }
            i += 16;
        }
    }
}
