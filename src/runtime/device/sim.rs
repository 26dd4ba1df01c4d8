//! The simulated CUDA device: separate memory with a capacity, and kernels run through the
//! CUDA backend's grid simulator (the same launch plan the rendered CUDA C uses: grid-stride
//! loops, block-per-row reductions with warp shuffles and shared memory, barriers). It is
//! slow (an interpreter) and meant for tests of everything around a GPU: device tensors,
//! placement, copies, the ledger, out-of-memory handling.

use super::{DeviceMemory, DeviceRuntime, LaunchArg, PreparedKernel};
use crate::error::{EmberError, Result};
use crate::profile;
use ember_codegen::cuda::blas::BlasGemm;
use ember_codegen::cuda::grid;
use ember_ir::kernel::interp::Buffer;
use ember_ir::kernel::Kernel;
use ember_ir::{DType, Device};
use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Runs `f`, the simulated device's part of a kernel, library call or copy; while profiling,
/// its duration is handed to the profiler as the device's time, as a real device's CUDA
/// events would be (so profiles of the simulated device have the same shape).
fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    if !profile::enabled() {
        return f();
    }
    let t0 = std::time::Instant::now();
    let out = f()?;
    let ns = t0.elapsed().as_nanos() as u64;
    profile::device_work(Box::new(profile::Measured(ns.max(1))));
    Ok(out)
}

/// Blocks the simulated grid has at most: few, so grid-stride loops take several rounds.
const SIM_BLOCKS: u32 = 4;

/// The simulated device.
#[derive(Debug)]
pub struct SimRuntime {
    device: Device,
    capacity: usize,
    used: Arc<AtomicUsize>,
    launches: AtomicUsize,
    blas: AtomicBool,
    gemms: AtomicUsize,
}

/// Memory of the simulated device.
#[derive(Debug)]
pub struct SimMemory {
    device: Device,
    bytes: Mutex<Vec<u8>>,
    used: Arc<AtomicUsize>,
}

impl Drop for SimMemory {
    fn drop(&mut self) {
        let n = self.bytes.get_mut().map(|b| b.len()).unwrap_or(0);
        self.used.fetch_sub(n, Ordering::Relaxed);
    }
}

impl DeviceMemory for SimMemory {
    fn nbytes(&self) -> usize {
        self.bytes.lock().map(|b| b.len()).unwrap_or(0)
    }
    fn device(&self) -> Device {
        self.device
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A kernel checked against the simulator's launch plan.
#[derive(Debug)]
struct SimKernel(Kernel);

impl PreparedKernel for SimKernel {
    fn kernel(&self) -> &Kernel {
        &self.0
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl SimRuntime {
    /// A simulated device `device` with `capacity` bytes of memory.
    pub fn new(device: Device, capacity: usize) -> Self {
        SimRuntime {
            device,
            capacity,
            used: Arc::new(AtomicUsize::new(0)),
            launches: AtomicUsize::new(0),
            blas: AtomicBool::new(false),
            gemms: AtomicUsize::new(0),
        }
    }

    /// Kernels launched so far.
    pub fn launches(&self) -> usize {
        self.launches.load(Ordering::Relaxed)
    }

    /// Makes the device answer BLAS calls (off by default: the simulated device has no
    /// cuBLAS, so matrix products run the tiled kernel). With it on, plans built afterwards
    /// take the cuBLAS path, whose calls run `ember_codegen::cuda::blas::reference` (cuBLAS's
    /// column-major semantics on the host): the layout mapping and the steps around a
    /// library call are tested without a GPU.
    pub fn emulate_blas(&self, on: bool) {
        self.blas.store(on, Ordering::Relaxed);
    }

    /// BLAS calls made so far.
    pub fn gemms(&self) -> usize {
        self.gemms.load(Ordering::Relaxed)
    }

    fn memory<'a>(&self, mem: &'a dyn DeviceMemory) -> Result<&'a SimMemory> {
        mem.as_any().downcast_ref::<SimMemory>().ok_or_else(|| {
            EmberError::Device(format!(
                "{}: memory from another device ({}) was passed to the simulated device",
                self.device,
                mem.device()
            ))
        })
    }
}

impl DeviceRuntime for SimRuntime {
    fn device(&self) -> Device {
        self.device
    }

    fn describe(&self) -> String {
        format!(
            "{} simulated CUDA device (grid simulator on the CPU, {} MiB; enabled by \
             ember.testing.simulate_cuda)",
            self.device,
            self.capacity >> 20
        )
    }

    fn simulated(&self) -> bool {
        true
    }

    fn alloc(&self, nbytes: usize) -> Result<Arc<dyn DeviceMemory>> {
        let prev = self.used.fetch_add(nbytes, Ordering::Relaxed);
        if prev.saturating_add(nbytes) > self.capacity {
            self.used.fetch_sub(nbytes, Ordering::Relaxed);
            return Err(EmberError::OutOfMemory(format!(
                "{}: out of memory allocating {nbytes} bytes ({prev} of {} bytes in use)",
                self.device, self.capacity
            )));
        }
        let mut bytes = Vec::new();
        if bytes.try_reserve_exact(nbytes).is_err() {
            self.used.fetch_sub(nbytes, Ordering::Relaxed);
            return Err(EmberError::OutOfMemory(format!(
                "{}: the host could not back {nbytes} bytes of simulated device memory",
                self.device
            )));
        }
        bytes.resize(nbytes, 0);
        Ok(Arc::new(SimMemory {
            device: self.device,
            bytes: Mutex::new(bytes),
            used: self.used.clone(),
        }))
    }

    fn upload(&self, bytes: &[u8]) -> Result<Arc<dyn DeviceMemory>> {
        let mem = self.alloc(bytes.len())?;
        timed(|| {
            self.memory(mem.as_ref())?
                .bytes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .copy_from_slice(bytes);
            Ok(())
        })?;
        Ok(mem)
    }

    fn download(&self, mem: &dyn DeviceMemory, out: &mut [u8]) -> Result<()> {
        let m = self.memory(mem)?;
        let b = m.bytes.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() != out.len() {
            return Err(EmberError::Value(format!(
                "{}: download of {} bytes into {} bytes",
                self.device,
                b.len(),
                out.len()
            )));
        }
        timed(|| {
            out.copy_from_slice(&b);
            Ok(())
        })
    }

    fn prepare(&self, kernel: &Kernel) -> Result<Arc<dyn PreparedKernel>> {
        grid::plan_of(kernel).map_err(|e| {
            EmberError::Backend(format!("kernel {} on {}: {e}", kernel.name, self.device))
        })?;
        Ok(Arc::new(SimKernel(kernel.clone())))
    }

    fn launch(&self, kernel: &dyn PreparedKernel, args: &[LaunchArg]) -> Result<()> {
        let k = kernel.kernel();
        if args.len() != k.args.len() {
            return Err(EmberError::Value(format!(
                "kernel {} takes {} arguments, got {}",
                k.name,
                k.args.len(),
                args.len()
            )));
        }
        let mut bufs = Vec::with_capacity(args.len());
        for (i, (a, decl)) in args.iter().zip(&k.args).enumerate() {
            let m = self.memory(a.mem.as_ref())?;
            let data = m.bytes.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let len = data.len() / decl.dtype.size().max(1);
            if a.strides.len() != decl.shape.len()
                || !ember_codegen::cuda::runtime::view_inside(
                    &decl.shape,
                    a.offset,
                    &a.strides,
                    len,
                )
            {
                return Err(EmberError::Value(format!(
                    "argument {i} of kernel {}: view exceeds its buffer",
                    k.name
                )));
            }
            bufs.push(Buffer {
                dtype: decl.dtype,
                data,
                offset: a.offset,
                strides: a.strides.clone(),
            });
        }
        timed(|| {
            grid::simulate(k, &mut bufs, SIM_BLOCKS).map_err(|e| {
                EmberError::Backend(format!("kernel {} on {}: {e}", k.name, self.device))
            })
        })?;
        for ((a, decl), b) in args.iter().zip(&k.args).zip(bufs) {
            if decl.output {
                let m = self.memory(a.mem.as_ref())?;
                *m.bytes.lock().unwrap_or_else(|e| e.into_inner()) = b.data;
            }
        }
        self.launches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn blas(&self) -> std::result::Result<(), String> {
        if self.blas.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("the simulated device has no cuBLAS".into())
        }
    }

    fn gemm(
        &self,
        dtype: DType,
        g: &BlasGemm,
        a: &LaunchArg,
        b: &LaunchArg,
        c: &LaunchArg,
    ) -> Result<()> {
        self.blas().map_err(EmberError::Device)?;
        let values = |arg: &LaunchArg| -> Result<Vec<f64>> {
            let m = self.memory(arg.mem.as_ref())?;
            let bytes = m.bytes.lock().unwrap_or_else(|e| e.into_inner());
            let all = Buffer {
                dtype,
                data: bytes.clone(),
                offset: 0,
                strides: vec![1],
            }
            .to_f64s();
            Ok(all.get(arg.offset..).unwrap_or_default().to_vec())
        };
        // cuBLAS's A is the right operand, its B the left one.
        let (xa, xb) = (values(b)?, values(a)?);
        let (ea, eb, ec) = g.extents();
        let mut out = values(c)?;
        if xa.len() < ea || xb.len() < eb || out.len() < ec {
            return Err(EmberError::Value(format!(
                "{}: a GEMM operand exceeds its buffer ({g:?})",
                self.device
            )));
        }
        timed(|| {
            ember_codegen::cuda::blas::reference(g, &xa, &xb, &mut out);
            Ok(())
        })?;
        let m = self.memory(c.mem.as_ref())?;
        let mut bytes = m.bytes.lock().unwrap_or_else(|e| e.into_inner());
        let size = dtype.size();
        for (i, v) in out.iter().take(ec).enumerate() {
            let at = (c.offset + i) * size;
            let x = ember_ir::Scalar::F64(*v).cast(dtype).to_bytes();
            bytes[at..at + size].copy_from_slice(&x);
        }
        self.gemms.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn synchronize(&self) -> Result<()> {
        // As a real device: the profiler's device times are known once work has finished.
        profile::resolve_device_times();
        Ok(())
    }

    fn bytes_in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}
