//! Device discovery for users: the CPU plus each CUDA device the driver reports, found at run
//! time (no CUDA toolkit is needed to build Ember).

use crate::error::{EmberError, Result};
use ember_ir::Device;

/// The devices Ember can run on: `cpu` first, then `cuda:N` for each CUDA device found.
pub fn devices() -> Vec<Device> {
    let mut out = vec![Device::Cpu];
    if let Ok(cuda) = ember_codegen::cuda::devices() {
        out.extend(cuda.iter().map(|d| Device::Cuda(d.ordinal as u32)));
    }
    out
}

/// Checks that `device` exists, or says why not (for CUDA: which driver library was looked
/// for, or how many devices there are).
pub fn check_device(device: Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        Device::Cuda(i) => match ember_codegen::cuda::devices() {
            Err(e) => Err(EmberError::Device(format!(
                "{device} is not available: {e}"
            ))),
            Ok(list) if list.iter().any(|d| d.ordinal as u32 == i) => Ok(()),
            Ok(list) => Err(EmberError::Device(format!(
                "{device} is not available: the driver reports {} CUDA device(s)",
                list.len()
            ))),
        },
    }
}
