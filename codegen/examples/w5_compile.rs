//! Compile time of the W5 chain (`x = tanh(x)` and `x = x * 1.0001 + 0.5` alternating, `K`
//! steps, float32, 16 elements), built through the fusion pass like the runtime does:
//!
//! ```text
//! cargo run --release -p ember-codegen --example w5_compile [K ...]
//! EMBER_PASS_TIMES=1 cargo run --release -p ember-codegen --example w5_compile 1000
//! ```
//!
//! Prints the partition time and the compile time (a fresh backend each time, so nothing is
//! cached; minimum of several runs, robust against other processes on a shared machine),
//! and checks the compiled kernel against the interpreter. With `EMBER_PASS_TIMES` set, also
//! prints Cranelift's per-pass times of the last compile.

use ember_codegen::cpu::CpuBackend;
use ember_ir::kernel::interp::{run, Buffer};
use ember_ir::passes::fuse::partition;
use ember_ir::{BinaryOp, DType, Device, Graph, Literal, Op, Scalar, UnaryOp, ValueType};
use std::time::Instant;

fn chain(k: usize, n: usize) -> Graph {
    let mut g = Graph::new();
    let mut x = g.input(ValueType::new(DType::F32, &[n]), Device::Cpu);
    let c = |g: &mut Graph, v: f32| {
        g.add(Op::Const(Literal::scalar(Scalar::F32(v))), &[], None)
            .expect("const")
    };
    for i in 0..k {
        x = if i % 2 == 1 {
            let a = c(&mut g, 1.0001);
            let m = g
                .add(Op::Binary(BinaryOp::Mul), &[x, a], None)
                .expect("mul");
            let b = c(&mut g, 0.5);
            g.add(Op::Binary(BinaryOp::Add), &[m, b], None)
                .expect("add")
        } else {
            g.add(Op::Unary(UnaryOp::Tanh), &[x], None).expect("tanh")
        };
    }
    g.output(x).expect("output");
    g
}

fn main() {
    let ks: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let ks = if ks.is_empty() {
        vec![10, 100, 1000]
    } else {
        ks
    };
    let n = 16;
    for k in ks {
        let g = chain(k, n);
        let t0 = Instant::now();
        let sched = partition(&g).expect("partition");
        let fuse = t0.elapsed().as_secs_f64();
        let kernels = sched.kernels();
        let mut best = f64::INFINITY;
        let reps = if k >= 1000 { 5 } else { 10 };
        let mut last = None;
        for _ in 0..reps {
            let backend = CpuBackend::new().expect("host");
            let _ = cranelift_codegen::timing::take_current();
            let t = Instant::now();
            for step in &kernels {
                last = Some(backend.compile(&step.kernel).expect("compile"));
            }
            best = best.min(t.elapsed().as_secs_f64());
            // The backend (and its code) lives as long as `last`.
        }
        if std::env::var_os("EMBER_PASS_TIMES").is_some() {
            eprintln!("{}", cranelift_codegen::timing::take_current());
        }
        // Check the (last) kernel against the interpreter when it is the whole chain.
        if let (Some(c), 1) = (last, kernels.len()) {
            let x: Vec<f64> = (0..n).map(|i| i as f64 * 0.37 - 3.0).collect();
            let mk = || {
                vec![
                    Buffer::from_f64s(DType::F32, &[n], &x),
                    Buffer::zeros(DType::F32, &[n]),
                ]
            };
            let (mut a, mut b) = (mk(), mk());
            c.run_buffers(&mut a).expect("run");
            run(c.kernel(), &mut b).expect("interp");
            let (ra, rb) = (a[1].to_f64s(), b[1].to_f64s());
            let worst = ra
                .iter()
                .zip(&rb)
                .map(|(p, q)| (p - q).abs())
                .fold(0f64, f64::max);
            println!(
                "K={k}: {} kernel(s), fuse {:.2} ms, compile {:.1} ms (min of {reps}), max |jit - interp| {worst:e}",
                sched.kernel_count(),
                fuse * 1e3,
                best * 1e3
            );
        } else {
            println!(
                "K={k}: {} kernel(s), fuse {:.2} ms, compile {:.1} ms (min of {reps})",
                sched.kernel_count(),
                fuse * 1e3,
                best * 1e3
            );
        }
    }
}
