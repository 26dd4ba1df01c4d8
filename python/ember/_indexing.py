"""Advanced indexing of traced tensors with constant indices.

The extension's ``Tensor.__getitem__`` handles basic indexes (integers, slices, ``None``,
``...``) everywhere and advanced ones (integer arrays, boolean masks) on concrete tensors; on a
traced tensor it raises ``TraceError``. :func:`install` wraps it so that, while tracing:

* one constant 1-d integer index (a list, a NumPy array, a concrete tensor) or constant 1-d
  boolean mask, alongside basic items and integers, is recorded without a gather primitive:
  the positions split into evenly spaced runs, each run is a strided slice (a repeated
  position is a broadcast), and the runs are concatenated;
* anything else (a mask or index computed from traced values, several index arrays,
  multi-dimensional ones, more than :data:`MAX_RUNS` runs) raises ``TraceError`` saying
  exactly which, so ``@ember.jit`` falls back with that reason.
"""

from __future__ import annotations

import operator

import numpy as np

from . import _api
from ._ember import Tensor, TraceError
from ._functions import tensor

#: The most slices one constant integer index becomes; more irregular indexes fall back.
MAX_RUNS = 64

_basic_getitem = Tensor.__getitem__


def _fail(what, why):
    raise TraceError(
        f"advanced indexing with {what} is not supported while tracing: {why}; "
        "Ember runs this call eagerly instead"
    )


def _runs(idx):
    """``idx`` as ``(start, step, count)`` runs of evenly spaced positions, greedily."""
    runs = []
    i = 0
    while i < len(idx):
        if i + 1 == len(idx):
            runs.append((idx[i], 1, 1))
            break
        step = idx[i + 1] - idx[i]
        j = i + 1
        while j + 1 < len(idx) and idx[j + 1] - idx[j] == step:
            j += 1
        runs.append((idx[i], step, j - i + 1))
        i = j + 1
    return runs


def take_along(x, idx, axis):
    """``x`` at the constant positions ``idx`` (normalized, in bounds) along ``axis``."""
    before = (slice(None),) * axis
    runs = _runs([int(i) for i in idx])
    if not runs:
        return x[before + (slice(0, 0),)]
    if len(runs) > MAX_RUNS:
        _fail(
            f"a constant integer index of {len(idx)} positions",
            f"Ember has no gather primitive, and the positions form {len(runs)} evenly spaced "
            f"runs (at most {MAX_RUNS} are recorded as slices)",
        )
    pieces = []
    for start, step, count in runs:
        if step == 0:
            piece = x[before + (slice(start, start + 1),)]
            shape = list(piece.shape)
            shape[axis] = count
            pieces.append(_api.broadcast_to(piece, shape))
        else:
            stop = start + step * (count - 1) + (1 if step > 0 else -1)
            pieces.append(x[before + (slice(start, stop if stop >= 0 else None, step),)])
    return pieces[0] if len(pieces) == 1 else _api.concatenate(pieces, axis)


def _constant_index(item, size, axis):
    """A constant index array as normalized positions; NumPy's IndexErrors for bad ones."""
    if isinstance(item, Tensor):
        if item.is_traced:
            if item.dtype == np.bool_:
                _fail(
                    "a boolean mask computed from traced values",
                    "the result's shape depends on the data",
                )
            _fail("an integer tensor computed from traced values", "Ember has no gather primitive")
        item = item.numpy()
    arr = np.asarray(item)
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.intp)  # [] is an empty integer index in NumPy
    if arr.dtype == np.bool_:
        if arr.ndim != 1:
            _fail(f"a {arr.ndim}-d boolean mask", "only 1-d constant masks are recorded")
        if arr.shape[0] != size:
            raise IndexError(
                f"boolean index did not match indexed array along axis {axis}; size of axis "
                f"is {size} but size of corresponding boolean axis is {arr.shape[0]}"
            )
        return np.flatnonzero(arr)
    if arr.dtype.kind not in "iu":
        raise IndexError("arrays used as indices must be of integer (or boolean) type")
    if arr.ndim != 1:
        _fail(
            f"a {arr.ndim}-d integer index array",
            "Ember has no gather primitive (only a constant 1-d index becomes slices)",
        )
    for i in arr:
        if not -size <= i < size:
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")
    return np.where(arr < 0, arr + size, arr)


def _is_array_item(item):
    return isinstance(item, (list, tuple, np.ndarray, Tensor)) and not (
        isinstance(item, (np.ndarray, Tensor)) and item.ndim == 0 and item.dtype != np.bool_
    )


def _is_basic(item):
    return item is None or item is Ellipsis or isinstance(item, slice)


def _advanced(x, key):
    """``x[key]`` for a key the extension's basic indexing refused while tracing; ``None``
    when the refusal had another cause (its own error then stands)."""
    items = key if isinstance(key, tuple) else (key,)
    for item in items:
        if isinstance(item, (bool, np.bool_)):
            _fail("a boolean scalar", "Ember does not implement it (x[None] adds the same axis)")
        if (
            isinstance(item, Tensor)
            and item.is_traced
            and item.ndim == 0
            and item.dtype != np.bool_
        ):
            _fail(
                "an integer computed from traced values",
                "the position depends on the data, and Ember has no gather primitive",
            )
    arrays = [i for i, item in enumerate(items) if _is_array_item(item)]
    if not arrays:
        if any(not _is_basic(item) and not hasattr(item, "__index__") for item in items):
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and "
                "integer or boolean arrays are valid indices"
            )
        return None
    if len(arrays) > 1:
        _fail(f"{len(arrays)} index arrays", "Ember has no gather primitive")
    (k,) = arrays
    ints = [i for i, item in enumerate(items) if not _is_basic(item) and i != k]
    consumed = sum(1 for item in items if item is not None and item is not Ellipsis)
    if consumed > x.ndim:
        raise IndexError(
            f"too many indices for array: array is {x.ndim}-dimensional, but {consumed} "
            "were indexed"
        )
    in_axis = out_axis = 0
    for item in items[:k]:
        if item is Ellipsis:
            in_axis += x.ndim - consumed
            out_axis += x.ndim - consumed
        elif item is None:
            out_axis += 1
        elif isinstance(item, slice):
            in_axis += 1
            out_axis += 1
        else:
            in_axis += 1
    idx = _constant_index(items[k], x.shape[in_axis], in_axis)
    basic = items[:k] + (slice(None),) + items[k + 1 :]
    y = take_along(_basic_getitem(x, basic), idx, out_axis)
    advanced = sorted(ints + [k])
    if advanced != list(range(advanced[0], advanced[-1] + 1)) and out_axis != 0:
        # Advanced indexes separated by basic ones put the indexed axis first (NumPy's rule).
        order = [out_axis] + [i for i in range(y.ndim) if i != out_axis]
        y = _api.transpose(y, order)
    return y


def _getitem(self, key):
    try:
        return _basic_getitem(self, key)
    except TraceError:
        r = _advanced(self, key)
        if r is None:
            raise
        return r


def take(a, indices, axis=None):
    """``numpy.take`` with constant ``indices`` (a scalar or a 1-d array)."""
    t = tensor(a)
    if axis is None or t.ndim == 0:
        # NumPy takes a 0-d array as 1-d here whatever the axis (axis=0 or -1 work).
        t = _api.reshape(t, (-1,))
        axis = 0 if axis is None else axis
    axis = operator.index(axis)
    if axis < -t.ndim or axis >= t.ndim:
        raise np.exceptions.AxisError(axis, t.ndim)
    axis %= t.ndim
    before = (slice(None),) * axis
    if isinstance(indices, Tensor) and indices.is_traced:
        _constant_index(indices, t.shape[axis], axis)
    arr = np.asarray(indices.numpy() if isinstance(indices, Tensor) else indices)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.intp)  # take reads booleans as positions 0 and 1, not as a mask
    if arr.ndim == 0 and arr.dtype.kind in "iu":
        return _getitem(t, before + (int(arr),))
    return _getitem(t, before + (arr,))


def install():
    """Routes ``Tensor.__getitem__`` through the advanced-index handling above."""
    Tensor.__getitem__ = _getitem
