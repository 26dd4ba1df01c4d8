//! Reductions that used to run on slow paths: int32 sums and products (int64 accumulators fed
//! int32 vectors, widened in the accumulator), and full reductions in several phases (a full
//! reduction feeding an elementwise op feeding another, e.g. `np.exp(x - x.max()).sum()`),
//! each phase split over the pool. Against the interpreter at odd lengths (vector tails, short
//! last parts), with `vector_step() > 1` where the loops must vectorize, and the same bits on
//! every run.

mod common;

use common::{backend, check, values, Rng};
use ember_codegen::cpu::lower::split::full_split;
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::interp::Buffer;
use ember_ir::kernel::Kernel;
use ember_ir::{BinaryOp, DType, ReduceOp, Scalar, UnaryOp};

/// `out[] = reduce_i int64(x[i])` over int32 `x`.
fn int32_full(op: ReduceOp, n: usize) -> Kernel {
    let mut b = Builder::new("i32_full");
    let a = b.arg(DType::I32, &[n], false);
    let out = b.arg(DType::I64, &[], true);
    let acc = b.acc(op, DType::I64);
    let i = b.open_loop(n, false);
    let x = b.load(a, &[i]);
    let x = b.cast(DType::I64, x);
    b.update(acc, x);
    b.close_loop();
    b.store(out, &[], acc);
    b.finish()
}

/// `out[r] = reduce_c int64(x[r, c])`: parallel over the rows.
fn int32_rows(op: ReduceOp, r: usize, c: usize) -> Kernel {
    let mut b = Builder::new("i32_rows");
    let a = b.arg(DType::I32, &[r, c], false);
    let out = b.arg(DType::I64, &[r], true);
    let i = b.open_loop(r, true);
    let acc = b.acc(op, DType::I64);
    let j = b.open_loop(c, false);
    let x = b.load(a, &[i, j]);
    let x = b.cast(DType::I64, x);
    b.update(acc, x);
    b.close_loop();
    b.store(out, &[i], acc);
    b.close_loop();
    b.finish()
}

/// Int32 values near +-2^30 (sums leave the int32 range after a few terms) or, for products,
/// in -3..3 (products wrap around int64 as NumPy's do).
fn int_values(rng: &mut Rng, op: ReduceOp, n: usize) -> Vec<f64> {
    let (lo, hi) = if op == ReduceOp::Prod {
        (-3.0, 3.0)
    } else {
        (-1.07e9, 1.07e9)
    };
    values(rng, DType::I32, n, lo, hi)
}

#[test]
fn int32_full_sums_and_products_are_exact() {
    let mut rng = Rng(91);
    for op in [ReduceOp::Sum, ReduceOp::Prod] {
        for n in [1, 3, 4, 5, 15, 16, 17, 1003, (1 << 17) + 7, 300_001] {
            let k = int32_full(op, n);
            let v = int_values(&mut rng, op, n);
            check(&k, &[Buffer::from_f64s(DType::I32, &[n], &v)], 0.0, 0.0);
        }
    }
    // All +-2^31 - 1: the sum needs int64 from the second term.
    let n = 200_003;
    let v: Vec<f64> = (0..n)
        .map(|i| {
            if i % 3 == 0 {
                -2147483648.0
            } else {
                2147483647.0
            }
        })
        .collect();
    check(
        &int32_full(ReduceOp::Sum, n),
        &[Buffer::from_f64s(DType::I32, &[n], &v)],
        0.0,
        0.0,
    );
}

#[test]
fn int32_row_sums_and_products_are_exact() {
    let mut rng = Rng(92);
    for op in [ReduceOp::Sum, ReduceOp::Prod] {
        for (r, c) in [(1, 1), (3, 5), (37, 1001), (64, 4096), (5, 17)] {
            let k = int32_rows(op, r, c);
            let v = int_values(&mut rng, op, r * c);
            for strided in [false, true] {
                let buf = common::buffer(DType::I32, &[r, c], &v, strided);
                check(&k, &[buf], 0.0, 0.0);
            }
        }
    }
}

/// Row sums and products of a Fortran-ordered int32 array (`f.sum(axis=1)`, `x.T.sum(1)`):
/// the rows step across memory while the kept axis is contiguous, so the kernel takes its
/// wide column split with the column as the first index. Exact, against the interpreter.
#[test]
fn int32_row_sums_of_fortran_arrays_are_exact() {
    let mut rng = Rng(93);
    for op in [ReduceOp::Sum, ReduceOp::Prod] {
        for (r, c) in [(64, 12500), (37, 3001), (5, 17)] {
            let k = int32_rows(op, r, c);
            let v = int_values(&mut rng, op, r * c);
            // Element (i, j) at i + j * r.
            let mut f = vec![0.0; r * c];
            for i in 0..r {
                for j in 0..c {
                    f[i + j * r] = v[i * c + j];
                }
            }
            let mut buf = Buffer::from_f64s(DType::I32, &[r * c], &f);
            buf.strides = vec![1, r as isize];
            check(&k, &[buf], 0.0, 0.0);
        }
    }
}

#[test]
fn int32_sums_vectorize() {
    for op in [ReduceOp::Sum, ReduceOp::Prod] {
        let k = int32_full(op, 1 << 20);
        assert!(full_split(&k).is_some());
        let step = backend().compile(&k).expect("compile").vector_step();
        assert!(step > 1, "{op:?}: vector step {step}");
    }
}

fn float(dt: DType, v: f64) -> Scalar {
    if dt == DType::F32 {
        Scalar::F32(v as f32)
    } else {
        Scalar::F64(v)
    }
}

/// The three two-phase shapes: `(x - max x).sum()`, `exp(x - max x).sum()` and
/// `((x - sum x / n)^2).sum() / n`, one kernel each as fusion makes them.
fn two_phase(which: usize, dt: DType, n: usize) -> Kernel {
    let mut b = Builder::new("two_phase");
    let a = b.arg(dt, &[n], false);
    let out = b.arg(dt, &[], true);
    let first = if which == 2 {
        ReduceOp::Sum
    } else {
        ReduceOp::Max
    };
    let m = b.acc(first, dt);
    let i = b.open_loop(n, false);
    let x = b.load(a, &[i]);
    b.update(m, x);
    b.close_loop();
    let center = if which == 2 {
        let inv = b.konst(float(dt, 1.0 / n as f64));
        b.binary(BinaryOp::Mul, m, inv)
    } else {
        m
    };
    let s = b.acc(ReduceOp::Sum, dt);
    let i = b.open_loop(n, false);
    let x = b.load(a, &[i]);
    let d = b.binary(BinaryOp::Sub, x, center);
    let v = match which {
        0 => d,
        1 => b.unary(UnaryOp::Exp, d),
        _ => b.binary(BinaryOp::Mul, d, d),
    };
    b.update(s, v);
    b.close_loop();
    let r = if which == 2 {
        let inv = b.konst(float(dt, 1.0 / n as f64));
        b.binary(BinaryOp::Mul, s, inv)
    } else {
        s
    };
    b.store(out, &[], r);
    b.finish()
}

#[test]
fn two_phase_full_reductions_split_both_phases() {
    let mut rng = Rng(93);
    for dt in [DType::F32, DType::F64] {
        for which in 0..3 {
            for n in [1000, (1 << 17) + 3, 300_001] {
                let k = two_phase(which, dt, n);
                let phases = full_split(&k).map_or(0, |s| s.phases.len());
                assert_eq!(phases, if n >= 1 << 17 { 2 } else { 0 }, "{which} {n}");
                if phases > 0 {
                    let step = backend().compile(&k).expect("compile").vector_step();
                    assert!(step > 1, "{which} {dt} vector step {step}");
                }
                let mut v = values(&mut rng, dt, n, -4.0, 4.0);
                v[n / 2] = 7.5;
                let eps = if dt == DType::F32 { 1.2e-7 } else { 2.3e-16 };
                // Sums of values up to 16 (exp(0) = 1 at most, squares up to ~64).
                let tol = 4.0 * eps * n as f64 * 64.0;
                check(&k, &[Buffer::from_f64s(dt, &[n], &v)], 8.0, tol);
            }
        }
    }
}

/// A NaN in the first phase reaches the result; the same bits on every run.
#[test]
fn two_phase_nan_and_determinism() {
    let mut rng = Rng(94);
    let n = 1 << 20;
    let k = two_phase(1, DType::F32, n);
    let mut v = values(&mut rng, DType::F32, n, -30.0, 30.0);
    let compiled = backend().compile(&k).expect("compile");
    let mut first = None;
    for _ in 0..6 {
        let mut bufs = vec![
            Buffer::from_f64s(DType::F32, &[n], &v),
            Buffer::zeros(DType::F32, &[]),
        ];
        compiled.run_buffers(&mut bufs).expect("run");
        let bits = bufs[1].to_f64s()[0].to_bits();
        assert_eq!(*first.get_or_insert(bits), bits);
    }
    v[n - 5] = f64::NAN;
    check(&k, &[Buffer::from_f64s(DType::F32, &[n], &v)], 0.0, 0.0);
}

/// `out[j] = reduce_i int64(x[i, j])` over int32 `x`, or its mean as float64 (`mean`).
fn int32_columns(op: ReduceOp, r: usize, c: usize, mean: bool) -> Kernel {
    let mut b = Builder::new("i32_cols");
    let a = b.arg(DType::I32, &[r, c], false);
    let out = b.arg(if mean { DType::F64 } else { DType::I64 }, &[c], true);
    let j = b.open_loop(c, true);
    let acc = b.acc(op, DType::I64);
    let i = b.open_loop(r, false);
    let x = b.load(a, &[i, j]);
    let x = b.cast(DType::I64, x);
    b.update(acc, x);
    b.close_loop();
    let res = if mean {
        let f = b.cast(DType::F64, acc);
        let inv = b.konst(Scalar::F64(1.0 / r as f64));
        b.binary(BinaryOp::Mul, f, inv)
    } else {
        acc
    };
    b.store(out, &[j], res);
    b.close_loop();
    b.finish()
}

/// Int32 column sums (interchanged, widened into int64 states) at widths that leave scalar
/// columns, heights that leave partial row blocks, contiguous and strided.
#[test]
fn int32_column_sums_are_exact() {
    let mut rng = Rng(95);
    for (r, c) in [
        (4099, 64),
        (2053, 127),
        (520, 1025),
        (20_003, 9),
        (44_001, 3),
    ] {
        for op in [ReduceOp::Sum, ReduceOp::Prod] {
            for mean in [false, true] {
                if mean && op == ReduceOp::Prod {
                    continue;
                }
                let k = int32_columns(op, r, c, mean);
                let v = int_values(&mut rng, op, r * c);
                for strided in [false, true] {
                    let buf = common::buffer(DType::I32, &[r, c], &v, strided);
                    check(&k, &[buf], 1.0, 0.0);
                }
            }
        }
    }
}

/// `out[a, j] = reduce_i (x[a, i, j])` over a C-order `(A, B, C)` array, times 2 (`post`).
fn middle_kernel(op: ReduceOp, dt: DType, (a, r, c): (usize, usize, usize), post: bool) -> Kernel {
    let mut b = Builder::new("middle");
    let x = b.arg(dt, &[a, r, c], false);
    let out = b.arg(dt, &[a, c], true);
    let s = b.open_loop(a, true);
    let j = b.open_loop(c, false);
    let acc = b.acc(op, dt);
    let i = b.open_loop(r, false);
    let v = b.load(x, &[s, i, j]);
    b.update(acc, v);
    b.close_loop();
    let res = if post {
        let two = b.konst(match dt {
            DType::F32 => Scalar::F32(2.0),
            DType::F64 => Scalar::F64(2.0),
            _ => Scalar::I32(2),
        });
        b.binary(BinaryOp::Mul, acc, two)
    } else {
        acc
    };
    b.store(out, &[s, j], res);
    b.close_loop();
    b.close_loop();
    b.finish()
}

/// Middle-axis reductions (each slab interchanged: rows in memory order into a row of
/// states) at widths that leave scalar columns, heights that leave partial row blocks,
/// contiguous and strided (the ordinary lowering), with NaN and infinities.
#[test]
fn middle_axis_reductions_match_the_interpreter() {
    let mut rng = Rng(96);
    let shapes = [
        (5, 61, 1031),
        (64, 20, 259),
        (2, 9, 8195),
        (3, 37, 129),
        (7, 100, 66),
    ];
    for dt in [DType::F32, DType::F64, DType::I32] {
        for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod] {
            if dt == DType::I32 && matches!(op, ReduceOp::Sum | ReduceOp::Prod) {
                continue;
            }
            for (n, &shape) in shapes.iter().enumerate() {
                let post = n % 2 == 1 && op != ReduceOp::Prod;
                let k = middle_kernel(op, dt, shape, post);
                let (a, r, c) = shape;
                let (lo, hi) = if op == ReduceOp::Prod {
                    (0.999, 1.001)
                } else {
                    (-4.0, 4.0)
                };
                let mut v = values(&mut rng, dt, a * r * c, lo, hi);
                if dt.is_float() && op != ReduceOp::Prod {
                    v[c + c / 2] = f64::NAN;
                    v[a * r * c - 1] = f64::NAN;
                    v[3 * c + 1] = f64::INFINITY;
                    v[(a / 2) * r * c + 5] = f64::NEG_INFINITY;
                }
                let eps = if dt == DType::F32 { 1.2e-7 } else { 2.3e-16 };
                let tol = match op {
                    ReduceOp::Sum => 4.0 * eps * r as f64 * 8.0,
                    ReduceOp::Prod => 4.0 * eps * (r as f64).sqrt(),
                    _ => 0.0,
                };
                for strided in [false, true] {
                    let buf = common::buffer(dt, &[a, r, c], &v, strided);
                    check(&k, &[buf], 8.0, tol);
                }
            }
        }
    }
}

/// The same bits on every run of a middle-axis sum.
#[test]
fn middle_axis_sums_are_deterministic() {
    let mut rng = Rng(97);
    let (a, r, c) = (6, 300, 517);
    let k = middle_kernel(ReduceOp::Sum, DType::F32, (a, r, c), false);
    let v = values(&mut rng, DType::F32, a * r * c, -1e4, 1e4);
    let compiled = backend().compile(&k).expect("compile");
    let mut first: Option<Vec<u64>> = None;
    for _ in 0..6 {
        let mut bufs = vec![
            Buffer::from_f64s(DType::F32, &[a, r, c], &v),
            Buffer::zeros(DType::F32, &[a, c]),
        ];
        compiled.run_buffers(&mut bufs).expect("run");
        let bits: Vec<u64> = bufs[1].to_f64s().iter().map(|x| x.to_bits()).collect();
        assert_eq!(first.get_or_insert_with(|| bits.clone()), &bits);
    }
}
