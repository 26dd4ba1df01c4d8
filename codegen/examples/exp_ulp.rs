//! Exhaustive accuracy of the generated float32 `exp` (or `sigmoid`): every float32 in
//! `[-104, 89]` (`exp`: past both ends of the normal and denormal result range, so overflow to
//! inf and underflow to 0 are covered) or `[-110, 110]` (`sigmoid`), through the vector loop
//! and the scalar (strided) loop, against the float64 function rounded to float32, plus NaN
//! and ±inf:
//!
//! ```text
//! cargo run --release -p ember-codegen --example exp_ulp [exp|sigmoid]
//! ```
//!
//! Prints the maximum ULP error with where it occurs and a histogram (0/1/2/3/4+ ULP), for
//! the inputs whose result is a normal float32 and for the rest (denormal, 0, inf).

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
    let sigmoid = std::env::args().nth(1).as_deref() == Some("sigmoid");
    let (op, name, neg_top, pos_top) = if sigmoid {
        (UnaryOp::Sigmoid, "sigmoid", 110.0f32, 110.0f32)
    } else {
        (UnaryOp::Exp, "exp", 104.0, 89.0)
    };
    let reference = |x: f32| -> f32 {
        if sigmoid {
            ember_ir::kernel::eval::sigmoid_f64(x as f64) as f32
        } else {
            (x as f64).exp() as f32
        }
    };
    let backend = CpuBackend::new().expect("host");
    let mut b = Builder::new("exp_ulp");
    let a = b.arg(DType::F32, &[CHUNK], false);
    let o = b.arg(DType::F32, &[CHUNK], true);
    let i = b.open_loop(CHUNK, true);
    let x = b.load(a, &[i]);
    let y = b.unary(op, x);
    b.store(o, &[i], y);
    let k = backend.compile(&b.finish()).expect("compile");
    let specials = [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
    for (path, stride) in [("vector", 1usize), ("scalar", 2)] {
        // [normal results, other results]: (worst ulp, at), histogram.
        let mut worst = [(0i64, 0.0f32); 2];
        let mut hist = [[0u64; 5]; 2];
        let mut input = vec![0f32; CHUNK * stride];
        let mut output = vec![0f32; CHUNK * stride];
        for (sign, top) in [(0u32, pos_top), (0x8000_0000, neg_top)] {
            let top = top.to_bits() as usize;
            let mut start = 0usize;
            while start <= top {
                for j in 0..CHUNK {
                    input[j * stride] = f32::from_bits(((start + j).min(top) as u32) | sign);
                }
                if start == 0 {
                    for (j, &s) in specials.iter().enumerate() {
                        input[(CHUNK - 1 - j) * stride] = s;
                    }
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
                for j in 0..CHUNK {
                    let x = input[j * stride];
                    let got = output[j * stride];
                    let want = reference(x);
                    let u = ulps(want, got);
                    let c = usize::from(!want.is_normal());
                    hist[c][(u as usize).min(4)] += 1;
                    if u > worst[c].0 {
                        worst[c] = (u, x);
                    }
                }
                start += CHUNK;
            }
        }
        for (c, what) in ["normal", "denormal/0/inf/nan"].iter().enumerate() {
            println!(
                "{name} float32 {path}, {what} results: max {} ulp at {:e}; 0/1/2/3/4+ ulp: {:?}",
                worst[c].0, worst[c].1, hist[c]
            );
        }
    }
}
