//! Device discovery for users: the CPU plus each CUDA device the driver reports, found at run
//! time (no CUDA toolkit is needed to build Ember), plus the simulated `cuda:0` when a
//! program turned it on ([`super::device::simulate_cuda`]).

use crate::error::{EmberError, Result};
use ember_ir::Device;

/// The devices Ember can run on: `cpu` first, then `cuda:N` for each CUDA device found (or
/// simulated).
pub fn devices() -> Vec<Device> {
    let mut out = vec![Device::Cpu];
    out.extend(super::device::accelerators());
    out
}

/// One line per device: what it is (`cuda:0 NVIDIA H100 ... (sm_90, 81559 MiB)`, or that it
/// is simulated).
pub fn describe(device: Device) -> Result<String> {
    match device {
        Device::Cpu => Ok(format!(
            "cpu ({} threads)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        )),
        d => {
            check_device(d)?;
            Ok(super::device::runtime(d)?.describe())
        }
    }
}

/// Checks that `device` exists, or says why not (for CUDA: which driver library was looked
/// for, or how many devices there are).
pub fn check_device(device: Device) -> Result<()> {
    if device == Device::Cpu || super::device::accelerators().contains(&device) {
        return Ok(());
    }
    let Device::Cuda(i) = device else {
        return Err(EmberError::Device(format!("{device} is not available")));
    };
    match ember_codegen::cuda::devices() {
        Err(e) => Err(EmberError::Device(format!(
            "{device} is not available: {e}"
        ))),
        Ok(list) => Err(EmberError::Device(format!(
            "cuda:{i} is not available: the driver reports {} CUDA device(s)",
            list.len()
        ))),
    }
}
