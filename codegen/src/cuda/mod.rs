//! The CUDA backend: kernel IR to CUDA C, compiled at run time with NVRTC and launched through
//! cudarc's dynamically loaded driver API. It builds and its GPU-less parts run on any machine:
//! no CUDA toolkit, driver or GPU is needed to render kernels, compile them to PTX (NVRTC comes
//! from the `nvidia-cuda-nvrtc-cu12` Python wheel, found on its own) or check their grid logic.
//!
//! ```ignore
//! use ember_codegen::cuda;
//! let src: String = cuda::render(&kernel)?;              // CUDA C (no GPU needed)
//! let k = cuda::compile_kernel(&kernel, 90)?;            // PTX for compute_90 (needs NVRTC)
//! let ptx: &str = k.ptx().unwrap_or_default();
//! if cuda::available() {                                 // a driver and a device
//!     for d in cuda::devices()? { println!("cuda:{} {}", d.ordinal, d.name); }
//!     let dev = cuda::runtime::CudaDevice::open(0)?;
//!     dev.run_buffers(&kernel, &mut buffers)?;           // upload, launch, download
//! }
//! ```
//!
//! * [`render`](mod@render): the per-op table ([`ops`]) plus a launch [`plan`] (thread per element with
//!   grid-stride loops and a vector path; block per row with warp-shuffle + shared-memory
//!   reductions; or a single thread) written through [`std::fmt::Write`].
//! * [`nvrtc`]: finds and loads NVRTC, compiles with documented accuracy options.
//! * [`cache`]: compiled kernels by normalized structure in memory, and on disk
//!   ([`clear_cache`] empties both).
//! * [`device`]: discovery; with no driver, [`devices`] explains why ("no CUDA driver found
//!   (looked for libcuda.so, ...)").
//! * [`runtime`]: device buffers, copies (pinned staging for large ones), launches, events
//!   (pooled by [`recycle`]).
//! * [`grid`]: runs a kernel's plan on the CPU (blocks, threads, warp shuffles, shared memory,
//!   barriers) so the grid logic is tested against the interpreter without a GPU.
//!
//! Matrix multiplication: a matrix product written in the kernel IR (a `k` loop with an
//! accumulator, then its epilogue; optionally batched) is recognized by the planner and
//! rendered as a shared-memory tiled GEMM ([`gemm`]: 64x64 tiles per block, 4x4 per thread,
//! `k` in slices of 16), which the grid simulator runs too; [`epilogue`] combines a product
//! with the elementwise kernel fused after it, so the tiled GEMM stores the epilogue's results
//! instead of the product. [`blas`] loads cuBLAS when it is present (a CUDA toolkit, or the
//! `nvidia-cublas-cu12` wheel, which Ember does not install) and maps row-major strided
//! products to `cublas<t>gemmStridedBatched`; without it, matrix products use the tiled kernel
//! and the runtime says why.

pub mod blas;
pub mod cache;
pub mod device;
pub mod epilogue;
pub mod error;
pub mod gemm;
pub mod grid;
mod libs;
pub mod nvrtc;
pub mod ops;
pub mod plan;
pub mod recycle;
pub mod render;
pub mod runtime;

pub use cache::{CacheStats, CompiledKernel};
pub use device::CudaDeviceInfo;
pub use error::CudaError;

use crate::error::Result;
use ember_ir::kernel::Kernel;
use std::sync::{Arc, OnceLock};

/// True when a CUDA driver is present and reports at least one device.
pub fn available() -> bool {
    device::available()
}

/// The CUDA devices, or why there are none (no driver library, or the driver failed to
/// initialize). Never panics.
pub fn devices() -> Result<Vec<CudaDeviceInfo>> {
    device::cuda_devices()
}

/// The CUDA C source of `kernel` (the entry point is [`render::ENTRY`]).
pub fn render(kernel: &Kernel) -> Result<String> {
    Ok(render::render_kernel(kernel)?.source)
}

/// The process-wide cache used by [`compile_kernel`].
pub fn ptx_cache() -> &'static cache::Cache {
    static C: OnceLock<cache::Cache> = OnceLock::new();
    C.get_or_init(|| cache::Cache::new(cache::default_dir()))
}

/// Compiles `kernel` to PTX for `compute_<arch>` (e.g. 90), through the in-memory and on-disk
/// caches. Needs NVRTC, not a GPU; a missing NVRTC or a compile failure (with NVRTC's log and
/// the source) is an error.
pub fn compile_kernel(kernel: &Kernel, arch: u32) -> Result<Arc<CompiledKernel>> {
    ptx_cache().get(kernel, &nvrtc::Options::ptx(arch))
}

/// Empties the kernel caches (memory and disk) of [`compile_kernel`] and of the devices.
pub fn clear_cache() -> Result<()> {
    ptx_cache().clear()?;
    runtime::device_cache().clear()
}

impl CompiledKernel {
    /// The PTX text, when the image is PTX.
    pub fn ptx(&self) -> Option<&str> {
        match &self.image {
            nvrtc::Image::Ptx(s) => Some(s),
            nvrtc::Image::Cubin(_) => None,
        }
    }
}
