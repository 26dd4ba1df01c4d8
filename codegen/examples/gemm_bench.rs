//! GEMM throughput from Rust, without Python: float32 and float64 at 2048^3, the two W3
//! matmuls (`relu(x @ w1 + b1) @ w2 + b2`, 1024/1024/4096) with their epilogues fused, and each
//! micro-kernel kind this CPU has.
//!
//!     cargo run --release -p ember-codegen --example gemm_bench [-- reps]

use ember_codegen::cpu::gemm::{gemm_with, Epilogue, GemmScalar, Isa, Mat, MatMut};
use std::time::Instant;

extern "C" {
    fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
}

/// `n` values from `f`, in memory aligned to 2 MiB and advised as huge pages (as the runtime's
/// buffers and NumPy's large arrays are). Leaked: the example runs once.
fn huge<T: Copy>(n: usize, f: impl Fn(usize) -> T) -> &'static mut [T] {
    const MADV_HUGEPAGE: i32 = 14;
    let bytes = (n * std::mem::size_of::<T>()).max(1);
    let layout = std::alloc::Layout::from_size_align(bytes, 2 << 20).expect("layout");
    // SAFETY: a fresh allocation of `n` elements, each written before the slice is made.
    unsafe {
        let p = std::alloc::alloc(layout) as *mut T;
        assert!(!p.is_null(), "out of memory");
        madvise(p as *mut std::ffi::c_void, bytes, MADV_HUGEPAGE);
        for i in 0..n {
            p.add(i).write(f(i));
        }
        std::slice::from_raw_parts_mut(p, n)
    }
}

/// Best and median seconds of `reps` runs after one warm-up.
fn time(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[0], t[t.len() / 2])
}

#[allow(clippy::too_many_arguments)]
fn bench<T: GemmScalar>(
    name: &str,
    isa: Isa,
    m: usize,
    k: usize,
    n: usize,
    bias_relu: bool,
    conv: fn(f64) -> T,
    reps: usize,
) -> f64 {
    let a = huge(m * k, |i| conv((i % 7) as f64 * 0.1));
    let b = huge(k * n, |i| conv((i % 5) as f64 * 0.1 - 0.2));
    let bias: Vec<T> = (0..n).map(|i| conv(i as f64 * 1e-3)).collect();
    let c = huge(m * n, |_| conv(0.0));
    let epi = Epilogue {
        addend: bias_relu.then_some(Mat {
            ptr: bias.as_ptr(),
            rs: 0,
            cs: 1,
        }),
        relu: bias_relu,
    };
    let (best, med) = time(reps, || {
        // SAFETY: the views cover exactly the buffers.
        unsafe {
            gemm_with(
                isa,
                m,
                k,
                n,
                Mat::row_major(a.as_ptr(), k),
                Mat::row_major(b.as_ptr(), n),
                MatMut::row_major(c.as_mut_ptr(), n),
                &epi,
            )
        }
    });
    let flop = 2.0 * (m * k * n) as f64;
    println!(
        "{name:>8} {isa:?} {m}x{k} @ {k}x{n}{}: best {:.2} ms ({:.0} GFLOP/s), median {:.2} ms ({:.0} GFLOP/s)",
        if bias_relu { " +bias+relu" } else { "" },
        best * 1e3,
        flop / best / 1e9,
        med * 1e3,
        flop / med / 1e9
    );
    med
}

fn main() {
    let reps = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let f32c = |x: f64| x as f32;
    let isas: Vec<Isa> = [Isa::Avx512, Isa::Avx2, Isa::Portable]
        .into_iter()
        .filter(|i| i.is_available())
        .collect();
    for &isa in &isas {
        bench("sgemm", isa, 2048, 2048, 2048, false, f32c, reps);
    }
    for &isa in &isas {
        let w3 = bench("W3 mm1", isa, 1024, 1024, 4096, true, f32c, reps)
            + bench("W3 mm2", isa, 1024, 4096, 1024, true, f32c, reps);
        println!("   W3 {isa:?}: {:.2} ms (sum of medians)", w3 * 1e3);
    }
    for &isa in &isas {
        bench("dgemm", isa, 2048, 2048, 2048, false, |x| x, reps);
    }
}
