//! The blocked GEMM driver (the BLIS loop nest) around a packed micro-kernel.
//!
//! ```text
//! for jc in n, step NC:                 B block  (KC x NC, packed in NR-column slivers)
//!   for pc in k, step KC:               C += A[:, pc..] B[pc.., jc..]; epilogue on the last
//!     pack B[pc.., jc..]
//!     for ic in m, step MC:             A block  (MC x KC, packed in MR-row slivers)
//!       pack A[ic.., pc..]
//!       for jr in NC, step NR:          one B sliver stays in L1 ...
//!         for ir in MC, step MR:        ... while the A slivers stream from L2
//!           micro-kernel: MR x NR tile of C
//! ```
//!
//! Packing reads any strides (transposed, broadcast, reversed operands need no copy before)
//! and pads the last sliver with zeros, so the micro-kernel always computes a full tile. Full
//! tiles of a C with unit column stride are stored by the micro-kernel itself, epilogue
//! included; edge tiles (and other C or addend layouts) go through a small buffer and a scalar
//! merge that applies the same operations in the same order, so both paths round alike.
//!
//! Threads: C is split into one column (or row) range per pool thread, each an independent
//! blocked GEMM with its own packing buffers (thread-local, kept between calls).

use super::{Epilogue, GemmScalar, Mat, MatMut};
use crate::cpu::pool::Pool;
use std::cell::RefCell;

/// Below this many multiply-adds a GEMM runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 18;

/// What the epilogue adds to a tile's rows, as the micro-kernel sees it.
#[derive(Clone, Copy, Debug)]
pub enum Addend<T> {
    /// Nothing.
    None,
    /// Row `i` adds the `NR` contiguous values at `ptr + i * rs`.
    Row {
        /// The tile's first value.
        ptr: *const T,
        /// Row stride in elements (0 broadcasts one row, e.g. a bias vector).
        rs: isize,
    },
    /// Row `i` adds the one value at `ptr + i * rs` to every column.
    PerRow {
        /// The tile's first value.
        ptr: *const T,
        /// Row stride in elements.
        rs: isize,
    },
}

/// Where and how a micro-kernel stores its `MR x NR` tile (unit column stride).
#[derive(Debug)]
pub struct Tile<T> {
    /// Element `(0, 0)` of the tile.
    pub c: *mut T,
    /// Row stride in elements.
    pub rs: isize,
    /// Add the tile's current contents (every block of `k` after the first).
    pub accumulate: bool,
    /// Added after the sum (last block of `k` only).
    pub addend: Addend<T>,
    /// `maximum(x, 0)` last (last block of `k` only).
    pub relu: bool,
}

/// A micro-kernel: `(k, packed A sliver, packed B sliver, tile)`.
pub type KernelFn<T> = unsafe fn(usize, *const T, *const T, &Tile<T>);

/// A micro-kernel with its register tile and cache blocking.
#[derive(Clone, Copy, Debug)]
pub struct Spec<T> {
    /// Rows of the register tile.
    pub mr: usize,
    /// Columns of the register tile.
    pub nr: usize,
    /// Rows of A per packed block (a multiple of `mr`; the block stays in L2).
    pub mc: usize,
    /// Depth per block (one B sliver, `kc x nr`, stays in L1).
    pub kc: usize,
    /// Columns of B per packed block (a multiple of `nr`).
    pub nc: usize,
    /// The kernel.
    pub kernel: KernelFn<T>,
    /// A faster `pack_a` for a row-major A (unit column stride): packs the full slivers of
    /// `(mb, kb, a, out)` and returns how many rows it packed.
    pub pack_a: Option<PackFn<T>>,
}

/// A specialized packing routine (see [`Spec::pack_a`]).
pub type PackFn<T> = unsafe fn(usize, usize, Mat<T>, *mut T) -> usize;

/// 64-byte aligned storage for packed operands.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

thread_local! {
    static PACK: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a buffer of at least `bytes` bytes, 64-byte aligned: this thread's kept
/// buffer, or a fresh one if that is in use.
fn with_buffer<R>(bytes: usize, f: impl FnOnce(*mut u8) -> R) -> R {
    let lines = bytes.div_ceil(64);
    let grow = |v: &mut Vec<Line>| {
        if v.len() < lines {
            v.resize(lines, Line([0; 64]));
        }
        v.as_mut_ptr() as *mut u8
    };
    PACK.with(|cell| match cell.try_borrow_mut() {
        Ok(mut v) => f(grow(&mut v)),
        Err(_) => f(grow(&mut Vec::new())),
    })
}

fn at<T>(m: Mat<T>, i: usize, j: usize) -> *const T {
    m.ptr.wrapping_offset(i as isize * m.rs + j as isize * m.cs)
}

fn at_mut<T>(m: MatMut<T>, i: usize, j: usize) -> *mut T {
    m.ptr.wrapping_offset(i as isize * m.rs + j as isize * m.cs)
}

impl<T: Copy> Mat<T> {
    /// The view starting at element `(i, j)`.
    fn sub(self, i: usize, j: usize) -> Self {
        Mat {
            ptr: at(self, i, j),
            ..self
        }
    }
}

impl<T: Copy> MatMut<T> {
    /// The view starting at element `(i, j)`.
    fn sub(self, i: usize, j: usize) -> Self {
        MatMut {
            ptr: at_mut(self, i, j),
            ..self
        }
    }
}

impl<T: Copy> Epilogue<T> {
    /// The epilogue of the part of C starting at `(i, j)`.
    fn sub(&self, i: usize, j: usize) -> Self {
        Epilogue {
            addend: self.addend.map(|d| d.sub(i, j)),
            relu: self.relu,
        }
    }
}

/// `C = epilogue(A B)` on the pool's threads (`k > 0`, `m, n > 0`).
///
/// # Safety
/// As for [`super::gemm_with`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm<T: GemmScalar>(
    spec: &Spec<T>,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    epi: &Epilogue<T>,
) {
    let pool = Pool::global();
    let threads = if m.saturating_mul(n).saturating_mul(k) < PARALLEL_MIN {
        1
    } else {
        pool.threads()
    };
    // Split the longer side of C: each part packs the whole of the other operand.
    let split_n = n >= m;
    let (len, unit) = if split_n { (n, spec.nr) } else { (m, spec.mr) };
    let per = len.div_ceil(unit).div_ceil(threads).max(1) * unit;
    let parts = len.div_ceil(per);
    struct Job<'a, T> {
        spec: &'a Spec<T>,
        dims: (usize, usize, usize),
        a: Mat<T>,
        b: Mat<T>,
        c: MatMut<T>,
        epi: &'a Epilogue<T>,
    }
    // SAFETY: the parts write disjoint ranges of C and only read the rest (the caller's
    // contract); the pointers stay valid until `run` returns.
    unsafe impl<T> Sync for Job<'_, T> {}
    let job = Job {
        spec,
        dims: (m, k, n),
        a,
        b,
        c,
        epi,
    };
    let run_part = |p: usize| {
        let job = &job;
        let (m, k, n) = job.dims;
        let lo = p * per;
        let hi = (lo + per).min(len);
        let (i0, j0, mp, np) = if split_n {
            (0, lo, m, hi - lo)
        } else {
            (lo, 0, hi - lo, n)
        };
        // SAFETY: the part's views lie inside the caller's.
        unsafe {
            serial(
                job.spec,
                mp,
                k,
                np,
                job.a.sub(i0, 0),
                job.b.sub(0, j0),
                job.c.sub(i0, j0),
                &job.epi.sub(i0, j0),
            )
        }
    };
    if parts == 1 {
        run_part(0);
    } else {
        pool.run(parts, &run_part);
    }
}

/// The blocked loop nest on the calling thread.
///
/// # Safety
/// As for [`gemm`].
#[allow(clippy::too_many_arguments)]
unsafe fn serial<T: GemmScalar>(
    spec: &Spec<T>,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    epi: &Epilogue<T>,
) {
    let (mr, nr) = (spec.mr, spec.nr);
    let kc = spec.kc.min(k);
    let mc = spec.mc.min(m.div_ceil(mr) * mr);
    let nc = spec.nc.min(n.div_ceil(nr) * nr);
    let size = std::mem::size_of::<T>();
    // Packed A block, packed B block, one tile: each rounded to whole lines.
    let a_len = (mc * kc * size).div_ceil(64) * 64;
    let b_len = (kc * nc * size).div_ceil(64) * 64;
    let t_len = mr * nr * size;
    with_buffer(a_len + b_len + t_len, |buf| {
        let ap = buf as *mut T;
        let bp = buf.wrapping_add(a_len) as *mut T;
        let tmp = buf.wrapping_add(a_len + b_len) as *mut T;
        for jc in (0..n).step_by(nc) {
            let nb = (n - jc).min(nc);
            for pc in (0..k).step_by(kc) {
                let kb = (k - pc).min(kc);
                let (first, last) = (pc == 0, pc + kb == k);
                // SAFETY: the buffers hold a full block each; the sources lie in A and B.
                unsafe { pack_b(nr, kb, nb, b.sub(pc, jc), bp) };
                for ic in (0..m).step_by(mc) {
                    let mb = (m - ic).min(mc);
                    let blk = a.sub(ic, pc);
                    let done = match spec.pack_a {
                        // SAFETY: as above.
                        Some(f) if a.cs == 1 => unsafe { f(mb, kb, blk, ap) },
                        _ => 0,
                    };
                    // SAFETY: as above; the rows the fast routine left.
                    unsafe {
                        pack_a(
                            mr,
                            mb - done,
                            kb,
                            blk.sub(done, 0),
                            ap.wrapping_add(done * kb),
                        )
                    };
                    let block = Block {
                        spec,
                        kb,
                        ap,
                        bp,
                        tmp,
                        c: c.sub(ic, jc),
                        first,
                        epi: last.then(|| epi.sub(ic, jc)),
                    };
                    // SAFETY: the block's C lies in C; the packs are complete.
                    unsafe { block.run(mb, nb) };
                }
            }
        }
    });
}

/// One packed `mb x kb` A block against one packed `kb x nb` B block.
struct Block<'a, T> {
    spec: &'a Spec<T>,
    kb: usize,
    ap: *const T,
    bp: *const T,
    tmp: *mut T,
    c: MatMut<T>,
    first: bool,
    /// The epilogue when this is the last block of `k` (the addend at the block's origin).
    epi: Option<Epilogue<T>>,
}

impl<T: GemmScalar> Block<'_, T> {
    /// # Safety
    /// `c` addresses `mb x nb` elements; `ap` and `bp` hold the packed blocks.
    unsafe fn run(&self, mb: usize, nb: usize) {
        let Spec { mr, nr, kernel, .. } = *self.spec;
        let (kb, c) = (self.kb, self.c);
        let relu = self.epi.as_ref().is_some_and(|e| e.relu);
        let addend = self.epi.as_ref().and_then(|e| e.addend);
        let fast_addend = addend.is_none_or(|d| d.cs == 0 || d.cs == 1);
        for jr in (0..nb).step_by(nr) {
            let bs = self.bp.wrapping_add(jr * kb);
            for ir in (0..mb).step_by(mr) {
                let asl = self.ap.wrapping_add(ir * kb);
                let ct = at_mut(c, ir, jr);
                let full = mb - ir >= mr && nb - jr >= nr;
                if full && c.cs == 1 && fast_addend {
                    let addend = match addend {
                        None => Addend::None,
                        Some(d) if d.cs == 1 => Addend::Row {
                            ptr: at(d, ir, jr),
                            rs: d.rs,
                        },
                        Some(d) => Addend::PerRow {
                            ptr: at(d, ir, jr),
                            rs: d.rs,
                        },
                    };
                    let tile = Tile {
                        c: ct,
                        rs: c.rs,
                        accumulate: !self.first,
                        addend,
                        relu,
                    };
                    // SAFETY: a full tile inside C; slivers of `kb` steps.
                    unsafe { kernel(kb, asl, bs, &tile) };
                    continue;
                }
                let tile = Tile {
                    c: self.tmp,
                    rs: nr as isize,
                    accumulate: false,
                    addend: Addend::None,
                    relu: false,
                };
                // SAFETY: `tmp` holds `mr x nr` elements.
                unsafe { kernel(kb, asl, bs, &tile) };
                let (rows, cols) = ((mb - ir).min(mr), (nb - jr).min(nr));
                for i in 0..rows {
                    for j in 0..cols {
                        // SAFETY: (ir + i, jr + j) lies in the block's C; the same for the
                        // addend, which covers C's extent.
                        unsafe {
                            let dst = at_mut(c, ir + i, jr + j);
                            let mut x = *self.tmp.add(i * nr + j);
                            if !self.first {
                                x = *dst + x;
                            }
                            if let Some(d) = addend {
                                x = x + *at(d, ir + i, jr + j);
                            }
                            if relu {
                                x = x.relu();
                            }
                            *dst = x;
                        }
                    }
                }
            }
        }
    }
}

/// Packs an `mb x kb` block of A into slivers of `mr` rows: sliver `s` holds column `p` at
/// `out + s * mr * kb + p * mr`, rows past `mb` zero.
///
/// # Safety
/// `a` addresses `mb x kb` elements; `out` holds `ceil(mb / mr) * mr * kb`.
unsafe fn pack_a<T: GemmScalar>(mr: usize, mb: usize, kb: usize, a: Mat<T>, out: *mut T) {
    for (s, i0) in (0..mb).step_by(mr).enumerate() {
        let rows = (mb - i0).min(mr);
        let dst = out.wrapping_add(s * mr * kb);
        // SAFETY: every index stays inside the sliver and the block.
        unsafe {
            if a.cs.unsigned_abs() <= a.rs.unsigned_abs() {
                // Rows are the contiguous direction: read along each row.
                for i in 0..rows {
                    let src = at(a, i0 + i, 0);
                    for p in 0..kb {
                        *dst.add(p * mr + i) = *src.wrapping_offset(p as isize * a.cs);
                    }
                }
            } else {
                for p in 0..kb {
                    let src = at(a, i0, p);
                    let d = dst.add(p * mr);
                    for i in 0..rows {
                        *d.add(i) = *src.wrapping_offset(i as isize * a.rs);
                    }
                }
            }
            if rows < mr {
                for p in 0..kb {
                    for i in rows..mr {
                        *dst.add(p * mr + i) = T::default();
                    }
                }
            }
        }
    }
}

/// Packs a `kb x nb` block of B into slivers of `nr` columns: sliver `s` holds row `p` at
/// `out + s * nr * kb + p * nr`, columns past `nb` zero.
///
/// # Safety
/// `b` addresses `kb x nb` elements; `out` holds `kb * ceil(nb / nr) * nr`.
unsafe fn pack_b<T: GemmScalar>(nr: usize, kb: usize, nb: usize, b: Mat<T>, out: *mut T) {
    for (s, j0) in (0..nb).step_by(nr).enumerate() {
        let cols = (nb - j0).min(nr);
        let dst = out.wrapping_add(s * nr * kb);
        // SAFETY: every index stays inside the sliver and the block.
        unsafe {
            if b.cs == 1 {
                for p in 0..kb {
                    let d = dst.add(p * nr);
                    std::ptr::copy_nonoverlapping(at(b, p, j0), d, cols);
                    for j in cols..nr {
                        *d.add(j) = T::default();
                    }
                }
            } else if b.rs.unsigned_abs() < b.cs.unsigned_abs() {
                // Columns are the contiguous direction: read down each column. The padding
                // is zeroed row by row (down a column each store is a new cache line).
                if cols < nr {
                    for p in 0..kb {
                        std::slice::from_raw_parts_mut(dst.add(p * nr + cols), nr - cols)
                            .fill(T::default());
                    }
                }
                for j in 0..cols {
                    let src = at(b, 0, j0 + j);
                    for p in 0..kb {
                        *dst.add(p * nr + j) = *src.wrapping_offset(p as isize * b.rs);
                    }
                }
            } else {
                for p in 0..kb {
                    let src = at(b, p, j0);
                    let d = dst.add(p * nr);
                    for j in 0..nr {
                        *d.add(j) = if j < cols {
                            *src.wrapping_offset(j as isize * b.cs)
                        } else {
                            T::default()
                        };
                    }
                }
            }
        }
    }
}
