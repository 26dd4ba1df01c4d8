//! `any` / `all` of a contiguous bool row, called by generated code (`lower::row_calls`).
//!
//! The vector loop holds bools as 32-bit (or 64-bit) lane masks, four (two) to a 128-bit
//! register, so `b.any()` of a bool array widened every 4 bytes it loaded: about 10 GB/s,
//! 7x slower than NumPy on a 1M-element array in cache, and with no early exit, 100x slower
//! when the first element decides. These routines scan the bytes themselves, 256 at a time
//! (eight 256-bit loads or'ed, or min'ed, and one test on AVX2 hosts; SSE2 otherwise), and
//! return as soon as a block decides the result, as NumPy does.
//!
//! A bool byte is true when it is nonzero (the kernel IR's load semantics), so `any` tests
//! the or of the bytes and `all` their minimum.

/// Bytes per block: one test of the running value per block.
const BLOCK: usize = 256;

/// Whether block `c` decides the scan: holds a nonzero byte (`any`) or a zero byte (`all`).
#[inline(always)]
fn decides(c: &[u8], any: bool) -> bool {
    if any {
        c.iter().fold(0u8, |a, &b| a | b) != 0
    } else {
        c.iter().fold(u8::MAX, |a, &b| a.min(b)) == 0
    }
}

/// `any` (`all`) of `x`: stops at the first block that decides it.
#[inline(always)]
fn scan(x: &[u8], any: bool) -> bool {
    let mut blocks = x.chunks_exact(BLOCK);
    for c in &mut blocks {
        let c: &[u8; BLOCK] = c.try_into().unwrap_or(&[0; BLOCK]);
        if decides(c, any) {
            return any;
        }
    }
    decides(blocks.remainder(), any) == any
}

/// [`scan`] compiled for AVX2.
///
/// # Safety
/// The host must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_avx2(x: &[u8], any: bool) -> bool {
    scan(x, any)
}

/// [`scan`] with the widest vectors the host has.
fn scan_host(x: &[u8], any: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present.
            return unsafe { scan_avx2(x, any) };
        }
    }
    scan(x, any)
}

/// 1 when any of the `n` bytes at `x` is nonzero, else 0.
///
/// # Safety
/// `x` readable for `n` bytes (any pointer when `n == 0`).
pub unsafe extern "C" fn ember_row_any_u8(x: *const u8, n: usize) -> u8 {
    if n == 0 {
        return 0;
    }
    // SAFETY: the caller guarantees `n` readable bytes.
    let row = unsafe { std::slice::from_raw_parts(x, n) };
    scan_host(row, true) as u8
}

/// 1 when every one of the `n` bytes at `x` is nonzero (and when `n == 0`), else 0.
///
/// # Safety
/// As [`ember_row_any_u8`].
pub unsafe extern "C" fn ember_row_all_u8(x: *const u8, n: usize) -> u8 {
    if n == 0 {
        return 1;
    }
    // SAFETY: the caller guarantees `n` readable bytes.
    let row = unsafe { std::slice::from_raw_parts(x, n) };
    scan_host(row, false) as u8
}

/// The routines' symbols and addresses, for the JIT module.
pub fn symbols() -> [(&'static str, *const u8); 2] {
    [
        ("ember_row_any_u8", ember_row_any_u8 as *const u8),
        ("ember_row_all_u8", ember_row_all_u8 as *const u8),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force against `iter().any` / `all` for every length up to three blocks and each
    /// position of a single deciding byte (including non-1 true bytes).
    #[test]
    fn matches_brute_force() {
        for n in 0..3 * BLOCK + 7 {
            for pos in (0..n).step_by(13).chain(n.checked_sub(1)) {
                for t in [1u8, 2, 255] {
                    let mut x = vec![0u8; n];
                    x[pos] = t;
                    let any = unsafe { ember_row_any_u8(x.as_ptr(), n) };
                    assert_eq!(any, x.iter().any(|&b| b != 0) as u8, "any n={n} pos={pos}");
                    let mut y = vec![t; n];
                    y[pos] = 0;
                    let all = unsafe { ember_row_all_u8(y.as_ptr(), n) };
                    assert_eq!(all, y.iter().all(|&b| b != 0) as u8, "all n={n} pos={pos}");
                }
            }
            let none = vec![0u8; n];
            assert_eq!(unsafe { ember_row_any_u8(none.as_ptr(), n) }, 0);
            let every = vec![3u8; n];
            assert_eq!(unsafe { ember_row_all_u8(every.as_ptr(), n) }, 1);
        }
    }
}
