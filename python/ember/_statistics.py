"""NumPy's statistics functions composed of Ember's reductions: ``average``, ``ptp``,
``cov`` and ``corrcoef``, step by step as NumPy computes them (the same dtypes, in-place
casts and errors).

Checks NumPy makes on the data itself cannot be traced: ``average`` raises
``ZeroDivisionError`` when the weights sum to zero, so its weights must be constants (NumPy
arrays, lists, concrete tensors); ``cov``'s frequency and analytic weights raise
:class:`Unsupported` (NumPy checks them for negative and non-integer values).
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from . import _api
from ._ember import Tensor
from ._functions import Unsupported, tensor
from ._matrix_functions import diag

__all__ = ["average", "corrcoef", "cov", "ptp"]


def ptp(a, axis=None, out=None, keepdims=np._NoValue):
    """``numpy.ptp``: ``max - min`` along ``axis`` (bool raises, as NumPy's subtract does)."""
    if out is not None:
        raise Unsupported("out=")
    keepdims = False if keepdims is np._NoValue else bool(keepdims)
    t = tensor(a)
    return _api.subtract(
        _api.max(t, axis=axis, keepdims=keepdims), _api.min(t, axis=axis, keepdims=keepdims)
    )


def _weights_are_valid(wgt, shape, axis):
    """NumPy's checks of ``wgt`` against ``a``'s shape; ``wgt`` reshaped to broadcast."""
    if shape != wgt.shape:
        if axis is None:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        if wgt.shape != tuple(shape[ax] for ax in axis):
            raise ValueError(
                "Shape of weights must be consistent with shape of a along specified axis."
            )
        wgt = wgt.transpose(np.argsort(axis))
        wgt = wgt.reshape(tuple((s if ax in axis else 1) for ax, s in enumerate(shape)))
    return wgt


def average(a, axis=None, weights=None, returned=False, *, keepdims=np._NoValue):
    """``numpy.average``: the mean, or ``sum(a * w) / sum(w)`` in float64 for integers (the
    common float type otherwise); with ``returned`` also the sum of the weights (the count
    without weights) broadcast to the result's shape. The weights must be known when tracing:
    NumPy raises ``ZeroDivisionError`` when they sum to zero."""
    t = tensor(a)
    if axis is not None:
        axis = normalize_axis_tuple(axis, t.ndim, argname="axis")
    kd = False if keepdims is np._NoValue else keepdims
    if weights is None:
        avg = _api.mean(t, axis=axis, keepdims=kd)
        scl = avg.dtype.type(t.size / avg.size)
    else:
        if isinstance(weights, Tensor):
            if weights.is_traced:
                raise Unsupported(
                    "weights given as a traced tensor (NumPy raises ZeroDivisionError when "
                    "they sum to zero, which depends on the data)"
                )
            weights = weights.numpy()
        wgt = _weights_are_valid(np.asanyarray(weights), tuple(t.shape), axis)
        if t.dtype.kind in "bi":
            result_dtype = np.result_type(t.dtype, wgt.dtype, "f8")
        else:
            result_dtype = np.result_type(t.dtype, wgt.dtype)
        scl = wgt.sum(axis=axis, dtype=result_dtype, keepdims=kd)
        if np.any(scl == 0.0):
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        w = tensor(wgt.astype(result_dtype))
        prod = _api.multiply(_api.astype(t, result_dtype) if t.dtype != result_dtype else t, w)
        avg = _api.divide(_api.sum(prod, axis=axis, keepdims=kd), np.asarray(scl))
    if not returned:
        return avg
    scl = np.asarray(scl, avg.dtype)
    if scl.shape != tuple(avg.shape):
        return avg, _api.broadcast_to(tensor(scl), avg.shape)
    return avg, tensor(scl)


def _ndmin2(t):
    return _api.reshape(t, (1,) * (2 - t.ndim) + tuple(t.shape)) if t.ndim < 2 else t


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """``numpy.cov`` without weights: rows are variables (columns with ``rowvar=False``),
    ``ddof`` 1 unless ``bias``; the centered data times its transpose, times
    ``1 / (N - ddof)`` (inf, with NumPy's warning, when that is not positive). ``fweights``
    and ``aweights`` raise :class:`Unsupported`."""
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    if fweights is not None or aweights is not None:
        raise Unsupported("fweights=/aweights= (NumPy validates the weights' values)")
    t = tensor(m)
    if t.ndim > 2:
        raise ValueError("m has more than 2 dimensions")
    ty = None
    if y is not None:
        ty = tensor(y)
        if ty.ndim > 2:
            raise ValueError("y has more than 2 dimensions")
    if dtype is None:
        dtype = (
            np.result_type(t.dtype, np.float64)
            if ty is None
            else np.result_type(t.dtype, ty.dtype, np.float64)
        )
    dtype = np.dtype(dtype)
    X = _ndmin2(_api.astype(t, dtype))
    if not rowvar and t.ndim != 1:
        X = _api.transpose(X)
    if X.shape[0] == 0:
        return _api.zeros((0, 0), np.float64)
    if ty is not None:
        Y = _ndmin2(_api.astype(ty, dtype))
        if not rowvar and Y.shape[0] != 1:
            Y = _api.transpose(Y)
        X = _api.concatenate([X, Y], 0)
    if ddof is None:
        ddof = 1 if bias == 0 else 0
    avg = _api.mean(X, axis=1)
    if avg.dtype != X.dtype:
        # NumPy subtracts the mean in place: float64 into an integer or bool array.
        raise TypeError(
            f"Cannot cast ufunc 'subtract' output from dtype('{avg.dtype}') to dtype('{X.dtype}') "
            "with casting rule 'same_kind'"
        )
    fact = X.shape[1] - ddof
    if fact <= 0:
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        fact = 0.0
    X = _api.subtract(X, _api.reshape(avg, (-1, 1)))
    c = _api.matmul(X, _api.transpose(X))
    # ``c *= np.true_divide(1, fact)``: a float64 factor, the product cast back to c's dtype.
    scale = np.true_divide(1, fact)
    c = _api.multiply(c, scale)
    if c.dtype != X.dtype:
        c = _api.astype(c, X.dtype)
    return _api.squeeze(c)


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """``numpy.corrcoef``: :func:`cov` divided by the outer product of the standard
    deviations, clipped to [-1, 1] (``c / c`` for a single variable)."""
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim != 2:
        return _api.divide(c, c)
    stddev = _api.sqrt(diag(c))
    c = _api.divide(c, _api.reshape(stddev, (-1, 1)))
    c = _api.divide(c, _api.reshape(stddev, (1, -1)))
    return _api.clip(c, -1, 1)
