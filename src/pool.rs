//! Host memory for large buffers: recycled between calls and backed by huge pages.
//!
//! A fresh 64 MiB output costs tens of milliseconds of 4 KiB page faults, more than a fused
//! kernel takes to fill it. So buffers of at least [`POOL_MIN`] bytes are rounded up to a size
//! class, aligned to 2 MiB and advised as huge pages (`MADV_HUGEPAGE`) when first mapped, and
//! returned to a bounded pool when their tensor dies, so a function called in a loop reuses the
//! memory its previous results released.

use std::alloc::{alloc, dealloc, Layout};
use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::Mutex;

/// Buffers smaller than this use the plain allocator (fast, no page-fault problem).
pub const POOL_MIN: usize = 1 << 20;
/// At most this many bytes wait in the pool; beyond it, freed buffers go back to the system.
pub const POOL_CAP: usize = 1 << 30;
const HUGE: usize = 2 << 20;

struct Pool {
    free: BTreeMap<usize, Vec<usize>>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: BTreeMap::new(),
    bytes: 0,
});

fn lock() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The layout a pooled buffer of `nbytes` gets: sizes rounded up to 1/8 of their power of two
/// (at most 12.5% waste) so similar sizes share a class; 2 MiB alignment for huge pages.
pub fn pooled_layout(nbytes: usize) -> Option<Layout> {
    if nbytes < POOL_MIN {
        return None;
    }
    let step = (nbytes.next_power_of_two() / 8).max(HUGE);
    let size = nbytes.div_ceil(step).checked_mul(step)?;
    Layout::from_size_align(size, HUGE).ok()
}

/// A buffer of `layout` (from [`pooled_layout`]): a recycled one, or fresh memory advised
/// as huge pages; `None` when the system has no memory for it.
pub fn take(layout: Layout) -> Option<NonNull<u8>> {
    {
        let mut pool = lock();
        if let Some(p) = pool.free.get_mut(&layout.size()).and_then(Vec::pop) {
            pool.bytes = pool.bytes.saturating_sub(layout.size());
            return NonNull::new(p as *mut u8);
        }
    }
    // SAFETY: pooled layouts have non-zero size.
    let ptr = unsafe { alloc(layout) };
    let ptr = NonNull::new(ptr)?;
    advise_huge(ptr.as_ptr(), layout.size());
    Some(ptr)
}

/// Returns a buffer from [`take`] to the pool, or to the system when the pool is full.
///
/// # Safety
/// `ptr` must come from [`take`] with `layout` and not be used afterwards.
pub unsafe fn give(ptr: NonNull<u8>, layout: Layout) {
    let mut p = lock();
    if p.bytes + layout.size() <= POOL_CAP {
        p.bytes += layout.size();
        p.free
            .entry(layout.size())
            .or_default()
            .push(ptr.as_ptr() as usize);
        return;
    }
    drop(p);
    // SAFETY: allocated by `take` with this layout (caller's contract).
    unsafe { dealloc(ptr.as_ptr(), layout) }
}

/// Frees every pooled buffer (for memory-tight callers and tests).
pub fn trim() {
    let mut p = lock();
    for (size, ptrs) in std::mem::take(&mut p.free) {
        for ptr in ptrs {
            if let Ok(layout) = Layout::from_size_align(size, HUGE) {
                // SAFETY: pooled pointers were allocated with exactly this layout.
                unsafe { dealloc(ptr as *mut u8, layout) }
            }
        }
    }
    p.bytes = 0;
}

/// Bytes currently waiting in the pool.
pub fn pooled_bytes() -> usize {
    lock().bytes
}

#[cfg(target_os = "linux")]
fn advise_huge(ptr: *mut u8, len: usize) {
    // SAFETY: the range is one allocation we own; madvise only changes paging hints and a
    // failure (e.g. THP disabled) leaves ordinary pages, which is correct, just slower.
    unsafe {
        libc::madvise(ptr as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_ptr: *mut u8, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_buffers_are_reused() {
        let layout = pooled_layout(3 << 20).expect("large enough to pool");
        assert!(layout.size() >= 3 << 20 && layout.align() == HUGE);
        let a = take(layout).expect("3 MiB available");
        // SAFETY: from take with this layout, not used afterwards.
        unsafe { give(a, layout) };
        let b = take(layout).expect("3 MiB available");
        assert_eq!(a, b);
        // SAFETY: as above.
        unsafe { give(b, layout) };
        assert!(pooled_layout(1000).is_none());
    }
}
