//! Casts between float64 / int64 and int32 (and float64 -> int64) inside vector loops: the
//! loops vectorize, and every lane gives the interpreter's (NumPy x86-64) result, special
//! values included: NaN, ±inf and out-of-range floats give the integer minimum, -0.0 gives 0,
//! truncation toward zero, int64 -> int32 wraps. Contiguous buffers take the vector loop
//! (odd lengths leave a scalar tail), strided ones the scalar loop.

mod common;

use common::{backend, buffer, check, check_schedule, Rng};
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::Kernel;
use ember_ir::passes::fuse::partition;
use ember_ir::{BinaryOp, DType, Device, Graph, Literal, Op, ReduceOp, Scalar, UnaryOp, ValueType};

/// Float values around every edge of the int32 and int64 ranges, then random ones of every
/// magnitude, `n` in all.
fn float_edges(rng: &mut Rng, n: usize) -> Vec<f64> {
    let mut v = vec![
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        0.5,
        -0.5,
        0.9999999999999999,
        -0.9999999999999999,
        1.5,
        -1.5,
        2147483647.0,
        2147483647.9,
        2147483648.0,
        2147483648.5,
        -2147483648.0,
        -2147483648.9,
        -2147483649.0,
        4294967296.0,
        -4294967296.0,
        9007199254740993.0,
        9223372036854774784.0,
        9223372036854775808.0,
        -9223372036854775808.0,
        -9223372036854777856.0,
        1e300,
        -1e300,
        f64::MIN_POSITIVE,
        -5e-324,
        f64::MAX,
        f64::MIN,
    ];
    while v.len() < n {
        let s = if rng.next() & 1 == 0 { 1.0 } else { -1.0 };
        v.push(s * rng.uniform(-4.0, 66.0).exp2());
    }
    v.truncate(n);
    v
}

/// `out[i] = to(x[i])` for a float64 input.
fn cast_kernel(from: DType, to: DType, n: usize) -> Kernel {
    let mut b = Builder::new(format!("cast_{from}_{to}"));
    let a = b.arg(from, &[n], false);
    let o = b.arg(to, &[n], true);
    let i = b.open_loop(n, true);
    let x = b.load(a, &[i]);
    let c = b.cast(to, x);
    b.store(o, &[i], c);
    b.close_loop();
    b.finish()
}

fn assert_vectorized(k: &Kernel) {
    let c = backend().compile(k).unwrap();
    assert!(c.vector_step() > 1, "the loop vectorizes\n{k}");
}

#[test]
fn float64_to_int32_and_int64_special_values() {
    let mut rng = Rng(0xca57);
    for to in [DType::I32, DType::I64] {
        for n in [1, 2, 3, 37, 1001] {
            let k = cast_kernel(DType::F64, to, n);
            let xs = float_edges(&mut rng, n);
            for strided in [false, true] {
                check(&k, &[buffer(DType::F64, &[n], &xs, strided)], 0.0, 0.0);
            }
            if n >= 37 {
                assert_vectorized(&k);
            }
        }
    }
}

#[test]
fn float64_math_then_int32_store() {
    // `np.tanh(x).astype(np.int32)` and `(x * 3.5).astype(np.int32)`: float64 math, int32 stores.
    let mut rng = Rng(5);
    for n in [3, 100, 1001] {
        for op in [UnaryOp::Tanh, UnaryOp::Floor] {
            let mut b = Builder::new("math_cast");
            let a = b.arg(DType::F64, &[n], false);
            let o = b.arg(DType::I32, &[n], true);
            let i = b.open_loop(n, true);
            let x = b.load(a, &[i]);
            let k = b.konst(Scalar::F64(3.5));
            let t = b.unary(op, x);
            let m = b.binary(BinaryOp::Mul, t, k);
            let c = b.cast(DType::I32, m);
            b.store(o, &[i], c);
            b.close_loop();
            let k = b.finish();
            let xs = float_edges(&mut rng, n);
            for strided in [false, true] {
                check(&k, &[buffer(DType::F64, &[n], &xs, strided)], 0.0, 0.0);
            }
            if n >= 100 {
                assert_vectorized(&k);
            }
        }
    }
}

#[test]
fn int64_to_int32_wraps_in_vector_loops() {
    // int64 -> int32 (wrapping) -> float64 / 8 -> int32: `x.mean(dtype=np.int32)`'s epilogue.
    let mut rng = Rng(77);
    for n in [5, 1001] {
        let mut g = Graph::new();
        let x = g.input(ValueType::new(DType::I64, &[n]), Device::Cpu);
        let c = g.add(Op::Cast(DType::I32), &[x], None).unwrap();
        let f = g.add(Op::Cast(DType::F64), &[c], None).unwrap();
        let k = g
            .add(Op::Const(Literal::scalar(Scalar::F64(8.0))), &[], None)
            .unwrap();
        let d = g.add(Op::Binary(BinaryOp::Div), &[f, k], None).unwrap();
        let r = g.add(Op::Cast(DType::I32), &[d], None).unwrap();
        g.output(r).unwrap();
        assert_eq!(check_schedule(&g, &mut rng, (-6e9, 6e9), 0.0, 0.0), 1);
        let s = partition(&g).unwrap();
        assert_vectorized(&s.kernels()[0].kernel);
    }
}

#[test]
fn float64_to_int32_column_and_row_sums() {
    // `x.mean(axis=0 | 1, dtype=np.int32)`: float64 -> int32 -> int64 sums, small (the vector
    // loop across the columns) and large (the interchanged column split).
    let mut rng = Rng(31);
    for shape in [[7usize, 13], [33, 101], [600, 203]] {
        for axis in [0usize, 1] {
            let mut g = Graph::new();
            let x = g.input(ValueType::new(DType::F64, &shape), Device::Cpu);
            let c = g.add(Op::Cast(DType::I32), &[x], None).unwrap();
            let w = g.add(Op::Cast(DType::I64), &[c], None).unwrap();
            let s = g
                .add(
                    Op::Reduce {
                        op: ReduceOp::Sum,
                        axes: [axis].into_iter().collect(),
                        keepdims: false,
                    },
                    &[w],
                    None,
                )
                .unwrap();
            g.output(s).unwrap();
            check_schedule(&g, &mut rng, (-3e9, 3e9), 0.0, 0.0);
            if axis == 0 && shape[1] > 100 {
                assert_vectorized(&partition(&g).unwrap().kernels()[0].kernel);
            }
        }
    }
}

/// Every pair of int32 edge values (signs, zero, ±1, the range's ends), then random pairs.
fn int32_pairs(rng: &mut Rng, n: usize) -> (Vec<f64>, Vec<f64>) {
    let edges = [
        0i64,
        1,
        -1,
        2,
        -3,
        7,
        46341,
        -65536,
        i32::MAX as i64,
        i32::MIN as i64,
        i32::MIN as i64 + 1,
        1234567890,
    ];
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &x in &edges {
        for &y in &edges {
            a.push(x as f64);
            b.push(y as f64);
        }
    }
    while a.len() < n {
        a.push(rng.uniform(-2147483648.0, 2147483647.0).floor());
        b.push(rng.uniform(-70000.0, 70000.0).floor());
    }
    a.truncate(n);
    b.truncate(n);
    (a, b)
}

#[test]
fn int32_ops_feeding_float64_vectorize() {
    // `(x op y).astype(np.float64) * 0.5`, the int32 result also stored, and `((x op y) + x)`
    // chained: int32 arithmetic on the narrow pairs of a float64 loop, bit for bit.
    let mut rng = Rng(7882);
    for n in [3, 151, 1001] {
        let (xs, ys) = int32_pairs(&mut rng, n);
        for op in [
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Max,
            BinaryOp::Min,
            BinaryOp::FloorDiv,
            BinaryOp::Rem,
        ] {
            let mut b = Builder::new("narrow_int_op");
            let (ax, ay) = (
                b.arg(DType::I32, &[n], false),
                b.arg(DType::I32, &[n], false),
            );
            let of = b.arg(DType::F64, &[n], true);
            let oi = b.arg(DType::I32, &[n], true);
            let i = b.open_loop(n, true);
            let (x, y) = (b.load(ax, &[i]), b.load(ay, &[i]));
            let r = b.binary(op, x, y);
            let r2 = b.binary(BinaryOp::Add, r, x);
            let f = b.cast(DType::F64, r2);
            let h = b.konst(Scalar::F64(0.5));
            let m = b.binary(BinaryOp::Mul, f, h);
            b.store(of, &[i], m);
            b.store(oi, &[i], r);
            b.close_loop();
            let k = b.finish();
            for strided in [false, true] {
                let ins = [
                    buffer(DType::I32, &[n], &xs, strided),
                    buffer(DType::I32, &[n], &ys, strided),
                ];
                check(&k, &ins, 0.0, 0.0);
            }
            if n > 100 {
                assert_vectorized(&k);
            }
        }
    }
}

#[test]
fn int32_remainder_into_float64_log1p_and_row_sums() {
    // Seed 7882: `v = np.log1p(a % a); v.sum(axis=-1)` for an int32 `a` (zero divisors
    // give 0), and the row sums of `(a % 3) * 1.5` over wider rows.
    let mut rng = Rng(78);
    for (rows, cols) in [(5, 31), (9, 200)] {
        let n = rows * cols;
        let xs: Vec<f64> = (0..n).map(|_| rng.uniform(-6.0, 6.0).floor()).collect();
        for same in [true, false] {
            let mut b = Builder::new("rem_log1p_sum");
            let a = b.arg(DType::I32, &[rows, cols], false);
            let ov = b.arg(DType::F64, &[rows, cols], true);
            let os = b.arg(DType::F64, &[rows], true);
            let r = b.open_loop(rows, true);
            let acc = b.acc(ReduceOp::Sum, DType::F64);
            let c = b.open_loop(cols, false);
            let x = b.load(a, &[r, c]);
            let v = if same {
                let m = b.binary(BinaryOp::Rem, x, x);
                let f = b.cast(DType::F64, m);
                b.unary(UnaryOp::Log1p, f)
            } else {
                let three = b.konst(Scalar::I32(3));
                let m = b.binary(BinaryOp::Rem, x, three);
                let f = b.cast(DType::F64, m);
                let k = b.konst(Scalar::F64(1.5));
                b.binary(BinaryOp::Mul, f, k)
            };
            b.update(acc, v);
            b.store(ov, &[r, c], v);
            b.close_loop();
            b.store(os, &[r], acc);
            b.close_loop();
            let k = b.finish();
            for strided in [false, true] {
                check(
                    &k,
                    &[buffer(DType::I32, &[rows, cols], &xs, strided)],
                    1.0,
                    1e-15,
                );
            }
        }
    }
}

#[test]
fn int32_ops_with_a_constant_feeding_float64_vectorize() {
    // `(x % k).astype(np.float64)` and `x // k`, `x * k` for a Python-int `k` (zero too):
    // the constant splats into the narrow pairs.
    let mut rng = Rng(3);
    let n = 1001;
    let (xs, _) = int32_pairs(&mut rng, n);
    for op in [BinaryOp::Rem, BinaryOp::FloorDiv, BinaryOp::Mul] {
        for kv in [3, -7, 0, -1] {
            let mut b = Builder::new("narrow_int_const");
            let ax = b.arg(DType::I32, &[n], false);
            let of = b.arg(DType::F64, &[n], true);
            let i = b.open_loop(n, true);
            let x = b.load(ax, &[i]);
            let k = b.konst(Scalar::I32(kv));
            let r = b.binary(op, x, k);
            let f = b.cast(DType::F64, r);
            b.store(of, &[i], f);
            b.close_loop();
            let k = b.finish();
            for strided in [false, true] {
                check(&k, &[buffer(DType::I32, &[n], &xs, strided)], 0.0, 0.0);
            }
            assert_vectorized(&k);
        }
    }
}
