//! Integer and bool matmul with NumPy's exact semantics: integers on the float GEMM where that
//! is exact, bools on bit sets.
//!
//! * bool: `C[i, j] = OR_p (A[i, p] AND B[p, j])`. Blocks of `p` of A's rows and B's columns
//!   are packed into bit sets and each element of C still false is tested for a common bit,
//!   64 terms per word; an element stops at its first true term, as NumPy's does
//!   ([`bool_bits`]; small outputs scan bytes, [`bool_small`]).
//! * int32 / int64 (wrapping on overflow, as NumPy's integer matmul): the operands are
//!   converted to float64 while their largest magnitudes `max|A|`, `max|B|` are found. When
//!   `max|A| * max|B| * k <= 2^53`, every product and every partial sum is an integer of at
//!   most 2^53 in magnitude, so the float64 GEMM computes each sum exactly whatever its order,
//!   and the result converts back exactly (then wraps to int32 as NumPy's int32 arithmetic
//!   would). Otherwise, and for thin products (`m == 1` or `n == 1`: memory bound, where the
//!   conversion would cost more than it saves), an exact wrapping loop runs: `C[i, :] +=
//!   A[i, p] * B[p, :]` over contiguous rows of B (packed when B's rows are not contiguous),
//!   one dot product per row for a column vector, rows split over the pool's threads. Its
//!   inner loops are compiled for AVX-512 (with 64-bit multiplies), AVX2 and baseline x86-64.
//! * tiny products (`m * k * n <= 512`, e.g. batches of 3 x 3 matrices) of either kind skip
//!   the conversions and run as exact loops over the operands as they lie (`tiny`).

use super::tiny::{self, TinyScalar};
use super::{batched_gemm, BatchStrides, GemmScalar, Job, Mat, MatMut};
use crate::cpu::pool::Pool;
use std::cell::Cell;

/// Below this many multiply-adds a product runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 17;
/// Batches of a float product are converted and multiplied in chunks of about this many
/// result elements.
const CHUNK: usize = 1 << 17;
/// Below this many multiply-adds an integer product skips the float64 conversion.
const FLOAT_MIN: usize = 1 << 12;

/// The integer element types of [`int_matmul`] (int32 and int64).
pub trait IntScalar: TinyScalar + Copy + Default + PartialEq + Send + Sync + 'static {
    /// `self + x * y`, wrapping.
    fn mul_add(self, x: Self, y: Self) -> Self;
    /// The value as float64 (rounded beyond 2^53; see the module notes for when it is exact).
    fn to_f64(self) -> f64;
    /// The integer float64 `x` (at most 2^53 in magnitude) wrapped to this type.
    fn from_f64(x: f64) -> Self;
    /// `|self|` (exact: `|i64::MIN|` is 2^63).
    fn magnitude(self) -> u64;
}

impl IntScalar for i32 {
    #[inline(always)]
    fn mul_add(self, x: Self, y: Self) -> Self {
        self.wrapping_add(x.wrapping_mul(y))
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as i64 as i32
    }
    #[inline(always)]
    fn magnitude(self) -> u64 {
        u64::from(self.unsigned_abs())
    }
}

impl IntScalar for i64 {
    #[inline(always)]
    fn mul_add(self, x: Self, y: Self) -> Self {
        self.wrapping_add(x.wrapping_mul(y))
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as i64
    }
    #[inline(always)]
    fn magnitude(self) -> u64 {
        self.unsigned_abs()
    }
}

/// Whether sums of `k` products of magnitudes up to `amax * bmax` are exact in float64.
pub fn f64_exact(amax: u64, bmax: u64, k: usize) -> bool {
    u128::from(amax)
        .checked_mul(u128::from(bmax))
        .and_then(|p| p.checked_mul(k as u128))
        .is_some_and(|s| s <= 1u128 << 53)
}

/// A contiguous copy of the `mats` matrices (`rows x cols`, batch `i` at `src + i * stride`)
/// converted by `f`, laid out in the source's order (column-major when its column stride is
/// the smaller), with the view of matrix 0 and the batch stride of the copy.
///
/// # Safety
/// `src` must address every element of every matrix.
#[inline(always)]
unsafe fn gather_into<S: Copy, D: Copy>(
    out: &mut Vec<D>,
    mats: usize,
    rows: usize,
    cols: usize,
    src: Mat<S>,
    stride: isize,
    mut f: impl FnMut(S) -> D,
) -> (Mat<D>, isize) {
    out.clear();
    let per = rows * cols;
    let col_major = src.cs.unsigned_abs() > src.rs.unsigned_abs() && cols > 1 && rows > 1;
    // (outer count, inner count, outer stride, inner stride) in the source.
    let (no, ni, so, si) = if col_major {
        (cols, rows, src.cs, src.rs)
    } else {
        (rows, cols, src.rs, src.cs)
    };
    out.reserve(mats * per);
    for b in 0..mats as isize {
        let base = src.ptr.wrapping_offset(b * stride);
        for o in 0..no as isize {
            let row = base.wrapping_offset(o * so);
            if si == 1 {
                // SAFETY: the caller's view covers `ni` contiguous elements here.
                let s = unsafe { std::slice::from_raw_parts(row, ni) };
                out.extend(s.iter().map(|&x| f(x)));
            } else {
                // SAFETY: as above, strided.
                out.extend((0..ni as isize).map(|i| f(unsafe { *row.wrapping_offset(i * si) })));
            }
        }
    }
    let view = if col_major {
        Mat {
            ptr: out.as_ptr(),
            rs: 1,
            cs: rows as isize,
        }
    } else {
        Mat::row_major(out.as_ptr(), cols)
    };
    (view, if mats > 1 { per as isize } else { 0 })
}

/// [`gather_into`] a new vector.
///
/// # Safety
/// As for [`gather_into`].
unsafe fn gather<S: Copy, D: Copy>(
    mats: usize,
    rows: usize,
    cols: usize,
    src: Mat<S>,
    stride: isize,
    f: impl FnMut(S) -> D,
) -> (Vec<D>, Mat<D>, isize) {
    let mut out = Vec::new();
    // SAFETY: forwarded contract.
    let (view, s) = unsafe { gather_into(&mut out, mats, rows, cols, src, stride, f) };
    (out, view, s)
}

/// Matrices an operand with batch stride `stride` holds (one when it broadcasts).
fn mats(batch: usize, stride: isize) -> usize {
    if stride == 0 {
        1
    } else {
        batch
    }
}

/// Writes `f(src[r * n + j])` to `C[b][i, j]` for the `batch * m` contiguous rows of `src`.
///
/// # Safety
/// `c` must address every element of every batch (`c.ptr + b * c_stride`).
unsafe fn scatter<S: Copy, D>(
    batch: usize,
    m: usize,
    n: usize,
    src: &[S],
    c: MatMut<D>,
    c_stride: isize,
    f: impl Fn(S) -> D,
) {
    for (r, row) in src.chunks_exact(n).enumerate().take(batch * m) {
        let (b, i) = ((r / m) as isize, (r % m) as isize);
        let dst = c.ptr.wrapping_offset(b * c_stride + i * c.rs);
        if c.cs == 1 {
            // SAFETY: the caller's view covers the row's `n` contiguous elements.
            let out = unsafe { std::slice::from_raw_parts_mut(dst, n) };
            for (o, &x) in out.iter_mut().zip(row) {
                *o = f(x);
            }
            continue;
        }
        for (j, &x) in row.iter().enumerate() {
            // SAFETY: the caller's view covers this element.
            unsafe { dst.wrapping_offset(j as isize * c.cs).write(f(x)) };
        }
    }
}

/// Sets every element of every batch of `c` to `v`.
///
/// # Safety
/// As for [`scatter`].
unsafe fn fill<D: Copy>(batch: usize, m: usize, n: usize, c: MatMut<D>, c_stride: isize, v: D) {
    for b in 0..batch as isize {
        for i in 0..m as isize {
            for j in 0..n as isize {
                // SAFETY: the caller's view covers this element.
                unsafe {
                    c.ptr
                        .wrapping_offset(b * c_stride + i * c.rs + j * c.cs)
                        .write(v)
                };
            }
        }
    }
}

/// `C[i] = A[i] B[i]` for bool matrices (bytes 0 / 1): `C[i, j] = OR_p A[i, p] AND B[p, j]`.
///
/// # Safety
/// As for [`super::batched_gemm`]; every byte read is 0 or 1.
#[allow(clippy::too_many_arguments)]
pub unsafe fn bool_matmul(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<u8>,
    b: Mat<u8>,
    c: MatMut<u8>,
    strides: BatchStrides,
) {
    if batch * m * n == 0 {
        return;
    }
    if k == 0 {
        // SAFETY: forwarded contract.
        unsafe { fill(batch, m, n, c, strides.c, 0) };
        return;
    }
    if tiny::applies(m, k, n) {
        // SAFETY: forwarded contract.
        unsafe { tiny::tiny(batch, m, k, n, a, b, c, strides, |_, _, x| x) };
        return;
    }
    if m * n <= SMALL_BOOL {
        // SAFETY: forwarded contract.
        unsafe { bool_small(batch, m, k, n, a, b, c, strides) };
        return;
    }
    // SAFETY: forwarded contract.
    unsafe { bool_bits(batch, m, k, n, a, b, c, strides) };
}

/// Bits of `p` per block of [`bool_bits`]: the first block, and the most.
const BITS_FIRST: usize = 256;
const BITS_MAX: usize = 4096;
/// Rows (or columns) gathered into byte scratch at a time.
const BITS_ROWS: usize = 64;

/// Sets `out[r * words + w]` bit `t % 64` (`w = t / 64`) to element `(r, p0 + t)` of the
/// `rows x len` block at `src` (element `(r, t)` at `src + r * sr + t * sp`, bytes 0 / 1),
/// for `r < rows`, `t < len`; bits past `len` are zero.
///
/// # Safety
/// `src` addresses every element of the block; `out` holds `rows * words` words.
unsafe fn pack_bits(
    rows: usize,
    len: usize,
    src: *const u8,
    sr: isize,
    sp: isize,
    out: &mut [u64],
    scratch: &mut [u8],
) {
    let words = len.div_ceil(64);
    let w = words * 64;
    for r0 in (0..rows).step_by(BITS_ROWS) {
        let rb = (rows - r0).min(BITS_ROWS);
        let bytes = &mut scratch[..rb * w];
        let base = src.wrapping_offset(r0 as isize * sr);
        if sp.unsigned_abs() <= sr.unsigned_abs() {
            for r in 0..rb {
                let row = base.wrapping_offset(r as isize * sr);
                let dst = &mut bytes[r * w..r * w + len];
                if sp == 1 {
                    // SAFETY: the row's `len` elements are contiguous in the block.
                    dst.copy_from_slice(unsafe { std::slice::from_raw_parts(row, len) });
                } else {
                    for (t, o) in dst.iter_mut().enumerate() {
                        // SAFETY: (r, t) lies in the block.
                        *o = unsafe { *row.wrapping_offset(t as isize * sp) };
                    }
                }
            }
        } else {
            // The block's columns are the contiguous direction: read down each.
            for t in 0..len {
                let col = base.wrapping_offset(t as isize * sp);
                for r in 0..rb {
                    // SAFETY: (r, t) lies in the block.
                    bytes[r * w + t] = unsafe { *col.wrapping_offset(r as isize * sr) };
                }
            }
        }
        for r in 0..rb {
            bytes[r * w + len..(r + 1) * w].fill(0);
            let row = &bytes[r * w..(r + 1) * w];
            for (q, o) in out[(r0 + r) * words..(r0 + r + 1) * words]
                .iter_mut()
                .enumerate()
            {
                let mut bits = 0u64;
                for e in 0..8 {
                    let mut x = [0u8; 8];
                    x.copy_from_slice(&row[q * 64 + e * 8..q * 64 + e * 8 + 8]);
                    // Bytes 0 / 1: byte e's bit lands at bit 56 + e (no carries).
                    let gathered = u64::from_le_bytes(x).wrapping_mul(0x0102_0408_1020_4080) >> 56;
                    bits |= gathered << (8 * e);
                }
                *o = bits;
            }
        }
    }
}

/// Whether `x[w] & y[w]` is nonzero for some `w`, stopping at the first 8-word chunk that is.
#[inline(always)]
fn and_any(x: &[u64], y: &[u64]) -> bool {
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .fold(0, |acc, (&u, &v)| acc | (u & v));
    if tail != 0 {
        return true;
    }
    for (u, v) in xc.zip(yc) {
        if u.iter().zip(v).fold(0, |acc, (&p, &q)| acc | (p & q)) != 0 {
            return true;
        }
    }
    false
}

/// A bool product with a larger output: per block of `p` (256 bits, then growing to 4096),
/// A's rows and B's columns packed into bit sets, and each element of C not yet true tested
/// for a common bit; rows whose elements are all true drop out, and the scan stops once all
/// are. NumPy's bool matmul also stops at the first true term: a dense or random `a @ a.T`
/// settles in the first block (128 x 6250 bool: 1.9 ms through the float32 GEMM, which
/// converts every operand and multiplies all of `k`). All-false operands scan all of `k`,
/// 64 terms per word operation. Rows of C are split over the pool's threads.
///
/// # Safety
/// As for [`bool_matmul`].
#[allow(clippy::too_many_arguments)]
unsafe fn bool_bits(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<u8>,
    b: Mat<u8>,
    c: MatMut<u8>,
    strides: BatchStrides,
) {
    let job = Job {
        m,
        k,
        n,
        a,
        b,
        c,
        strides,
    };
    let rows = batch * m;
    let pool = Pool::global();
    let parts = if rows * n < 1 << 12 {
        1
    } else {
        pool.threads().min(rows)
    };
    let per = rows.div_ceil(parts);
    let work = |p: usize| {
        let (lo, hi) = (p * per, ((p + 1) * per).min(rows));
        let mut r = lo;
        while r < hi {
            let (q, i0) = (r / m, r % m);
            let i1 = (m).min(i0 + hi - r);
            // SAFETY: forwarded contract; parts write disjoint rows of C.
            unsafe { bool_bits_rows(&job, q, i0, i1) };
            r += i1 - i0;
        }
    };
    if parts <= 1 {
        work(0);
    } else {
        pool.run(parts, &work);
    }
}

/// Rows `i0..i1` of batch `q` of [`bool_bits`].
///
/// # Safety
/// As for [`bool_matmul`].
unsafe fn bool_bits_rows(job: &Job<u8>, q: usize, i0: usize, i1: usize) {
    let Job {
        k,
        n,
        a,
        b,
        c,
        strides,
        ..
    } = *job;
    let rows = i1 - i0;
    let q = q as isize;
    let ap = a.ptr.wrapping_offset(q * strides.a + i0 as isize * a.rs);
    let bp = b.ptr.wrapping_offset(q * strides.b);
    let mut found = vec![0u8; rows * n];
    let mut left: Vec<usize> = vec![n; rows];
    let mut total = rows * n;
    let mut abits = vec![0u64; rows * BITS_MAX / 64];
    let mut bbits = vec![0u64; n * BITS_MAX / 64];
    let mut scratch = vec![0u8; BITS_ROWS * BITS_MAX];
    let (mut p0, mut kb) = (0, BITS_FIRST);
    while p0 < k && total > 0 {
        let len = (k - p0).min(kb);
        let words = len.div_ceil(64);
        let p0i = p0 as isize;
        // SAFETY (both packs): the blocks lie in the caller's views.
        // B's columns: element (j, t) at (p0 + t, j).
        unsafe {
            pack_bits(
                n,
                len,
                bp.wrapping_offset(p0i * b.rs),
                b.cs,
                b.rs,
                &mut bbits,
                &mut scratch,
            )
        };
        // A's rows that still have a false element, in runs.
        let mut r = 0;
        while r < rows {
            if left[r] == 0 {
                r += 1;
                continue;
            }
            let mut e = r + 1;
            while e < rows && left[e] > 0 {
                e += 1;
            }
            // SAFETY: as above.
            unsafe {
                pack_bits(
                    e - r,
                    len,
                    ap.wrapping_offset(r as isize * a.rs + p0i * a.cs),
                    a.rs,
                    a.cs,
                    &mut abits[r * words..],
                    &mut scratch,
                )
            };
            r = e;
        }
        for r in 0..rows {
            if left[r] == 0 {
                continue;
            }
            let x = &abits[r * words..(r + 1) * words];
            for j in 0..n {
                if found[r * n + j] == 0 && and_any(x, &bbits[j * words..(j + 1) * words]) {
                    found[r * n + j] = 1;
                    left[r] -= 1;
                    total -= 1;
                }
            }
        }
        p0 += len;
        kb = (kb * 4).min(BITS_MAX);
    }
    let cp = c.ptr.wrapping_offset(q * strides.c + i0 as isize * c.rs);
    for r in 0..rows {
        for j in 0..n {
            // SAFETY: (i0 + r, j) of batch q lies in C.
            unsafe {
                *cp.wrapping_offset(r as isize * c.rs + j as isize * c.cs) = found[r * n + j]
            };
        }
    }
}

/// Largest `m * n` of a bool product that [`bool_small`] runs.
const SMALL_BOOL: usize = 64;
/// Steps of `p` [`bool_small`] gathers at a time.
const BOOL_BLOCK: usize = 256;

/// A bool product with a small output (`m * n <= 64`): per block of [`BOOL_BLOCK`] steps of
/// `p`, the rows of A and columns of B gathered, and each element of C not yet true tested
/// for `any(A[i, block] & B[block, j])`; the scan stops once every element is true. Random
/// or dense operands settle in the first block (NumPy's bool matmul also stops at the first
/// true term): a 7 x 100000 `a @ a.T` took 3.5 ms through the float GEMM (converting 1.4 M
/// elements, padding C to a register tile), a few microseconds here. All-false operands scan
/// all of `k` in vectorized byte loops.
///
/// # Safety
/// As for [`bool_matmul`].
#[allow(clippy::too_many_arguments)]
unsafe fn bool_small(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<u8>,
    b: Mat<u8>,
    c: MatMut<u8>,
    strides: BatchStrides,
) {
    let mut ab = vec![0u8; m * BOOL_BLOCK];
    let mut bb = vec![0u8; n * BOOL_BLOCK];
    let mut found = vec![false; m * n];
    for q in 0..batch as isize {
        let (ap, bp) = (
            a.ptr.wrapping_offset(q * strides.a),
            b.ptr.wrapping_offset(q * strides.b),
        );
        found.fill(false);
        let mut left = m * n;
        for p0 in (0..k).step_by(BOOL_BLOCK) {
            if left == 0 {
                break;
            }
            let len = (k - p0).min(BOOL_BLOCK);
            for i in 0..m {
                let row = ap.wrapping_offset(i as isize * a.rs + p0 as isize * a.cs);
                for (t, o) in ab[i * BOOL_BLOCK..i * BOOL_BLOCK + len]
                    .iter_mut()
                    .enumerate()
                {
                    // SAFETY: p0 + t < k, i < m.
                    *o = unsafe { *row.wrapping_offset(t as isize * a.cs) };
                }
            }
            for t in 0..len {
                let src = bp.wrapping_offset((p0 + t) as isize * b.rs);
                for j in 0..n {
                    // SAFETY: p0 + t < k, j < n.
                    bb[j * BOOL_BLOCK + t] = unsafe { *src.wrapping_offset(j as isize * b.cs) };
                }
            }
            for i in 0..m {
                let x = &ab[i * BOOL_BLOCK..i * BOOL_BLOCK + len];
                for j in 0..n {
                    if found[i * n + j] {
                        continue;
                    }
                    let y = &bb[j * BOOL_BLOCK..j * BOOL_BLOCK + len];
                    if x.iter().zip(y).fold(0u8, |acc, (&u, &v)| acc | (u & v)) != 0 {
                        found[i * n + j] = true;
                        left -= 1;
                    }
                }
            }
        }
        let cp = c.ptr.wrapping_offset(q * strides.c);
        for i in 0..m {
            for j in 0..n {
                // SAFETY: C addresses m x n elements per batch.
                unsafe {
                    *cp.wrapping_offset(i as isize * c.rs + j as isize * c.cs) =
                        u8::from(found[i * n + j]);
                }
            }
        }
    }
}

/// `C[i] = A[i] B[i]` for int32 / int64 matrices, wrapping on overflow (NumPy's integer
/// matmul), on the float64 GEMM when that is exact (see the module notes).
///
/// # Safety
/// As for [`super::batched_gemm`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn int_matmul<T: IntScalar>(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    strides: BatchStrides,
) {
    if batch * m * n == 0 {
        return;
    }
    if k == 0 {
        // SAFETY: forwarded contract.
        unsafe { fill(batch, m, n, c, strides.c, T::default()) };
        return;
    }
    if tiny::applies(m, k, n) {
        // SAFETY: forwarded contract (exact wrapping loops).
        unsafe { tiny::tiny(batch, m, k, n, a, b, c, strides, |_, _, x| x) };
        return;
    }
    if m == 1 || n == 1 || batch * m * n * k < FLOAT_MIN {
        // SAFETY: forwarded contract.
        unsafe { int_matmul_exact(batch, m, k, n, a, b, c, strides) };
        return;
    }
    // The largest magnitudes of the chunk's A and of B (B's stays when B broadcasts).
    let (amax, bmax) = (Cell::new(0u64), Cell::new(0u64));
    let conv_a = |x: T| {
        amax.set(amax.get().max(x.magnitude()));
        x.to_f64()
    };
    let conv_b = |x: T| {
        bmax.set(bmax.get().max(x.magnitude()));
        x.to_f64()
    };
    // SAFETY: forwarded contract.
    unsafe {
        chunked(
            batch,
            m,
            k,
            n,
            a,
            b,
            c,
            strides,
            conv_a,
            conv_b,
            |ch, prod: &[f64]| {
                // A broadcast B is converted (and its magnitude found) once.
                let bm = if strides.b == 0 {
                    bmax.get()
                } else {
                    bmax.replace(0)
                };
                if f64_exact(amax.replace(0), bm, k) {
                    scatter(ch.nb, m, n, prod, ch.c, strides.c, T::from_f64);
                } else {
                    int_matmul_exact(ch.nb, m, k, n, ch.a, ch.b, ch.c, strides);
                }
            },
        )
    };
}

/// One chunk of batches of [`chunked`]: its operands' and result's views.
struct Chunk<S> {
    nb: usize,
    a: Mat<S>,
    b: Mat<S>,
    c: MatMut<S>,
}

/// The product in chunks of batches whose float results fit a scratch of about [`CHUNK`]
/// elements (reused from chunk to chunk, so it stays in cache): each chunk's A (and B, once
/// when it broadcasts) converted to the float type `D` by `conv_a` / `conv_b`, multiplied
/// by the float GEMM, and handed to `done(chunk, product)` (C-contiguous `nb x m x n`)
/// after both conversions of that chunk.
///
/// # Safety
/// As for [`super::batched_gemm`].
#[allow(clippy::too_many_arguments)]
unsafe fn chunked<S: Copy, D: GemmScalar>(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<S>,
    b: Mat<S>,
    c: MatMut<S>,
    strides: BatchStrides,
    mut conv_a: impl FnMut(S) -> D,
    mut conv_b: impl FnMut(S) -> D,
    mut done: impl FnMut(&Chunk<S>, &[D]),
) {
    let step = (CHUNK / (m * n).max(1)).clamp(1, batch.max(1));
    let mut prod = vec![D::default(); step * m * n];
    let (mut ab, mut bb) = (Vec::new(), Vec::new());
    let mut b_conv: Option<(Mat<D>, isize)> = None;
    for lo in (0..batch).step_by(step) {
        let nb = step.min(batch - lo);
        let off = lo as isize;
        let ch = Chunk {
            nb,
            a: Mat {
                ptr: a.ptr.wrapping_offset(off * strides.a),
                ..a
            },
            b: Mat {
                ptr: b.ptr.wrapping_offset(off * strides.b),
                ..b
            },
            c: MatMut {
                ptr: c.ptr.wrapping_offset(off * strides.c),
                ..c
            },
        };
        // SAFETY: the chunk's views are within the caller's.
        let (av, sa) = unsafe {
            gather_into(
                &mut ab,
                mats(nb, strides.a),
                m,
                k,
                ch.a,
                strides.a,
                &mut conv_a,
            )
        };
        let (bv, sb) = match b_conv {
            Some(v) if strides.b == 0 => v,
            _ => {
                // SAFETY: as above.
                let v = unsafe {
                    gather_into(
                        &mut bb,
                        mats(nb, strides.b),
                        k,
                        n,
                        ch.b,
                        strides.b,
                        &mut conv_b,
                    )
                };
                b_conv = Some(v);
                v
            }
        };
        let st = BatchStrides {
            a: sa,
            b: sb,
            c: (m * n) as isize,
        };
        let pv = MatMut::row_major(prod.as_mut_ptr(), n);
        // SAFETY: the converted copies and the scratch hold the chunk's matrices at these
        // strides.
        unsafe { batched_gemm(nb, m, k, n, av, bv, pv, st) };
        done(&ch, &prod[..nb * m * n]);
    }
}

/// `C[i] = A[i] B[i]` exactly (wrapping) by loops, for any `k` and any values.
///
/// # Safety
/// As for [`super::batched_gemm`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn int_matmul_exact<T: IntScalar>(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    strides: BatchStrides,
) {
    if batch * m * n == 0 {
        return;
    }
    // B's rows contiguous (for the row update) or, for one column, B's column contiguous.
    let (_packed, b, sb) = if (n == 1 && b.rs == 1) || (n > 1 && b.cs == 1) {
        (Vec::new(), b, strides.b)
    } else {
        // SAFETY: forwarded contract.
        let (buf, _, s) = unsafe { gather(mats(batch, strides.b), k, n, b, strides.b, |x| x) };
        // `gather` keeps a column-major source column-major; repack those row-major.
        let view = Mat::row_major(buf.as_ptr(), n);
        if n > 1 && b.cs.unsigned_abs() > b.rs.unsigned_abs() && k > 1 {
            let mut rm = Vec::with_capacity(buf.len());
            for mat in buf.chunks_exact(k * n) {
                for p in 0..k {
                    rm.extend((0..n).map(|j| mat[j * k + p]));
                }
            }
            let v = Mat::row_major(rm.as_ptr(), n);
            (rm, v, s)
        } else {
            (buf, view, s)
        }
    };
    let job = Job {
        m,
        k,
        n,
        a,
        b,
        c,
        strides: BatchStrides { b: sb, ..strides },
    };
    let rows = batch * m;
    let pool = Pool::global();
    let parts = if rows * k * n < PARALLEL_MIN {
        1
    } else {
        (pool.threads() * 4).min(rows)
    };
    let per = rows.div_ceil(parts);
    let work = |p: usize| {
        let (lo, hi) = (p * per, ((p + 1) * per).min(rows));
        if lo < hi {
            // SAFETY: forwarded contract; parts write disjoint rows.
            unsafe { dispatch(&job, lo, hi) };
        }
    };
    if parts <= 1 {
        work(0);
    } else {
        pool.run(parts, &work);
    }
}

/// Rows `lo..hi` of the flattened `batch * m` rows, with the best loops for this CPU.
///
/// # Safety
/// As for [`int_matmul_exact`].
unsafe fn dispatch<T: IntScalar>(job: &Job<T>, lo: usize, hi: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            // SAFETY: the CPU has the features; forwarded contract.
            return unsafe { rows_avx512(job, lo, hi) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { rows_avx2(job, lo, hi) };
        }
    }
    // SAFETY: forwarded contract.
    unsafe { rows_generic(job, lo, hi) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2")]
unsafe fn rows_avx512<T: IntScalar>(job: &Job<T>, lo: usize, hi: usize) {
    // SAFETY: forwarded contract.
    unsafe { rows_generic(job, lo, hi) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rows_avx2<T: IntScalar>(job: &Job<T>, lo: usize, hi: usize) {
    // SAFETY: forwarded contract.
    unsafe { rows_generic(job, lo, hi) }
}

#[inline(always)]
unsafe fn rows_generic<T: IntScalar>(job: &Job<T>, lo: usize, hi: usize) {
    let Job {
        m,
        k,
        n,
        a,
        b,
        c,
        strides,
    } = *job;
    let mut acc = vec![T::default(); if n == 1 { 0 } else { n }];
    let mut arow = vec![T::default(); k];
    for r in lo..hi {
        let (bi, i) = ((r / m) as isize, (r % m) as isize);
        let ap = a.ptr.wrapping_offset(bi * strides.a + i * a.rs);
        let bp = b.ptr.wrapping_offset(bi * strides.b);
        // SAFETY (this block): the caller's views cover row `i` of A, all of B and row `i`
        // of C in batch `bi`.
        let arow: &[T] = if a.cs == 1 {
            unsafe { std::slice::from_raw_parts(ap, k) }
        } else {
            for (p, x) in arow.iter_mut().enumerate() {
                *x = unsafe { *ap.wrapping_offset(p as isize * a.cs) };
            }
            &arow
        };
        let cp = c.ptr.wrapping_offset(bi * strides.c + i * c.rs);
        if n == 1 {
            // B is one contiguous column: a dot product.
            let col = unsafe { std::slice::from_raw_parts(bp, k) };
            let s = dot(arow, col);
            unsafe { cp.write(s) };
            continue;
        }
        acc.fill(T::default());
        for (p, &x) in arow.iter().enumerate() {
            if x == T::default() {
                continue;
            }
            let brow =
                unsafe { std::slice::from_raw_parts(bp.wrapping_offset(p as isize * b.rs), n) };
            for (o, &y) in acc.iter_mut().zip(brow) {
                *o = o.mul_add(x, y);
            }
        }
        for (j, &v) in acc.iter().enumerate() {
            unsafe { cp.wrapping_offset(j as isize * c.cs).write(v) };
        }
    }
}

/// `sum x[p] * y[p]`, wrapping, in 8 interleaved partial sums (vectorizable).
#[inline(always)]
fn dot<T: IntScalar>(x: &[T], y: &[T]) -> T {
    let mut s = [T::default(); 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (u, v) in xc.zip(yc) {
        for l in 0..8 {
            s[l] = s[l].mul_add(u[l], v[l]);
        }
    }
    let mut t = T::default();
    for (&u, &v) in xr.iter().zip(yr) {
        t = t.mul_add(u, v);
    }
    s.iter().fold(t, |acc, &v| acc.mul_add(v, one::<T>()))
}

/// The value 1 of `T`.
#[inline(always)]
fn one<T: IntScalar>() -> T {
    T::from_f64(1.0)
}
