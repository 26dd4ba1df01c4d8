//! The Cranelift CPU backend.
//!
//! ```ignore
//! let backend = CpuBackend::new()?;                  // one per process is enough
//! let compiled = backend.compile(&kernel)?;          // cached by the kernel's structure
//! unsafe { compiled.run(&[KernelArg::new(ptr, DType::F32, &[1]), ...])? };
//! ```
//!
//! * [`CpuBackend::compile`] verifies the kernel, lowers it ([`lower`], [`vector`], [`ops`],
//!   [`math`]) and JIT-compiles it. Compiled kernels are cached by the kernel's normalized
//!   structure ([`ember_ir::kernel::Kernel::normalized`]): the same fused kernel found in two
//!   functions compiles once.
//! * Kernels with many heavy math ops (a fused chain of hundreds of `tanh`) call shared
//!   out-of-line subroutines instead of inlining each polynomial ([`outline`]): compile time
//!   stays roughly linear in the kernel's op count.
//! * On AVX-512 hosts, elementwise loops with float32 `exp` / `tanh` / `sigmoid` run in blocks
//!   whose math is one 512-bit call per block ([`wide`], `vector::staged`): Cranelift's
//!   vectors stop at 128 bits, and the inline polynomials made W1 compute-bound.
//! * [`CompiledKernel::run`] splits the outermost parallel loop over the process-wide
//!   [`pool::Pool`] (started once, `available_parallelism` threads); kernels with less than
//!   [`PARALLEL_THRESHOLD`] elements of work run on the calling thread.
//! * [`gemm`] is the packed, multithreaded GEMM of matmul steps (AVX-512 and AVX2+FMA
//!   micro-kernels chosen at run time), with a bias / relu epilogue applied as it stores C.

pub mod bool_rows;
pub mod externs;
pub mod gemm;
pub mod lower;
mod masks;
pub mod math;
pub mod ops;
pub mod outline;
pub mod pool;
pub mod vector;
pub mod wide;
pub mod wide_rows;

use crate::error::{CodegenError, Result};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};
use ember_ir::kernel::interp::Buffer;
use ember_ir::kernel::Kernel;
use ember_ir::DType;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Kernels with less work than this (elements of their largest argument) run on the calling
/// thread: waking the pool costs more than the work.
pub const PARALLEL_THRESHOLD: usize = 32 * 1024;

type KernelFn = unsafe extern "C" fn(*const *mut u8, *const i64, i64, i64);

/// One argument of a kernel launch: where the buffer is, its dtype, and the element strides of
/// the view the kernel declares for it ([`ember_ir::kernel::ArgDecl::shape`]).
#[derive(Clone, Debug)]
pub struct KernelArg {
    /// Address of element `[0, 0, ...]`.
    pub ptr: *mut u8,
    /// Element type (checked against the kernel's declaration).
    pub dtype: DType,
    /// Strides in elements, one per dimension of the declared view (0 broadcasts).
    pub strides: SmallVec<[isize; 4]>,
}

impl KernelArg {
    /// An argument; `ptr` must satisfy [`CompiledKernel::run`]'s contract when launched.
    pub fn new(ptr: *mut u8, dtype: DType, strides: &[isize]) -> Self {
        KernelArg {
            ptr,
            dtype,
            strides: SmallVec::from_slice(strides),
        }
    }
}

struct Jit {
    module: JITModule,
    ctx: cranelift_codegen::Context,
    fctx: FunctionBuilderContext,
    cache: HashMap<Kernel, Arc<CompiledKernel>>,
    next_id: usize,
    /// Shared math subroutines defined so far ([`outline`]).
    outlined: outline::Outlined,
}

// SAFETY: the JIT module holds raw pointers to its code memory; it is only touched under the
// backend's mutex, and finalized code is immutable.
unsafe impl Send for Jit {}

/// A JIT-compiled kernel, ready to run from any thread.
pub struct CompiledKernel {
    kernel: Kernel,
    f: KernelFn,
    parallel: Option<usize>,
    /// Chunks of the parallel loop start at multiples of this ([`lower::Lower::granule`]).
    granule: usize,
    work: usize,
    compile_time: Duration,
    /// Keeps the code memory's owner alive as long as the kernel can run.
    _owner: Arc<Mutex<Jit>>,
}

// SAFETY: the function pointer refers to immutable finalized code.
unsafe impl Send for CompiledKernel {}
// SAFETY: as above; running it concurrently is safe when the buffers are (run's contract).
unsafe impl Sync for CompiledKernel {}

impl std::fmt::Debug for CompiledKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledKernel")
            .field("name", &self.kernel.name)
            .field("compile_time", &self.compile_time)
            .finish()
    }
}

/// The CPU backend: a JIT module and the kernel cache.
pub struct CpuBackend {
    jit: Arc<Mutex<Jit>>,
    hits: AtomicUsize,
    misses: AtomicUsize,
}

impl std::fmt::Debug for CpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuBackend")
            .field("hits", &self.hits)
            .field("misses", &self.misses)
            .finish()
    }
}

impl CpuBackend {
    /// A backend for the host CPU (its native ISA features: SSE4.1+ / AVX / FMA when present).
    pub fn new() -> Result<Self> {
        let mut flags = settings::builder();
        let set = |f: &mut settings::Builder, k: &str, v: &str| {
            f.set(k, v)
                .map_err(|e| CodegenError::Isa(format!("{k}={v}: {e}")))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(&mut flags, "is_pic", "false")?;
        set(
            &mut flags,
            "enable_verifier",
            if cfg!(debug_assertions) {
                "true"
            } else {
                "false"
            },
        )?;
        let isa = cranelift_native::builder()
            .map_err(|e| CodegenError::Isa(e.to_string()))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| CodegenError::Isa(e.to_string()))?;
        let mut jb = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
        for (name, ptr) in externs::symbols()
            .into_iter()
            .chain(wide::symbols())
            .chain(wide_rows::symbols())
            .chain(bool_rows::symbols())
        {
            jb.symbol(name, ptr);
        }
        let module = JITModule::new(jb);
        let ctx = module.make_context();
        Ok(CpuBackend {
            jit: Arc::new(Mutex::new(Jit {
                module,
                ctx,
                fctx: FunctionBuilderContext::new(),
                cache: HashMap::new(),
                next_id: 0,
                outlined: HashMap::new(),
            })),
            hits: AtomicUsize::new(0),
            misses: AtomicUsize::new(0),
        })
    }

    /// Compiles `kernel` (or returns the cached compilation of a structurally equal kernel).
    pub fn compile(&self, kernel: &Kernel) -> Result<Arc<CompiledKernel>> {
        let types = kernel.verify()?;
        let key = kernel.normalized();
        let mut jit = self.jit.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = jit.cache.get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(c.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let t0 = Instant::now();
        let (f, granule) = compile_fn(&mut jit, kernel, &types)?;
        let compiled = Arc::new(CompiledKernel {
            kernel: kernel.clone(),
            f,
            granule,
            parallel: kernel.parallel_loop().map(|(_, e)| e),
            work: kernel.work(),
            compile_time: t0.elapsed(),
            _owner: self.jit.clone(),
        });
        jit.cache.insert(key, compiled.clone());
        Ok(compiled)
    }

    /// `(cache hits, compilations)` so far.
    pub fn cache_stats(&self) -> (usize, usize) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

/// Compiles `kernel`: its function and the granule of its parallel loop
/// ([`lower::Lower::granule`]).
fn compile_fn(
    jit: &mut Jit,
    kernel: &Kernel,
    types: &[Option<DType>],
) -> Result<(KernelFn, usize)> {
    let Jit {
        module,
        ctx,
        fctx,
        next_id,
        outlined,
        ..
    } = jit;
    let needed = outline::plan(kernel, types);
    outline::define(module, outlined, &needed)?;
    let use_outlined: outline::Outlined = outlined
        .iter()
        .filter(|((op, _), _)| needed.iter().any(|(o, _)| o == op))
        .map(|(k, v)| (*k, *v))
        .collect();
    module.clear_context(ctx);
    let granule;
    ctx.func.signature = lower::kernel_signature(module);
    let name = format!("ember_k{}", *next_id);
    *next_id += 1;
    let id = module
        .declare_function(&name, Linkage::Local, &ctx.func.signature)
        .map_err(|e| CodegenError::Module(e.to_string()))?;
    {
        // A fresh builder context each time: a failed build leaves the old one dirty.
        *fctx = FunctionBuilderContext::new();
        let b = FunctionBuilder::new(&mut ctx.func, fctx);
        let l = lower::Lower::new(b, kernel, types, module).with_outlined(use_outlined);
        granule = l.finish()?;
    }
    // EMBER_CPU_DUMP=1 prints each kernel, its Cranelift IR and the machine code.
    let dump = std::env::var_os("EMBER_CPU_DUMP").is_some();
    if dump {
        ctx.set_disasm(true);
        eprintln!("{kernel}\n{}", ctx.func.display());
    }
    module
        .define_function(id, ctx)
        .map_err(|e| CodegenError::Compile {
            msg: format!("{e:?}"),
            kernel: kernel.to_string(),
        })?;
    if dump {
        if let Some(code) = ctx.compiled_code().and_then(|c| c.vcode.clone()) {
            eprintln!("{code}");
        }
    }
    module.clear_context(ctx);
    module
        .finalize_definitions()
        .map_err(|e| CodegenError::Module(e.to_string()))?;
    let ptr = module.get_finalized_function(id);
    // SAFETY: the function was defined with exactly this signature (four i64 parameters).
    let f = unsafe { std::mem::transmute::<*const u8, KernelFn>(ptr) };
    Ok((f, granule))
}

impl CompiledKernel {
    /// The kernel this was compiled from.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// Iterations of the parallel loop that one pass of its vector loop covers (lanes times
    /// unrolled vectors); 1 when the parallel loop runs scalar. Tests use it to check that a
    /// loop vectorized.
    pub fn vector_step(&self) -> usize {
        self.granule
    }

    /// How long lowering and compiling took.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    fn check(&self, args: &[KernelArg]) -> Result<()> {
        if args.len() != self.kernel.args.len() {
            return Err(CodegenError::Args(format!(
                "kernel {} takes {} arguments, got {}",
                self.kernel.name,
                self.kernel.args.len(),
                args.len()
            )));
        }
        for (i, (a, d)) in args.iter().zip(&self.kernel.args).enumerate() {
            if a.dtype != d.dtype || a.strides.len() != d.shape.len() {
                return Err(CodegenError::Args(format!(
                    "argument {i} of kernel {}: expected {} with {} strides, got {} with {}",
                    self.kernel.name,
                    d.dtype,
                    d.shape.len(),
                    a.dtype,
                    a.strides.len()
                )));
            }
        }
        Ok(())
    }

    /// Runs the kernel.
    ///
    /// # Safety
    /// For every argument, every element the declared view addresses
    /// (`ptr + sum(i[d] * strides[d]) * size` for `i` within the declared shape) must be valid
    /// memory of the declared dtype: readable for inputs, writable for outputs. Outputs must
    /// not overlap inputs or each other, except that an output may be the very same buffer
    /// and view as an input that is read only at the positions it writes (elementwise in
    /// place).
    pub unsafe fn run(&self, args: &[KernelArg]) -> Result<()> {
        self.check(args)?;
        // On the stack for typical kernels: tiny calls should not allocate.
        let ptrs: SmallVec<[usize; 8]> = args.iter().map(|a| a.ptr as usize).collect();
        let strides: SmallVec<[i64; 24]> = args
            .iter()
            .flat_map(|a| a.strides.iter().map(|&s| s as i64))
            .collect();
        let f = self.f;
        let call = |lo: i64, hi: i64| {
            // SAFETY: the caller guarantees the buffers (see above); the chunks of the
            // parallel loop write disjoint elements.
            unsafe { f(ptrs.as_ptr() as *const *mut u8, strides.as_ptr(), lo, hi) }
        };
        match self.parallel {
            None => call(0, 1),
            Some(extent) => {
                let pool = pool::Pool::global();
                if self.work < PARALLEL_THRESHOLD || pool.threads() == 1 || extent < 2 {
                    call(0, extent as i64);
                } else {
                    // Several chunks per thread balance uneven progress; chunk edges stay
                    // multiples of 16 (and of the vector step of a vectorized parallel loop)
                    // so vector loops keep full iterations.
                    let per = extent.div_ceil(pool.threads() * 4).max(1);
                    let g = if extent >= 64 {
                        self.granule.max(16)
                    } else {
                        self.granule
                    };
                    let per = per.div_ceil(g) * g;
                    let chunks = extent.div_ceil(per);
                    pool.run(chunks, &|c| {
                        let lo = c * per;
                        let hi = ((c + 1) * per).min(extent);
                        call(lo as i64, hi as i64);
                    });
                }
            }
        }
        Ok(())
    }

    /// Runs the kernel over interpreter buffers, checking first that every view stays inside
    /// its buffer (a safe entry point for tests and tools).
    pub fn run_buffers(&self, bufs: &mut [Buffer]) -> Result<()> {
        if bufs.len() != self.kernel.args.len() {
            return Err(CodegenError::Args(format!(
                "{} buffers for {} arguments",
                bufs.len(),
                self.kernel.args.len()
            )));
        }
        for (i, (b, d)) in bufs.iter().zip(&self.kernel.args).enumerate() {
            let len = (b.data.len() / b.dtype.size()) as i64;
            let (mut lo, mut hi) = (b.offset as i64, b.offset as i64);
            for (&n, &s) in d.shape.iter().zip(&b.strides) {
                if n == 0 {
                    lo = 0;
                    hi = -1;
                    break;
                }
                let span = (n as i64 - 1) * s as i64;
                if span < 0 {
                    lo += span;
                } else {
                    hi += span;
                }
            }
            if hi >= lo && (lo < 0 || hi >= len)
                || b.strides.len() != d.shape.len()
                || b.dtype != d.dtype
            {
                return Err(CodegenError::Args(format!(
                    "buffer {i} does not hold argument {i}'s view"
                )));
            }
        }
        let args: Vec<KernelArg> = bufs
            .iter_mut()
            .map(|b| {
                let off = b.offset * b.dtype.size();
                // SAFETY: offset is inside the buffer (checked above) unless the view is empty.
                let ptr = unsafe { b.data.as_mut_ptr().add(off.min(b.data.len())) };
                KernelArg::new(ptr, b.dtype, &b.strides)
            })
            .collect();
        // SAFETY: every view was checked to lie inside its buffer, and the buffers are
        // distinct `Vec`s, so outputs do not overlap inputs.
        unsafe { self.run(&args) }
    }
}
