//! Reductions large enough to split themselves over the thread pool (`cpu::lower::split`):
//! full reductions run in parts whose partial states fold in part order, and column
//! reductions run interchanged (rows outer) over blocks of rows. Every reduction and dtype
//! against the interpreter, at sizes with odd tails (rows, columns, parts), strided views
//! (which take the ordinary lowering), NaN and infinities, ties of argmax across parts, and
//! the same bits on every run.

mod common;

use common::{backend, buffer, check, values, Rng};
use ember_codegen::cpu::lower::split::full_split;
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::interp::Buffer;
use ember_ir::kernel::Kernel;
use ember_ir::{BinaryOp, DType, ReduceOp, Scalar, UnaryOp};

/// The dtype `op` folds for inputs of `dt`.
fn value_dtype(op: ReduceOp, dt: DType) -> DType {
    match op {
        ReduceOp::Any | ReduceOp::All => DType::Bool,
        ReduceOp::Sum | ReduceOp::Prod => dt.sum_result(),
        _ => dt,
    }
}

/// `out[] = reduce_i x[i]`: one reduction loop, no parallel loop.
fn full_kernel(op: ReduceOp, dt: DType, n: usize) -> Kernel {
    let mut b = Builder::new("full");
    let a = b.arg(dt, &[n], false);
    let vdt = value_dtype(op, dt);
    let out = b.arg(ember_ir::kernel::acc_result(op, vdt), &[], true);
    let acc = b.acc(op, vdt);
    let i = b.open_loop(n, false);
    let x = b.load(a, &[i]);
    let x = if vdt != dt { b.cast(vdt, x) } else { x };
    if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) {
        b.update_arg(acc, x, i);
    } else {
        b.update(acc, x);
    }
    b.close_loop();
    b.store(out, &[], acc);
    b.finish()
}

/// The tolerance (relative to `1 + |result|`) of a float reduction of `n` values of
/// magnitude at most `max`: sums within 4 eps of `sum |x|` (the documented bound; the
/// interpreter's sum is nearly exact), products within `sqrt(n)`-ish roundings (any order of
/// `n` products rounds differently), exact otherwise.
fn tol(op: ReduceOp, dt: DType, n: usize, max: f64) -> f64 {
    let eps = if dt == DType::F32 {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    };
    match op {
        ReduceOp::Sum if dt.is_float() => 4.0 * eps * n as f64 * max,
        ReduceOp::Prod if dt.is_float() => eps * 4.0 * (n as f64).sqrt(),
        _ => 0.0,
    }
}

fn range(op: ReduceOp) -> (f64, f64) {
    if op == ReduceOp::Prod {
        (0.999, 1.001)
    } else {
        (-10.0, 10.0)
    }
}

/// Every reduction of every dtype over lengths that split into parts with a short last part.
#[test]
fn full_reductions_match_the_interpreter() {
    let mut rng = Rng(81);
    for dt in DType::ALL {
        for &op in ReduceOp::ALL {
            for n in [(1 << 17) + 7, 300_001] {
                let k = full_kernel(op, dt, n);
                // Bool any/all are byte scans that stop early: they run unsplit.
                let scan = dt == DType::Bool && matches!(op, ReduceOp::Any | ReduceOp::All);
                assert_eq!(full_split(&k).is_some(), !scan, "{op:?} {dt} {n}: split?");
                let (lo, hi) = range(op);
                let vals = values(&mut rng, dt, n, lo, hi);
                let t = tol(op, dt, n, 10.0);
                check(&k, &[buffer(dt, &[n], &vals, false)], 4.0, t);
                check(&k, &[buffer(dt, &[n], &vals, true)], 4.0, t);
            }
        }
    }
}

/// NaN anywhere (the last part, the first element), infinities of both signs, and argmax /
/// argmin ties in different parts (the first one wins).
#[test]
fn full_reductions_nan_inf_and_ties() {
    let n = 400_003;
    for dt in [DType::F32, DType::F64] {
        for op in [
            ReduceOp::Sum,
            ReduceOp::Max,
            ReduceOp::Min,
            ReduceOp::ArgMax,
            ReduceOp::ArgMin,
        ] {
            let k = full_kernel(op, dt, n);
            let mut vals = vec![1.0; n];
            // Ties: the extreme values twice, in different parts.
            vals[7_000] = 5.0;
            vals[350_000] = 5.0;
            vals[9_000] = -5.0;
            vals[390_000] = -5.0;
            check(&k, &[Buffer::from_f64s(dt, &[n], &vals)], 0.0, 0.0);
            for at in [0, n - 1, n / 2] {
                let mut v = vals.clone();
                v[at] = f64::NAN;
                check(&k, &[Buffer::from_f64s(dt, &[n], &v)], 0.0, 0.0);
            }
            let mut v = vals.clone();
            v[11] = f64::INFINITY;
            check(&k, &[Buffer::from_f64s(dt, &[n], &v)], 0.0, 0.0);
            v[n - 2] = f64::NEG_INFINITY;
            check(&k, &[Buffer::from_f64s(dt, &[n], &v)], 0.0, 0.0);
        }
    }
}

/// A fused full reduction over a 2-d domain (`sum(exp(x + b[j])) * 0.5` and the max of the
/// same values, one kernel): the outer of two reduction loops splits.
#[test]
fn fused_two_level_full_reduction() {
    let mut rng = Rng(82);
    for dt in [DType::F32, DType::F64] {
        for (r, c) in [(1001, 257), (70_001, 3)] {
            let mut b = Builder::new("fused_full");
            let x = b.arg(dt, &[r, c], false);
            let bias = b.arg(dt, &[c], false);
            let out = b.arg(dt, &[], true);
            let out2 = b.arg(dt, &[], true);
            let s = b.acc(ReduceOp::Sum, dt);
            let m = b.acc(ReduceOp::Max, dt);
            let i = b.open_loop(r, false);
            let j = b.open_loop(c, false);
            let v = b.load(x, &[i, j]);
            let w = b.load(bias, &[j]);
            let v = b.binary(BinaryOp::Add, v, w);
            let e = b.unary(UnaryOp::Exp, v);
            b.update(s, e);
            b.update(m, e);
            b.close_loop();
            b.close_loop();
            let half = b.konst(if dt == DType::F32 {
                Scalar::F32(0.5)
            } else {
                Scalar::F64(0.5)
            });
            let h = b.binary(BinaryOp::Mul, s, half);
            b.store(out, &[], h);
            b.store(out2, &[], m);
            let k = b.finish();
            assert!(full_split(&k).is_some());
            let xv = values(&mut rng, dt, r * c, -2.0, 2.0);
            let bv = values(&mut rng, dt, c, -1.0, 1.0);
            let inputs = [
                buffer(dt, &[r, c], &xv, false),
                buffer(dt, &[c], &bv, false),
            ];
            check(&k, &inputs, 8.0, tol(ReduceOp::Sum, dt, r * c, 20.0));
        }
    }
}

/// The parts of a split reduction fold in a fixed order: the same bits on every run.
#[test]
fn split_reductions_are_deterministic() {
    let mut rng = Rng(83);
    let n = 1 << 20;
    let k = full_kernel(ReduceOp::Sum, DType::F32, n);
    let vals = values(&mut rng, DType::F32, n, -1e4, 1e4);
    let c = column_kernel(ReduceOp::Sum, DType::F32, 4099, 300, false);
    let cv = values(&mut rng, DType::F32, 4099 * 300, -1e4, 1e4);
    let compiled = backend().compile(&k).expect("compile");
    let compiled_c = backend().compile(&c).expect("compile");
    let mut first: Option<(Vec<f64>, Vec<f64>)> = None;
    for _ in 0..8 {
        let mut bufs = vec![
            Buffer::from_f64s(DType::F32, &[n], &vals),
            Buffer::zeros(DType::F32, &[]),
        ];
        compiled.run_buffers(&mut bufs).expect("run");
        let mut cb = vec![
            Buffer::from_f64s(DType::F32, &[4099, 300], &cv),
            Buffer::zeros(DType::F32, &[300]),
        ];
        compiled_c.run_buffers(&mut cb).expect("run");
        let got = (bufs[1].to_f64s(), cb[1].to_f64s());
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        match &first {
            None => first = Some(got),
            Some(f) => {
                assert_eq!(bits(&f.0), bits(&got.0));
                assert_eq!(bits(&f.1), bits(&got.1));
            }
        }
    }
}

/// `out[j] = reduce_i (x[i, j]^2 - x[i, j])`, then `* 2` (`post`), over an `r x c` array.
fn column_kernel(op: ReduceOp, dt: DType, r: usize, c: usize, post: bool) -> Kernel {
    let mut b = Builder::new("colsplit");
    let x = b.arg(dt, &[r, c], false);
    let out = b.arg(dt, &[c], true);
    let j = b.open_loop(c, true);
    let acc = b.acc(op, dt);
    let i = b.open_loop(r, false);
    let v = b.load(x, &[i, j]);
    let v = if post {
        let sq = b.binary(BinaryOp::Mul, v, v);
        b.binary(BinaryOp::Sub, sq, v)
    } else {
        v
    };
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
    b.store(out, &[j], res);
    b.finish()
}

/// Column reductions at widths around the vector width (scalar columns after the whole
/// vectors), heights that leave a partial block of rows in a part, contiguous (the split
/// form) and strided (the ordinary lowering over the pool), with NaN and infinities.
#[test]
fn column_reductions_match_the_interpreter() {
    let mut rng = Rng(84);
    let shapes = [
        (4099, 64),
        (2053, 127),
        (520, 1025),
        (20_003, 9),
        (44_001, 3),
    ];
    for dt in [DType::F32, DType::F64, DType::I32] {
        for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod] {
            for (n, &(r, c)) in shapes.iter().enumerate() {
                // The fused body and the scaled result on alternate shapes.
                let post = n % 2 == 1 && op != ReduceOp::Prod;
                let k = column_kernel(op, dt, r, c, post);
                let (lo, hi) = match (op, dt) {
                    (ReduceOp::Prod, DType::I32) => (0.0, 1.4),
                    (ReduceOp::Prod, _) => (0.999, 1.001),
                    _ => (-4.0, 4.0),
                };
                let mut vals = values(&mut rng, dt, r * c, lo, hi);
                if dt.is_float() && op != ReduceOp::Prod {
                    vals[c + c / 2] = f64::NAN;
                    vals[(r - 1) * c + c - 1] = f64::NAN;
                    vals[3 * c] = f64::INFINITY;
                    vals[(r / 2) * c] = f64::NEG_INFINITY;
                }
                let t = tol(op, dt, r, 16.0);
                for strided in [false, true] {
                    check(&k, &[buffer(dt, &[r, c], &vals, strided)], 8.0, t);
                }
            }
        }
    }
}

/// Wide column reductions with too few rows for two parts of rows (fewer than the interchange's
/// rows per part) but enough work to split: the interchange's cap on parts is 0 or 1, and
/// they run unsplit (they panicked choosing parts: `x.sum(axis=0)` of an 8 x 50000 array).
#[test]
fn column_reductions_with_too_few_rows_to_split() {
    use ember_codegen::cpu::lower::split::parts_for;
    assert_eq!(parts_for(1000, 1 << 20, 0), None);
    assert_eq!(parts_for(1000, 1 << 20, 1), None);
    assert!(parts_for(1000, 1 << 20, 2).is_some());
    let mut rng = Rng(86);
    for dt in [DType::F32, DType::F64, DType::I64] {
        for op in [ReduceOp::Sum, ReduceOp::Max] {
            for (r, c) in [(8, 50_000), (15, 20_000), (3, 100_000), (1, 200_000)] {
                let k = column_kernel(op, dt, r, c, false);
                let vals = values(&mut rng, dt, r * c, -4.0, 4.0);
                check(
                    &k,
                    &[buffer(dt, &[r, c], &vals, false)],
                    8.0,
                    tol(op, dt, r, 4.0),
                );
            }
        }
    }
}

/// Several accumulators in one column kernel (sum and max of the same values, the shape of a
/// horizontal merge) and a transposed view (unit stride along the rows: the ordinary form).
#[test]
fn column_reductions_with_two_accumulators_and_a_transposed_view() {
    let mut rng = Rng(85);
    for dt in [DType::F32, DType::F64] {
        let (r, c) = (3001, 130);
        let mut b = Builder::new("two");
        let x = b.arg(dt, &[r, c], false);
        let o1 = b.arg(dt, &[c], true);
        let o2 = b.arg(dt, &[c], true);
        let j = b.open_loop(c, true);
        let s = b.acc(ReduceOp::Sum, dt);
        let m = b.acc(ReduceOp::Min, dt);
        let i = b.open_loop(r, false);
        let v = b.load(x, &[i, j]);
        b.update(s, v);
        b.update(m, v);
        b.close_loop();
        b.store(o1, &[j], s);
        b.store(o2, &[j], m);
        let k = b.finish();
        let vals = values(&mut rng, dt, r * c, -3.0, 3.0);
        let tl = tol(ReduceOp::Sum, dt, r, 3.0);
        check(&k, &[buffer(dt, &[r, c], &vals, false)], 8.0, tl);
        // The same view over a column-major buffer.
        let mut t = vec![0.0; r * c];
        for a in 0..r {
            for bb in 0..c {
                t[bb * r + a] = vals[a * c + bb];
            }
        }
        let mut buf = Buffer::from_f64s(dt, &[c, r], &t);
        buf.strides = vec![1, r as isize];
        check(&k, &[buf], 8.0, tl);
    }
}

/// Float32 sums whose parts are finite but whose fold overflows: infinite, not NaN (the
/// compensation of an infinite sum is dropped), for both split forms.
#[test]
fn sums_that_overflow_only_when_parts_fold() {
    let dt = DType::F32;
    let n = 1_000_003;
    let k = full_kernel(ReduceOp::Sum, dt, n);
    let mut bufs = vec![
        Buffer::from_f64s(dt, &[n], &vec![1e33; n]),
        Buffer::zeros(dt, &[]),
    ];
    backend()
        .compile(&k)
        .expect("compile")
        .run_buffers(&mut bufs)
        .expect("run");
    assert_eq!(bufs[1].to_f64s()[0], f64::INFINITY);
    let (r, c) = (4099, 67);
    let k = column_kernel(ReduceOp::Sum, dt, r, c, false);
    let mut vals = vec![1.0; r * c];
    for row in 0..r {
        vals[row * c + 5] = 1e35; // a vector column
        vals[row * c + 66] = -1e35; // a scalar column
    }
    let mut bufs = vec![
        Buffer::from_f64s(dt, &[r, c], &vals),
        Buffer::zeros(dt, &[c]),
    ];
    backend()
        .compile(&k)
        .expect("compile")
        .run_buffers(&mut bufs)
        .expect("run");
    let got = bufs[1].to_f64s();
    assert_eq!(got[5], f64::INFINITY);
    assert_eq!(got[66], f64::NEG_INFINITY);
    assert_eq!(got[0], r as f64);
}
