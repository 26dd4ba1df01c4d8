//! Softmax-shaped row kernels: which differences the CPU backend proves `<= 0` (their `exp`
//! then skips the `|x|` of its fast-path test, so a wrong proof would be a wrong result), and
//! rows whose `exp(x - max)` leaves the fast path (infinities, NaN, differences below -86).

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

/// Row softmax as fused from the graph (max, exp stored and summed, divide).
fn fused_softmax(r: usize, c: usize) -> Kernel {
    use ember_ir::passes::fuse::partition;
    use ember_ir::{Device, Graph, Op, ValueType};
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
    let m = red(&mut g, ReduceOp::Max, x);
    let d = g
        .add(Op::Binary(BinaryOp::Sub), &[x, m], None)
        .expect("sub");
    let e = g.add(Op::Unary(UnaryOp::Exp), &[d], None).expect("exp");
    let s = red(&mut g, ReduceOp::Sum, e);
    let y = g
        .add(Op::Binary(BinaryOp::Div), &[e, s], None)
        .expect("div");
    g.output(y).expect("output");
    partition(&g).expect("partition").kernels()[0]
        .kernel
        .clone()
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
