//! Accuracy of compiled float sums against exact references: row sums (vector loops fold the
//! unrolled vectors pairwise into one TwoSum-compensated accumulator per lane), column sums
//! (one compensated accumulator per lane; large ones interchanged, four rows added pairwise
//! into a compensated state per column) and sums of all elements split over the pool,
//! well- and ill-conditioned, with overflow and infinities. Inputs are integers times a power
//! of two, so the exact sum is an integer sum.

mod common;

use common::{backend, Rng};
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::interp::Buffer;
use ember_ir::kernel::Kernel;
use ember_ir::{DType, ReduceOp};

/// `out[i] = sum_j x[i, j]` (`column`: `out[j] = sum_i x[i, j]`).
fn sum_kernel(dt: DType, r: usize, c: usize, column: bool) -> Kernel {
    let mut b = Builder::new("sum");
    let a = b.arg(dt, &[r, c], false);
    let out = b.arg(dt, &[if column { c } else { r }], true);
    if column {
        let j = b.open_loop(c, true);
        let s = b.acc(ReduceOp::Sum, dt);
        let i = b.open_loop(r, false);
        let x = b.load(a, &[i, j]);
        b.update(s, x);
        b.close_loop();
        b.store(out, &[j], s);
    } else {
        let i = b.open_loop(r, true);
        let s = b.acc(ReduceOp::Sum, dt);
        let j = b.open_loop(c, false);
        let x = b.load(a, &[i, j]);
        b.update(s, x);
        b.close_loop();
        b.store(out, &[i], s);
    }
    b.finish()
}

/// The compiled kernel's sums of `vals` (`r` x `c`, row-major).
fn run(dt: DType, r: usize, c: usize, column: bool, vals: &[f64]) -> Vec<f64> {
    let k = sum_kernel(dt, r, c, column);
    let mut bufs = vec![
        Buffer::from_f64s(dt, &[r, c], vals),
        Buffer::zeros(dt, &[if column { c } else { r }]),
    ];
    backend()
        .compile(&k)
        .expect("compile")
        .run_buffers(&mut bufs)
        .expect("run");
    bufs[1].to_f64s()
}

/// `eps` of the dtype.
fn eps(dt: DType) -> f64 {
    if dt == DType::F32 {
        f32::EPSILON as f64 / 2.0
    } else {
        f64::EPSILON / 2.0
    }
}

/// Each sum against its exact value: within `k_abs * eps * sum|x| + k_rel * eps * |sum|`.
/// Values are `m * 2^-20` with integer `m` below the dtype's mantissa, so sums are exact in
/// `i128`.
fn check_sums(dt: DType, r: usize, c: usize, column: bool, ms: &[i64], k_abs: f64, k_rel: f64) {
    let scale = (-20f64).exp2();
    let vals: Vec<f64> = ms.iter().map(|&m| m as f64 * scale).collect();
    let got = run(dt, r, c, column, &vals);
    for (o, g) in got.iter().enumerate() {
        let idx: Vec<usize> = if column {
            (0..r).map(|i| i * c + o).collect()
        } else {
            (o * c..(o + 1) * c).collect()
        };
        let exact: i128 = idx.iter().map(|&t| ms[t] as i128).sum();
        let abs: i128 = idx.iter().map(|&t| (ms[t] as i128).abs()).sum();
        let (exact, abs) = (exact as f64 * scale, abs as f64 * scale);
        let bound = eps(dt) * (k_abs * abs + k_rel * exact.abs());
        assert!(
            (g - exact).abs() <= bound,
            "{dt} {r}x{c} column={column} sum {o}: got {g:e}, exact {exact:e}, error {:e} > {bound:e}",
            (g - exact).abs()
        );
    }
}

fn ints(rng: &mut Rng, n: usize, bits: u32, positive: bool) -> Vec<i64> {
    let m = 1i64 << bits;
    (0..n)
        .map(|_| {
            let v = (rng.next() % m as u64) as i64;
            if positive {
                v
            } else {
                v - m / 2
            }
        })
        .collect()
}

/// Positive terms (softmax's row sums): within 6 eps of the sum at every length (vector loop,
/// scalar tail, both); the bound adds up the roundings of the pairwise group sums, the lane
/// fold, the tail and the final one.
#[test]
fn positive_sums_are_within_a_few_ulp() {
    let mut rng = Rng(71);
    for dt in [DType::F32, DType::F64] {
        let bits = if dt == DType::F32 { 24 } else { 53 };
        for (r, c) in [(3, 7), (2, 8), (2, 33), (3, 4096), (2, 4099), (1, 100_003)] {
            for column in [false, true] {
                let ms = ints(&mut rng, r * c, bits, true);
                check_sums(dt, r, c, column, &ms, 0.0, 6.0);
            }
        }
    }
}

/// Mixed signs, with cancellation: within 3 eps of `sum |x|` plus 3 eps of the sum (NumPy's
/// pairwise summation is bounded by about `log2(n)` eps of `sum |x|`).
#[test]
fn cancelling_sums_are_within_eps_of_the_absolute_sum() {
    let mut rng = Rng(72);
    for dt in [DType::F32, DType::F64] {
        let bits = if dt == DType::F32 { 24 } else { 53 };
        for (r, c) in [(2, 33), (3, 4096), (1, 100_003)] {
            for column in [false, true] {
                let mut ms = ints(&mut rng, r * c, bits, false);
                // Huge terms that cancel, with small ones in between.
                for row in 0..r {
                    ms[row * c] = 1 << (bits + 6);
                    ms[row * c + c / 2] = -(1 << (bits + 6));
                    ms[row * c + c - 1] = 1 << (bits + 3);
                }
                check_sums(dt, r, c, column, &ms, 3.0, 3.0);
            }
        }
    }
}

/// A sum that overflows is infinite (not NaN), and infinities of one sign give that infinity.
#[test]
fn overflowing_and_infinite_sums() {
    for dt in [DType::F32, DType::F64] {
        let big = if dt == DType::F32 {
            f32::MAX as f64 / 4.0
        } else {
            f64::MAX / 4.0
        };
        let (r, c) = (4, 40);
        let mut vals = vec![1.0; r * c];
        vals[..c].fill(big); // row 0 overflows
        vals[c + 5] = f64::INFINITY; // row 1: one +inf
        vals[2 * c + 17] = f64::NEG_INFINITY; // row 2: -inf and +inf: NaN
        vals[2 * c + 30] = f64::INFINITY;
        for column in [false, true] {
            let (rr, cc, v) = if column {
                let mut t = vec![0.0; r * c];
                for i in 0..r {
                    for j in 0..c {
                        t[j * r + i] = vals[i * c + j];
                    }
                }
                (c, r, t)
            } else {
                (r, c, vals.clone())
            };
            let got = run(dt, rr, cc, column, &v);
            assert_eq!(got[0], f64::INFINITY, "{dt} column={column}");
            assert_eq!(got[1], f64::INFINITY, "{dt} column={column}");
            assert!(got[2].is_nan(), "{dt} column={column}");
            assert_eq!(got[3], c as f64, "{dt} column={column}");
        }
    }
}

/// Tall column sums whose widths hit the wide vector runs (16 vectors per row), the narrower
/// vector loops after them (what a width leaves of whole vectors) and the scalar tail, on the
/// pool's threads (work above the parallel threshold): same bounds as above.
#[test]
fn tall_column_sums_at_every_tail() {
    let mut rng = Rng(73);
    for dt in [DType::F32, DType::F64] {
        let bits = if dt == DType::F32 { 24 } else { 53 };
        for (r, c) in [(1031, 64), (517, 100), (403, 127), (301, 257), (2049, 37)] {
            let ms = ints(&mut rng, r * c, bits, true);
            check_sums(dt, r, c, true, &ms, 0.0, 6.0);
            let mut ms = ints(&mut rng, r * c, bits, false);
            for col in [0, c / 2, c - 1] {
                ms[col] = 1 << (bits + 6);
                ms[(r - 1) * c + col] = -(1 << (bits + 6));
            }
            check_sums(dt, r, c, true, &ms, 3.0, 3.0);
        }
    }
}

/// Column sums large enough to run interchanged over blocks of rows (`cpu::vector`'s
/// interchange: four rows added pairwise, then one compensated add per column; parts folded
/// with TwoSum), at widths with scalar columns after the whole vectors: same bounds.
#[test]
fn interchanged_column_sums_keep_the_bounds() {
    let mut rng = Rng(74);
    for dt in [DType::F32, DType::F64] {
        let bits = if dt == DType::F32 { 24 } else { 53 };
        for (r, c) in [(4099, 64), (2051, 127), (600, 1027), (50_003, 3)] {
            let ms = ints(&mut rng, r * c, bits, true);
            check_sums(dt, r, c, true, &ms, 0.0, 6.0);
            let mut ms = ints(&mut rng, r * c, bits, false);
            for col in [0, c / 2, c - 1] {
                ms[col] = 1 << (bits + 6);
                ms[(r / 2) * c + col] = 1 << (bits + 3);
                ms[(r - 1) * c + col] = -(1 << (bits + 6));
            }
            check_sums(dt, r, c, true, &ms, 3.0, 3.0);
        }
    }
}

/// Sums of all elements split over the pool (`cpu::lower::split`): each part's compensated
/// sum, folded in part order with compensated adds: same bounds as one loop.
#[test]
fn split_full_sums_keep_the_bounds() {
    let mut rng = Rng(75);
    for dt in [DType::F32, DType::F64] {
        let bits = if dt == DType::F32 { 24 } else { 53 };
        for n in [(1 << 17) + 3, 1_000_003] {
            for positive in [true, false] {
                let mut ms = ints(&mut rng, n, bits, positive);
                if !positive {
                    ms[5] = 1 << (bits + 6);
                    ms[n / 2] = -(1 << (bits + 6));
                    ms[n - 1] = 1 << (bits + 3);
                }
                // One row of `n`, reduced whole: no parallel loop.
                let mut b = Builder::new("full_sum");
                let a = b.arg(dt, &[n], false);
                let out = b.arg(dt, &[], true);
                let s = b.acc(ReduceOp::Sum, dt);
                let i = b.open_loop(n, false);
                let x = b.load(a, &[i]);
                b.update(s, x);
                b.close_loop();
                b.store(out, &[], s);
                let k = b.finish();
                let scale = (-20f64).exp2();
                let vals: Vec<f64> = ms.iter().map(|&m| m as f64 * scale).collect();
                let mut bufs = vec![Buffer::from_f64s(dt, &[n], &vals), Buffer::zeros(dt, &[])];
                backend()
                    .compile(&k)
                    .expect("compile")
                    .run_buffers(&mut bufs)
                    .expect("run");
                let got = bufs[1].to_f64s()[0];
                let exact: i128 = ms.iter().map(|&m| m as i128).sum();
                let abs: i128 = ms.iter().map(|&m| (m as i128).abs()).sum();
                let (exact, abs) = (exact as f64 * scale, abs as f64 * scale);
                let (k_abs, k_rel) = if positive { (0.0, 6.0) } else { (3.0, 3.0) };
                let bound = eps(dt) * (k_abs * abs + k_rel * exact.abs());
                assert!(
                    (got - exact).abs() <= bound,
                    "{dt} n={n}: got {got:e}, exact {exact:e}, error {:e} > {bound:e}",
                    (got - exact).abs()
                );
            }
        }
    }
}
