//! W2 (row softmax of a float32 matrix) from Rust: the kernel the fusion pass emits (the sum
//! phase keeps `exp(x - max)` in the output row, the last phase reads it back and divides)
//! against the earlier form that computes `exp(x - max)` again in the last phase, same process:
//!
//! ```text
//! cargo run --release -p ember-codegen --example softmax_bench [rows] [cols]
//! ```

use ember_codegen::cpu::{CpuBackend, KernelArg};
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::Kernel;
use ember_ir::passes::fuse::partition;
use ember_ir::{BinaryOp, DType, Device, Graph, Op, ReduceOp, UnaryOp, ValueType};
use std::time::Instant;

fn fused(r: usize, c: usize) -> Kernel {
    let mut g = Graph::new();
    let x = g.input(ValueType::new(DType::F32, &[r, c]), Device::Cpu);
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
        .unwrap()
    };
    let m = red(&mut g, ReduceOp::Max, x);
    let d = g.add(Op::Binary(BinaryOp::Sub), &[x, m], None).unwrap();
    let e = g.add(Op::Unary(UnaryOp::Exp), &[d], None).unwrap();
    let s = red(&mut g, ReduceOp::Sum, e);
    let y = g.add(Op::Binary(BinaryOp::Div), &[e, s], None).unwrap();
    g.output(y).unwrap();
    partition(&g).expect("partition").kernels()[0]
        .kernel
        .clone()
}

/// The earlier row kernel: `exp(x - max)` in the sum phase and again in the store phase.
fn recompute(r: usize, c: usize) -> Kernel {
    let dt = DType::F32;
    let mut b = Builder::new("softmax_recompute");
    let out = b.arg(dt, &[r, c], true);
    let a = b.arg(dt, &[r, c], false);
    let i = b.open_loop(r, true);
    let m = b.acc(ReduceOp::Max, dt);
    let j = b.open_loop(c, false);
    let x = b.load(a, &[i, j]);
    b.update(m, x);
    b.close_loop();
    let s = b.acc(ReduceOp::Sum, dt);
    let j = b.open_loop(c, false);
    let x = b.load(a, &[i, j]);
    let d = b.binary(BinaryOp::Sub, x, m);
    let e = b.unary(UnaryOp::Exp, d);
    b.update(s, e);
    b.close_loop();
    let j = b.open_loop(c, false);
    let x = b.load(a, &[i, j]);
    let d = b.binary(BinaryOp::Sub, x, m);
    let e = b.unary(UnaryOp::Exp, d);
    let q = b.binary(BinaryOp::Div, e, s);
    b.store(out, &[i, j], q);
    b.finish()
}

/// Median run time in seconds, and the output.
fn time(backend: &CpuBackend, k: &Kernel, x: &[f32]) -> (f64, Vec<f32>) {
    let compiled = backend.compile(k).expect("compile");
    let mut out = vec![0f32; x.len()];
    let mut x = x.to_vec();
    let mut times = Vec::new();
    for _ in 0..11 {
        let args: Vec<KernelArg> = k
            .args
            .iter()
            .map(|a| {
                let p = if a.output {
                    out.as_mut_ptr()
                } else {
                    x.as_mut_ptr()
                };
                KernelArg::new(
                    p as *mut u8,
                    a.dtype,
                    &ember_ir::shape::contiguous_strides(&a.shape),
                )
            })
            .collect();
        let t = Instant::now();
        // SAFETY: both buffers hold exactly the arguments' contiguous views.
        unsafe { compiled.run(&args).expect("run") };
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (times[times.len() / 2], out)
}

fn main() {
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let (r, c) = (arg(1, 4096), arg(2, 4096));
    let x: Vec<f32> = (0..r * c)
        .map(|j| ((j * 7919) % 4001) as f32 / 100.0 - 20.0)
        .collect();
    let backend = CpuBackend::new().expect("host");
    let bytes = 2.0 * (r * c * 4) as f64;
    let (t_old, y_old) = time(&backend, &recompute(r, c), &x);
    let (t_new, y_new) = time(&backend, &fused(r, c), &x);
    let same = y_old
        .iter()
        .zip(&y_new)
        .filter(|(a, b)| a.to_bits() == b.to_bits())
        .count();
    for (name, t) in [
        ("exp twice (before)", t_old),
        ("exp once, read back (after)", t_new),
    ] {
        println!(
            "softmax {r}x{c} {name}: {:.2} ms, {:.1} GB/s",
            t * 1e3,
            bytes / t / 1e9
        );
    }
    println!("bit-identical outputs: {same} of {}", r * c);
}
