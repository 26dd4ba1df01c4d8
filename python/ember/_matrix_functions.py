"""NumPy's diagonal and product functions composed of Ember's primitives: ``diagonal``,
``diag``, ``trace``, ``inner``, ``vdot`` and ``cross``.

A diagonal is a reshape and a strided slice: the two axes moved last and merged, every
``cols + 1``-th element taken from the offset's first one. ``diag`` of a vector builds the matrix the same way backwards,
from the vector beside a block of zeros. Dtypes and errors are NumPy's.
"""

from __future__ import annotations

import operator
import warnings

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from . import _api
from ._functions import Unsupported, tensor, tensordot

__all__ = ["cross", "diag", "diagonal", "inner", "trace", "vdot"]


def diagonal(a, offset=0, axis1=0, axis2=1):
    """``numpy.diagonal``: the ``offset`` diagonal of the ``axis1``/``axis2`` planes, as the
    last axis of the result (the other axes keep their order)."""
    t = tensor(a)
    offset = operator.index(offset)
    if t.ndim < 2:
        raise ValueError("diag requires an array of at least two dimensions")
    a1 = normalize_axis_index(axis1, t.ndim, "axis1")
    a2 = normalize_axis_index(axis2, t.ndim, "axis2")
    if a1 == a2:
        raise ValueError("axis1 and axis2 cannot be the same")
    rest = [i for i in range(t.ndim) if i not in (a1, a2)]
    if rest + [a1, a2] != list(range(t.ndim)):
        t = _api.transpose(t, rest + [a1, a2])
    rows, cols = t.shape[-2:]
    flat = _api.reshape(t, tuple(t.shape[:-2]) + (rows * cols,))
    # Element (i, i + offset) of a rows x cols matrix sits at start + i * (cols + 1) of its
    # flattening.
    if offset >= 0:
        n, start = max(0, min(rows, cols - offset)), offset
    else:
        n, start = max(0, min(rows + offset, cols)), -offset * cols
    if n == 0:
        return flat[..., :0]
    return flat[..., start : start + (n - 1) * (cols + 1) + 1 : cols + 1]


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """``numpy.trace``: the sum of :func:`diagonal` along its last axis, in ``np.sum``'s
    dtype (int64 for bool and int32) or ``dtype``."""
    if out is not None:
        raise Unsupported("out=")
    return _api.sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def diag(v, k=0):
    """``numpy.diag``: the ``k``-th diagonal of a 2-d array, or a square matrix with a 1-d
    array on its ``k``-th diagonal and zeros elsewhere."""
    t = tensor(v)
    k = operator.index(k)
    if t.ndim == 2:
        return diagonal(t, k)
    if t.ndim != 1:
        raise ValueError("Input must be 1- or 2-d.")
    m = t.shape[0]
    n = m + abs(k)
    if m == 0:
        return _api.zeros((n, n), t.dtype)
    # Row i of an m x (n + 1) block holds v[i] at column max(k, 0); its first m * n elements
    # read as m x n put v[i] at (i, i + max(k, 0)).
    lead = max(k, 0)
    cols = [_api.reshape(t, (m, 1)), _api.zeros((m, n - lead), t.dtype)]
    if lead:
        cols.insert(0, _api.zeros((m, lead), t.dtype))
    block = _api.reshape(_api.concatenate(cols, 1), (m * (n + 1),))
    rows = _api.reshape(block[: m * n], (m, n))
    if n == m:
        return rows
    zeros = _api.zeros((n - m, n), t.dtype)
    return _api.concatenate([rows, zeros] if k > 0 else [zeros, rows], 0)


def inner(a, b):
    """``numpy.inner``: products summed over the last axes of ``a`` and ``b`` (a product for
    a 0-d operand), in their common dtype (int32 wraps, bool is "any")."""
    ta, tb = tensor(a), tensor(b)
    if ta.ndim == 0 or tb.ndim == 0:
        return _api.multiply(ta, tb)
    if ta.shape[-1] != tb.shape[-1]:
        raise ValueError(
            f"shapes {tuple(ta.shape)} and {tuple(tb.shape)} not aligned: {ta.shape[-1]} (dim "
            f"{ta.ndim - 1}) != {tb.shape[-1]} (dim {tb.ndim - 1})"
        )
    return tensordot(ta, tb, (-1, -1))


def vdot(a, b):
    """``numpy.vdot`` of real arrays: the dot product of the flattened arrays (0-d)."""
    ta, tb = _api.ravel(tensor(a)), _api.ravel(tensor(b))
    if ta.shape[0] != tb.shape[0]:
        raise ValueError("vectors have different lengths")
    return _api.matmul(ta, tb)


def _moveaxis(t, src, dst):
    order = [i for i in range(t.ndim) if i != src]
    order.insert(dst, src)
    return _api.transpose(t, order)


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``numpy.cross`` of 3-vectors (and the deprecated 2-vectors, with NumPy's warning),
    computed term by term as NumPy does in the promoted dtype."""
    if axis is not None:
        axisa, axisb, axisc = (axis,) * 3
    a, b = tensor(a), tensor(b)
    if a.ndim < 1 or b.ndim < 1:
        raise ValueError("At least one array has zero dimension")
    axisa = normalize_axis_index(axisa, a.ndim, msg_prefix="axisa")
    axisb = normalize_axis_index(axisb, b.ndim, msg_prefix="axisb")
    a = _moveaxis(a, axisa, a.ndim - 1)
    b = _moveaxis(b, axisb, b.ndim - 1)
    na, nb = a.shape[-1], b.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n(dimension must be 2 or 3)")
    if na == 2 or nb == 2:
        warnings.warn(
            "Arrays of 2-dimensional vectors are deprecated. Use arrays of "
            "3-dimensional vectors instead. (deprecated in NumPy 2.0)",
            DeprecationWarning,
            stacklevel=2,
        )
    shape = np.broadcast_shapes(tuple(a.shape[:-1]), tuple(b.shape[:-1]))
    if na == 3 or nb == 3:
        shape += (3,)
        axisc = normalize_axis_index(axisc, len(shape), msg_prefix="axisc")
    dtype = np.promote_types(a.dtype, b.dtype)
    a = a if a.dtype == dtype else _api.astype(a, dtype)
    b = b if b.dtype == dtype else _api.astype(b, dtype)
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    mul, sub = _api.multiply, _api.subtract
    if na == 2 and nb == 2:
        return _api.broadcast_to(sub(mul(a0, b1), mul(a1, b0)), shape)
    if na == 2:
        b2 = b[..., 2]
        cp = [mul(a1, b2), _api.negative(mul(a0, b2)), sub(mul(a0, b1), mul(a1, b0))]
    elif nb == 3:
        a2, b2 = a[..., 2], b[..., 2]
        cp = [
            sub(mul(a1, b2), mul(a2, b1)),
            sub(mul(a2, b0), mul(a0, b2)),
            sub(mul(a0, b1), mul(a1, b0)),
        ]
    else:
        a2 = a[..., 2]
        cp = [_api.negative(mul(a2, b1)), mul(a2, b0), sub(mul(a0, b1), mul(a1, b0))]
    cp = _api.stack([_api.broadcast_to(c, shape[:-1]) for c in cp], -1)
    return _moveaxis(cp, cp.ndim - 1, axisc)
