//! Scalar math that `std` lacks or that NumPy defines in its own way: `erf`, a stable
//! sigmoid, Python-style float `divmod`, NaN-propagating maximum/minimum and NumPy's
//! pairwise summation.

use super::num::Float;

// ---------------------------------------------------------------------------------------
// erf: the fdlibm algorithm (s_erf.c), accurate to < 1 ulp. The coefficients are written as
// bit patterns so that they are exact. Their origin requires this notice:
//
// ====================================================
// Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//
// Developed at SunPro, a Sun Microsystems, Inc. business.
// Permission to use, copy, modify, and distribute this
// software is freely granted, provided that this notice
// is preserved.
// ====================================================
// ---------------------------------------------------------------------------------------

const fn w(hi: u32, lo: u32) -> f64 {
    f64::from_bits(((hi as u64) << 32) | lo as u64)
}

/// erf(1) rounded to 24 bits (the split point of the [0.84375, 1.25] interval).
const ERX: f64 = w(0x3FEB0AC1, 0x60000000);
/// 8 * (2/sqrt(pi) - 1).
const EFX8: f64 = w(0x3FF06EBA, 0x8214DB69);
/// erf(x) = x + x*P(x^2)/Q(x^2) on [0, 0.84375].
const PP: [f64; 5] = [
    w(0x3FC06EBA, 0x8214DB68),
    w(0xBFD4CD7D, 0x691CB913),
    w(0xBF9D2A51, 0xDBD7194F),
    w(0xBF77A291, 0x236668E4),
    w(0xBEF8EAD6, 0x120016AC),
];
const QQ: [f64; 5] = [
    w(0x3FD97779, 0xCDDADC09),
    w(0x3FB0A54C, 0x5536CEBA),
    w(0x3F74D022, 0xC4D36B0F),
    w(0x3F215DC9, 0x221C1A10),
    w(0xBED09C43, 0x42A26120),
];
/// erf(1 + s) = ERX + P(s)/Q(s) on [0.84375, 1.25].
const PA: [f64; 7] = [
    w(0xBF6359B8, 0xBEF77538),
    w(0x3FDA8D00, 0xAD92B34D),
    w(0xBFD7D240, 0xFBB8C3F1),
    w(0x3FD45FCA, 0x805120E4),
    w(0xBFBC6398, 0x3D3E28EC),
    w(0x3FA22A36, 0x599795EB),
    w(0xBF61BF38, 0x0A96073F),
];
const QA: [f64; 6] = [
    w(0x3FBB3E66, 0x18EEE323),
    w(0x3FE14AF0, 0x92EB6F33),
    w(0x3FB2635C, 0xD99FE9A7),
    w(0x3FC02660, 0xE763351F),
    w(0x3F8BEDC2, 0x6B51DD1C),
    w(0x3F888B54, 0x5735151D),
];
/// erfc(x) = exp(-x^2 - 0.5625 + R(1/x^2)/S(1/x^2)) / x on [1.25, 1/0.35].
const RA: [f64; 8] = [
    w(0xBF843412, 0x600D6435),
    w(0xBFE63416, 0xE4BA7360),
    w(0xC0251E04, 0x41B0E726),
    w(0xC04F300A, 0xE4CBA38D),
    w(0xC0644CB1, 0x84282266),
    w(0xC067135C, 0xEBCCABB2),
    w(0xC0545265, 0x57E4D2F2),
    w(0xC023A0EF, 0xC69AC25C),
];
const SA: [f64; 8] = [
    w(0x4033A6B9, 0xBD707687),
    w(0x4061350C, 0x526AE721),
    w(0x407B290D, 0xD58A1A71),
    w(0x40842B19, 0x21EC2868),
    w(0x407AD021, 0x57700314),
    w(0x405B28A3, 0xEE48AE2C),
    w(0x401A47EF, 0x8E484A93),
    w(0xBFAEEFF2, 0xEE749A62),
];
/// The same form on [1/0.35, 6].
const RB: [f64; 7] = [
    w(0xBF843412, 0x39E86F4A),
    w(0xBFE993BA, 0x70C285DE),
    w(0xC031C209, 0x555F995A),
    w(0xC064145D, 0x43C5ED98),
    w(0xC083EC88, 0x1375F228),
    w(0xC0900461, 0x6A2E5992),
    w(0xC07E384E, 0x9BDC383F),
];
const SB: [f64; 7] = [
    w(0x403E568B, 0x261D5190),
    w(0x40745CAE, 0x221B9F0A),
    w(0x409802EB, 0x189D5118),
    w(0x40A8FFB7, 0x688C246A),
    w(0x40A3F219, 0xCEDF3BE6),
    w(0x407DA874, 0xE79FE763),
    w(0xC03670E2, 0x42712D62),
];

/// Evaluates `c[0] + z*(c[1] + z*(...))` (Horner).
#[inline(always)]
fn poly(c: &[f64], z: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &k| acc * z + k)
}

/// Evaluates `1 + z*(c[0] + z*(c[1] + ...))`, the denominators' form.
#[inline(always)]
fn poly1(c: &[f64], z: f64) -> f64 {
    1.0 + z * poly(c, z)
}

/// The error function, `2/sqrt(pi) * integral_0^x exp(-t^2) dt`, to within one ulp.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a < 0.84375 {
        if a < f64::from_bits(0x3E30_0000_0000_0000) {
            // |x| < 2^-28: erf(x) = 2/sqrt(pi) * x to double precision; the scaling by 8
            // avoids underflow for subnormal x.
            return 0.125 * (8.0 * x + EFX8 * x);
        }
        let z = x * x;
        return x + x * (poly(&PP, z) / poly1(&QQ, z));
    }
    if a < 1.25 {
        let s = a - 1.0;
        let r = ERX + poly(&PA, s) / poly1(&QA, s);
        return r.copysign(x);
    }
    if a >= 6.0 {
        // erf(x) rounds to ±1 here (and for ±inf).
        return 1.0f64.copysign(x);
    }
    let s = 1.0 / (a * a);
    let (r, q) = if a < 1.0 / 0.35 {
        (poly(&RA, s), poly1(&SA, s))
    } else {
        (poly(&RB, s), poly1(&SB, s))
    };
    // exp(-a^2) is computed as exp(-z^2) * exp((z - a)(z + a)) with z = a truncated to its
    // high 32 bits, so that z*z is exact and no precision is lost in the cancellation.
    let z = f64::from_bits(a.to_bits() & 0xFFFF_FFFF_0000_0000);
    let e = (-z * z - 0.5625).exp() * ((z - a) * (z + a) + r / q).exp();
    (1.0 - e / a).copysign(x)
}

/// The logistic function `1 / (1 + e^-x)`, computed without overflow: for negative `x`
/// the algebraically equal `e^x / (1 + e^x)` keeps `e^x` small.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// NumPy's `maximum`: NaN in either operand propagates; on equal values (±0) the second
/// operand is returned, as NumPy's SIMD loops do.
#[inline(always)]
pub(crate) fn maximum<F: Float>(a: F, b: F) -> F {
    if a > b || a.is_nan_value() {
        a
    } else {
        b
    }
}

/// NumPy's `minimum` (see [`maximum`]).
#[inline(always)]
pub(crate) fn minimum<F: Float>(a: F, b: F) -> F {
    if a < b || a.is_nan_value() {
        a
    } else {
        b
    }
}

/// NumPy's `npy_divmod`: Python-style floor quotient and remainder (remainder has the
/// divisor's sign). `b == 0` gives `(a / b, fmod(a, 0) = NaN)` like NumPy.
#[inline]
pub(crate) fn divmod<F: Float>(a: F, b: F) -> (F, F) {
    // `%` on floats is C `fmod`.
    let mut m = a % b;
    if b == F::ZERO {
        return (a / b, m);
    }
    // a - m is very nearly an integer multiple of b.
    let mut div = (a - m) / b;
    if m != F::ZERO {
        if (b < F::ZERO) != (m < F::ZERO) {
            m = m + b;
            div = div - F::ONE;
        }
    } else {
        m = F::ZERO.copysign(b);
    }
    let floordiv = if div != F::ZERO {
        // Snap the quotient to the nearest integral value.
        let f = div.floor();
        if div - f > F::HALF {
            f + F::ONE
        } else {
            f
        }
    } else {
        F::ZERO.copysign(a / b)
    };
    (floordiv, m)
}

/// `np.floor_divide` on floats.
#[inline]
pub(crate) fn floor_divide<F: Float>(a: F, b: F) -> F {
    divmod(a, b).0
}

/// `np.remainder` on floats.
#[inline]
pub(crate) fn remainder<F: Float>(a: F, b: F) -> F {
    divmod(a, b).1
}

/// Below this many elements the pairwise sum adds sequentially (NumPy's `PW_BLOCKSIZE`).
const PW_BLOCKSIZE: usize = 128;

/// NumPy's pairwise summation (`@TYPE@_pairwise_sum`), reproduced operation for operation so
/// that float32 sums round like NumPy's: fewer than 8 elements add in order; up to 128 use
/// 8 interleaved accumulators combined as a tree; longer runs split in halves (rounded down
/// to a multiple of 8) and recurse. The result starts from -0.0 so that a sum of -0.0 stays
/// -0.0.
pub(crate) fn pairwise_sum<F: Float>(a: &[F]) -> F {
    let n = a.len();
    if n < 8 {
        let mut res = -F::ZERO;
        for &v in a {
            res = res + v;
        }
        res
    } else if n <= PW_BLOCKSIZE {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let whole = n - n % 8;
        for chunk in a[8..whole].chunks_exact(8) {
            for (acc, &v) in r.iter_mut().zip(chunk) {
                *acc = *acc + v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[whole..] {
            res = res + v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from a correctly rounded libm `erf`.
    const ERF_TABLE: &[(f64, f64)] = &[
        (1e-30, 1.1283791670955127e-30),
        (1e-10, 1.1283791670955126e-10),
        (0.1, 0.1124629160182849),
        (0.5, 0.5204998778130465),
        (0.8, 0.7421009647076605),
        (0.84375, 0.7672256612323416),
        (1.0, 0.8427007929497149),
        (1.2, 0.9103139782296353),
        (1.25, 0.9229001282564582),
        (1.5, 0.9661051464753108),
        (2.0, 0.9953222650189527),
        (2.5, 0.999593047982555),
        (2.857, 0.9999466417399131),
        (3.0, 0.9999779095030014),
        (4.0, 0.9999999845827421),
        (5.0, 0.9999999999984626),
        (5.9, 0.9999999999999999),
        (6.5, 1.0),
        (-0.3, -0.3286267594591274),
        (-1.1, -0.8802050695740817),
        (-2.2, -0.9981371537020182),
        (-4.4, -0.999999999510829),
    ];

    #[test]
    fn erf_within_one_ulp() {
        for &(x, want) in ERF_TABLE {
            let got = erf(x);
            let ulps = (got.to_bits() as i64 - want.to_bits() as i64).abs();
            assert!(ulps <= 1, "erf({x}) = {got}, want {want}");
        }
        assert_eq!(erf(f64::INFINITY), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
        assert!(erf(f64::NAN).is_nan());
        assert_eq!(erf(-0.0).to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    // The decimals are fdlibm's, digit for digit.
    #[allow(clippy::excessive_precision)]
    fn erf_coefficients_match_their_decimal_values() {
        // Guards the transcription of the bit patterns.
        assert_eq!(ERX, 8.45062911510467529297e-01);
        assert_eq!(PP[0], 1.28379167095512558561e-01);
        assert_eq!(QQ[4], -3.96022827877536812320e-06);
        assert_eq!(PA[6], -2.16637559486879084300e-03);
        assert_eq!(QA[5], 1.19844998467991074170e-02);
        assert_eq!(RA[7], -9.81432934416914548592e+00);
        assert_eq!(SA[7], -6.04244152148580987438e-02);
        assert_eq!(RB[6], -4.83519191608651397019e+02);
        assert_eq!(SB[6], -2.24409524465858183362e+01);
    }

    #[test]
    fn sigmoid_is_stable() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(-800.0), 0.0);
        assert_eq!(sigmoid(800.0), 1.0);
        assert!((sigmoid(-30.0) - 9.357622968839299e-14).abs() < 1e-27);
        assert!(sigmoid(f64::NAN).is_nan());
    }

    #[test]
    fn float_divmod_matches_numpy() {
        // np.floor_divide / np.remainder on these pairs.
        let cases: &[(f64, f64, f64, f64)] = &[
            (5.0, 3.0, 1.0, 2.0),
            (-5.0, 3.0, -2.0, 1.0),
            (5.0, -3.0, -2.0, -1.0),
            (-5.0, -3.0, 1.0, -2.0),
            (-1.0, f64::INFINITY, -1.0, f64::INFINITY),
            (1.0, f64::NEG_INFINITY, -1.0, f64::NEG_INFINITY),
            (6.0, 3.0, 2.0, 0.0),
            (-6.0, 3.0, -2.0, 0.0),
        ];
        for &(a, b, q, r) in cases {
            assert_eq!(floor_divide(a, b), q, "{a} // {b}");
            assert_eq!(remainder(a, b), r, "{a} % {b}");
        }
        assert_eq!(floor_divide(5.0, 0.0), f64::INFINITY);
        assert_eq!(floor_divide(-5.0, 0.0), f64::NEG_INFINITY);
        assert!(floor_divide(0.0, 0.0f64).is_nan());
        assert!(remainder(5.0, 0.0f64).is_nan());
        assert!(floor_divide(f64::INFINITY, 2.0).is_nan());
        // The remainder of an exact division carries the divisor's sign.
        assert!(remainder(6.0f64, -3.0).is_sign_negative());
    }

    #[test]
    fn maximum_propagates_nan_and_prefers_second_on_ties() {
        assert!(maximum(f64::NAN, 1.0).is_nan());
        assert!(maximum(1.0, f64::NAN).is_nan());
        assert!(minimum(f32::NAN, 1.0).is_nan());
        assert!(maximum(-0.0f64, 0.0).is_sign_positive());
        assert!(maximum(0.0f64, -0.0).is_sign_negative());
        assert_eq!(minimum(2.0, 3.0), 2.0);
    }

    #[test]
    fn pairwise_sum_is_accurate() {
        // 0.1f32 repeated: naive f32 accumulation drifts far; pairwise stays close.
        let n = 100_000;
        let v = vec![0.1f32; n];
        let exact = (0.1f32 as f64) * n as f64;
        let pw = pairwise_sum(&v) as f64;
        let naive = v.iter().fold(0.0f32, |a, &b| a + b) as f64;
        assert!(
            (pw - exact).abs() / exact < 1e-6,
            "pairwise {pw} vs {exact}"
        );
        assert!(
            (naive - exact).abs() / exact > 1e-4,
            "naive {naive} should drift"
        );
        assert_eq!(pairwise_sum::<f64>(&[]).to_bits(), (-0.0f64).to_bits());
        assert_eq!(pairwise_sum(&[1.0f64, 2.0, 3.0]), 6.0);
    }
}
