//! Kernels produced by the fusion pass for random shapes (odd sizes exercise tail loops,
//! size-1 dims broadcast) are compiled and checked against the interpreter, contiguous and
//! strided.

mod common;

use common::{buffer, check, check_schedule, Rng};
use ember_ir::passes::fuse::partition;
use ember_ir::{
    BinaryOp, DType, Device, Graph, Literal, NodeId, Op, ReduceOp, Scalar, UnaryOp, ValueType,
};

fn inp(g: &mut Graph, dt: DType, shape: &[usize]) -> NodeId {
    g.input(ValueType::new(dt, shape), Device::Cpu)
}

fn add(g: &mut Graph, op: Op, args: &[NodeId]) -> NodeId {
    g.add(op, args, None).unwrap()
}

fn red(op: ReduceOp, axes: &[usize], keepdims: bool) -> Op {
    Op::Reduce {
        op,
        axes: axes.iter().copied().collect(),
        keepdims,
    }
}

/// Compiles every kernel of the graph's schedule and checks it on random inputs.
fn check_graph(g: &Graph, rng: &mut Rng) -> usize {
    check_schedule(g, rng, (-3.0, 3.0), 8.0, 1e-5)
}

fn shape(rng: &mut Rng) -> Vec<usize> {
    let rank = 1 + rng.below(3);
    (0..rank)
        .map(|_| [1, 2, 3, 5, 8, 13, 31][rng.below(7)])
        .collect()
}

#[test]
fn random_elementwise_graphs_with_broadcasts() {
    let mut rng = Rng(21);
    for _ in 0..12 {
        let sh = shape(&mut rng);
        let mut row = sh.clone();
        row[0] = 1;
        for dt in [DType::F32, DType::F64, DType::I32] {
            let mut g = Graph::new();
            let a = inp(&mut g, dt, &sh);
            let b = inp(&mut g, dt, &row);
            let c = inp(&mut g, DType::F32, &sh[sh.len() - 1..]);
            let m = add(&mut g, Op::Binary(BinaryOp::Mul), &[a, b]);
            let s = add(&mut g, Op::Binary(BinaryOp::Add), &[m, c]);
            let t = add(&mut g, Op::Unary(UnaryOp::Tanh), &[s]);
            let k = add(&mut g, Op::Const(Literal::scalar(Scalar::F64(0.5))), &[]);
            let gt = add(&mut g, Op::Binary(BinaryOp::Gt), &[t, k]);
            let w = add(&mut g, Op::Where, &[gt, t, s]);
            let e = add(&mut g, Op::Unary(UnaryOp::Sigmoid), &[w]);
            g.output(e).unwrap();
            assert_eq!(check_graph(&g, &mut rng), 1);
        }
    }
}

#[test]
fn random_reductions_and_row_kernels() {
    let mut rng = Rng(33);
    for _ in 0..10 {
        let sh = shape(&mut rng);
        let last = sh.len() - 1;
        for dt in [DType::F32, DType::F64] {
            // softmax over the last axis
            let mut g = Graph::new();
            let x = inp(&mut g, dt, &sh);
            let m = add(&mut g, red(ReduceOp::Max, &[last], true), &[x]);
            let d = add(&mut g, Op::Binary(BinaryOp::Sub), &[x, m]);
            let e = add(&mut g, Op::Unary(UnaryOp::Exp), &[d]);
            let s = add(&mut g, red(ReduceOp::Sum, &[last], true), &[e]);
            let y = add(&mut g, Op::Binary(BinaryOp::Div), &[e, s]);
            g.output(y).unwrap();
            assert_eq!(check_graph(&g, &mut rng), 1);
            // every reduction over every single axis and over all axes
            for &op in ReduceOp::ALL {
                for axes in (0..sh.len())
                    .map(|a| vec![a])
                    .chain([(0..sh.len()).collect()])
                {
                    if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) && axes.len() != 1 {
                        continue;
                    }
                    let mut g = Graph::new();
                    let x = inp(&mut g, dt, &sh);
                    let sq = add(&mut g, Op::Unary(UnaryOp::Square), &[x]);
                    let r = add(&mut g, red(op, &axes, false), &[sq]);
                    g.output(r).unwrap();
                    check_graph(&g, &mut rng);
                }
            }
        }
    }
}

#[test]
fn int_and_bool_kernels() {
    let mut rng = Rng(44);
    for _ in 0..6 {
        let sh = shape(&mut rng);
        let mut g = Graph::new();
        let a = inp(&mut g, DType::I32, &sh);
        let b = inp(&mut g, DType::I64, &sh);
        let s = add(&mut g, Op::Binary(BinaryOp::FloorDiv), &[a, b]);
        let r = add(&mut g, Op::Binary(BinaryOp::Rem), &[b, a]);
        let p = add(&mut g, Op::Binary(BinaryOp::Add), &[s, r]);
        let z = add(&mut g, Op::Const(Literal::scalar(Scalar::I64(0))), &[]);
        let pos = add(&mut g, Op::Binary(BinaryOp::Ge), &[p, z]);
        let any = add(&mut g, red(ReduceOp::Any, &[sh.len() - 1], false), &[pos]);
        let tot = add(&mut g, red(ReduceOp::Sum, &[0], true), &[pos]);
        g.output(any).unwrap();
        g.output(tot).unwrap();
        let f = add(&mut g, Op::Cast(DType::F32), &[p]);
        let sq = add(&mut g, Op::Unary(UnaryOp::Sqrt), &[f]);
        g.output(sq).unwrap();
        check_graph(&g, &mut rng);
    }
}

/// Zero-size and 0-d domains: loops that never run, reductions of nothing (identities),
/// scalar kernels with no loop at all.
#[test]
fn empty_and_scalar_domains() {
    let mut rng = Rng(55);
    for sh in [vec![0], vec![3, 0], vec![0, 4], vec![]] {
        let mut g = Graph::new();
        let x = inp(&mut g, DType::F32, &sh);
        let e = add(&mut g, Op::Unary(UnaryOp::Exp), &[x]);
        g.output(e).unwrap();
        let axes: Vec<usize> = (0..sh.len()).collect();
        let s = add(&mut g, red(ReduceOp::Sum, &axes, false), &[x]);
        g.output(s).unwrap();
        let p = add(&mut g, red(ReduceOp::Prod, &axes, true), &[x]);
        g.output(p).unwrap();
        check_graph(&g, &mut rng);
    }
}

/// Float to int casts of NaN, infinities and out-of-range values give the minimum integer
/// (NumPy on x86-64) in both the vector and the scalar loop; in-range values truncate.
#[test]
fn float_to_int_casts_of_specials() {
    use ember_ir::kernel::build::Builder;
    use ember_ir::kernel::interp::{self, Buffer};
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        3e9,
        -3e9,
        1e19,
        -1e19,
        2.5,
        -2.5,
        0.0,
        2147483520.0,
        -2147483648.0,
    ];
    for from in [DType::F32, DType::F64] {
        for to in [DType::I32, DType::I64, DType::Bool] {
            let n = specials.len() * 3;
            let vals: Vec<f64> = specials.iter().cycle().take(n).copied().collect();
            let mut b = Builder::new("cast");
            let a = b.arg(from, &[n], false);
            let o = b.arg(to, &[n], true);
            let i = b.open_loop(n, false);
            let x = b.load(a, &[i]);
            let y = b.cast(to, x);
            b.store(o, &[i], y);
            let k = b.finish();
            for strided in [false, true] {
                check(&k, &[buffer(from, &[n], &vals, strided)], 0.0, 0.0);
            }
            // The reference itself: x86-64's "integer indefinite" for the invalid ones.
            let mut bufs = vec![
                Buffer::from_f64s(from, &[n], &vals),
                Buffer::zeros(to, &[n]),
            ];
            interp::run(&k, &mut bufs).unwrap();
            let got = bufs[1].to_f64s();
            let min = if to == DType::I32 {
                i32::MIN as f64
            } else {
                i64::MIN as f64
            };
            let want: [f64; 12] = [
                min,
                min,
                min,
                if to == DType::I32 { min } else { 3e9 },
                if to == DType::I32 { min } else { -3e9 },
                min,
                min,
                2.0,
                -2.0,
                0.0,
                2147483520.0,
                -2147483648.0,
            ];
            if to != DType::Bool {
                assert_eq!(&got[..12], &want[..], "{from} -> {to}");
            }
        }
    }
}

/// Integer `reciprocal`: `1 / 0` is the minimum integer, `1 / ±1` is ±1, everything else 0, in
/// the vector and the scalar loop.
#[test]
fn integer_reciprocal() {
    use ember_ir::kernel::build::Builder;
    let vals: Vec<f64> = [0.0, 1.0, -1.0, 2.0, -7.0, 0.0, 1.0, 3.0, -1.0]
        .iter()
        .cycle()
        .take(27)
        .copied()
        .collect();
    for dt in [DType::I32, DType::I64] {
        let n = vals.len();
        let mut b = Builder::new("reciprocal");
        let a = b.arg(dt, &[n], false);
        let o = b.arg(dt, &[n], true);
        let i = b.open_loop(n, false);
        let x = b.load(a, &[i]);
        let y = b.unary(UnaryOp::Reciprocal, x);
        b.store(o, &[i], y);
        let k = b.finish();
        for strided in [false, true] {
            check(&k, &[buffer(dt, &[n], &vals, strided)], 0.0, 0.0);
        }
    }
}

/// Kernels with many heavy math ops call shared out-of-line subroutines
/// (`ember_codegen::cpu::outline`): the results must be the inline code's, in vector loops,
/// scalar tails and strided views, float32 and float64, and in row kernels with reductions.
#[test]
fn outlined_math_in_large_kernels() {
    let mut rng = Rng(66);
    let ops = [
        UnaryOp::Tanh,
        UnaryOp::Exp,
        UnaryOp::Expm1,
        UnaryOp::Log1p,
        UnaryOp::Erf,
        UnaryOp::Sigmoid,
        UnaryOp::Log,
    ];
    for dt in [DType::F32, DType::F64] {
        for shape in [vec![13usize], vec![3, 31], vec![64]] {
            let mut g = Graph::new();
            let a = inp(&mut g, dt, &shape);
            let mut x = a;
            for i in 0..3 * ops.len() {
                let op = ops[i % ops.len()];
                // Keep arguments in every function's domain: |x| < 1 before log/log1p.
                x = add(&mut g, Op::Unary(UnaryOp::Tanh), &[x]);
                if op == UnaryOp::Log {
                    x = add(&mut g, Op::Unary(UnaryOp::Exp), &[x]);
                }
                x = add(&mut g, Op::Unary(op), &[x]);
            }
            g.output(x).unwrap();
            assert_eq!(check_graph(&g, &mut rng), 1);
        }
        // A row kernel (softmax-like) with enough exps to outline, reductions included.
        let mut g = Graph::new();
        let a = inp(&mut g, dt, &[5, 37]);
        let mut x = a;
        for _ in 0..10 {
            x = add(&mut g, Op::Unary(UnaryOp::Tanh), &[x]);
        }
        let m = add(&mut g, red(ReduceOp::Max, &[1], true), &[x]);
        let d = add(&mut g, Op::Binary(BinaryOp::Sub), &[x, m]);
        let e = add(&mut g, Op::Unary(UnaryOp::Exp), &[d]);
        let s = add(&mut g, red(ReduceOp::Sum, &[1], true), &[e]);
        let y = add(&mut g, Op::Binary(BinaryOp::Div), &[e, s]);
        g.output(y).unwrap();
        check_graph(&g, &mut rng);
    }
}

#[test]
fn int32_to_float64_loops_vectorize() {
    // `np.tanh(int32) / 2.0`: float64 results from int32 loads (two int32s per vector).
    let mut rng = Rng(64);
    for n in [1, 3, 7, 100, 1001] {
        let mut g = Graph::new();
        let x = inp(&mut g, DType::I32, &[n]);
        let y = inp(&mut g, DType::F64, &[n]);
        let c = add(&mut g, Op::Cast(DType::F64), &[x]);
        let t = add(&mut g, Op::Unary(UnaryOp::Tanh), &[c]);
        let two = add(&mut g, Op::Const(Literal::scalar(Scalar::F64(2.0))), &[]);
        let d = add(&mut g, Op::Binary(BinaryOp::Div), &[t, two]);
        let r = add(&mut g, Op::Binary(BinaryOp::Add), &[d, y]);
        g.output(r).unwrap();
        assert_eq!(check_schedule(&g, &mut rng, (-40.0, 40.0), 4.0, 0.0), 1);
        if n >= 100 {
            let s = partition(&g).unwrap();
            let k = common::backend().compile(&s.kernels()[0].kernel).unwrap();
            assert!(k.vector_step() > 1, "the loop vectorizes\n{}", k.kernel());
        }
    }
}
