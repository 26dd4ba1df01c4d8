//! Exhaustive accuracy of the generated float32 `tanh`: every float32 in `[0, 10]` (and its
//! negation, which must give the negated result) through the vector loop and the scalar
//! (strided) loop, against float64 `tanh` rounded to float32:
//!
//! ```text
//! cargo run --release -p ember-codegen --example tanh_ulp
//! ```
//!
//! Prints the maximum ULP error with where it occurs, a histogram, and the maximum per
//! half-unit of `|x|`.

use ember_codegen::cpu::{CpuBackend, KernelArg};
use ember_ir::kernel::build::Builder;
use ember_ir::{DType, UnaryOp};

fn ord(x: f32) -> i64 {
    let b = x.to_bits() as i32 as i64;
    if b < 0 {
        i32::MIN as i64 - b
    } else {
        b
    }
}

fn ulps(want: f32, got: f32) -> i64 {
    if want.is_nan() && got.is_nan() || want == got {
        0
    } else if want.is_nan() || got.is_nan() {
        i64::MAX
    } else {
        (ord(want) - ord(got)).abs()
    }
}

fn main() {
    const CHUNK: usize = 1 << 22;
    let backend = CpuBackend::new().expect("host");
    let mut b = Builder::new("tanh_ulp");
    let a = b.arg(DType::F32, &[CHUNK], false);
    let o = b.arg(DType::F32, &[CHUNK], true);
    let i = b.open_loop(CHUNK, true);
    let x = b.load(a, &[i]);
    let y = b.unary(UnaryOp::Tanh, x);
    b.store(o, &[i], y);
    let k = backend.compile(&b.finish()).expect("compile");
    let top = 10.0f32.to_bits() as usize;
    for (path, stride) in [("vector", 1usize), ("scalar", 2)] {
        let mut worst = (0i64, 0.0f32);
        let mut hist = [0u64; 5];
        let mut per_half = [0i64; 20];
        let mut input = vec![0f32; CHUNK * stride];
        let mut output = vec![0f32; CHUNK * stride];
        let mut start = 0usize;
        while start <= top {
            for sign in [0u32, 0x8000_0000] {
                for j in 0..CHUNK {
                    input[j * stride] = f32::from_bits(((start + j).min(top) as u32) | sign);
                }
                let args = [
                    KernelArg::new(
                        input.as_mut_ptr() as *mut u8,
                        DType::F32,
                        &[stride as isize],
                    ),
                    KernelArg::new(
                        output.as_mut_ptr() as *mut u8,
                        DType::F32,
                        &[stride as isize],
                    ),
                ];
                // SAFETY: both buffers hold CHUNK elements at the given stride.
                unsafe { k.run(&args).expect("run") };
                for j in 0..CHUNK.min(top + 1 - start) {
                    let x = input[j * stride];
                    let got = output[j * stride];
                    let want = (x as f64).tanh() as f32;
                    let u = ulps(want, got);
                    if sign == 0 {
                        hist[(u as usize).min(4)] += 1;
                        let h = ((x * 2.0) as usize).min(19);
                        per_half[h] = per_half[h].max(u);
                    }
                    if u > worst.0 {
                        worst = (u, x);
                    }
                }
            }
            start += CHUNK;
        }
        println!(
            "tanh float32 {path}: max {} ulp at {:e}; inputs with 0/1/2/3/4+ ulp: {hist:?}",
            worst.0, worst.1
        );
        println!("  max per [k/2, (k+1)/2): {per_half:?}");
    }
}
