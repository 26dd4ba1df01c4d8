//! Moving tensors between the host and devices, each move recorded in the copy ledger (and
//! checked by the transfer guard when Ember, not the user, asked for it).

use super::runtime;
use crate::error::Result;
use crate::profile::Direction;
use crate::runtime::transfers;
use crate::storage::Storage;
use crate::tensor::{Buffer, Tensor};
use ember_ir::Device;
use std::sync::Arc;

/// Why a copy happens and whether the user asked for it.
#[derive(Clone, Copy, Debug)]
pub struct Cause<'a> {
    /// Recorded in the ledger and named by the guard's error.
    pub why: &'a str,
    /// `t.to(...)`, `.numpy()`: the guard does not apply.
    pub explicit: bool,
    /// False for copies made while building a plan (constants), which the guard lets pass.
    pub guarded: bool,
}

impl<'a> Cause<'a> {
    /// A copy the user asked for.
    pub fn explicit(why: &'a str) -> Self {
        Cause {
            why,
            explicit: true,
            guarded: false,
        }
    }

    /// A copy Ember decided on at run time: the transfer guard applies.
    pub fn implicit(why: &'a str) -> Self {
        Cause {
            why,
            explicit: false,
            guarded: true,
        }
    }

    /// A copy Ember makes that the guard lets pass: a plan's constants, materialized once
    /// when the plan is built, and 0-d scalar operands of device ops (like JAX, which does
    /// not guard Python scalars). Still recorded.
    pub fn unguarded(why: &'a str) -> Self {
        Cause {
            why,
            explicit: false,
            guarded: false,
        }
    }

    fn run<T>(
        self,
        bytes: usize,
        direction: Direction,
        device: Device,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if self.guarded {
            transfers::copy(bytes, direction, device, self.why, self.explicit, f)
        } else {
            transfers::record(bytes, direction, device, self.why, self.explicit, f)
        }
    }
}

/// `t` on `to`: itself when it is already there, else a copy (host -> device, device ->
/// host, or device -> device through the host).
pub fn to_device(t: &Tensor, to: Device, cause: Cause<'_>) -> Result<Tensor> {
    let from = t.device();
    if from == to {
        return Ok(t.clone());
    }
    match (from, to) {
        (Device::Cpu, _) => upload(t, to, cause),
        (_, Device::Cpu) => download(t, cause),
        _ => {
            let rt = runtime(to)?;
            let bytes = t.buffer()?.storage.nbytes();
            cause.run(bytes, Direction::DeviceToDevice, to, || {
                let host = download_bytes(t)?;
                let mem = rt.upload(&host)?;
                rebuild(t, Arc::new(Storage::on_device(mem)))
            })
        }
    }
}

/// Host -> device: the elements in C order (a strided host view is gathered first).
fn upload(t: &Tensor, to: Device, cause: Cause<'_>) -> Result<Tensor> {
    let rt = runtime(to)?;
    let host = t.contiguous()?;
    let nbytes = host.numel() * host.dtype().size();
    cause.run(nbytes, Direction::HostToDevice, to, || {
        let bytes: &[u8] = if nbytes == 0 {
            &[]
        } else {
            // SAFETY: a C-contiguous host tensor addresses `nbytes` bytes from its
            // first element, kept alive by `host`.
            unsafe { std::slice::from_raw_parts(host.data_ptr()?, nbytes) }
        };
        let mem = rt.upload(bytes)?;
        Tensor::from_storage(
            host.dtype(),
            host.shape(),
            Arc::new(Storage::on_device(mem)),
        )
    })
}

/// Device -> host: the whole storage comes back and the view's layout is kept.
fn download(t: &Tensor, cause: Cause<'_>) -> Result<Tensor> {
    let b = t.buffer()?;
    cause.run(
        b.storage.nbytes(),
        Direction::DeviceToHost,
        t.device(),
        || {
            let bytes = download_bytes(t)?;
            let storage = Storage::for_overwrite(bytes.len())?;
            // SAFETY: fresh storage of exactly this many bytes, not shared yet.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), storage.as_mut_ptr(), bytes.len())
            };
            rebuild(t, Arc::new(storage))
        },
    )
}

/// All bytes of a device tensor's storage.
fn download_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let b = t.buffer()?;
    let mem = b.storage.device_memory().ok_or_else(|| {
        crate::error::EmberError::Device("a device tensor without device memory".into())
    })?;
    let rt = runtime(t.device())?;
    let mut out = vec![0u8; mem.nbytes()];
    rt.download(mem.as_ref(), &mut out)?;
    Ok(out)
}

/// `t`'s layout over new storage.
fn rebuild(t: &Tensor, storage: Arc<Storage>) -> Result<Tensor> {
    let b = t.buffer()?;
    Tensor::from_buffer(
        t.dtype(),
        t.shape(),
        Buffer {
            storage,
            strides: b.strides.clone(),
            offset: b.offset,
        },
    )
}

impl Tensor {
    /// This tensor on `device`: itself when it is already there, else a copy the user asked
    /// for (recorded in the ledger as explicit; the transfer guard does not apply).
    pub fn to(&self, device: Device) -> crate::error::Result<Tensor> {
        if self.device() != device {
            crate::runtime::check_device(device)?;
        }
        to_device(
            self,
            device,
            Cause::explicit(&format!("t.to('{device}') ({})", self.value_type())),
        )
    }
}
