//! argmax / argmin in vector loops (`cpu::vector::argacc`): lanes keep their best value and
//! index, and merge with ties to the smaller index, so every result is NumPy's first index of
//! the extreme (or of the first NaN). Checked against the interpreter over lengths around the
//! vector step, ties placed in every lane, NaNs and infinities anywhere, every dtype,
//! contiguous (vector loop) and strided (scalar loop), flat and per row, and past the split
//! threshold (parts on the pool).

mod common;

use common::{backend, buffer, check, Rng};
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::Kernel;
use ember_ir::{DType, ReduceOp};

/// `out[r] = arg(op) x[r, :]` over a `rows x n` input (`rows == 0`: a flat 1-d reduction).
fn kernel(op: ReduceOp, dt: DType, rows: usize, n: usize) -> Kernel {
    let mut b = Builder::new("arg");
    if rows == 0 {
        let x = b.arg(dt, &[n], false);
        let o = b.arg(DType::I64, &[], true);
        let acc = b.acc(op, dt);
        let i = b.open_loop(n, false);
        let v = b.load(x, &[i]);
        b.update_arg(acc, v, i);
        b.close_loop();
        b.store(o, &[], acc);
    } else {
        let x = b.arg(dt, &[rows, n], false);
        let o = b.arg(DType::I64, &[rows], true);
        let r = b.open_loop(rows, true);
        let acc = b.acc(op, dt);
        let i = b.open_loop(n, false);
        let v = b.load(x, &[r, i]);
        b.update_arg(acc, v, i);
        b.close_loop();
        b.store(o, &[r], acc);
        b.close_loop();
    }
    b.finish()
}

const DTYPES: [DType; 4] = [DType::F32, DType::F64, DType::I32, DType::I64];

/// Small-range values (many ties) with specials placed at `hot`.
fn values(rng: &mut Rng, dt: DType, n: usize, special: f64, hot: &[usize]) -> Vec<f64> {
    (0..n)
        .map(|i| {
            if hot.contains(&i) && (dt.is_float() || special.is_finite()) {
                special
            } else {
                rng.below(4) as f64
            }
        })
        .collect()
}

#[test]
fn flat_argmax_argmin_match_the_interpreter() {
    let mut rng = Rng(0xa59);
    for dt in DTYPES {
        for op in [ReduceOp::ArgMax, ReduceOp::ArgMin] {
            for n in [
                1usize, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 1001,
            ] {
                let k = kernel(op, dt, 0, n);
                let mut cases: Vec<(f64, Vec<usize>)> = vec![(0.0, vec![])];
                for s in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 9.0, -9.0] {
                    cases.push((s, vec![rng.below(n)]));
                    cases.push((s, vec![n - 1]));
                    cases.push((s, vec![rng.below(n), rng.below(n), n / 2]));
                }
                for (s, hot) in cases {
                    let vals = values(&mut rng, dt, n, s, &hot);
                    for strided in [false, true] {
                        check(&k, &[buffer(dt, &[n], &vals, strided)], 0.0, 0.0);
                    }
                }
                // Every element the same (the start value itself for +-inf): index 0.
                for s in [0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
                    if dt.is_float() || s == 0.0 {
                        check(&k, &[buffer(dt, &[n], &vec![s; n], false)], 0.0, 0.0);
                    }
                }
            }
        }
    }
}

#[test]
fn row_and_split_argmax_match_the_interpreter() {
    let mut rng = Rng(0xa5a);
    for dt in DTYPES {
        for op in [ReduceOp::ArgMax, ReduceOp::ArgMin] {
            let k = kernel(op, dt, 13, 77);
            let vals = values(&mut rng, dt, 13 * 77, f64::NAN, &[5, 200, 201, 900]);
            check(&k, &[buffer(dt, &[13, 77], &vals, false)], 0.0, 0.0);
            // Past the split threshold: the parts' loops are vectorized too.
            let n = 40_003;
            let k = kernel(op, dt, 0, n);
            let vals = values(&mut rng, dt, n, 9.0, &[n - 5, 20_000, 20_001]);
            check(&k, &[buffer(dt, &[n], &vals, false)], 0.0, 0.0);
            let vals = values(&mut rng, dt, n, f64::NAN, &[30_000, 35_000]);
            check(&k, &[buffer(dt, &[n], &vals, false)], 0.0, 0.0);
        }
    }
}

#[test]
fn argmax_loops_vectorize() {
    for dt in DTYPES {
        // Large enough to split: `vector_step` reports the parts' (parallel) loop.
        let k = kernel(ReduceOp::ArgMax, dt, 0, 40_003);
        let step = backend().compile(&k).expect("compile").vector_step();
        assert!(step > 1, "{dt}: vector step {step}\n{k}");
    }
}
