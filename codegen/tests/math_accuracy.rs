//! Accuracy of the generated math against float64 references, over wide ranges plus special
//! values (NaN, ±inf, ±0, denormals, extremes). Each function runs twice: on a contiguous
//! buffer (the 128-bit vector loop) and on a strided one (the scalar loop).
//!
//! Bounds asserted (max ULP of the float32 result vs. the float64 reference rounded to
//! float32; for float64, max ULP vs. the platform libm), with the maximum measured when the
//! bounds were set:
//!
//! | function | f32 bound (measured) | f64 bound (measured) | range tested |
//! |---|---|---|---|
//! | exp     | 2 (1) | 2 (1) | f32 [-110, 90], f64 [-750, 712] |
//! | expm1   | 2 (1) | 3 (1) | [-40, 90] / [-40, 710], tiny values |
//! | log     | 2 (1) | 2 (1) | 2^-149 .. 3e38 (denormals included) / 2^-1074 .. 1e308 |
//! | log1p   | 2 (1) | 3 (1) | (-1, 10], wide positive, tiny values |
//! | tanh    | 3 (1) | 4 (3) | [-20, 20], tiny values; f32 also a dense grid of [-10, 10] (2) |
//! | sigmoid | 3 (2) | 3 (1) | [-110, 110] / [-750, 750] |
//! | sin,cos | 2 (1) | 2 (1) | [-1e4, 1e4] fast path; up to 1e7 and 1e30 (libm lanes) |
//! | erf     | 3 (1) | 4 (1) | [-7, 7], tiny values |
//! | pow     | 1 (0) | 1 (0, libm) | x in (0, 60], y in [-20, 20]; negative x with integral y; specials |

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
        Erf => libm::erf(x),
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
                ]
                .concat(),
                2.0,
            ),
            (
                UnaryOp::Erf,
                [sample(&mut rng, dt, -7.0, 7.0, n), tiny(&mut rng)].concat(),
                if f32_ { 3.0 } else { 4.0 },
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
