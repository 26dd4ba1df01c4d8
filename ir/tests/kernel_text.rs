//! The kernel IR's text form: golden output for a fused kernel, print/parse round trips, and
//! parse errors that name the line.

use ember_ir::kernel::build::Builder;
use ember_ir::kernel::parse::parse;
use ember_ir::kernel::Kernel;
use ember_ir::passes::fuse::partition;
use ember_ir::{BinaryOp, DType, Device, Graph, Literal, Op, ReduceOp, Scalar, UnaryOp, ValueType};

fn roundtrip(k: &Kernel) {
    let text = k.to_string();
    let back = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&back, k, "{text}");
}

fn softmax_kernel() -> Kernel {
    let mut g = Graph::new();
    let x = g.input(ValueType::new(DType::F32, &[4, 6]), Device::Cpu);
    let red = |op| Op::Reduce {
        op,
        axes: [1usize].into_iter().collect(),
        keepdims: true,
    };
    let m = g.add(red(ReduceOp::Max), &[x], None).unwrap();
    let d = g.add(Op::Binary(BinaryOp::Sub), &[x, m], None).unwrap();
    let e = g.add(Op::Unary(UnaryOp::Exp), &[d], None).unwrap();
    let s = g.add(red(ReduceOp::Sum), &[e], None).unwrap();
    let y = g.add(Op::Binary(BinaryOp::Div), &[e, s], None).unwrap();
    g.output(y).unwrap();
    partition(&g).unwrap().kernels()[0].kernel.clone()
}

#[test]
fn golden_softmax() {
    let k = softmax_kernel();
    let want = "\
kernel _(out a0: f32[4,6], in a1: f32[4,6]) {
  for %0 in 0..4 parallel {
    %1 = acc max:f32
    for %2 in 0..6 {
      %3 = load a1[%0, %2]
      update %1, %3
    }
    %4 = acc sum:f32
    for %5 in 0..6 {
      %6 = load a1[%0, %5]
      %7 = subtract %6, %1
      %8 = exp %7
      update %4, %8
      store a0[%0, %5], %8
    }
    for %9 in 0..6 {
      %10 = load a0[%0, %9]
      %11 = divide %10, %4
      store a0[%0, %9], %11
    }
  }
}
";
    let mut named = k.clone();
    named.name.clear();
    assert_eq!(named.to_string(), want);
    roundtrip(&k);
}

#[test]
fn roundtrip_every_instruction() {
    let mut b = Builder::new("all");
    let a = b.arg(DType::F64, &[3, 2], false);
    let o = b.arg(DType::I64, &[3], true);
    let o2 = b.arg(DType::Bool, &[], true);
    let i = b.open_loop(3, true);
    let acc = b.acc(ReduceOp::ArgMax, DType::F64);
    let j = b.open_loop(2, false);
    let x = b.load(a, &[i, j]);
    let c = b.konst(Scalar::F64(-0.0));
    let n = b.konst(Scalar::F64(f64::NAN));
    let inf = b.konst(Scalar::F64(f64::NEG_INFINITY));
    let t = b.konst(Scalar::F64(1e-300));
    let s = b.binary(BinaryOp::Max, x, c);
    let s = b.binary(BinaryOp::Add, s, n);
    let s = b.binary(BinaryOp::Add, s, inf);
    let s = b.binary(BinaryOp::Mul, s, t);
    let p = b.binary(BinaryOp::Lt, s, x);
    let q = b.unary(UnaryOp::LogicalNot, p);
    let w = b.select(q, s, x);
    b.update_arg(acc, w, j);
    b.close_loop();
    b.store(o, &[i], acc);
    b.close_loop();
    let all = b.acc(ReduceOp::All, DType::Bool);
    let k = b.open_loop(4, false);
    let ki = b.cast(DType::I32, k);
    let z = b.konst(Scalar::I32(-7));
    let e = b.binary(BinaryOp::Ne, ki, z);
    b.update(all, e);
    b.close_loop();
    b.store(o2, &[], all);
    let k = b.finish();
    k.verify().unwrap();
    roundtrip(&k);
    roundtrip(&k.normalized());
}

#[test]
fn parse_errors_name_the_line() {
    let bad = "kernel k(in a0: f32[2], out a1: f32[2]) {\n  for %0 in 0..2 {\n    %1 = load a0[%0]\n    %2 = frobnicate %1\n  }\n}\n";
    let err = parse(bad).unwrap_err().to_string();
    assert!(err.contains("line 4"), "{err}");
    assert!(parse("kernel k() {\n").is_err());
    assert!(parse("nonsense").is_err());
    let w1 = w1_text();
    let k = parse(&w1).unwrap();
    k.verify().unwrap();
    assert_eq!(k.to_string(), w1);
}

fn w1_text() -> String {
    let mut g = Graph::new();
    let ty = ValueType::new(DType::F32, &[8]);
    let (a, b, c) = (
        g.input(ty.clone(), Device::Cpu),
        g.input(ty.clone(), Device::Cpu),
        g.input(ty, Device::Cpu),
    );
    let k = |g: &mut Graph, v: f32| {
        g.add(Op::Const(Literal::scalar(Scalar::F32(v))), &[], None)
            .unwrap()
    };
    let bin = |g: &mut Graph, op, x, y| g.add(Op::Binary(op), &[x, y], None).unwrap();
    let un = |g: &mut Graph, op, x| g.add(Op::Unary(op), &[x], None).unwrap();
    let ab = bin(&mut g, BinaryOp::Mul, a, b);
    let s = bin(&mut g, BinaryOp::Add, ab, c);
    let t = un(&mut g, UnaryOp::Tanh, s);
    let half = k(&mut g, 0.5);
    let t = bin(&mut g, BinaryOp::Mul, t, half);
    let nb = un(&mut g, UnaryOp::Neg, b);
    let e = un(&mut g, UnaryOp::Exp, nb);
    let one = k(&mut g, 1.0);
    let d = bin(&mut g, BinaryOp::Add, one, e);
    let q = bin(&mut g, BinaryOp::Div, a, d);
    let r = bin(&mut g, BinaryOp::Add, t, q);
    g.output(r).unwrap();
    partition(&g).unwrap().kernels()[0].kernel.to_string()
}
