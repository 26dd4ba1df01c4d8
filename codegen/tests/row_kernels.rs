//! Row kernels (softmax, log_softmax, layer norm) on the CPU backend: which differences it
//! proves `<= 0` (their `exp` then skips the `|x|` of its fast-path test, so a wrong proof
//! would be a wrong result), rows whose `exp(x - max)` leaves the fast path (infinities, NaN,
//! differences below -86), and the software-pipelined row loop (the first phase of row
//! `i + 1` inside the last loop of row `i`) across chunk edges, tails, strides and in place.

mod common;

use common::{buffer, check, Rng};
use ember_codegen::cpu::lower::nonpositive_differences;
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::{Inst, Kernel, Var};
use ember_ir::{BinaryOp, DType, ReduceOp, UnaryOp};

const F: DType = DType::F32;

/// How the test kernel's phases relate (softmax is `Same`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    /// `exp(x[i, j] - max_j x[i, j])`.
    Same,
    /// The max is over another input: `exp(y[i, j] - max_j x[i, j])`.
    OtherInput,
    /// `exp(max - x)`.
    Reversed,
    /// The max folds `2 x`, not `x`.
    Scaled,
    /// The max's row is the other index: `exp(x[i, j] - max_k x[k, i])` (square input).
    Transposed,
}

const SHAPES: [Shape; 5] = [
    Shape::Same,
    Shape::OtherInput,
    Shape::Reversed,
    Shape::Scaled,
    Shape::Transposed,
];

/// `out[i, j] = exp(a[i, j] - m_i)` with `m_i` a row max as `shape` says; returns the kernel
/// and the subtraction's result.
fn kernel(n: usize, shape: Shape) -> (Kernel, Var) {
    let mut b = Builder::new(format!("{shape:?}"));
    let x = b.arg(F, &[n, n], false);
    let y = b.arg(F, &[n, n], false);
    let out = b.arg(F, &[n, n], true);
    let i = b.open_loop(n, true);
    let m = b.acc(ReduceOp::Max, F);
    let k = b.open_loop(n, false);
    let v = match shape {
        Shape::Transposed => b.load(x, &[k, i]),
        _ => b.load(x, &[i, k]),
    };
    let v = if shape == Shape::Scaled {
        b.binary(BinaryOp::Add, v, v)
    } else {
        v
    };
    b.update(m, v);
    b.close_loop();
    let j = b.open_loop(n, false);
    let v = b.load(if shape == Shape::OtherInput { y } else { x }, &[i, j]);
    let d = if shape == Shape::Reversed {
        b.binary(BinaryOp::Sub, m, v)
    } else {
        b.binary(BinaryOp::Sub, v, m)
    };
    let e = b.unary(UnaryOp::Exp, d);
    b.store(out, &[i, j], e);
    b.close_loop();
    b.close_loop();
    (b.finish(), d)
}

#[test]
fn only_x_minus_its_own_row_max_is_nonpositive() {
    for shape in SHAPES {
        let (k, d) = kernel(8, shape);
        let found = nonpositive_differences(&k);
        assert_eq!(
            found.contains(&d),
            shape == Shape::Same,
            "{shape:?}: {found:?}\n{k}"
        );
        assert!(found.len() <= 1, "{shape:?}: {found:?}");
    }
    // The softmax the fusion pass emits: the difference is found.
    let k = fused_softmax(4, 40);
    let subs = k
        .body
        .iter()
        .filter(|i| {
            matches!(
                i,
                Inst::Binary {
                    op: BinaryOp::Sub,
                    ..
                }
            )
        })
        .count();
    assert_eq!((subs, nonpositive_differences(&k).len()), (1, 1), "{k}");
}

/// Where a wrong proof would show: `y - max(x)` far above 0 must still overflow to `inf`,
/// `x - max(x)` computed right wherever the proof applies. Compared with the interpreter.
#[test]
fn every_shape_matches_the_interpreter() {
    let mut rng = Rng(81);
    let n = 24;
    for shape in SHAPES {
        let (k, _) = kernel(n, shape);
        let x: Vec<f64> = (0..n * n).map(|_| rng.uniform(-30.0, 10.0)).collect();
        let y: Vec<f64> = (0..n * n).map(|_| rng.uniform(-20.0, 120.0)).collect();
        check(
            &k,
            &[buffer(F, &[n, n], &x, false), buffer(F, &[n, n], &y, false)],
            2.0,
            0.0,
        );
    }
}

/// A row kernel as the fusion pass emits it from a graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Row {
    /// `e / sum(e)`, `e = exp(x - max(x))`.
    Softmax,
    /// `x - max(x) - log(sum(exp(x - max(x))))`.
    LogSoftmax,
    /// `(x - mean) / sqrt(var + 1e-5)`.
    LayerNorm,
    /// `x - max(x)` (two phases only).
    Centered,
}

fn fused(row: Row, r: usize, c: usize) -> Kernel {
    use ember_ir::passes::fuse::partition;
    use ember_ir::{Device, Graph, Literal, Op, Scalar, ValueType};
    let mut g = Graph::new();
    let x = g.input(ValueType::new(F, &[r, c]), Device::Cpu);
    let red = |g: &mut Graph, op, x| {
        let axes = [1usize].into_iter().collect();
        g.add(
            Op::Reduce {
                op,
                axes,
                keepdims: true,
            },
            &[x],
            None,
        )
        .expect("reduce")
    };
    let bin = |g: &mut Graph, op, a, b| g.add(Op::Binary(op), &[a, b], None).expect("binary");
    let un = |g: &mut Graph, op, a| g.add(Op::Unary(op), &[a], None).expect("unary");
    let y = match row {
        Row::Softmax | Row::LogSoftmax | Row::Centered => {
            let m = red(&mut g, ReduceOp::Max, x);
            let d = bin(&mut g, BinaryOp::Sub, x, m);
            if row == Row::Centered {
                d
            } else {
                let e = un(&mut g, UnaryOp::Exp, d);
                let s = red(&mut g, ReduceOp::Sum, e);
                if row == Row::Softmax {
                    bin(&mut g, BinaryOp::Div, e, s)
                } else {
                    let l = un(&mut g, UnaryOp::Log, s);
                    bin(&mut g, BinaryOp::Sub, d, l)
                }
            }
        }
        Row::LayerNorm => {
            let k = |g: &mut Graph, v: f32| {
                g.add(Op::Const(Literal::scalar(Scalar::F32(v))), &[], None)
                    .expect("const")
            };
            let n = k(&mut g, c as f32);
            let eps = k(&mut g, 1e-5);
            let s = red(&mut g, ReduceOp::Sum, x);
            let mu = bin(&mut g, BinaryOp::Div, s, n);
            let d = bin(&mut g, BinaryOp::Sub, x, mu);
            let d2 = bin(&mut g, BinaryOp::Mul, d, d);
            let v = red(&mut g, ReduceOp::Sum, d2);
            let v = bin(&mut g, BinaryOp::Div, v, n);
            let v = bin(&mut g, BinaryOp::Add, v, eps);
            let sd = un(&mut g, UnaryOp::Sqrt, v);
            bin(&mut g, BinaryOp::Div, d, sd)
        }
    };
    g.output(y).expect("output");
    let p = partition(&g).expect("partition");
    assert_eq!(p.kernels().len(), 1, "{row:?} fuses into one kernel");
    p.kernels()[0].kernel.clone()
}

fn fused_softmax(r: usize, c: usize) -> Kernel {
    fused(Row::Softmax, r, c)
}

/// Every fused row kernel has the pipelined shape; each matches the interpreter at sizes that
/// run in parallel chunks (a partial last chunk), with vector tails, on strided views (the
/// fused loop's scalar copy) and on tiny rows.
#[test]
fn pipelined_row_kernels_match_the_interpreter() {
    let mut rng = Rng(83);
    for row in [Row::Softmax, Row::LogSoftmax, Row::LayerNorm, Row::Centered] {
        for (r, c) in [(200, 300), (67, 1001), (3, 40), (1, 5)] {
            let k = fused(row, r, c);
            let mut kk = k.clone();
            let mut types = k.verify().expect("verify");
            let p = ember_codegen::cpu::lower::rows::pipeline(&mut kk, &mut types);
            // One row fuses without a parallel loop: nothing to pipeline.
            assert_eq!(p.is_some(), r > 1, "{row:?} {r}x{c}\n{k}");
            let mut x: Vec<f64> = (0..r * c).map(|_| rng.uniform(-12.0, 12.0)).collect();
            if r > 60 {
                // NaN and infinities in rows at chunk edges (chunks of 32 rows here).
                x[31 * c + 7] = f64::NAN;
                x[32 * c] = f64::INFINITY;
                x[63 * c + c - 1] = f64::NEG_INFINITY;
            }
            let shape = &k.args.iter().find(|a| !a.output).expect("an input").shape;
            for strided in [false, true] {
                check(&k, &[buffer(F, shape, &x, strided)], 8.0, 1e-6);
            }
        }
    }
}

/// Softmax in place (the output is the input's buffer): the pipelined loop reads row `i + 1`
/// while it writes row `i`, never a row another chunk writes.
#[test]
fn pipelined_softmax_in_place() {
    use ember_codegen::cpu::KernelArg;
    use ember_ir::kernel::interp;
    let (r, c) = (150, 333);
    let mut rng = Rng(84);
    let k = fused_softmax(r, c);
    let x: Vec<f64> = (0..r * c).map(|_| rng.uniform(-9.0, 9.0)).collect();
    let input = interp::Buffer::from_f64s(F, &[r, c], &x);
    let mut want: Vec<interp::Buffer> = k
        .args
        .iter()
        .map(|a| {
            if a.output {
                interp::Buffer::zeros(F, &[r, c])
            } else {
                input.clone()
            }
        })
        .collect();
    interp::run(&k, &mut want).expect("interpreter");
    let want = want[k.args.iter().position(|a| a.output).expect("an output")].to_f64s();
    let mut data: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let strides = ember_ir::shape::contiguous_strides(&[r, c]);
    let args: Vec<KernelArg> = k
        .args
        .iter()
        .map(|a| KernelArg::new(data.as_mut_ptr() as *mut u8, a.dtype, &strides))
        .collect();
    let compiled = common::backend().compile(&k).expect("compile");
    // SAFETY: both arguments are the same contiguous buffer of the declared view; the kernel
    // reads each element of a row before it writes that element (elementwise in place).
    unsafe { compiled.run(&args).expect("run") };
    for (j, (&g, &w)) in data.iter().zip(&want).enumerate() {
        assert!(
            common::ulps(F, g as f64, w) <= 4.0,
            "element {j}: {g:e} vs {w:e}"
        );
    }
}

/// Rows whose differences leave `exp`'s fast path: a spread over 200 (results below the
/// normal range, and exactly 0), `-inf` entries, a `+inf` (NaN where `inf - inf`), a NaN
/// (NaN row), in vector lanes, unrolled copies and the scalar tail.
#[test]
fn softmax_rows_with_extreme_values() {
    let mut rng = Rng(82);
    let (r, c) = (6, 45);
    let k = fused_softmax(r, c);
    let mut x: Vec<f64> = (0..r * c).map(|_| rng.uniform(-150.0, 50.0)).collect();
    x[c + 3] = f64::NEG_INFINITY;
    x[c + 40] = f64::NEG_INFINITY;
    x[2 * c + 9] = f64::INFINITY;
    x[3 * c + 17] = f64::NAN;
    for j in 0..c {
        x[4 * c + j] = if j % 3 == 0 { -1e30 } else { 0.0 };
    }
    x[5 * c..6 * c].fill(f64::NEG_INFINITY);
    x[5 * c + 44] = -3.0;
    for strided in [false, true] {
        check(&k, &[buffer(F, &[r, c], &x, strided)], 4.0, 0.0);
    }
}
