//! Hand-built kernels compiled by the CPU backend and checked against the interpreter over odd
//! sizes (tail loops), broadcast (stride 0) and strided inputs.

mod common;

use common::{buffer, check, values, Rng};
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::Kernel;
use ember_ir::{BinaryOp, DType, ReduceOp, Scalar, UnaryOp};

/// `tanh(a*b+c)*0.5 + a/(1+exp(-b))` over `n` elements.
fn w1(dt: DType, n: usize) -> Kernel {
    let mut b = Builder::new("w1");
    let (a0, a1, a2) = (
        b.arg(dt, &[n], false),
        b.arg(dt, &[n], false),
        b.arg(dt, &[n], false),
    );
    let out = b.arg(dt, &[n], true);
    let i = b.open_loop(n, true);
    let (x, y, z) = (b.load(a0, &[i]), b.load(a1, &[i]), b.load(a2, &[i]));
    let c = |v: f64| {
        if dt == DType::F32 {
            Scalar::F32(v as f32)
        } else {
            Scalar::F64(v)
        }
    };
    let m = b.binary(BinaryOp::Mul, x, y);
    let s = b.binary(BinaryOp::Add, m, z);
    let t = b.unary(UnaryOp::Tanh, s);
    let half = b.konst(c(0.5));
    let t = b.binary(BinaryOp::Mul, t, half);
    let ny = b.unary(UnaryOp::Neg, y);
    let e = b.unary(UnaryOp::Exp, ny);
    let one = b.konst(c(1.0));
    let d = b.binary(BinaryOp::Add, one, e);
    let q = b.binary(BinaryOp::Div, x, d);
    let r = b.binary(BinaryOp::Add, t, q);
    b.store(out, &[i], r);
    b.finish()
}

/// The op a [`map_kernel`] applies.
enum Map {
    Unary(UnaryOp),
    Binary(BinaryOp),
}

/// `out[i] = op(a[i])` (or `op(a[i], b[i])`) over `n` elements of `dt` into `rdt`: the
/// elementwise kernel most tests here compile.
fn map_kernel(name: &str, dt: DType, rdt: DType, n: usize, parallel: bool, op: Map) -> Kernel {
    let mut b = Builder::new(name);
    let args = match op {
        Map::Unary(_) => vec![b.arg(dt, &[n], false)],
        Map::Binary(_) => vec![b.arg(dt, &[n], false), b.arg(dt, &[n], false)],
    };
    let o = b.arg(rdt, &[n], true);
    let i = b.open_loop(n, parallel);
    let xs: Vec<_> = args.iter().map(|&a| b.load(a, &[i])).collect();
    let r = match op {
        Map::Unary(op) => b.unary(op, xs[0]),
        Map::Binary(op) => b.binary(op, xs[0], xs[1]),
    };
    b.store(o, &[i], r);
    b.finish()
}

#[test]
fn w1_matches_interpreter_on_odd_sizes_and_strides() {
    let mut rng = Rng(7);
    for dt in [DType::F32, DType::F64] {
        for n in [0, 1, 3, 7, 8, 9, 17, 64, 101, 1000] {
            for strided in [false, true] {
                let k = w1(dt, n);
                let ins: Vec<_> = (0..3)
                    .map(|_| buffer(dt, &[n], &values(&mut rng, dt, n, -4.0, 4.0), strided))
                    .collect();
                check(&k, &ins, 4.0, 1e-6);
            }
        }
    }
}

#[test]
fn large_w1_runs_in_parallel() {
    let mut rng = Rng(3);
    let n = 100_003;
    let k = w1(DType::F32, n);
    let ins: Vec<_> = (0..3)
        .map(|_| {
            buffer(
                DType::F32,
                &[n],
                &values(&mut rng, DType::F32, n, -3.0, 3.0),
                false,
            )
        })
        .collect();
    check(&k, &ins, 4.0, 1e-6);
}

/// `out[i, j] = x[i, j] op y[j]` (y broadcast over rows by a stride-0... by indexing only j).
#[test]
fn broadcast_rows_and_every_binary_op() {
    let mut rng = Rng(11);
    for dt in DType::ALL {
        for &op in BinaryOp::ALL {
            if ember_ir::kernel::binary_result(op, dt).is_err() {
                continue;
            }
            let (r, c) = (3, 13);
            let mut b = Builder::new("bcast");
            let (ax, ay) = (b.arg(dt, &[r, c], false), b.arg(dt, &[c], false));
            let rdt = ember_ir::kernel::binary_result(op, dt).unwrap();
            let out = b.arg(rdt, &[r, c], true);
            let i = b.open_loop(r, true);
            let j = b.open_loop(c, false);
            let (x, y) = (b.load(ax, &[i, j]), b.load(ay, &[j]));
            let v = b.binary(op, x, y);
            b.store(out, &[i, j], v);
            let k = b.finish();
            let (lo, hi) = if op == BinaryOp::Pow {
                (0.0, 3.0)
            } else {
                (-5.0, 5.0)
            };
            let xs = buffer(dt, &[r, c], &values(&mut rng, dt, r * c, lo, hi), false);
            let ys = buffer(dt, &[c], &values(&mut rng, dt, c, lo, hi), false);
            check(&k, &[xs, ys], 2.0, 0.0);
        }
    }
}

#[test]
fn every_unary_op_and_cast() {
    let mut rng = Rng(5);
    for dt in DType::ALL {
        for &op in UnaryOp::ALL {
            let Ok(rdt) = ember_ir::kernel::unary_result(op, dt) else {
                continue;
            };
            let n = 37;
            let k = map_kernel("unary", dt, rdt, n, false, Map::Unary(op));
            let (lo, hi) = match op {
                UnaryOp::Asin | UnaryOp::Acos => (-1.0, 1.0),
                UnaryOp::Log | UnaryOp::Sqrt => (0.01, 50.0),
                _ => (-6.0, 6.0),
            };
            let mut vals = values(&mut rng, dt, n, lo, hi);
            vals[0] = 0.0;
            check(&k, &[buffer(dt, &[n], &vals, false)], 4.0, 1e-6);
        }
        for to in DType::ALL {
            let n = 21;
            let mut b = Builder::new("cast");
            let a = b.arg(dt, &[n], false);
            let out = b.arg(to, &[n], true);
            let i = b.open_loop(n, false);
            let x = b.load(a, &[i]);
            let v = b.cast(to, x);
            b.store(out, &[i], v);
            let k = b.finish();
            let vals = values(&mut rng, dt, n, -1e3, 1e3);
            check(&k, &[buffer(dt, &[n], &vals, true)], 0.0, 0.0);
        }
    }
}

/// Row reductions `out[i] = reduce_j x[i, j]` for every reduction and dtype.
#[test]
fn row_reductions() {
    let mut rng = Rng(9);
    for dt in DType::ALL {
        for &op in ReduceOp::ALL {
            for (r, c) in [(1, 1), (4, 9), (3, 64), (2, 1001)] {
                let mut b = Builder::new("reduce");
                let a = b.arg(dt, &[r, c], false);
                let vdt = match op {
                    ReduceOp::Any | ReduceOp::All => DType::Bool,
                    ReduceOp::Sum | ReduceOp::Prod => dt.sum_result(),
                    _ => dt,
                };
                let rdt = ember_ir::kernel::acc_result(op, vdt);
                let out = b.arg(rdt, &[r], true);
                let i = b.open_loop(r, true);
                let acc = b.acc(op, vdt);
                let j = b.open_loop(c, false);
                let x = b.load(a, &[i, j]);
                let x = if vdt != dt { b.cast(vdt, x) } else { x };
                if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) {
                    b.update_arg(acc, x, j);
                } else {
                    b.update(acc, x);
                }
                b.close_loop();
                b.store(out, &[i], acc);
                let k = b.finish();
                let (lo, hi) = if op == ReduceOp::Prod {
                    (0.5, 1.5)
                } else {
                    (-10.0, 10.0)
                };
                let vals = values(&mut rng, dt, r * c, lo, hi);
                check(&k, &[buffer(dt, &[r, c], &vals, c % 2 == 0)], 4.0, 1e-9);
            }
        }
    }
}

/// Softmax over rows as one kernel: max, sum of `exp(x - max)`, then the normalized row.
/// With `readback` the sum phase also stores `exp(x - max)` in the output row and the last
/// phase reads it back (the fusion pass's form); without, the last phase recomputes it.
fn softmax_kernel(r: usize, c: usize, readback: bool) -> Kernel {
    let dt = DType::F32;
    let mut b = Builder::new(if readback {
        "softmax_readback"
    } else {
        "softmax"
    });
    let a = b.arg(dt, &[r, c], false);
    let out = b.arg(dt, &[r, c], true);
    let i = b.open_loop(r, true);
    let m = b.acc(ReduceOp::Max, dt);
    let j = b.open_loop(c, false);
    let x = b.load(a, &[i, j]);
    b.update(m, x);
    b.close_loop();
    let exp_shifted = |b: &mut Builder, j| {
        let x = b.load(a, &[i, j]);
        let d = b.binary(BinaryOp::Sub, x, m);
        b.unary(UnaryOp::Exp, d)
    };
    let s = b.acc(ReduceOp::Sum, dt);
    let j = b.open_loop(c, false);
    let e = exp_shifted(&mut b, j);
    b.update(s, e);
    if readback {
        b.store(out, &[i, j], e);
    }
    b.close_loop();
    let j = b.open_loop(c, false);
    let e = if readback {
        b.load(out, &[i, j])
    } else {
        exp_shifted(&mut b, j)
    };
    let q = b.binary(BinaryOp::Div, e, s);
    b.store(out, &[i, j], q);
    b.finish()
}

/// Softmax as one kernel: max, sum of exp, then the normalized row.
#[test]
fn softmax_row_kernel() {
    let mut rng = Rng(13);
    for (r, c) in [(1, 1), (3, 5), (7, 33), (64, 100)] {
        let dt = DType::F32;
        let k = softmax_kernel(r, c, false);
        let vals = values(&mut rng, dt, r * c, -20.0, 20.0);
        check(&k, &[buffer(dt, &[r, c], &vals, false)], 4.0, 1e-7);
    }
}

/// Softmax as the fusion pass emits it: the sum phase stores `exp(x - max)` in the output row,
/// the last phase reads it back and divides (the IR's read-back rule), vector and scalar paths.
#[test]
fn softmax_reads_back_exp_from_the_output_row() {
    let mut rng = Rng(14);
    for (r, c) in [(1, 1), (3, 5), (7, 33), (64, 100), (2, 4096)] {
        let dt = DType::F32;
        let k = softmax_kernel(r, c, true);
        let vals = values(&mut rng, dt, r * c, -20.0, 20.0);
        check(&k, &[buffer(dt, &[r, c], &vals, false)], 4.0, 1e-7);
        check(&k, &[buffer(dt, &[r, c], &vals, true)], 4.0, 1e-7);
    }
}

#[test]
fn structurally_equal_kernels_compile_once() {
    let be = ember_codegen::cpu::CpuBackend::new().unwrap();
    let mut k1 = w1(DType::F32, 50);
    k1.name = "first".into();
    let mut k2 = w1(DType::F32, 50);
    k2.name = "second".into();
    let c1 = be.compile(&k1).unwrap();
    let c2 = be.compile(&k2).unwrap();
    assert!(std::sync::Arc::ptr_eq(&c1, &c2));
    assert_eq!(be.cache_stats(), (1, 1));
}

/// A stride-0 argument (a scalar broadcast by the caller) and a reversed (negative stride)
/// view.
#[test]
fn zero_and_negative_strides() {
    let n = 45;
    let k = w1(DType::F32, n);
    let mut rng = Rng(77);
    let a = buffer(
        DType::F32,
        &[n],
        &values(&mut rng, DType::F32, n, -2.0, 2.0),
        false,
    );
    let mut b = ember_ir::kernel::interp::Buffer::from_f64s(DType::F32, &[1], &[0.75]);
    b.strides = vec![0];
    let mut c = buffer(
        DType::F32,
        &[n],
        &values(&mut rng, DType::F32, n, -2.0, 2.0),
        false,
    );
    c.offset = n - 1;
    c.strides = vec![-1];
    check(&k, &[a, b, c], 4.0, 1e-6);
}

/// Several threads launching large kernels at once: the pool serves one, the others run on
/// their own threads; every result is right.
#[test]
fn concurrent_launches() {
    let n = 70_001;
    let k = w1(DType::F32, n);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let k = k.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(100 + t);
                let ins: Vec<_> = (0..3)
                    .map(|_| {
                        buffer(
                            DType::F32,
                            &[n],
                            &values(&mut rng, DType::F32, n, -3.0, 3.0),
                            false,
                        )
                    })
                    .collect();
                check(&k, &ins, 4.0, 1e-6);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
}

/// Max/min/argmax over rows holding NaN and infinities at various positions (vector lanes,
/// unrolled copies and the scalar tail).
#[test]
fn reductions_propagate_nan() {
    for dt in [DType::F32, DType::F64] {
        for op in [
            ReduceOp::Max,
            ReduceOp::Min,
            ReduceOp::ArgMax,
            ReduceOp::ArgMin,
            ReduceOp::Sum,
        ] {
            let (r, c) = (23, 19);
            let mut b = Builder::new("nanred");
            let a = b.arg(dt, &[r, c], false);
            let out = b.arg(ember_ir::kernel::acc_result(op, dt), &[r], true);
            let i = b.open_loop(r, true);
            let acc = b.acc(op, dt);
            let j = b.open_loop(c, false);
            let x = b.load(a, &[i, j]);
            if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) {
                b.update_arg(acc, x, j);
            } else {
                b.update(acc, x);
            }
            b.close_loop();
            b.store(out, &[i], acc);
            let k = b.finish();
            let mut vals: Vec<f64> = (0..r * c).map(|t| ((t * 37) % 11) as f64 - 5.0).collect();
            for row in 0..r {
                // Row `row` gets a NaN at column `row - 2` (rows 0 and 1 stay clean), and
                // infinities elsewhere.
                if row >= 2 && row - 2 < c {
                    vals[row * c + row - 2] = f64::NAN;
                }
                vals[row * c + (row * 5) % c] = if row % 2 == 0 {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                };
            }
            let input = buffer(dt, &[r, c], &vals, false);
            if op == ReduceOp::Sum {
                // Rows 0 and 1 hold one infinity and no NaN: the sum is that infinity.
                let mut bufs = vec![
                    input.clone(),
                    ember_ir::kernel::interp::Buffer::zeros(dt, &[r]),
                ];
                ember_ir::kernel::interp::run(&k, &mut bufs).unwrap();
                let sums = bufs[1].to_f64s();
                assert_eq!((sums[0], sums[1]), (f64::INFINITY, f64::NEG_INFINITY));
                assert!(sums[2].is_nan());
            }
            check(&k, &[input], 0.0, 0.0);
        }
    }
}

/// Bool arrays loaded and stored by vector loops: `(m & (x > 0)) | !n` and a pure-bool loop.
#[test]
fn bool_loads_and_stores() {
    let mut rng = Rng(31);
    for dt in [DType::F32, DType::F64, DType::I32] {
        for n in [1, 5, 8, 9, 16, 23, 64, 67] {
            for pure in [false, true] {
                let mut b = Builder::new("bools");
                let am = b.arg(DType::Bool, &[n], false);
                let an = b.arg(DType::Bool, &[n], false);
                let ax = b.arg(dt, &[n], false);
                let out = b.arg(DType::Bool, &[n], true);
                let i = b.open_loop(n, false);
                let m = b.load(am, &[i]);
                let nn = b.load(an, &[i]);
                let p = if pure {
                    m
                } else {
                    let x = b.load(ax, &[i]);
                    let z = b.konst(match dt {
                        DType::F32 => Scalar::F32(0.0),
                        DType::F64 => Scalar::F64(0.0),
                        _ => Scalar::I32(0),
                    });
                    let gt = b.binary(BinaryOp::Gt, x, z);
                    b.binary(BinaryOp::And, m, gt)
                };
                let nn = b.unary(UnaryOp::LogicalNot, nn);
                let r = b.binary(BinaryOp::Or, p, nn);
                b.store(out, &[i], r);
                let k = b.finish();
                for strided in [false, true] {
                    let ins = vec![
                        buffer(
                            DType::Bool,
                            &[n],
                            &values(&mut rng, DType::Bool, n, 0.0, 1.0),
                            strided,
                        ),
                        buffer(
                            DType::Bool,
                            &[n],
                            &values(&mut rng, DType::Bool, n, 0.0, 1.0),
                            false,
                        ),
                        buffer(dt, &[n], &values(&mut rng, dt, n, -3.0, 3.0), strided),
                    ];
                    check(&k, &ins, 0.0, 0.0);
                }
            }
        }
    }
}

/// Column reductions `out[n] = reduce_m x[m, n]` (vectorized across n with one accumulator
/// per lane) and middle-axis reductions of 3-d arrays, NaN included.
#[test]
fn column_and_middle_axis_reductions() {
    let mut rng = Rng(61);
    for dt in [DType::F32, DType::F64] {
        for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod] {
            for (a, m, n) in [(1, 5, 9), (1, 17, 16), (2, 3, 33), (3, 1, 8)] {
                let mut b = Builder::new("colred");
                let x = b.arg(dt, &[a, m, n], false);
                let out = b.arg(dt, &[a, n], true);
                let i = b.open_loop(a, true);
                let j = b.open_loop(n, false);
                let acc = b.acc(op, dt);
                let k = b.open_loop(m, false);
                let v = b.load(x, &[i, k, j]);
                let sq = b.binary(BinaryOp::Mul, v, v);
                let v = b.binary(BinaryOp::Sub, sq, v);
                b.update(acc, v);
                b.close_loop();
                let two = b.konst(if dt == DType::F32 {
                    Scalar::F32(2.0)
                } else {
                    Scalar::F64(2.0)
                });
                let r = b.binary(BinaryOp::Mul, acc, two);
                b.store(out, &[i, j], r);
                let kern = b.finish();
                let (lo, hi) = if op == ReduceOp::Prod {
                    (0.9, 1.6)
                } else {
                    (-4.0, 4.0)
                };
                let mut vals = values(&mut rng, dt, a * m * n, lo, hi);
                if n > 10 {
                    vals[n + 3] = f64::NAN;
                }
                for strided in [false, true] {
                    check(&kern, &[buffer(dt, &[a, m, n], &vals, strided)], 8.0, 1e-6);
                }
            }
        }
    }
}

/// Integer division edge cases: by zero gives 0, `MIN // -1` and `MIN % -1` wrap (no trap, no
/// panic in the helper).
#[test]
fn integer_division_edges() {
    for dt in [DType::I32, DType::I64] {
        for op in [BinaryOp::FloorDiv, BinaryOp::Rem, BinaryOp::Pow] {
            let (min, n) = (
                if dt == DType::I32 {
                    i32::MIN as f64
                } else {
                    -9.223372036854776e18
                },
                8,
            );
            let a = [min, min, 7.0, -7.0, 0.0, 5.0, -5.0, 3.0];
            let bv = [-1.0, 0.0, 0.0, 2.0, -3.0, -2.0, 3.0, 40.0];
            let k = map_kernel("idiv", dt, dt, n, false, Map::Binary(op));
            let ins = [
                ember_ir::kernel::interp::Buffer::from_f64s(dt, &[n], &a),
                ember_ir::kernel::interp::Buffer::from_f64s(dt, &[n], &bv),
            ];
            check(&k, &ins, 0.0, 0.0);
        }
    }
}

/// Integer `floor_divide` and `%` are inline divides (not calls into Rust): int32 and int64
/// over every pair of edge values (the range's ends, `MIN // -1`, zero divisors, signs), and
/// with constant divisors, which Cranelift turns into multiplies, give the interpreter's
/// results bit for bit.
#[test]
fn integer_division_inline_and_by_constants() {
    let edges: Vec<i64> = vec![
        0,
        1,
        -1,
        2,
        -2,
        7,
        -7,
        1 << 40,
        -(1 << 40),
        i64::MAX,
        i64::MIN,
        i64::MAX - 1,
        i64::MIN + 1,
        i32::MAX as i64,
        i32::MIN as i64,
        1234567890123,
        -987654321987,
    ];
    for dt in [DType::I32, DType::I64] {
        let fit = |v: i64| if dt == DType::I32 { v as i32 as i64 } else { v };
        let (mut a, mut bv) = (Vec::new(), Vec::new());
        for &x in &edges {
            for &y in &edges {
                a.push(fit(x));
                bv.push(fit(y));
            }
        }
        let n = a.len();
        let bits = |v: &[i64]| {
            let mut buf = ember_ir::kernel::interp::Buffer::zeros(dt, &[v.len()]);
            buf.data = v
                .iter()
                .flat_map(|&x| {
                    if dt == DType::I32 {
                        (x as i32).to_le_bytes().to_vec()
                    } else {
                        x.to_le_bytes().to_vec()
                    }
                })
                .collect();
            buf
        };
        for op in [BinaryOp::FloorDiv, BinaryOp::Rem] {
            let k = map_kernel("idiv", dt, dt, n, false, Map::Binary(op));
            check(&k, &[bits(&a), bits(&bv)], 0.0, 0.0);
            for &c in &edges {
                let c = fit(c);
                let mut b = Builder::new("idiv_const");
                let aa = b.arg(dt, &[n], false);
                let o = b.arg(dt, &[n], true);
                let i = b.open_loop(n, false);
                let x = b.load(aa, &[i]);
                let k = b.konst(if dt == DType::I32 {
                    Scalar::I32(c as i32)
                } else {
                    Scalar::I64(c)
                });
                let r = b.binary(op, x, k);
                b.store(o, &[i], r);
                check(&b.finish(), &[bits(&a)], 0.0, 0.0);
            }
        }
    }
}

/// `maximum`/`minimum` return the second operand on ties and propagate NaN from either side;
/// `relu(-0.0)` is `+0.0` and `sign(±0.0)` is `+0.0` (NumPy on x86-64). The check compares
/// zeros' signs, in the vector and the scalar loop.
#[test]
fn max_min_relu_and_sign_of_signed_zeros_and_nan() {
    let special = [-0.0, 0.0, f64::NAN, 1.0, -1.0, f64::INFINITY];
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &x in &special {
        for &y in &special {
            xs.push(x);
            ys.push(y);
        }
    }
    let n = xs.len();
    for dt in [DType::F32, DType::F64] {
        for op in [BinaryOp::Max, BinaryOp::Min] {
            let k = map_kernel("maxmin", dt, dt, n, false, Map::Binary(op));
            for strided in [false, true] {
                let ins = [
                    buffer(dt, &[n], &xs, strided),
                    buffer(dt, &[n], &ys, strided),
                ];
                check(&k, &ins, 0.0, 0.0);
            }
        }
        for op in [UnaryOp::Relu, UnaryOp::Sign] {
            let k = map_kernel("unary", dt, dt, n, false, Map::Unary(op));
            for strided in [false, true] {
                check(&k, &[buffer(dt, &[n], &xs, strided)], 0.0, 0.0);
            }
        }
    }
}

/// int64 loops run as 2-lane vectors: wrapping arithmetic, signed comparisons, max/min, the
/// integer unary ops and reductions at the extremes of the range (where a 32-bit lane or an
/// unsigned compare would show), with tails and strides, against the interpreter.
#[test]
fn int64_vector_loops_at_the_extremes() {
    let dt = DType::I64;
    // f64 values the buffers convert to i64: the range's ends (saturated), values whose
    // products and squares wrap, and small ones.
    let edge = [
        -9.3e18,
        9.3e18,
        4.6e18,
        -4.6e18,
        3037000500.0,
        -3037000500.0,
        1.0,
        -1.0,
        0.0,
        2.0,
        4294967296.0,
        -4294967297.0,
        123456789012.0,
    ];
    let n = 41;
    let xs: Vec<f64> = (0..n).map(|i| edge[i % edge.len()]).collect();
    let ys: Vec<f64> = (0..n).map(|i| edge[(i * 7 + 3) % edge.len()]).collect();
    for &op in BinaryOp::ALL {
        if !ember_codegen::cpu::ops::binary_vectorizes(op, dt) {
            continue;
        }
        let rdt = ember_ir::kernel::binary_result(op, dt).unwrap();
        let k = map_kernel("i64_binary", dt, rdt, n, true, Map::Binary(op));
        let step = common::backend().compile(&k).unwrap().vector_step();
        assert!(step >= 2, "{op} on int64 did not vectorize");
        for strided in [false, true] {
            let ins = [
                buffer(dt, &[n], &xs, strided),
                buffer(dt, &[n], &ys, strided),
            ];
            check(&k, &ins, 0.0, 0.0);
        }
    }
    for &op in UnaryOp::ALL {
        if !ember_codegen::cpu::ops::unary_vectorizes(op, dt) {
            continue;
        }
        let rdt = ember_ir::kernel::unary_result(op, dt).unwrap();
        let k = map_kernel("i64_unary", dt, rdt, n, true, Map::Unary(op));
        let step = common::backend().compile(&k).unwrap().vector_step();
        assert!(step >= 2, "{op} on int64 did not vectorize");
        check(&k, &[buffer(dt, &[n], &xs, false)], 0.0, 0.0);
    }
    for op in [ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min] {
        let (r, c) = (3, 29);
        let vals: Vec<f64> = (0..r * c).map(|i| edge[(i * 5 + 1) % edge.len()]).collect();
        let mut b = Builder::new("i64_reduce");
        let a = b.arg(dt, &[r, c], false);
        let o = b.arg(dt, &[r], true);
        let i = b.open_loop(r, true);
        let acc = b.acc(op, dt);
        let j = b.open_loop(c, false);
        let x = b.load(a, &[i, j]);
        b.update(acc, x);
        b.close_loop();
        b.store(o, &[i], acc);
        b.close_loop();
        let k = b.finish();
        for strided in [false, true] {
            check(&k, &[buffer(dt, &[r, c], &vals, strided)], 0.0, 0.0);
        }
    }
}

/// int64 -> float64 casts (NumPy's true division and mean of integers) in the vector loop:
/// exact below 2^53, rounded to nearest above, at the range's ends.
#[test]
fn int64_to_float64_casts_vectorize() {
    let n = 23;
    let vals: Vec<f64> = (0..n)
        .map(|i| match i % 6 {
            0 => -9.3e18,
            1 => 9.3e18,
            2 => 9007199254740993.0,
            3 => -(i as f64) * 1e15 - 1.0,
            4 => 0.0,
            _ => i as f64,
        })
        .collect();
    let mut b = Builder::new("i64_to_f64");
    let a = b.arg(DType::I64, &[n], false);
    let o = b.arg(DType::F64, &[n], true);
    let i = b.open_loop(n, true);
    let x = b.load(a, &[i]);
    let y = b.cast(DType::F64, x);
    let two = b.konst(ember_ir::Scalar::F64(2.0));
    let r = b.binary(BinaryOp::Div, y, two);
    b.store(o, &[i], r);
    b.close_loop();
    let k = b.finish();
    assert!(common::backend().compile(&k).unwrap().vector_step() >= 2);
    for strided in [false, true] {
        check(&k, &[buffer(DType::I64, &[n], &vals, strided)], 0.0, 0.0);
    }
}

/// int32 `floor_divide` and `%` vectorize (through float64 lanes) and give the interpreter's
/// results bit for bit for every pair of edge values: signs, zero divisors, `MIN // -1`,
/// quotients next to integers, the range's ends; contiguous (vector loop, scalar tail) and
/// strided (scalar loop).
#[test]
fn int32_division_vectorizes_exactly() {
    let edges: Vec<f64> = [
        0i64,
        1,
        -1,
        2,
        -2,
        3,
        -3,
        7,
        -7,
        10,
        -10,
        46341,
        -46341,
        65536,
        -65536,
        1 << 30,
        -(1 << 30),
        i32::MAX as i64,
        i32::MIN as i64,
        i32::MAX as i64 - 1,
        i32::MIN as i64 + 1,
        2147483646 / 3,
        1234567890,
        -1234567890,
    ]
    .iter()
    .map(|&v| v as f64)
    .collect();
    let (mut a, mut bv) = (Vec::new(), Vec::new());
    for &x in &edges {
        for &y in &edges {
            a.push(x);
            bv.push(y);
        }
    }
    let mut rng = Rng(11);
    for _ in 0..3001 {
        a.push(rng.uniform(-2147483648.0, 2147483647.0).floor());
        bv.push(rng.uniform(-70000.0, 70000.0).floor());
    }
    let n = a.len();
    for op in [BinaryOp::FloorDiv, BinaryOp::Rem] {
        let mut b = Builder::new("idiv32");
        let (aa, ab) = (
            b.arg(DType::I32, &[n], false),
            b.arg(DType::I32, &[n], false),
        );
        let o = b.arg(DType::I32, &[n], true);
        let i = b.open_loop(n, true);
        let (x, y) = (b.load(aa, &[i]), b.load(ab, &[i]));
        let r = b.binary(op, x, y);
        b.store(o, &[i], r);
        let k = b.finish();
        let step = common::backend().compile(&k).unwrap().vector_step();
        assert!(step > 1, "int32 {op} did not vectorize");
        for strided in [false, true] {
            let ins = [
                buffer(DType::I32, &[n], &a, strided),
                buffer(DType::I32, &[n], &bv, strided),
            ];
            check(&k, &ins, 0.0, 0.0);
        }
    }
}

/// Edge values for the math library functions: signed zeros, subnormals, tiny and huge
/// magnitudes, ±1 and its neighbours (the poles and branch points of `arctanh` and
/// `arccosh`), exact powers, infinities and NaN.
fn libm_edges() -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1.0 + f64::EPSILON,
        1.0 - f64::EPSILON / 2.0,
        -1.0 - f64::EPSILON,
        5e-324,
        -5e-324,
        1e-300,
        1e-40,
        -1e-40,
        1e-10,
        8.0,
        27.0,
        -27.0,
        1000.0,
        10.0,
        1e10,
        -1e10,
        3.4e38,
        1e300,
        -1e300,
        f64::MAX,
        1023.5,
        1024.0,
        -1074.0,
        -1100.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let mut rng = Rng(41);
    v.extend((0..60).map(|_| rng.uniform(-8.0, 8.0)));
    v.extend((0..60).map(|_| {
        let m = 10f64.powf(rng.uniform(-300.0, 300.0));
        if rng.next() & 1 == 1 {
            -m
        } else {
            m
        }
    }));
    v
}

/// `log2`, `log10`, `exp2`, `cbrt`, `arcsinh`, `arccosh`, `arctanh`, `hypot`, `copysign`
/// and `fmod` have no inline form: the compiled loop stays scalar and calls
/// `ember_unary_*`/`ember_binary_*`, which evaluate them as the interpreter does, so the two
/// agree bit for bit on every input, edge values included.
#[test]
fn math_library_calls_match_the_interpreter_bit_for_bit() {
    let xs = libm_edges();
    let n = xs.len();
    let unary: Vec<UnaryOp> = UnaryOp::ALL
        .iter()
        .copied()
        .filter(|&op| ember_codegen::cpu::ops::is_libm_call(op))
        .collect();
    assert_eq!(unary.len(), 7);
    for dt in [DType::F32, DType::F64] {
        for &op in &unary {
            assert!(!ember_codegen::cpu::ops::unary_vectorizes(op, dt));
            let k = map_kernel("libm_unary", dt, dt, n, true, Map::Unary(op));
            for strided in [false, true] {
                check(&k, &[buffer(dt, &[n], &xs, strided)], 0.0, 0.0);
            }
        }
    }
    // Every pair of edge values (a square), broadcast from a row and a column.
    let e = &xs[..33];
    let m = e.len();
    for dt in DType::ALL {
        for op in [BinaryOp::Hypot, BinaryOp::Copysign, BinaryOp::Fmod] {
            let Ok(rdt) = ember_ir::kernel::binary_result(op, dt) else {
                continue;
            };
            assert!(!ember_codegen::cpu::ops::binary_vectorizes(op, dt));
            let mut b = Builder::new("libm_binary");
            let (ax, ay) = (b.arg(dt, &[m], false), b.arg(dt, &[m], false));
            let o = b.arg(rdt, &[m, m], true);
            let i = b.open_loop(m, true);
            let j = b.open_loop(m, false);
            let (x, y) = (b.load(ax, &[i]), b.load(ay, &[j]));
            let r = b.binary(op, x, y);
            b.store(o, &[i, j], r);
            b.close_loop();
            b.close_loop();
            let k = b.finish();
            // Integers: small values and the extremes (`MIN % -1`, `x % 0`).
            let vals: Vec<f64> = if dt.is_float() {
                e.to_vec()
            } else {
                let min = if dt == DType::I32 {
                    i32::MIN as f64
                } else {
                    i64::MIN as f64
                };
                (0..m)
                    .map(|q| [0.0, 1.0, -1.0, 7.0, -7.0, 2.0, -3.0, min, 13.0, -40.0, 5.0][q % 11])
                    .collect()
            };
            check(
                &k,
                &[
                    buffer(dt, &[m], &vals, false),
                    buffer(dt, &[m], &vals, true),
                ],
                0.0,
                0.0,
            );
        }
    }
}
