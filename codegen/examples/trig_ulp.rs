//! Exhaustive accuracy of the generated float32 `sinh`, `cosh`, `arctan`, `arcsin`,
//! `arccos` and `tan`: every float32 of each function's range through the vector loop (and every
//! `STEP`-th one, default 97, through the scalar strided loop), against the float64 function
//! rounded to float32:
//!
//! ```text
//! cargo run --release -p ember-codegen --example trig_ulp [sinh cosh arctan arcsin arccos tan]
//! ```
//!
//! Ranges: `sinh`/`cosh` all of `[0, 90]` (beyond 89.416 both overflow; `-x` gives the same
//! or negated result by construction), `arctan` all of `[0, inf]`, `arcsin` `[0, 1]`,
//! `arccos` `[-1, 1]`, `tan` `[0, 8192]` (its fast range; beyond, libm; odd by construction).
//! Prints the maximum ULP error with where it occurs and a histogram.

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

/// The op, its float64 reference, and the bit-pattern ranges (inclusive) of its inputs.
type Case = (UnaryOp, fn(f64) -> f64, Vec<(u32, u32)>);

fn main() {
    const CHUNK: usize = 1 << 22;
    let step: usize = std::env::var("STEP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(97);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = ["sinh", "cosh", "arctan", "arcsin", "arccos", "tan"];
    let names: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        args.iter().map(|s| s.as_str()).collect()
    };
    let backend = CpuBackend::new().expect("host");
    for name in names {
        let (op, reference, ranges): Case = match name {
            "sinh" => (UnaryOp::Sinh, f64::sinh, vec![(0, 90f32.to_bits())]),
            "cosh" => (UnaryOp::Cosh, f64::cosh, vec![(0, 90f32.to_bits())]),
            "arctan" => (UnaryOp::Atan, f64::atan, vec![(0, f32::INFINITY.to_bits())]),
            "arcsin" => (UnaryOp::Asin, f64::asin, vec![(0, 1f32.to_bits())]),
            "arccos" => (
                UnaryOp::Acos,
                f64::acos,
                vec![(0, 1f32.to_bits()), (0x8000_0000, (-1f32).to_bits())],
            ),
            "tan" => (UnaryOp::Tan, f64::tan, vec![(0, 8192f32.to_bits())]),
            _ => panic!("unknown function {name}"),
        };
        let mut b = Builder::new(format!("{name}_ulp"));
        let a = b.arg(DType::F32, &[CHUNK], false);
        let o = b.arg(DType::F32, &[CHUNK], true);
        let i = b.open_loop(CHUNK, true);
        let x = b.load(a, &[i]);
        let y = b.unary(op, x);
        b.store(o, &[i], y);
        let k = backend.compile(&b.finish()).expect("compile");
        for (path, stride, every) in [("vector", 1usize, 1usize), ("scalar", 2, step)] {
            let mut worst = (0i64, 0.0f32);
            let mut hist = [0u64; 5];
            let mut input = vec![0f32; CHUNK * stride];
            let mut output = vec![0f32; CHUNK * stride];
            for &(lo, hi) in &ranges {
                let mut start = lo as u64;
                while start <= hi as u64 {
                    let count = (CHUNK as u64).min((hi as u64 + 1 - start).div_ceil(every as u64));
                    for j in 0..CHUNK {
                        let bits = (start + (j as u64).min(count - 1) * every as u64) as u32;
                        input[j * stride] = f32::from_bits(bits);
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
                    for j in 0..count as usize {
                        let x = input[j * stride];
                        let got = output[j * stride];
                        let want = reference(x as f64) as f32;
                        let u = ulps(want, got);
                        hist[(u as usize).min(4)] += 1;
                        if u > worst.0 {
                            worst = (u, x);
                        }
                    }
                    start += count * every as u64;
                }
            }
            println!(
                "{name} float32 {path}: max {} ulp at {:e}; inputs with 0/1/2/3/4+ ulp: {hist:?}",
                worst.0, worst.1
            );
        }
    }
}
