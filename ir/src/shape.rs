//! Shapes, broadcasting and axis normalization, shared by the graph and the eager kernels so
//! that both follow one definition of NumPy's rules.

use crate::error::{IrError, Result};
use smallvec::SmallVec;

/// A tensor shape: the size of each dimension, outermost first.
pub type Shape = SmallVec<[usize; 4]>;

/// Builds a [`Shape`] from a slice.
pub fn shape_of(dims: &[usize]) -> Shape {
    Shape::from_slice(dims)
}

/// The number of elements of a shape (1 for a 0-d shape).
pub fn numel(shape: &[usize]) -> usize {
    // Saturating, so that an absurd shape never overflows; `Op::infer` rejects any shape whose
    // size does not fit (see `check_size`), so real values are exact.
    checked_numel(shape).unwrap_or(usize::MAX)
}

/// The number of elements, or `None` when it overflows `usize`.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// The largest buffer Ember creates, in bytes (the allocator's limit is `isize::MAX`).
pub const MAX_BYTES: usize = (isize::MAX as usize) / 2;

/// Checks that a value of `shape` with elements of `itemsize` bytes can exist, NumPy's
/// "array is too big" otherwise.
pub fn check_size(op: &str, shape: &[usize], itemsize: usize) -> Result<()> {
    match checked_numel(shape).and_then(|n| n.checked_mul(itemsize)) {
        Some(b) if b <= MAX_BYTES => Ok(()),
        _ => Err(IrError::Shape {
            op: op.to_string(),
            why: format!("array of shape {shape:?} is too big"),
        }),
    }
}

/// The shape two operands broadcast to, following NumPy: align trailing dimensions; each
/// pair must be equal or contain a 1.
pub fn broadcast_shapes(op: &str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let n = a.len().max(b.len());
    let mut out = Shape::with_capacity(n);
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out.push(match (da, db) {
            _ if da == db => da,
            (1, d) | (d, 1) => d,
            _ => {
                return Err(IrError::Broadcast {
                    op: op.to_string(),
                    lhs: shape_of(a),
                    rhs: shape_of(b),
                })
            }
        });
    }
    Ok(out)
}

/// True when `from` broadcasts to `to` (NumPy's `broadcast_to` rule).
pub fn can_broadcast_to(from: &[usize], to: &[usize]) -> bool {
    from.len() <= to.len()
        && from
            .iter()
            .rev()
            .zip(to.iter().rev())
            .all(|(&f, &t)| f == t || f == 1)
}

/// Normalizes a possibly negative axis against `ndim`.
pub fn normalize_axis(op: &str, axis: i64, ndim: usize) -> Result<usize> {
    let n = ndim as i64;
    if axis < -n || axis >= n {
        return Err(IrError::Axis {
            op: op.to_string(),
            axis,
            ndim,
        });
    }
    Ok(if axis < 0 { axis + n } else { axis } as usize)
}

/// Normalizes a list of axes (`None` means all), sorted and checked for duplicates.
pub fn normalize_axes(op: &str, axes: Option<&[i64]>, ndim: usize) -> Result<Vec<usize>> {
    let mut out: Vec<usize> = match axes {
        None => (0..ndim).collect(),
        Some(list) => list
            .iter()
            .map(|&a| normalize_axis(op, a, ndim))
            .collect::<Result<_>>()?,
    };
    out.sort_unstable();
    if out.windows(2).any(|w| w[0] == w[1]) {
        return Err(IrError::Shape {
            op: op.to_string(),
            why: "repeated axis".into(),
        });
    }
    Ok(out)
}

/// The shape after reducing `axes` (sorted, normalized) with or without kept dimensions.
pub fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Shape {
    let mut out = Shape::new();
    for (i, &d) in shape.iter().enumerate() {
        if axes.contains(&i) {
            if keepdims {
                out.push(1);
            }
        } else {
            out.push(d);
        }
    }
    out
}

/// C-order (row-major) strides in elements for a shape.
pub fn contiguous_strides(shape: &[usize]) -> SmallVec<[isize; 4]> {
    let mut strides = SmallVec::from_elem(0isize, shape.len());
    let mut acc = 1isize;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc *= shape[i].max(1) as isize;
    }
    strides
}

/// Resolves a reshape target that may contain one `-1` against `numel` elements.
pub fn resolve_reshape(op: &str, from: &[usize], target: &[i64]) -> Result<Shape> {
    let total = numel(from);
    let mut unknown = None;
    let mut known = 1usize;
    for (i, &d) in target.iter().enumerate() {
        if d == -1 {
            if unknown.replace(i).is_some() {
                return Err(IrError::Shape {
                    op: op.into(),
                    why: "can only specify one unknown dimension (-1)".into(),
                });
            }
        } else if d < 0 {
            return Err(IrError::Shape {
                op: op.into(),
                why: format!("negative dimension {d} in new shape {target:?}"),
            });
        } else {
            known = known.saturating_mul(d as usize);
        }
    }
    let mut out: Shape = target.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = unknown {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(IrError::Shape {
                op: op.into(),
                why: format!("cannot reshape array of size {total} into shape {target:?}"),
            });
        }
        out[i] = total / known;
    } else if known != total {
        return Err(IrError::Shape {
            op: op.into(),
            why: format!("cannot reshape array of size {total} into shape {target:?}"),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(
            broadcast_shapes("add", &[3, 1], &[4]).unwrap().as_slice(),
            &[3, 4]
        );
        assert_eq!(
            broadcast_shapes("add", &[], &[2, 0]).unwrap().as_slice(),
            &[2, 0]
        );
        assert!(broadcast_shapes("add", &[3], &[4]).is_err());
    }

    #[test]
    fn reshape_resolves_unknown() {
        assert_eq!(
            resolve_reshape("reshape", &[2, 6], &[-1, 4])
                .unwrap()
                .as_slice(),
            &[3, 4]
        );
        assert!(resolve_reshape("reshape", &[2, 6], &[5, -1]).is_err());
        assert!(resolve_reshape("reshape", &[0, 6], &[-1, 0]).is_err());
    }

    #[test]
    fn axes_normalize() {
        assert_eq!(
            normalize_axes("sum", Some(&[-1, 0]), 3).unwrap(),
            vec![0, 2]
        );
        assert!(normalize_axes("sum", Some(&[3]), 3).is_err());
        assert!(normalize_axes("sum", Some(&[1, -2]), 3).is_err());
    }
}
