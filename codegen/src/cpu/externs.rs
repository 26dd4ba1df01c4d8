//! Rust functions generated code calls for the ops it does not inline (rare ones: float
//! `floor_divide`, integer `power`, and the math library's `log2`, `log10`, `exp2`, `cbrt`,
//! `arcsinh`, `arccosh`, `arctanh`, `hypot`, `copysign`, `fmod`). They call the kernel IR's
//! own scalar semantics ([`ember_ir::kernel::eval`]), so these ops agree with the
//! interpreter bit for bit.
//! Each takes the op as its index in `UnaryOp::ALL` / `BinaryOp::ALL`.
//!
//! Kernels that split themselves over the thread pool ([`super::lower::split`]) call
//! [`ember_cpu_split`] / [`ember_cpu_chunks`] to run a helper function of theirs on the pool,
//! and take their partial results' memory from [`ember_cpu_scratch_take`].

use ember_ir::kernel::eval;
use ember_ir::{BinaryOp, Scalar, UnaryOp};

fn un(op: u32) -> UnaryOp {
    UnaryOp::ALL
        .get(op as usize)
        .copied()
        .unwrap_or(UnaryOp::Neg)
}

fn bin(op: u32) -> BinaryOp {
    BinaryOp::ALL
        .get(op as usize)
        .copied()
        .unwrap_or(BinaryOp::Add)
}

/// `UnaryOp` on a float32.
pub extern "C" fn ember_unary_f32(op: u32, x: f32) -> f32 {
    match eval::unary(un(op), Scalar::F32(x)) {
        Scalar::F32(v) => v,
        _ => f32::NAN,
    }
}

/// `UnaryOp` on a float64.
pub extern "C" fn ember_unary_f64(op: u32, x: f64) -> f64 {
    match eval::unary(un(op), Scalar::F64(x)) {
        Scalar::F64(v) => v,
        _ => f64::NAN,
    }
}

/// `UnaryOp` on an int64 (int32 callers extend and truncate: the ops wrap consistently).
pub extern "C" fn ember_unary_i64(op: u32, x: i64) -> i64 {
    match eval::unary(un(op), Scalar::I64(x)) {
        Scalar::I64(v) => v,
        _ => 0,
    }
}

/// `BinaryOp` on float32s.
pub extern "C" fn ember_binary_f32(op: u32, a: f32, b: f32) -> f32 {
    match eval::binary(bin(op), Scalar::F32(a), Scalar::F32(b)) {
        Scalar::F32(v) => v,
        _ => f32::NAN,
    }
}

/// `BinaryOp` on float64s.
pub extern "C" fn ember_binary_f64(op: u32, a: f64, b: f64) -> f64 {
    match eval::binary(bin(op), Scalar::F64(a), Scalar::F64(b)) {
        Scalar::F64(v) => v,
        _ => f64::NAN,
    }
}

/// `BinaryOp` on int64s.
pub extern "C" fn ember_binary_i64(op: u32, a: i64, b: i64) -> i64 {
    match eval::binary(bin(op), Scalar::I64(a), Scalar::I64(b)) {
        Scalar::I64(v) => v,
        _ => 0,
    }
}

/// `BinaryOp` on int32s (floor_divide, remainder and power wrap in 32 bits like NumPy).
pub extern "C" fn ember_binary_i32(op: u32, a: i32, b: i32) -> i32 {
    match eval::binary(bin(op), Scalar::I32(a), Scalar::I32(b)) {
        Scalar::I32(v) => v,
        _ => 0,
    }
}

/// Recomputes float32 sin (`which == 0`), cos (1) or tan (2) lanes whose argument is beyond
/// the fast range.
///
/// # Safety
/// `x` and `r` point to `n` readable / writable floats.
pub unsafe extern "C" fn ember_sincos_fix_f32(x: *const f32, r: *mut f32, n: u32, which: u32) {
    for i in 0..n as usize {
        // SAFETY: the caller passes n-element stack slots.
        let v = unsafe { *x.add(i) };
        if (v.abs() as f64) > super::math::SINCOS_FAST_LIMIT_F32 || v.is_nan() {
            let y = match which {
                0 => v.sin(),
                1 => v.cos(),
                _ => v.tan(),
            };
            // SAFETY: as above.
            unsafe { *r.add(i) = y };
        }
    }
}

/// Float64 version of [`ember_sincos_fix_f32`].
///
/// # Safety
/// `x` and `r` point to `n` readable / writable doubles.
pub unsafe extern "C" fn ember_sincos_fix_f64(x: *const f64, r: *mut f64, n: u32, which: u32) {
    for i in 0..n as usize {
        // SAFETY: the caller passes n-element stack slots.
        let v = unsafe { *x.add(i) };
        if v.abs() > super::math::SINCOS_FAST_LIMIT_F64 || v.is_nan() {
            let y = match which {
                0 => v.sin(),
                1 => v.cos(),
                _ => v.tan(),
            };
            // SAFETY: as above.
            unsafe { *r.add(i) = y };
        }
    }
}

/// A kernel function (or a helper with the same signature): `args`, `strides`, `start`, `end`.
pub type KernelFn = unsafe extern "C" fn(*const *mut u8, *const i64, i64, i64);

/// Runs `f` once per part `c` in `0..parts` on the pool, over `c * chunk .. (c + 1) * chunk`
/// (clipped to `extent`), with the `nargs` argument pointers of `args` followed by
/// `partials + c * slot`: where part `c` leaves its partial results. Parts and their ranges
/// depend only on the arguments, never on the thread that runs them, so the caller's
/// combine of the partials in part order is deterministic.
///
/// # Safety
/// `f` must be safe to call with these arguments for every part, concurrently; `args` holds
/// `nargs` pointers, and `partials` has `parts * slot` writable bytes.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ember_cpu_split(
    f: KernelFn,
    args: *const usize,
    nargs: u64,
    strides: *const i64,
    parts: u64,
    extent: i64,
    chunk: i64,
    partials: *mut u8,
    slot: u64,
) {
    // SAFETY: the caller passes `nargs` pointers.
    let base: smallvec::SmallVec<[usize; 12]> =
        unsafe { std::slice::from_raw_parts(args, nargs as usize) }.into();
    let (strides, partials) = (strides as usize, partials as usize);
    let part = |c: usize| {
        let mut a = base.clone();
        a.push(partials + c * slot as usize);
        let lo = c as i64 * chunk;
        let hi = (lo + chunk).min(extent);
        // SAFETY: the caller's contract; parts write disjoint partials.
        unsafe { f(a.as_ptr() as *const *mut u8, strides as *const i64, lo, hi) }
    };
    super::pool::Pool::global().run(parts as usize, &part);
}

/// Runs kernel function `f` over `lo..hi` of its parallel loop, split over the pool in chunks
/// at multiples of `granule` (as [`super::CompiledKernel::run`] splits a launch): the path of
/// a self-splitting kernel that cannot take its split form.
///
/// # Safety
/// `f` must be safe to call with `args` and `strides` on disjoint ranges concurrently.
pub unsafe extern "C" fn ember_cpu_chunks(
    f: KernelFn,
    args: *const *mut u8,
    strides: *const i64,
    lo: i64,
    hi: i64,
    granule: u64,
) {
    let pool = super::pool::Pool::global();
    let extent = (hi - lo).max(0) as usize;
    let g = if extent >= 64 {
        (granule as usize).max(16)
    } else {
        (granule as usize).max(1)
    };
    let per = extent.div_ceil(pool.threads() * 4).max(1).div_ceil(g) * g;
    let (args, strides) = (args as usize, strides as usize);
    let chunk = |c: usize| {
        let a = lo + (c * per) as i64;
        let b = (a + per as i64).min(hi);
        // SAFETY: the caller's contract; chunks are disjoint.
        unsafe { f(args as *const *mut u8, strides as *const i64, a, b) }
    };
    pool.run(extent.div_ceil(per), &chunk);
}

/// Scratch buffers lent to running kernels ([`ember_cpu_scratch_take`]): the ones lent out
/// by address, and free ones kept for the next launch (page faults on fresh memory would cost
/// a large share of a reduction's time).
struct Scratch {
    lent: Vec<Box<[u128]>>,
    free: Vec<Box<[u128]>>,
}

static SCRATCH: std::sync::Mutex<Scratch> = std::sync::Mutex::new(Scratch {
    lent: Vec::new(),
    free: Vec::new(),
});

/// Free scratch buffers kept at most.
const SCRATCH_KEEP: usize = 4;

/// Lends a 16-byte aligned buffer of at least `bytes` bytes, until
/// [`ember_cpu_scratch_give`] returns it.
pub extern "C" fn ember_cpu_scratch_take(bytes: u64) -> *mut u8 {
    let n = (bytes as usize).div_ceil(16).max(1);
    let mut s = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    let mut buf = match s.free.iter().position(|b| b.len() >= n) {
        Some(i) => s.free.swap_remove(i),
        None => vec![0u128; n].into_boxed_slice(),
    };
    let p = buf.as_mut_ptr() as *mut u8;
    s.lent.push(buf);
    p
}

/// Returns a buffer lent by [`ember_cpu_scratch_take`].
pub extern "C" fn ember_cpu_scratch_give(p: *mut u8) {
    let mut s = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = s.lent.iter().position(|b| b.as_ptr() as *mut u8 == p) {
        let buf = s.lent.swap_remove(i);
        s.free.push(buf);
        if s.free.len() > SCRATCH_KEEP {
            // Drop the smallest.
            if let Some(j) = (0..s.free.len()).min_by_key(|&j| s.free[j].len()) {
                s.free.swap_remove(j);
            }
        }
    }
}

/// Every symbol the JIT resolves, with its address.
pub fn symbols() -> Vec<(&'static str, *const u8)> {
    vec![
        ("ember_unary_f32", ember_unary_f32 as *const u8),
        ("ember_unary_f64", ember_unary_f64 as *const u8),
        ("ember_unary_i64", ember_unary_i64 as *const u8),
        ("ember_binary_f32", ember_binary_f32 as *const u8),
        ("ember_binary_f64", ember_binary_f64 as *const u8),
        ("ember_binary_i64", ember_binary_i64 as *const u8),
        ("ember_binary_i32", ember_binary_i32 as *const u8),
        ("ember_sincos_fix_f32", ember_sincos_fix_f32 as *const u8),
        ("ember_sincos_fix_f64", ember_sincos_fix_f64 as *const u8),
        ("ember_cpu_split", ember_cpu_split as *const u8),
        ("ember_cpu_chunks", ember_cpu_chunks as *const u8),
        (
            "ember_cpu_scratch_take",
            ember_cpu_scratch_take as *const u8,
        ),
        (
            "ember_cpu_scratch_give",
            ember_cpu_scratch_give as *const u8,
        ),
    ]
}
