//! Tiny products (`m * k * n <= TINY`, e.g. batches of 3 x 3 matrices): plain loops over the
//! operands as they lie, one product after another, the batch split over the pool's threads.
//! The packed driver would pad each product to a whole register tile (a 3 x 3 product to
//! 6 x 64), pack both operands and set up its blocking per product (about 150 ns for a
//! 3 x 3 x 3 product, most of it overhead); the integer path would first convert every
//! operand to float64. Here a product costs its `m * n * k` multiply-adds and the index
//! arithmetic (inner dimensions up to 4 are unrolled).
//!
//! Sums run in the order `p = 0, 1, ...` in the element type (integers wrap, as NumPy's
//! integer matmul; bool is `OR_p (A AND B)`), then the epilogue.

use super::{BatchStrides, Epilogue, GemmScalar, Job, Mat, MatMut};
use crate::cpu::pool::Pool;

/// Largest `m * k * n` of a tiny product.
pub(super) const TINY: usize = 512;
/// Below this many multiply-adds over the whole batch, it runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 16;

/// Whether `m x k @ k x n` (`k > 0`) runs here.
pub(super) fn applies(m: usize, k: usize, n: usize) -> bool {
    k > 0 && m.saturating_mul(k).saturating_mul(n) <= TINY
}

/// The element operations of a tiny product.
pub trait TinyScalar: Copy + Send + Sync + 'static {
    /// The empty sum.
    const ZERO: Self;
    /// `acc + x * y` (wrapping for integers; `acc | (x & y)` for bool bytes).
    fn madd(acc: Self, x: Self, y: Self) -> Self;
}

macro_rules! float_tiny {
    ($($t:ty),*) => {$(
        impl TinyScalar for $t {
            const ZERO: Self = 0.0;
            #[inline(always)]
            fn madd(acc: Self, x: Self, y: Self) -> Self {
                acc + x * y
            }
        }
    )*};
}
float_tiny!(f32, f64);

macro_rules! int_tiny {
    ($($t:ty),*) => {$(
        impl TinyScalar for $t {
            const ZERO: Self = 0;
            #[inline(always)]
            fn madd(acc: Self, x: Self, y: Self) -> Self {
                acc.wrapping_add(x.wrapping_mul(y))
            }
        }
    )*};
}
int_tiny!(i32, i64);

/// Bool bytes (0 / 1).
impl TinyScalar for u8 {
    const ZERO: Self = 0;
    #[inline(always)]
    fn madd(acc: Self, x: Self, y: Self) -> Self {
        acc | (x & y)
    }
}

/// `C[q][i, j] = store(i, j, sum_p A[q][i, p] B[q][p, j])` for `q < batch`.
///
/// # Safety
/// As for [`super::batched_gemm`]; `store` must be safe to call for every `i < m, j < n`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn tiny<T: TinyScalar, S: Fn(usize, usize, T) -> T + Sync>(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    strides: BatchStrides,
    store: S,
) {
    if batch == 0 || m == 0 || n == 0 {
        return;
    }
    let job = Job {
        m,
        k,
        n,
        a,
        b,
        c,
        strides,
    };
    let work = batch.saturating_mul(m * k * n);
    let pool = Pool::global();
    let parts = if work < PARALLEL_MIN || batch < 2 {
        1
    } else {
        (pool.threads() * 4).min(batch)
    };
    let per = batch.div_ceil(parts);
    let run = |p: usize| {
        let (lo, hi) = (p * per, ((p + 1) * per).min(batch));
        // SAFETY: forwarded contract; parts write disjoint batches.
        unsafe {
            match k {
                1 => range::<T, S, 1>(&job, lo, hi, &store),
                2 => range::<T, S, 2>(&job, lo, hi, &store),
                3 => range::<T, S, 3>(&job, lo, hi, &store),
                4 => range::<T, S, 4>(&job, lo, hi, &store),
                _ => range::<T, S, 0>(&job, lo, hi, &store),
            }
        }
    };
    if parts <= 1 {
        run(0);
    } else {
        pool.run(parts, &run);
    }
}

/// Batches `lo..hi`; `K` is `k` when nonzero (the inner loop unrolls), else `job.k` is read.
///
/// # Safety
/// As for [`tiny`].
#[inline(always)]
unsafe fn range<T: TinyScalar, S: Fn(usize, usize, T) -> T, const K: usize>(
    job: &Job<T>,
    lo: usize,
    hi: usize,
    store: &S,
) {
    let Job {
        m,
        k,
        n,
        a,
        b,
        c,
        strides,
    } = *job;
    let k = if K > 0 { K } else { k };
    for q in lo as isize..hi as isize {
        let (ap, bp, cp) = (
            a.ptr.wrapping_offset(q * strides.a),
            b.ptr.wrapping_offset(q * strides.b),
            c.ptr.wrapping_offset(q * strides.c),
        );
        for i in 0..m {
            let ai = ap.wrapping_offset(i as isize * a.rs);
            for j in 0..n {
                let bj = bp.wrapping_offset(j as isize * b.cs);
                let mut s = T::ZERO;
                for p in 0..k as isize {
                    // SAFETY: (i, p) of A and (p, j) of B in batch q lie in the views.
                    s = T::madd(s, unsafe { *ai.wrapping_offset(p * a.cs) }, unsafe {
                        *bj.wrapping_offset(p * b.rs)
                    });
                }
                // SAFETY: (i, j) of C in batch q lies in the view.
                unsafe {
                    *cp.wrapping_offset(i as isize * c.rs + j as isize * c.cs) = store(i, j, s)
                };
            }
        }
    }
}

/// [`tiny`] for float products, with the epilogue: the sum, plus the addend, then relu (the
/// packed driver's order).
///
/// # Safety
/// As for [`super::batched_gemm_with`].
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn tiny_float<T: GemmScalar>(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    strides: BatchStrides,
    epi: &Epilogue<T>,
) {
    /// The addend view, shared read-only by the threads.
    #[derive(Clone, Copy)]
    struct Addend<T>(Option<Mat<T>>);
    // SAFETY: read-only; the caller vouches for the view.
    unsafe impl<T> Sync for Addend<T> {}
    let (addend, relu) = (Addend(epi.addend), epi.relu);
    let store = move |i: usize, j: usize, mut x: T| {
        let addend = addend;
        if let Some(d) = addend.0 {
            // SAFETY: the addend addresses m x n elements (i < m, j < n).
            x = x + unsafe { *d.ptr.wrapping_offset(i as isize * d.rs + j as isize * d.cs) };
        }
        if relu {
            x = x.relu();
        }
        x
    };
    // SAFETY: forwarded contract.
    unsafe { tiny(batch, m, k, n, a, b, c, strides, store) }
}
