//! 512-bit float32 and float64 math over blocks, called by generated loops on AVX-512 hosts.
//!
//! Cranelift emits at most 128-bit vectors on x86-64 (`f32x8` is rejected), so inline `exp` /
//! `tanh` / `sigmoid` cost 20-40 instructions per 4 lanes and make fused elementwise kernels
//! compute-bound: W1 (`tanh(a*b+c)*0.5 + a/(1+exp(-b))`) ran at 1.3 ns per element per
//! thread in cache, the same as streaming its 16 bytes per element from memory. On hosts with
//! AVX-512 the vector loop of such a kernel runs in blocks of [`BLOCK`] elements instead
//! (`super::vector::staged`): the arithmetic around the math stays inline in 128-bit code and
//! writes each math function's argument to a scratch block in L1, one call here evaluates the
//! function on the whole block 16 lanes at a time, and the next stage reads the results back.
//!
//! The routines evaluate the same sequences as the inline code of [`super::math::M`], with the
//! same float32 constants (`EXP_F32_P`, `TANH_F32_P`) and the same order of fused
//! multiply-adds, so `tanh` is bit-identical to the inline code and `exp` / `sigmoid` are
//! bit-identical wherever the inline code takes its fast path. (The inline code computes a
//! group of 8 lanes on the exact path when any lane of the group needs it; here each lane
//! takes the exact path only when it needs it. Both paths are within 1 ULP.)
//!
//! Float64 `exp` and `sigmoid` likewise, 8 lanes per vector instead of the inline code's 2 per
//! `f64x2`: the same reduction (`nearest(x log2 e)`, fdlibm's two-part `ln 2`), the same
//! degree-13 Taylor polynomial by Horner's rule with fused multiply-adds, the same fast-path
//! limit (705) and exact path (clamp to [-746, 710], two power-of-two scales), so every lane
//! is bit-identical to the inline scalar code. `np.exp` of a (2000, 2000) float64 array
//! (chrt -f 50, median of 30, loaded 2-core host): 4.8-6.6 ms inline -> 1.9-2.0 ms staged
//! (NumPy's SVML: 3.2-3.7). Float64 `tanh` is `M::tanh`'s `expm1(2|x|) / (expm1(2|x|) + 2)`
//! (`|x|` clamped to 19.5, degree-14 `expm1` polynomial), also bit-identical: `np.tanh` on
//! the same array 8.6-9.1 ms inline -> 2.7-3.0 ms staged (NumPy 6.1-6.7). Float64 `log` is
//! `M::log` (denormals rescaled, fdlibm's `s = f / (2 + f)` series to 10 terms, specials
//! patched), bit-identical (NaN payloads not compared): `np.log` of `10 |N(0, 1)|` on
//! (2000, 2000) 10.1-10.2 ms inline -> 2.9-3.0 ms staged (NumPy 5.1-5.3).
//!
//! Float64 `cos` and `sin` are `M::sincos` (`j = nearest(x 2/pi)`, the three-part Cody-Waite
//! `pi/2`, degree-17 / 18 Taylor polynomials for `sin r` and `cos r`, both evaluated, the
//! quadrant from the low bits of `j`), with what `ops.rs` adds around it: `sin` keeps the
//! sign of a zero, and lanes with `|x|` above `SINCOS_FAST_LIMIT_F64` (1e6) or NaN are
//! recomputed by the platform's libm `sin` / `cos`, as the inline code's branch to
//! `ember_sincos_fix_f64` does. Here that is also a rarely taken branch, per vector of 8
//! lanes, which recomputes just the lanes that need it, one libm call each: the same
//! function on the same value, so those lanes are bit-identical too (the inline code's
//! reduction is not exact beyond 1e6, so a wide version of it would not help). Float64
//! `expm1` is `M::expm1`: `x` clamped to [-40, 710], the reduction and degree-14 polynomial
//! of `tanh` above, and ±0 returned as given; bit-identical. On (1000, 1000) float64 arrays
//! (chrt -f 50, median of 60, 2-core AVX-512 host, same run; NumPy 2.4 has no SVML `sin` /
//! `cos` for float64 but does for `expm1`): `np.cos` of `10 N(0, 1)` 1.46-1.47 ms inline ->
//! 0.63-0.64 ms staged (NumPy 13.8-14.2), `np.sin` 1.53-1.56 -> 0.65-0.68 (NumPy 14.0-14.4),
//! `np.expm1` of `N(0, 1)` 1.47-1.56 -> 0.64-0.66 (NumPy 0.97-1.26), `np.cos(a) * 2 + 1`
//! 1.52-1.57 -> 0.69-0.72 (NumPy 14.5-14.8); `a * 2` takes 0.56 ms, so these now run close
//! to the memory's speed.
//!
//! [`available`] says whether generated code may call them (AVX-512F present and not turned
//! off with `EMBER_WIDE_MATH=0`); on other hosts the functions still work, element by element
//! through the kernel IR's scalar semantics, so calling them is never undefined.

use super::math::{factorial, EXP_F32_P, SINCOS_FAST_LIMIT_F64, TANH_F32_P};
use ember_ir::kernel::eval;
use ember_ir::{DType, Scalar, UnaryOp};
use std::sync::OnceLock;

/// Elements per block of a staged loop: 512 bytes per float32 scratch buffer. Small blocks
/// keep the loads of the next block close behind the math of this one: W1 at 16M elements
/// took 12.0-12.3 ms with 128, 13.5 with 256, 13.8 with 512, 15.5 with 4096 (the inline code:
/// 14.4), while a 32-element block pays for its calls (1.19 ns per element in cache, against
/// 0.70 with 128).
pub const BLOCK: usize = 128;

/// The unary ops with a wide routine, and the symbol generated code calls for each.
pub fn symbol(op: UnaryOp) -> Option<&'static str> {
    match op {
        UnaryOp::Exp => Some("ember_wide_exp_f32"),
        UnaryOp::Tanh => Some("ember_wide_tanh_f32"),
        UnaryOp::Sigmoid => Some("ember_wide_sigmoid_f32"),
        _ => None,
    }
}

/// The wide routine of `op` on values of type `dt`, if there is one: float32 `exp`, `tanh`,
/// `sigmoid` ([`symbol`]) and float64 `exp`, `sigmoid`, `tanh`, `log`, `cos`, `sin`, `expm1`.
pub fn symbol_for(op: UnaryOp, dt: DType) -> Option<&'static str> {
    match (dt, op) {
        (DType::F32, _) => symbol(op),
        (DType::F64, UnaryOp::Exp) => Some("ember_wide_exp_f64"),
        (DType::F64, UnaryOp::Sigmoid) => Some("ember_wide_sigmoid_f64"),
        (DType::F64, UnaryOp::Tanh) => Some("ember_wide_tanh_f64"),
        (DType::F64, UnaryOp::Log) => Some("ember_wide_log_f64"),
        (DType::F64, UnaryOp::Cos) => Some("ember_wide_cos_f64"),
        (DType::F64, UnaryOp::Sin) => Some("ember_wide_sin_f64"),
        (DType::F64, UnaryOp::Expm1) => Some("ember_wide_expm1_f64"),
        _ => None,
    }
}

/// True when generated code should call the wide routines: the host has AVX-512F and
/// `EMBER_WIDE_MATH` is not `0` (read once per process).
pub fn available() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        let off = std::env::var("EMBER_WIDE_MATH").is_ok_and(|v| v.trim() == "0");
        !off && host_has_avx512()
    })
}

/// AVX-512F on this CPU (the wide routines' own check, whatever `EMBER_WIDE_MATH` says).
pub(crate) fn host_has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `y[i] = op(x[i])` element by element through the kernel IR's semantics: the fallback on
/// hosts without AVX-512.
///
/// # Safety
/// As [`ember_wide_exp_f32`].
unsafe fn scalar_block(op: UnaryOp, x: *const f32, y: *mut f32, n: usize) {
    for i in 0..n {
        // SAFETY: the caller guarantees `n` readable / writable elements.
        let v = unsafe { x.add(i).read() };
        let r = match eval::unary(op, Scalar::F32(v)) {
            Scalar::F32(r) => r,
            _ => f32::NAN,
        };
        // SAFETY: as above.
        unsafe { y.add(i).write(r) };
    }
}

/// [`scalar_block`] for float64.
///
/// # Safety
/// As [`ember_wide_exp_f64`].
unsafe fn scalar_block_f64(op: UnaryOp, x: *const f64, y: *mut f64, n: usize) {
    for i in 0..n {
        // SAFETY: the caller guarantees `n` readable / writable elements.
        let v = unsafe { x.add(i).read() };
        let r = match eval::unary(op, Scalar::F64(v)) {
            Scalar::F64(r) => r,
            _ => f64::NAN,
        };
        // SAFETY: as above.
        unsafe { y.add(i).write(r) };
    }
}

macro_rules! wide_entry_f64 {
    ($(#[$doc:meta])* $name:ident, $op:expr, $kernel:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `x` must be readable and `y` writable for `n` float64 elements; they may be the same
        /// buffer (in place) but must not otherwise overlap.
        pub unsafe extern "C" fn $name(x: *const f64, y: *mut f64, n: usize) {
            #[cfg(target_arch = "x86_64")]
            if host_has_avx512() {
                // SAFETY: AVX-512F is present; the caller guarantees the buffers.
                unsafe { avx512::$kernel(x, y, n) };
                return;
            }
            // SAFETY: forwarded contract.
            unsafe { scalar_block_f64($op, x, y, n) }
        }
    };
}

wide_entry_f64!(
    /// `y = e^x` over `n` float64 elements.
    ember_wide_exp_f64,
    UnaryOp::Exp,
    exp_f64
);
wide_entry_f64!(
    /// `y = ln x` over `n` float64 elements.
    ember_wide_log_f64,
    UnaryOp::Log,
    log_f64
);
wide_entry_f64!(
    /// `y = tanh(x)` over `n` float64 elements.
    ember_wide_tanh_f64,
    UnaryOp::Tanh,
    tanh_f64
);
wide_entry_f64!(
    /// `y = 1 / (1 + e^-x)` over `n` float64 elements.
    ember_wide_sigmoid_f64,
    UnaryOp::Sigmoid,
    sigmoid_f64
);
wide_entry_f64!(
    /// `y = cos x` over `n` float64 elements.
    ember_wide_cos_f64,
    UnaryOp::Cos,
    cos_f64
);
wide_entry_f64!(
    /// `y = sin x` over `n` float64 elements.
    ember_wide_sin_f64,
    UnaryOp::Sin,
    sin_f64
);
wide_entry_f64!(
    /// `y = e^x - 1` over `n` float64 elements.
    ember_wide_expm1_f64,
    UnaryOp::Expm1,
    expm1_f64
);

macro_rules! wide_entry {
    ($(#[$doc:meta])* $name:ident, $op:expr, $kernel:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `x` must be readable and `y` writable for `n` float32 elements; they may be the same
        /// buffer (in place) but must not otherwise overlap.
        pub unsafe extern "C" fn $name(x: *const f32, y: *mut f32, n: usize) {
            #[cfg(target_arch = "x86_64")]
            if host_has_avx512() {
                // SAFETY: AVX-512F is present; the caller guarantees the buffers.
                unsafe { avx512::$kernel(x, y, n) };
                return;
            }
            // SAFETY: forwarded contract.
            unsafe { scalar_block($op, x, y, n) }
        }
    };
}

wide_entry!(
    /// `y = e^x` over `n` float32 elements.
    ember_wide_exp_f32,
    UnaryOp::Exp,
    exp
);
wide_entry!(
    /// `y = tanh(x)` over `n` float32 elements.
    ember_wide_tanh_f32,
    UnaryOp::Tanh,
    tanh
);
wide_entry!(
    /// `y = 1 / (1 + e^-x)` over `n` float32 elements.
    ember_wide_sigmoid_f32,
    UnaryOp::Sigmoid,
    sigmoid
);

/// Copies `bytes` bytes from `src` to `dst` with non-temporal (streaming) stores when `dst`
/// is 16-byte aligned, so the destination's lines are not read first; the caller fences
/// ([`ember_store_fence`]) before the data is handed to another thread.
///
/// # Safety
/// `src` readable and `dst` writable for `bytes` bytes, not overlapping.
pub unsafe extern "C" fn ember_stream_copy(src: *const u8, dst: *mut u8, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    if (dst as usize).is_multiple_of(16) {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
        let mut off = 0;
        while off + 16 <= bytes {
            // SAFETY: `off + 16 <= bytes`; `dst + off` is 16-byte aligned (SSE2 is baseline).
            unsafe {
                let v = _mm_loadu_si128(src.add(off) as *const __m128i);
                _mm_stream_si128(dst.add(off) as *mut __m128i, v);
            }
            off += 16;
        }
        // SAFETY: the rest of the range, as the caller guarantees.
        unsafe { std::ptr::copy_nonoverlapping(src.add(off), dst.add(off), bytes - off) };
        return;
    }
    // SAFETY: as the caller guarantees.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, bytes) };
}

/// Orders earlier streaming stores before later stores (`sfence`).
pub extern "C" fn ember_store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` has no preconditions (SSE, baseline on x86-64).
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// The routines' symbols and addresses, for the JIT module.
pub fn symbols() -> [(&'static str, *const u8); 12] {
    [
        ("ember_wide_cos_f64", ember_wide_cos_f64 as *const u8),
        ("ember_wide_sin_f64", ember_wide_sin_f64 as *const u8),
        ("ember_wide_expm1_f64", ember_wide_expm1_f64 as *const u8),
        ("ember_wide_log_f64", ember_wide_log_f64 as *const u8),
        ("ember_wide_tanh_f64", ember_wide_tanh_f64 as *const u8),
        ("ember_wide_exp_f64", ember_wide_exp_f64 as *const u8),
        (
            "ember_wide_sigmoid_f64",
            ember_wide_sigmoid_f64 as *const u8,
        ),
        ("ember_stream_copy", ember_stream_copy as *const u8),
        ("ember_store_fence", ember_store_fence as *const u8),
        ("ember_wide_exp_f32", ember_wide_exp_f32 as *const u8),
        ("ember_wide_tanh_f32", ember_wide_tanh_f32 as *const u8),
        (
            "ember_wide_sigmoid_f32",
            ember_wide_sigmoid_f32 as *const u8,
        ),
    ]
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    //! The AVX-512 bodies: each mirrors the inline sequence of the same name in
    //! `super::super::math` operation for operation.
    use super::{factorial, EXP_F32_P, SINCOS_FAST_LIMIT_F64, TANH_F32_P};
    use std::arch::x86_64::*;

    /// `1.5 * 2^23`: adding it rounds a float32 to an integer kept in the low mantissa bits.
    const MAGIC: f32 = 12582912.0;
    /// `ln 2` in two parts, each rounded to float32 where used (`x - n * LN2_HI` is exact for
    /// the `n` that occur); as `M::ln2_parts`.
    const LN2_HI: f64 = 0.693359375;
    const LN2_LO: f64 = -2.12194440e-4;
    /// Below this `|x|` every float32 `e^x` is normal (the fast path).
    const EXP_FAST_LIMIT: f32 = 86.0;

    /// Defines `$name(x, y, n)`: `$f` on `n` elements, whole vectors and then one masked
    /// vector for the tail (a macro, not a function pointer, so `$f` inlines).
    macro_rules! block {
        ($name:ident, $f:ident) => {
            /// # Safety
            /// AVX-512F present; `x` readable and `y` writable for `n` elements.
            #[target_feature(enable = "avx512f")]
            pub unsafe fn $name(x: *const f32, y: *mut f32, n: usize) {
                let mut i = 0;
                while i + 16 <= n {
                    // SAFETY: `i + 16 <= n` elements are valid (caller).
                    unsafe {
                        let v = _mm512_loadu_ps(x.add(i));
                        _mm512_storeu_ps(y.add(i), $f(v));
                    }
                    i += 16;
                }
                if i < n {
                    let k = ((1u32 << (n - i)) - 1) as __mmask16;
                    // SAFETY: masked lanes beyond `n` are neither read nor written.
                    unsafe {
                        let v = _mm512_maskz_loadu_ps(k, x.add(i));
                        _mm512_mask_storeu_ps(y.add(i), k, $f(v));
                    }
                }
            }
        };
    }
    block!(exp, exp_v);
    block!(tanh, tanh_v);
    block!(sigmoid, sigmoid_v);

    /// [`block`] for float64: 8 lanes per vector.
    macro_rules! block_f64 {
        ($name:ident, $f:ident) => {
            /// # Safety
            /// AVX-512F present; `x` readable and `y` writable for `n` elements.
            #[target_feature(enable = "avx512f")]
            pub unsafe fn $name(x: *const f64, y: *mut f64, n: usize) {
                let mut i = 0;
                while i + 8 <= n {
                    // SAFETY: `i + 8 <= n` elements are valid (caller).
                    unsafe {
                        let v = _mm512_loadu_pd(x.add(i));
                        _mm512_storeu_pd(y.add(i), $f(v));
                    }
                    i += 8;
                }
                if i < n {
                    let k = ((1u32 << (n - i)) - 1) as __mmask8;
                    // SAFETY: masked lanes beyond `n` are neither read nor written.
                    unsafe {
                        let v = _mm512_maskz_loadu_pd(k, x.add(i));
                        _mm512_mask_storeu_pd(y.add(i), k, $f(v));
                    }
                }
            }
        };
    }
    block_f64!(exp_f64, exp_v64);
    block_f64!(sigmoid_f64, sigmoid_v64);
    block_f64!(tanh_f64, tanh_v64);
    block_f64!(log_f64, log_v64);
    block_f64!(cos_f64, cos_v64);
    block_f64!(sin_f64, sin_v64);
    block_f64!(expm1_f64, expm1_v64);

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn splat(v: f64) -> __m512 {
        _mm512_set1_ps(v as f32)
    }

    /// Horner's rule with fused multiply-adds, highest coefficient first (as `M::poly`).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn poly(x: __m512, c: &[f64]) -> __m512 {
        let mut acc = splat(c[c.len() - 1]);
        for &k in c[..c.len() - 1].iter().rev() {
            acc = _mm512_fmadd_ps(acc, x, splat(k));
        }
        acc
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn abs(x: __m512) -> __m512 {
        _mm512_castsi512_ps(_mm512_and_si512(
            _mm512_castps_si512(x),
            _mm512_set1_epi32(i32::MAX),
        ))
    }

    /// `2^n` for integral `n` in the normal exponent range (as `M::pow2`).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn pow2(n: __m512) -> __m512 {
        let t = _mm512_add_ps(n, _mm512_set1_ps(MAGIC));
        let i = _mm512_add_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(127));
        _mm512_castsi512_ps(_mm512_slli_epi32::<23>(i))
    }

    /// The fast path of `M::exp_many` (float32): exact for `|x| <= 86`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn exp_fast(x: __m512) -> __m512 {
        let m = _mm512_set1_ps(MAGIC);
        let t = _mm512_fmadd_ps(x, splat(std::f64::consts::LOG2_E), m);
        let n = _mm512_sub_ps(t, m);
        let r = _mm512_fmadd_ps(n, splat(-LN2_HI), x);
        let r = _mm512_fmadd_ps(n, splat(-LN2_LO), r);
        let p = poly(r, &EXP_F32_P);
        let e = _mm512_slli_epi32::<23>(_mm512_castps_si512(t));
        _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), e))
    }

    /// `M::exp_exact` (float32): every input, results into the denormal range.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn exp_exact(x: __m512) -> __m512 {
        let lo = _mm512_set1_ps(-104.0);
        let below = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, lo);
        let x = _mm512_mask_blend_ps(below, x, lo);
        let hi = _mm512_set1_ps(89.0);
        let above = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, hi);
        let x = _mm512_mask_blend_ps(above, x, hi);
        let n = _mm512_mul_ps(x, splat(std::f64::consts::LOG2_E));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(n);
        let r = _mm512_fmadd_ps(n, splat(-LN2_HI), x);
        let r = _mm512_fmadd_ps(n, splat(-LN2_LO), r);
        let mut coeffs = [0.0f64; 8];
        for (k, c) in coeffs.iter_mut().enumerate() {
            *c = 1.0 / factorial(k as u32);
        }
        let p = poly(r, &coeffs);
        let half = _mm512_mul_ps(n, _mm512_set1_ps(0.5));
        let n1 = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(half);
        let n2 = _mm512_sub_ps(n, n1);
        let p = _mm512_mul_ps(p, pow2(n1));
        _mm512_mul_ps(p, pow2(n2))
    }

    /// `e^x`: the fast path, and the exact path for the lanes beyond it (or NaN).
    ///
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(in crate::cpu) fn exp_v(x: __m512) -> __m512 {
        let fast = exp_fast(x);
        let big = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(abs(x), _mm512_set1_ps(EXP_FAST_LIMIT));
        if big == 0 {
            return fast;
        }
        _mm512_mask_blend_ps(big, fast, exp_exact(x))
    }

    /// `M::tanh_f32`, operation for operation.
    ///
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn tanh_v(x: __m512) -> __m512 {
        let ax = abs(x);
        let lim = _mm512_set1_ps(9.5);
        // `lim < |x| ? lim : |x|`: NaN compares false and stays.
        let big = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(lim, ax);
        let axc = _mm512_mask_blend_ps(big, ax, lim);
        let m = _mm512_set1_ps(MAGIC + 127.0);
        let t = _mm512_fmadd_ps(axc, splat(2.0 / std::f64::consts::LN_2), m);
        let n = _mm512_sub_ps(t, m);
        let r = _mm512_fmadd_ps(n, splat(-std::f64::consts::LN_2 / 2.0), axc);
        let s = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_castps_si512(t)));
        let sh = _mm512_fmadd_ps(s, _mm512_set1_ps(0.5), _mm512_set1_ps(-0.5));
        let r2 = _mm512_mul_ps(r, r);
        let p = poly(r, &TANH_F32_P);
        let w = _mm512_fmadd_ps(r2, p, r);
        let h = _mm512_fmadd_ps(s, w, sh);
        let den = _mm512_add_ps(h, _mm512_set1_ps(1.0));
        let y = _mm512_div_ps(h, den);
        let sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MIN));
        _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y), sign))
    }

    /// `M::sigmoid` (float32): `1 / (1 + e^-|x|)`, or `e^-|x|` times that for negative `x`.
    ///
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sigmoid_v(x: __m512) -> __m512 {
        let nx = _mm512_castsi512_ps(_mm512_xor_si512(
            _mm512_castps_si512(abs(x)),
            _mm512_set1_epi32(i32::MIN),
        ));
        let fast = exp_fast(nx);
        let big = _mm512_cmp_ps_mask::<_CMP_NGE_UQ>(nx, _mm512_set1_ps(-EXP_FAST_LIMIT));
        let e = if big == 0 {
            fast
        } else {
            _mm512_mask_blend_ps(big, fast, exp_exact(nx))
        };
        let one = _mm512_set1_ps(1.0);
        let d = _mm512_add_ps(e, one);
        let s = _mm512_div_ps(one, d);
        let es = _mm512_mul_ps(e, s);
        let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, _mm512_setzero_ps());
        _mm512_mask_blend_ps(neg, s, es)
    }

    /// `1.5 * 2^52`: adding it rounds a float64 to an integer kept in the low mantissa bits.
    const MAGIC64: f64 = 6755399441055744.0;
    /// `ln 2` in two parts (fdlibm's), as `M::ln2_parts` for float64.
    // fdlibm's digits, as written in `super::super::math`.
    #[allow(clippy::excessive_precision)]
    const LN2_HI64: f64 = 6.93147180369123816490e-01;
    #[allow(clippy::excessive_precision)]
    const LN2_LO64: f64 = 1.90821492927058770002e-10;
    /// Below this `|x|` every float64 `e^x` is normal (the fast path).
    const EXP_FAST_LIMIT64: f64 = 705.0;

    /// The float64 `exp` polynomial: Taylor to degree 13 (as `M::exp_many` / `M::exp_exact`).
    fn exp_coeffs64() -> [f64; 14] {
        let mut c = [0.0f64; 14];
        for (k, v) in c.iter_mut().enumerate() {
            *v = 1.0 / factorial(k as u32);
        }
        c
    }

    /// Horner's rule with fused multiply-adds, float64 (as `M::poly`).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn poly64(x: __m512d, c: &[f64]) -> __m512d {
        let mut acc = _mm512_set1_pd(c[c.len() - 1]);
        for &k in c[..c.len() - 1].iter().rev() {
            acc = _mm512_fmadd_pd(acc, x, _mm512_set1_pd(k));
        }
        acc
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn abs64(x: __m512d) -> __m512d {
        _mm512_castsi512_pd(_mm512_and_si512(
            _mm512_castpd_si512(x),
            _mm512_set1_epi64(i64::MAX),
        ))
    }

    /// `2^n` for integral `n` in the normal exponent range (as `M::pow2`, float64).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn pow2_64(n: __m512d) -> __m512d {
        let t = _mm512_add_pd(n, _mm512_set1_pd(MAGIC64));
        let i = _mm512_add_epi64(_mm512_castpd_si512(t), _mm512_set1_epi64(1023));
        _mm512_castsi512_pd(_mm512_slli_epi64::<52>(i))
    }

    /// `M::reduce_ln2` (float64): `(r, n)` with `n = nearest(x log2 e)`, `r = x - n ln2`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn reduce_ln2_64(x: __m512d) -> (__m512d, __m512d) {
        let n = _mm512_mul_pd(x, _mm512_set1_pd(std::f64::consts::LOG2_E));
        let n = _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(n);
        let r = _mm512_fmadd_pd(n, _mm512_set1_pd(-LN2_HI64), x);
        let r = _mm512_fmadd_pd(n, _mm512_set1_pd(-LN2_LO64), r);
        (r, n)
    }

    /// The fast path of `M::exp_many` (float64): exact for `|x| <= 705`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn exp_fast64(x: __m512d) -> __m512d {
        let (r, n) = reduce_ln2_64(x);
        let p = poly64(r, &exp_coeffs64());
        let t = _mm512_add_pd(n, _mm512_set1_pd(MAGIC64));
        let e = _mm512_slli_epi64::<52>(_mm512_castpd_si512(t));
        _mm512_castsi512_pd(_mm512_add_epi64(_mm512_castpd_si512(p), e))
    }

    /// `M::exp_exact` (float64): every input, results into the denormal range.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn exp_exact64(x: __m512d) -> __m512d {
        let lo = _mm512_set1_pd(-746.0);
        let below = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, lo);
        let x = _mm512_mask_blend_pd(below, x, lo);
        let hi = _mm512_set1_pd(710.0);
        let above = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(x, hi);
        let x = _mm512_mask_blend_pd(above, x, hi);
        let (r, n) = reduce_ln2_64(x);
        let p = poly64(r, &exp_coeffs64());
        let half = _mm512_mul_pd(n, _mm512_set1_pd(0.5));
        let n1 = _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(half);
        let n2 = _mm512_sub_pd(n, n1);
        let p = _mm512_mul_pd(p, pow2_64(n1));
        _mm512_mul_pd(p, pow2_64(n2))
    }

    /// float64 `e^x`: the fast path, and the exact path for the lanes beyond it (or NaN).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn exp_v64(x: __m512d) -> __m512d {
        let fast = exp_fast64(x);
        let big = _mm512_cmp_pd_mask::<_CMP_NLE_UQ>(abs64(x), _mm512_set1_pd(EXP_FAST_LIMIT64));
        if big == 0 {
            return fast;
        }
        _mm512_mask_blend_pd(big, fast, exp_exact64(x))
    }

    /// `M::sigmoid` (float64): `1 / (1 + e^-|x|)`, or `e^-|x|` times that for negative `x`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sigmoid_v64(x: __m512d) -> __m512d {
        let nx = _mm512_castsi512_pd(_mm512_xor_si512(
            _mm512_castpd_si512(abs64(x)),
            _mm512_set1_epi64(i64::MIN),
        ));
        let fast = exp_fast64(nx);
        let big = _mm512_cmp_pd_mask::<_CMP_NGE_UQ>(nx, _mm512_set1_pd(-EXP_FAST_LIMIT64));
        let e = if big == 0 {
            fast
        } else {
            _mm512_mask_blend_pd(big, fast, exp_exact64(nx))
        };
        let one = _mm512_set1_pd(1.0);
        let d = _mm512_add_pd(e, one);
        let s = _mm512_div_pd(one, d);
        let es = _mm512_mul_pd(e, s);
        let neg = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, _mm512_setzero_pd());
        _mm512_mask_blend_pd(neg, s, es)
    }

    /// `M::expm1_inner` (float64, unclamped): `2 (2^(n-1) q + (2^(n-1) - 1/2))` with
    /// `q = r + r^2 P(r)`, `P` Taylor from degree 2 to 14.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn expm1_64(x: __m512d) -> __m512d {
        let (r, n) = reduce_ln2_64(x);
        let mut c = [0.0f64; 13];
        for (k, v) in c.iter_mut().enumerate() {
            *v = 1.0 / factorial(k as u32 + 2);
        }
        let p = poly64(r, &c);
        let r2 = _mm512_mul_pd(r, r);
        let q = _mm512_fmadd_pd(r2, p, r);
        let nm1 = _mm512_add_pd(n, _mm512_set1_pd(-1.0));
        let s = pow2_64(nm1);
        let sh = _mm512_add_pd(s, _mm512_set1_pd(-0.5));
        let t = _mm512_fmadd_pd(q, s, sh);
        _mm512_add_pd(t, t)
    }

    /// `M::tanh` (float64): `expm1(2|x|) / (expm1(2|x|) + 2)` with `|x|` clamped to 19.5
    /// (NaN kept), the sign of `x` put back.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn tanh_v64(x: __m512d) -> __m512d {
        let ax = abs64(x);
        let lim = _mm512_set1_pd(19.5);
        let big = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(ax, lim);
        let axc = _mm512_mask_blend_pd(big, ax, lim);
        let two = _mm512_add_pd(axc, axc);
        let em = expm1_64(two);
        let den = _mm512_add_pd(em, _mm512_set1_pd(2.0));
        let t = _mm512_div_pd(em, den);
        let sign = _mm512_and_si512(_mm512_castpd_si512(x), _mm512_set1_epi64(i64::MIN));
        _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(t), sign))
    }

    /// `M::log_finite(x, false)` (float64): denormals scaled by `2^54` first, the mantissa
    /// centred on 1 (`[sqrt(1/2), sqrt(2))`), `log(1 + f) = f - s (f - z P(z))` with
    /// `s = f / (2 + f)`, `z = s^2`, `P` fdlibm's series `2/3, 2/5, ...` to 10 terms, plus
    /// the exponent times the two-part `ln 2`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn log_finite64(x: __m512d) -> __m512d {
        let up = 2f64.powi(54);
        let sub = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, _mm512_set1_pd(f64::MIN_POSITIVE));
        let xu = _mm512_mul_pd(x, _mm512_set1_pd(up));
        let xs = _mm512_mask_blend_pd(sub, x, xu);
        let adj = _mm512_mask_blend_pd(sub, _mm512_set1_pd(0.0), _mm512_set1_pd(54.0));
        let bits = _mm512_castpd_si512(xs);
        let e_raw = _mm512_srli_epi64::<52>(bits);
        let mb = _mm512_and_si512(bits, _mm512_set1_epi64(0x000F_FFFF_FFFF_FFFF));
        let mb = _mm512_or_si512(mb, _mm512_set1_epi64(0x3FF0_0000_0000_0000));
        let m = _mm512_castsi512_pd(mb);
        let two_p = 2f64.powi(52);
        let tb = _mm512_set1_epi64(two_p.to_bits() as i64);
        let ef = _mm512_castsi512_pd(_mm512_or_si512(e_raw, tb));
        let ef = _mm512_add_pd(ef, _mm512_set1_pd(-(two_p + 1023.0)));
        let ef = _mm512_sub_pd(ef, adj);
        let big = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(m, _mm512_set1_pd(std::f64::consts::SQRT_2));
        let mh = _mm512_mul_pd(m, _mm512_set1_pd(0.5));
        let m = _mm512_mask_blend_pd(big, m, mh);
        let ef1 = _mm512_add_pd(ef, _mm512_set1_pd(1.0));
        let ef = _mm512_mask_blend_pd(big, ef, ef1);
        let f = _mm512_add_pd(m, _mm512_set1_pd(-1.0));
        let twof = _mm512_add_pd(f, _mm512_set1_pd(2.0));
        let s = _mm512_div_pd(f, twof);
        let z = _mm512_mul_pd(s, s);
        let mut c = [0.0f64; 10];
        for (k, v) in c.iter_mut().enumerate() {
            *v = 2.0 / (2 * (k + 1) + 1) as f64;
        }
        let p = poly64(z, &c);
        let rr = _mm512_mul_pd(z, p);
        let fr = _mm512_sub_pd(f, rr);
        let sfr = _mm512_mul_pd(s, fr);
        let l1 = _mm512_sub_pd(f, sfr);
        let t = _mm512_fmadd_pd(ef, _mm512_set1_pd(LN2_LO64), l1);
        _mm512_fmadd_pd(ef, _mm512_set1_pd(LN2_HI64), t)
    }

    /// `M::log` (float64): [`log_finite64`] with `log(0) = -inf`, `log(inf) = inf` and NaN
    /// for negative or NaN `x`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn log_v64(x: __m512d) -> __m512d {
        let r = log_finite64(x);
        let zero = _mm512_setzero_pd();
        let is0 = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(x, zero);
        let r = _mm512_mask_blend_pd(is0, r, _mm512_set1_pd(f64::NEG_INFINITY));
        let inf = _mm512_set1_pd(f64::INFINITY);
        let isinf = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(x, inf);
        let r = _mm512_mask_blend_pd(isinf, r, inf);
        let bad = _mm512_cmp_pd_mask::<_CMP_NGE_UQ>(x, zero);
        let nan = _mm512_add_pd(_mm512_set1_pd(f64::NAN), x);
        _mm512_mask_blend_pd(bad, r, nan)
    }

    /// `M::expm1` (float64): `x` clamped to [-40, 710] (NaN kept), [`expm1_64`], and ±0
    /// returned as given (`M::zero_keeps_sign`: the reduction would turn `-0.0` into `+0.0`).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn expm1_v64(x: __m512d) -> __m512d {
        let lo = _mm512_set1_pd(-40.0);
        let below = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, lo);
        let xc = _mm512_mask_blend_pd(below, x, lo);
        let hi = _mm512_set1_pd(710.0);
        let above = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(xc, hi);
        let xc = _mm512_mask_blend_pd(above, xc, hi);
        let r = expm1_64(xc);
        let is0 = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(x, _mm512_setzero_pd());
        _mm512_mask_blend_pd(is0, r, x)
    }

    /// `pi/2` in three parts (as `M::reduce_half_pi`, float64).
    const PIO2_1: f64 = std::f64::consts::FRAC_PI_2;
    const PIO2_2: f64 = 6.123233995736766e-17;
    const PIO2_3: f64 = -1.4973849048591698e-33;

    /// `M::sincos` (float64) for `|x|` up to the fast limit: `j = nearest(x 2/pi)`,
    /// `r = x - j pi/2` by three fused multiply-adds, `sin r = r + r z S(z)` and
    /// `cos r = 1 - z/2 + z^2 C(z)` (`z = r^2`, Taylor to degree 17 / 18, both computed),
    /// the quadrant `q = j` (`j + 1` for cosine) from the low bits of `j + 1.5 * 2^52`: odd
    /// `q` takes the cosine polynomial, `q & 2` flips the sign.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sincos_fast64(x: __m512d, cos: bool) -> __m512d {
        let j = _mm512_mul_pd(x, _mm512_set1_pd(std::f64::consts::FRAC_2_PI));
        let j = _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(j);
        let r = _mm512_fmadd_pd(j, _mm512_set1_pd(-PIO2_1), x);
        let r = _mm512_fmadd_pd(j, _mm512_set1_pd(-PIO2_2), r);
        let r = _mm512_fmadd_pd(j, _mm512_set1_pd(-PIO2_3), r);
        let z = _mm512_mul_pd(r, r);
        let sign = |k: u32| if k % 2 == 1 { -1.0 } else { 1.0 };
        let mut sc = [0.0f64; 8];
        for (i, v) in sc.iter_mut().enumerate() {
            let k = i as u32 + 1;
            *v = sign(k) / factorial(2 * k + 1);
        }
        let ps = poly64(z, &sc);
        let rz = _mm512_mul_pd(r, z);
        let sin_r = _mm512_fmadd_pd(rz, ps, r);
        let mut cc = [0.0f64; 8];
        for (i, v) in cc.iter_mut().enumerate() {
            let k = i as u32 + 2;
            *v = sign(k) / factorial(2 * k);
        }
        let pc = poly64(z, &cc);
        let z2 = _mm512_mul_pd(z, z);
        let hz = _mm512_mul_pd(z, _mm512_set1_pd(-0.5));
        let w = _mm512_add_pd(hz, _mm512_set1_pd(1.0));
        let cos_r = _mm512_fmadd_pd(z2, pc, w);
        let q = _mm512_castpd_si512(_mm512_add_pd(j, _mm512_set1_pd(MAGIC64)));
        let q = if cos {
            _mm512_add_epi64(q, _mm512_set1_epi64(1))
        } else {
            q
        };
        let odd = _mm512_test_epi64_mask(q, _mm512_set1_epi64(1));
        let res = _mm512_mask_blend_pd(odd, sin_r, cos_r);
        let neg = _mm512_slli_epi64::<62>(_mm512_and_si512(q, _mm512_set1_epi64(2)));
        _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(res), neg))
    }

    /// The lanes of `r` selected by `big` recomputed as `ember_sincos_fix_f64` does: the
    /// platform's libm `sin` / `cos` of the lane's `x` (out of line: rare).
    #[cold]
    #[inline(never)]
    fn sincos_libm(x: &[f64; 8], r: &mut [f64; 8], big: __mmask8, cos: bool) {
        for (i, (&v, y)) in x.iter().zip(r.iter_mut()).enumerate() {
            if big >> i & 1 != 0 {
                *y = if cos { v.cos() } else { v.sin() };
            }
        }
    }

    /// `M::sincos` plus what the inline code's caller adds (`super::super::ops`): `sin`
    /// keeps the sign of a zero (`M::zero_keeps_sign`), and lanes with `|x|` above
    /// [`SINCOS_FAST_LIMIT_F64`] or NaN (`patch_sincos`'s test) go to libm, lane by lane,
    /// like the inline code's `ember_sincos_fix_f64`, so they too are bit-identical.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sincos_v64(x: __m512d, cos: bool) -> __m512d {
        let r = sincos_fast64(x, cos);
        let r = if cos {
            r
        } else {
            let is0 = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(x, _mm512_setzero_pd());
            _mm512_mask_blend_pd(is0, r, x)
        };
        let lim = _mm512_set1_pd(SINCOS_FAST_LIMIT_F64);
        let big = _mm512_cmp_pd_mask::<_CMP_NLE_UQ>(abs64(x), lim);
        if big == 0 {
            return r;
        }
        let (mut xs, mut rs) = ([0.0f64; 8], [0.0f64; 8]);
        // SAFETY: both arrays hold 8 float64s.
        unsafe {
            _mm512_storeu_pd(xs.as_mut_ptr(), x);
            _mm512_storeu_pd(rs.as_mut_ptr(), r);
        }
        sincos_libm(&xs, &mut rs, big, cos);
        // SAFETY: as above.
        unsafe { _mm512_loadu_pd(rs.as_ptr()) }
    }

    /// float64 `cos` ([`sincos_v64`]).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn cos_v64(x: __m512d) -> __m512d {
        sincos_v64(x, true)
    }

    /// float64 `sin` ([`sincos_v64`]).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sin_v64(x: __m512d) -> __m512d {
        sincos_v64(x, false)
    }
}
