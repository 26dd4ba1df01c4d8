//! Devices that hold tensors and run kernels: the host plus each CUDA device.
//!
//! A [`DeviceRuntime`] is what the rest of Ember needs from an accelerator: allocate, copy in
//! and out, and launch a kernel-IR kernel over device buffers. Two implementations exist:
//!
//! * [`cuda::CudaRuntime`]: a real GPU through cudarc (kernels rendered to CUDA C, compiled
//!   by NVRTC for the device's architecture, launched on one stream).
//! * [`sim::SimRuntime`]: a *simulated* CUDA device for machines without a GPU. Its memory is
//!   separate host memory with a capacity (so out-of-memory is testable), and it runs each
//!   kernel's CUDA-shaped lowering (blocks, threads, shared memory, barriers) in the grid
//!   simulator. It exists so the device paths (device tensors, placement, copies and their
//!   ledger, eager ops on a device) are tested in CI; it is never chosen on its own: a
//!   program enables it with [`simulate_cuda`] (Python: `ember.testing.simulate_cuda`), and
//!   it then stands in for `cuda:0`, described as simulated wherever devices are listed.
//!
//! Tensors on a device hold a [`DeviceMemory`] in their storage; host code reading their
//! bytes gets a clear error instead of a dangling pointer (see [`crate::Tensor::data_ptr`]).

pub mod copy;
pub mod cuda;
pub mod matmul;
pub mod sim;
pub mod steps;
pub mod support;

use crate::error::{EmberError, Result};
use ember_codegen::cuda::blas::BlasGemm;
use ember_ir::kernel::Kernel;
use ember_ir::{DType, Device};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// An allocation in a device's memory. Dropping the last reference frees it.
pub trait DeviceMemory: Send + Sync + fmt::Debug {
    /// Size in bytes.
    fn nbytes(&self) -> usize;
    /// The device it lives on.
    fn device(&self) -> Device;
    /// For the runtime that made it (to reach its concrete type).
    fn as_any(&self) -> &dyn Any;
}

/// One argument of a device launch: an allocation and the view the kernel sees (element
/// offset and element strides, as for the CPU backend).
#[derive(Clone, Debug)]
pub struct LaunchArg {
    /// The memory.
    pub mem: Arc<dyn DeviceMemory>,
    /// Element offset of index `[0, 0, ...]`.
    pub offset: usize,
    /// Element strides of the kernel argument's declared shape.
    pub strides: Vec<isize>,
}

/// What Ember needs from an accelerator.
pub trait DeviceRuntime: Send + Sync + fmt::Debug {
    /// Which device this is.
    fn device(&self) -> Device;
    /// One line for `ember.devices()` and messages (`cuda:0 NVIDIA H100 (sm_90, 80 GiB)`).
    fn describe(&self) -> String;
    /// True for the simulated device.
    fn simulated(&self) -> bool;
    /// Uninitialized memory for `nbytes` (a kernel writes all of it before it is read);
    /// [`EmberError::OutOfMemory`] when the device has no room.
    fn alloc(&self, nbytes: usize) -> Result<Arc<dyn DeviceMemory>>;
    /// A new allocation holding `bytes`.
    fn upload(&self, bytes: &[u8]) -> Result<Arc<dyn DeviceMemory>>;
    /// Copies all of `mem` into `out` (`out.len() == mem.nbytes()`).
    fn download(&self, mem: &dyn DeviceMemory, out: &mut [u8]) -> Result<()>;
    /// Prepares `kernel` for launching (compiles it, checks its grid plan): done once per
    /// kernel when a plan is built, so compile errors surface at compile time.
    fn prepare(&self, kernel: &Kernel) -> Result<Arc<dyn PreparedKernel>>;
    /// Runs a prepared kernel over `args` (one per kernel argument, in order). Output
    /// arguments must be fresh allocations that no other argument aliases.
    fn launch(&self, kernel: &dyn PreparedKernel, args: &[LaunchArg]) -> Result<()>;
    /// Whether matrix products can go through the device's BLAS library (cuBLAS), or why
    /// not (then they run as the tiled generated kernel).
    fn blas(&self) -> std::result::Result<(), String>;
    /// Queues the row-major product `c = a @ b` planned as `g`
    /// (`ember_codegen::cuda::blas::plan`) on the BLAS library: `a`, `b`, `c` give each
    /// operand's memory and element offset (their strides are in `g`); `c` is a fresh
    /// allocation.
    fn gemm(
        &self,
        dtype: DType,
        g: &BlasGemm,
        a: &LaunchArg,
        b: &LaunchArg,
        c: &LaunchArg,
    ) -> Result<()>;
    /// Waits until all queued work has finished.
    fn synchronize(&self) -> Result<()>;
    /// Bytes currently allocated through this runtime.
    fn bytes_in_use(&self) -> usize;
}

/// A kernel ready to launch on one runtime.
pub trait PreparedKernel: Send + Sync + fmt::Debug {
    /// The kernel.
    fn kernel(&self) -> &Kernel;
    /// For the runtime that made it.
    fn as_any(&self) -> &dyn Any;
}

/// Open runtimes by device, and the simulated device when enabled.
#[derive(Default)]
struct Registry {
    open: HashMap<Device, Arc<dyn DeviceRuntime>>,
    simulated: Option<Arc<sim::SimRuntime>>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn with_registry<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut g = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Registry::default))
}

/// Makes `cuda:0` a simulated device with `capacity` bytes of memory (see the module docs),
/// replacing any earlier simulated device; `None` turns the simulation off. Tensors already
/// on the old simulated device keep their memory but belong to no open device.
pub fn simulate_cuda(capacity: Option<usize>) {
    with_registry(|r| {
        r.open.remove(&Device::Cuda(0));
        r.simulated = capacity.map(|c| Arc::new(sim::SimRuntime::new(Device::Cuda(0), c)));
    });
}

/// The simulated device, when enabled.
pub fn simulated() -> Option<Arc<sim::SimRuntime>> {
    with_registry(|r| r.simulated.clone())
}

/// The runtime of `device` (opened on first use), or why it is not available. The host has
/// no runtime: asking for `cpu` is an error.
pub fn runtime(device: Device) -> Result<Arc<dyn DeviceRuntime>> {
    if device == Device::Cpu {
        return Err(EmberError::Device(
            "the host is not an accelerator: it has no device runtime".into(),
        ));
    }
    with_registry(|r| {
        if let (Device::Cuda(0), Some(s)) = (device, &r.simulated) {
            return Ok(s.clone() as Arc<dyn DeviceRuntime>);
        }
        if let Some(rt) = r.open.get(&device) {
            return Ok(rt.clone());
        }
        let Device::Cuda(i) = device else {
            return Err(EmberError::Device(format!("{device} is not available")));
        };
        let rt: Arc<dyn DeviceRuntime> = Arc::new(cuda::CudaRuntime::open(i)?);
        r.open.insert(device, rt.clone());
        Ok(rt)
    })
}

/// The accelerators present: the simulated `cuda:0` when enabled, then each real CUDA
/// device the driver reports (a real `cuda:0` is hidden while the simulation is on).
pub fn accelerators() -> Vec<Device> {
    let sim = simulated().is_some();
    let mut out = Vec::new();
    if sim {
        out.push(Device::Cuda(0));
    }
    if let Ok(cuda) = ember_codegen::cuda::devices() {
        for d in cuda {
            let dev = Device::Cuda(d.ordinal as u32);
            if !(sim && dev == Device::Cuda(0)) {
                out.push(dev);
            }
        }
    }
    out
}

/// Maps a device-side failure to Ember's errors, keeping out-of-memory distinct.
pub(crate) fn device_error(device: Device, what: &str, e: impl fmt::Display) -> EmberError {
    let msg = e.to_string();
    if msg.contains("OUT_OF_MEMORY") {
        EmberError::OutOfMemory(format!("{device}: out of memory while {what}: {msg}"))
    } else {
        EmberError::Device(format!("{device}: {what} failed: {msg}"))
    }
}
