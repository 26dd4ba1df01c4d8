//! Immutable host buffers: either memory Ember allocated (64-byte aligned, so SIMD kernels
//! can use aligned loads) or memory owned by someone else (a NumPy array, an ndarray `Vec`)
//! and kept alive by holding its owner.

use crate::error::{EmberError, Result};
use crate::runtime::device::DeviceMemory;
use ember_ir::Device;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::any::Any;
use std::ptr::NonNull;
use std::sync::Arc;

/// Alignment of buffers Ember allocates.
pub const ALIGN: usize = 64;

/// What keeps a buffer's memory alive.
enum Owner {
    /// Allocated by Ember with [`ALIGN`] alignment; freed on drop.
    Aligned(Layout),
    /// A large buffer from [`crate::pool`]; returned to the pool on drop.
    /// (Data may start `shift` bytes into the pooled buffer, see [`Storage::for_overwrite_near`].)
    Pooled(Layout, usize),
    /// Owned by another object (a `Vec`, a NumPy array reference); dropped with us.
    Foreign(#[allow(dead_code)] Box<dyn Any + Send + Sync>),
    /// Memory of an accelerator; the pointer is not a host address and is never read.
    Device(Arc<dyn DeviceMemory>),
}

/// The allocation layout of a buffer of `nbytes` (at least one byte, [`ALIGN`]-aligned), or an
/// error when no buffer can be that large.
fn layout_for(nbytes: usize) -> Result<Layout> {
    Layout::from_size_align(nbytes.max(1), ALIGN).map_err(|_| out_of_memory(nbytes))
}

fn out_of_memory(nbytes: usize) -> EmberError {
    EmberError::OutOfMemory(format!("unable to allocate {nbytes} bytes for an array"))
}

/// A contiguous byte buffer, immutable once handed to a tensor.
pub struct Storage {
    ptr: NonNull<u8>,
    nbytes: usize,
    owner: Owner,
    device: Device,
}

// SAFETY: the memory is only written before the storage is shared (by the kernel that
// produced it) and is immutable afterwards; the owner is Send + Sync.
unsafe impl Send for Storage {}
// SAFETY: see above; shared access is read-only.
unsafe impl Sync for Storage {}

impl Storage {
    /// Allocates `nbytes` zeroed bytes on the host.
    pub fn zeroed(nbytes: usize) -> Result<Storage> {
        // A zero-size layout is not allowed by the allocator; keep one aligned byte.
        let layout = layout_for(nbytes)?;
        // SAFETY: the layout has non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| out_of_memory(nbytes))?;
        crate::profile::alloc(Device::Cpu, nbytes);
        Ok(Storage {
            ptr,
            nbytes,
            owner: Owner::Aligned(layout),
            device: Device::Cpu,
        })
    }

    /// Allocates `nbytes` uninitialized bytes on the host, for a producer (a compiled
    /// kernel) that writes every byte before the storage is shared. Reading before that is a
    /// logic error but not undefined behaviour for the plain-old-data dtypes Ember stores.
    pub fn for_overwrite(nbytes: usize) -> Result<Storage> {
        if let Some(layout) = crate::pool::pooled_layout(nbytes) {
            let ptr = crate::pool::take(layout).ok_or_else(|| out_of_memory(nbytes))?;
            crate::profile::alloc(Device::Cpu, nbytes);
            return Ok(Storage {
                ptr,
                nbytes,
                owner: Owner::Pooled(layout, 0),
                device: Device::Cpu,
            });
        }
        let layout = layout_for(nbytes)?;
        // SAFETY: the layout has non-zero size.
        let ptr = unsafe { std::alloc::alloc(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| out_of_memory(nbytes))?;
        crate::profile::alloc(Device::Cpu, nbytes);
        Ok(Storage {
            ptr,
            nbytes,
            owner: Owner::Aligned(layout),
            device: Device::Cpu,
        })
    }

    /// [`Storage::for_overwrite`] for an output that a kernel writes while streaming through
    /// an input at address `near`: a large buffer starts at the same offset within a 4 KiB
    /// page as that input (rounded down to 16 bytes). Loads of the input then never share
    /// their low 12 address bits with the kernel's recent stores a few elements ahead, which
    /// the CPU's memory disambiguation treats as a possible dependency ("4K aliasing"): a
    /// NumPy input 16 bytes into its page against a page-aligned output cost W2 softmax
    /// ~25% (10.0 vs 7.8 ms at 4096^2).
    pub fn for_overwrite_near(nbytes: usize, near: Option<usize>) -> Result<Storage> {
        let shift = near.map_or(0, |a| a & 4095 & !15);
        if shift == 0 || crate::pool::pooled_layout(nbytes).is_none() {
            return Self::for_overwrite(nbytes);
        }
        let total = nbytes
            .checked_add(4096)
            .ok_or_else(|| out_of_memory(nbytes))?;
        let layout = crate::pool::pooled_layout(total).ok_or_else(|| out_of_memory(nbytes))?;
        let base = crate::pool::take(layout).ok_or_else(|| out_of_memory(nbytes))?;
        crate::profile::alloc(Device::Cpu, nbytes);
        // SAFETY: `shift < 4096`, and the buffer holds `nbytes + 4096` bytes.
        let ptr = unsafe { NonNull::new_unchecked(base.as_ptr().add(shift)) };
        Ok(Storage {
            ptr,
            nbytes,
            owner: Owner::Pooled(layout, shift),
            device: Device::Cpu,
        })
    }

    /// Wraps memory owned by `owner`.
    ///
    /// # Safety
    /// `ptr` must point to `nbytes` readable bytes that stay valid and unchanged for as long
    /// as `owner` lives.
    pub unsafe fn foreign(
        ptr: *const u8,
        nbytes: usize,
        owner: Box<dyn Any + Send + Sync>,
    ) -> Storage {
        Storage {
            ptr: NonNull::new(ptr as *mut u8).unwrap_or(NonNull::dangling()),
            nbytes,
            owner: Owner::Foreign(owner),
            device: Device::Cpu,
        }
    }

    /// Wraps memory of an accelerator. The storage's pointer is dangling: host code must not
    /// read it ([`crate::Tensor::data_ptr`] refuses device tensors).
    pub fn on_device(mem: Arc<dyn DeviceMemory>) -> Storage {
        crate::profile::alloc(mem.device(), mem.nbytes());
        Storage {
            ptr: NonNull::dangling(),
            nbytes: mem.nbytes(),
            device: mem.device(),
            owner: Owner::Device(mem),
        }
    }

    /// The accelerator memory, for device storage.
    pub fn device_memory(&self) -> Option<&Arc<dyn DeviceMemory>> {
        match &self.owner {
            Owner::Device(m) => Some(m),
            _ => None,
        }
    }

    /// Takes ownership of a `Vec` without copying.
    pub fn from_vec<T: Send + Sync + 'static>(v: Vec<T>) -> Storage {
        let nbytes = std::mem::size_of_val(v.as_slice());
        let ptr = v.as_ptr() as *const u8;
        // SAFETY: the Vec's heap buffer does not move when the Vec value is boxed.
        unsafe { Storage::foreign(ptr, nbytes, Box::new(v)) }
    }

    /// The first byte.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Mutable pointer for the producer that fills a fresh buffer before sharing it.
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Size in bytes.
    pub fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// Where the bytes live.
    pub fn device(&self) -> Device {
        self.device
    }

    /// True when the memory belongs to another object (borrowed from NumPy, say).
    pub fn is_foreign(&self) -> bool {
        matches!(self.owner, Owner::Foreign(_))
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if !self.is_foreign() {
            crate::profile::free(self.device, self.nbytes);
        }
        match self.owner {
            // SAFETY: allocated in `zeroed`/`for_overwrite` with this layout.
            Owner::Aligned(layout) => unsafe { dealloc(self.ptr.as_ptr(), layout) },
            // SAFETY: taken from the pool with this layout; nothing uses it after us.
            Owner::Pooled(layout, shift) => unsafe {
                let base = NonNull::new_unchecked(self.ptr.as_ptr().sub(shift));
                crate::pool::give(base, layout)
            },
            Owner::Foreign(_) | Owner::Device(_) => {}
        }
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("nbytes", &self.nbytes)
            .field("foreign", &self.is_foreign())
            .field("device", &self.device)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_outputs_start_at_the_page_offset_of_the_input_they_stream_through() {
        let _g = crate::profile::test_serial();
        let n = crate::pool::POOL_MIN + 12_345;
        for (near, want) in [
            (Some(0x7f00_0010usize), 16),
            (Some(0x1234_5ff8), 0xff0),
            (None, 0),
        ] {
            let s = Storage::for_overwrite_near(n, near).unwrap();
            assert_eq!(s.as_ptr() as usize % 4096, want);
            assert_eq!(s.nbytes(), n);
            // Every byte is writable (the buffer was over-allocated by a page).
            // SAFETY: fresh storage of `n` bytes, not shared.
            unsafe { std::ptr::write_bytes(s.as_mut_ptr(), 0xab, n) };
            drop(s); // goes back to the pool from its base address
        }
        // Small buffers ignore the hint: they are not worth a page of padding.
        let s = Storage::for_overwrite_near(100, Some(16)).unwrap();
        assert_eq!(s.as_ptr() as usize % ALIGN, 0);
    }
}
