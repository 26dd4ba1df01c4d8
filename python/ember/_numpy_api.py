"""NumPy's dispatch protocols for ``ember.Tensor``.

``np.exp(t)`` calls ``Tensor.__array_ufunc__`` and ``np.sum(t, axis=1)`` calls
``Tensor.__array_function__``; both land here. Functions and arguments Ember implements run
in Ember and return tensors. Anything else:

* on concrete tensors, runs in NumPy on zero-copy views of the tensors and returns NumPy's
  answer (as a tensor when its dtype is one Ember supports), never a wrong result;
* while tracing, raises ``ember.TraceError`` so that ``@ember.jit`` falls back to eager
  execution and reports which function was missing.
"""

from __future__ import annotations

import numpy as np

from . import _api, _functions, _indexing, _matrix_functions, _shape_functions, _statistics
from . import _ufunc_compositions as _ufuncs
from ._einsum import einsum as _einsum
from ._ember import Tensor, TraceError
from ._functions import Unsupported as _Unsupported

_UFUNC_ALIASES = {"true_divide": "divide"}
#: Ufuncs that ``_api`` implements outside its table of primitive names (float loops only).
_FLOAT_LOOP_UNARY = {"rint", "fabs"}
_REDUCE_METHODS = {
    "add": "sum",
    "multiply": "prod",
    "maximum": "max",
    "minimum": "min",
    "logical_or": "any",
    "logical_and": "all",
}
_SUPPORTED_DTYPES = {"b", "i4", "i8", "f4", "f8"}


def _is_traced(x):
    if isinstance(x, Tensor):
        return x.is_traced
    if isinstance(x, (list, tuple)):
        return any(_is_traced(v) for v in x)
    if isinstance(x, dict):
        return any(_is_traced(v) for v in x.values())
    return False


def _to_numpy(x):
    if isinstance(x, Tensor):
        return x.numpy()
    if isinstance(x, list):
        return [_to_numpy(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_to_numpy(v) for v in x)
    if isinstance(x, dict):
        return {k: _to_numpy(v) for k, v in x.items()}
    return x


def _from_numpy(r):
    if isinstance(r, np.ndarray) and (
        r.dtype.kind + str(r.itemsize) in {"b1", "i4", "i8", "f4", "f8"}
    ):
        return _api.asarray(r)
    if isinstance(r, tuple):
        return tuple(_from_numpy(v) for v in r)
    if isinstance(r, list):
        return [_from_numpy(v) for v in r]
    return r


def _fallback(what, call, args, kwargs, why=None):
    if _is_traced(args) or _is_traced(kwargs):
        because = f" ({why})" if why else ""
        raise TraceError(
            f"{what} is not supported by Ember while tracing{because}; "
            "Ember runs this call eagerly instead"
        )
    return _from_numpy(call(*_to_numpy(args), **_to_numpy(kwargs)))


#: Ufunc keywords whose default values change nothing (they are dropped before dispatch).
_UFUNC_DEFAULTS = {
    "where": lambda v: v is True,
    "dtype": lambda v: v is None,
    "casting": lambda v: isinstance(v, str) and v == "same_kind",
    "order": lambda v: isinstance(v, str) and v == "K",
    "subok": lambda v: v is True,
    "signature": lambda v: v is None,
}


def _composed_ufunc(name, method, inputs, out, kwargs):
    """``np.<name>(...)`` or ``np.<name>.outer(...)`` for a ufunc Ember composes (or an
    ``.outer`` of one it has an op for); ``None`` when it has neither."""
    if method == "__call__":
        impl = _ufuncs.UNARY_UFUNCS.get(name) if len(inputs) == 1 else None
        impl = impl or (_ufuncs.BINARY_UFUNCS.get(name) if len(inputs) == 2 else None)
        if impl is None:
            return None
    elif (
        method == "outer"
        and len(inputs) == 2
        and (name in _api._BINARY or name in _ufuncs.BINARY_UFUNCS)
    ):

        def impl(a, b):
            return _ufuncs.ufunc_outer(name, a, b)

    else:
        return None
    if out is not None or kwargs:
        raise _Unsupported(_named(out, kwargs))
    return impl(*inputs)


def _named(out, kwargs):
    """``"out=, where="``: the ufunc keywords given with values Ember does not implement."""
    return ", ".join(f"{k}=" for k in (["out"] if out is not None else []) + list(kwargs))


def array_ufunc(ufunc, method, inputs, **kwargs):
    """Implements ``Tensor.__array_ufunc__``."""
    name = _UFUNC_ALIASES.get(ufunc.__name__, ufunc.__name__)
    out = kwargs.pop("out", None)
    for k, is_default in _UFUNC_DEFAULTS.items():
        if k in kwargs and is_default(kwargs[k]):
            del kwargs[k]
    why = None
    try:
        r = _composed_ufunc(name, method, inputs, out, kwargs)
    except NotImplementedError as e:  # _Unsupported included
        why = str(e) or None
    else:
        if r is not None:
            return r
    plain = out is None and not kwargs
    if plain and method == "__call__":
        if name == "matmul" and len(inputs) == 2:
            return _api.matmul(*inputs)
        if name == "positive" and len(inputs) == 1:
            return _api.asarray(inputs[0])
        if name == "clip" and len(inputs) == 3:
            # The ufunc behind ndarray.clip: a NumPy array's or scalar's clip with tensor bounds.
            return _api.clip(*inputs)
        f = getattr(_api, name, None)
        if f is not None and (
            (name in _api._UNARY or name in _FLOAT_LOOP_UNARY)
            and len(inputs) == 1
            or name in _api._BINARY
            and len(inputs) == 2
        ):
            return f(*inputs)
    if method == "reduce" and name in _REDUCE_METHODS and len(inputs) == 1:
        axis = kwargs.pop("axis", 0)
        keepdims = kwargs.pop("keepdims", False)
        if out is None and not kwargs:
            return getattr(_api, _REDUCE_METHODS[name])(inputs[0], axis=axis, keepdims=keepdims)
    if why is None and (out is not None or kwargs):
        why = _named(out, kwargs)
    if out is not None:
        kwargs["out"] = out
    return _fallback(
        f"np.{ufunc.__name__}.{method}" if method != "__call__" else f"np.{ufunc.__name__}",
        getattr(ufunc, method),
        inputs,
        kwargs,
        why,
    )


def _only(kwargs, *allowed):
    extra = {
        k: v
        for k, v in kwargs.items()
        if k not in allowed and v is not None and v is not np._NoValue
    }
    if extra:
        raise _Unsupported(f"arguments {sorted(extra)}")


def _reduction(name, takes_dtype=True):
    def impl(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
        _only(kw)
        if out is not None:
            raise _Unsupported("out=")
        if keepdims is np._NoValue:
            keepdims = False
        f = getattr(_api, name)
        return (
            f(a, axis=axis, dtype=dtype, keepdims=bool(keepdims))
            if takes_dtype and dtype is not None
            else f(a, axis=axis, keepdims=bool(keepdims))
        )

    return impl


def _moment(name):
    def impl(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
        _only(kw)
        if out is not None:
            raise _Unsupported("out=")
        if keepdims is np._NoValue:
            keepdims = False
        return getattr(_api, name)(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=bool(keepdims))

    return impl


def _argred(name):
    def impl(a, axis=None, out=None, keepdims=False, **kw):
        _only(kw)
        if out is not None:
            raise _Unsupported("out=")
        return getattr(_api, name)(
            a, axis=axis, keepdims=bool(keepdims) if keepdims is not np._NoValue else False
        )

    return impl


def _round(a, decimals=0, out=None):
    if out is not None:
        raise _Unsupported("out=")
    return _functions.around(a, decimals)


def _where(condition, x=None, y=None):
    if x is None or y is None:
        raise _Unsupported("np.where(condition) with one argument (data-dependent shape)")
    return _api.where(condition, x, y)


def _clip(
    a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue, max=np._NoValue, **kw
):
    _only(kw)
    lo = a_min if a_min is not np._NoValue else min
    hi = a_max if a_max is not np._NoValue else max
    lo = None if lo is np._NoValue else lo
    hi = None if hi is np._NoValue else hi
    if out is not None:
        raise _Unsupported("out=")
    return _api.clip(a, lo, hi)


def _concatenate(arrays, axis=0, out=None, dtype=None, casting=None):
    if out is not None or dtype is not None or axis is None:
        raise _Unsupported("out/dtype/axis=None")
    return _api.concatenate(arrays, axis)


def _stack(arrays, axis=0, out=None, dtype=None, casting=None):
    if out is not None or dtype is not None:
        raise _Unsupported("out/dtype")
    return _api.stack(arrays, axis)


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise _Unsupported("order")
    return _api.reshape(a, shape if shape is not None else newshape)


def _transpose(a, axes=None):
    return _api.transpose(a, axes)


def _dot(a, b, out=None):
    if out is not None:
        raise _Unsupported("out=")
    return _api.dot(a, b)


def _like(name):
    def impl(a, *args, dtype=None, order="K", subok=True, shape=None, device=None, **kw):
        if shape is not None or kw:
            raise _Unsupported("shape/other arguments")
        return getattr(_api, name)(a, *args, dtype=dtype)

    return impl


def _reject(**given):
    """Raises for the first argument NumPy got that Ember does not implement."""
    for name, value in given.items():
        if value is not None and value is not np._NoValue:
            raise _Unsupported(f"{name}=")


def _outer(a, b, out=None):
    _reject(out=out)
    return _functions.outer(a, b)


def _nan_sum_like(f):
    def impl(
        a,
        axis=None,
        dtype=None,
        out=None,
        keepdims=np._NoValue,
        initial=np._NoValue,
        where=np._NoValue,
    ):
        _reject(out=out, initial=initial, where=where)
        return f(a, axis=axis, dtype=dtype, keepdims=keepdims)

    return impl


def _nanmean(a, axis=None, dtype=None, out=None, keepdims=np._NoValue, *, where=np._NoValue):
    _reject(out=out, where=where)
    return _functions.nanmean(a, axis=axis, dtype=dtype, keepdims=keepdims)


def _nan_extremum(f):
    def impl(a, axis=None, out=None, keepdims=np._NoValue, initial=np._NoValue, where=np._NoValue):
        _reject(out=out, initial=initial, where=where)
        return f(a, axis=axis, keepdims=keepdims)

    return impl


def _nan_moment(f):
    def impl(
        a,
        axis=None,
        dtype=None,
        out=None,
        ddof=0,
        keepdims=np._NoValue,
        *,
        where=np._NoValue,
        mean=np._NoValue,
        correction=np._NoValue,
    ):
        _reject(out=out, where=where, mean=mean)
        if correction is not np._NoValue:
            if ddof != 0:
                raise ValueError("ddof and correction can't be provided simultaneously.")
            ddof = correction
        return f(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)

    return impl


def _take(a, indices, axis=None, out=None, mode="raise"):
    _reject(out=out)
    if mode != "raise":
        raise _Unsupported(f"mode={mode!r}")
    return _indexing.take(a, indices, axis)


#: NumPy functions Ember cannot record, with the reason the fallback gives. A scan built from
#: shifted slices would be exact only for integers and does O(n log n) work (measured 4x slower
#: than this fallback for 10**6 elements), so scans wait for a scan primitive.
_REASONS = {
    **dict.fromkeys(
        ["cumsum", "cumprod", "nancumsum", "nancumprod", "cumulative_sum", "cumulative_prod"],
        "Ember has no scan primitive",
    ),
    **dict.fromkeys(
        ["sort", "argsort", "partition", "argpartition", "median", "percentile", "quantile"],
        "Ember has no sort primitive",
    ),
    **dict.fromkeys(
        ["nonzero", "flatnonzero", "argwhere", "unique", "extract", "compress"],
        "the result's shape depends on the data",
    ),
}

_FUNCTIONS = {
    "sum": _reduction("sum"),
    "prod": _reduction("prod"),
    "mean": _reduction("mean"),
    "max": _reduction("max", False),
    "amax": _reduction("max", False),
    "min": _reduction("min", False),
    "amin": _reduction("min", False),
    "any": _reduction("any", False),
    "all": _reduction("all", False),
    "var": _moment("var"),
    "std": _moment("std"),
    "argmax": _argred("argmax"),
    "argmin": _argred("argmin"),
    "round": _round,
    "around": _round,
    "where": _where,
    "clip": _clip,
    "concatenate": _concatenate,
    "stack": _stack,
    "reshape": _reshape,
    "transpose": _transpose,
    "expand_dims": lambda a, axis: _api.expand_dims(a, axis),
    "squeeze": lambda a, axis=None: _api.squeeze(a, axis),
    "broadcast_to": lambda array, shape, subok=False: _api.broadcast_to(array, shape),
    "swapaxes": lambda a, axis1, axis2: _api.swapaxes(a, axis1, axis2),
    "ravel": lambda a, order="C": (
        _api.ravel(a) if order == "C" else (_ for _ in ()).throw(_Unsupported("order"))
    ),
    "dot": _dot,
    "astype": lambda x, dtype, copy=True, device=None: _api.astype(x, dtype),
    "zeros_like": _like("zeros_like"),
    "ones_like": _like("ones_like"),
    "full_like": _like("full_like"),
    "outer": _outer,
    "flip": lambda m, axis=None: _functions.flip(m, axis),
    "fliplr": lambda m: _functions.fliplr(m),
    "flipud": lambda m: _functions.flipud(m),
    "tile": lambda A, reps: _functions.tile(A, reps),
    "triu": lambda m, k=0: _functions.triu(m, k),
    "tril": lambda m, k=0: _functions.tril(m, k),
    "tensordot": lambda a, b, axes=2: _functions.tensordot(a, b, axes),
    "einsum": _einsum,
    "take": _take,
    "linalg.norm": lambda x, ord=None, axis=None, keepdims=False: _functions.norm(
        x, ord, axis, keepdims
    ),
    "count_nonzero": _functions.count_nonzero,
    "nansum": _nan_sum_like(_functions.nansum),
    "nanprod": _nan_sum_like(_functions.nanprod),
    "nanmean": _nanmean,
    "nanmax": _nan_extremum(_functions.nanmax),
    "nanmin": _nan_extremum(_functions.nanmin),
    "nanvar": _nan_moment(_functions.nanvar),
    "nanstd": _nan_moment(_functions.nanstd),
    # Elementwise functions (the ufuncs among them dispatch through array_ufunc).
    "fix": _ufuncs.fix,
    "isposinf": _ufuncs.isposinf,
    "isneginf": _ufuncs.isneginf,
    "nan_to_num": _ufuncs.nan_to_num,
    "sinc": _ufuncs.sinc,
    "real": _ufuncs.real,
    "imag": _ufuncs.imag,
    "angle": _ufuncs.angle,
    "isreal": _ufuncs.isreal,
    "iscomplex": _ufuncs.iscomplex,
    "iscomplexobj": _ufuncs.iscomplexobj,
    "isrealobj": _ufuncs.isrealobj,
    "isclose": _ufuncs.isclose,
    # Rearranging, joining, splitting, padding.
    "diff": _shape_functions.diff,
    "ediff1d": _shape_functions.ediff1d,
    "repeat": _shape_functions.repeat,
    "roll": _shape_functions.roll,
    "pad": _shape_functions.pad,
    "split": _shape_functions.split,
    "array_split": _shape_functions.array_split,
    "hsplit": _shape_functions.hsplit,
    "vsplit": _shape_functions.vsplit,
    "dsplit": _shape_functions.dsplit,
    "moveaxis": _shape_functions.moveaxis,
    "rollaxis": _shape_functions.rollaxis,
    "atleast_1d": _shape_functions.atleast_1d,
    "atleast_2d": _shape_functions.atleast_2d,
    "atleast_3d": _shape_functions.atleast_3d,
    "hstack": _shape_functions.hstack,
    "vstack": _shape_functions.vstack,
    "dstack": _shape_functions.dstack,
    "column_stack": _shape_functions.column_stack,
    "row_stack": _shape_functions.row_stack,
    # Diagonals, products, statistics.
    "diagonal": _matrix_functions.diagonal,
    "diag": _matrix_functions.diag,
    "trace": _matrix_functions.trace,
    "inner": _matrix_functions.inner,
    "vdot": _matrix_functions.vdot,
    "cross": _matrix_functions.cross,
    "average": _statistics.average,
    "ptp": _statistics.ptp,
    "cov": _statistics.cov,
    "corrcoef": _statistics.corrcoef,
    "shape": lambda a: a.shape,
    "ndim": lambda a: a.ndim,
    "size": lambda a, axis=None: a.size if axis is None else a.shape[axis],
}


def _qualified_name(func):
    """``"sum"`` for ``np.sum``, ``"linalg.norm"`` for ``np.linalg.norm``; ``None`` outside
    NumPy."""
    module = getattr(func, "__module__", None) or ""
    if module == "numpy":
        return func.__name__
    if module.startswith("numpy."):
        return f"{module[len('numpy.') :]}.{func.__name__}"
    return None


def array_function(func, types, args, kwargs):
    """Implements ``Tensor.__array_function__``."""
    name = _qualified_name(func)
    impl = _FUNCTIONS.get(name)
    why = _REASONS.get(name)
    if impl is not None:
        try:
            return impl(*args, **kwargs)
        except NotImplementedError as e:  # _Unsupported included
            why = str(e) or None
    what = f"np.{name}" if name is not None else f"{func.__module__}.{func.__name__}"
    return _fallback(what, func, args, kwargs, why)
