//! A real CUDA device through cudarc: memory, copies (pinned staging for large ones),
//! launches of kernels rendered to CUDA C and compiled by NVRTC for the device's exact
//! architecture, and matrix products through cuBLAS when it loads. Opening fails with a clear
//! error, never a panic, without a driver or device; a missing cuBLAS is a reason
//! ([`DeviceRuntime::blas`]), not an error.

use super::{device_error, DeviceMemory, DeviceRuntime, LaunchArg, PreparedKernel};
use crate::error::{EmberError, Result};
use crate::profile::{self, DeviceTimer};
use ember_codegen::cuda::blas::BlasGemm;
use ember_codegen::cuda::runtime::{CudaDevice, DeviceArg, DeviceBuffer, Mark};
use ember_codegen::cuda::CompiledKernel;
use ember_ir::kernel::Kernel;
use ember_ir::{DType, Device};
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// An open CUDA device.
#[derive(Debug)]
pub struct CudaRuntime {
    device: Device,
    dev: Arc<CudaDevice>,
    used: Arc<AtomicUsize>,
}

/// Device memory of a [`CudaRuntime`].
#[derive(Debug)]
pub struct CudaMemory {
    device: Device,
    buf: DeviceBuffer,
    nbytes: usize,
    used: Arc<AtomicUsize>,
}

impl Drop for CudaMemory {
    fn drop(&mut self) {
        self.used.fetch_sub(self.nbytes, Ordering::Relaxed);
    }
}

impl DeviceMemory for CudaMemory {
    fn nbytes(&self) -> usize {
        self.nbytes
    }
    fn device(&self) -> Device {
        self.device
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A kernel compiled for this device.
#[derive(Debug)]
struct CudaKernel(Arc<CompiledKernel>);

impl PreparedKernel for CudaKernel {
    fn kernel(&self) -> &Kernel {
        &self.0.kernel
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The device time between two events on the stream (for the profiler).
#[derive(Debug)]
struct EventTimer(Mark, Mark);

impl DeviceTimer for EventTimer {
    fn elapsed_ns(&self) -> std::result::Result<u64, String> {
        self.0
            .elapsed_ms(&self.1)
            .map(|ms| (f64::from(ms) * 1e6).round() as u64)
            .map_err(|e| e.to_string())
    }
}

impl CudaRuntime {
    /// Runs `f` (which queues work on the stream); while profiling, brackets it with two
    /// CUDA events and hands them to the profiler, which times the innermost open span of
    /// device work with them.
    fn timed<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if !profile::enabled() {
            return f();
        }
        let mark = || {
            self.dev
                .mark()
                .map_err(|e| device_error(self.device, "recording a CUDA event", e))
        };
        let start = mark()?;
        let out = f()?;
        profile::device_work(Box::new(EventTimer(start, mark()?)));
        Ok(out)
    }

    /// Opens `cuda:<ordinal>`.
    pub fn open(ordinal: u32) -> Result<CudaRuntime> {
        let device = Device::Cuda(ordinal);
        let dev = CudaDevice::open(ordinal as usize)
            .map_err(|e| EmberError::Device(format!("{device} is not available: {e}")))?;
        Ok(CudaRuntime {
            device,
            dev,
            used: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn memory<'a>(&self, mem: &'a dyn DeviceMemory) -> Result<&'a CudaMemory> {
        mem.as_any()
            .downcast_ref::<CudaMemory>()
            .filter(|m| m.device == self.device)
            .ok_or_else(|| {
                EmberError::Device(format!(
                    "memory of {} was passed to {}",
                    mem.device(),
                    self.device
                ))
            })
    }

    fn wrap(&self, buf: DeviceBuffer, nbytes: usize) -> Arc<dyn DeviceMemory> {
        self.used.fetch_add(nbytes, Ordering::Relaxed);
        Arc::new(CudaMemory {
            device: self.device,
            buf,
            nbytes,
            used: self.used.clone(),
        })
    }
}

impl DeviceRuntime for CudaRuntime {
    fn device(&self) -> Device {
        self.device
    }

    fn describe(&self) -> String {
        let i = self.dev.info();
        format!(
            "{} {} (sm_{}, {} MiB)",
            self.device,
            i.name,
            i.arch(),
            i.total_memory >> 20
        )
    }

    fn simulated(&self) -> bool {
        false
    }

    fn alloc(&self, nbytes: usize) -> Result<Arc<dyn DeviceMemory>> {
        let buf = self
            .dev
            .alloc_bytes(nbytes)
            .map_err(|e| device_error(self.device, &format!("allocating {nbytes} bytes"), e))?;
        Ok(self.wrap(buf, nbytes))
    }

    fn upload(&self, bytes: &[u8]) -> Result<Arc<dyn DeviceMemory>> {
        let buf = self.timed(|| {
            self.dev
                .upload(ember_ir::DType::Bool, bytes)
                .map_err(|e| device_error(self.device, "copying to the device", e))
        })?;
        Ok(self.wrap(buf, bytes.len()))
    }

    fn download(&self, mem: &dyn DeviceMemory, out: &mut [u8]) -> Result<()> {
        let m = self.memory(mem)?;
        let bytes = self.timed(|| {
            self.dev
                .download(&m.buf)
                .map_err(|e| device_error(self.device, "copying to the host", e))
        })?;
        if bytes.len() < out.len() {
            return Err(EmberError::Device(format!(
                "{}: downloaded {} bytes, expected {}",
                self.device,
                bytes.len(),
                out.len()
            )));
        }
        out.copy_from_slice(&bytes[..out.len()]);
        Ok(())
    }

    fn prepare(&self, kernel: &Kernel) -> Result<Arc<dyn PreparedKernel>> {
        let compiled = self.dev.compile(kernel).map_err(|e| {
            EmberError::Backend(format!("kernel {} for {}: {e}", kernel.name, self.device))
        })?;
        Ok(Arc::new(CudaKernel(compiled)))
    }

    fn launch(&self, kernel: &dyn PreparedKernel, args: &[LaunchArg]) -> Result<()> {
        let k = kernel
            .as_any()
            .downcast_ref::<CudaKernel>()
            .ok_or_else(|| {
                EmberError::Device(format!(
                    "kernel {} was not prepared for {}",
                    kernel.kernel().name,
                    self.device
                ))
            })?;
        let mut dargs = Vec::with_capacity(args.len());
        for (a, decl) in args.iter().zip(&k.0.kernel.args) {
            let m = self.memory(a.mem.as_ref())?;
            dargs.push(if decl.output {
                DeviceArg::Out(&m.buf, a.offset, a.strides.clone())
            } else {
                DeviceArg::In(&m.buf, a.offset, a.strides.clone())
            });
        }
        self.timed(|| {
            self.dev.launch(&k.0, &mut dargs).map_err(|e| {
                device_error(self.device, &format!("launching {}", k.0.kernel.name), e)
            })
        })
    }

    fn blas(&self) -> std::result::Result<(), String> {
        self.dev.blas()
    }

    fn gemm(
        &self,
        dtype: DType,
        g: &BlasGemm,
        a: &LaunchArg,
        b: &LaunchArg,
        c: &LaunchArg,
    ) -> Result<()> {
        let (ma, mb, mc) = (
            self.memory(a.mem.as_ref())?,
            self.memory(b.mem.as_ref())?,
            self.memory(c.mem.as_ref())?,
        );
        self.timed(|| {
            self.dev
                .gemm(
                    dtype,
                    g,
                    (&ma.buf, a.offset),
                    (&mb.buf, b.offset),
                    (&mc.buf, c.offset),
                )
                .map_err(|e| device_error(self.device, &format!("a {dtype} cuBLAS GEMM"), e))
        })
    }

    fn synchronize(&self) -> Result<()> {
        self.dev
            .synchronize()
            .map_err(|e| device_error(self.device, "synchronizing", e))?;
        // Everything queued has finished: the profiler's device times are known now.
        profile::resolve_device_times();
        Ok(())
    }

    fn bytes_in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}
