//! Thin products: a GEMM with `m == 1` or `n == 1` (a dot product, a matrix-vector or a
//! vector-matrix product). They are memory bound, and the packed driver would pad the one row
//! or column to a whole register tile (an `NR`-wide B sliver for one column: 64x the work,
//! and a zero fill that strides through the packing buffer), so they run here as plain loops
//! over the operands as they lie:
//!
//! * `y[r] = sum_p M[r, p] v[p]` with `M`'s rows contiguous: one dot product per row;
//! * with `M`'s columns contiguous: `y += v[p] * M[:, p]` over `p` (axpy), a block of rows
//!   at a time so the partial sums stay in L1;
//! * any other layout gathers each row (and `v`) into contiguous chunks first.
//!
//! Accuracy: a dot product sums blocks of [`BLOCK`] terms in 64 interleaved partial
//! sums, and the block sums in float64; the axpy form adds [`BLOCK`]-deep partial sums into
//! float64 totals. Float32 results are therefore at least as accurate as NumPy's pairwise
//! summation (error about `BLOCK / LANES` ulps, not `k`).
//!
//! The loops are written for the compiler to vectorize: each is compiled three times, for
//! AVX-512, AVX2+FMA and baseline x86-64, and the best for this CPU runs.

use super::{Epilogue, GemmScalar, Isa, Mat, MatMut};
use crate::cpu::pool::Pool;

/// Terms summed in the element type before a block's sum joins the float64 total.
const BLOCK: usize = 1024;
/// Rows whose partial sums the axpy form keeps (in the element type and in float64).
const ROWS: usize = 1024;
/// Below this many multiply-adds a product (or a batch of them) runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 18;

/// A strided vector: element `i` at `ptr + i * s`.
#[derive(Clone, Copy)]
struct Vector<T> {
    ptr: *const T,
    s: isize,
}

/// `y[r] = epilogue(sum_p M[r, p] v[p])` for `r < rows`, `p < k`: the thin product in one
/// shape, whichever of `m` and `n` is 1.
#[derive(Clone, Copy)]
struct Thin<T> {
    rows: usize,
    k: usize,
    mat: Mat<T>,
    v: Vector<T>,
    y: *mut T,
    ys: isize,
    addend: Option<Vector<T>>,
    relu: bool,
}

// SAFETY: a `Thin` is a set of views the caller vouches for (see `gemv`); threads given
// disjoint row ranges write disjoint elements of `y` and only read the rest.
unsafe impl<T> Sync for Thin<T> {}

impl<T: Copy> Thin<T> {
    /// The product restricted to rows `lo..hi`.
    fn rows(self, lo: usize, hi: usize) -> Self {
        let lo_i = lo as isize;
        Thin {
            rows: hi - lo,
            mat: Mat {
                ptr: self.mat.ptr.wrapping_offset(lo_i * self.mat.rs),
                ..self.mat
            },
            y: self.y.wrapping_offset(lo_i * self.ys),
            addend: self.addend.map(|d| Vector {
                ptr: d.ptr.wrapping_offset(lo_i * d.s),
                s: d.s,
            }),
            ..self
        }
    }
}

/// Whether `m x k @ k x n` is thin (runs here rather than on the packed driver).
pub(super) fn applies(m: usize, n: usize) -> bool {
    m == 1 || n == 1
}

/// The thin product `C = epilogue(A B)` (`m == 1` or `n == 1`, any `k`), as [`Thin`].
fn thin<T>(
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    epi: &Epilogue<T>,
) -> Thin<T> {
    if n == 1 {
        // y[i] = sum_p A[i, p] B[p, 0].
        Thin {
            rows: m,
            k,
            mat: a,
            v: Vector {
                ptr: b.ptr,
                s: b.rs,
            },
            y: c.ptr,
            ys: c.rs,
            addend: epi.addend.as_ref().map(|d| Vector {
                ptr: d.ptr,
                s: d.rs,
            }),
            relu: epi.relu,
        }
    } else {
        // y[j] = sum_p A[0, p] B[p, j]: the rows of B's transpose against A's row.
        Thin {
            rows: n,
            k,
            mat: Mat {
                ptr: b.ptr,
                rs: b.cs,
                cs: b.rs,
            },
            v: Vector {
                ptr: a.ptr,
                s: a.cs,
            },
            y: c.ptr,
            ys: c.cs,
            addend: epi.addend.as_ref().map(|d| Vector {
                ptr: d.ptr,
                s: d.cs,
            }),
            relu: epi.relu,
        }
    }
}

/// `C = epilogue(A B)` for a thin product ([`applies`]), on the pool's threads when large.
///
/// # Safety
/// As for [`super::gemm_with`].
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemv<T: GemmScalar>(
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    epi: &Epilogue<T>,
) {
    let t = thin(m, k, n, a, b, c, epi);
    let pool = Pool::global();
    let parts = if t.rows.saturating_mul(k) < PARALLEL_MIN {
        1
    } else {
        pool.threads().min(t.rows)
    };
    if parts <= 1 {
        // SAFETY: forwarded contract.
        unsafe { run(&t) };
        return;
    }
    let per = t.rows.div_ceil(parts);
    pool.run(parts, &|p| {
        let (lo, hi) = (p * per, ((p + 1) * per).min(t.rows));
        if lo < hi {
            // SAFETY: a row range of the caller's views; parts write disjoint rows.
            unsafe { run(&t.rows(lo, hi)) };
        }
    });
}

/// `C[i] = epilogue(A[i] B[i])` for `i < batch` thin products, the batch split over the
/// pool's threads when the batch is large and each product small.
///
/// # Safety
/// As for [`super::batched_gemm_with`].
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn batched_gemv<T: GemmScalar>(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    strides: super::BatchStrides,
    epi: &Epilogue<T>,
) {
    let views = |i: usize| {
        let i = i as isize;
        (
            Mat {
                ptr: a.ptr.wrapping_offset(i * strides.a),
                ..a
            },
            Mat {
                ptr: b.ptr.wrapping_offset(i * strides.b),
                ..b
            },
            MatMut {
                ptr: c.ptr.wrapping_offset(i * strides.c),
                ..c
            },
        )
    };
    let work = m.max(n).saturating_mul(k);
    if batch < 2 || work >= PARALLEL_MIN || work.saturating_mul(batch) < PARALLEL_MIN {
        // Each product large enough to split itself, or all of them too small to split.
        for i in 0..batch {
            let (ai, bi, ci) = views(i);
            // SAFETY: forwarded contract, batch `i`.
            unsafe { gemv(m, k, n, ai, bi, ci, epi) };
        }
        return;
    }
    let pool = Pool::global();
    let parts = pool.threads().min(batch);
    let per = batch.div_ceil(parts);
    let products: Vec<Thin<T>> = (0..batch)
        .map(|i| {
            let (ai, bi, ci) = views(i);
            thin(m, k, n, ai, bi, ci, epi)
        })
        .collect();
    pool.run(parts, &|p| {
        for t in products
            .iter()
            .take(((p + 1) * per).min(batch))
            .skip(p * per)
        {
            // SAFETY: forwarded contract, one batch; parts write disjoint batches.
            unsafe { run(t) };
        }
    });
}

/// Runs one thin product on the calling thread with the loops compiled for this CPU.
///
/// # Safety
/// `t`'s views address valid memory for their extents; `y` overlaps none of the inputs.
unsafe fn run<T: GemmScalar>(t: &Thin<T>) {
    #[cfg(target_arch = "x86_64")]
    {
        match Isa::best() {
            // SAFETY: the CPU has the features (`Isa::best`); forwarded contract.
            Isa::Avx512 => return unsafe { run_avx512(t) },
            // SAFETY: as above.
            Isa::Avx2 => return unsafe { run_avx2(t) },
            Isa::Portable => {}
        }
    }
    // SAFETY: forwarded contract.
    unsafe { run_any(t) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn run_avx512<T: GemmScalar>(t: &Thin<T>) {
    // SAFETY: forwarded contract.
    unsafe { run_any(t) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<T: GemmScalar>(t: &Thin<T>) {
    // SAFETY: forwarded contract.
    unsafe { run_any(t) }
}

/// The loops, inlined into each ISA's wrapper.
#[inline(always)]
unsafe fn run_any<T: GemmScalar>(t: &Thin<T>) {
    let (rows, k) = (t.rows, t.k);
    if rows == 0 {
        return;
    }
    if t.mat.rs == 1 && rows > 1 {
        // SAFETY: forwarded contract.
        unsafe { axpy_rows(t) };
        return;
    }
    if k <= SHORT_K && rows > 1 {
        // SAFETY: forwarded contract.
        unsafe { axpy_gathered(t) };
        return;
    }
    // Dot products: v contiguous (a copy when it is strided and read more than once).
    let copy: Vec<T>;
    let v = if t.v.s == 1 || rows == 1 {
        t.v
    } else {
        // SAFETY: v addresses k elements.
        copy = (0..k)
            .map(|p| unsafe { *t.v.ptr.wrapping_offset(p as isize * t.v.s) })
            .collect();
        Vector {
            ptr: copy.as_ptr(),
            s: 1,
        }
    };
    for r in 0..rows {
        let row = Vector {
            ptr: t.mat.ptr.wrapping_offset(r as isize * t.mat.rs),
            s: t.mat.cs,
        };
        // SAFETY: row r of M and v address k elements each.
        let sum = unsafe { dot(k, row, v) };
        // SAFETY: y and the addend address `rows` elements.
        unsafe { store(t, r, T::from_f64(sum)) };
    }
}

/// `y[r] = epilogue(x)`, in the packed driver's order: the sum, plus the addend, then relu.
///
/// # Safety
/// `r < t.rows`.
#[inline(always)]
unsafe fn store<T: GemmScalar>(t: &Thin<T>, r: usize, mut x: T) {
    let r = r as isize;
    if let Some(d) = t.addend {
        // SAFETY: the addend addresses `rows` elements.
        x = x + unsafe { *d.ptr.wrapping_offset(r * d.s) };
    }
    if t.relu {
        x = x.relu();
    }
    // SAFETY: y addresses `rows` elements.
    unsafe { *t.y.wrapping_offset(r * t.ys) = x };
}

/// `sum_p x[p] y[p]` for `p < k`, in blocks of [`BLOCK`] terms whose sums add in float64.
///
/// # Safety
/// `x` and `y` address `k` elements each.
#[inline(always)]
unsafe fn dot<T: GemmScalar>(k: usize, x: Vector<T>, y: Vector<T>) -> f64 {
    let mut total = 0.0;
    if x.s == 1 && y.s == 1 {
        // SAFETY: k contiguous elements each.
        let (xs, ys) = unsafe {
            (
                std::slice::from_raw_parts(x.ptr, k),
                std::slice::from_raw_parts(y.ptr, k),
            )
        };
        for (xb, yb) in xs.chunks(BLOCK).zip(ys.chunks(BLOCK)) {
            total += block_dot(xb, yb);
        }
        return total;
    }
    // Strided: gather a block of each, then the contiguous loop.
    let mut xb = [T::default(); BLOCK];
    let mut yb = [T::default(); BLOCK];
    for p0 in (0..k).step_by(BLOCK) {
        let len = (k - p0).min(BLOCK);
        for q in 0..len {
            let p = (p0 + q) as isize;
            // SAFETY: p < k.
            unsafe {
                xb[q] = *x.ptr.wrapping_offset(p * x.s);
                yb[q] = *y.ptr.wrapping_offset(p * y.s);
            }
        }
        total += block_dot(&xb[..len], &yb[..len]);
    }
    total
}

/// The sum of `x[p] y[p]` over one block, in 64 interleaved partial sums (a
/// vectorizable loop) added pairwise at the end.
#[inline(always)]
fn block_dot<T: GemmScalar>(x: &[T], y: &[T]) -> f64 {
    const L: usize = 64;
    let mut acc = [T::default(); L];
    let (xc, yc) = (x.chunks_exact(L), y.chunks_exact(L));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (xl, yl) in xc.zip(yc) {
        for l in 0..L {
            acc[l] = acc[l] + xl[l] * yl[l];
        }
    }
    for (l, (&p, &q)) in xr.iter().zip(yr).enumerate() {
        acc[l] = acc[l] + p * q;
    }
    let mut w = L;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            acc[l] = acc[l] + acc[l + w];
        }
    }
    acc[0].to_f64()
}

/// `y = epilogue(M v)` with `M`'s columns contiguous (`rs == 1`): `acc += v[p] * M[:, p]`
/// over `p`, [`ROWS`] rows at a time; every [`BLOCK`] steps the partial sums join float64
/// totals.
///
/// # Safety
/// As for [`run`], with `t.mat.rs == 1`.
#[inline(always)]
unsafe fn axpy_rows<T: GemmScalar>(t: &Thin<T>) {
    let mut acc = [T::default(); ROWS];
    let mut total = [0.0f64; ROWS];
    // SAFETY: forwarded contract.
    unsafe { axpy_rows_in(t, &mut acc, &mut total) }
}

/// [`axpy_rows`] with its partial sums in `acc` and `total` (`acc.len()` rows at a time).
///
/// # Safety
/// As for [`axpy_rows`]; `acc` and `total` are equally long and not empty.
#[inline(always)]
unsafe fn axpy_rows_in<T: GemmScalar>(t: &Thin<T>, acc: &mut [T], total: &mut [f64]) {
    let (rows, k) = (t.rows, t.k);
    let step = acc.len();
    for r0 in (0..rows).step_by(step) {
        let rb = (rows - r0).min(step);
        let (acc, total) = (&mut acc[..rb], &mut total[..rb]);
        total.fill(0.0);
        for p0 in (0..k).step_by(BLOCK) {
            acc.fill(T::default());
            let pe = (p0 + BLOCK).min(k);
            // SAFETY: p < k; rows r0..r0 + rb of column p are contiguous (rs == 1).
            let column = |p: usize| unsafe {
                (
                    *t.v.ptr.wrapping_offset(p as isize * t.v.s),
                    std::slice::from_raw_parts(
                        t.mat
                            .ptr
                            .wrapping_offset(r0 as isize + p as isize * t.mat.cs),
                        rb,
                    ),
                )
            };
            // Four columns per pass: one load and store of the partial sums per four
            // multiply-adds.
            let mut p = p0;
            while p + 4 <= pe {
                let ((s0, c0), (s1, c1), (s2, c2), (s3, c3)) =
                    (column(p), column(p + 1), column(p + 2), column(p + 3));
                let cols = c0.iter().zip(c1).zip(c2).zip(c3);
                for (o, (((&x0, &x1), &x2), &x3)) in acc.iter_mut().zip(cols) {
                    *o = *o + s0 * x0 + s1 * x1 + s2 * x2 + s3 * x3;
                }
                p += 4;
            }
            for p in p..pe {
                let (s, col) = column(p);
                for (o, &x) in acc.iter_mut().zip(col) {
                    *o = *o + s * x;
                }
            }
            for (o, &x) in total.iter_mut().zip(acc.iter()) {
                *o += x.to_f64();
            }
        }
        for (i, &x) in total.iter().enumerate() {
            // SAFETY: r0 + i < rows.
            unsafe { store(t, r0 + i, T::from_f64(x)) };
        }
    }
}

/// Longest rows [`axpy_gathered`] takes (a longer row amortizes its dot product's final
/// reduction of 64 partial sums).
const SHORT_K: usize = 48;
/// Rows [`axpy_gathered`] transposes at a time (`SHORT_K` columns of them stay in L1).
const GATHER_ROWS: usize = 128;

/// `y = epilogue(M v)` for many short rows that are not contiguous down a column (a
/// vector times a Fortran-ordered matrix, `v @ a` with `a` of shape `(31, 25000)`): one dot
/// product per row would spend more on reducing its partial sums than on the `k` products,
/// so blocks of [`GATHER_ROWS`] rows are transposed into column-contiguous scratch and run as
/// [`axpy_rows`].
///
/// # Safety
/// As for [`run`], with `t.k <= SHORT_K`.
#[inline(always)]
unsafe fn axpy_gathered<T: GemmScalar>(t: &Thin<T>) {
    let (rows, k) = (t.rows, t.k);
    let mut scratch = [T::default(); SHORT_K * GATHER_ROWS];
    let mut acc = [T::default(); GATHER_ROWS];
    let mut total = [0.0f64; GATHER_ROWS];
    for r0 in (0..rows).step_by(GATHER_ROWS) {
        let rb = (rows - r0).min(GATHER_ROWS);
        for r in 0..rb {
            let row = t.mat.ptr.wrapping_offset((r0 + r) as isize * t.mat.rs);
            for p in 0..k {
                // SAFETY: (r0 + r, p) lies in M; p * rb + r < k * GATHER_ROWS.
                scratch[p * rb + r] = unsafe { *row.wrapping_offset(p as isize * t.mat.cs) };
            }
        }
        let part = Thin {
            mat: Mat {
                ptr: scratch.as_ptr(),
                rs: 1,
                cs: rb as isize,
            },
            ..t.rows(r0, r0 + rb)
        };
        // SAFETY: the scratch holds the block's rows column by column; y and the addend are
        // the caller's, restricted to the block.
        unsafe { axpy_rows_in(&part, &mut acc, &mut total) };
    }
}

/// Largest `m * n` of a small-output product ([`small_applies`]).
const SMALL_MN: usize = 64;

/// Whether `m x k @ k x n` has a small output and a long `k` (`a @ a.T` of a few long rows):
/// the packed driver pads C to one whole register tile (7 x 7 of a 16 x 32 tile: 10% of the
/// work it does is useful), zero-fills the padding of every packed row of B, and cannot split
/// a C that small over threads. Such a product runs as `m * n` dot products instead, `k`
/// split over the threads, each block of A's rows and B's columns gathered once.
pub(super) fn small_applies(m: usize, k: usize, n: usize) -> bool {
    m > 1 && n > 1 && m * n <= SMALL_MN && k >= 8 * BLOCK
}

/// `C = epilogue(A B)` for a small-output product ([`small_applies`]).
///
/// # Safety
/// As for [`super::gemm_with`].
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn small<T: GemmScalar>(
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    epi: &Epilogue<T>,
) {
    struct Job<T> {
        a: Mat<T>,
        b: Mat<T>,
    }
    // SAFETY: read-only views the caller vouches for.
    unsafe impl<T> Sync for Job<T> {}
    let job = Job { a, b };
    let pool = Pool::global();
    let blocks = k.div_ceil(BLOCK);
    let parts = if m.max(n).saturating_mul(k) < PARALLEL_MIN {
        1
    } else {
        pool.threads().min(blocks)
    };
    let per = blocks.div_ceil(parts) * BLOCK;
    let partial: Vec<std::sync::Mutex<Vec<f64>>> = (0..parts)
        .map(|_| std::sync::Mutex::new(Vec::new()))
        .collect();
    pool.run(parts, &|p| {
        let job = &job;
        let (lo, hi) = (p * per, ((p + 1) * per).min(k));
        let mut sums = vec![0.0; m * n];
        if lo < hi {
            // SAFETY: columns lo..hi of A and rows lo..hi of B lie in the caller's views.
            unsafe { small_range(m, n, lo, hi, job.a, job.b, &mut sums) };
        }
        if let Ok(mut slot) = partial[p].lock() {
            *slot = sums;
        }
    });
    let mut total = vec![0.0f64; m * n];
    for slot in &partial {
        if let Ok(s) = slot.lock() {
            for (t, &x) in total.iter_mut().zip(s.iter()) {
                *t += x;
            }
        }
    }
    for i in 0..m {
        for j in 0..n {
            let mut x = T::from_f64(total[i * n + j]);
            let (ii, jj) = (i as isize, j as isize);
            if let Some(d) = epi.addend {
                // SAFETY: the addend addresses m x n elements.
                x = x + unsafe { *d.ptr.wrapping_offset(ii * d.rs + jj * d.cs) };
            }
            if epi.relu {
                x = x.relu();
            }
            // SAFETY: C addresses m x n elements.
            unsafe { *c.ptr.wrapping_offset(ii * c.rs + jj * c.cs) = x };
        }
    }
}

/// `sums[i * n + j] += sum_{lo <= p < hi} A[i, p] B[p, j]`, with the loops compiled for this
/// CPU.
///
/// # Safety
/// The views address `m x hi` and `hi x n` elements.
#[allow(clippy::too_many_arguments)]
unsafe fn small_range<T: GemmScalar>(
    m: usize,
    n: usize,
    lo: usize,
    hi: usize,
    a: Mat<T>,
    b: Mat<T>,
    sums: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    {
        match Isa::best() {
            // SAFETY: the CPU has the features; forwarded contract.
            Isa::Avx512 => return unsafe { small_avx512(m, n, lo, hi, a, b, sums) },
            // SAFETY: as above.
            Isa::Avx2 => return unsafe { small_avx2(m, n, lo, hi, a, b, sums) },
            Isa::Portable => {}
        }
    }
    // SAFETY: forwarded contract.
    unsafe { small_any(m, n, lo, hi, a, b, sums) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn small_avx512<T: GemmScalar>(
    m: usize,
    n: usize,
    lo: usize,
    hi: usize,
    a: Mat<T>,
    b: Mat<T>,
    sums: &mut [f64],
) {
    // SAFETY: forwarded contract.
    unsafe { small_any(m, n, lo, hi, a, b, sums) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn small_avx2<T: GemmScalar>(
    m: usize,
    n: usize,
    lo: usize,
    hi: usize,
    a: Mat<T>,
    b: Mat<T>,
    sums: &mut [f64],
) {
    // SAFETY: forwarded contract.
    unsafe { small_any(m, n, lo, hi, a, b, sums) }
}

/// The loops: per block of [`BLOCK`] steps of `p`, A's rows and B's columns gathered into
/// contiguous scratch (read in place when already contiguous), then one [`block_dot`] per
/// element of C.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn small_any<T: GemmScalar>(
    m: usize,
    n: usize,
    lo: usize,
    hi: usize,
    a: Mat<T>,
    b: Mat<T>,
    sums: &mut [f64],
) {
    let mut ab = vec![T::default(); if a.cs == 1 { 0 } else { m * BLOCK }];
    let mut bb = vec![T::default(); if b.rs == 1 { 0 } else { n * BLOCK }];
    for p0 in (lo..hi).step_by(BLOCK) {
        let len = (hi - p0).min(BLOCK);
        let p0i = p0 as isize;
        if a.cs != 1 {
            for i in 0..m {
                let row = a.ptr.wrapping_offset(i as isize * a.rs + p0i * a.cs);
                for (q, o) in ab[i * BLOCK..i * BLOCK + len].iter_mut().enumerate() {
                    // SAFETY: p0 + q < hi.
                    *o = unsafe { *row.wrapping_offset(q as isize * a.cs) };
                }
            }
        }
        if b.rs != 1 {
            for q in 0..len {
                let src = b.ptr.wrapping_offset((p0i + q as isize) * b.rs);
                for j in 0..n {
                    // SAFETY: p0 + q < hi, j < n.
                    bb[j * BLOCK + q] = unsafe { *src.wrapping_offset(j as isize * b.cs) };
                }
            }
        }
        for i in 0..m {
            let x: &[T] = if a.cs == 1 {
                // SAFETY: row i, columns p0..p0 + len, contiguous.
                unsafe {
                    std::slice::from_raw_parts(a.ptr.wrapping_offset(i as isize * a.rs + p0i), len)
                }
            } else {
                &ab[i * BLOCK..i * BLOCK + len]
            };
            for j in 0..n {
                let y: &[T] = if b.rs == 1 {
                    // SAFETY: column j, rows p0..p0 + len, contiguous.
                    unsafe {
                        std::slice::from_raw_parts(
                            b.ptr.wrapping_offset(j as isize * b.cs + p0i),
                            len,
                        )
                    }
                } else {
                    &bb[j * BLOCK..j * BLOCK + len]
                };
                sums[i * n + j] += block_dot(x, y);
            }
        }
    }
}
