//! Matrix multiply for matmul steps, through `matrixmultiply` (pure Rust, packed AVX2/FMA
//! micro-kernels, multithreaded with its `threading` feature).
//!
//! Operands are strided row-major views: element `(i, j)` of a matrix lives at
//! `ptr + i * rs + j * cs` (strides in elements, any sign), so transposed and broadcast
//! operands need no copy. `C = A @ B` overwrites `C`.
//!
//! Threads: `matrixmultiply` reads `MATMUL_NUM_THREADS` once; when it is unset, the first call
//! here sets it to the machine's available parallelism (its own default counts physical cores
//! only, which is 1 on a 2-vCPU machine).

use crate::error::{CodegenError, Result};
use std::sync::Once;

/// A strided matrix view (`rows x cols`, element `(i, j)` at `ptr + i * rs + j * cs`).
#[derive(Clone, Copy, Debug)]
pub struct Mat<T> {
    /// Address of element `(0, 0)`.
    pub ptr: *const T,
    /// Row stride in elements.
    pub rs: isize,
    /// Column stride in elements.
    pub cs: isize,
}

/// A writable strided matrix view.
#[derive(Clone, Copy, Debug)]
pub struct MatMut<T> {
    /// Address of element `(0, 0)`.
    pub ptr: *mut T,
    /// Row stride in elements.
    pub rs: isize,
    /// Column stride in elements.
    pub cs: isize,
}

/// The element types GEMM supports.
pub trait GemmScalar: Copy + Default + 'static {
    /// `C = A B` for `m x k` A and `k x n` B.
    ///
    /// # Safety
    /// The views must address valid memory for their full extents; `c` must not overlap `a`
    /// or `b`.
    unsafe fn gemm_raw(m: usize, k: usize, n: usize, a: Mat<Self>, b: Mat<Self>, c: MatMut<Self>);
}

impl GemmScalar for f32 {
    unsafe fn gemm_raw(m: usize, k: usize, n: usize, a: Mat<f32>, b: Mat<f32>, c: MatMut<f32>) {
        // SAFETY: forwarded contract.
        unsafe {
            matrixmultiply::sgemm(
                m, k, n, 1.0, a.ptr, a.rs, a.cs, b.ptr, b.rs, b.cs, 0.0, c.ptr, c.rs, c.cs,
            )
        }
    }
}

impl GemmScalar for f64 {
    unsafe fn gemm_raw(m: usize, k: usize, n: usize, a: Mat<f64>, b: Mat<f64>, c: MatMut<f64>) {
        // SAFETY: forwarded contract.
        unsafe {
            matrixmultiply::dgemm(
                m, k, n, 1.0, a.ptr, a.rs, a.cs, b.ptr, b.rs, b.cs, 0.0, c.ptr, c.rs, c.cs,
            )
        }
    }
}

fn init_threads() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            // Set before matrixmultiply's first use reads it (that read is lazy and once).
            std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
        }
    });
}

/// `C = A B` for `m x k` A and `k x n` B (float32 or float64).
///
/// # Safety
/// Each view must address valid memory for its full extent (`m x k`, `k x n`, `m x n`); `c`
/// must not overlap `a` or `b`, and `c`'s elements must be distinct (no zero strides unless
/// that dimension is 1).
pub unsafe fn gemm<T: GemmScalar>(
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
) {
    init_threads();
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: forwarded contract; matrixmultiply handles k == 0 with beta = 0 by zeroing C.
    unsafe { T::gemm_raw(m, k, n, a, b, c) }
}

/// [`gemm`] for float32.
///
/// # Safety
/// As for [`gemm`].
pub unsafe fn sgemm(m: usize, k: usize, n: usize, a: Mat<f32>, b: Mat<f32>, c: MatMut<f32>) {
    // SAFETY: forwarded contract.
    unsafe { gemm(m, k, n, a, b, c) }
}

/// [`gemm`] for float64.
///
/// # Safety
/// As for [`gemm`].
pub unsafe fn dgemm(m: usize, k: usize, n: usize, a: Mat<f64>, b: Mat<f64>, c: MatMut<f64>) {
    // SAFETY: forwarded contract.
    unsafe { gemm(m, k, n, a, b, c) }
}

/// Batch strides (in elements) of a batched matmul: batch `i` of each operand starts at
/// `ptr + i * stride` (0 broadcasts an operand over the batch).
#[derive(Clone, Copy, Debug)]
pub struct BatchStrides {
    /// For A.
    pub a: isize,
    /// For B.
    pub b: isize,
    /// For C.
    pub c: isize,
}

/// `C[i] = A[i] B[i]` for `i in 0..batch` (NumPy's batched matmul after the runtime has
/// flattened and broadcast the batch dimensions into one stride per operand).
///
/// # Safety
/// As for [`gemm`], for every batch.
#[allow(clippy::too_many_arguments)]
pub unsafe fn batched_gemm<T: GemmScalar>(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    strides: BatchStrides,
) {
    for i in 0..batch as isize {
        // SAFETY: the caller guarantees each batch's views.
        unsafe {
            let ai = Mat {
                ptr: a.ptr.offset(i * strides.a),
                ..a
            };
            let bi = Mat {
                ptr: b.ptr.offset(i * strides.b),
                ..b
            };
            let ci = MatMut {
                ptr: c.ptr.offset(i * strides.c),
                ..c
            };
            gemm(m, k, n, ai, bi, ci);
        }
    }
}

/// Safe `C = A B` over C-contiguous slices (`a` is `m x k`, `b` is `k x n`, `c` is `m x n`).
pub fn gemm_slices<T: GemmScalar>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    b: &[T],
    c: &mut [T],
) -> Result<()> {
    if a.len() != m * k || b.len() != k * n || c.len() != m * n {
        return Err(CodegenError::Args(format!(
            "gemm: {m}x{k} @ {k}x{n} needs {} / {} / {} elements, got {} / {} / {}",
            m * k,
            k * n,
            m * n,
            a.len(),
            b.len(),
            c.len()
        )));
    }
    let av = Mat {
        ptr: a.as_ptr(),
        rs: k as isize,
        cs: 1,
    };
    let bv = Mat {
        ptr: b.as_ptr(),
        rs: n as isize,
        cs: 1,
    };
    let cv = MatMut {
        ptr: c.as_mut_ptr(),
        rs: n as isize,
        cs: 1,
    };
    // SAFETY: lengths checked; `c` is a distinct mutable borrow.
    unsafe { gemm(m, k, n, av, bv, cv) };
    Ok(())
}
