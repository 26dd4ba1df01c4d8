//! Vectorizable math emitted as Cranelift IR: range reduction plus polynomials, written once
//! over a value type that is a scalar (`f32`, `f64`) or a vector (`f32x4`, `f64x2`).
//!
//! Error bounds (max ULP against a float64 / libm reference over the ranges in
//! `codegen/tests/math_accuracy.rs`, specials included) are asserted there; measured maxima:
//! float32 `exp`, `expm1`, `log`, `log1p`, `tanh`, `sin`, `cos`, `erf` 1 ULP, `sigmoid` 2 ULP,
//! `pow` 0 ULP (computed through the float64 `log`/`exp`; in vector loops two `f64x2` per
//! `f32x4`, with a fast path when every `x` is positive and finite and every `y` finite:
//! within 0.50 float32 ULP of float64 `pow` over 240k sampled and special pairs, i.e.
//! correctly rounded there, specials bit for bit as C's `pow`); float64 1 ULP except `tanh`
//! 3 ULP.
//! float64 `pow` stays libm's `pow` per element (no vector form): `exp(y log x)` in float64
//! carries `log x`'s rounding times `|y log x|` (up to ~709) into the result, hundreds of ULP
//! at the extremes, and matching libm's < 1 ULP needs `log` in double-double and `exp` of a
//! two-part argument, roughly doubling the vector cost; not done yet.
//! float32 `tanh` checked over every input (`codegen/examples/tanh_ulp.rs`): 2 ULP; float32
//! `exp` over every input in [-104, 89] and `sigmoid` in [-110, 110]
//! (`codegen/examples/exp_ulp.rs`): 1 ULP and 3 ULP (268 inputs near -1.1 at 3, before and
//! after the float32 `exp` fast path was rewritten).
//! `sinh`, `cosh`, `arctan`, `arctan2`, `arcsin`, `arccos` (sampled, specials included):
//! float32 1, 1, 2, 1, 2, 2 ULP; float64 2, 2, 1, 1, 2, 2 ULP. Every float32 input
//! (`codegen/examples/trig_ulp.rs`: `sinh`/`cosh` on [0, 90], `arctan` on [0, inf],
//! `arcsin` on [0, 1], `arccos` on [-1, 1]): 2, 1, 2, 3, 3 ULP (the 3s: 124 of 2.1e9 inputs,
//! next to `sin(pi/8)` and `cos(pi/8)`, where the reduction's `(t-1)/(t+1)` rounds).
//! `sinh`/`cosh` scale `e^|x|/4` so they stay finite up to their own overflow thresholds;
//! `arctan` is Cephes' reduction plus its polynomial (float32) / rational (float64), with
//! `arctan2` folding its octant into one multiple of `pi/4` added in two parts, and
//! `arcsin`/`arccos` go through `arctan2` with `sqrt(1 - x^2)`.
//! `tan`: Cephes' `tan` (float64 rational) / `tanf` (float32 polynomial) after the sin/cos
//! reduction, `-1/tan(r)` in odd quadrants: float64 2 ULP (sampled, next to multiples of
//! `pi/2` included), float32 3 ULP over every input in [0, 8192] (330 of 1.2e9 at 3;
//! `codegen/examples/trig_ulp.rs`).
//! sin/cos/tan reduce with a 3-part Cody-Waite constant; lanes with `|x|` above
//! [`SINCOS_FAST_LIMIT_F32`] / [`SINCOS_FAST_LIMIT_F64`] (rare) are recomputed by the
//! platform's libm, so huge arguments stay exact. `erf` evaluates fdlibm's rational
//! approximations branch-free.
//!
//! Special values follow NumPy: NaN propagates, `exp(-inf) = 0`, `exp(inf) = inf`,
//! `log(0) = -inf`, `log(x<0) = nan`, `tanh(±inf) = ±1`, `sin(inf) = nan`, `cosh(±inf) =
//! inf`, `arctan(±inf) = ±pi/2`, `arcsin(|x| > 1) = nan`, `arctan2` as C's `atan2` for every
//! combination of ±0, ±inf and NaN, results in the
//! denormal range are produced (not flushed): `exp` scales by two powers of two so the last
//! multiply rounds once into the denormal range, and `log` rescales denormal inputs.

// The polynomial coefficients are fdlibm's, written with all the digits they were published
// with so they can be checked against the source (float32 `tanh`'s are our own minimax fit,
// printed to float64 precision).
#![allow(clippy::excessive_precision)]

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// The float32 `exp` polynomial `p(r) = 1 + r + r^2 Q(r)` (see `Math::exp_f32_parts`), shared
/// with the wide routines (`super::wide`) so both compute the same bits.
pub(crate) const EXP_F32_P: [f64; 7] = [
    1.0,
    1.0,
    0.4999999701976776,
    0.1666652262210846,
    0.04166710376739502,
    0.008369198068976402,
    0.0013902984792366624,
];

/// The float32 `tanh` polynomial `P` of `w = r + r^2 P(r)` (see `Math::tanh_f32`), shared with
/// the wide routines.
pub(crate) const TANH_F32_P: [f64; 5] = [
    1.0,
    0.6666617448282206,
    0.33333759889911974,
    0.13386432982114477,
    0.04442406828461947,
];

/// Beyond this magnitude a float32 sin/cos lane is recomputed by libm.
pub const SINCOS_FAST_LIMIT_F32: f64 = 8192.0;
/// Beyond this magnitude a float64 sin/cos lane is recomputed by libm.
pub const SINCOS_FAST_LIMIT_F64: f64 = 1.0e6;

/// An emitter for one value type; `b` is the function being built.
pub struct M<'a, 'b> {
    /// The builder.
    pub b: &'a mut FunctionBuilder<'b>,
    /// `F32`, `F64`, `F32X4` or `F64X2`.
    pub ty: Type,
}

impl<'a, 'b> M<'a, 'b> {
    /// An emitter for values of `ty`.
    pub fn new(b: &'a mut FunctionBuilder<'b>, ty: Type) -> Self {
        M { b, ty }
    }

    fn is64(&self) -> bool {
        self.ty.lane_type() == types::F64
    }

    /// The integer type with the same lane layout.
    pub fn ity(&self) -> Type {
        let lane = if self.is64() { types::I64 } else { types::I32 };
        if self.ty.is_vector() {
            lane.by(self.ty.lane_count()).unwrap_or(lane)
        } else {
            lane
        }
    }

    /// A float constant of the emitter's type.
    pub fn c(&mut self, v: f64) -> Value {
        if self.ty.is_vector() {
            let bytes = if self.is64() {
                v.to_le_bytes().repeat(2)
            } else {
                (v as f32).to_le_bytes().repeat(4)
            };
            return vconst(self.b, self.ty, bytes);
        }
        if self.is64() {
            self.b.ins().f64const(v)
        } else {
            self.b.ins().f32const(v as f32)
        }
    }

    /// An integer constant of [`Self::ity`].
    pub fn ci(&mut self, v: i64) -> Value {
        let it = self.ity();
        if it.is_vector() {
            let bytes = if self.is64() {
                v.to_le_bytes().repeat(2)
            } else {
                (v as i32).to_le_bytes().repeat(4)
            };
            return vconst(self.b, it, bytes);
        }
        self.b.ins().iconst(it, v)
    }

    /// `|x|`. For vectors as one `and` with a constant mask: Cranelift's `fabs` rebuilds the
    /// mask from an all-ones register on every use (two more instructions each time).
    pub fn abs(&mut self, x: Value) -> Value {
        if !self.ty.is_vector() {
            return self.b.ins().fabs(x);
        }
        let m = self.ci(if self.is64() {
            i64::MAX
        } else {
            i32::MAX as i64
        });
        let xb = self.bits(x);
        let r = self.b.ins().band(xb, m);
        self.from_bits(r)
    }

    /// `-x`: for vectors one `xor` with a constant sign mask (see [`Self::abs`]).
    pub fn neg(&mut self, x: Value) -> Value {
        if !self.ty.is_vector() {
            return self.b.ins().fneg(x);
        }
        let m = self.ci(if self.is64() {
            i64::MIN
        } else {
            i32::MIN as i64
        });
        let xb = self.bits(x);
        let r = self.b.ins().bxor(xb, m);
        self.from_bits(r)
    }

    fn flags(&self) -> MemFlagsData {
        if self.ty.is_vector() {
            // Vector bitcasts must name the lane order.
            MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little)
        } else {
            MemFlagsData::new()
        }
    }

    /// Float bits as integers.
    pub fn bits(&mut self, x: Value) -> Value {
        let (it, f) = (self.ity(), self.flags());
        self.b.ins().bitcast(it, f, x)
    }

    /// Integers reinterpreted as floats.
    pub fn from_bits(&mut self, i: Value) -> Value {
        let (ty, f) = (self.ty, self.flags());
        self.b.ins().bitcast(ty, f, i)
    }

    fn add(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fadd(a, b)
    }
    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fsub(a, b)
    }
    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmul(a, b)
    }
    fn div(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fdiv(a, b)
    }
    fn fma(&mut self, a: Value, b: Value, c: Value) -> Value {
        self.b.ins().fma(a, b, c)
    }
    fn mulc(&mut self, a: Value, c: f64) -> Value {
        let k = self.c(c);
        self.mul(a, k)
    }
    fn addc(&mut self, a: Value, c: f64) -> Value {
        let k = self.c(c);
        self.add(a, k)
    }

    /// `coeffs[0] + x * (coeffs[1] + x * (...))` by Horner's rule with fused multiply-adds.
    pub fn poly(&mut self, x: Value, coeffs: &[f64]) -> Value {
        let mut acc = self.c(coeffs[coeffs.len() - 1]);
        for &k in coeffs[..coeffs.len() - 1].iter().rev() {
            let kc = self.c(k);
            acc = self.fma(acc, x, kc);
        }
        acc
    }

    /// A comparison mask (`i8` for scalars, an all-ones lane mask for vectors).
    pub fn cmp(&mut self, cc: FloatCC, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(cc, a, b)
    }

    /// `mask ? a : b` for float values.
    pub fn sel(&mut self, mask: Value, a: Value, b: Value) -> Value {
        if self.ty.is_vector() {
            let m = self.from_bits(mask);
            self.b.ins().bitselect(m, a, b)
        } else {
            self.b.ins().select(mask, a, b)
        }
    }

    fn cmpc(&mut self, cc: FloatCC, a: Value, c: f64) -> Value {
        let k = self.c(c);
        self.cmp(cc, a, k)
    }

    fn magic(&self) -> f64 {
        if self.is64() {
            6755399441055744.0 // 1.5 * 2^52
        } else {
            12582912.0 // 1.5 * 2^23
        }
    }

    /// `2^n` for an integral float `n` inside the normal exponent range.
    fn pow2(&mut self, n: Value) -> Value {
        let (bias, shift) = if self.is64() { (1023, 52) } else { (127, 23) };
        let m = self.c(self.magic());
        let t = self.add(n, m);
        let i = self.bits(t);
        let bias = self.ci(bias);
        let i = self.b.ins().iadd(i, bias);
        let i = self.b.ins().ishl_imm_u(i, shift);
        self.from_bits(i)
    }

    /// `copysign(mag, sign_of)` for a non-negative `mag`.
    fn with_sign_of(&mut self, mag: Value, sign_of: Value) -> Value {
        let sm = self.ci(if self.is64() {
            i64::MIN
        } else {
            i32::MIN as i64
        });
        let sb = self.bits(sign_of);
        let s = self.b.ins().band(sb, sm);
        let mb = self.bits(mag);
        let r = self.b.ins().bor(mb, s);
        self.from_bits(r)
    }

    /// `x` limited to `[lo, hi]`, NaN kept. Compare-and-select: Cranelift's NaN-exact
    /// `fmin`/`fmax` expand to long sequences on x86.
    fn clamp(&mut self, x: Value, lo: f64, hi: f64) -> Value {
        let l = self.c(lo);
        let below = self.cmp(FloatCC::LessThan, x, l);
        let x = self.sel(below, l, x);
        let h = self.c(hi);
        let above = self.cmp(FloatCC::GreaterThan, x, h);
        self.sel(above, h, x)
    }

    fn ln2_parts(&self) -> (f64, f64) {
        if self.is64() {
            (6.93147180369123816490e-01, 1.90821492927058770002e-10)
        } else {
            (0.693359375, -2.12194440e-4)
        }
    }

    /// `r = x - n ln2` (Cody-Waite) and `n = round(x / ln2)`.
    fn reduce_ln2(&mut self, x: Value) -> (Value, Value) {
        let n = self.mulc(x, std::f64::consts::LOG2_E);
        let n = self.b.ins().nearest(n);
        let (hi, lo) = self.ln2_parts();
        let nh = self.c(-hi);
        let r = self.fma(n, nh, x);
        let nl = self.c(-lo);
        let r = self.fma(n, nl, r);
        (r, n)
    }

    /// `e^x`.
    ///
    /// Common case first: when every lane has `|x|` below 86 (float32) or 705 (float64) the
    /// result is normal, so the polynomial's exponent field is adjusted with one integer add
    /// (no clamps, no second scale). Otherwise (rare: overflow, denormal results, infinities, NaN) a branch
    /// takes [`Self::exp_exact`].
    pub fn exp(&mut self, x: Value) -> Value {
        self.exp_guarded(x, false)
    }

    /// [`Self::exp`]; `nonpositive` promises `x <= 0` or NaN, so the fast-path test needs
    /// no `|x|`.
    fn exp_guarded(&mut self, x: Value, nonpositive: bool) -> Value {
        self.exp_many(&[x], nonpositive)[0]
    }

    /// [`Self::exp`] of several values (the unrolled vectors of a loop) behind one fast-path
    /// test: one branch, and each constant loaded once for all of them. `nonpositive` promises
    /// that every `x <= 0` or is NaN (e.g. `x - max(x)`), which drops the `|x|`. The fast and
    /// the exact path are each within 1 ULP; which one a value takes depends on its group.
    pub fn exp_many(&mut self, xs: &[Value], nonpositive: bool) -> Vec<Value> {
        let mut any: Option<Value> = None;
        for &x in xs {
            let big = if nonpositive {
                let lim = self.c(-self.exp_fast_limit());
                self.cmp(FloatCC::UnorderedOrLessThan, x, lim)
            } else {
                let ax = self.abs(x);
                let lim = self.c(self.exp_fast_limit());
                self.cmp(FloatCC::UnorderedOrGreaterThan, ax, lim)
            };
            any = Some(match any {
                Some(a) => self.b.ins().bor(a, big),
                None => big,
            });
        }
        let Some(big) = any else {
            return Vec::new();
        };
        let any = if self.ty.is_vector() {
            self.b.ins().vany_true(big)
        } else {
            big
        };
        let slow = self.b.create_block();
        let join = self.b.create_block();
        let outs: Vec<Value> = xs
            .iter()
            .map(|_| self.b.append_block_param(join, self.ty))
            .collect();
        let fast = self.b.create_block();
        self.b.ins().brif(any, slow, &[], fast, &[]);
        self.b.switch_to_block(fast);
        let mut fast_rs = Vec::with_capacity(xs.len());
        for &x in xs {
            let (p, t) = if self.is64() {
                let (r, n) = self.reduce_ln2(x);
                let coeffs: Vec<f64> = (0..=13).map(|k| 1.0 / factorial(k)).collect();
                let p = self.poly(r, &coeffs);
                let m = self.c(self.magic());
                (p, self.add(n, m))
            } else {
                self.exp_f32_parts(x)
            };
            // t = n + 1.5 * 2^mant keeps n in the low mantissa bits; shifted to the exponent
            // field, the magic's own bits fall off the top.
            let ti = self.bits(t);
            let shift = if self.is64() { 52 } else { 23 };
            let e = self.b.ins().ishl_imm_u(ti, shift);
            let pb = self.bits(p);
            let rb = self.b.ins().iadd(pb, e);
            fast_rs.push(self.from_bits(rb).into());
        }
        self.b.ins().jump(join, &fast_rs);
        self.b.switch_to_block(slow);
        let slow_rs: Vec<_> = xs.iter().map(|&x| self.exp_exact(x).into()).collect();
        self.b.ins().jump(join, &slow_rs);
        self.b.switch_to_block(join);
        outs
    }

    /// float32 `e^x` for `|x| <= 86` as `2^n p(r)`: returns `p(r)` and `t = n + 1.5 * 2^23`.
    ///
    /// One fused multiply-add rounds `x * log2(e)` to the integer `n` inside the magic
    /// constant (no separate `nearest` and magic add; `n` may differ from `round(x / ln2)`
    /// next to half-integers, widening `|r|` past `ln2/2` by under 1e-5). `r = x - n ln2` is
    /// the two-part Cody-Waite reduction (`x - n ln2_hi` is exact). `p(r) = 1 + r + r^2 Q(r)`
    /// with `Q` of degree 4 fitted to minimize the maximum relative error of `p` against `e^r`
    /// on `|r| <= ln2/2 + 1e-5`, coefficients rounded to float32 one at a time with the rest
    /// refitted (6.6e-9, 0.11 ULP; the degree-7 Taylor polynomial it replaces was 5.3e-9).
    fn exp_f32_parts(&mut self, x: Value) -> (Value, Value) {
        const P: [f64; 7] = EXP_F32_P;
        let m = self.c(self.magic());
        let k = self.c(std::f64::consts::LOG2_E);
        let t = self.fma(x, k, m);
        let n = self.sub(t, m);
        let (hi, lo) = self.ln2_parts();
        let nh = self.c(-hi);
        let r = self.fma(n, nh, x);
        let nl = self.c(-lo);
        let r = self.fma(n, nl, r);
        let p = self.poly(r, &P);
        (p, t)
    }

    /// Below this `|x|` every `exp(x)` is a normal number reachable by adjusting the exponent.
    fn exp_fast_limit(&self) -> f64 {
        if self.is64() {
            705.0
        } else {
            86.0
        }
    }

    /// `e^x` for every input: clamped, scaled by two powers of two.
    pub fn exp_exact(&mut self, x: Value) -> Value {
        let (lo, hi) = if self.is64() {
            (-746.0, 710.0)
        } else {
            (-104.0, 89.0)
        };
        let xc = self.clamp(x, lo, hi);
        let (r, n) = self.reduce_ln2(xc);
        let deg = if self.is64() { 13 } else { 7 };
        let coeffs: Vec<f64> = (0..=deg).map(|k| 1.0 / factorial(k)).collect();
        let p = self.poly(r, &coeffs);
        // Two scale factors keep each power of two normal; the last multiply rounds once
        // (into the denormal range when the result is that small).
        let half = self.mulc(n, 0.5);
        let n1 = self.b.ins().floor(half);
        let n2 = self.sub(n, n1);
        let s1 = self.pow2(n1);
        let s2 = self.pow2(n2);
        let p = self.mul(p, s1);
        self.mul(p, s2)
    }

    /// `e^x - 1`, accurate near 0; `expm1(-0.0)` is `-0.0` (the reduction's `x - n ln2`
    /// would round it to `+0.0`).
    pub fn expm1(&mut self, x: Value) -> Value {
        let r = self.expm1_inner(x, true);
        self.zero_keeps_sign(x, r)
    }

    /// `r` with the lanes where `x` is ±0 replaced by `x`: for the odd functions whose
    /// polynomial evaluation turns `-0.0` into `+0.0` (`f(±0) = ±0` exactly).
    pub fn zero_keeps_sign(&mut self, x: Value, r: Value) -> Value {
        let zero = self.c(0.0);
        let is0 = self.cmp(FloatCC::Equal, x, zero);
        self.sel(is0, x, r)
    }

    /// `expm1` with the input clamp optional (callers that already bound `x` skip it).
    fn expm1_inner(&mut self, x: Value, clamp: bool) -> Value {
        let (lo, hi) = if self.is64() {
            (-40.0, 710.0)
        } else {
            (-30.0, 89.0)
        };
        let xc = if clamp { self.clamp(x, lo, hi) } else { x };
        let (r, n) = self.reduce_ln2(xc);
        let deg = if self.is64() { 14 } else { 8 };
        let coeffs: Vec<f64> = (2..=deg).map(|k| 1.0 / factorial(k)).collect();
        let p = self.poly(r, &coeffs);
        let r2 = self.mul(r, r);
        let q = self.fma(r2, p, r);
        // expm1(x) = 2 * (2^(n-1) * q + (2^(n-1) - 1/2)); the halving keeps 2^(n-1) finite.
        let nm1 = self.addc(n, -1.0);
        let s = self.pow2(nm1);
        let sh = self.addc(s, -0.5);
        let t = self.fma(q, s, sh);
        self.add(t, t)
    }

    /// `log(x)` for positive finite `x`, normal ones only when `normal` (denormals are
    /// rescaled otherwise); other inputs give garbage ([`Self::log`] patches them).
    fn log_finite(&mut self, x: Value, normal: bool) -> Value {
        let (mant_mask, one_bits, shift, bias, min_norm, up, up_log2) = if self.is64() {
            (
                0x000F_FFFF_FFFF_FFFFi64,
                0x3FF0_0000_0000_0000i64,
                52,
                1023.0,
                f64::MIN_POSITIVE,
                2f64.powi(54),
                54.0,
            )
        } else {
            (
                0x007F_FFFFi64,
                0x3F80_0000i64,
                23,
                127.0,
                f32::MIN_POSITIVE as f64,
                2f64.powi(25),
                25.0,
            )
        };
        // Denormal inputs are scaled into the normal range first.
        let (xs, adj) = if normal {
            (x, None)
        } else {
            let sub = self.cmpc(FloatCC::LessThan, x, min_norm);
            let xu = self.mulc(x, up);
            let xs = self.sel(sub, xu, x);
            let adj0 = self.c(0.0);
            let adj1 = self.c(up_log2);
            (xs, Some(self.sel(sub, adj1, adj0)))
        };
        let bits = self.bits(xs);
        let e_raw = self.b.ins().ushr_imm_u(bits, shift);
        let mm = self.ci(mant_mask);
        let mb = self.b.ins().band(bits, mm);
        let ob = self.ci(one_bits);
        let mb = self.b.ins().bor(mb, ob);
        let m = self.from_bits(mb);
        // Exponent as a float: OR it into the mantissa of 2^shift, subtract 2^shift.
        let two_p = 2f64.powi(shift as i32);
        let tb = self.c(two_p);
        let tb = self.bits(tb);
        let eb = self.b.ins().bor(e_raw, tb);
        let ef = self.from_bits(eb);
        let ef = self.addc(ef, -(two_p + bias));
        let ef = match adj {
            Some(adj) => self.sub(ef, adj),
            None => ef,
        };
        // Center the mantissa on 1: m in [sqrt(1/2), sqrt(2)).
        let big = self.cmpc(FloatCC::GreaterThan, m, std::f64::consts::SQRT_2);
        let mh = self.mulc(m, 0.5);
        let m = self.sel(big, mh, m);
        let ef1 = self.addc(ef, 1.0);
        let ef = self.sel(big, ef1, ef);
        let f = self.addc(m, -1.0);
        // log(1+f) = f - s (f - R), s = f / (2 + f), R = 2 (z/3 + z^2/5 + ...), z = s^2.
        let twof = self.addc(f, 2.0);
        let s = self.div(f, twof);
        let z = self.mul(s, s);
        let terms = if self.is64() { 10 } else { 5 };
        let coeffs: Vec<f64> = (1..=terms).map(|k| 2.0 / (2 * k + 1) as f64).collect();
        let p = self.poly(z, &coeffs);
        let rr = self.mul(z, p);
        let fr = self.sub(f, rr);
        let sfr = self.mul(s, fr);
        let l1 = self.sub(f, sfr);
        let (hi, lo) = if self.is64() {
            (6.93147180369123816490e-01, 1.90821492927058770002e-10)
        } else {
            (0.693359375, -2.12194440e-4)
        };
        let loc = self.c(lo);
        let t = self.fma(ef, loc, l1);
        let hic = self.c(hi);
        self.fma(ef, hic, t)
    }

    /// Natural logarithm.
    pub fn log(&mut self, x: Value) -> Value {
        let r = self.log_finite(x, false);
        // Specials: log(0) = -inf, log(x<0) = nan, log(inf) = inf, nan stays nan.
        let zero = self.c(0.0);
        let is0 = self.cmp(FloatCC::Equal, x, zero);
        let ninf = self.c(f64::NEG_INFINITY);
        let r = self.sel(is0, ninf, r);
        let inf = self.c(f64::INFINITY);
        let isinf = self.cmp(FloatCC::Equal, x, inf);
        let r = self.sel(isinf, inf, r);
        let bad = self.cmp(FloatCC::UnorderedOrLessThan, x, zero);
        let nan = self.c(f64::NAN);
        let nan = self.add(nan, x);
        self.sel(bad, nan, r)
    }

    /// `log(1 + x)`, accurate near 0: `log(u) - ((u - 1) - x) / u` with `u = 1 + x`.
    pub fn log1p(&mut self, x: Value) -> Value {
        let u = self.addc(x, 1.0);
        let l = self.log(u);
        let um1 = self.addc(u, -1.0);
        let d = self.sub(um1, x);
        let corr = self.div(d, u);
        let r = self.sub(l, corr);
        // When u rounds to 1 (tiny x) the answer is x; for u = inf keep log's result.
        let one = self.c(1.0);
        let is1 = self.cmp(FloatCC::Equal, u, one);
        let r = self.sel(is1, x, r);
        let inf = self.c(f64::INFINITY);
        let isinf = self.cmp(FloatCC::Equal, u, inf);
        let r = self.sel(isinf, l, r);
        let zero = self.c(0.0);
        let is0 = self.cmp(FloatCC::Equal, u, zero);
        self.sel(is0, l, r)
    }

    /// Hyperbolic tangent: float64 via `expm1`, float32 by `Self::tanh_f32`.
    pub fn tanh(&mut self, x: Value) -> Value {
        if !self.is64() {
            return self.tanh_f32(x);
        }
        let ax = self.abs(x);
        let lim = self.c(19.5);
        let big = self.cmp(FloatCC::GreaterThan, ax, lim);
        let axc = self.sel(big, lim, ax);
        let two = self.add(axc, axc);
        // |2x| <= 39 here (NaN passes through): no clamp needed.
        let em = self.expm1_inner(two, false);
        let den = self.addc(em, 2.0);
        let t = self.div(em, den);
        self.with_sign_of(t, x)
    }

    /// float32 `tanh(x) = sign(x) h / (h + 1)` with `h = (e^(2|x|) - 1) / 2`, about 18 vector
    /// ops: `|x|` is clamped to 9.5 (NaN kept; above 9.0109 float32 `tanh` rounds to 1 and
    /// so does `h / (h + 1)`), reduced as `|x| = n ln2/2 + r` with `|r| <= ln2/4`, and
    /// `h = 2^n w + (2^n - 1)/2` with `w = expm1(2r)/2 = r + r^2 P(r)`.
    ///
    /// One fused multiply-add rounds `|x| * 2/ln2` to the integer `n`, offset by 127 inside the
    /// magic constant, so shifting its bits left by 23 is `2^n` (no separate `nearest`, no
    /// bias add). A one-part float32 `ln2/2` suffices: its error (9.5e-10) times `n` moves
    /// `e^(2|x|)` by under 2^-25 relative while `tanh < 1 - 2^-10` (`n <= 10`), and beyond
    /// that the result damps it by `1 - tanh^2`. `P` is a degree-4 fit minimizing the maximum
    /// relative error of `w` on `|r| <= ln2/4` (2^-26), `P(0) = 1` kept exact. Every float32
    /// in [-10, 10] (`examples/tanh_ulp.rs`): max 2 ULP against float64 `tanh` rounded to
    /// float32, as with the `expm1` formulation it replaces; 99.94% within 1 ULP.
    fn tanh_f32(&mut self, x: Value) -> Value {
        const P: [f64; 5] = TANH_F32_P;
        let ax = self.abs(x);
        // `lim < |x| ? lim : |x|` lowers to one `minps`, which returns `|x|` when it is NaN.
        let lim = self.c(9.5);
        let big = self.cmp(FloatCC::LessThan, lim, ax);
        let axc = self.sel(big, lim, ax);
        let magic = self.magic() + 127.0;
        let m = self.c(magic);
        let k = self.c(2.0 / std::f64::consts::LN_2);
        let t = self.fma(axc, k, m);
        let n = self.sub(t, m);
        let nl = self.c(-std::f64::consts::LN_2 / 2.0);
        let r = self.fma(n, nl, axc);
        let tb = self.bits(t);
        let sb = self.b.ins().ishl_imm_u(tb, 23);
        let s = self.from_bits(sb);
        let half = self.c(0.5);
        let mhalf = self.c(-0.5);
        let sh = self.fma(s, half, mhalf);
        let r2 = self.mul(r, r);
        let p = self.poly(r, &P);
        let w = self.fma(r2, p, r);
        let h = self.fma(s, w, sh);
        let den = self.addc(h, 1.0);
        let y = self.div(h, den);
        self.with_sign_of(y, x)
    }

    /// `1 / (1 + e^-x)`, as `e^x / (1 + e^x)` for negative `x` so tiny results keep their
    /// precision instead of underflowing through an overflowed `e^-x`.
    pub fn sigmoid(&mut self, x: Value) -> Value {
        let ax = self.abs(x);
        let nx = self.neg(ax);
        let e = self.exp_guarded(nx, true);
        let d = self.addc(e, 1.0);
        let one = self.c(1.0);
        let s = self.div(one, d);
        let es = self.mul(e, s);
        let zero = self.c(0.0);
        let neg = self.cmp(FloatCC::LessThan, x, zero);
        self.sel(neg, es, s)
    }

    /// Sine (`cos = false`) or cosine (`cos = true`) for arguments below the fast limit (the
    /// caller patches larger lanes).
    pub fn sincos(&mut self, x: Value, cos: bool) -> Value {
        let (j, r) = self.reduce_half_pi(x);
        let z = self.mul(r, r);
        let n = if self.is64() { 8 } else { 4 };
        let sc: Vec<f64> = (1..=n)
            .map(|k| (if k % 2 == 1 { -1.0 } else { 1.0 }) / factorial(2 * k + 1))
            .collect();
        let ps = self.poly(z, &sc);
        let rz = self.mul(r, z);
        let sin_r = self.fma(rz, ps, r);
        let cc: Vec<f64> = (2..=n + 1)
            .map(|k| (if k % 2 == 1 { -1.0 } else { 1.0 }) / factorial(2 * k))
            .collect();
        let pc = self.poly(z, &cc);
        let z2 = self.mul(z, z);
        let hz = self.mulc(z, -0.5);
        let w = self.addc(hz, 1.0);
        let cos_r = self.fma(z2, pc, w);
        // Quadrant q = j (+1 for cosine): odd q swaps to the other polynomial, q & 2 negates.
        let q = self.quadrant(j);
        let q = if cos {
            let one = self.ci(1);
            self.b.ins().iadd(q, one)
        } else {
            q
        };
        let odd = self.odd(q);
        let res = self.sel(odd, cos_r, sin_r);
        let two = self.ci(2);
        let neg = self.b.ins().band(q, two);
        let shift = if self.is64() { 62 } else { 30 };
        let neg = self.b.ins().ishl_imm_u(neg, shift);
        let rb = self.bits(res);
        let rb = self.b.ins().bxor(rb, neg);
        self.from_bits(rb)
    }

    /// Tangent for arguments below the sin/cos fast limit (the caller patches larger lanes
    /// and keeps the sign of zero): the sin/cos reduction to `r = x - j pi/2`, `|r| <= pi/4`,
    /// then Cephes' `tan` on `r`, the rational `r + r^3 P(r^2) / Q(r^2)` (float64) or the
    /// polynomial `r + r^3 P(r^2)` (float32, `tanf`), and `-1 / tan(r)` for odd `j`.
    pub fn tan(&mut self, x: Value) -> Value {
        let (j, r) = self.reduce_half_pi(x);
        let z = self.mul(r, r);
        let rz = self.mul(r, z);
        let y = if self.is64() {
            const P: [f64; 3] = [
                -1.79565251976484877988e7,
                1.15351664838587416140e6,
                -1.30936939181383777646e4,
            ];
            const Q: [f64; 5] = [
                -5.38695755929454629881e7,
                2.50083801823357915839e7,
                -1.32089234440210967447e6,
                1.36812963470692954678e4,
                1.0,
            ];
            let p = self.poly(z, &P);
            let q = self.poly(z, &Q);
            let t = self.div(p, q);
            self.fma(rz, t, r)
        } else {
            const P: [f64; 6] = [
                3.33331568548e-1,
                1.33387994085e-1,
                5.34112807005e-2,
                2.44301354525e-2,
                3.11992232697e-3,
                9.38540185543e-3,
            ];
            let p = self.poly(z, &P);
            self.fma(rz, p, r)
        };
        let q = self.quadrant(j);
        let odd = self.odd(q);
        let m1 = self.c(-1.0);
        let inv = self.div(m1, y);
        self.sel(odd, inv, y)
    }

    /// The integral float `j` as an integer of [`Self::ity`] (its low bits: `j` mod 2^k).
    fn quadrant(&mut self, j: Value) -> Value {
        let m = self.c(self.magic());
        let t = self.add(j, m);
        self.bits(t)
    }

    /// The lanes where the integer `q` is odd (an integer mask).
    fn odd(&mut self, q: Value) -> Value {
        let one = self.ci(1);
        let odd = self.b.ins().band(q, one);
        let zi = self.ci(0);
        self.b
            .ins()
            .icmp(cranelift_codegen::ir::condcodes::IntCC::NotEqual, odd, zi)
    }

    /// `(j, r)`: `j` the multiple of `pi/2` nearest `x` (an integral float) and `r = x - j
    /// pi/2` by a 3-part Cody-Waite constant (accurate below the fast limits).
    fn reduce_half_pi(&mut self, x: Value) -> (Value, Value) {
        let (p1, p2, p3) = if self.is64() {
            (
                std::f64::consts::FRAC_PI_2,
                6.123233995736766e-17,
                -1.4973849048591698e-33,
            )
        } else {
            (
                1.5707963705062866,
                -4.371139000186243e-08,
                -1.7151245100059246e-15,
            )
        };
        let j = self.mulc(x, std::f64::consts::FRAC_2_PI);
        let j = self.b.ins().nearest(j);
        let c1 = self.c(-p1);
        let r = self.fma(j, c1, x);
        let c2 = self.c(-p2);
        let r = self.fma(j, c2, r);
        let c3 = self.c(-p3);
        let r = self.fma(j, c3, r);
        (j, r)
    }

    /// The error function (fdlibm's piecewise rational approximations, all pieces computed and
    /// selected per lane).
    pub fn erf(&mut self, x: Value) -> Value {
        const PP: [f64; 5] = [
            1.28379167095512558561e-01,
            -3.25042107247001499370e-01,
            -2.84817495755985104766e-02,
            -5.77027029648944159157e-03,
            -2.37630166566501626084e-05,
        ];
        const QQ: [f64; 6] = [
            1.0,
            3.97917223959155352819e-01,
            6.50222499887672944485e-02,
            5.08130628187576562776e-03,
            1.32494738004321644526e-04,
            -3.96022827877536812320e-06,
        ];
        const PA: [f64; 7] = [
            -2.36211856075265944077e-03,
            4.14856118683748331666e-01,
            -3.72207876035701323847e-01,
            3.18346619901161753674e-01,
            -1.10894694282396677476e-01,
            3.54783043256182359371e-02,
            -2.16637559486879084300e-03,
        ];
        const QA: [f64; 7] = [
            1.0,
            1.06420880400844228286e-01,
            5.40397917702171048937e-01,
            7.18286544141962662868e-02,
            1.26171219808761642112e-01,
            1.36370839120290507362e-02,
            1.19844998467991074170e-02,
        ];
        const RA: [f64; 8] = [
            -9.86494403484714822705e-03,
            -6.93858572707181764372e-01,
            -1.05586262253232909814e+01,
            -6.23753324503260060396e+01,
            -1.62396669462573470355e+02,
            -1.84605092906711035994e+02,
            -8.12874355063065934246e+01,
            -9.81432934416914548592e+00,
        ];
        const SA: [f64; 9] = [
            1.0,
            1.96512716674392571292e+01,
            1.37657754143519042600e+02,
            4.34565877475229228821e+02,
            6.45387271733267880336e+02,
            4.29008140027567833386e+02,
            1.08635005541779435134e+02,
            6.57024977031928170135e+00,
            -6.04244152148580987438e-02,
        ];
        const RB: [f64; 7] = [
            -9.86494292470009928597e-03,
            -7.99283237680523006574e-01,
            -1.77579549177547519889e+01,
            -1.60636384855821916062e+02,
            -6.37566443368389627722e+02,
            -1.02509513161107724954e+03,
            -4.83519191608651397019e+02,
        ];
        const SB: [f64; 8] = [
            1.0,
            3.03380607434824582924e+01,
            3.25792512996573918826e+02,
            1.53672958608443695994e+03,
            3.19985821950859553908e+03,
            2.55305040643316442583e+03,
            4.74528541206955367215e+02,
            -2.24409524465858183362e+01,
        ];
        const ERX: f64 = 8.45062911510467529297e-01;
        let ax = self.abs(x);
        // |x| < 0.84375: x + x * P(x^2) / Q(x^2).
        let z = self.mul(ax, ax);
        let p = self.poly(z, &PP);
        let q = self.poly(z, &QQ);
        let y = self.div(p, q);
        let a = self.fma(ax, y, ax);
        // 0.84375 <= |x| < 1.25: erx + P(s) / Q(s), s = |x| - 1.
        let s = self.addc(ax, -1.0);
        let p = self.poly(s, &PA);
        let q = self.poly(s, &QA);
        let d = self.div(p, q);
        let bpart = self.addc(d, ERX);
        // 1.25 <= |x|: 1 - exp(-z^2 - 0.5625) exp((z - x)(z + x) + R/S) / x, z = x truncated.
        let lim = self.c(6.0);
        let big = self.cmp(FloatCC::GreaterThan, ax, lim);
        let xc = self.sel(big, lim, ax);
        let x2 = self.mul(xc, xc);
        let one = self.c(1.0);
        let si = self.div(one, x2);
        let ra = self.poly(si, &RA);
        let sa = self.poly(si, &SA);
        let rb = self.poly(si, &RB);
        let sb = self.poly(si, &SB);
        let near = self.cmpc(FloatCC::LessThan, xc, 1.0 / 0.35);
        let r = self.sel(near, ra, rb);
        let sv = self.sel(near, sa, sb);
        let trunc = self.ci(if self.is64() {
            -0x1_0000_0000i64
        } else {
            0xffff_e000u32 as i32 as i64
        });
        let xb = self.bits(xc);
        let zb = self.b.ins().band(xb, trunc);
        let zt = self.from_bits(zb);
        let zz = self.mul(zt, zt);
        let nzz = self.neg(zz);
        let e1a = self.addc(nzz, -0.5625);
        let e1 = self.exp(e1a);
        let zmx = self.sub(zt, xc);
        let zpx = self.add(zt, xc);
        let rs = self.div(r, sv);
        let e2a = self.fma(zmx, zpx, rs);
        let e2 = self.exp(e2a);
        let erfc = self.mul(e1, e2);
        let erfc = self.div(erfc, xc);
        let one = self.c(1.0);
        let cpart = self.sub(one, erfc);
        let lt_b = self.cmpc(FloatCC::LessThan, ax, 1.25);
        let r = self.sel(lt_b, bpart, cpart);
        let lt_a = self.cmpc(FloatCC::LessThan, ax, 0.84375);
        let r = self.sel(lt_a, a, r);
        self.with_sign_of(r, x)
    }

    /// `x ** y` for finite-precision types through this emitter's `log` and `exp` (call it on
    /// a float64 emitter for float32 inputs promoted to float64).
    pub fn pow(&mut self, x: Value, y: Value) -> Value {
        self.pow_many(&[x], &[y])[0]
    }

    /// [`Self::pow`] of several pairs, their `exp`s behind one fast-path test
    /// ([`Self::exp_many`]).
    pub fn pow_many(&mut self, xs: &[Value], ys: &[Value]) -> Vec<Value> {
        let ts: Vec<Value> = xs
            .iter()
            .zip(ys)
            .map(|(&x, &y)| {
                let ax = self.abs(x);
                let l = self.log(ax);
                self.mul(y, l)
            })
            .collect();
        let rs = self.exp_many(&ts, false);
        xs.iter()
            .zip(ys)
            .zip(rs)
            .map(|((&x, &y), r)| self.pow_specials(x, y, r))
            .collect()
    }

    /// [`Self::pow_many`] for positive normal finite `x` and finite `y` only (the common
    /// case, taken when a whole vector qualifies): no special cases to patch, no denormal
    /// rescaling in the `log` (same result as [`Self::pow_many`] for these inputs).
    pub fn pow_positive_many(&mut self, xs: &[Value], ys: &[Value]) -> Vec<Value> {
        let ts: Vec<Value> = xs
            .iter()
            .zip(ys)
            .map(|(&x, &y)| {
                let l = self.log_finite(x, true);
                self.mul(y, l)
            })
            .collect();
        self.exp_many(&ts, false)
    }

    /// `r = exp(y log|x|)` with the sign and the special cases of C's `pow`.
    fn pow_specials(&mut self, x: Value, y: Value, r: Value) -> Value {
        let ax = self.abs(x);
        // Sign and domain: negative x needs an integral y; odd y keeps the sign.
        let fy = self.b.ins().floor(y);
        let yint = self.cmp(FloatCC::Equal, fy, y);
        let hy = self.mulc(y, 0.5);
        let fhy = self.b.ins().floor(hy);
        let yeven = self.cmp(FloatCC::Equal, fhy, hy);
        let yodd = self.b.ins().band_not(yint, yeven);
        let zero = self.c(0.0);
        let xb = self.bits(x);
        let zi = self.ci(0);
        let xneg = self.b.ins().icmp(
            cranelift_codegen::ir::condcodes::IntCC::SignedLessThan,
            xb,
            zi,
        );
        let negate = self.b.ins().band(xneg, yodd);
        let nr = self.neg(r);
        let r = self.sel(negate, nr, r);
        let xlt0 = self.cmp(FloatCC::LessThan, x, zero);
        let ninf = self.c(f64::NEG_INFINITY);
        let xninf = self.cmp(FloatCC::Equal, x, ninf);
        let bad = self.b.ins().band_not(xlt0, yint);
        let bad = self.b.ins().band_not(bad, xninf);
        let nan = self.c(f64::NAN);
        let r = self.sel(bad, nan, r);
        // pow(-1, ±inf) = 1, pow(1, y) = 1, pow(x, 0) = 1 (NaN included).
        let one = self.c(1.0);
        let inf = self.c(f64::INFINITY);
        let ay = self.abs(y);
        let yinf = self.cmp(FloatCC::Equal, ay, inf);
        let ax1 = self.cmp(FloatCC::Equal, ax, one);
        let m1 = self.b.ins().band(yinf, ax1);
        let r = self.sel(m1, one, r);
        let x1 = self.cmp(FloatCC::Equal, x, one);
        let r = self.sel(x1, one, r);
        let y0 = self.cmp(FloatCC::Equal, y, zero);
        self.sel(y0, one, r)
    }
}

impl M<'_, '_> {
    /// `e^a = 4 p s` for `0 <= a` up to the clamp of [`Self::sinh_cosh`] (NaN passes): `p`
    /// the reduced polynomial (float32 the one of [`Self::exp`], float64 degree-13 Taylor on
    /// `|r| <= ln2/2`) and `s = 2^(n-2)`, normal for every `n` up to 129 (float32) / 1025
    /// (float64), so `p s` is `e^a / 4` rounded once, finite even where `e^a` overflows.
    fn exp_quarter_parts(&mut self, a: Value) -> (Value, Value) {
        let (p, t) = if self.is64() {
            let (r, n) = self.reduce_ln2(a);
            let coeffs: Vec<f64> = (0..=13).map(|k| 1.0 / factorial(k)).collect();
            let p = self.poly(r, &coeffs);
            let m = self.c(self.magic());
            (p, self.add(n, m))
        } else {
            self.exp_f32_parts(a)
        };
        // t = n + 1.5 * 2^mant holds n in its low mantissa bits: adding bias - 2 and shifting
        // them into the exponent field gives 2^(n-2) (the magic's own bits fall off the top).
        let (bias, shift) = if self.is64() {
            (1023.0, 52)
        } else {
            (127.0, 23)
        };
        let tb = self.addc(t, bias - 2.0);
        let tb = self.bits(tb);
        let sb = self.b.ins().ishl_imm_u(tb, shift);
        (p, self.from_bits(sb))
    }

    /// Hyperbolic sine (`cosh = false`) or cosine of `x`, from `e^|x| / 2` and `e^-|x| / 2`:
    /// `|x|` is clamped to 89.5 (float32) / 710.5 (float64), where both already overflow (NaN
    /// kept), and `e^|x| / 4 = p s` (`Self::exp_quarter_parts`) stays finite, so the results
    /// near the overflow thresholds (89.416 / 710.476, beyond `exp`'s own) round once, at the
    /// last operation. `cosh = 2 (p s) + 1/(8 p s)` (no cancellation; near 0 the errors of
    /// the two terms cancel). `sinh` for `|x| < 1` is the odd Taylor series `a + a z P(z)`,
    /// `z = a^2` (the exponential difference cancels there), and keeps the sign of `x`, `-0.0`
    /// included.
    pub fn sinh_cosh(&mut self, x: Value, cosh: bool) -> Value {
        let a = self.abs(x);
        let lim = self.c(if self.is64() { 710.5 } else { 89.5 });
        // `lim < a ? lim : a` is one `minps` that keeps a NaN `a`.
        let big = self.cmp(FloatCC::LessThan, lim, a);
        let ac = self.sel(big, lim, a);
        let (p, s) = self.exp_quarter_parts(ac);
        let ps = self.mul(p, s);
        let eighth = self.c(0.125);
        let q = self.div(eighth, ps);
        let two = self.c(2.0);
        if cosh {
            return self.fma(ps, two, q);
        }
        let nq = self.neg(q);
        let large = self.fma(ps, two, nq);
        let terms = if self.is64() { 10 } else { 5 };
        let coeffs: Vec<f64> = (1..=terms).map(|k| 1.0 / factorial(2 * k + 1)).collect();
        let z = self.mul(a, a);
        let pz = self.poly(z, &coeffs);
        let az = self.mul(a, z);
        let small = self.fma(az, pz, a);
        let lt1 = self.cmpc(FloatCC::LessThan, a, 1.0);
        let r = self.sel(lt1, small, large);
        self.with_sign_of(r, x)
    }

    /// `pi/4` as `hi + lo` in the emitter's precision.
    fn pio4_parts(&self) -> (f64, f64) {
        let pio4 = std::f64::consts::FRAC_PI_4;
        if self.is64() {
            (pio4, 3.061616997868382943e-17)
        } else {
            let hi = pio4 as f32 as f64;
            (hi, pio4 - hi)
        }
    }

    /// `atan(t) = m pi/4 + u` for `t = num / den >= 0` (`den` absent: 1; NaN passes into `u`):
    /// Cephes' reduction, `t` above `tan(3pi/8)` to `-1/t` (`m = 2`), above `tan(pi/8)`
    /// (float32) / 0.66 (float64) to `(t-1)/(t+1) = (num-den)/(num+den)` (`m = 1`; `num - den`
    /// exact where `num >= den/2`), selected per lane and divided once; then `u = v + v z R(z)`,
    /// `z = v^2`, with Cephes' `atanf` polynomial (float32) or `atan` rational `P(z)/Q(z)`
    /// (float64). `le1` promises `t <= 1` (atan2's ratio), dropping the `-1/t` branch.
    fn atan_reduce(&mut self, num: Value, den: Option<Value>, le1: bool) -> (Value, Value) {
        let t1 = if self.is64() {
            0.66
        } else {
            0.41421356237309503
        };
        let one = self.c(1.0);
        let (d, thr) = match den {
            Some(d) => (d, self.mulc(d, t1)),
            None => (one, self.c(t1)),
        };
        let mid = self.cmp(FloatCC::GreaterThan, num, thr);
        let nm = self.sub(num, d);
        let np = self.add(num, d);
        let zero = self.c(0.0);
        let mut n = self.sel(mid, nm, num);
        let mut dd = self.sel(mid, np, d);
        let mut m = self.sel(mid, one, zero);
        if !le1 {
            let big = self.cmpc(FloatCC::GreaterThan, num, 2.414213562373095);
            let mone = self.c(-1.0);
            let two = self.c(2.0);
            n = self.sel(big, mone, n);
            dd = self.sel(big, num, dd);
            m = self.sel(big, two, m);
        }
        let v = self.div(n, dd);
        let z = self.mul(v, v);
        let vz = self.mul(v, z);
        let r = if self.is64() {
            const P: [f64; 5] = [
                -6.485021904942025371773E1,
                -1.228866684490136173410E2,
                -7.500855792314704667340E1,
                -1.615753718733365076637E1,
                -8.750608600031904122785E-1,
            ];
            const Q: [f64; 6] = [
                1.945506571482613964425E2,
                4.853903996359136964868E2,
                4.328810604912902668951E2,
                1.650270098316988542046E2,
                2.485846490142306297962E1,
                1.0,
            ];
            let p = self.poly(z, &P);
            let q = self.poly(z, &Q);
            self.div(p, q)
        } else {
            const P: [f64; 4] = [
                -3.33329491539E-1,
                1.99777106478E-1,
                -1.38776856032E-1,
                8.05374449538E-2,
            ];
            self.poly(z, &P)
        };
        (m, self.fma(vz, r, v))
    }

    /// `m pi/4 + u` rounded once (`m` a small integer as a float).
    fn add_pio4s(&mut self, m: Value, u: Value) -> Value {
        let (hi, lo) = self.pio4_parts();
        let loc = self.c(lo);
        let w = self.fma(m, loc, u);
        let hic = self.c(hi);
        self.fma(m, hic, w)
    }

    /// Inverse tangent (`Self::atan_reduce` on `|x|`, the sign of `x` put back: `atan(-0.0)`
    /// is `-0.0`, `atan(±inf) = ±pi/2`).
    pub fn atan(&mut self, x: Value) -> Value {
        let a = self.abs(x);
        let (m, u) = self.atan_reduce(a, None, false);
        let r = self.add_pio4s(m, u);
        self.with_sign_of(r, x)
    }

    /// `atan2(y, x)` with C's special values (as NumPy): the ratio `t <= 1` of the smaller to
    /// the larger of `|y|`, `|x|` (never divided on its own: `Self::atan_reduce` takes both),
    /// `atan(t) = m pi/4 + u`, and the octant folded into one multiple of `pi/4`:
    /// `r = (k ± m) pi/4 ± u` with `k = 2` when `|y| > |x|`, else 4 when `x` has its sign bit
    /// set (`-0.0` included), else 0, rounded once; the sign of `y` put back. `0/0` reads as
    /// `t = 0` (`atan2(±0, ±0)` is ±0 or ±pi), `inf/inf` as `t = 1` (±pi/4, ±3pi/4); NaN in
    /// either gives NaN.
    pub fn atan2(&mut self, y: Value, x: Value) -> Value {
        let ay = self.abs(y);
        let ax = self.abs(x);
        let swap = self.cmp(FloatCC::GreaterThan, ay, ax);
        let num = self.sel(swap, ax, ay);
        let den = self.sel(swap, ay, ax);
        let (m, u) = self.atan_reduce(num, Some(den), true);
        // 0/0 is t = 0 (m = 0 already), inf/inf is t = 1 (m = 1, u = 0).
        let zero = self.c(0.0);
        let is0 = self.cmp(FloatCC::Equal, num, zero);
        let u = self.sel(is0, zero, u);
        let inf = self.c(f64::INFINITY);
        let isinf = self.cmp(FloatCC::Equal, num, inf);
        let u = self.sel(isinf, zero, u);
        let one = self.c(1.0);
        let m = self.sel(isinf, one, m);
        let xb = self.bits(x);
        let zi = self.ci(0);
        let xneg = self.b.ins().icmp(
            cranelift_codegen::ir::condcodes::IntCC::SignedLessThan,
            xb,
            zi,
        );
        let two = self.c(2.0);
        let four = self.c(4.0);
        let k = self.sel(xneg, four, zero);
        let k = self.sel(swap, two, k);
        let flip = self.b.ins().bxor(swap, xneg);
        let nm = self.neg(m);
        let m = self.sel(flip, nm, m);
        let nu = self.neg(u);
        let u = self.sel(flip, nu, u);
        let mk = self.add(k, m);
        let r = self.add_pio4s(mk, u);
        let r = self.with_sign_of(r, y);
        let nan = self.cmp(FloatCC::Unordered, x, y);
        let xy = self.add(x, y);
        self.sel(nan, xy, r)
    }

    /// `asin(x) = atan2(x, sqrt(1 - x^2))` (`1 - x^2` by one fused multiply-add: within half
    /// an ULP next to `|x| = 1`); `|x| > 1` gives NaN through the square root.
    pub fn asin(&mut self, x: Value) -> Value {
        let w = self.one_minus_sq_sqrt(x);
        self.atan2(x, w)
    }

    /// `acos(x) = atan2(sqrt(1 - x^2), x)` (see [`Self::asin`]).
    pub fn acos(&mut self, x: Value) -> Value {
        let w = self.one_minus_sq_sqrt(x);
        self.atan2(w, x)
    }

    fn one_minus_sq_sqrt(&mut self, x: Value) -> Value {
        let nx = self.neg(x);
        let one = self.c(1.0);
        let d = self.fma(nx, x, one);
        self.b.ins().sqrt(d)
    }
}

/// A 128-bit constant from the constant pool: one load that can fold into its user, where a
/// scalar constant plus `splat` costs two instructions inside every loop iteration.
pub fn vconst(b: &mut FunctionBuilder<'_>, ty: Type, bytes: Vec<u8>) -> Value {
    let handle = b
        .func
        .dfg
        .constants
        .insert(cranelift_codegen::ir::ConstantData::from(bytes));
    b.ins().vconst(ty, handle)
}

/// `k!` as a float.
pub fn factorial(k: u32) -> f64 {
    (1..=k).map(|i| i as f64).product()
}
