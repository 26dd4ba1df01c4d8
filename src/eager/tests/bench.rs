//! A rough timing of common eager ops, for comparison with NumPy on the same machine:
//! `cargo test --release -p ember --lib eager::tests::bench -- --ignored --nocapture`.

use super::*;
use ember_ir::{DType, ReduceOp, Shape};
use smallvec::SmallVec;
use std::time::Instant;

fn time(name: &str, reps: usize, mut f: impl FnMut() -> Tensor) {
    let _ = f();
    let start = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(f());
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / reps as f64;
    println!("{name:<40} {us:>10.1} us");
}

#[test]
#[ignore = "timing only; run in release with --ignored --nocapture"]
fn bench_common_ops() {
    let n = 1000;
    let v: Vec<f32> = (0..n * n).map(|i| (i % 977) as f32 * 0.01 - 3.0).collect();
    let a = t(v.clone(), &[n, n]);
    let b = t(
        v.iter().map(|x| x * 0.5 + 1.0).collect::<Vec<f32>>(),
        &[n, n],
    );
    let row = t(v[..n].to_vec(), &[n]);
    let vi: Vec<i64> = (0..(n * n) as i64).map(|i| i % 1013 - 500).collect();
    let ai = t(vi, &[n, n]);
    let axes = |a: &[usize]| -> SmallVec<[usize; 4]> { a.iter().copied().collect() };
    time("zeros f64 1e6 (alloc only)", 50, || {
        crate::eager::zeros(&[n, n], DType::F64).unwrap()
    });
    time("full f64 1e6 (alloc + fill)", 50, || {
        crate::eager::full(&[n, n], ember_ir::Scalar::F64(1.0)).unwrap()
    });
    time("add f32 1e6", 50, || bin(BinaryOp::Add, &a, &b));
    time("add f32 1e6 + row broadcast", 50, || {
        bin(BinaryOp::Add, &a, &row)
    });
    time("mul f32 1e6 * scalar", 50, || {
        bin(
            BinaryOp::Mul,
            &a,
            &Tensor::scalar(ember_ir::Scalar::F32(2.0)),
        )
    });
    time("floor_divide i64 1e6", 20, || {
        bin(BinaryOp::FloorDiv, &ai, &t1(vec![7i64]))
    });
    time("exp f32 1e6", 20, || un(UnaryOp::Exp, &a));
    time("tanh f64 1e6 (from i64)", 10, || un(UnaryOp::Tanh, &ai));
    time("cast f32->f64 1e6", 50, || {
        run(Op::Cast(DType::F64), &[&a]).unwrap()
    });
    let red = |op, x: &Tensor, ax: &[usize]| {
        run(
            Op::Reduce {
                op,
                axes: axes(ax),
                keepdims: false,
            },
            &[x],
        )
        .unwrap()
    };
    time("sum f32 all 1e6", 50, || red(ReduceOp::Sum, &a, &[0, 1]));
    time("sum f32 axis 0 1e6", 50, || red(ReduceOp::Sum, &a, &[0]));
    time("sum f32 axis 1 1e6", 50, || red(ReduceOp::Sum, &a, &[1]));
    time("sum i64 all 1e6", 50, || red(ReduceOp::Sum, &ai, &[0, 1]));
    time("max f32 axis 1 1e6", 50, || red(ReduceOp::Max, &a, &[1]));
    time("argmax f32 axis 1 1e6", 20, || {
        red(ReduceOp::ArgMax, &a, &[1])
    });
    let at = run(Op::Permute(axes(&[1, 0])), &[&a]).unwrap();
    time("transpose+reshape (copy) 1e6", 20, || {
        run(Op::Reshape(Shape::from_slice(&[n * n])), &[&at]).unwrap()
    });
    time("add f32 transposed + contiguous", 20, || {
        bin(BinaryOp::Add, &at, &b)
    });
    let m = 256;
    let x = t(v[..m * m].to_vec(), &[m, m]);
    time("matmul f32 256", 20, || run(Op::MatMul, &[&x, &x]).unwrap());
    let xi = run(Op::Cast(DType::I64), &[&x]).unwrap();
    time("matmul i64 256", 5, || {
        run(Op::MatMul, &[&xi, &xi]).unwrap()
    });
    time("where f32 1e6", 20, || {
        let c = bin(BinaryOp::Gt, &a, &b);
        run(Op::Where, &[&c, &a, &b]).unwrap()
    });
}
