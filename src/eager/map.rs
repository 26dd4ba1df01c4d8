//! The elementwise loops every kernel is built from: allocate a fresh C-contiguous output,
//! then fill it once, taking a flat slice loop whenever the operands allow (the common,
//! benchmarked case) and ndarray's `Zip` over broadcast views otherwise.

use crate::element::Element;
use crate::error::{EmberError, Result};
use crate::storage::Storage;
use crate::tensor::Tensor;
use ndarray::{ArrayViewD, ArrayViewMutD, IxDyn, Zip};
use std::sync::Arc;

/// Allocates fresh, 64-byte aligned, C-contiguous storage for `shape`, lets `fill` write
/// the elements (in row-major order) and wraps it as a tensor.
pub(crate) fn build<U: Element>(
    shape: &[usize],
    fill: impl FnOnce(&mut [U]) -> Result<()>,
) -> Result<Tensor> {
    // Checked, so that an absurd shape is an error rather than an overflow or a panic in
    // the allocator's layout check.
    let too_big = || EmberError::Value(format!("array of shape {shape:?} is too big"));
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(too_big)?;
    let nbytes = n
        .checked_mul(std::mem::size_of::<U>())
        .filter(|&b| b <= isize::MAX as usize - crate::storage::ALIGN)
        .ok_or_else(too_big)?;
    let storage = Storage::zeroed(nbytes)?;
    // SAFETY: the storage is fresh and not shared yet, holds `n` elements of `U`, is aligned
    // to 64 bytes (more than any element needs), and all-zero bytes are a valid bool, int or
    // float. For n == 0 the pointer is still non-null and aligned.
    let out = unsafe { std::slice::from_raw_parts_mut(storage.as_mut_ptr() as *mut U, n) };
    fill(out)?;
    Tensor::from_storage(U::DTYPE, shape, Arc::new(storage))
}

/// [`build`] for a `fill` that writes every element: the storage comes from the buffer pool
/// ([`Storage::for_overwrite`]: recycled, or fresh huge pages) instead of zeroed pages that
/// fault one by one on the first write (a 16 MB concatenation spent a third of its time
/// there). `fill` sees the elements as uninitialized and must write each of them; an error
/// from it drops the storage unread.
pub(crate) fn build_uninit<U: Element>(
    shape: &[usize],
    fill: impl FnOnce(&mut [std::mem::MaybeUninit<U>]) -> Result<()>,
) -> Result<Tensor> {
    let too_big = || EmberError::Value(format!("array of shape {shape:?} is too big"));
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(too_big)?;
    let nbytes = n
        .checked_mul(std::mem::size_of::<U>())
        .filter(|&b| b <= isize::MAX as usize - crate::storage::ALIGN)
        .ok_or_else(too_big)?;
    let storage = Storage::for_overwrite(nbytes)?;
    // SAFETY: the storage is fresh and not shared yet, holds `n` elements of `U` and is
    // aligned for them; `MaybeUninit` makes no claim about their contents.
    let out = unsafe {
        std::slice::from_raw_parts_mut(storage.as_mut_ptr() as *mut std::mem::MaybeUninit<U>, n)
    };
    fill(out)?;
    Tensor::from_storage(U::DTYPE, shape, Arc::new(storage))
}

/// A mutable n-d view of a freshly built output slice.
pub(crate) fn out_view<'a, U>(shape: &[usize], out: &'a mut [U]) -> Result<ArrayViewMutD<'a, U>> {
    ArrayViewMutD::from_shape(IxDyn(shape), out)
        .map_err(|e| EmberError::Backend(format!("output layout for shape {shape:?}: {e}")))
}

/// `v` (a view of an operand) broadcast to `shape`, or an error naming both shapes.
fn bcast<'a, 'v, T>(v: &'v ArrayViewD<'a, T>, shape: &[usize]) -> Result<ArrayViewD<'v, T>> {
    v.broadcast(IxDyn(shape)).ok_or_else(|| {
        EmberError::Value(format!(
            "cannot broadcast an operand of shape {:?} to {shape:?}",
            v.shape()
        ))
    })
}

/// The element of a one-element tensor.
fn single<T: Element>(v: &ArrayViewD<'_, T>) -> Option<T> {
    (v.len() == 1).then(|| v.iter().next().copied()).flatten()
}

/// `f` applied to every element of `x`, as a fresh tensor of the same shape.
pub(crate) fn map<A: Element, U: Element>(x: &Tensor, f: impl Fn(A) -> U) -> Result<Tensor> {
    let v = x.view::<A>()?;
    build(x.shape(), |out| {
        if let Some(src) = v.as_slice() {
            for (o, &a) in out.iter_mut().zip(src) {
                *o = f(a);
            }
        } else {
            let mut ov = out_view(x.shape(), out)?;
            Zip::from(&mut ov).and(&v).for_each(|o, &a| *o = f(a));
        }
        Ok(())
    })
}

/// `f` applied to the broadcast pairs of `a` and `b`, as a fresh tensor of `shape` (the
/// broadcast shape).
pub(crate) fn zip_map<A: Element, B: Element, U: Element>(
    a: &Tensor,
    b: &Tensor,
    shape: &[usize],
    f: impl Fn(A, B) -> U,
) -> Result<Tensor> {
    let av = a.view::<A>()?;
    let bv = b.view::<B>()?;
    let full = |t: &Tensor| t.shape() == shape;
    build(shape, |out| {
        // Fast paths on flat slices: same-shape contiguous operands, or one side a scalar.
        match (av.as_slice(), bv.as_slice()) {
            (Some(x), Some(y)) if full(a) && full(b) => {
                for ((o, &p), &q) in out.iter_mut().zip(x).zip(y) {
                    *o = f(p, q);
                }
                return Ok(());
            }
            (Some(x), _) if full(a) => {
                if let Some(q) = single(&bv) {
                    for (o, &p) in out.iter_mut().zip(x) {
                        *o = f(p, q);
                    }
                    return Ok(());
                }
            }
            (_, Some(y)) if full(b) => {
                if let Some(p) = single(&av) {
                    for (o, &q) in out.iter_mut().zip(y) {
                        *o = f(p, q);
                    }
                    return Ok(());
                }
            }
            _ => {}
        }
        let ab = bcast(&av, shape)?;
        let bb = bcast(&bv, shape)?;
        let mut ov = out_view(shape, out)?;
        Zip::from(&mut ov)
            .and(&ab)
            .and(&bb)
            .for_each(|o, &p, &q| *o = f(p, q));
        Ok(())
    })
}

/// `f` applied to the broadcast triples of `c`, `a` and `b` (for `where`).
pub(crate) fn zip3_map<C: Element, A: Element, B: Element, U: Element>(
    c: &Tensor,
    a: &Tensor,
    b: &Tensor,
    shape: &[usize],
    f: impl Fn(C, A, B) -> U,
) -> Result<Tensor> {
    let (c0, a0, b0) = (c.view::<C>()?, a.view::<A>()?, b.view::<B>()?);
    let (cv, av, bv) = (bcast(&c0, shape)?, bcast(&a0, shape)?, bcast(&b0, shape)?);
    build(shape, |out| {
        if let (Some(x), Some(y), Some(z)) = (cv.as_slice(), av.as_slice(), bv.as_slice()) {
            // A broadcast view with a stride-0 axis is never a standard-layout slice, so all
            // three being slices means all three are full-size and contiguous.
            for (((o, &p), &q), &r) in out.iter_mut().zip(x).zip(y).zip(z) {
                *o = f(p, q, r);
            }
        } else {
            let mut ov = out_view(shape, out)?;
            Zip::from(&mut ov)
                .and(&cv)
                .and(&av)
                .and(&bv)
                .for_each(|o, &p, &q, &r| *o = f(p, q, r));
        }
        Ok(())
    })
}

/// A fresh C-contiguous copy of `x` (any dtype): nested loops and tiled transposes
/// ([`crate::strided_copy`]), not an element iterator.
pub(crate) fn copy(x: &Tensor) -> Result<Tensor> {
    x.deep_copy()
}
