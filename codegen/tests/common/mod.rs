//! Shared helpers for the backend tests: deterministic random data, strided buffers, and the
//! check that a compiled kernel matches the interpreter.
#![allow(dead_code)]

use ember_codegen::cpu::CpuBackend;
use ember_ir::kernel::interp::{self, Buffer};
use ember_ir::kernel::Kernel;
use ember_ir::passes::fuse::partition;
use ember_ir::{DType, Graph};
use std::sync::OnceLock;

/// One backend for the whole test binary (compiles are cached across tests).
pub fn backend() -> &'static CpuBackend {
    static B: OnceLock<CpuBackend> = OnceLock::new();
    B.get_or_init(|| CpuBackend::new().expect("host ISA"))
}

/// A small deterministic generator (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Random values for a dtype (ints in a small range, floats in [lo, hi)).
pub fn values(rng: &mut Rng, dtype: DType, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n)
        .map(|_| match dtype {
            DType::Bool => (rng.next() & 1) as f64,
            DType::I32 | DType::I64 => (rng.uniform(lo, hi)).round(),
            _ => rng.uniform(lo, hi),
        })
        .collect()
}

/// A buffer whose view of `shape` is strided: each dimension is padded by `pad` elements
/// (so strides are not C-contiguous) when `strided` is set.
pub fn buffer(dtype: DType, shape: &[usize], vals: &[f64], strided: bool) -> Buffer {
    if !strided {
        return Buffer::from_f64s(dtype, shape, vals);
    }
    // Allocate shape with the last dim doubled and take every second element.
    let mut big = shape.to_vec();
    if let Some(l) = big.last_mut() {
        *l *= 2;
    }
    let n: usize = big.iter().product();
    let mut data = vec![0.0; n];
    let strides_big = ember_ir::shape::contiguous_strides(&big);
    for (i, &v) in vals.iter().enumerate() {
        let mut rem = i;
        let mut at = 0isize;
        for d in (0..shape.len()).rev() {
            let idx = rem % shape[d];
            rem /= shape[d];
            let mul = if d + 1 == shape.len() { 2 } else { 1 };
            at += (idx * mul) as isize * strides_big[d];
        }
        data[at as usize] = v;
    }
    let mut b = Buffer::from_f64s(dtype, &big, &data);
    b.strides = strides_big
        .iter()
        .enumerate()
        .map(|(d, &s)| if d + 1 == shape.len() { s * 2 } else { s })
        .collect();
    b
}

/// Distance in units in the last place between two floats of `dtype` (0 when both are NaN or
/// equal; huge for NaN vs number).
pub fn ulps(dtype: DType, a: f64, b: f64) -> f64 {
    if a.is_nan() && b.is_nan() || a == b {
        return 0.0;
    }
    if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() {
        return f64::INFINITY;
    }
    match dtype {
        DType::F32 => {
            let (x, y) = (a as f32, b as f32);
            let ox = ord32(x);
            let oy = ord32(y);
            (ox - oy).abs() as f64
        }
        DType::F64 => (ord64(a) - ord64(b)).unsigned_abs() as f64,
        _ => f64::INFINITY,
    }
}

fn ord32(x: f32) -> i64 {
    let b = x.to_bits() as i32 as i64;
    if b < 0 {
        i32::MIN as i64 - b
    } else {
        b
    }
}

fn ord64(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    if b < 0 {
        i64::MIN - b
    } else {
        b
    }
}

/// Runs `kernel` through the interpreter and the JIT on the same inputs and asserts the outputs
/// agree: exactly for non-floats, within `max_ulps` (or `abs_tol` relative to `1 + |want|`)
/// for floats.
pub fn check(kernel: &Kernel, inputs: &[Buffer], max_ulps: f64, abs_tol: f64) {
    let mut bufs: Vec<Buffer> = Vec::new();
    let mut it = inputs.iter();
    for a in &kernel.args {
        if a.output {
            bufs.push(Buffer::zeros(a.dtype, &a.shape));
        } else {
            bufs.push(
                it.next()
                    .expect("an input buffer per input argument")
                    .clone(),
            );
        }
    }
    let mut want = bufs.clone();
    interp::run(kernel, &mut want).unwrap_or_else(|e| panic!("interpreter: {e}\n{kernel}"));
    let compiled = backend()
        .compile(kernel)
        .unwrap_or_else(|e| panic!("compile: {e}\n{kernel}"));
    compiled
        .run_buffers(&mut bufs)
        .unwrap_or_else(|e| panic!("run: {e}"));
    for (i, a) in kernel.args.iter().enumerate() {
        if !a.output {
            continue;
        }
        let (w, g) = (want[i].to_f64s(), bufs[i].to_f64s());
        for (j, (x, y)) in w.iter().zip(&g).enumerate() {
            let ok = if a.dtype.is_float() {
                // Zeros must agree in sign too (visible through `1 / x`).
                let zeros_differ =
                    *x == 0.0 && *y == 0.0 && x.is_sign_negative() != y.is_sign_negative();
                !zeros_differ
                    && (ulps(a.dtype, *x, *y) <= max_ulps
                        || (x - y).abs() <= abs_tol * (1.0 + x.abs()))
            } else {
                x == y
            };
            assert!(
                ok,
                "output {i} element {j}: interpreter {x:e}, jit {y:e} ({} ulps)\n{kernel}",
                ulps(a.dtype, *x, *y)
            );
        }
    }
}

/// Compiles every kernel of `g`'s schedule and checks it against the interpreter on random
/// inputs in `[lo, hi)`, contiguous and strided (see [`check`] for the tolerances). Returns
/// the schedule's kernel count.
pub fn check_schedule(
    g: &Graph,
    rng: &mut Rng,
    (lo, hi): (f64, f64),
    max_ulps: f64,
    abs_tol: f64,
) -> usize {
    let s = partition(g).unwrap();
    for ks in s.kernels() {
        for strided in [false, true] {
            let ins: Vec<_> = ks
                .kernel
                .args
                .iter()
                .filter(|a| !a.output)
                .map(|a| {
                    let n: usize = a.shape.iter().product();
                    buffer(a.dtype, &a.shape, &values(rng, a.dtype, n, lo, hi), strided)
                })
                .collect();
            check(&ks.kernel, &ins, max_ulps, abs_tol);
        }
    }
    s.kernel_count()
}
