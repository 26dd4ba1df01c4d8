//! Measures the CPU backend on W1 (`tanh(a*b+c)*0.5 + a/(1+exp(-b))`, float32) and a row
//! softmax, built from graphs through the fusion pass like the runtime does:
//!
//! ```text
//! cargo run --release -p ember-codegen --example w1_bench [elements]
//! ```
//!
//! Prints compile time (cold, then cached), run time (median of several runs over fresh
//! outputs reused across runs) and the effective bandwidth (bytes read + written / time).

use ember_codegen::cpu::{CpuBackend, KernelArg};
use ember_ir::passes::fuse::partition;
use ember_ir::{BinaryOp, DType, Device, Graph, Literal, Op, ReduceOp, Scalar, UnaryOp, ValueType};
use std::time::Instant;

fn w1_graph(n: usize) -> Graph {
    let mut g = Graph::new();
    let ty = ValueType::new(DType::F32, &[n]);
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
    g
}

fn softmax_graph(r: usize, c: usize) -> Graph {
    let mut g = Graph::new();
    let x = g.input(ValueType::new(DType::F32, &[r, c]), Device::Cpu);
    let red = |g: &mut Graph, op, x| {
        g.add(
            Op::Reduce {
                op,
                axes: [1usize].into_iter().collect(),
                keepdims: true,
            },
            &[x],
            None,
        )
        .unwrap()
    };
    let m = red(&mut g, ReduceOp::Max, x);
    let d = g.add(Op::Binary(BinaryOp::Sub), &[x, m], None).unwrap();
    let e = g.add(Op::Unary(UnaryOp::Exp), &[d], None).unwrap();
    let s = red(&mut g, ReduceOp::Sum, e);
    let y = g.add(Op::Binary(BinaryOp::Div), &[e, s], None).unwrap();
    g.output(y).unwrap();
    g
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn bench(name: &str, backend: &CpuBackend, g: &Graph, bytes: f64) {
    let sched = partition(g).expect("partition");
    let ks = sched.kernels();
    assert_eq!(ks.len(), 1, "{name}: expected one fused kernel");
    let step = ks[0];
    let t0 = Instant::now();
    let compiled = backend.compile(&step.kernel).expect("compile");
    let cold = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let _ = backend.compile(&step.kernel).expect("compile");
    let warm = t1.elapsed().as_secs_f64();
    // Buffers: inputs with values in [-2, 2), outputs allocated once and reused.
    let mut bufs: Vec<Vec<f32>> = step
        .kernel
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let n: usize = a.shape.iter().product();
            (0..n)
                .map(|j| ((j * 7919 + i * 104729) % 4001) as f32 / 1000.0 - 2.0)
                .collect()
        })
        .collect();
    let args: Vec<KernelArg> = step
        .kernel
        .args
        .iter()
        .zip(bufs.iter_mut())
        .map(|(a, b)| {
            KernelArg::new(
                b.as_mut_ptr() as *mut u8,
                a.dtype,
                &ember_ir::shape::contiguous_strides(&a.shape),
            )
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        // SAFETY: every buffer holds exactly its argument's contiguous view.
        unsafe { compiled.run(&args).expect("run") };
        times.push(t.elapsed().as_secs_f64());
    }
    let t = median(times);
    println!(
        "{name}: compile {:.2} ms (cached lookup {:.1} us), run {:.1} us median, {:.1} GB/s",
        cold * 1e3,
        warm * 1e6,
        t * 1e6,
        bytes / t / 1e9
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(16 << 20);
    let backend = CpuBackend::new().expect("host");
    println!(
        "threads: {}",
        ember_codegen::cpu::pool::Pool::global().threads()
    );
    bench(
        &format!("W1 f32 n={n}"),
        &backend,
        &w1_graph(n),
        (n * 16) as f64,
    );
    bench("W1 f32 n=1024", &backend, &w1_graph(1024), 1024.0 * 16.0);
    bench(
        "softmax f32 4096x4096",
        &backend,
        &softmax_graph(4096, 4096),
        4096.0 * 4096.0 * 8.0,
    );
}
