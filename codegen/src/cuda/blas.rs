//! cuBLAS for matrix products on a GPU, loaded at run time and never required.
//!
//! Finding it: like NVRTC (see [`super::nvrtc`]): `EMBER_CUBLAS_PATH` (the file or its directory),
//! then `site-packages/nvidia/cublas/lib/` of the Python environments (the
//! `nvidia-cublas-cu12` wheel, about 600 MB, which Ember does not install: a CUDA toolkit or
//! that wheel provides it), then the system loader by name. The library must be
//! `libcublas.so.12` (cudarc's bindings are for CUDA 12); its companion `libcublasLt.so.12` is
//! loaded from the same directory first, so the loader resolves it there. `EMBER_CUBLAS=0`
//! turns cuBLAS off (the tiled kernel runs instead).
//!
//! Guarding: cudarc's dynamic loading *panics* when the library is missing or lacks a symbol,
//! so nothing here calls into cudarc's cuBLAS bindings before the library is known to be
//! loaded ([`cublas`]), and every call is wrapped in `catch_unwind`: without cuBLAS the
//! answer is an error with the reason, never a panic.
//!
//! Layouts: cuBLAS is column-major and needs one unit stride per matrix. [`plan`] maps a
//! row-major product `C[b] = A[b] @ B[b]` (C contiguous, A and B any strided views) to one
//! `cublas<t>gemmStridedBatched` call computing `C^T = B^T A^T`, choosing for each operand
//! the transpose flag and leading dimension its strides allow; a layout with no unit stride
//! (or a negative or overlapping one) has no plan, and the caller gathers it or uses the
//! tiled kernel. [`reference()`] runs a planned call with cuBLAS's column-major semantics on the
//! host, so the mapping is tested without a GPU.

use super::error::CudaError;
use super::libs;
use crate::error::Result;
use cudarc::cublas::{result, sys};
use ember_ir::DType;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The library file searched for.
pub const LIB_NAME: &str = "libcublas.so.12";
/// Its companion, loaded first from the same directory.
const LT_NAME: &str = "libcublasLt.so.12";

const SEARCH: libs::Search = libs::Search {
    env_var: "EMBER_CUBLAS_PATH",
    file: LIB_NAME,
    package: "cublas",
};

/// The cuBLAS library in use.
#[derive(Clone, Debug)]
pub struct BlasInfo {
    /// Where it was loaded from (`None`: found by the system loader by name).
    pub path: Option<PathBuf>,
    /// `(major, minor, patch)`.
    pub version: (i32, i32, i32),
}

/// cuBLAS, found and loaded on first use (once per process), or why it is unavailable.
pub fn cublas() -> Result<&'static BlasInfo> {
    static LIB: OnceLock<std::result::Result<BlasInfo, String>> = OnceLock::new();
    LIB.get_or_init(load)
        .as_ref()
        .map_err(|why| CudaError::NoCublas(why.clone()).into())
}

fn load() -> std::result::Result<BlasInfo, String> {
    if std::env::var("EMBER_CUBLAS").is_ok_and(|v| v.trim() == "0") {
        return Err("turned off by EMBER_CUBLAS=0".into());
    }
    let (candidates, looked) = libs::candidates(&SEARCH);
    let mut why = format!("no {LIB_NAME}");
    for path in &candidates {
        if let Some(lt) = path
            .parent()
            .map(|d| d.join(LT_NAME))
            .filter(|p| p.is_file())
        {
            // SAFETY: loading cuBLASLt runs its initializers, which have no preconditions.
            if let Ok(lib) = unsafe { libloading::Library::new(&lt) } {
                std::mem::forget(lib);
            }
        }
        // SAFETY: as above, for cuBLAS.
        match unsafe { libloading::Library::new(path) } {
            Ok(lib) => {
                // Kept open: cudarc resolves its symbols through the loader's handle to it.
                std::mem::forget(lib);
                return finish(Some(path.clone()));
            }
            Err(e) => why = format!("{} failed to load: {e}", path.display()),
        }
    }
    // SAFETY: only tries to open the library by its usual names.
    if unsafe { sys::is_culib_present() } {
        return finish(None);
    }
    Err(format!("{why}; looked in {}", looked.join(", ")))
}

fn finish(path: Option<PathBuf>) -> std::result::Result<BlasInfo, String> {
    // SAFETY: only opens the library by name (it is loaded now, so the loader finds it).
    if !unsafe { sys::is_culib_present() } {
        return Err(format!(
            "{} loaded, but cudarc could not open it by name",
            path.as_ref()
                .map_or(LIB_NAME.to_string(), |p| p.display().to_string())
        ));
    }
    let prop = |t: sys::libraryPropertyType| -> std::result::Result<i32, String> {
        let mut v = 0;
        // SAFETY: the library is loaded; cublasGetProperty only writes the integer.
        let status = catch_unwind(AssertUnwindSafe(|| unsafe {
            sys::cublasGetProperty(t, &mut v)
        }))
        .map_err(|_| "the library has no cublasGetProperty".to_string())?;
        status
            .result()
            .map_err(|e| format!("cublasGetProperty failed: {e:?}"))?;
        Ok(v)
    };
    use sys::libraryPropertyType::{MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL};
    let version = (
        prop(MAJOR_VERSION)?,
        prop(MINOR_VERSION)?,
        prop(PATCH_LEVEL)?,
    );
    if version.0 != 12 {
        return Err(format!(
            "found cuBLAS {}.{}, but Ember's CUDA bindings are for CUDA 12",
            version.0, version.1
        ));
    }
    Ok(BlasInfo { path, version })
}

/// One operand of a cuBLAS call: transposed or not, its leading dimension and batch stride
/// (in elements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlasOperand {
    /// `CUBLAS_OP_T` instead of `CUBLAS_OP_N`.
    pub trans: bool,
    /// Leading dimension.
    pub ld: i64,
    /// Elements between consecutive matrices of the batch.
    pub stride: i64,
}

/// One `cublas<t>gemmStridedBatched` call in cuBLAS's (column-major) terms:
/// `C[:, :, b] = op(A[b]) (m x k) * op(B[b]) (k x n)`, with `C` at leading dimension `ldc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlasGemm {
    /// Rows of cuBLAS's C (the columns of the row-major result).
    pub m: i32,
    /// Columns of cuBLAS's C (the rows of the row-major result).
    pub n: i32,
    /// The reduction's length.
    pub k: i32,
    /// cuBLAS's A: the row-major right operand.
    pub a: BlasOperand,
    /// cuBLAS's B: the row-major left operand.
    pub b: BlasOperand,
    /// Leading dimension of C.
    pub ldc: i64,
    /// Elements between consecutive matrices of C.
    pub stride_c: i64,
    /// Matrices in the batch.
    pub batch: i32,
}

/// The strides (in elements) of one row-major operand: element `(r, c)` of matrix `b` is at
/// `b * batch + r * row + c * col`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strides {
    /// Between matrices of the batch.
    pub batch: isize,
    /// Between rows.
    pub row: isize,
    /// Between columns.
    pub col: isize,
}

/// `(trans, ld)` for an operand that cuBLAS reads with its `unit` axis contiguous and the
/// `ld` axis at the leading dimension, or `None` when the strides do not allow it. An axis
/// of length 1 may have any stride.
fn fit(unit: (usize, isize), lead: (usize, isize), min_ld: usize) -> Option<i64> {
    if unit.0 > 1 && unit.1 != 1 {
        return None;
    }
    let min_ld = min_ld.max(1) as i64;
    let ld = if lead.0 <= 1 { min_ld } else { lead.1 as i64 };
    (ld >= min_ld && ld <= i32::MAX as i64).then_some(ld)
}

/// The cuBLAS call for the row-major product of `batch` matrices `A (m x k) @ B (k x n)`
/// into a contiguous `C`, or `None` when a layout does not suit cuBLAS (no unit stride,
/// negative strides, sizes beyond `i32`) or there is nothing to reduce (`k == 0`).
pub fn plan(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Strides,
    b: Strides,
) -> Option<BlasGemm> {
    let small = |x: usize| i32::try_from(x).ok();
    let (cm, cn, ck, cb) = (small(n)?, small(m)?, small(k)?, small(batch)?);
    if k == 0 || m == 0 || n == 0 || batch == 0 {
        return None;
    }
    let batch_stride = |s: isize| -> Option<i64> {
        match batch {
            1 => Some(0),
            _ if s >= 0 => Some(s as i64),
            _ => None,
        }
    };
    // cuBLAS's A is our B, viewed as n x k: N needs B's columns contiguous, T its rows.
    let op_a = match fit((n, b.col), (k, b.row), n) {
        Some(ld) => (false, ld),
        None => (true, fit((k, b.row), (n, b.col), k)?),
    };
    // cuBLAS's B is our A, viewed as k x m: N needs A's rows contiguous (along k), T its
    // columns.
    let op_b = match fit((k, a.col), (m, a.row), k) {
        Some(ld) => (false, ld),
        None => (true, fit((m, a.row), (k, a.col), m)?),
    };
    Some(BlasGemm {
        m: cm,
        n: cn,
        k: ck,
        a: BlasOperand {
            trans: op_a.0,
            ld: op_a.1,
            stride: batch_stride(b.batch)?,
        },
        b: BlasOperand {
            trans: op_b.0,
            ld: op_b.1,
            stride: batch_stride(a.batch)?,
        },
        ldc: n as i64,
        stride_c: (m * n) as i64,
        batch: cb,
    })
}

impl BlasGemm {
    /// Elements past the operand's start that the call reads: `(cuBLAS's A, B, C)`.
    pub fn extents(&self) -> (usize, usize, usize) {
        let (m, n, k, nb) = (
            self.m as i64,
            self.n as i64,
            self.k as i64,
            self.batch as i64,
        );
        let span = |o: &BlasOperand, rows: i64, cols: i64| -> usize {
            // Stored rows x cols (column-major): the last element is (rows-1, cols-1).
            let (r, c) = if o.trans { (cols, rows) } else { (rows, cols) };
            ((nb - 1) * o.stride + (c - 1) * o.ld + (r - 1) + 1).max(0) as usize
        };
        (
            span(&self.a, m, k),
            span(&self.b, k, n),
            ((nb - 1) * self.stride_c + (n - 1) * self.ldc + m).max(0) as usize,
        )
    }
}

/// Runs `g` on host slices with cuBLAS's semantics (`beta = 0`): the reference the mapping
/// is tested against, and the simulated device's "cuBLAS". Sums are accumulated in `f64`.
pub fn reference(g: &BlasGemm, a: &[f64], b: &[f64], c: &mut [f64]) {
    let at = |o: &BlasOperand, bt: i64, r: i64, col: i64| -> usize {
        let base = bt * o.stride;
        (if o.trans {
            base + col + r * o.ld
        } else {
            base + r + col * o.ld
        }) as usize
    };
    for bt in 0..g.batch as i64 {
        for y in 0..g.n as i64 {
            for x in 0..g.m as i64 {
                let mut s = 0.0;
                for p in 0..g.k as i64 {
                    s += a[at(&g.a, bt, x, p)] * b[at(&g.b, bt, p, y)];
                }
                c[(bt * g.stride_c + y * g.ldc + x) as usize] = s;
            }
        }
    }
}

/// A cuBLAS handle bound to one stream. Create one only after [`cublas`] succeeded.
#[derive(Debug)]
pub struct Handle(sys::cublasHandle_t);

// SAFETY: a cuBLAS handle may be used from any thread; the owner serializes its use.
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

impl Handle {
    /// A handle whose work goes to `stream`.
    ///
    /// # Safety
    /// `stream` is a live stream of the context current on this thread, and outlives the
    /// handle.
    pub unsafe fn new(stream: sys::cudaStream_t) -> std::result::Result<Handle, String> {
        cublas().map_err(|e| e.to_string())?;
        catch_unwind(|| {
            let h = result::create_handle().map_err(|e| format!("cublasCreate: {e:?}"))?;
            let handle = Handle(h);
            // SAFETY: a live handle and stream.
            unsafe { result::set_stream(handle.0, stream) }
                .map_err(|e| format!("cublasSetStream: {e:?}"))?;
            Ok(handle)
        })
        .unwrap_or_else(|_| Err("the cuBLAS library is missing a symbol".into()))
    }

    /// Queues `g` on the handle's stream over device pointers to cuBLAS's `a`, `b` and `c`
    /// (the row-major B, A and C).
    ///
    /// # Safety
    /// The pointers address live device allocations of `dtype` elements holding at least
    /// [`BlasGemm::extents`] elements past them, and `c` aliases neither input.
    pub unsafe fn gemm(
        &self,
        dtype: DType,
        g: &BlasGemm,
        a: u64,
        b: u64,
        c: u64,
    ) -> std::result::Result<(), String> {
        let op = |t: bool| {
            if t {
                sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                sys::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let (ta, tb) = (op(g.a.trans), op(g.b.trans));
        let (lda, ldb, ldc) = (g.a.ld as i32, g.b.ld as i32, g.ldc as i32);
        let status = catch_unwind(AssertUnwindSafe(|| match dtype {
            DType::F32 => {
                let (one, zero) = (1.0f32, 0.0f32);
                // SAFETY: the caller's contract; alpha and beta are host scalars.
                unsafe {
                    result::sgemm_strided_batched(
                        self.0,
                        ta,
                        tb,
                        g.m,
                        g.n,
                        g.k,
                        &one,
                        a as *const f32,
                        lda,
                        g.a.stride,
                        b as *const f32,
                        ldb,
                        g.b.stride,
                        &zero,
                        c as *mut f32,
                        ldc,
                        g.stride_c,
                        g.batch,
                    )
                }
                .map_err(|e| format!("cublasSgemmStridedBatched: {e:?}"))
            }
            DType::F64 => {
                let (one, zero) = (1.0f64, 0.0f64);
                // SAFETY: as above.
                unsafe {
                    result::dgemm_strided_batched(
                        self.0,
                        ta,
                        tb,
                        g.m,
                        g.n,
                        g.k,
                        &one,
                        a as *const f64,
                        lda,
                        g.a.stride,
                        b as *const f64,
                        ldb,
                        g.b.stride,
                        &zero,
                        c as *mut f64,
                        ldc,
                        g.stride_c,
                        g.batch,
                    )
                }
                .map_err(|e| format!("cublasDgemmStridedBatched: {e:?}"))
            }
            other => Err(format!("cuBLAS has no GEMM of {other} here")),
        }));
        status.unwrap_or_else(|_| Err("the cuBLAS library is missing a symbol".into()))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by cublasCreate and destroyed once; a failure only leaks it.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            result::destroy_handle(self.0)
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row-major `A @ B` for a batch, from the operands' storage and strides.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        nb: usize,
        m: usize,
        k: usize,
        n: usize,
        a: &[f64],
        sa: Strides,
        b: &[f64],
        sb: Strides,
    ) -> Vec<f64> {
        let mut c = vec![0.0; nb * m * n];
        for bt in 0..nb {
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0.0;
                    for p in 0..k {
                        let x = a[(bt as isize * sa.batch
                            + i as isize * sa.row
                            + p as isize * sa.col) as usize];
                        let y = b[(bt as isize * sb.batch
                            + p as isize * sb.row
                            + j as isize * sb.col) as usize];
                        s += x * y;
                    }
                    c[(bt * m + i) * n + j] = s;
                }
            }
        }
        c
    }

    /// The layouts of an `r x c` operand: C order, transposed, padded rows, padded columns
    /// (no unit stride), and shared across the batch; with the storage length they need.
    fn layouts(nb: usize, r: usize, c: usize) -> Vec<(&'static str, Strides, usize)> {
        let (ri, ci) = (r as isize, c as isize);
        let whole = nb * r * c;
        vec![
            (
                "c",
                Strides {
                    batch: ri * ci,
                    row: ci,
                    col: 1,
                },
                whole,
            ),
            (
                "t",
                Strides {
                    batch: ri * ci,
                    row: 1,
                    col: ri,
                },
                whole,
            ),
            (
                "padded",
                Strides {
                    batch: ri * (ci + 3),
                    row: ci + 3,
                    col: 1,
                },
                nb * r * (c + 3),
            ),
            (
                "no unit",
                Strides {
                    batch: 2 * ri * ci,
                    row: 2 * ci,
                    col: 2,
                },
                2 * whole,
            ),
            (
                "shared",
                Strides {
                    batch: 0,
                    row: ci,
                    col: 1,
                },
                r * c,
            ),
        ]
    }

    #[test]
    fn planned_calls_compute_the_row_major_product() {
        let mut planned = 0;
        for (nb, m, k, n) in [
            (1, 1, 1, 1),
            (1, 3, 1, 5),
            (2, 4, 7, 3),
            (3, 1, 5, 6),
            (2, 6, 3, 1),
        ] {
            for (la, sa, lena) in layouts(nb, m, k) {
                for (lb, sb, lenb) in layouts(nb, k, n) {
                    let a: Vec<f64> = (0..lena).map(|x| (x % 7) as f64 - 3.0).collect();
                    let b: Vec<f64> = (0..lenb).map(|x| (x % 5) as f64 - 2.0).collect();
                    let Some(g) = plan(nb, m, k, n, sa, sb) else {
                        // Only layouts without a unit stride (on an axis longer than 1) fail.
                        assert!(
                            la == "no unit" || lb == "no unit",
                            "{nb}x{m}x{k}x{n} {la} @ {lb} has no plan"
                        );
                        continue;
                    };
                    planned += 1;
                    let (ea, eb, ec) = g.extents();
                    assert!(ea <= lenb && eb <= lena && ec == nb * m * n, "{g:?}");
                    let mut c = vec![f64::NAN; ec];
                    reference(&g, &b, &a, &mut c);
                    let want = naive(nb, m, k, n, &a, sa, &b, sb);
                    assert_eq!(c, want, "{nb}x{m}x{k}x{n} {la} @ {lb}: {g:?}");
                    assert!(g.ldc >= i64::from(g.m) && g.a.ld >= 1 && g.b.ld >= 1);
                }
            }
        }
        assert!(planned > 80, "{planned}");
    }

    #[test]
    fn layouts_cublas_cannot_read_have_no_plan() {
        let c = |r: isize, col: isize| Strides {
            batch: 0,
            row: r,
            col,
        };
        assert!(plan(1, 4, 4, 4, c(8, 2), c(4, 1)).is_none());
        assert!(plan(
            2,
            4,
            4,
            4,
            Strides {
                batch: -16,
                row: 4,
                col: 1
            },
            c(4, 1)
        )
        .is_none());
        // Overlapping rows (a broadcast row of a matrix) are not a leading dimension.
        assert!(plan(1, 4, 4, 4, c(0, 1), c(4, 1)).is_none());
        assert!(plan(1, 4, 0, 4, c(0, 1), c(4, 1)).is_none());
        assert!(plan(1, 4, 4, 4, c(4, 1), c(4, 1)).is_some());
    }

    #[test]
    fn a_missing_library_is_an_error_not_a_panic() {
        // Whatever this machine has, asking never panics, and a failure says why.
        if let Err(e) = cublas() {
            assert!(e.to_string().contains("cuBLAS"), "{e}");
        }
    }
}
