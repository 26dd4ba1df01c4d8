//! Matrix multiply for matmul steps: a packed, cache-blocked GEMM with AVX-512 and AVX2+FMA
//! micro-kernels chosen at run time ([`Isa::best`]), multithreaded on the process-wide
//! [`crate::cpu::pool::Pool`], with an epilogue (an addend such as a bias row, then relu)
//! applied as each tile of C is stored, so `relu(x @ w + b)` writes C once.
//!
//! Operands are strided row-major views: element `(i, j)` of a matrix lives at
//! `ptr + i * rs + j * cs` (strides in elements, any sign), so transposed and broadcast
//! operands need no copy: packing reads them as they are. `C = A @ B` overwrites `C`.
//!
//! Without AVX2 (or off x86-64) the GEMM is `matrixmultiply` (pure Rust, multithreaded with
//! its `threading` feature) followed by a scalar epilogue pass. `matrixmultiply` reads
//! `MATMUL_NUM_THREADS` once; when it is unset, the first call here sets it to the machine's
//! available parallelism (its own default counts physical cores only, 1 on a 2-vCPU machine).
//!
//! Thin products (`m == 1` or `n == 1`: dot, matrix-vector, vector-matrix, and batches of
//! them) skip the packed driver and run as vectorized loops over the operands (`gemv`).
//!
//! Integer and bool matmuls ([`int_matmul`], [`bool_matmul`]) convert their operands and run
//! on the float GEMM where that is exact, on exact wrapping loops otherwise (`int`).
//!
//! Layout: `driver` (loop nest, packing, threads, edge tiles), `x86` (micro-kernels),
//! `gemv` (thin products), `tiny` (batches of tiny products), `int` (integer and bool
//! products).
//!
//! Performance (2-core Sapphire Rapids, `codegen/examples/gemm_bench.rs`): float32 2048^3 about
//! 345 GFLOP/s (OpenBLAS about the same), float64 about 160. Debug builds compile the
//! micro-kernels without inlining their intrinsics and run them at about 1 GFLOP/s: measure
//! release builds.

mod driver;
mod gemv;
mod int;
mod tiny;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use int::{bool_matmul, f64_exact, int_matmul, int_matmul_exact, IntScalar};

use crate::error::{CodegenError, Result};
use std::ops::{Add, Mul};
use std::sync::{Once, OnceLock};

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

impl<T> Mat<T> {
    /// A C-contiguous matrix at `ptr` with `cols` columns (row stride `cols`).
    pub fn row_major(ptr: *const T, cols: usize) -> Self {
        Mat {
            ptr,
            rs: cols as isize,
            cs: 1,
        }
    }
}

impl<T> MatMut<T> {
    /// A C-contiguous matrix at `ptr` with `cols` columns (row stride `cols`).
    pub fn row_major(ptr: *mut T, cols: usize) -> Self {
        MatMut {
            ptr,
            rs: cols as isize,
            cs: 1,
        }
    }
}

/// What happens to each element of `A B` before it is stored:
/// `C[i, j] = relu?((A B)[i, j] + addend[i, j])`.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<T> {
    /// An `m x n` view added to the product; zero strides broadcast it (a bias row is
    /// `rs = 0, cs = 1`, a per-row value `rs = 1, cs = 0`).
    pub addend: Option<Mat<T>>,
    /// Then `maximum(x, 0)` as NumPy computes it (NaN stays NaN, -0.0 becomes +0.0).
    pub relu: bool,
}

impl<T> Epilogue<T> {
    /// No epilogue: `C = A B`.
    pub const NONE: Epilogue<T> = Epilogue {
        addend: None,
        relu: false,
    };
}

/// Which micro-kernels run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F micro-kernels.
    Avx512,
    /// AVX2 + FMA micro-kernels.
    Avx2,
    /// `matrixmultiply` and a scalar epilogue (any CPU).
    Portable,
}

impl Isa {
    /// The fastest kind this CPU supports (detected once).
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            [Isa::Avx512, Isa::Avx2]
                .into_iter()
                .find(|i| i.is_available())
                .unwrap_or(Isa::Portable)
        })
    }

    /// Whether this CPU can run it.
    pub fn is_available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
                Isa::Avx2 => {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                }
                Isa::Portable => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Isa::Portable
        }
    }
}

mod sealed {
    /// Keeps [`super::GemmScalar`] to the types this module implements it for.
    pub trait Sealed {
        /// The micro-kernel and blocking for `isa` (`None`: use the portable path).
        fn spec(isa: super::Isa) -> Option<super::driver::Spec<Self>>
        where
            Self: Sized;
        /// `C = A B` through `matrixmultiply`.
        ///
        /// # Safety
        /// As for [`super::gemm`].
        #[allow(clippy::too_many_arguments)]
        unsafe fn portable(
            m: usize,
            k: usize,
            n: usize,
            a: super::Mat<Self>,
            b: super::Mat<Self>,
            c: super::MatMut<Self>,
        ) where
            Self: Sized;
        /// The value as float64 (exact).
        fn to_f64(self) -> f64;
        /// The float64 `x` rounded to this type.
        fn from_f64(x: f64) -> Self;
    }
}

/// The element types GEMM supports (float32 and float64).
pub trait GemmScalar:
    sealed::Sealed
    + tiny::TinyScalar
    + Copy
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Mul<Output = Self>
    + Send
    + Sync
    + 'static
{
    /// `maximum(self, 0)` with NumPy's signs: NaN stays NaN, -0.0 becomes +0.0.
    fn relu(self) -> Self {
        if self <= Self::default() {
            Self::default()
        } else {
            self
        }
    }
}

impl GemmScalar for f32 {}
impl GemmScalar for f64 {}

macro_rules! scalar_impl {
    (
        $t:ty, $mm:ident,
        avx512: $avx512:ident, $pack512:ident, nr $nr512:literal, kc $kc512:literal, mc $mc512:literal;
        avx2: $avx2:ident, nr $nr2:literal, kc $kc2:literal, mc $mc2:literal
    ) => {
        impl sealed::Sealed for $t {
            fn spec(isa: Isa) -> Option<driver::Spec<$t>> {
                #[cfg(target_arch = "x86_64")]
                {
                    match isa {
                        Isa::Avx512 => Some(driver::Spec {
                            mr: x86::MR,
                            nr: $nr512,
                            mc: $mc512,
                            kc: $kc512,
                            nc: 4096,
                            kernel: x86::$avx512,
                            pack_a: Some(x86::$pack512),
                        }),
                        Isa::Avx2 => Some(driver::Spec {
                            mr: x86::MR,
                            nr: $nr2,
                            mc: $mc2,
                            kc: $kc2,
                            nc: 4096,
                            kernel: x86::$avx2,
                            pack_a: None,
                        }),
                        Isa::Portable => None,
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = isa;
                    None
                }
            }

            unsafe fn portable(
                m: usize,
                k: usize,
                n: usize,
                a: Mat<$t>,
                b: Mat<$t>,
                c: MatMut<$t>,
            ) {
                init_threads();
                // SAFETY: forwarded contract; with beta = 0 matrixmultiply overwrites C (and
                // zeroes it when k == 0).
                unsafe {
                    matrixmultiply::$mm(
                        m, k, n, 1.0, a.ptr, a.rs, a.cs, b.ptr, b.rs, b.cs, 0.0, c.ptr, c.rs, c.cs,
                    )
                }
            }

            fn to_f64(self) -> f64 {
                f64::from(self)
            }

            fn from_f64(x: f64) -> Self {
                x as $t
            }
        }
    };
}

// Blocking (measured on a 2-core Sapphire Rapids, 48 KiB L1d, 2 MiB L2 per core): a KC-deep
// B sliver is reused from L1/L2 by every A sliver of an MC-row block held in L2; NC bounds the
// packed B block.
scalar_impl!(f32, sgemm,
    avx512: sgemm_avx512, pack_a_f32_avx512, nr 64, kc 384, mc 336;
    avx2: sgemm_avx2, nr 16, kc 256, mc 144);
scalar_impl!(f64, dgemm,
    avx512: dgemm_avx512, pack_a_f64_avx512, nr 32, kc 256, mc 336;
    avx2: dgemm_avx2, nr 8, kc 256, mc 144);

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
    // SAFETY: forwarded contract.
    unsafe { gemm_with(Isa::best(), m, k, n, a, b, c, &Epilogue::NONE) }
}

/// `C = epilogue(A B)` with the micro-kernels of `isa` (the best available one when this CPU
/// lacks it).
///
/// # Safety
/// As for [`gemm`]; the epilogue's addend must address `m x n` elements (after its
/// broadcasting strides) and not overlap `c`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_with<T: GemmScalar>(
    isa: Isa,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    epi: &Epilogue<T>,
) {
    // SAFETY: forwarded contract.
    unsafe { gemm_blocked(isa, None, m, k, n, a, b, c, epi) }
}

/// Cache blocking of the packed GEMM, rounded to whole register tiles (small values let
/// tests cross every block edge with small matrices).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Blocking {
    /// Rows of A per packed block.
    pub mc: usize,
    /// Depth per block.
    pub kc: usize,
    /// Columns of B per packed block.
    pub nc: usize,
}

/// [`gemm_with`] with the given blocking instead of the tuned one.
///
/// # Safety
/// As for [`gemm_with`].
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_blocked<T: GemmScalar>(
    isa: Isa,
    blocking: Option<Blocking>,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    epi: &Epilogue<T>,
) {
    if m == 0 || n == 0 {
        return;
    }
    if blocking.is_none() && gemv::applies(m, n) {
        // SAFETY: forwarded contract.
        unsafe { gemv::gemv(m, k, n, a, b, c, epi) };
        return;
    }
    if blocking.is_none() && tiny::applies(m, k, n) {
        let st = BatchStrides { a: 0, b: 0, c: 0 };
        // SAFETY: forwarded contract.
        unsafe { tiny::tiny_float(1, m, k, n, a, b, c, st, epi) };
        return;
    }
    if blocking.is_none() && gemv::small_applies(m, k, n) {
        // SAFETY: forwarded contract.
        unsafe { gemv::small(m, k, n, a, b, c, epi) };
        return;
    }
    let isa = if isa.is_available() { isa } else { Isa::best() };
    let spec = T::spec(isa).filter(|_| k > 0).map(|mut s| {
        if let Some(b) = blocking {
            s.mc = b.mc.max(1).div_ceil(s.mr) * s.mr;
            s.kc = b.kc.max(1);
            s.nc = b.nc.max(1).div_ceil(s.nr) * s.nr;
        }
        s
    });
    match spec {
        // SAFETY: forwarded contract.
        Some(spec) => unsafe { driver::gemm(&spec, m, k, n, a, b, c, epi) },
        None => {
            // SAFETY: forwarded contract (k == 0 zeroes C).
            unsafe { T::portable(m, k, n, a, b, c) };
            if epi.addend.is_some() || epi.relu {
                // SAFETY: forwarded contract.
                unsafe { apply_epilogue(m, n, c, epi) };
            }
        }
    }
}

/// `C = epilogue(C)`, element by element.
///
/// # Safety
/// As for [`gemm_with`].
unsafe fn apply_epilogue<T: GemmScalar>(m: usize, n: usize, c: MatMut<T>, epi: &Epilogue<T>) {
    for i in 0..m as isize {
        for j in 0..n as isize {
            // SAFETY: (i, j) lies in both views.
            unsafe {
                let dst = c.ptr.offset(i * c.rs + j * c.cs);
                let mut x = *dst;
                if let Some(d) = epi.addend {
                    x = x + *d.ptr.offset(i * d.rs + j * d.cs);
                }
                if epi.relu {
                    x = x.relu();
                }
                *dst = x;
            }
        }
    }
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
    // SAFETY: forwarded contract.
    unsafe { batched_gemm_with(batch, m, k, n, a, b, c, strides, &Epilogue::NONE) }
}

/// `C[i] = epilogue(A[i] B[i])` for `i in 0..batch`, the same epilogue (addend included) for
/// every batch.
///
/// # Safety
/// As for [`gemm_with`], for every batch.
#[allow(clippy::too_many_arguments)]
pub unsafe fn batched_gemm_with<T: GemmScalar>(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    strides: BatchStrides,
    epi: &Epilogue<T>,
) {
    // A stack of A against one B whose rows (of A and of C) are evenly spaced across the
    // batch is one taller product: `batch * m` rows, a single packed B. The addend must be
    // the same for every row (a bias row) to survive the fold.
    let mi = m as isize;
    let fold = batch > 1
        && strides.b == 0
        && strides.a == mi * a.rs
        && strides.c == mi * c.rs
        && epi.addend.as_ref().is_none_or(|d| d.rs == 0 || m == 1);
    if fold {
        let epi = Epilogue {
            addend: epi.addend.map(|d| Mat { rs: 0, ..d }),
            relu: epi.relu,
        };
        // SAFETY: forwarded contract: rows `i * m + r` of the tall A and C are row `r` of
        // batch `i`.
        unsafe { gemm_with(Isa::best(), batch * m, k, n, a, b, c, &epi) };
        return;
    }
    if tiny::applies(m, k, n) {
        // SAFETY: forwarded contract.
        unsafe { tiny::tiny_float(batch, m, k, n, a, b, c, strides, epi) };
        return;
    }
    if gemv::applies(m, n) {
        // SAFETY: forwarded contract.
        unsafe { gemv::batched_gemv(batch, m, k, n, a, b, c, strides, epi) };
        return;
    }
    /// The views, shared read-only by the threads.
    struct Job<'a, T> {
        a: Mat<T>,
        b: Mat<T>,
        c: MatMut<T>,
        epi: &'a Epilogue<T>,
    }
    // SAFETY: the caller vouches for the views; threads write disjoint batches of C.
    unsafe impl<T> Sync for Job<'_, T> {}
    let job = Job { a, b, c, epi };
    let one = |i: usize| {
        let (job, i) = (&job, i as isize);
        let ai = Mat {
            ptr: job.a.ptr.wrapping_offset(i * strides.a),
            ..job.a
        };
        let bi = Mat {
            ptr: job.b.ptr.wrapping_offset(i * strides.b),
            ..job.b
        };
        let ci = MatMut {
            ptr: job.c.ptr.wrapping_offset(i * strides.c),
            ..job.c
        };
        // SAFETY: the caller guarantees each batch's views.
        unsafe { gemm_with(Isa::best(), m, k, n, ai, bi, ci, job.epi) };
    };
    // Products too small to split over the threads themselves are split by batch.
    let work = m.saturating_mul(k).saturating_mul(n);
    let pool = crate::cpu::pool::Pool::global();
    if batch >= 2 && work < BATCH_SPLIT_MAX && work.saturating_mul(batch) >= BATCH_SPLIT_MAX {
        let parts = pool.threads().min(batch);
        let per = batch.div_ceil(parts);
        pool.run(parts, &|p| {
            (p * per..((p + 1) * per).min(batch)).for_each(one)
        });
    } else {
        (0..batch).for_each(one);
    }
}

/// A batched product whose products are each below this many multiply-adds (the packed
/// driver's own threshold for using threads) splits its batch over the pool's threads.
const BATCH_SPLIT_MAX: usize = 1 << 18;

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
    let av = Mat::row_major(a.as_ptr(), k);
    let bv = Mat::row_major(b.as_ptr(), n);
    let cv = MatMut::row_major(c.as_mut_ptr(), n);
    // SAFETY: lengths checked; `c` is a distinct mutable borrow.
    unsafe { gemm(m, k, n, av, bv, cv) };
    Ok(())
}

/// The views of one batched product that the pool's threads share ([`int::int_matmul_exact`],
/// [`tiny::tiny`]).
#[derive(Clone, Copy)]
pub(super) struct Job<T> {
    pub(super) m: usize,
    pub(super) k: usize,
    pub(super) n: usize,
    pub(super) a: Mat<T>,
    pub(super) b: Mat<T>,
    pub(super) c: MatMut<T>,
    pub(super) strides: BatchStrides,
}

// SAFETY: the callers of the products that share a `Job` vouch for its views; their threads
// write disjoint parts of C (rows or whole batches) and only read A and B.
unsafe impl<T> Sync for Job<T> {}
