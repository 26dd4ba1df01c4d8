//! Fusion decisions (kernel counts) and the meaning of the fused kernels: each schedule is run
//! through the kernel interpreter and compared with a plain float64 evaluation of the graph.

use ember_ir::kernel::interp::{self, Buffer};
use ember_ir::passes::fuse::{partition, Schedule, Step};
use ember_ir::shape::contiguous_strides;
use ember_ir::{
    BinaryOp, DType, Device, Graph, Literal, NodeId, Op, ReduceOp, Scalar, UnaryOp, ValueType,
};
use smallvec::smallvec;
use std::collections::HashMap;

type Val = (Vec<usize>, Vec<f64>);

fn input(g: &mut Graph, shape: &[usize]) -> NodeId {
    g.input(ValueType::new(DType::F64, shape), Device::Cpu)
}

fn c(g: &mut Graph, v: f64) -> NodeId {
    g.add(Op::Const(Literal::scalar(Scalar::F64(v))), &[], None)
        .unwrap()
}

fn bin(g: &mut Graph, op: BinaryOp, a: NodeId, b: NodeId) -> NodeId {
    g.add(Op::Binary(op), &[a, b], None).unwrap()
}

fn un(g: &mut Graph, op: UnaryOp, a: NodeId) -> NodeId {
    g.add(Op::Unary(op), &[a], None).unwrap()
}

fn reduce(g: &mut Graph, op: ReduceOp, a: NodeId, axes: &[usize], keepdims: bool) -> NodeId {
    g.add(
        Op::Reduce {
            op,
            axes: axes.iter().copied().collect(),
            keepdims,
        },
        &[a],
        None,
    )
    .unwrap()
}

/// Element `idx` (row-major over `shape`) of a value broadcast to `shape`.
fn at(v: &Val, shape: &[usize], idx: usize) -> f64 {
    let (vs, data) = v;
    let mut rem = idx;
    let mut off = 0;
    let strides = contiguous_strides(vs);
    for d in (0..shape.len()).rev() {
        let i = rem % shape[d].max(1);
        rem /= shape[d].max(1);
        if let Some(j) = (d + vs.len()).checked_sub(shape.len()) {
            if vs[j] != 1 {
                off += i * strides[j] as usize;
            }
        }
    }
    data[off]
}

/// Straightforward float64 evaluation of the ops these tests use.
fn reference(g: &Graph, inputs: &[Val]) -> HashMap<NodeId, Val> {
    let mut vals: HashMap<NodeId, Val> = HashMap::new();
    for n in g.topo_order().unwrap() {
        let node = g.node(n);
        let shape = node.ty.shape.to_vec();
        let numel: usize = shape.iter().product();
        let ops: Vec<Val> = g.operands(n).iter().map(|o| vals[o].clone()).collect();
        let v: Vec<f64> = match &node.op {
            Op::Input { index } => inputs[*index].1.clone(),
            Op::Const(l) => (0..l.numel()).map(|i| l.get(i).to_f64()).collect(),
            Op::Unary(u) => (0..numel)
                .map(|i| {
                    let x = at(&ops[0], &shape, i);
                    match u {
                        UnaryOp::Exp => x.exp(),
                        UnaryOp::Tanh => x.tanh(),
                        UnaryOp::Neg => -x,
                        UnaryOp::Relu => x.max(0.0),
                        UnaryOp::Log => x.ln(),
                        UnaryOp::Sqrt => x.sqrt(),
                        _ => unimplemented!(),
                    }
                })
                .collect(),
            Op::Binary(b) => (0..numel)
                .map(|i| {
                    let (x, y) = (at(&ops[0], &shape, i), at(&ops[1], &shape, i));
                    match b {
                        BinaryOp::Add => x + y,
                        BinaryOp::Sub => x - y,
                        BinaryOp::Mul => x * y,
                        BinaryOp::Div => x / y,
                        BinaryOp::Max => x.max(y),
                        _ => unimplemented!(),
                    }
                })
                .collect(),
            Op::Broadcast(_) => (0..numel).map(|i| at(&ops[0], &shape, i)).collect(),
            Op::Reshape(_) => ops[0].1.clone(),
            Op::Reduce { op, axes, .. } => {
                let (xs, xd) = &ops[0];
                let mut acc = vec![
                    if *op == ReduceOp::Max {
                        f64::NEG_INFINITY
                    } else {
                        0.0
                    };
                    numel
                ];
                let kept: Vec<usize> = (0..xs.len()).filter(|d| !axes.contains(d)).collect();
                for (i, &x) in xd.iter().enumerate() {
                    let mut rem = i;
                    let mut idx = vec![0; xs.len()];
                    for d in (0..xs.len()).rev() {
                        idx[d] = rem % xs[d];
                        rem /= xs[d];
                    }
                    let mut o = 0;
                    for &d in &kept {
                        o = o * xs[d] + idx[d];
                    }
                    acc[o] = if *op == ReduceOp::Max {
                        acc[o].max(x)
                    } else {
                        acc[o] + x
                    };
                }
                acc
            }
            Op::MatMul => {
                let ((as_, ad), (bs, bd)) = (&ops[0], &ops[1]);
                let (m, k, n2) = (as_[0], as_[1], bs[1]);
                let mut out = vec![0.0; m * n2];
                for i in 0..m {
                    for j in 0..n2 {
                        out[i * n2 + j] = (0..k).map(|t| ad[i * k + t] * bd[t * n2 + j]).sum();
                    }
                }
                out
            }
            Op::Output { .. } => ops[0].1.clone(),
            other => unimplemented!("{}", other.name()),
        };
        vals.insert(n, (shape, v));
    }
    vals
}

/// Runs a schedule with the interpreter (matmul naively) and returns the graph's outputs.
fn execute(g: &Graph, s: &Schedule, inputs: &[Val]) -> Vec<Vec<f64>> {
    let mut bufs: HashMap<NodeId, Vec<f64>> = HashMap::new();
    for (i, &n) in g.inputs().iter().enumerate() {
        bufs.insert(n, inputs[i].1.clone());
    }
    for n in g.node_ids() {
        if let Op::Const(l) = &g.node(n).op {
            bufs.insert(n, (0..l.numel()).map(|i| l.get(i).to_f64()).collect());
        }
    }
    let run_kernel = |bufs: &mut HashMap<NodeId, Vec<f64>>,
                      k: &ember_ir::passes::fuse::KernelStep| {
        let mut args = Vec::new();
        let (mut ii, mut oi) = (0, 0);
        for a in &k.kernel.args {
            if a.output {
                let _ = &k.outputs[oi];
                oi += 1;
                args.push(Buffer::zeros(a.dtype, &a.shape));
            } else {
                let data = &bufs[&k.inputs[ii]];
                ii += 1;
                let mut b = Buffer::from_f64s(a.dtype, &a.shape, data);
                b.strides = contiguous_strides(&a.shape).to_vec();
                args.push(b);
            }
        }
        interp::run(&k.kernel, &mut args).unwrap();
        let mut oi = 0;
        for (a, b) in k.kernel.args.iter().zip(&args) {
            if a.output {
                bufs.insert(k.outputs[oi], b.to_f64s());
                oi += 1;
            }
        }
    };
    for step in &s.steps {
        match step {
            Step::Kernel(k) => run_kernel(&mut bufs, k),
            Step::MatMul {
                a,
                b,
                out,
                epilogue,
            } => {
                let (sa, sb) = (&g.node(*a).ty.shape, &g.node(*b).ty.shape);
                let (m, k, n) = (sa[0], sa[1], sb[1]);
                let (ad, bd) = (&bufs[a], &bufs[b]);
                let mut o = vec![0.0; m * n];
                for i in 0..m {
                    for j in 0..n {
                        o[i * n + j] = (0..k).map(|t| ad[i * k + t] * bd[t * n + j]).sum();
                    }
                }
                bufs.insert(*out, o);
                if let Some(e) = epilogue {
                    run_kernel(&mut bufs, e);
                }
            }
            Step::Fallback(n) => panic!("unexpected fallback of {}", g.node(*n).op.name()),
        }
    }
    g.output_values().iter().map(|v| bufs[v].clone()).collect()
}

fn check(g: &Graph, inputs: &[Val]) -> Schedule {
    let s = partition(g).unwrap();
    let got = execute(g, &s, inputs);
    let want = reference(g, inputs);
    for (o, v) in g.output_values().iter().zip(&got) {
        for (x, y) in want[o].1.iter().zip(v) {
            assert!(
                (x - y).abs() <= 1e-12 * (1.0 + x.abs()),
                "{x} vs {y}\n{:#?}",
                s.kernels()
                    .iter()
                    .map(|k| k.kernel.to_string())
                    .collect::<Vec<_>>()
            );
        }
    }
    s
}

fn data(shape: &[usize], seed: u64) -> Val {
    let n: usize = shape.iter().product();
    let mut x = seed;
    let v = (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
        })
        .collect();
    (shape.to_vec(), v)
}

#[test]
fn w1_is_one_kernel() {
    let mut g = Graph::new();
    let sh = [5, 7];
    let (a, b, cc) = (input(&mut g, &sh), input(&mut g, &sh), input(&mut g, &sh));
    let ab = bin(&mut g, BinaryOp::Mul, a, b);
    let s = bin(&mut g, BinaryOp::Add, ab, cc);
    let t = un(&mut g, UnaryOp::Tanh, s);
    let half = c(&mut g, 0.5);
    let t = bin(&mut g, BinaryOp::Mul, t, half);
    let nb = un(&mut g, UnaryOp::Neg, b);
    let e = un(&mut g, UnaryOp::Exp, nb);
    let one = c(&mut g, 1.0);
    let d = bin(&mut g, BinaryOp::Add, one, e);
    let q = bin(&mut g, BinaryOp::Div, a, d);
    let r = bin(&mut g, BinaryOp::Add, t, q);
    g.output(r).unwrap();
    let s = check(&g, &[data(&sh, 1), data(&sh, 2), data(&sh, 3)]);
    assert_eq!(s.kernel_count(), 1);
    assert_eq!(s.steps.len(), 1);
    // The 2-d domain collapses into one parallel loop.
    let k = &s.kernels()[0].kernel;
    assert_eq!(k.args[0].shape.as_slice(), &[35]);
}

fn softmax(g: &mut Graph, x: NodeId) -> NodeId {
    let m = reduce(g, ReduceOp::Max, x, &[1], true);
    let d = bin(g, BinaryOp::Sub, x, m);
    let e = un(g, UnaryOp::Exp, d);
    let s = reduce(g, ReduceOp::Sum, e, &[1], true);
    bin(g, BinaryOp::Div, e, s)
}

#[test]
fn softmax_is_one_kernel() {
    let mut g = Graph::new();
    let x = input(&mut g, &[4, 9]);
    let y = softmax(&mut g, x);
    g.output(y).unwrap();
    let s = check(&g, &[data(&[4, 9], 5)]);
    assert!(s.kernel_count() <= 2, "{}", s.kernel_count());
    assert_eq!(s.kernel_count(), 1);
}

#[test]
fn mlp_matmul_epilogues() {
    // relu(x @ w1 + b1) @ w2 + b2
    let mut g = Graph::new();
    let x = input(&mut g, &[3, 4]);
    let w1 = input(&mut g, &[4, 5]);
    let b1 = input(&mut g, &[5]);
    let w2 = input(&mut g, &[5, 2]);
    let b2 = input(&mut g, &[2]);
    let h = g.add(Op::MatMul, &[x, w1], None).unwrap();
    let h = bin(&mut g, BinaryOp::Add, h, b1);
    let h = un(&mut g, UnaryOp::Relu, h);
    let o = g.add(Op::MatMul, &[h, w2], None).unwrap();
    let o = bin(&mut g, BinaryOp::Add, o, b2);
    g.output(o).unwrap();
    let ins = [
        data(&[3, 4], 1),
        data(&[4, 5], 2),
        data(&[5], 3),
        data(&[5, 2], 4),
        data(&[2], 5),
    ];
    let s = check(&g, &ins);
    let mms: Vec<bool> = s
        .steps
        .iter()
        .filter_map(|st| match st {
            Step::MatMul { epilogue, .. } => Some(epilogue.is_some()),
            _ => None,
        })
        .collect();
    assert_eq!(mms, vec![true, true]);
    assert_eq!(s.steps.len(), 2);
}

#[test]
fn shared_expensive_value_is_computed_once_and_outputs_merge() {
    // e = exp(x) feeds two outputs over the same domain: one kernel, two stores.
    let mut g = Graph::new();
    let x = input(&mut g, &[6]);
    let e = un(&mut g, UnaryOp::Exp, x);
    let one = c(&mut g, 1.0);
    let p = bin(&mut g, BinaryOp::Add, e, one);
    let q = bin(&mut g, BinaryOp::Mul, e, e);
    g.output(p).unwrap();
    g.output(q).unwrap();
    let s = check(&g, &[data(&[6], 9)]);
    assert_eq!(s.kernel_count(), 1);
    assert_eq!(s.kernels()[0].outputs.len(), 2);
    let binds = s.kernels()[0].arg_values();
    assert_eq!(binds.len(), s.kernels()[0].kernel.args.len());
    assert_eq!(binds.iter().filter(|b| b.1).count(), 2);
    assert!(binds.contains(&(x, false)));
}

#[test]
fn broadcast_reshape_and_column_reduction() {
    let mut g = Graph::new();
    let x = input(&mut g, &[3, 4]);
    let r = g.add(Op::Reshape(smallvec![4, 3]), &[x], None).unwrap();
    let col = reduce(&mut g, ReduceOp::Sum, r, &[0], false); // [3]
    let b = g.add(Op::Broadcast(smallvec![2, 3]), &[col], None).unwrap();
    let y = bin(&mut g, BinaryOp::Mul, b, b);
    g.output(y).unwrap();
    let total = reduce(&mut g, ReduceOp::Sum, x, &[0, 1], false);
    g.output(total).unwrap();
    let s = check(&g, &[data(&[3, 4], 4)]);
    assert!(s.kernel_count() <= 3, "{}", s.kernel_count());
}

#[test]
fn layer_norm_is_one_kernel() {
    // mu = sum(x)/n; d = x - mu; var = sum(d*d)/n; y = d / sqrt(var + eps)
    let mut g = Graph::new();
    let (r, n) = (3, 10);
    let x = input(&mut g, &[r, n]);
    let s1 = reduce(&mut g, ReduceOp::Sum, x, &[1], true);
    let inv = c(&mut g, 1.0 / n as f64);
    let mu = bin(&mut g, BinaryOp::Mul, s1, inv);
    let d = bin(&mut g, BinaryOp::Sub, x, mu);
    let d2 = bin(&mut g, BinaryOp::Mul, d, d);
    let s2 = reduce(&mut g, ReduceOp::Sum, d2, &[1], true);
    let var = bin(&mut g, BinaryOp::Mul, s2, inv);
    let eps = c(&mut g, 1e-5);
    let ve = bin(&mut g, BinaryOp::Add, var, eps);
    let sd = g.add(Op::Unary(UnaryOp::Sqrt), &[ve], None).unwrap();
    let y = bin(&mut g, BinaryOp::Div, d, sd);
    g.output(y).unwrap();
    let s = check(&g, &[data(&[r, n], 8)]);
    assert_eq!(
        s.kernel_count(),
        1,
        "{:#?}",
        s.kernels()
            .iter()
            .map(|k| k.kernel.to_string())
            .collect::<Vec<_>>()
    );
}

#[test]
fn softmax_row_kernel_computes_exp_once_per_element() {
    // Two results of the last phase share exp(x - max): the first in order holds it between
    // phases, and both read it back before either is stored.
    let mut g = Graph::new();
    let x = input(&mut g, &[5, 7]);
    let m = reduce(&mut g, ReduceOp::Max, x, &[1], true);
    let d = bin(&mut g, BinaryOp::Sub, x, m);
    let e = un(&mut g, UnaryOp::Exp, d);
    let s = reduce(&mut g, ReduceOp::Sum, e, &[1], true);
    let y = bin(&mut g, BinaryOp::Div, e, s);
    let z = bin(&mut g, BinaryOp::Mul, e, s);
    g.output(y).unwrap();
    g.output(z).unwrap();
    let sched = check(&g, &[data(&[5, 7], 11)]);
    assert_eq!(sched.kernel_count(), 1);
    let k = &sched.kernels()[0].kernel;
    let exps = k
        .body
        .iter()
        .filter(|i| {
            matches!(
                i,
                ember_ir::kernel::Inst::Unary {
                    op: UnaryOp::Exp,
                    ..
                }
            )
        })
        .count();
    assert_eq!(exps, 1, "{k}");
    // log_softmax needs exp only in its sum phase: nothing to keep.
    let mut g = Graph::new();
    let x = input(&mut g, &[5, 7]);
    let m = reduce(&mut g, ReduceOp::Max, x, &[1], true);
    let d = bin(&mut g, BinaryOp::Sub, x, m);
    let e = un(&mut g, UnaryOp::Exp, d);
    let s = reduce(&mut g, ReduceOp::Sum, e, &[1], true);
    let l = un(&mut g, UnaryOp::Log, s);
    let y = bin(&mut g, BinaryOp::Sub, d, l);
    g.output(y).unwrap();
    let sched = check(&g, &[data(&[5, 7], 12)]);
    let k = &sched.kernels()[0].kernel;
    assert!(!k.to_string().contains("load a0"), "{k}");
}
