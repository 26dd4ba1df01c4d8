//! Measures the CPU backend on W1 (`tanh(a*b+c)*0.5 + a/(1+exp(-b))`, float32) and a row
//! softmax, built from graphs through the fusion pass like the runtime does:
//!
//! ```text
//! cargo run --release -p ember-codegen --example w1_bench [elements]
//! ```
//!
//! Prints compile time (cold, then cached), run time (median of several runs over fresh
//! outputs reused across runs) and the effective bandwidth (bytes read + written / time).
//! `W1_VS_FMA=1` times only W1 and `a*b+c` (the same memory traffic, next to no compute) at
//! full size; `W1_COST_ONLY=1` only the in-cache costs.

use ember_codegen::cpu::{CpuBackend, KernelArg};
use ember_ir::passes::fuse::partition;
use ember_ir::{BinaryOp, DType, Device, Graph, Literal, Op, ReduceOp, Scalar, UnaryOp, ValueType};
use std::time::Instant;

/// A graph with three float32 inputs of `[n]`.
fn three_inputs(n: usize) -> (Graph, [ember_ir::NodeId; 3]) {
    let mut g = Graph::new();
    let ty = ValueType::new(DType::F32, &[n]);
    let ins = [
        g.input(ty.clone(), Device::Cpu),
        g.input(ty.clone(), Device::Cpu),
        g.input(ty, Device::Cpu),
    ];
    (g, ins)
}

/// `a * b + c`: W1's memory traffic with next to no compute.
fn fma_graph(n: usize) -> Graph {
    let (mut g, [a, b, c]) = three_inputs(n);
    let ab = g.add(Op::Binary(BinaryOp::Mul), &[a, b], None).unwrap();
    let r = g.add(Op::Binary(BinaryOp::Add), &[ab, c], None).unwrap();
    g.output(r).unwrap();
    g
}

fn w1_graph(n: usize) -> Graph {
    let (mut g, [a, b, c]) = three_inputs(n);
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

fn reduce_graph(r: usize, c: usize, axis: usize) -> Graph {
    let mut g = Graph::new();
    let x = g.input(ValueType::new(DType::F32, &[r, c]), Device::Cpu);
    let s = g
        .add(
            Op::Reduce {
                op: ReduceOp::Sum,
                axes: [axis].into_iter().collect(),
                keepdims: false,
            },
            &[x],
            None,
        )
        .unwrap();
    g.output(s).unwrap();
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

fn gemm_bench(m: usize, k: usize, n: usize) {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0f32; m * n];
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        ember_codegen::cpu::gemm::gemm_slices(m, k, n, &a, &b, &mut c).expect("gemm");
        times.push(t.elapsed().as_secs_f64());
    }
    let t = median(times);
    println!(
        "sgemm {m}x{k} @ {k}x{n}: {:.1} ms, {:.0} GFLOP/s",
        t * 1e3,
        2.0 * (m * k * n) as f64 / t / 1e9
    );
}

/// Compile time of one fused kernel made of a chain of `ops` elementwise ops (every tenth a
/// `tanh`, the rest alternating multiply and add with constants), like W5.
fn chain_compile(ops: usize) {
    let mut g = Graph::new();
    let mut x = g.input(ValueType::new(DType::F32, &[1000]), Device::Cpu);
    for i in 0..ops {
        x = if i % 10 == 9 {
            g.add(Op::Unary(UnaryOp::Tanh), &[x], None).unwrap()
        } else {
            let c = g
                .add(
                    Op::Const(Literal::scalar(Scalar::F32(1.0 + i as f32 * 1e-3))),
                    &[],
                    None,
                )
                .unwrap();
            let op = if i % 2 == 0 {
                BinaryOp::Mul
            } else {
                BinaryOp::Add
            };
            g.add(Op::Binary(op), &[x, c], None).unwrap()
        };
    }
    g.output(x).unwrap();
    let t0 = Instant::now();
    let sched = partition(&g).expect("partition");
    let t1 = Instant::now();
    let backend = CpuBackend::new().expect("host");
    let _ = backend
        .compile(&sched.kernels()[0].kernel)
        .expect("compile");
    let t2 = Instant::now();
    println!(
        "chain of {ops} ops: {} kernel(s), fuse {:.2} ms, compile {:.1} ms",
        sched.kernel_count(),
        (t1 - t0).as_secs_f64() * 1e3,
        (t2 - t1).as_secs_f64() * 1e3
    );
}

/// Single-thread cost per element of the one kernel of `g` (inputs in cache, minimum over
/// many runs: robust against other processes on a shared machine).
fn cpu_cost(name: &str, backend: &CpuBackend, g: &Graph) {
    let sched = partition(g).expect("partition");
    let k = &sched.kernels()[0].kernel;
    let c = backend.compile(k).expect("compile");
    let mut bufs: Vec<Vec<f32>> = k
        .args
        .iter()
        .map(|a| {
            let n: usize = a.shape.iter().product();
            (0..n)
                .map(|j| ((j * 31) % 400) as f32 / 100.0 - 2.0)
                .collect()
        })
        .collect();
    let args: Vec<KernelArg> = k
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
    let n = k.work() as f64;
    let mut best = f64::INFINITY;
    for _ in 0..2000 {
        let t = Instant::now();
        // SAFETY: every buffer holds its argument's contiguous view.
        unsafe { c.run(&args).expect("run") };
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{name}: {:.3} ns/element single thread, in cache",
        best / n * 1e9
    );
}

/// Single-thread compute cost: W1 over 16K floats (in L1/L2, below the parallel threshold),
/// minimum over many runs, so load from other processes matters less.
fn w1_cpu_cost(backend: &CpuBackend) {
    let n = 16 * 1024;
    let sched = partition(&w1_graph(n)).expect("partition");
    let k = &sched.kernels()[0].kernel;
    let c = backend.compile(k).expect("compile");
    let mut bufs: Vec<Vec<f32>> = (0..4)
        .map(|i| {
            (0..n)
                .map(|j| ((j * 31 + i) % 400) as f32 / 100.0 - 2.0)
                .collect()
        })
        .collect();
    let args: Vec<KernelArg> = bufs
        .iter_mut()
        .map(|b| KernelArg::new(b.as_mut_ptr() as *mut u8, DType::F32, &[1]))
        .collect();
    let mut best = f64::INFINITY;
    for _ in 0..2000 {
        let t = Instant::now();
        // SAFETY: four buffers of n floats, contiguous, as the kernel declares.
        unsafe { c.run(&args).expect("run") };
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "W1 f32 single thread, in cache: {:.2} ns/element",
        best / n as f64 * 1e9
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
    w1_cpu_cost(&backend);
    cpu_cost(
        "sum axis 1 f32 128x128",
        &backend,
        &reduce_graph(128, 128, 1),
    );
    cpu_cost(
        "sum axis 0 f32 128x128",
        &backend,
        &reduce_graph(128, 128, 0),
    );
    cpu_cost("softmax f32 64x256", &backend, &softmax_graph(64, 256));
    if std::env::var_os("W1_COST_ONLY").is_some() {
        return;
    }
    if std::env::var_os("W1_VS_FMA").is_some() {
        let g = fma_graph(n);
        bench("a*b+c", &backend, &g, (n * 16) as f64);
        bench(
            &format!("W1 f32 n={n}"),
            &backend,
            &w1_graph(n),
            (n * 16) as f64,
        );
        return;
    }
    for ops in [10, 100, 1000] {
        chain_compile(ops);
    }
    bench(
        &format!("W1 f32 n={n}"),
        &backend,
        &w1_graph(n),
        (n * 16) as f64,
    );
    bench("W1 f32 n=1024", &backend, &w1_graph(1024), 1024.0 * 16.0);
    gemm_bench(1024, 1024, 4096);
    gemm_bench(1024, 4096, 1024);
    bench(
        "sum axis 0 f32 4096x4096",
        &backend,
        &reduce_graph(4096, 4096, 0),
        4096.0 * 4096.0 * 4.0,
    );
    bench(
        "sum axis 1 f32 4096x4096",
        &backend,
        &reduce_graph(4096, 4096, 1),
        4096.0 * 4096.0 * 4.0,
    );
    bench(
        "softmax f32 4096x4096",
        &backend,
        &softmax_graph(4096, 4096),
        4096.0 * 4096.0 * 8.0,
    );
}
