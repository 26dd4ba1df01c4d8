"""NumPy functions composed of Ember's primitives: ``outer``, ``flip``, ``round`` with
decimals, ``tile``, ``triu``/``tril``, ``tensordot``, the NaN-ignoring reductions and
``linalg.norm`` (``einsum`` lives in ``_einsum``, ``take`` in ``_indexing``).

Each follows NumPy's own implementation step by step (same dtypes, same intermediate
roundings, same errors for bad arguments), so a traced call records the same computation NumPy
would run. Combinations that cannot be recorded exactly raise :class:`Unsupported`, a
``NotImplementedError``: NumPy's dispatch then falls back, with the message as the reason.
"""

from __future__ import annotations

import operator

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from . import _api
from ._ember import Tensor

__all__ = [
    "around",
    "count_nonzero",
    "flip",
    "fliplr",
    "flipud",
    "nanmax",
    "nanmean",
    "nanmin",
    "nanprod",
    "nanstd",
    "nansum",
    "nanvar",
    "outer",
    "round",
    "tensordot",
    "tile",
    "tril",
    "triu",
]

_SUPPORTED = {"b1", "i4", "i8", "f4", "f8"}


class Unsupported(NotImplementedError):
    """An argument combination Ember does not implement; the message says which and why."""


def tensor(x):
    """``x`` as a tensor; other array-likes convert like ``np.asarray`` (so a Python scalar
    is a strong float64/int64 array here, as in the NumPy functions that call ``asarray``)."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind + str(arr.itemsize) not in _SUPPORTED:
        raise Unsupported(f"dtype {arr.dtype}")
    return _api.asarray(arr)


def _is_float(t):
    return t.dtype.kind == "f"


# --- movement -------------------------------------------------------------------------------


def outer(a, b):
    """``numpy.outer``: ``ravel(a)[:, None] * ravel(b)[None, :]``."""
    return _api.multiply(_api.reshape(tensor(a), (-1, 1)), _api.reshape(tensor(b), (1, -1)))


def flip(m, axis=None):
    """``numpy.flip``: reverses the order of elements along ``axis`` (all axes by default)."""
    t = tensor(m)
    axes = range(t.ndim) if axis is None else normalize_axis_tuple(axis, t.ndim)
    return t[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(t.ndim))]


def fliplr(m):
    """``numpy.fliplr``: reverses the columns (axis 1)."""
    t = tensor(m)
    if t.ndim < 2:
        raise ValueError("Input must be >= 2-d.")
    return t[:, ::-1]


def flipud(m):
    """``numpy.flipud``: reverses the rows (axis 0)."""
    t = tensor(m)
    if t.ndim < 1:
        raise ValueError("Input must be >= 1-d.")
    return t[::-1, ...]


def tile(A, reps):
    """``numpy.tile``: ``A`` repeated ``reps`` times along each axis (a broadcast of ``A``
    with a new axis in front of each of its axes, then a reshape)."""
    t = tensor(A)
    try:
        tup = tuple(reps)
    except TypeError:
        tup = (reps,)
    tup = tuple(operator.index(r) for r in tup)
    shape = (1,) * (len(tup) - t.ndim) + tuple(t.shape)
    tup = (1,) * (len(shape) - len(tup)) + tup
    out_shape = tuple(s * r for s, r in zip(shape, tup))
    if any(s < 0 for s in out_shape) or (t.size and any(r < 0 for r in tup)):
        raise ValueError("negative dimensions are not allowed")
    if all(r == 1 for r in tup):
        return _api.reshape(t, shape)
    spread = _api.reshape(t, tuple(d for s in shape for d in (1, s)))
    spread = _api.broadcast_to(spread, tuple(d for s, r in zip(shape, tup) for d in (r, s)))
    return _api.reshape(spread, out_shape)


def _triangle(m, k, keep_lower):
    t = tensor(m)
    # NumPy's own mask (and its TypeError for 0-d input), built once at trace time.
    if keep_lower:
        mask = np.tri(*t.shape[-2:], k=k, dtype=bool)
        return _api.where(mask, t, np.zeros(1, t.dtype))
    mask = np.tri(*t.shape[-2:], k=k - 1, dtype=bool)
    return _api.where(mask, np.zeros(1, t.dtype), t)


def tril(m, k=0):
    """``numpy.tril``: zeros above the ``k``-th diagonal of the last two axes."""
    return _triangle(m, k, True)


def triu(m, k=0):
    """``numpy.triu``: zeros below the ``k``-th diagonal of the last two axes."""
    return _triangle(m, k, False)


# --- rounding -------------------------------------------------------------------------------


def _power_of_ten(n):
    """NumPy's ``power_of_ten`` (exact table up to 1e8, then repeated multiplication)."""
    if n < 9:
        return 10.0**n
    r = 1e9
    for _ in range(n - 9):
        r *= 10.0
    return r


def around(a, decimals=0):
    """``numpy.round``: rounds half to even at ``decimals`` decimal places (negative rounds
    to tens, hundreds...), computed as NumPy does: ``rint(a * 10**d) / 10**d`` in ``a``'s
    dtype; integers round through float64 and come back in their dtype."""
    t = tensor(a)
    decimals = operator.index(decimals)
    is_int = t.dtype.kind in "iu"
    if decimals >= 0 and is_int:
        return t
    if decimals == 0:
        return _api.round(t)
    if t.dtype == np.bool_:
        op = "multiply" if decimals > 0 else "divide"
        raise TypeError(
            f"Cannot cast ufunc '{op}' output from dtype('float64') to dtype('bool') "
            "with casting rule 'same_kind'"
        )
    f = _power_of_ten(abs(decimals))
    x = _api.astype(t, "float64") if is_int else t
    if decimals > 0:
        r = _api.divide(_api.round(_api.multiply(x, f)), f)
    else:
        r = _api.multiply(_api.round(_api.divide(x, f)), f)
    return _api.astype(r, t.dtype) if is_int else r


round = around


# --- contractions ---------------------------------------------------------------------------


def tensordot(a, b, axes=2):
    """``numpy.tensordot``: sums products over ``axes`` (an int: the last ``axes`` of ``a``
    with the first of ``b``; or a pair of axis lists), as one transposed, reshaped matmul."""
    try:
        iter(axes)
    except TypeError:
        axes_a = list(range(-axes, 0))
        axes_b = list(range(axes))
    else:
        axes_a, axes_b = axes
    try:
        na = len(axes_a)
        axes_a = list(axes_a)
    except TypeError:
        axes_a = [axes_a]
        na = 1
    try:
        nb = len(axes_b)
        axes_b = list(axes_b)
    except TypeError:
        axes_b = [axes_b]
        nb = 1
    ta, tb = tensor(a), tensor(b)
    as_, bs = tuple(ta.shape), tuple(tb.shape)
    nda, ndb = ta.ndim, tb.ndim
    equal = na == nb
    if equal:
        for k in range(na):
            if as_[axes_a[k]] != bs[axes_b[k]]:
                equal = False
                break
            if axes_a[k] < 0:
                axes_a[k] += nda
            if axes_b[k] < 0:
                axes_b[k] += ndb
    if not equal:
        raise ValueError("shape-mismatch for sum")
    if len(set(axes_a)) != na or len(set(axes_b)) != nb:
        raise ValueError("duplicate axes are not allowed in tensordot")
    notin_a = [k for k in range(nda) if k not in axes_a]
    notin_b = [k for k in range(ndb) if k not in axes_b]
    m = int(np.prod([as_[k] for k in notin_a]))
    n = int(np.prod([bs[k] for k in notin_b]))
    inner = int(np.prod([as_[k] for k in axes_a]))
    at = _api.reshape(_api.transpose(ta, notin_a + axes_a), (m, inner))
    bt = _api.reshape(_api.transpose(tb, axes_b + notin_b), (inner, n))
    res = _api.matmul(at, bt)
    return _api.reshape(res, [as_[k] for k in notin_a] + [bs[k] for k in notin_b])


# --- NaN-ignoring reductions ----------------------------------------------------------------


def _keepdims(keepdims):
    return False if keepdims is np._NoValue else bool(keepdims)


def _divide_by_count(total, count):
    """NumPy's ``_divide_by_count``: the division runs in the promoted dtype (float64 for a
    float32 total over an int64 count) and is cast back to the total's dtype."""
    return _api.astype(_api.divide(total, count), total.dtype)


def _check_float_dtype(dtype):
    if dtype is not None and not issubclass(np.dtype(dtype).type, np.inexact):
        raise TypeError("If a is inexact, then dtype must be inexact")


def count_nonzero(a, axis=None, *, keepdims=False):
    """``numpy.count_nonzero``: how many elements are nonzero (NaN counts), as int64. NumPy
    returns a Python ``int`` when ``axis`` is None; a traced call returns a 0-d int64 tensor,
    whose value it does not know yet."""
    t = tensor(a)
    nonzero = t if t.dtype == np.dtype(bool) else t != 0
    return _api.sum(nonzero, axis=axis, dtype=np.int64, keepdims=bool(keepdims))


def nansum(a, axis=None, dtype=None, keepdims=np._NoValue):
    """``numpy.nansum``: the sum with NaNs counted as zero."""
    t = tensor(a)
    if _is_float(t):
        t = _api.where(_api.isnan(t), 0, t)
    return _api.sum(t, axis=axis, dtype=dtype, keepdims=_keepdims(keepdims))


def nanprod(a, axis=None, dtype=None, keepdims=np._NoValue):
    """``numpy.nanprod``: the product with NaNs counted as one."""
    t = tensor(a)
    if _is_float(t):
        t = _api.where(_api.isnan(t), 1, t)
    return _api.prod(t, axis=axis, dtype=dtype, keepdims=_keepdims(keepdims))


def nanmean(a, axis=None, dtype=None, keepdims=np._NoValue):
    """``numpy.nanmean``: the mean of the non-NaN elements (NaN for an all-NaN slice)."""
    t = tensor(a)
    kd = _keepdims(keepdims)
    if not _is_float(t):
        return _api.mean(t, axis=axis, dtype=dtype, keepdims=kd)
    _check_float_dtype(dtype)
    nan = _api.isnan(t)
    count = _api.sum(_api.logical_not(nan), axis=axis, keepdims=kd)
    total = _api.sum(_api.where(nan, 0, t), axis=axis, dtype=dtype, keepdims=kd)
    return _divide_by_count(total, count)


def _nan_extremum(name, fill):
    reduce = getattr(_api, name)

    def impl(a, axis=None, keepdims=np._NoValue):
        t = tensor(a)
        kd = _keepdims(keepdims)
        if not _is_float(t):
            return reduce(t, axis=axis, keepdims=kd)
        nan = _api.isnan(t)
        r = reduce(_api.where(nan, fill, t), axis=axis, keepdims=kd)
        # An all-NaN slice gives NaN (NumPy also warns "All-NaN slice encountered").
        return _api.where(_api.all(nan, axis=axis, keepdims=kd), np.nan, r)

    impl.__name__ = f"nan{name}"
    impl.__doc__ = (
        f"``numpy.nan{name}``: the {name}imum ignoring NaNs (NaN for an all-NaN slice; "
        "an empty slice raises ValueError)."
    )
    return impl


nanmax = _nan_extremum("max", -np.inf)
nanmin = _nan_extremum("min", np.inf)


def nanvar(a, axis=None, dtype=None, ddof=0, keepdims=np._NoValue):
    """``numpy.nanvar``: the variance of the non-NaN elements, NumPy's two-pass algorithm
    (NaN where the slice has ``ddof`` or fewer non-NaN elements)."""
    t = tensor(a)
    kd = _keepdims(keepdims)
    if not _is_float(t):
        return _api.var(t, axis=axis, dtype=dtype, ddof=ddof, keepdims=kd)
    _check_float_dtype(dtype)
    nan = _api.isnan(t)
    arr = _api.where(nan, 0, t)
    count = _api.sum(_api.logical_not(nan), axis=axis, keepdims=True)
    avg = _divide_by_count(_api.sum(arr, axis=axis, dtype=dtype, keepdims=True), count)
    # NumPy subtracts into the input's dtype (casting='unsafe'), then zeroes the NaN places.
    dev = _api.where(nan, 0, _api.astype(_api.subtract(arr, avg), t.dtype))
    var = _api.sum(_api.multiply(dev, dev), axis=axis, dtype=dtype, keepdims=kd)
    if not kd:
        count = _api.reshape(count, var.shape)
    dof = _api.subtract(count, ddof)
    var = _divide_by_count(var, dof)
    return _api.where(_api.less_equal(dof, 0), np.nan, var)


def nanstd(a, axis=None, dtype=None, ddof=0, keepdims=np._NoValue):
    """``numpy.nanstd``: the square root of :func:`nanvar`."""
    return _api.sqrt(nanvar(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))


# --- norms ----------------------------------------------------------------------------------


def _max_from_zero(x, axis, keepdims):
    """``x.max(axis, initial=0)`` for ``x >= 0``: an empty slice gives 0."""
    axes = normalize_axis_tuple(axis, x.ndim)
    if any(x.shape[i] == 0 for i in axes):
        shape = [1 if i in axes else s for i, s in enumerate(x.shape)]
        if not keepdims:
            shape = [s for i, s in enumerate(x.shape) if i not in axes]
        return _api.zeros(shape, x.dtype)
    return _api.max(x, axis=axis, keepdims=keepdims)


def norm(x, ord=None, axis=None, keepdims=False):
    """``numpy.linalg.norm`` for vector norms (any ``ord``) and the matrix norms that need no
    singular values (``None``/``'fro'``, 1, -1, ``inf``, ``-inf``); 2, -2 and ``'nuc'``
    matrix norms raise :class:`Unsupported` (they need an SVD)."""
    inf = np.inf
    t = tensor(x)
    if t.dtype.kind != "f":
        t = _api.astype(t, "float64")
    if axis is None:
        nd = t.ndim
        if ord is None or (ord in ("f", "fro") and nd == 2) or (ord == 2 and nd == 1):
            flat = _api.reshape(t, (-1,))
            ret = _api.sqrt(_api.sum(_api.multiply(flat, flat)))
            return _api.reshape(ret, [1] * nd) if keepdims else ret
    nd = t.ndim
    if axis is None:
        axis = tuple(range(nd))
    elif not isinstance(axis, tuple):
        try:
            axis = int(axis)
        except Exception as e:
            raise TypeError("'axis' must be None, an integer or a tuple of integers") from e
        axis = (axis,)
    if len(axis) == 1:
        if isinstance(ord, str):
            raise ValueError(f"Invalid norm order '{ord}' for vectors")
        if ord == inf:
            return _max_from_zero(_api.abs(t), axis, keepdims)
        if ord == -inf:
            return _api.min(_api.abs(t), axis=axis, keepdims=keepdims)
        if ord == 0:
            return _api.sum(
                _api.astype(_api.not_equal(t, 0), t.dtype), axis=axis, keepdims=keepdims
            )
        if ord == 1:
            return _api.sum(_api.abs(t), axis=axis, keepdims=keepdims)
        if ord is None or ord == 2:
            return _api.sqrt(_api.sum(_api.multiply(t, t), axis=axis, keepdims=keepdims))
        powered = _api.power(_api.abs(t), ord)
        ret = _api.sum(powered, axis=axis, keepdims=keepdims)
        return _api.power(ret, float(np.reciprocal(ord, dtype=ret.dtype)))
    if len(axis) == 2:
        row_axis, col_axis = axis
        row_axis = normalize_axis_index(row_axis, nd)
        col_axis = normalize_axis_index(col_axis, nd)
        if row_axis == col_axis:
            raise ValueError("Duplicate axes given.")
        if ord in (2, -2, "nuc"):
            raise Unsupported(f"the matrix norm ord={ord!r} needs singular values (an SVD)")
        if ord == 1 or ord == -1:
            if col_axis > row_axis:
                col_axis -= 1
            sums = _api.sum(_api.abs(t), axis=row_axis)
            ret = (
                _max_from_zero(sums, col_axis, False) if ord == 1 else _api.min(sums, axis=col_axis)
            )
        elif ord == inf or ord == -inf:
            if row_axis > col_axis:
                row_axis -= 1
            sums = _api.sum(_api.abs(t), axis=col_axis)
            ret = (
                _max_from_zero(sums, row_axis, False)
                if ord == inf
                else _api.min(sums, axis=row_axis)
            )
        elif ord in (None, "fro", "f"):
            ret = _api.sqrt(_api.sum(_api.multiply(t, t), axis=axis))
        else:
            raise ValueError("Invalid norm order for matrices.")
        if keepdims:
            shape = list(t.shape)
            shape[axis[0]] = 1
            shape[axis[1]] = 1
            ret = _api.reshape(ret, shape)
        return ret
    raise ValueError("Improper number of dimensions to norm.")
