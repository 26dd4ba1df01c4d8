//! Loop-invariant values computed once before their loop (`vector::loop_invariants`), and
//! float32 values at the edges of float64 vector loops (`vector::narrow_values`): a float64
//! scalar computed from a 0-d input or a row's float32 mean no longer makes a loop mix
//! widths (which has no vector form), and `x.astype(np.float64)` of a float32 `x` runs two
//! to a vector. The loops vectorize, and every element matches the interpreter, contiguous
//! (vector loop and scalar tail) and strided (scalar loop).

mod common;

use common::{backend, buffer, check, values, Rng};
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::Kernel;
use ember_ir::{BinaryOp, DType, ReduceOp, Scalar, UnaryOp};

fn assert_vectorized(k: &Kernel) {
    let c = backend().compile(k).unwrap();
    assert!(c.vector_step() > 1, "the loop vectorizes\n{k}");
}

/// Float64 values with NaN, ±inf, ±0, values beyond float32's range and below its
/// subnormals, then random ones of every magnitude.
fn specials(rng: &mut Rng, n: usize) -> Vec<f64> {
    let mut v = vec![
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1e300,
        -1e300,
        3.4028235677973366e38,
        3.4028236e38,
        1e-46,
        -1e-40,
        f64::MIN_POSITIVE,
        0.1,
        -2.5,
    ];
    while v.len() < n {
        let s = if rng.next() & 1 == 0 { 1.0 } else { -1.0 };
        v.push(s * rng.uniform(-160.0, 160.0).exp2());
    }
    v.truncate(n);
    v
}

#[test]
fn invariant_float64_math_of_a_0d_input_leaves_the_loop() {
    // `np.tanh(s) <= x` for a 0-d int32 `s` and a float64 `x`: the cast and tanh are the
    // same for every element.
    let mut rng = Rng(6030);
    for n in [1, 3, 37, 1001] {
        let mut b = Builder::new("tanh_scalar_le");
        let s = b.arg(DType::I32, &[], false);
        let a = b.arg(DType::F64, &[n], false);
        let o = b.arg(DType::Bool, &[n], true);
        let i = b.open_loop(n, true);
        let sv = b.load(s, &[]);
        let f = b.cast(DType::F64, sv);
        let t = b.unary(UnaryOp::Tanh, f);
        let x = b.load(a, &[i]);
        let c = b.binary(BinaryOp::Le, t, x);
        b.store(o, &[i], c);
        b.close_loop();
        let k = b.finish();
        for sval in [1.0, -3.0] {
            let xs = values(&mut rng, DType::F64, n, -1.5, 1.5);
            for strided in [false, true] {
                let inputs = [
                    buffer(DType::I32, &[], &[sval], false),
                    buffer(DType::F64, &[n], &xs, strided),
                ];
                check(&k, &inputs, 0.0, 0.0);
            }
        }
        if n >= 37 {
            assert_vectorized(&k);
        }
    }
}

/// `x.mean(axis=1, keepdims=True, dtype=np.float32) == -2 <= x` for a float64 `x` of shape
/// `(rows, cols)`: the second row loop compares float64 elements with a float32 mean cast
/// to float64 through a bool, all of it the same for the whole row.
fn row_mean_compare(rows: usize, cols: usize, target: f32) -> Kernel {
    let mut b = Builder::new("row_mean_compare");
    let a = b.arg(DType::F64, &[rows, cols], false);
    let o = b.arg(DType::Bool, &[rows, cols], true);
    let r = b.open_loop(rows, true);
    let acc = b.acc(ReduceOp::Sum, DType::F32);
    let c = b.open_loop(cols, false);
    let x = b.load(a, &[r, c]);
    let x32 = b.cast(DType::F32, x);
    b.update(acc, x32);
    b.close_loop();
    let c = b.open_loop(cols, false);
    let n = b.konst(Scalar::F32(cols as f32));
    let mean = b.binary(BinaryOp::Div, acc, n);
    let t = b.konst(Scalar::F32(target));
    let eq = b.binary(BinaryOp::Eq, mean, t);
    let x = b.load(a, &[r, c]);
    let e = b.cast(DType::F64, eq);
    let le = b.binary(BinaryOp::Le, e, x);
    b.store(o, &[r, c], le);
    b.close_loop();
    b.close_loop();
    b.finish()
}

#[test]
fn invariant_row_values_leave_the_inner_loop() {
    let mut rng = Rng(6536);
    for (rows, cols) in [(1, 1), (3, 31), (64, 31), (17, 200)] {
        for target in [-2.0f32, 0.5] {
            let k = row_mean_compare(rows, cols, target);
            // Rows of `target` make the mean equal it (the bool is 1.0 for those rows).
            let mut xs = values(&mut rng, DType::F64, rows * cols, -1.0, 1.5);
            for r in (0..rows).step_by(2) {
                for c in 0..cols {
                    xs[r * cols + c] = target as f64;
                }
            }
            for strided in [false, true] {
                check(
                    &k,
                    &[buffer(DType::F64, &[rows, cols], &xs, strided)],
                    0.0,
                    0.0,
                );
            }
        }
    }
}

#[test]
fn an_accumulator_updated_in_the_loop_is_not_invariant() {
    // `s += x[i] * 2; out[i] = s + 1` reads the running sum: it stays in the loop; `2 * 3`
    // and `exp(k)` of a 0-d `k` leave it.
    let mut rng = Rng(11);
    for n in [1, 5, 300] {
        let mut b = Builder::new("running");
        let kk = b.arg(DType::F64, &[], false);
        let a = b.arg(DType::F64, &[n], false);
        let o = b.arg(DType::F64, &[], true);
        let acc = b.acc(ReduceOp::Max, DType::F64);
        let i = b.open_loop(n, false);
        let two = b.konst(Scalar::F64(2.0));
        let three = b.konst(Scalar::F64(3.0));
        let six = b.binary(BinaryOp::Mul, two, three);
        let kv = b.load(kk, &[]);
        let e = b.unary(UnaryOp::Exp, kv);
        let x = b.load(a, &[i]);
        let y = b.binary(BinaryOp::Mul, x, six);
        let z = b.binary(BinaryOp::Add, y, e);
        b.update(acc, z);
        b.close_loop();
        b.store(o, &[], acc);
        let k = b.finish();
        let xs = values(&mut rng, DType::F64, n, -3.0, 3.0);
        for strided in [false, true] {
            let inputs = [
                buffer(DType::F64, &[], &[0.25], false),
                buffer(DType::F64, &[n], &xs, strided),
            ];
            check(&k, &inputs, 0.0, 0.0);
        }
    }
}

#[test]
fn float32_loads_widen_in_float64_loops() {
    // `x.astype(np.float64) <= y` and `(x + y)` for float32 `x`, float64 `y`.
    let mut rng = Rng(32);
    for n in [1, 2, 3, 37, 1001] {
        for op in [BinaryOp::Le, BinaryOp::Add] {
            let mut b = Builder::new("f32_f64");
            let a = b.arg(DType::F32, &[n], false);
            let y = b.arg(DType::F64, &[n], false);
            let out = if op == BinaryOp::Add {
                DType::F64
            } else {
                DType::Bool
            };
            let o = b.arg(out, &[n], true);
            let i = b.open_loop(n, true);
            let x = b.load(a, &[i]);
            let xw = b.cast(DType::F64, x);
            let yv = b.load(y, &[i]);
            let r = b.binary(op, xw, yv);
            b.store(o, &[i], r);
            b.close_loop();
            let k = b.finish();
            let xs: Vec<f64> = specials(&mut rng, n)
                .into_iter()
                .map(|v| v as f32 as f64)
                .collect();
            let ys = specials(&mut rng, n);
            for strided in [false, true] {
                let inputs = [
                    buffer(DType::F32, &[n], &xs, strided),
                    buffer(DType::F64, &[n], &ys, strided),
                ];
                check(&k, &inputs, 0.0, 0.0);
            }
            if n >= 37 {
                assert_vectorized(&k);
            }
        }
    }
}

#[test]
fn float64_results_narrow_to_float32_stores() {
    // `(y * 3.0).astype(np.float32)` and `np.tanh(x.astype(np.float64)).astype(np.float32)`:
    // rounding to nearest, overflow to ±inf, underflow to ±0 and subnormals, NaN kept.
    let mut rng = Rng(64);
    for n in [1, 3, 37, 1001] {
        for from32 in [false, true] {
            let mut b = Builder::new("f64_to_f32");
            let a = b.arg(if from32 { DType::F32 } else { DType::F64 }, &[n], false);
            let o = b.arg(DType::F32, &[n], true);
            let i = b.open_loop(n, true);
            let x = b.load(a, &[i]);
            let r = if from32 {
                let w = b.cast(DType::F64, x);
                b.unary(UnaryOp::Tanh, w)
            } else {
                let k3 = b.konst(Scalar::F64(3.0));
                b.binary(BinaryOp::Mul, x, k3)
            };
            let c = b.cast(DType::F32, r);
            b.store(o, &[i], c);
            b.close_loop();
            let k = b.finish();
            let mut xs = specials(&mut rng, n);
            if from32 {
                xs.iter_mut().for_each(|v| *v = *v as f32 as f64);
            }
            let dt = if from32 { DType::F32 } else { DType::F64 };
            for strided in [false, true] {
                // float64 tanh may differ from the interpreter's by an ulp before rounding.
                let ulps = if from32 { 1.0 } else { 0.0 };
                check(&k, &[buffer(dt, &[n], &xs, strided)], ulps, 0.0);
            }
            if n >= 37 {
                assert_vectorized(&k);
            }
        }
    }
}
