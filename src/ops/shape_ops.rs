//! Movement ops: reshape, transpose, expand_dims, squeeze, broadcast_to, basic indexing,
//! concatenate and stack. Eagerly they are zero-copy views where the layout allows.

use super::apply;
use crate::error::{EmberError, Result};
use crate::tensor::Tensor;
use ember_ir::shape::{normalize_axes, normalize_axis, resolve_reshape};
use ember_ir::{IrError, Op, Shape, SliceDim};
use smallvec::SmallVec;

/// `x.reshape(shape)`; one entry may be -1.
#[track_caller]
pub fn reshape(x: &Tensor, shape: &[i64]) -> Result<Tensor> {
    let shape = resolve_reshape("reshape", x.shape(), shape)?;
    if shape.as_slice() == x.shape() {
        return Ok(x.clone());
    }
    apply(Op::Reshape(shape), &[x])
}

/// `x.ravel()`: the elements as one dimension.
#[track_caller]
pub fn ravel(x: &Tensor) -> Result<Tensor> {
    reshape(x, &[-1])
}

/// `np.transpose(x, axes)`; `None` reverses the axes.
#[track_caller]
pub fn transpose(x: &Tensor, axes: Option<&[i64]>) -> Result<Tensor> {
    let n = x.ndim();
    let perm: SmallVec<[usize; 4]> = match axes {
        None => (0..n).rev().collect(),
        Some(a) => {
            if a.len() != n {
                return Err(EmberError::Value(format!(
                    "transpose: axes {a:?} don't match array of dimension {n}"
                )));
            }
            a.iter()
                .map(|&ax| normalize_axis("transpose", ax, n))
                .collect::<ember_ir::Result<_>>()?
        }
    };
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(x.clone());
    }
    apply(Op::Permute(perm), &[x])
}

/// `np.swapaxes(x, a, b)`.
#[track_caller]
pub fn swapaxes(x: &Tensor, a: i64, b: i64) -> Result<Tensor> {
    let n = x.ndim();
    let (a, b) = (
        normalize_axis("swapaxes", a, n)?,
        normalize_axis("swapaxes", b, n)?,
    );
    let mut perm: Vec<i64> = (0..n as i64).collect();
    perm.swap(a, b);
    transpose(x, Some(&perm))
}

/// `np.expand_dims(x, axes)`: inserts size-1 dimensions at `axes` of the result.
#[track_caller]
pub fn expand_dims(x: &Tensor, axes: &[i64]) -> Result<Tensor> {
    let out_ndim = x.ndim() + axes.len();
    let axes = normalize_axes("expand_dims", Some(axes), out_ndim)?;
    let mut src = x.shape().iter();
    let shape: Vec<i64> = (0..out_ndim)
        .map(|i| {
            if axes.contains(&i) {
                1
            } else {
                src.next().map_or(1, |&d| d as i64)
            }
        })
        .collect();
    reshape(x, &shape)
}

/// `np.squeeze(x, axes)`: removes size-1 dimensions (all of them when `None`).
#[track_caller]
pub fn squeeze(x: &Tensor, axes: Option<&[i64]>) -> Result<Tensor> {
    let axes: Vec<usize> = match axes {
        None => (0..x.ndim()).filter(|&i| x.shape()[i] == 1).collect(),
        Some(a) => {
            let a = normalize_axes("squeeze", Some(a), x.ndim())?;
            if let Some(&bad) = a.iter().find(|&&i| x.shape()[i] != 1) {
                return Err(EmberError::Value(format!(
                    "squeeze: cannot select an axis to squeeze out which has size not equal to one (axis {bad} has size {})",
                    x.shape()[bad]
                )));
            }
            a
        }
    };
    let shape: Vec<i64> = (0..x.ndim())
        .filter(|i| !axes.contains(i))
        .map(|i| x.shape()[i] as i64)
        .collect();
    reshape(x, &shape)
}

/// `np.broadcast_to(x, shape)`.
#[track_caller]
pub fn broadcast_to(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if shape == x.shape() {
        return Ok(x.clone());
    }
    apply(Op::Broadcast(Shape::from_slice(shape)), &[x])
}

/// One entry of a basic NumPy index expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexItem {
    /// An integer index (removes the dimension); negative counts from the end.
    Int(i64),
    /// `start:stop:step`, each optional.
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `None` / `np.newaxis`: inserts a size-1 dimension.
    NewAxis,
    /// `...`: as many full slices as needed.
    Ellipsis,
}

/// `x[items]` for basic indexing (integers, slices, `None`, `...`): a slice view plus a
/// reshape that drops integer-indexed dimensions and inserts new axes.
#[track_caller]
pub fn index(x: &Tensor, items: &[IndexItem]) -> Result<Tensor> {
    let consumed = items
        .iter()
        .filter(|i| matches!(i, IndexItem::Int(_) | IndexItem::Slice(..)))
        .count();
    let ellipses = items.iter().filter(|i| **i == IndexItem::Ellipsis).count();
    if ellipses > 1 {
        return Err(EmberError::Index(
            "an index can only have a single ellipsis ('...')".into(),
        ));
    }
    if consumed > x.ndim() {
        return Err(EmberError::Index(format!(
            "too many indices for array: array is {}-dimensional, but {consumed} were indexed",
            x.ndim()
        )));
    }
    let mut dims: SmallVec<[SliceDim; 4]> = SmallVec::new();
    // The result shape as (size, keep) entries: int-indexed dims vanish, new axes appear.
    let mut out_shape: Vec<i64> = Vec::new();
    let mut axis = 0usize;
    let take_full = |axis: usize, dims: &mut SmallVec<[SliceDim; 4]>, out: &mut Vec<i64>| {
        let size = x.shape()[axis];
        dims.push(SliceDim::full(size));
        out.push(size as i64);
    };
    for item in items {
        match *item {
            IndexItem::Int(i) => {
                let size = x.shape()[axis];
                let idx = if i < 0 { i + size as i64 } else { i };
                if idx < 0 || idx >= size as i64 {
                    return Err(IrError::Index {
                        index: i,
                        axis,
                        size,
                    }
                    .into());
                }
                dims.push(SliceDim {
                    start: idx as usize,
                    len: 1,
                    step: 1,
                });
                axis += 1;
            }
            IndexItem::Slice(start, stop, step) => {
                let d = SliceDim::from_python(start, stop, step, x.shape()[axis])?;
                out_shape.push(d.len as i64);
                dims.push(d);
                axis += 1;
            }
            IndexItem::NewAxis => out_shape.push(1),
            IndexItem::Ellipsis => {
                for _ in 0..x.ndim() - consumed {
                    take_full(axis, &mut dims, &mut out_shape);
                    axis += 1;
                }
            }
        }
    }
    while axis < x.ndim() {
        take_full(axis, &mut dims, &mut out_shape);
        axis += 1;
    }
    let whole = dims
        .iter()
        .zip(x.shape())
        .all(|(d, &s)| d.start == 0 && d.len == s && d.step == 1);
    let sliced = if whole {
        x.clone()
    } else {
        apply(Op::Slice(dims), &[x])?
    };
    reshape(&sliced, &out_shape)
}

/// `np.concatenate(xs, axis)`; operands promote to a common dtype.
#[track_caller]
pub fn concatenate(xs: &[Tensor], axis: i64) -> Result<Tensor> {
    let first = xs.first().ok_or_else(|| {
        EmberError::Value("concatenate: need at least one array to concatenate".into())
    })?;
    if first.ndim() == 0 {
        return Err(EmberError::Value(
            "concatenate: zero-dimensional arrays cannot be concatenated".into(),
        ));
    }
    let axis = normalize_axis("concatenate", axis, first.ndim())?;
    let refs: Vec<&Tensor> = xs.iter().collect();
    apply(Op::Concat { axis }, &refs)
}

/// `np.stack(xs, axis)`: joins equal-shaped arrays along a new axis.
#[track_caller]
pub fn stack(xs: &[Tensor], axis: i64) -> Result<Tensor> {
    let first = xs
        .first()
        .ok_or_else(|| EmberError::Value("stack: need at least one array to stack".into()))?;
    if let Some(bad) = xs.iter().find(|t| t.shape() != first.shape()) {
        return Err(EmberError::Value(format!(
            "stack: all input arrays must have the same shape, got {:?} and {:?}",
            first.shape(),
            bad.shape()
        )));
    }
    let axis_n = normalize_axis("stack", axis, first.ndim() + 1)? as i64;
    let expanded = xs
        .iter()
        .map(|t| expand_dims(t, &[axis_n]))
        .collect::<Result<Vec<_>>>()?;
    concatenate(&expanded, axis_n)
}
