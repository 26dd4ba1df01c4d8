//! Movement ops. Permute, broadcast, slice and (most) reshapes are zero-copy views: a new
//! [`Buffer`] over the same `Arc<Storage>` with new strides and offset. Concat copies.

use super::cast::astype;
use super::map::{build_uninit, copy};
use crate::error::{EmberError, Result};
use crate::tensor::{Buffer, Strides, Tensor};
use ember_ir::shape::{contiguous_strides, numel};
use ember_ir::{SliceDim, ValueType};
use std::mem::MaybeUninit;

/// A view of `x`'s storage with a new layout. Empty results get offset 0 so that the data
/// pointer never points past the storage.
fn view_of(x: &Tensor, shape: &[usize], strides: Strides, offset: isize) -> Result<Tensor> {
    let b = x.buffer()?;
    let offset = if numel(shape) == 0 { 0 } else { offset };
    let offset = usize::try_from(offset)
        .map_err(|_| EmberError::Value(format!("view offset {offset} is negative")))?;
    Tensor::from_buffer(
        x.dtype(),
        shape,
        Buffer {
            storage: b.storage.clone(),
            strides,
            offset,
        },
    )
}

/// `x.transpose(perm)` as a view.
pub(crate) fn permute(x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    let b = x.buffer()?;
    let n = x.ndim();
    let mut seen = vec![false; n];
    if perm.len() != n
        || perm
            .iter()
            .any(|&p| p >= n || std::mem::replace(&mut seen[p], true))
    {
        return Err(EmberError::Value(format!(
            "permute: axes {perm:?} don't match array of dimension {n}"
        )));
    }
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
    let strides: Strides = perm.iter().map(|&p| b.strides[p]).collect();
    view_of(x, &shape, strides, b.offset as isize)
}

/// `np.broadcast_to(x, shape)` as a view: new leading axes and stretched size-1 axes get
/// stride 0.
pub(crate) fn broadcast(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let b = x.buffer()?;
    let (src, n) = (x.shape(), shape.len());
    if src.len() > n {
        return Err(EmberError::Value(format!(
            "cannot broadcast shape {src:?} to {shape:?}"
        )));
    }
    let pad = n - src.len();
    let mut strides = Strides::from_elem(0, n);
    for (i, (&d, &s)) in src.iter().zip(&b.strides).enumerate() {
        let t = shape[pad + i];
        if d == t {
            strides[pad + i] = s;
        } else if d != 1 {
            return Err(EmberError::Value(format!(
                "cannot broadcast shape {src:?} to {shape:?}"
            )));
        }
    }
    view_of(x, shape, strides, b.offset as isize)
}

/// A basic slice as a view: the offset moves to the first taken element and each stride is
/// multiplied by its step (negative steps walk backwards).
pub(crate) fn slice(x: &Tensor, dims: &[SliceDim]) -> Result<Tensor> {
    let b = x.buffer()?;
    if dims.len() != x.ndim() {
        return Err(EmberError::Index(format!(
            "slice has {} dimensions, input has {}",
            dims.len(),
            x.ndim()
        )));
    }
    let mut offset = b.offset as isize;
    let mut strides = Strides::with_capacity(dims.len());
    for ((d, &size), &s) in dims.iter().zip(x.shape()).zip(&b.strides) {
        let last = d.start as i64 + (d.len as i64 - 1) * d.step;
        if d.step == 0 || (d.len > 0 && (d.start >= size || last < 0 || last >= size as i64)) {
            return Err(EmberError::Index(format!(
                "slice {d:?} out of range for a dimension of size {size}"
            )));
        }
        if d.len > 0 {
            offset += d.start as isize * s;
        }
        strides.push(s * d.step as isize);
    }
    let shape: Vec<usize> = dims.iter().map(|d| d.len).collect();
    view_of(x, &shape, strides, offset)
}

/// Strides that let the (non-empty) layout `shape`/`strides` be read as `new` in C order
/// without copying, or `None` when a copy is needed. This is NumPy's
/// `_attempt_nocopy_reshape`: size-1 axes are dropped, then each group of old axes that
/// multiplies to a group of new axes must be contiguous within itself.
fn nocopy_strides(shape: &[usize], strides: &[isize], new: &[usize]) -> Option<Strides> {
    let (od, os): (Vec<usize>, Vec<isize>) = shape
        .iter()
        .zip(strides)
        .filter(|(&d, _)| d != 1)
        .map(|(&d, &s)| (d, s))
        .unzip();
    let mut ns = Strides::from_elem(0, new.len());
    let (mut oi, mut oj, mut ni, mut nj) = (0, 1, 0, 1);
    while ni < new.len() && oi < od.len() {
        let mut np = new[ni];
        let mut op = od[oi];
        while np != op {
            if np < op {
                np *= *new.get(nj)?;
                nj += 1;
            } else {
                op *= *od.get(oj)?;
                oj += 1;
            }
        }
        // The old axes oi..oj must be contiguous relative to each other.
        for k in oi..oj - 1 {
            if os[k] != od[k + 1] as isize * os[k + 1] {
                return None;
            }
        }
        ns[nj - 1] = os[oj - 1];
        for k in (ni + 1..nj).rev() {
            ns[k - 1] = ns[k] * new[k] as isize;
        }
        ni = nj;
        nj += 1;
        oi = oj;
        oj += 1;
    }
    // Trailing size-1 axes of the new shape: any stride works; use the last one's.
    let last = if ni >= 1 { ns[ni - 1] } else { 1 };
    for s in ns.iter_mut().skip(ni) {
        *s = last;
    }
    Some(ns)
}

/// `x.reshape(shape)`: a view when the strides allow (always for contiguous inputs),
/// otherwise a C-order copy.
pub(crate) fn reshape(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if numel(shape) != x.numel() {
        return Err(EmberError::Value(format!(
            "cannot reshape array of size {} into shape {shape:?}",
            x.numel()
        )));
    }
    let b = x.buffer()?;
    if x.numel() == 0 {
        return view_of(x, shape, contiguous_strides(shape), 0);
    }
    if let Some(strides) = nocopy_strides(x.shape(), &b.strides, shape) {
        return view_of(x, shape, strides, b.offset as isize);
    }
    let c = copy(x)?;
    let storage = c.buffer()?.storage.clone();
    Tensor::from_storage(x.dtype(), shape, storage)
}

/// `np.concatenate(xs, axis)`: each operand made C-contiguous, cast to the result dtype and
/// copied into its block of a fresh output. The output is `outer` runs (the dimensions before
/// `axis`) of one contiguous chunk per operand, so the copy is one chunk copy per run and
/// operand: ndarray's `assign` into a block whose inner dimensions are short (a stack along
/// the last axis: chunks of one element) walks its index per element (12 ns each, 0.17 GB/s).
pub(crate) fn concat(xs: &[&Tensor], axis: usize, out: &ValueType) -> Result<Tensor> {
    if axis >= out.shape.len() {
        return Err(EmberError::Index(format!(
            "concatenate: axis {axis} is out of bounds for array of dimension {}",
            out.shape.len()
        )));
    }
    let outer: usize = out.shape[..axis].iter().product();
    let inner: usize = out.shape[axis + 1..].iter().product();
    let total = out.shape[axis];
    let cast: Vec<Tensor> = xs
        .iter()
        .map(|x| {
            let fits = x.ndim() == out.shape.len()
                && x.shape()
                    .iter()
                    .zip(&out.shape)
                    .enumerate()
                    .all(|(d, (a, b))| d == axis || a == b);
            if !fits {
                return Err(EmberError::Value(format!(
                    "concatenate: operand of shape {:?} does not fit output {:?} along axis {axis}",
                    x.shape(),
                    out.shape
                )));
            }
            // Contiguous before the cast: the cast's flat loop then runs on a slice.
            astype(&x.contiguous()?, out.dtype)?.contiguous()
        })
        .collect::<Result<_>>()?;
    let lens: usize = cast.iter().map(|x| x.shape()[axis]).sum();
    if lens != total {
        return Err(EmberError::Value(format!(
            "concatenate: operands add up to {lens} along axis {axis}, output has {total}"
        )));
    }
    // Every element is written: the runs tile the output (checked above: the chunks add up
    // to each run's length).
    crate::with_dtype!(out.dtype, T => build_uninit::<T>(&out.shape, |o| {
        let mut parts: Vec<(&[T], usize)> = Vec::with_capacity(cast.len());
        let views: Vec<_> = cast.iter().map(|x| x.view::<T>()).collect::<Result<_>>()?;
        for (x, v) in cast.iter().zip(&views) {
            let src = v.as_slice().ok_or_else(|| {
                EmberError::Backend("concatenate: operand not contiguous after a copy".into())
            })?;
            parts.push((src, x.shape()[axis] * inner));
        }
        // Nothing to copy when a run is empty (chunks_exact_mut needs a non-zero length).
        if outer > 0 && total * inner > 0 {
            interleave(&parts, o, total * inner, outer);
        }
        Ok(())
    }))
}

/// Fills `runs` output runs of `row` elements, each the concatenation of one chunk of every
/// part in turn (`parts` are C-ordered operands with their chunk lengths, which add up to
/// `row`). Writing run after run streams through the output once, as NumPy does; copying
/// operand after operand instead wrote every run's cache lines once per operand (a stack of
/// two (1000, 1000) float64 arrays along the last axis 3.0 -> 2.3 ms, and 1.1 ms with pooled
/// storage, [`build_uninit`]; NumPy 1.7 ms).
fn interleave<T: Copy>(
    parts: &[(&[T], usize)],
    out: &mut [MaybeUninit<T>],
    row: usize,
    runs: usize,
) {
    if parts.iter().all(|&(_, chunk)| chunk == 1) {
        // A stack along the last axis: one element of each part per run.
        for (r, o) in out.chunks_exact_mut(row).take(runs).enumerate() {
            for (o, &(src, _)) in o.iter_mut().zip(parts) {
                o.write(src[r]);
            }
        }
        return;
    }
    for (r, o) in out.chunks_exact_mut(row).take(runs).enumerate() {
        let mut at = 0;
        for &(src, chunk) in parts {
            copy_chunk(&src[r * chunk..(r + 1) * chunk], &mut o[at..at + chunk]);
            at += chunk;
        }
    }
}

/// `dst.write_copy_of_slice(src)`, element by element for short chunks (a `memcpy` call
/// per chunk would dominate).
fn copy_chunk<T: Copy>(src: &[T], dst: &mut [MaybeUninit<T>]) {
    if src.len() < 16 {
        for (d, &s) in dst.iter_mut().zip(src) {
            d.write(s);
        }
    } else {
        dst.write_copy_of_slice(src);
    }
}
