//! Running kernels on a CUDA device: context and stream, device buffers, host<->device copies
//! (through pinned, double-buffered staging for large transfers), launches with the CPU
//! backend's argument convention, matrix products through cuBLAS when it loads
//! ([`CudaDevice::gemm`]), and CUDA events for timing ([`CudaDevice::mark`]), taken from a
//! per-device pool ([`Recycler`]) instead of being created for every mark.
//!
//! Each device has one stream, and every copy, launch and cuBLAS call goes on it, so stream
//! order alone orders all of Ember's work. cudarc's per-allocation event tracking (two
//! `cuEventCreate` per allocation, and event records and waits around every use of a buffer)
//! exists to order work across streams; it is turned off for the device's context.
//!
//! Everything here needs a driver and a device; [`CudaDevice::open`] returns an error (never
//! panics) on a machine without them, so this module builds and links everywhere.
//! Kernels are compiled to a CUBIN for the device's exact architecture (a newer NVRTC's PTX
//! could be refused by an older driver).

use super::blas::{self, BlasGemm};
use super::cache::{Cache, CompiledKernel};
use super::device::{cuda_devices, CudaDeviceInfo};
use super::error::CudaError;
use super::nvrtc::{Image, Options};
use super::recycle::Recycler;
use super::render::ENTRY;
use crate::error::{CodegenError, Result};
use cudarc::driver::{
    result as dr, sys, CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DevicePtr,
    LaunchConfig, PinnedHostSlice, PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use ember_ir::kernel::interp::Buffer;
use ember_ir::kernel::Kernel;
use ember_ir::DType;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Transfers at least this large go through pinned staging.
pub const PINNED_MIN: usize = 1 << 20;
/// Size of each of the two pinned staging chunks.
const CHUNK: usize = 8 << 20;
/// Idle timing events kept per device: enough for the marks of a profiled plan's launches
/// that are alive at once, small enough not to matter to the driver.
const IDLE_EVENTS: usize = 64;

fn drv(call: &str) -> impl FnOnce(dr::DriverError) -> CodegenError + '_ {
    move |e| CudaError::driver(call, format!("{e:?}")).into()
}

/// A buffer in device memory.
#[derive(Debug)]
pub struct DeviceBuffer {
    /// Element type.
    pub dtype: DType,
    /// Number of elements.
    pub len: usize,
    mem: CudaSlice<u8>,
}

/// One kernel argument on the device: a buffer and the view the kernel sees (element offset
/// and strides in elements of the kernel argument's dtype, as for the CPU backend). The
/// buffer's own dtype does not have to match: only its size in bytes bounds the view, so
/// untyped allocations ([`CudaDevice::alloc_bytes`]) can hold any dtype. The device writes
/// outputs through the device pointer, so they are borrowed shared; the caller makes sure no
/// output aliases another argument (Ember's runtime passes fresh allocations).
#[derive(Debug)]
pub enum DeviceArg<'a> {
    /// An input buffer with `(offset, strides)`.
    In(&'a DeviceBuffer, usize, Vec<isize>),
    /// An output buffer with `(offset, strides)`.
    Out(&'a DeviceBuffer, usize, Vec<isize>),
}

/// A pinned staging buffer and the event marking the end of its last copy.
type Stage = (PinnedHostSlice<u8>, CudaEvent);

/// An open CUDA device with one stream.
pub struct CudaDevice {
    info: CudaDeviceInfo,
    /// The cuBLAS handle on this device's stream (made on first use), or why there is none.
    /// Declared first so it is destroyed before the stream and context.
    blas: OnceLock<std::result::Result<Mutex<blas::Handle>, String>>,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    functions: Mutex<HashMap<usize, (Arc<CompiledKernel>, CudaFunction)>>,
    staging: Mutex<Option<[Stage; 2]>>,
    /// Timing events not in use ([`CudaDevice::mark`], [`CudaDevice::time`]).
    events: Arc<Recycler<CudaEvent>>,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDevice")
            .field("info", &self.info)
            .finish()
    }
}

/// The process-wide cache of device kernels (CUBINs) and rendered sources.
pub fn device_cache() -> &'static Cache {
    static C: OnceLock<Cache> = OnceLock::new();
    C.get_or_init(|| Cache::new(super::cache::default_dir()))
}

impl CudaDevice {
    /// Opens device `ordinal`: an error when there is no driver, no such device, or the
    /// context cannot be created.
    pub fn open(ordinal: usize) -> Result<Arc<CudaDevice>> {
        let devices = cuda_devices()?;
        let info = devices.get(ordinal).cloned().ok_or_else(|| {
            CudaError::Unsupported(format!(
                "cuda:{ordinal} does not exist ({} CUDA devices)",
                devices.len()
            ))
        })?;
        let ctx = CudaContext::new(ordinal).map_err(drv("cuCtx (primary context)"))?;
        // SAFETY: cudarc's event tracking orders buffer uses across streams. Every buffer
        // this device allocates is used on its one stream only (copies, launches and cuBLAS
        // all go on `stream`), so stream order already orders them; it is disabled before
        // the first buffer exists, as cudarc requires.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(drv("cuStreamCreate"))?;
        Ok(Arc::new(CudaDevice {
            info,
            blas: OnceLock::new(),
            ctx,
            stream,
            functions: Mutex::new(HashMap::new()),
            staging: Mutex::new(None),
            events: Arc::new(Recycler::new(IDLE_EVENTS)),
        }))
    }

    /// The device's properties.
    pub fn info(&self) -> &CudaDeviceInfo {
        &self.info
    }

    /// A zeroed buffer of `len` elements.
    pub fn alloc(&self, dtype: DType, len: usize) -> Result<DeviceBuffer> {
        let mem = self
            .stream
            .alloc_zeros::<u8>((len * dtype.size()).max(1))
            .map_err(drv("cuMemAlloc"))?;
        Ok(DeviceBuffer { dtype, len, mem })
    }

    /// A zeroed untyped buffer of `nbytes` bytes (a byte-element buffer that kernels may view
    /// as any dtype).
    pub fn alloc_bytes(&self, nbytes: usize) -> Result<DeviceBuffer> {
        self.alloc(DType::Bool, nbytes)
    }

    /// Copies host bytes (native-endian elements of `dtype`) into a new device buffer.
    pub fn upload(&self, dtype: DType, bytes: &[u8]) -> Result<DeviceBuffer> {
        let mut buf = self.alloc(dtype, bytes.len() / dtype.size().max(1))?;
        if bytes.len() < PINNED_MIN {
            self.stream
                .memcpy_htod(bytes, &mut buf.mem)
                .map_err(drv("cuMemcpyHtoD"))?;
        } else {
            let stream = self.stream.cu_stream();
            self.staged(
                &buf.mem,
                bytes.len(),
                |dev, stage, at, n| {
                    stage[..n].copy_from_slice(&bytes[at..at + n]);
                    // SAFETY: `dev + at .. + n` lies inside the allocation; the pinned chunk
                    // is not written again before its event completes.
                    unsafe { dr::memcpy_htod_async(dev + at as u64, &stage[..n], stream) }
                },
                |_, _, _| {},
            )?;
        }
        self.stream
            .synchronize()
            .map_err(drv("cuStreamSynchronize"))?;
        Ok(buf)
    }

    /// Copies a device buffer back to the host.
    pub fn download(&self, buf: &DeviceBuffer) -> Result<Vec<u8>> {
        let n = buf.len * buf.dtype.size();
        if n < PINNED_MIN {
            let mut v = self
                .stream
                .clone_dtoh(&buf.mem)
                .map_err(drv("cuMemcpyDtoH"))?;
            v.truncate(n);
            return Ok(v);
        }
        let mut out = vec![0u8; n];
        let stream = self.stream.cu_stream();
        self.staged(
            &buf.mem,
            n,
            |dev, stage, at, len| {
                // SAFETY: as in `upload`, reversed; the chunk is read only after its event.
                unsafe { dr::memcpy_dtoh_async(&mut stage[..len], dev + at as u64, stream) }
            },
            |stage, at, len| out[at..at + len].copy_from_slice(&stage[..len]),
        )?;
        Ok(out)
    }

    /// Moves `n` bytes in [`CHUNK`]-sized pieces through two pinned buffers, so the host side
    /// of one piece overlaps the DMA of the other: `issue(dev_ptr, stage, at, len)` queues one
    /// asynchronous copy, and `done(stage, at, len)` runs once that copy has completed.
    fn staged(
        &self,
        mem: &CudaSlice<u8>,
        n: usize,
        mut issue: impl FnMut(u64, &mut [u8], usize, usize) -> std::result::Result<(), dr::DriverError>,
        mut done: impl FnMut(&[u8], usize, usize),
    ) -> Result<()> {
        let mut guard = self.staging.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let mk = || -> Result<Stage> {
                // SAFETY: staging memory is always written before it is read.
                let p =
                    unsafe { self.ctx.alloc_pinned::<u8>(CHUNK) }.map_err(drv("cuMemHostAlloc"))?;
                let e = self.ctx.new_event(None).map_err(drv("cuEventCreate"))?;
                Ok((p, e))
            };
            *guard = Some([mk()?, mk()?]);
        }
        let Some(slots) = guard.as_mut() else {
            return Err(CudaError::Unsupported("pinned staging unavailable".into()).into());
        };
        let (dev, _sync) = mem.device_ptr(&self.stream);
        // The piece each slot holds until its copy is known to be complete.
        let mut pending: [Option<(usize, usize)>; 2] = [None, None];
        let mut at = 0;
        let mut k = 0;
        while at < n {
            let len = CHUNK.min(n - at);
            let (stage, ev) = &mut slots[k % 2];
            ev.synchronize().map_err(drv("cuEventSynchronize"))?;
            let host = stage.as_mut_slice().map_err(drv("pinned memory"))?;
            if let Some((pa, pl)) = pending[k % 2].take() {
                done(host, pa, pl);
            }
            issue(dev, host, at, len).map_err(drv("cuMemcpyAsync"))?;
            ev.record(&self.stream).map_err(drv("cuEventRecord"))?;
            pending[k % 2] = Some((at, len));
            at += len;
            k += 1;
        }
        for (slot, p) in slots.iter_mut().zip(pending) {
            slot.1.synchronize().map_err(drv("cuEventSynchronize"))?;
            if let Some((pa, pl)) = p {
                let host = slot.0.as_slice().map_err(drv("pinned memory"))?;
                done(host, pa, pl);
            }
        }
        Ok(())
    }

    /// Compiles `kernel` for this device (cached in memory and on disk), with accurate math.
    pub fn compile(&self, kernel: &Kernel) -> Result<Arc<CompiledKernel>> {
        self.compile_with(kernel, false)
    }

    /// [`CudaDevice::compile`], choosing `--use_fast_math` (see [`super::nvrtc`]).
    pub fn compile_with(&self, kernel: &Kernel, fast_math: bool) -> Result<Arc<CompiledKernel>> {
        let opts = Options {
            arch: self.info.arch(),
            cubin: true,
            fast_math,
        };
        device_cache().get(kernel, &opts)
    }

    fn function(&self, compiled: &Arc<CompiledKernel>) -> Result<CudaFunction> {
        let key = Arc::as_ptr(compiled) as usize;
        let mut fns = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, f)) = fns.get(&key) {
            return Ok(f.clone());
        }
        let ptx = match &compiled.image {
            Image::Ptx(s) => Ptx::from_src(s.clone()),
            Image::Cubin(b) => Ptx::from_binary(b.clone()),
        };
        let module = self.ctx.load_module(ptx).map_err(drv("cuModuleLoadData"))?;
        let f = module
            .load_function(ENTRY)
            .map_err(drv("cuModuleGetFunction"))?;
        // The compiled kernel is kept alive with its function so the address key stays unique.
        fns.insert(key, (compiled.clone(), f.clone()));
        Ok(f)
    }

    /// Launches a compiled kernel on the device's stream (asynchronously). Every view is
    /// checked to lie inside its buffer, so a launch cannot touch memory outside them.
    pub fn launch(&self, compiled: &Arc<CompiledKernel>, args: &mut [DeviceArg<'_>]) -> Result<()> {
        let k = &compiled.kernel;
        if args.len() != k.args.len() {
            return Err(CodegenError::Args(format!(
                "kernel {} takes {} arguments, got {}",
                k.name,
                k.args.len(),
                args.len()
            )));
        }
        let mut ptrs: Vec<u64> = Vec::with_capacity(args.len());
        let mut strides: Vec<i64> = Vec::new();
        let mut guards = Vec::new();
        for (i, (a, d)) in args.iter().zip(&k.args).enumerate() {
            let (buf, off, st, out) = match a {
                DeviceArg::In(b, o, s) => (&**b, *o, s, false),
                DeviceArg::Out(b, o, s) => (&**b, *o, s, true),
            };
            if st.len() != d.shape.len() || out != d.output {
                return Err(CodegenError::Args(format!(
                    "argument {i} of kernel {}: expected {} {} with {} strides",
                    k.name,
                    if d.output { "output" } else { "input" },
                    d.dtype,
                    d.shape.len()
                )));
            }
            let elems = buf.len * buf.dtype.size() / d.dtype.size().max(1);
            if !view_inside(&d.shape, off, st, elems) {
                return Err(CodegenError::Args(format!(
                    "argument {i} of kernel {}: view exceeds its buffer",
                    k.name
                )));
            }
            let (p, g) = buf.mem.device_ptr(&self.stream);
            guards.push(g);
            ptrs.push(p + (off * d.dtype.size()) as u64);
            strides.extend(st.iter().map(|&s| s as i64));
        }
        let f = self.function(compiled)?;
        let launch = compiled
            .rendered
            .plan
            .launch((self.info.multiprocessors.max(1) as u32) * 32);
        let cfg = LaunchConfig {
            grid_dim: (launch.grid, 1, 1),
            block_dim: (launch.block, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = self.stream.launch_builder(&f);
        let mut s = 0;
        for (p, d) in ptrs.iter().zip(&k.args) {
            b.arg(p);
            for st in &strides[s..s + d.shape.len()] {
                b.arg(st);
            }
            s += d.shape.len();
        }
        // SAFETY: the arguments follow the rendered signature (a pointer, then one stride
        // per dimension, per argument) and every view lies inside its buffer (checked above).
        unsafe { b.launch(cfg) }.map_err(drv("cuLaunchKernel"))?;
        drop(guards);
        Ok(())
    }

    /// Waits for everything queued on the stream.
    pub fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(drv("cuStreamSynchronize"))
    }

    /// Records a timing event on the stream now: two marks give the device time of the work
    /// queued between them ([`Mark::elapsed_ms`]). The event comes from the device's pool and
    /// goes back to it when the mark is dropped.
    pub fn mark(&self) -> Result<Mark> {
        let event = self.events.take(|| {
            self.ctx
                .new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(drv("cuEventCreate"))
        })?;
        let mark = Mark {
            event: Some(event),
            pool: self.events.clone(),
        };
        mark.event()
            .record(&self.stream)
            .map_err(drv("cuEventRecord"))?;
        Ok(mark)
    }

    /// The number of idle timing events in the device's pool.
    pub fn idle_events(&self) -> usize {
        self.events.idle()
    }

    /// Whether matrix products can go through cuBLAS on this device, or why not (no library,
    /// or the handle could not be made). Decided once per device.
    pub fn blas(&self) -> std::result::Result<(), String> {
        self.blas_handle().map(|_| ())
    }

    fn blas_handle(&self) -> std::result::Result<&Mutex<blas::Handle>, String> {
        self.blas
            .get_or_init(|| {
                self.ctx
                    .bind_to_thread()
                    .map_err(|e| format!("binding the context: {e:?}"))?;
                // SAFETY: the device's own stream, in its context (bound above); the handle
                // lives in the device, which keeps the stream alive.
                unsafe { blas::Handle::new(self.stream.cu_stream() as _) }.map(Mutex::new)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Queues the row-major product planned as `g` ([`blas::plan`]) on the stream through
    /// cuBLAS: `a` and `b` are the left and right operands, `c` the (contiguous) result, each
    /// with its element offset. Every operand's extent is checked against its buffer.
    pub fn gemm(
        &self,
        dtype: DType,
        g: &BlasGemm,
        a: (&DeviceBuffer, usize),
        b: (&DeviceBuffer, usize),
        c: (&DeviceBuffer, usize),
    ) -> Result<()> {
        let handle = self
            .blas_handle()
            .map_err(|why| CodegenError::from(CudaError::NoCublas(why)))?;
        // cuBLAS's A is the right operand, its B the left one.
        let (eb, ea, ec) = g.extents();
        let inside = |(buf, off): (&DeviceBuffer, usize), n: usize| {
            off + n <= buf.len * buf.dtype.size() / dtype.size().max(1)
        };
        if !(inside(a, ea) && inside(b, eb) && inside(c, ec)) {
            return Err(CodegenError::Args(format!(
                "cuBLAS {dtype} product: an operand exceeds its buffer ({g:?})"
            )));
        }
        let at = |p: u64, off: usize| p + (off * dtype.size()) as u64;
        let (pa, ga) = a.0.mem.device_ptr(&self.stream);
        let (pb, gb) = b.0.mem.device_ptr(&self.stream);
        let (pc, gc) = c.0.mem.device_ptr(&self.stream);
        let (pa, pb, pc) = (at(pa, a.1), at(pb, b.1), at(pc, c.1));
        self.ctx.bind_to_thread().map_err(drv("cuCtxSetCurrent"))?;
        let h = handle.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the pointers address live allocations whose extents were checked above;
        // the result is a fresh allocation that aliases neither operand (the runtime's rule).
        unsafe { h.gemm(dtype, g, pb, pa, pc) }
            .map_err(|e| CodegenError::from(CudaError::driver("cuBLAS GEMM", e)))?;
        drop((ga, gb, gc));
        Ok(())
    }

    /// Runs `f` (which queues work on this device) between two CUDA events and returns its
    /// result with the elapsed device time in milliseconds.
    pub fn time<T>(&self, f: impl FnOnce(&Self) -> Result<T>) -> Result<(T, f32)> {
        let start = self.mark()?;
        let out = f(self)?;
        let ms = start.elapsed_ms(&self.mark()?)?;
        Ok((out, ms))
    }

    /// Runs `kernel` over interpreter buffers: uploads them, launches, downloads the outputs
    /// into `bufs` (a safe entry point for tests and tools).
    pub fn run_buffers(&self, kernel: &Kernel, bufs: &mut [Buffer]) -> Result<()> {
        self.run_compiled(&self.compile(kernel)?, bufs)
    }

    /// [`CudaDevice::run_buffers`] with an already compiled kernel.
    pub fn run_compiled(&self, compiled: &Arc<CompiledKernel>, bufs: &mut [Buffer]) -> Result<()> {
        let kernel = &compiled.kernel;
        let mut dev = Vec::with_capacity(bufs.len());
        for b in bufs.iter() {
            dev.push(self.upload(b.dtype, &b.data)?);
        }
        let mut args: Vec<DeviceArg<'_>> = Vec::new();
        for ((d, b), decl) in dev.iter().zip(bufs.iter()).zip(&kernel.args) {
            args.push(if decl.output {
                DeviceArg::Out(d, b.offset, b.strides.clone())
            } else {
                DeviceArg::In(d, b.offset, b.strides.clone())
            });
        }
        self.launch(compiled, &mut args)?;
        drop(args);
        self.synchronize()?;
        for ((d, b), decl) in dev.iter().zip(bufs.iter_mut()).zip(&kernel.args) {
            if decl.output {
                b.data = self.download(d)?;
            }
        }
        Ok(())
    }
}

/// A CUDA event recorded on a device's stream ([`CudaDevice::mark`]); dropping it gives
/// the event back to the device's pool.
pub struct Mark {
    /// Always `Some` until dropped.
    event: Option<CudaEvent>,
    pool: Arc<Recycler<CudaEvent>>,
}

impl std::fmt::Debug for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mark")
    }
}

impl Mark {
    fn event(&self) -> &CudaEvent {
        self.event
            .as_ref()
            .expect("a mark holds its event until dropped")
    }

    /// Milliseconds of device time from this mark to `end`, waiting for `end`'s work.
    pub fn elapsed_ms(&self, end: &Mark) -> Result<f32> {
        let end = end.event();
        end.synchronize().map_err(drv("cuEventSynchronize"))?;
        self.event()
            .elapsed_ms(end)
            .map_err(drv("cuEventElapsedTime"))
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        // Re-recording an event overwrites its state, so one whose work is still pending
        // can be reused at once: its next record is queued after that work anyway.
        if let Some(e) = self.event.take() {
            self.pool.give(e);
        }
    }
}

/// True when every element the view addresses lies in `0..len`.
pub fn view_inside(shape: &[usize], off: usize, strides: &[isize], len: usize) -> bool {
    let (mut lo, mut hi) = (off as i64, off as i64);
    for (&n, &s) in shape.iter().zip(strides) {
        if n == 0 {
            return true;
        }
        let span = (n as i64 - 1) * s as i64;
        if span < 0 {
            lo += span;
        } else {
            hi += span;
        }
    }
    lo >= 0 && hi < len as i64
}
