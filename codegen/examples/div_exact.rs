//! Checks the row scale routine's division (reciprocal plus one correction,
//! `cpu::wide_rows`) against `y / s` for every float32 significand of `y` in `[1, 2)` and
//! `[2^-80, 2^-79)`, for a few divisors:
//!
//! ```text
//! cargo run --release -p ember-codegen --example div_exact
//! ```

use ember_codegen::cpu::wide_rows::ember_row_scale_f32;

fn main() {
    let divisors = [
        3.0f32, 7.0, 1.1, 4095.7, 1.9999999, 1.0000001, 0.3, 1234567.0,
    ];
    let mut bad = 0usize;
    for base in [1.0f32, 2f32.powi(-80)] {
        let ys: Vec<f32> = (0..1u32 << 23)
            .map(|m| f32::from_bits(base.to_bits() | m))
            .collect();
        let mut out = vec![0.0f32; ys.len()];
        for &s in &divisors {
            // SAFETY: both buffers hold `ys.len()` elements.
            unsafe { ember_row_scale_f32(ys.as_ptr(), s, out.as_mut_ptr(), ys.len(), 0) };
            let wrong = ys
                .iter()
                .zip(&out)
                .filter(|(y, q)| (*y / s).to_bits() != q.to_bits())
                .count();
            println!(
                "y in [{base:e}, {:e}) / {s}: {wrong} of {} differ",
                2.0 * base,
                ys.len()
            );
            bad += wrong;
        }
    }
    assert_eq!(bad, 0, "quotients differ from division");
}
