//! Where W2's time goes (row softmax of a float32 matrix): the fused row kernel timed pass by
//! pass, as kernels that stop after each pass, next to a copy with the same traffic, at the
//! full size (memory) and on a few rows run again and again (in cache: compute only).
//!
//! ```text
//! cargo run --release -p ember-codegen --example w2_passes [rows] [cols] [cache_rows]
//! ```
//!
//! Each line: the fastest launch (and the median), GB/s counting one read and one write of the
//! matrix, and CPU cycles per 4-float vector (summed over the threads that ran it) at the
//! measured clock (or `EMBER_GHZ`). The in-cache rows (default 4) stay under the parallel
//! threshold, so they run on one thread with no pool overhead. At full size the other row
//! kernels (log_softmax, layer norm) follow.
//!
//! Buffers are 2 MiB aligned huge pages like the runtime's; the input starts `W2_XOFF` floats
//! past the boundary (default 4: where NumPy puts a large array's data), the output `W2_OOFF`
//! (default 0). `W2_REPS` sets the consecutive launches per round at full size (default 3).

use ember_codegen::cpu::{CpuBackend, KernelArg};
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::Kernel;
use ember_ir::{BinaryOp, DType, ReduceOp, UnaryOp};
use ember_ir::{Device, Graph, Literal, Op, Scalar, ValueType};
use std::time::Instant;

/// How far the row kernel goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Upto {
    /// `out = x` (row loops, the same memory traffic as softmax).
    Copy,
    /// The row max (stored to the second output).
    Max,
    /// The row sum (no max, no exp).
    Sum,
    /// Max, then `exp(x - max)` stored (no sum).
    Exp,
    /// Max, then `exp(x - max)` stored and summed.
    ExpSum,
    /// The whole softmax as fusion emits it (dividing by the sum); the backend pipelines the
    /// max pass of the next row into the division pass.
    Div,
    /// The same, not pipelined (a row-level constant first, which the pipelining does not
    /// match): the max pass alone at the start of each row.
    DivPlain,
    /// The whole softmax, multiplying by the sum's reciprocal (pipelined).
    Recip,
}

fn kernel(r: usize, c: usize, upto: Upto) -> Kernel {
    let dt = DType::F32;
    let mut b = Builder::new(format!("w2_{upto:?}"));
    let out = b.arg(dt, &[r, c], true);
    let red = b.arg(dt, &[r, 1], true);
    let a = b.arg(dt, &[r, c], false);
    let i = b.open_loop(r, true);
    let store_red = |b: &mut Builder, v| {
        let zero = b.konst(ember_ir::Scalar::I64(0));
        b.store(red, &[i, zero], v);
        b.close_loop();
    };
    if upto == Upto::Copy {
        let j = b.open_loop(c, false);
        let x = b.load(a, &[i, j]);
        b.store(out, &[i, j], x);
        b.close_loop();
        b.close_loop();
        return b.finish();
    }
    if upto == Upto::DivPlain {
        b.konst(ember_ir::Scalar::I64(0));
    }
    let first = if upto == Upto::Sum {
        ReduceOp::Sum
    } else {
        ReduceOp::Max
    };
    let m = b.acc(first, dt);
    let j = b.open_loop(c, false);
    let x = b.load(a, &[i, j]);
    b.update(m, x);
    b.close_loop();
    if matches!(upto, Upto::Max | Upto::Sum) {
        store_red(&mut b, m);
        return b.finish();
    }
    let s = b.acc(ReduceOp::Sum, dt);
    let j = b.open_loop(c, false);
    let x = b.load(a, &[i, j]);
    let d = b.binary(BinaryOp::Sub, x, m);
    let e = b.unary(UnaryOp::Exp, d);
    if upto != Upto::Exp {
        b.update(s, e);
    }
    b.store(out, &[i, j], e);
    b.close_loop();
    match upto {
        Upto::Exp => store_red(&mut b, m),
        Upto::ExpSum => store_red(&mut b, s),
        _ => {
            let inv = if upto == Upto::Recip {
                Some(b.unary(UnaryOp::Reciprocal, s))
            } else {
                None
            };
            let j = b.open_loop(c, false);
            let e = b.load(out, &[i, j]);
            let q = match inv {
                Some(inv) => b.binary(BinaryOp::Mul, e, inv),
                None => b.binary(BinaryOp::Div, e, s),
            };
            b.store(out, &[i, j], q);
            b.close_loop();
            b.close_loop();
        }
    }
    b.finish()
}

/// log_softmax or layer norm (the other row kernels) as the fusion pass emits them.
fn other_row_kernel(r: usize, c: usize, layer_norm: bool) -> Kernel {
    let f = DType::F32;
    let mut g = Graph::new();
    let x = g.input(ValueType::new(f, &[r, c]), Device::Cpu);
    let red = |g: &mut Graph, op, x| {
        let axes = [1usize].into_iter().collect();
        let op = Op::Reduce {
            op,
            axes,
            keepdims: true,
        };
        g.add(op, &[x], None).expect("reduce")
    };
    let bin = |g: &mut Graph, op, a, b| g.add(Op::Binary(op), &[a, b], None).expect("binary");
    let un = |g: &mut Graph, op, a| g.add(Op::Unary(op), &[a], None).expect("unary");
    let y = if layer_norm {
        let k = |g: &mut Graph, v: f32| {
            let c = Op::Const(Literal::scalar(Scalar::F32(v)));
            g.add(c, &[], None).expect("const")
        };
        let (n, eps) = (k(&mut g, c as f32), k(&mut g, 1e-5));
        let s = red(&mut g, ReduceOp::Sum, x);
        let mu = bin(&mut g, BinaryOp::Div, s, n);
        let d = bin(&mut g, BinaryOp::Sub, x, mu);
        let d2 = bin(&mut g, BinaryOp::Mul, d, d);
        let v = red(&mut g, ReduceOp::Sum, d2);
        let v = bin(&mut g, BinaryOp::Div, v, n);
        let v = bin(&mut g, BinaryOp::Add, v, eps);
        let sd = un(&mut g, UnaryOp::Sqrt, v);
        bin(&mut g, BinaryOp::Div, d, sd)
    } else {
        let m = red(&mut g, ReduceOp::Max, x);
        let d = bin(&mut g, BinaryOp::Sub, x, m);
        let e = un(&mut g, UnaryOp::Exp, d);
        let s = red(&mut g, ReduceOp::Sum, e);
        let l = un(&mut g, UnaryOp::Log, s);
        bin(&mut g, BinaryOp::Sub, d, l)
    };
    g.output(y).expect("output");
    let p = ember_ir::passes::fuse::partition(&g).expect("partition");
    p.kernels()[0].kernel.clone()
}

/// A float buffer aligned to 2 MiB and advised as huge pages, like the runtime's large
/// buffers and NumPy's large arrays (with 4 KiB pages the TLB misses of a 64 MiB stream
/// would be part of every figure).
struct Buf {
    ptr: *mut f32,
    len: usize,
    /// Elements between the 2 MiB aligned allocation and `ptr`.
    off: usize,
}

extern "C" {
    fn madvise(addr: *mut u8, len: usize, advice: i32) -> i32;
}

impl Buf {
    const ALIGN: usize = 2 << 20;

    fn layout(len: usize) -> std::alloc::Layout {
        let bytes = (len * 4).div_ceil(Self::ALIGN).max(1) * Self::ALIGN;
        std::alloc::Layout::from_size_align(bytes, Self::ALIGN).expect("layout")
    }

    fn new(vals: &[f32]) -> Buf {
        Self::at(vals, 0)
    }

    /// `vals` `off` floats past a 2 MiB boundary.
    fn at(vals: &[f32], off: usize) -> Buf {
        let layout = Self::layout(vals.len() + off);
        // SAFETY: a non-zero size; the memory is initialized below before any read.
        let ptr = unsafe { std::alloc::alloc(layout) };
        assert!(!ptr.is_null(), "out of memory");
        // SAFETY: `ptr` is one allocation of `layout.size()` bytes. MADV_HUGEPAGE (14) is only
        // a hint.
        unsafe {
            madvise(ptr, layout.size(), 14);
            let p = (ptr as *mut f32).add(off);
            std::ptr::copy_nonoverlapping(vals.as_ptr(), p, vals.len());
        }
        Buf {
            // SAFETY: inside the allocation (`off` floats were added to its size).
            ptr: unsafe { (ptr as *mut f32).add(off) },
            len: vals.len(),
            off,
        }
    }

    fn as_slice(&self) -> &[f32] {
        // SAFETY: `len` initialized floats live at `ptr` until drop.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe {
            std::alloc::dealloc(
                self.ptr.sub(self.off) as *mut u8,
                Self::layout(self.len + self.off),
            )
        }
    }
}

/// Where the input starts past a 2 MiB boundary, in floats (`W2_XOFF`, default 4: NumPy's
/// large arrays start 16 bytes into their mapping, and the runtime's outputs on a boundary).
fn x_offset() -> usize {
    std::env::var("W2_XOFF")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

/// A compiled variant with its buffers.
struct Run {
    compiled: std::sync::Arc<ember_codegen::cpu::CompiledKernel>,
    out: Buf,
    red: Buf,
    x: Buf,
    times: Vec<f64>,
}

impl Run {
    fn new(backend: &CpuBackend, k: &Kernel, x: &[f32]) -> Run {
        let rows = k.args[1].shape[0];
        Run {
            compiled: backend.compile(k).expect("compile"),
            out: Buf::at(
                &vec![0f32; x.len()],
                std::env::var("W2_OOFF")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
            ),
            red: Buf::new(&vec![0f32; rows]),
            x: Buf::at(x, x_offset()),
            times: Vec::new(),
        }
    }

    /// Launches the kernel `reps` times and records the time of each launch.
    fn launch(&mut self, reps: usize) {
        let k = self.compiled.kernel().clone();
        let ptrs = [
            self.out.ptr as *mut u8,
            self.red.ptr as *mut u8,
            self.x.ptr as *mut u8,
        ];
        let args: Vec<KernelArg> = k
            .args
            .iter()
            .zip(ptrs)
            .map(|(a, p)| {
                KernelArg::new(p, a.dtype, &ember_ir::shape::contiguous_strides(&a.shape))
            })
            .collect();
        for _ in 0..reps {
            let t = Instant::now();
            // SAFETY: the three buffers hold exactly the arguments' contiguous views.
            unsafe { self.compiled.run(&args).expect("run") };
            self.times.push(t.elapsed().as_secs_f64());
        }
    }

    /// (fastest, median) seconds per launch.
    fn stats(&self) -> (f64, f64) {
        let mut t = self.times.clone();
        t.sort_by(|a, b| a.total_cmp(b));
        (t[0], t[t.len() / 2])
    }
}

/// The core clock measured with a chain of dependent register adds (one cycle each; adds of
/// immediates may be folded at rename on recent cores).
fn clock_ghz() -> f64 {
    let n: u64 = 200_000_000;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let mut x: u64 = 0;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: register arithmetic only.
        unsafe {
            std::arch::asm!(
                "2:",
                "add {x}, {y}",
                "add {x}, {y}",
                "add {x}, {y}",
                "add {x}, {y}",
                "sub {n}, 4",
                "jnz 2b",
                x = inout(reg) x,
                y = in(reg) 3u64,
                n = inout(reg) n => _,
            );
        }
        std::hint::black_box(x);
        best = best.min(t.elapsed().as_secs_f64());
    }
    n as f64 / best / 1e9
}

fn main() {
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let (r, c, small) = (arg(1, 4096), arg(2, 4096), arg(3, 4));
    let ghz: f64 = std::env::var("EMBER_GHZ")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(clock_ghz);
    println!("clock: {ghz:.2} GHz (a chain of dependent adds; EMBER_GHZ overrides)");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let backend = CpuBackend::new().expect("host");
    let x: Vec<f32> = (0..r * c)
        .map(|j| ((j * 7919) % 4001) as f32 / 1000.0 - 2.0)
        .collect();
    let all = [
        Upto::Copy,
        Upto::Max,
        Upto::Sum,
        Upto::Exp,
        Upto::ExpSum,
        Upto::Div,
        Upto::DivPlain,
        Upto::Recip,
    ];
    // Rows below the parallel threshold run on the calling thread: compute only, no launch
    // overhead worth counting.
    for (label, rows, reps, rounds, thr) in [
        (
            "memory, both threads",
            r,
            std::env::var("W2_REPS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(3),
            5,
            threads,
        ),
        ("in cache, one thread", small, 200, 10, 1.0),
        ("in cache, both threads", r.min(64), 50, 10, threads),
    ] {
        let n = rows * c;
        let bytes = 2.0 * (n * 4) as f64;
        println!(
            "{label}: {rows}x{c}, best and median of {} launches",
            reps * rounds
        );
        let mut runs: Vec<Run> = all
            .iter()
            .map(|&u| Run::new(&backend, &kernel(rows, c, u), &x[..n]))
            .collect();
        for r in &mut runs {
            r.launch(1);
            r.times.clear();
        }
        // Round robin: a noisy neighbour slows every variant alike.
        for _ in 0..rounds {
            for r in &mut runs {
                r.launch(reps);
            }
        }
        for (upto, run) in all.iter().zip(&runs) {
            let (best, med) = run.stats();
            let cyc = |t: f64| t * ghz * 1e9 * thr / (n as f64 / 4.0);
            println!(
                "  {:<7} {:>8.3} ms (median {:>8.3}) {:>6.1} GB/s {:>6.2} cycles/vector (median {:>6.2})",
                format!("{upto:?}"),
                best * 1e3,
                med * 1e3,
                bytes / best / 1e9,
                cyc(best),
                cyc(med)
            );
        }
        let (div, rec) = (runs[5].out.as_slice(), runs[7].out.as_slice());
        let worst = div
            .iter()
            .zip(rec)
            .map(|(a, b)| (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs())
            .max()
            .unwrap_or(0);
        let diff = div.iter().zip(rec).filter(|(a, b)| a != b).count();
        println!("  reciprocal vs divide: {diff} of {n} differ, max {worst} ulp");
        let plain = runs[6].out.as_slice();
        if label.starts_with("memory") {
            // The other row kernels, same size: input is the second argument.
            for (name, ln) in [("log_softmax", false), ("layer_norm", true)] {
                let k = other_row_kernel(rows, c, ln);
                let compiled = backend.compile(&k).expect("compile");
                let (out, xin) = (Buf::new(&x[..n]), Buf::new(&x[..n]));
                let strides = ember_ir::shape::contiguous_strides(&[rows, c]);
                let args = [
                    KernelArg::new(out.ptr as *mut u8, DType::F32, &strides),
                    KernelArg::new(xin.ptr as *mut u8, DType::F32, &strides),
                ];
                let mut times = Vec::new();
                for _ in 0..reps * rounds + 1 {
                    let t = Instant::now();
                    // SAFETY: both buffers hold the contiguous [rows, c] views.
                    unsafe { compiled.run(&args).expect("run") };
                    times.push(t.elapsed().as_secs_f64());
                }
                times.remove(0);
                times.sort_by(|a, b| a.total_cmp(b));
                println!(
                    "  {name:<11} {:>8.3} ms (median {:>8.3}) {:>6.1} GB/s",
                    times[0] * 1e3,
                    times[times.len() / 2] * 1e3,
                    bytes / times[0] / 1e9
                );
            }
        }
        let same = div
            .iter()
            .zip(plain)
            .filter(|(a, b)| a.to_bits() == b.to_bits())
            .count();
        println!("  pipelined vs plain: {same} of {n} bit-identical");
    }
}
