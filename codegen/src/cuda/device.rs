//! Device discovery through the CUDA driver, loaded at run time (cudarc's dynamic loading).
//! With no driver library on the machine, discovery returns [`CudaError::NoDriver`] naming the
//! libraries looked for; it never panics (cudarc's own entry points would, so the library's
//! presence is checked first, and any panic from the bindings is caught and reported).

use super::error::CudaError;
use crate::error::Result;
use cudarc::driver::{result, sys};
use std::sync::OnceLock;

/// One CUDA device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaDeviceInfo {
    /// The device ordinal (`cuda:N`).
    pub ordinal: usize,
    /// The marketing name (`NVIDIA H100 80GB HBM3`).
    pub name: String,
    /// `(major, minor)` compute capability.
    pub compute_capability: (i32, i32),
    /// Total device memory in bytes.
    pub total_memory: usize,
    /// Number of streaming multiprocessors.
    pub multiprocessors: i32,
}

impl CudaDeviceInfo {
    /// The compute capability as NVRTC's architecture number (`90` for 9.0).
    pub fn arch(&self) -> u32 {
        (self.compute_capability.0 * 10 + self.compute_capability.1).max(0) as u32
    }
}

/// The library names the driver is looked up by.
pub fn driver_library_names() -> Vec<String> {
    // The names cudarc's dynamic loader tries for "cuda" (libcuda.so, libcuda.so.1, ...).
    cudarc::get_lib_name_candidates("cuda")
}

/// True when the CUDA driver library can be loaded (devices may still be absent).
pub fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only tries to open the library by its usual names.
    *PRESENT.get_or_init(|| unsafe { sys::is_culib_present() })
}

/// The CUDA devices of this machine, or why there are none: [`CudaError::NoDriver`] when the
/// driver library is missing, [`CudaError::Driver`] when it fails to initialize (e.g. a
/// driver without a GPU). The answer is computed once per process.
pub fn cuda_devices() -> Result<Vec<CudaDeviceInfo>> {
    static DEVICES: OnceLock<std::result::Result<Vec<CudaDeviceInfo>, String>> = OnceLock::new();
    if !driver_present() {
        return Err(CudaError::NoDriver {
            looked_for: driver_library_names(),
        }
        .into());
    }
    DEVICES
        .get_or_init(|| {
            std::panic::catch_unwind(query)
                .unwrap_or_else(|_| Err("the CUDA driver library is missing a symbol".into()))
        })
        .clone()
        .map_err(|msg| CudaError::driver("device discovery", msg).into())
}

fn query() -> std::result::Result<Vec<CudaDeviceInfo>, String> {
    fn e(what: &'static str) -> impl Fn(result::DriverError) -> String {
        move |err| format!("{what}: {err:?}")
    }
    result::init().map_err(e("cuInit"))?;
    let n = result::device::get_count().map_err(e("cuDeviceGetCount"))?;
    let mut out = Vec::new();
    for ordinal in 0..n.max(0) {
        let dev = result::device::get(ordinal).map_err(e("cuDeviceGet"))?;
        let name = result::device::get_name(dev).map_err(e("cuDeviceGetName"))?;
        let attr = |a| {
            // SAFETY: `dev` is a valid device handle from cuDeviceGet.
            unsafe { result::device::get_attribute(dev, a) }.map_err(e("cuDeviceGetAttribute"))
        };
        use sys::CUdevice_attribute_enum as A;
        let major = attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
        let minor = attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
        let multiprocessors = attr(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
        // SAFETY: as above.
        let total_memory =
            unsafe { result::device::total_mem(dev) }.map_err(e("cuDeviceTotalMem"))?;
        out.push(CudaDeviceInfo {
            ordinal: ordinal as usize,
            name,
            compute_capability: (major, minor),
            total_memory,
            multiprocessors,
        });
    }
    Ok(out)
}

/// True when at least one CUDA device is usable.
pub fn available() -> bool {
    cuda_devices().is_ok_and(|d| !d.is_empty())
}
