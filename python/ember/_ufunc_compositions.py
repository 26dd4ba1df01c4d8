"""NumPy ufuncs and elementwise functions Ember has no op for, composed of the ops it has:
``deg2rad``/``radians``, ``rad2deg``/``degrees``, ``trunc``, ``fmax``, ``fmin``,
``heaviside``, ``logaddexp``, ``divmod``, ``float_power``, ``conjugate`` (the ufuncs, also
reached through ``Tensor.__array_ufunc__``, whose ``.outer`` method is here too) and ``fix``,
``isposinf``, ``isneginf``, ``nan_to_num``, ``sinc``, ``real``, ``imag``, ``angle``,
``isreal``, ``iscomplex``, ``iscomplexobj``, ``isrealobj``, ``isclose`` (functions).

Each ufunc computes in the loop NumPy's type resolution picks (``ufunc.resolve_dtypes``:
float64 for integers, the input's float type otherwise; a loop in a dtype Ember lacks, such
as float16 for bool, raises ``TypeError``) and follows NumPy's C loop (the same constants and
branches), so a traced call records NumPy's computation. Python scalars stay weak (NEP 50).
Ember has no complex dtype, so the complex-number functions are the real-input cases.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import _api
from ._ember import Tensor
from ._functions import Unsupported, tensor

__all__ = [
    "angle",
    "conj",
    "conjugate",
    "deg2rad",
    "degrees",
    "divmod",
    "fix",
    "float_power",
    "fmax",
    "fmin",
    "heaviside",
    "imag",
    "isclose",
    "iscomplex",
    "iscomplexobj",
    "isneginf",
    "isposinf",
    "isreal",
    "isrealobj",
    "logaddexp",
    "nan_to_num",
    "rad2deg",
    "radians",
    "real",
    "sinc",
    "trunc",
]

_SUPPORTED = {np.dtype(d) for d in ("bool", "int32", "int64", "float32", "float64")}


def _operand(x):
    """A tensor, or a Python int/float kept as is (a weak scalar, as NumPy's ufuncs see it)."""
    if type(x) in (int, float):
        return x
    return tensor(x)


def _loop(ufunc, *inputs):
    """The operands cast to the loop NumPy's ``ufunc`` runs for them, and the loop's output
    dtype. Weak scalars stay Python scalars; they take the tensors' dtype."""
    ops = [_operand(x) for x in inputs]
    if all(not isinstance(t, Tensor) for t in ops):
        ops = [tensor(x) for x in ops]
    *loop, out = ufunc.resolve_dtypes(
        tuple(t.dtype if isinstance(t, Tensor) else type(t) for t in ops) + (None,)
    )
    for dt in [*loop, out]:
        if dt not in _SUPPORTED:
            given = ", ".join(str(t.dtype) for t in ops if isinstance(t, Tensor))
            raise TypeError(
                f"{ufunc.__name__}: unsupported dtype {given}: NumPy computes this in {dt}, "
                "which Ember does not support; cast first"
            )
    ops = [
        _api.astype(t, dt) if isinstance(t, Tensor) and t.dtype != dt else t
        for t, dt in zip(ops, loop)
    ]
    return ops, out


# --- ufuncs ---------------------------------------------------------------------------------


def deg2rad(x):
    """``numpy.deg2rad``: ``x * (pi / 180)`` with the constant computed in the loop's dtype
    (``NPY_PIf / 180.0f`` for float32), as NumPy's loop does."""
    (t,), dt = _loop(np.deg2rad, x)
    return _api.multiply(t, dt.type(np.pi) / dt.type(180.0))


def rad2deg(x):
    """``numpy.rad2deg``: ``x * (180 / pi)`` with the constant computed in the loop's dtype
    (``180.0f / NPY_PIf`` for float32, which is not float32(180 / pi))."""
    (t,), dt = _loop(np.rad2deg, x)
    return _api.multiply(t, dt.type(180.0) / dt.type(np.pi))


radians = deg2rad
degrees = rad2deg


def trunc(x):
    """``numpy.trunc``: rounds toward zero (``ceil`` below zero, ``floor`` from zero up, so
    ``-0.0`` and ``-0.5`` keep their sign); integers and bools are returned as they are."""
    (t,), dt = _loop(np.trunc, x)
    if dt.kind != "f":
        return t
    return _api.where(_api.less(t, 0), _api.ceil(t), _api.floor(t))


def _nan_ignoring(ufunc, keep_first):
    def impl(x1, x2):
        (a, b), dt = _loop(ufunc, x1, x2)
        if dt.kind != "f":
            return (_api.maximum if ufunc is np.fmax else _api.minimum)(a, b)
        # NumPy's loop: (a >= b || isnan(b)) ? a : b (a <= b for fmin): a NaN gives the other
        # operand, an equal pair (-0.0 and 0.0) gives the first.
        first = _api.logical_or(keep_first(a, b), _api.isnan(b))
        return _api.where(first, a, b)

    impl.__name__ = ufunc.__name__
    kind = "maximum" if ufunc is np.fmax else "minimum"
    impl.__doc__ = f"``numpy.{ufunc.__name__}``: the elementwise {kind} ignoring NaNs (NaN only when both are)."
    return impl


fmax = _nan_ignoring(np.fmax, _api.greater_equal)
fmin = _nan_ignoring(np.fmin, _api.less_equal)


def heaviside(x1, x2):
    """``numpy.heaviside``: NaN where ``x1`` is NaN, ``x2`` where ``x1 == 0``, 0 below zero and
    1 above, in NumPy's float loop (float64 for integers; bool inputs need float16)."""
    (a, h0), dt = _loop(np.heaviside, x1, x2)
    step = _api.where(_api.less(a, 0), dt.type(0), dt.type(1))
    return _api.where(_api.isnan(a), dt.type(np.nan), _api.where(_api.equal(a, 0), h0, step))


def logaddexp(x1, x2):
    """``numpy.logaddexp``: ``log(exp(x1) + exp(x2))`` by NumPy's ``npy_logaddexp``: equal
    inputs give ``x + log(2)`` (so equal infinities stay infinite), otherwise the larger plus
    ``log1p(exp(-|x1 - x2|))``, and NaN when the difference is NaN."""
    (x, y), dt = _loop(np.logaddexp, x1, x2)
    loge2 = dt.type(np.log(2.0))
    tmp = _api.subtract(x, y)
    return _api.where(
        _api.equal(x, y),
        _api.add(x, loge2),
        _api.where(
            _api.greater(tmp, 0),
            _api.add(x, _api.log1p(_api.exp(_api.negative(tmp)))),
            _api.where(_api.less_equal(tmp, 0), _api.add(y, _api.log1p(_api.exp(tmp))), tmp),
        ),
    )


def divmod(x1, x2):
    """``numpy.divmod``: ``(floor_divide(x1, x2), remainder(x1, x2))``."""
    return _api.floor_divide(x1, x2), _api.remainder(x1, x2)


def float_power(x1, x2):
    """``numpy.float_power``: ``power`` computed in float64 whatever the inputs."""
    (a, b), _ = _loop(np.float_power, x1, x2)
    return _api.power(a, b)


def conjugate(x):
    """``numpy.conjugate`` of real numbers: the input itself (bool needs NumPy's int8 loop)."""
    (t,), _ = _loop(np.conjugate, x)
    return t


conj = conjugate

#: The ufuncs above by NumPy's ufunc name, for ``Tensor.__array_ufunc__``.
UNARY_UFUNCS = {
    "deg2rad": deg2rad,
    "radians": radians,
    "rad2deg": rad2deg,
    "degrees": degrees,
    "trunc": trunc,
    "conjugate": conjugate,
}
BINARY_UFUNCS = {
    "fmax": fmax,
    "fmin": fmin,
    "heaviside": heaviside,
    "logaddexp": logaddexp,
    "divmod": divmod,
    "float_power": float_power,
}


def ufunc_outer(name, a, b):
    """``np.<name>.outer(a, b)`` for a binary ufunc Ember implements: ``a`` reshaped to
    ``a.shape + (1,) * b.ndim`` and broadcast against ``b``. Both operands convert like
    ``np.asarray`` (a Python float is a float64 array here, as in NumPy's ``outer``)."""
    f = BINARY_UFUNCS.get(name) or getattr(_api, name)
    ta, tb = tensor(a), tensor(b)
    return f(_api.reshape(ta, tuple(ta.shape) + (1,) * tb.ndim), tb)


# --- functions ------------------------------------------------------------------------------


def _no_out(out):
    if out is not None:
        raise Unsupported("out=")


def fix(x, out=None):
    """``numpy.fix``: NumPy 2 computes it as ``trunc``."""
    _no_out(out)
    return trunc(x)


def isposinf(x, out=None):
    """``numpy.isposinf``: ``isinf(x) & ~signbit(x)`` (all False for integers and bools)."""
    _no_out(out)
    t = tensor(x)
    if t.dtype.kind != "f":
        return _api.isinf(t)
    return _api.logical_and(_api.isinf(t), _api.greater(t, 0))


def isneginf(x, out=None):
    """``numpy.isneginf``: ``isinf(x) & signbit(x)`` (all False for integers and bools)."""
    _no_out(out)
    t = tensor(x)
    if t.dtype.kind != "f":
        return _api.isinf(t)
    return _api.logical_and(_api.isinf(t), _api.less(t, 0))


def _fill_value(name, value, dtype):
    """``value`` as ``np.copyto`` would write it into ``dtype`` (its casting check, errors and
    rounding), as a NumPy scalar of that dtype."""
    if isinstance(value, Tensor):
        if value.is_traced:
            raise Unsupported(f"{name}= given as a traced tensor")
        value = value.numpy()
    if np.ndim(value) != 0:
        raise Unsupported(f"{name}= given as an array (only a scalar is traced)")
    out = np.zeros((), dtype)
    np.copyto(out, value)
    return out[()]


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """``numpy.nan_to_num``: NaN becomes ``nan``, +inf ``posinf`` (default: the dtype's
    largest value) and -inf ``neginf`` (default: its most negative), each cast as NumPy's
    ``copyto`` casts it. Integers and bools are returned as they are. ``copy=False`` (which
    writes into ``x``) raises :class:`Unsupported`: tensors are immutable."""
    if not copy:
        raise Unsupported("copy=False (NumPy replaces the values in place; tensors are immutable)")
    t = tensor(x)
    if t.dtype.kind != "f":
        return t
    info = np.finfo(t.dtype)
    nan_v = _fill_value("nan", nan, t.dtype)
    pos_v = _fill_value("posinf", info.max if posinf is None else posinf, t.dtype)
    neg_v = _fill_value("neginf", info.min if neginf is None else neginf, t.dtype)
    r = _api.where(_api.equal(t, -np.inf), neg_v, t)
    r = _api.where(_api.equal(t, np.inf), pos_v, r)
    return _api.where(_api.isnan(t), nan_v, r)


def sinc(x):
    """``numpy.sinc``: ``sin(y) / y`` for ``y = pi * x``, with ``y`` replaced by the float
    type's epsilon where it is zero (so ``sinc(0) == 1``)."""
    y = _api.multiply(np.pi, tensor(x))
    y = _api.where(_api.not_equal(y, 0), y, np.finfo(y.dtype).eps)
    return _api.divide(_api.sin(y), y)


def real(val):
    """``numpy.real`` of a real array: the array itself."""
    return tensor(val)


def imag(val):
    """``numpy.imag`` of a real array: zeros of its shape and dtype."""
    t = tensor(val)
    return _api.zeros(t.shape, t.dtype)


def isreal(x):
    """``numpy.isreal``: ``imag(x) == 0``, all True for a real array."""
    return _api.equal(imag(x), 0)


def iscomplex(x):
    """``numpy.iscomplex``: all False for a real array."""
    t = tensor(x)
    return _api.zeros(t.shape, "bool")


def iscomplexobj(x):
    """``numpy.iscomplexobj``: False, as Ember has no complex dtype."""
    tensor(x)  # an unsupported dtype (complex included) falls back to NumPy
    return False


def isrealobj(x):
    """``numpy.isrealobj``: True, as Ember has no complex dtype."""
    return not iscomplexobj(x)


def angle(z, deg=False):
    """``numpy.angle`` of real numbers: ``arctan2(0, z)`` (0 or pi; float64 for integers and
    bools), times ``180 / pi`` when ``deg``."""
    a = _api.arctan2(0, tensor(z))
    if deg:
        a = _api.multiply(a, 180 / np.pi)
    return a


def _is_weak(x):
    return isinstance(x, (int, float, complex))


def isclose(a, b, rtol=1.0e-5, atol=1.0e-8, equal_nan=False):
    """``numpy.isclose``: ``|a - b| <= atol + rtol * |b|`` where ``b`` is finite, or
    ``a == b`` (so equal infinities are close), or both NaN when ``equal_nan``; ``b`` is cast
    to a float type first, and Python scalars stay weak, as in NumPy."""
    x, y, atol, rtol = (v if _is_weak(v) else tensor(v) for v in (a, b, atol, rtol))
    if isinstance(y, Tensor):
        dt = np.result_type(y.dtype, 1.0)
        if y.dtype != dt:
            y = _api.astype(y, dt)
    elif isinstance(y, int):
        y = float(y)
    for tol in (atol, rtol):
        if isinstance(tol, Tensor) and tol.is_traced:
            raise Unsupported(
                "rtol/atol given as traced tensors (NumPy checks that they are finite)"
            )
    tols = [np.asarray(v.numpy() if isinstance(v, Tensor) else v) for v in (atol, rtol)]
    if not (np.all(np.isfinite(tols[0])) and np.all(np.isfinite(tols[1]))):
        err_s = np.geterr()["invalid"]
        err_msg = f"One of rtol or atol is not valid, atol: {atol}, rtol: {rtol}"
        if err_s == "warn":
            warnings.warn(err_msg, RuntimeWarning, stacklevel=3)
        elif err_s == "raise":
            raise FloatingPointError(err_msg)
        elif err_s == "print":
            print(err_msg)
    # NumPy's expression: Python scalars combine as Python numbers, tensors as weak-aware ops.
    result = ((abs(x - y) <= atol + rtol * abs(y)) & _isfinite(y)) | (x == y)
    if equal_nan:
        result = result | (_isnan(x) & _isnan(y))
    return result


def _isfinite(v):
    return math.isfinite(v) if _is_weak(v) else _api.isfinite(v)


def _isnan(v):
    return math.isnan(v) if _is_weak(v) else _api.isnan(v)
