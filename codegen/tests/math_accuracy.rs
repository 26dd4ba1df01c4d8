//! Accuracy of the generated math against float64 references, over wide ranges plus special
//! values (NaN, ±inf, ±0, denormals, extremes). Each function runs twice: on a contiguous
//! buffer (the 128-bit vector loop, or on AVX-512 hosts the staged loop's 512-bit routines
//! of `cpu::wide` for the functions that have one) and on a strided one (the scalar loop).
//!
//! Bounds asserted (max ULP of the float32 result vs. the float64 reference rounded to
//! float32; for float64, max ULP vs. the platform libm), with the maximum measured when the
//! bounds were set:
//!
//! | function | f32 bound (measured) | f64 bound (measured) | range tested |
//! |---|---|---|---|
//! | exp     | 2 (1) | 2 (1) | f32 [-110, 90], f64 [-750, 712] |
//! | expm1   | 2 (1) | 3 (1) | [-40, 90] / [-40, 710], tiny values, 1e-300, 1e-10, the overflow limit, -800 |
//! | log     | 2 (1) | 2 (1) | 2^-149 .. 3e38 (denormals included) / 2^-1074 .. 1e308 |
//! | log1p   | 2 (1) | 3 (1) | (-1, 10], wide positive, tiny values |
//! | tanh    | 3 (1) | 4 (3) | [-20, 20], tiny values; f32 also a dense grid of [-10, 10] (2) |
//! | sigmoid | 3 (2) | 3 (1) | [-110, 110] / [-750, 750] |
//! | sin,cos | 2 (1) | 2 (1) | [-1e4, 1e4] fast path; up to 1e7, 1e15, 1e30, 1e300 (libm lanes), next to the 1e6 limit |
//! | tan     | 3 (2; every f32 in [0, 8192]: 3) | 2 (2) | [-1e4, 1e4], [-4, 4], next to multiples of pi/2; up to 1e7 and 1e30 (libm lanes), tiny values |
//! | erf     | 3 (1) | 4 (1) | [-7, 7], tiny values |
//! | pow     | 1 (0) | 1 (0, libm) | x in (0, 60], y in [-20, 20]; negative x with integral y; specials |
//! | pow f32 vector | 0.5001 (0.49999, fractional vs f64 `pow`) | - | also every binade, bases next to 1 with exponents up to 2^30, fractional exponents of negative bases; specials bit for bit |
//! | sinh,cosh | 2 (1) | 3 (2) | [-3, 3], [-92, 92] / [-712, 712], tiny values, overflow edges; every f32 in [0, 90] (2, 1) |
//! | arctan  | 2 (2) | 2 (1) | [-4, 4], 2^-149 .. 2^128 both signs / 2^-1074 .. 2^1024, thresholds; every f32 >= 0 (2) |
//! | arctan2 | 2 (1) | 2 (1) | (y, x) in [-10, 10]^2, magnitudes 2^±60 both signs, near the diagonal; specials bit for bit |
//! | arcsin,arccos | 3 (2) | 2 (2) | [-1, 1], within 2^-40 of ±1, tiny values, \|x\| > 1; every f32 in range (3) |

mod common;

use common::{backend, ulps, Rng};
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::interp::Buffer;
use ember_ir::{BinaryOp, DType, UnaryOp};

fn specials(dt: DType) -> Vec<f64> {
    let mut v = vec![
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        2.0,
    ];
    if dt == DType::F32 {
        v.extend([
            f32::MIN_POSITIVE as f64,
            1e-45,
            -1e-45,
            1e-40,
            f32::MAX as f64,
            f32::MIN as f64,
            1e-8,
            -1e-8,
        ]);
    } else {
        v.extend([
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            1e-310,
            f64::MAX,
            f64::MIN,
            1e-17,
            -1e-17,
        ]);
    }
    v
}

/// Runs `out = op(x)` on contiguous and strided copies of `xs`; returns both results.
fn run_unary(op: UnaryOp, dt: DType, xs: &[f64]) -> [Vec<f64>; 2] {
    let n = xs.len();
    let mut b = Builder::new(format!("acc_{op}"));
    let a = b.arg(dt, &[n], false);
    let o = b.arg(dt, &[n], true);
    let i = b.open_loop(n, true);
    let x = b.load(a, &[i]);
    let y = b.unary(op, x);
    b.store(o, &[i], y);
    let k = backend().compile(&b.finish()).expect("compile");
    let mut out = [Vec::new(), Vec::new()];
    for (s, res) in out.iter_mut().enumerate() {
        let input = common::buffer(dt, &[n], xs, s == 1);
        let mut bufs = vec![input, Buffer::zeros(dt, &[n])];
        k.run_buffers(&mut bufs).expect("run");
        *res = bufs[1].to_f64s();
    }
    out
}

fn reference(op: UnaryOp, x: f64) -> f64 {
    use UnaryOp::*;
    match op {
        Exp => x.exp(),
        Expm1 => x.exp_m1(),
        Log => x.ln(),
        Log1p => x.ln_1p(),
        Tanh => x.tanh(),
        Sigmoid => ember_ir::kernel::eval::sigmoid_f64(x),
        Sin => x.sin(),
        Cos => x.cos(),
        Tan => x.tan(),
        Erf => libm::erf(x),
        Sinh => x.sinh(),
        Cosh => x.cosh(),
        Atan => x.atan(),
        Asin => x.asin(),
        Acos => x.acos(),
        _ => unreachable!(),
    }
}

fn max_ulps(op: UnaryOp, dt: DType, xs: &[f64]) -> (f64, f64) {
    let mut worst = (0.0, 0.0);
    for res in run_unary(op, dt, xs) {
        for (&x, &y) in xs.iter().zip(&res) {
            let x = if dt == DType::F32 { x as f32 as f64 } else { x };
            let want = reference(op, x);
            let want = if dt == DType::F32 {
                want as f32 as f64
            } else {
                want
            };
            let u = ulps(dt, want, y);
            if u > worst.0 {
                worst = (u, x);
            }
        }
    }
    worst
}

fn sample(rng: &mut Rng, dt: DType, lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n).map(|_| rng.uniform(lo, hi)).collect();
    v.extend(specials(dt));
    v
}

fn log_sample(rng: &mut Rng, dt: DType, n: usize) -> Vec<f64> {
    let (lo, hi) = if dt == DType::F32 {
        (-149.0, 127.9)
    } else {
        (-1074.0, 1023.9)
    };
    let mut v: Vec<f64> = (0..n).map(|_| rng.uniform(lo, hi).exp2()).collect();
    v.extend((0..n / 4).map(|_| rng.uniform(0.5, 2.0)));
    v.extend(specials(dt));
    v.extend([-1.0, -5.0]);
    v
}

/// Large sin/cos arguments (libm lanes), both sides of the float64 fast limit (1e6) and
/// multiples of `pi/2` (cancelling reductions).
fn trig_edges() -> Vec<f64> {
    let lim = 1.0e6f64;
    let mut v = vec![
        1e5,
        -1e5,
        1e15,
        -1e15,
        1e300,
        -1e300,
        lim,
        -lim,
        f64::from_bits(lim.to_bits() + 1),
        f64::from_bits(lim.to_bits() - 1),
        1e-300,
        -1e-310,
    ];
    v.extend((1..40).map(|k| k as f64 * std::f64::consts::FRAC_PI_2));
    v
}

/// ULP bounds `[float32, float64]` of the inverse and hyperbolic functions (see the table).
const SINH_COSH_BOUND: [f64; 2] = [2.0, 3.0];
const ATAN_BOUND: [f64; 2] = [2.0, 2.0];
const ATAN2_BOUND: [f64; 2] = [2.0, 2.0];
const ASIN_ACOS_BOUND: [f64; 2] = [3.0, 2.0];

/// Around sinh/cosh's switch to the series (1), exp's own overflow (88.72 / 709.78), the
/// float32 / float64 overflow of sinh and cosh (89.4160 / 710.4759) and the clamp
/// (89.5 / 710.5).
fn hyperbolic_edges(dt: DType) -> Vec<f64> {
    let v: Vec<f64> = if dt == DType::F32 {
        vec![
            1.0, 0.99999994, 1.0000001, 88.72283, 88.72284, 89.0, 89.41598, 89.415985, 89.41599,
            89.5, 89.50001, 100.0,
        ]
    } else {
        vec![
            1.0,
            0.9999999999999999,
            1.0000000000000002,
            709.782712893384,
            709.7827128933841,
            710.4758600739439,
            710.475860073944,
            710.4758600739441,
            710.5,
            710.5000000000001,
            1000.0,
        ]
    };
    v.iter().flat_map(|&x| [x, -x]).collect()
}

/// Around atan's reduction thresholds (tan(pi/8), 0.66, 1, tan(3pi/8)) and huge arguments.
fn atan_edges() -> Vec<f64> {
    let v = [
        0.41421354,
        0.41421357,
        0.414213562373095,
        0.4142135623730951,
        0.66,
        0.6600000000000001,
        0.6599999999999999,
        1.0,
        2.4142134,
        2.4142137,
        2.414213562373095,
        2.4142135623730954,
        1e10,
        1e20,
        3e38,
        1e300,
    ];
    v.iter().flat_map(|&x| [x, -x]).collect()
}

/// Max ULP of `tan` (float32, float64).
/// float32's 3: every float32 in [0, 8192] measured 3 ULP at most (330 of 1.2e9 inputs;
/// `cargo run --release -p ember-codegen --example trig_ulp tan`).
const TAN_BOUND: [f64; 2] = [3.0, 2.0];

/// The representable values next to multiples `k pi / 2` (poles and zeros of `tan`), `k` up
/// to 4000 (float32) or 600000 (float64): where the reduction's cancellation matters.
fn near_poles(dt: DType) -> Vec<f64> {
    let mut v = Vec::new();
    let ks = (1..60).chain((60..4000).step_by(37));
    let ks: Vec<i64> = if dt == DType::F32 {
        ks.collect()
    } else {
        ks.chain((4000..600_000).step_by(4973)).collect()
    };
    for k in ks {
        let t = k as f64 * std::f64::consts::FRAC_PI_2;
        for s in [1.0, -1.0] {
            if dt == DType::F32 {
                let f = (s * t) as f32;
                v.extend([f.next_down(), f, f.next_up()].map(f64::from));
            } else {
                let f = s * t;
                v.extend([f.next_down(), f, f.next_up()]);
            }
        }
    }
    v
}

/// Next to ±1 from inside (where asin/acos have their square-root singularity).
fn near_one(rng: &mut Rng) -> Vec<f64> {
    (0..400)
        .map(|_| {
            let d = rng.uniform(-40.0, -1.0).exp2();
            if rng.next() & 1 == 0 {
                1.0 - d
            } else {
                d - 1.0
            }
        })
        .collect()
}

#[test]
fn accuracy_table() {
    let mut rng = Rng(0x5eed);
    let n = 4000;
    let tiny = |rng: &mut Rng| -> Vec<f64> {
        (0..200)
            .map(|_| rng.uniform(-30.0, -1.0).exp2() * if rng.next() & 1 == 0 { 1.0 } else { -1.0 })
            .collect()
    };
    let mut table = Vec::new();
    for dt in [DType::F32, DType::F64] {
        let f32_ = dt == DType::F32;
        let cases: Vec<(UnaryOp, Vec<f64>, f64)> = vec![
            (
                UnaryOp::Exp,
                [
                    sample(
                        &mut rng,
                        dt,
                        if f32_ { -110.0 } else { -750.0 },
                        if f32_ { 90.0 } else { 712.0 },
                        n,
                    ),
                    // Around float32 exp's fast-path limit (86), overflow (88.7228), the
                    // smallest normal (-87.3365) and denormal (-103.279) results, and ties of
                    // x / ln2 (where the fused rounding of n may pick the other integer).
                    vec![
                        86.0,
                        -86.0,
                        85.99999,
                        -85.99999,
                        86.00001,
                        -86.00001,
                        88.72283,
                        88.72284,
                        -87.33654,
                        -87.33655,
                        -103.27892,
                        -103.97208,
                        -104.0,
                        0.5 * std::f64::consts::LN_2,
                        -0.5 * std::f64::consts::LN_2,
                        60.5 * std::f64::consts::LN_2,
                        -60.5 * std::f64::consts::LN_2,
                        123.5 * std::f64::consts::LN_2,
                        -123.5 * std::f64::consts::LN_2,
                    ],
                ]
                .concat(),
                2.0,
            ),
            (
                UnaryOp::Expm1,
                [
                    sample(&mut rng, dt, -40.0, if f32_ { 90.0 } else { 710.0 }, n),
                    tiny(&mut rng),
                    // Next to 0, the clamp at -40, the float64 overflow limit (709.7827),
                    // far below the clamp.
                    vec![
                        1e-300,
                        -1e-300,
                        1e-320,
                        1e-10,
                        -1e-10,
                        -40.0,
                        -40.5,
                        709.78,
                        709.782712893384,
                        709.7827128933841,
                        710.0,
                        710.5,
                        -800.0,
                        -1e5,
                    ],
                ]
                .concat(),
                if f32_ { 2.0 } else { 3.0 },
            ),
            (UnaryOp::Log, log_sample(&mut rng, dt, n), 2.0),
            (
                UnaryOp::Log1p,
                [
                    sample(&mut rng, dt, -0.999, 10.0, n),
                    log_sample(&mut rng, dt, n / 2),
                    tiny(&mut rng),
                ]
                .concat(),
                if f32_ { 2.0 } else { 3.0 },
            ),
            (
                UnaryOp::Tanh,
                [
                    sample(&mut rng, dt, -20.0, 20.0, n),
                    tiny(&mut rng),
                    // Around float32 tanh's clamp (9.5) and where it rounds to 1 (9.0109).
                    vec![9.0, 9.0109, 9.011, 9.5, 9.500001, 12.0, -9.011, -9.5, 0.625],
                ]
                .concat(),
                if f32_ { 3.0 } else { 4.0 },
            ),
            (
                UnaryOp::Sigmoid,
                sample(
                    &mut rng,
                    dt,
                    if f32_ { -110.0 } else { -750.0 },
                    if f32_ { 110.0 } else { 750.0 },
                    n,
                ),
                3.0,
            ),
            (
                UnaryOp::Sin,
                [
                    sample(&mut rng, dt, -1e4, 1e4, n),
                    sample(&mut rng, dt, -1e7, 1e7, n / 4),
                    vec![1e30, -3e20],
                    trig_edges(),
                ]
                .concat(),
                2.0,
            ),
            (
                UnaryOp::Cos,
                [
                    sample(&mut rng, dt, -1e4, 1e4, n),
                    sample(&mut rng, dt, -1e7, 1e7, n / 4),
                    vec![1e30, -3e20],
                    trig_edges(),
                ]
                .concat(),
                2.0,
            ),
            (
                UnaryOp::Tan,
                [
                    sample(&mut rng, dt, -1e4, 1e4, n),
                    sample(&mut rng, dt, -4.0, 4.0, n),
                    sample(&mut rng, dt, -1e7, 1e7, n / 4),
                    tiny(&mut rng),
                    near_poles(dt),
                    vec![1e30, -3e20],
                ]
                .concat(),
                TAN_BOUND[!f32_ as usize],
            ),
            (
                UnaryOp::Erf,
                [sample(&mut rng, dt, -7.0, 7.0, n), tiny(&mut rng)].concat(),
                if f32_ { 3.0 } else { 4.0 },
            ),
            (
                UnaryOp::Sinh,
                [
                    sample(&mut rng, dt, -3.0, 3.0, n),
                    sample(
                        &mut rng,
                        dt,
                        if f32_ { -92.0 } else { -712.0 },
                        if f32_ { 92.0 } else { 712.0 },
                        n,
                    ),
                    tiny(&mut rng),
                    hyperbolic_edges(dt),
                ]
                .concat(),
                SINH_COSH_BOUND[!f32_ as usize],
            ),
            (
                UnaryOp::Cosh,
                [
                    sample(&mut rng, dt, -3.0, 3.0, n),
                    sample(
                        &mut rng,
                        dt,
                        if f32_ { -92.0 } else { -712.0 },
                        if f32_ { 92.0 } else { 712.0 },
                        n,
                    ),
                    tiny(&mut rng),
                    hyperbolic_edges(dt),
                ]
                .concat(),
                SINH_COSH_BOUND[!f32_ as usize],
            ),
            (
                UnaryOp::Atan,
                [
                    sample(&mut rng, dt, -4.0, 4.0, n),
                    log_sample(&mut rng, dt, n),
                    log_sample(&mut rng, dt, n / 4)
                        .into_iter()
                        .map(|v| -v)
                        .collect(),
                    tiny(&mut rng),
                    atan_edges(),
                ]
                .concat(),
                ATAN_BOUND[!f32_ as usize],
            ),
            (
                UnaryOp::Asin,
                [
                    sample(&mut rng, dt, -1.0, 1.0, n),
                    near_one(&mut rng),
                    tiny(&mut rng),
                    vec![1.0000001, -1.0000001, 1.5, -3.0],
                ]
                .concat(),
                ASIN_ACOS_BOUND[!f32_ as usize],
            ),
            (
                UnaryOp::Acos,
                [
                    sample(&mut rng, dt, -1.0, 1.0, n),
                    near_one(&mut rng),
                    tiny(&mut rng),
                    vec![1.0000001, -1.0000001, 1.5, -3.0],
                ]
                .concat(),
                ASIN_ACOS_BOUND[!f32_ as usize],
            ),
        ];
        for (op, xs, bound) in cases {
            let (u, at) = max_ulps(op, dt, &xs);
            table.push(format!(
                "{:>8} {:>8}: max {u:>4} ulp (at {at:e}), bound {bound}",
                op.name(),
                dt.name()
            ));
            assert!(u <= bound, "{op} {dt}: {u} ulp at {at:e} exceeds {bound}");
        }
    }
    println!("{}", table.join("\n"));
}

/// float32 `tanh` on a dense deterministic grid of bit patterns in `[0, 10]` and their
/// negations (every float32 there measured 2 ULP at most with
/// `cargo run --release -p ember-codegen --example tanh_ulp`).
#[test]
fn tanh_f32_dense() {
    let top = 10.0f32.to_bits();
    let xs: Vec<f64> = (0..=top)
        .step_by(4099)
        .flat_map(|b| {
            let x = f32::from_bits(b) as f64;
            [x, -x]
        })
        .collect();
    let (u, at) = max_ulps(UnaryOp::Tanh, DType::F32, &xs);
    println!(
        "tanh float32 dense: max {u} ulp (at {at:e}) over {} inputs",
        xs.len()
    );
    assert!(u <= 3.0, "tanh float32: {u} ulp at {at:e} exceeds 3");
}

/// float32 `exp` on a dense deterministic grid of bit patterns in `[-104, 89]` (every float32
/// there measured 1 ULP at most with `cargo run --release -p ember-codegen --example exp_ulp`),
/// overflow to inf and underflow through the denormals to 0 included.
#[test]
fn exp_f32_dense() {
    let xs: Vec<f64> = [(0u32, 89.0f32), (0x8000_0000, 104.0)]
        .iter()
        .flat_map(|&(sign, top)| {
            (0..=top.to_bits())
                .step_by(4099)
                .map(move |b| f32::from_bits(b | sign) as f64)
        })
        .collect();
    let (u, at) = max_ulps(UnaryOp::Exp, DType::F32, &xs);
    println!(
        "exp float32 dense: max {u} ulp (at {at:e}) over {} inputs",
        xs.len()
    );
    assert!(u <= 2.0, "exp float32: {u} ulp at {at:e} exceeds 2");
}

/// float32 `pow` (computed through float64) vs. the float64 reference; float64 `pow` is
/// libm's.
#[test]
fn pow_accuracy_and_specials() {
    let mut rng = Rng(99);
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for _ in 0..3000 {
        xs.push(rng.uniform(0.0, 60.0));
        ys.push(rng.uniform(-20.0, 20.0));
    }
    for _ in 0..500 {
        xs.push(-rng.uniform(0.0, 10.0));
        ys.push(rng.uniform(-12.0, 12.0).round());
    }
    let sp = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1.0,
        -1.0,
        2.0,
        -2.0,
        0.5,
        3.0,
    ];
    for &x in &sp {
        for &y in &sp {
            xs.push(x);
            ys.push(y);
        }
    }
    let n = xs.len();
    for dt in [DType::F32, DType::F64] {
        let mut b = Builder::new("pow");
        let (a0, a1) = (b.arg(dt, &[n], false), b.arg(dt, &[n], false));
        let o = b.arg(dt, &[n], true);
        let i = b.open_loop(n, false);
        let (x, y) = (b.load(a0, &[i]), b.load(a1, &[i]));
        let p = b.binary(BinaryOp::Pow, x, y);
        b.store(o, &[i], p);
        let k = backend().compile(&b.finish()).unwrap();
        let mut bufs = vec![
            Buffer::from_f64s(dt, &[n], &xs),
            Buffer::from_f64s(dt, &[n], &ys),
            Buffer::zeros(dt, &[n]),
        ];
        k.run_buffers(&mut bufs).unwrap();
        let got = bufs[2].to_f64s();
        let mut worst: f64 = 0.0;
        for j in 0..n {
            let (x, y) = if dt == DType::F32 {
                (xs[j] as f32 as f64, ys[j] as f32 as f64)
            } else {
                (xs[j], ys[j])
            };
            let want = x.powf(y);
            let want = if dt == DType::F32 {
                want as f32 as f64
            } else {
                want
            };
            let u = ulps(dt, want, got[j]);
            assert!(u <= 1.0, "pow({x}, {y}) {dt}: got {}, want {want}", got[j]);
            worst = worst.max(u);
        }
        println!("pow {dt}: max {worst} ulp");
    }
}

/// Every float function gives the interpreter's result on ±0 (NaN, ±inf around them), sign
/// of zero included, in the vector and the scalar loop: `sin(-0.0)` is `-0.0` like NumPy's,
/// `relu(-0.0)` is `+0.0` (`maximum(x, 0)`).
#[test]
fn signed_zeros_match_the_interpreter() {
    let xs = [
        -0.0,
        0.0,
        -0.0,
        0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
    ];
    let mut bad = Vec::new();
    for dt in [DType::F32, DType::F64] {
        for &op in UnaryOp::ALL {
            if matches!(
                op,
                UnaryOp::IsNan | UnaryOp::IsInf | UnaryOp::IsFinite | UnaryOp::LogicalNot
            ) {
                continue;
            }
            for (path, got) in ["vector", "scalar"].iter().zip(run_unary(op, dt, &xs)) {
                for (&x, &y) in xs.iter().zip(&got) {
                    let sx = if dt == DType::F32 {
                        ember_ir::Scalar::F32(x as f32)
                    } else {
                        ember_ir::Scalar::F64(x)
                    };
                    let want = ember_ir::kernel::eval::unary(op, sx).to_f64();
                    let same = (want.is_nan() && y.is_nan()) || want.to_bits() == y.to_bits();
                    if !same {
                        bad.push(format!("{op} {dt} {path}: f({x:?}) = {y:?}, want {want:?}"));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Runs `out = op(a, b)` on contiguous and strided copies; returns both results.
fn run_binary(op: BinaryOp, dt: DType, xs: &[f64], ys: &[f64]) -> [Vec<f64>; 2] {
    let n = xs.len();
    let mut b = Builder::new(format!("acc_{op}"));
    let (a0, a1) = (b.arg(dt, &[n], false), b.arg(dt, &[n], false));
    let o = b.arg(dt, &[n], true);
    let i = b.open_loop(n, true);
    let (x, y) = (b.load(a0, &[i]), b.load(a1, &[i]));
    let r = b.binary(op, x, y);
    b.store(o, &[i], r);
    let k = backend().compile(&b.finish()).expect("compile");
    let mut out = [Vec::new(), Vec::new()];
    for (s, res) in out.iter_mut().enumerate() {
        let mut bufs = vec![
            common::buffer(dt, &[n], xs, s == 1),
            common::buffer(dt, &[n], ys, s == 1),
            Buffer::zeros(dt, &[n]),
        ];
        k.run_buffers(&mut bufs).expect("run");
        *res = bufs[2].to_f64s();
    }
    out
}

/// `arctan2(y, x)` against float64 `atan2` (float32) / libm (float64) on random pairs of
/// every magnitude and sign, and every pair of special values (±0, ±inf, NaN, ±1, tiny,
/// huge): the pairs with a zero, an infinity or a NaN compared bit for bit (sign of zero
/// included) with the platform's `atan2`, as NumPy gives them.
#[test]
fn atan2_accuracy_and_specials() {
    let mut rng = Rng(0xa7a2);
    let mut ys = Vec::new();
    let mut xs = Vec::new();
    for _ in 0..4000 {
        ys.push(rng.uniform(-10.0, 10.0));
        xs.push(rng.uniform(-10.0, 10.0));
    }
    for _ in 0..3000 {
        let s = |rng: &mut Rng| if rng.next() & 1 == 0 { 1.0 } else { -1.0 };
        ys.push(s(&mut rng) * rng.uniform(-60.0, 60.0).exp2());
        xs.push(s(&mut rng) * rng.uniform(-60.0, 60.0).exp2());
    }
    // Near the diagonal (ratio next to 1) and the thresholds of the reduction.
    for _ in 0..1000 {
        let x = rng.uniform(0.1, 100.0);
        ys.push(x * rng.uniform(0.99, 1.01));
        xs.push(if rng.next() & 1 == 0 { x } else { -x });
    }
    let sp = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1.0,
        -1.0,
        2.5,
        -0.3,
        1e-30,
        -1e30,
    ];
    let mut specials = Vec::new();
    for &y in &sp {
        for &x in &sp {
            specials.push((y, x));
        }
    }
    ys.extend(specials.iter().map(|p| p.0));
    xs.extend(specials.iter().map(|p| p.1));
    let n_random = ys.len() - specials.len();
    for dt in [DType::F32, DType::F64] {
        let bound = ATAN2_BOUND[(dt == DType::F64) as usize];
        let mut worst = (0.0, 0.0, 0.0);
        for (path, got) in
            ["vector", "scalar"]
                .iter()
                .zip(run_binary(BinaryOp::Atan2, dt, &ys, &xs))
        {
            for j in 0..ys.len() {
                let (y, x) = if dt == DType::F32 {
                    (ys[j] as f32 as f64, xs[j] as f32 as f64)
                } else {
                    (ys[j], xs[j])
                };
                let want = if dt == DType::F32 {
                    (y.atan2(x) as f32 as f64, (y as f32).atan2(x as f32) as f64)
                } else {
                    (y.atan2(x), y.atan2(x))
                };
                let exceptional = !(y.is_finite() && x.is_finite() && y != 0.0 && x != 0.0);
                if j >= n_random && exceptional {
                    let same = (want.1.is_nan() && got[j].is_nan())
                        || want.1.to_bits() == got[j].to_bits();
                    assert!(
                        same,
                        "{path} atan2({y:?}, {x:?}) {dt}: got {:?}, want {:?}",
                        got[j], want.1
                    );
                }
                let u = ulps(dt, want.0, got[j]);
                if u > worst.0 {
                    worst = (u, y, x);
                }
            }
        }
        assert_worst(&format!("arctan2 {dt}"), worst, bound);
    }
}

/// Loops containing sinh, cosh, arctan, arcsin, arccos, tan and arctan2 vectorize (no per-element
/// call), and agree with the interpreter (the platform's libm) within the bounds above plus
/// the libm's own ULP, contiguous and strided, with odd lengths (scalar tails).
#[test]
fn inverse_and_hyperbolic_loops_vectorize() {
    let mut rng = Rng(7);
    let n = 103;
    for dt in [DType::F32, DType::F64] {
        let f = (dt == DType::F64) as usize;
        let unary = [
            (UnaryOp::Sinh, -12.0, 12.0, SINH_COSH_BOUND[f]),
            (UnaryOp::Cosh, -12.0, 12.0, SINH_COSH_BOUND[f]),
            (UnaryOp::Atan, -8.0, 8.0, ATAN_BOUND[f]),
            (UnaryOp::Asin, -1.0, 1.0, ASIN_ACOS_BOUND[f]),
            (UnaryOp::Acos, -1.0, 1.0, ASIN_ACOS_BOUND[f]),
            (UnaryOp::Tan, -8.0, 8.0, TAN_BOUND[f]),
        ];
        for (op, lo, hi, bound) in unary {
            let mut b = Builder::new(format!("vec_{op}"));
            let a = b.arg(dt, &[n], false);
            let o = b.arg(dt, &[n], true);
            let i = b.open_loop(n, true);
            let x = b.load(a, &[i]);
            let y = b.unary(op, x);
            let two = b.konst(if dt == DType::F32 {
                ember_ir::Scalar::F32(2.0)
            } else {
                ember_ir::Scalar::F64(2.0)
            });
            let y = b.binary(BinaryOp::Mul, y, two);
            b.store(o, &[i], y);
            b.close_loop();
            let k = b.finish();
            let step = backend().compile(&k).unwrap().vector_step();
            assert!(step > 1, "{op} {dt} did not vectorize (step {step})");
            let vals = common::values(&mut rng, dt, n, lo, hi);
            for strided in [false, true] {
                common::check(
                    &k,
                    &[common::buffer(dt, &[n], &vals, strided)],
                    bound + 1.0,
                    0.0,
                );
            }
        }
        let mut b = Builder::new("vec_atan2");
        let (a0, a1) = (b.arg(dt, &[n], false), b.arg(dt, &[n], false));
        let o = b.arg(dt, &[n], true);
        let i = b.open_loop(n, true);
        let (y, x) = (b.load(a0, &[i]), b.load(a1, &[i]));
        let r = b.binary(BinaryOp::Atan2, y, x);
        b.store(o, &[i], r);
        b.close_loop();
        let k = b.finish();
        let step = backend().compile(&k).unwrap().vector_step();
        assert!(step > 1, "arctan2 {dt} did not vectorize (step {step})");
        let ys = common::values(&mut rng, dt, n, -5.0, 5.0);
        let xs = common::values(&mut rng, dt, n, -5.0, 5.0);
        for strided in [false, true] {
            let ins = [
                common::buffer(dt, &[n], &ys, strided),
                common::buffer(dt, &[n], &xs, strided),
            ];
            common::check(&k, &ins, ATAN2_BOUND[f] + 1.0, 0.0);
        }
    }
}

/// The error of float32 `got` against `exact` (a float64 value) in float32 ULPs of `exact`
/// (fractional: a correctly rounded result is within 0.5).
fn f32_ulp_error(got: f64, exact: f64) -> f64 {
    let a = exact.abs();
    let spacing = if a < f32::MIN_POSITIVE as f64 {
        2f64.powi(-149)
    } else {
        2f64.powi(a.log2().floor() as i32 - 23)
    };
    (got - exact).abs() / spacing
}

/// float32 `pow` in the vector loop (four lanes as two float64 pairs, a fast path for
/// positive finite `x` and finite `y`) and the scalar loop, against float64 `pow` of the same
/// inputs (within 2^-52 of the exact value, far below a float32 ULP): within `POW_F32_BOUND`
/// float32 ULPs (fractional; 0.5 is correct rounding) wherever the result is finite and
/// nonzero, every overflow and underflow as the rounded reference, and every pair of special
/// values (±0, ±inf, NaN, ±1, negative bases with odd, even and fractional exponents,
/// denormals, extremes) bit for bit as C's `pow` rounded to float32, sign of zero included.
#[test]
fn pow_float32_vector_accuracy_and_specials() {
    const POW_F32_BOUND: f64 = 0.5 + 1e-4;
    let mut rng = Rng(0x9077);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..40000 {
        xs.push(rng.uniform(0.0, 60.0));
        ys.push(rng.uniform(-20.0, 20.0));
    }
    // Every binade, exponents that overflow, underflow and land in the denormals.
    for _ in 0..40000 {
        xs.push(rng.uniform(-149.0, 128.0).exp2());
        ys.push(rng.uniform(-4.0, 4.0));
    }
    // Bases next to 1 with huge exponents (where `y log x` must be accurate).
    for _ in 0..20000 {
        let d = rng.uniform(-24.0, -1.0).exp2();
        xs.push(if rng.next() & 1 == 0 {
            1.0 + d
        } else {
            1.0 - d
        });
        ys.push(rng.uniform(-1.0, 1.0) * rng.uniform(0.0, 30.0).exp2());
    }
    // Negative bases: integral exponents (odd and even) and fractional ones (NaN).
    for _ in 0..20000 {
        xs.push(-rng.uniform(0.0, 10.0));
        let y = rng.uniform(-40.0, 40.0);
        ys.push(if rng.next().is_multiple_of(4) {
            y
        } else {
            y.round()
        });
    }
    let sp = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1.0,
        -1.0,
        2.0,
        -2.0,
        0.5,
        -0.5,
        0.75,
        1.5,
        -1.5,
        3.0,
        -3.0,
        7.0,
        1e-45,
        -1e-45,
        1e-40,
        f32::MIN_POSITIVE as f64,
        f32::MAX as f64,
        f32::MIN as f64,
        1e10,
        -1e10,
    ];
    let n_random = xs.len();
    for &x in &sp {
        for &y in &sp {
            xs.push(x);
            ys.push(y);
        }
    }
    let (xs, ys): (Vec<f64>, Vec<f64>) = xs
        .iter()
        .zip(&ys)
        .map(|(&x, &y)| (x as f32 as f64, y as f32 as f64))
        .unzip();
    let mut worst = (0.0, 0.0, 0.0);
    for (path, got) in
        ["vector", "scalar"]
            .iter()
            .zip(run_binary(BinaryOp::Pow, DType::F32, &xs, &ys))
    {
        for j in 0..xs.len() {
            let (x, y, g) = (xs[j], ys[j], got[j]);
            let exact = x.powf(y);
            let want = exact as f32 as f64;
            let finite = want.is_finite() && want != 0.0;
            if j >= n_random || !finite {
                let same = (want.is_nan() && g.is_nan()) || want.to_bits() == g.to_bits();
                assert!(
                    same,
                    "{path} pow({x:e}, {y:e}) float32: got {g:e}, want {want:e}"
                );
                continue;
            }
            let e = f32_ulp_error(g, exact);
            if e > worst.0 {
                worst = (e, x, y);
            }
        }
    }
    assert_worst("pow float32", worst, POW_F32_BOUND);
}

/// Prints the worst error of a two-argument function, `(ulps, first, second)`, and asserts
/// it is within `bound` ULP.
fn assert_worst<T: std::fmt::LowerExp>(what: &str, worst: (f64, T, T), bound: f64) {
    let (u, a, b) = worst;
    println!("{what}: max {u} ulp (at ({a:e}, {b:e})), bound {bound}");
    assert!(
        u <= bound,
        "{what}: {u} ulp at ({a:e}, {b:e}) exceeds {bound}"
    );
}

/// float32 `pow` loops vectorize; float64 `pow` stays libm's per element (see `math.rs`).
#[test]
fn pow_loops_vectorize_float32_only() {
    for (dt, vectorizes) in [(DType::F32, true), (DType::F64, false)] {
        let mut b = Builder::new("pow_loop");
        let (a0, a1) = (b.arg(dt, &[64], false), b.arg(dt, &[64], false));
        let o = b.arg(dt, &[64], true);
        let i = b.open_loop(64, true);
        let (x, y) = (b.load(a0, &[i]), b.load(a1, &[i]));
        let p = b.binary(BinaryOp::Pow, x, y);
        b.store(o, &[i], p);
        let k = backend().compile(&b.finish()).unwrap();
        assert_eq!(k.vector_step() > 1, vectorizes, "{dt}\n{}", k.kernel());
    }
}
