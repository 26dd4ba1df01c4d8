"""NumPy-like functions of the ``ember`` namespace (``ember.exp``, ``ember.sum``, ...).

Each function accepts array-likes (Ember tensors, NumPy arrays, lists, Python scalars),
follows NumPy 2 semantics (NEP 50 promotion included) and returns an ``ember.Tensor``.
Inside ``@ember.jit`` the same calls are traced instead of executed.
"""

from __future__ import annotations

from . import _ember as _C

_UNARY, _BINARY = _C.op_names()

__all__ = (
    list(_UNARY)
    + list(_BINARY)
    + [
        "abs",
        "asarray",
        "clip",
        "concatenate",
        "stack",
        "where",
        "matmul",
        "dot",
        "sum",
        "prod",
        "mean",
        "var",
        "std",
        "max",
        "min",
        "amax",
        "amin",
        "argmax",
        "argmin",
        "any",
        "all",
        "reshape",
        "transpose",
        "expand_dims",
        "squeeze",
        "broadcast_to",
        "swapaxes",
        "ravel",
        "astype",
        "zeros",
        "ones",
        "full",
        "arange",
        "linspace",
        "eye",
        "zeros_like",
        "ones_like",
        "full_like",
        "softmax",
        "log_softmax",
        "logsumexp",
        "gelu",
        "silu",
        "layer_norm",
        "true_divide",
        "mod",
        "rint",
        "pow",
        "fabs",
    ]
)


def _make_unary(name):
    def f(x):
        return _C.unary(name, x)

    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` like ``numpy.{name}``."
    return f


def _make_binary(name):
    def f(x1, x2):
        return _C.binary(name, x1, x2)

    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` with broadcasting like ``numpy.{name}``."
    return f


for _n in _UNARY:
    globals()[_n] = _make_unary(_n)
for _n in _BINARY:
    globals()[_n] = _make_binary(_n)

abs = globals()["absolute"]


def _float_loop(name, impl):
    """NumPy's ``rint`` and ``fabs`` have float loops only: integers compute in float64 (and
    bool in float16, which Ember refuses as it does for ``np.sqrt``)."""

    def f(x):
        t = _C.asarray(x)
        if t.dtype.kind == "b":
            raise TypeError(
                f"{name}: unsupported dtype bool: NumPy computes this in float16, which Ember "
                "does not support; cast first"
            )
        return impl(_C.astype(t, "float64") if t.dtype.kind in "iu" else t)

    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` like ``numpy.{name}`` (float64 for integers)."
    return f


fabs = _float_loop("fabs", globals()["absolute"])
rint = _float_loop("rint", globals()["round"])
true_divide = globals()["divide"]
mod = globals()["remainder"]
pow = globals()["power"]
asarray = _C.asarray
astype = _C.astype
matmul = _C.matmul
where = _C.where
zeros = _C.zeros
ones = _C.ones
full = _C.full
arange = _C.arange
linspace = _C.linspace
eye = _C.eye


def clip(a, a_min=None, a_max=None):
    """``numpy.clip``: limit values to ``[a_min, a_max]``."""
    return _C.clip(a, a_min, a_max)


def concatenate(arrays, axis=0):
    """``numpy.concatenate``."""
    return _C.concatenate(list(arrays), axis)


def stack(arrays, axis=0):
    """``numpy.stack``."""
    return _C.stack(list(arrays), axis)


def dot(a, b):
    """``numpy.dot`` for 1-d and 2-d operands (matmul); scalars multiply."""
    ta, tb = asarray(a), asarray(b)
    if ta.ndim == 0 or tb.ndim == 0:
        return multiply(ta, tb)  # noqa: F821 - defined in the loop above
    if ta.ndim > 2 or tb.ndim > 2:
        raise NotImplementedError("ember.dot supports 1-d and 2-d operands; use matmul")
    return _C.matmul(ta, tb)


def _in_dtype(r, dtype):
    # The extension casts the input to ``dtype`` and reduces in NumPy's default accumulator
    # (int64 for int32); casting back wraps exactly as an int32 accumulation does.
    return r if dtype is None or r.dtype == dtype else _C.astype(r, dtype)


def sum(a, axis=None, dtype=None, keepdims=False):
    """``numpy.sum``."""
    return _in_dtype(_C.reduce("sum", a, axis, dtype, keepdims), dtype)


def prod(a, axis=None, dtype=None, keepdims=False):
    """``numpy.prod``."""
    return _in_dtype(_C.reduce("prod", a, axis, dtype, keepdims), dtype)


def mean(a, axis=None, dtype=None, keepdims=False):
    """``numpy.mean``."""
    return _C.reduce("mean", a, axis, dtype, keepdims)


def max(a, axis=None, keepdims=False):
    """``numpy.max``."""
    return _C.reduce("max", a, axis, None, keepdims)


def min(a, axis=None, keepdims=False):
    """``numpy.min``."""
    return _C.reduce("min", a, axis, None, keepdims)


amax = max
amin = min


def argmax(a, axis=None, keepdims=False):
    """``numpy.argmax``."""
    return _C.reduce("argmax", a, axis, None, keepdims)


def argmin(a, axis=None, keepdims=False):
    """``numpy.argmin``."""
    return _C.reduce("argmin", a, axis, None, keepdims)


def any(a, axis=None, keepdims=False):
    """``numpy.any``."""
    return _C.reduce("any", a, axis, None, keepdims)


def all(a, axis=None, keepdims=False):
    """``numpy.all``."""
    return _C.reduce("all", a, axis, None, keepdims)


def var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """``numpy.var``."""
    return _C.moment("var", a, axis, dtype, ddof, keepdims)


def std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """``numpy.std``."""
    return _C.moment("std", a, axis, dtype, ddof, keepdims)


def reshape(a, shape):
    """``numpy.reshape``."""
    return _C.movement("reshape", a, shape)


def transpose(a, axes=None):
    """``numpy.transpose``."""
    return _C.movement("transpose", a, axes)


def expand_dims(a, axis):
    """``numpy.expand_dims``."""
    return _C.movement("expand_dims", a, axis)


def squeeze(a, axis=None):
    """``numpy.squeeze``."""
    return _C.movement("squeeze", a, axis)


def broadcast_to(a, shape):
    """``numpy.broadcast_to``."""
    return _C.movement("broadcast_to", a, shape)


def swapaxes(a, axis1, axis2):
    """``numpy.swapaxes``."""
    return _C.movement("swapaxes", a, axis1, axis2)


def ravel(a):
    """``numpy.ravel``."""
    return _C.movement("reshape", a, -1)


def zeros_like(a, dtype=None):
    """``numpy.zeros_like``."""
    t = asarray(a)
    return _C.zeros(t.shape, dtype if dtype is not None else t.dtype)


def ones_like(a, dtype=None):
    """``numpy.ones_like``."""
    t = asarray(a)
    return _C.ones(t.shape, dtype if dtype is not None else t.dtype)


def full_like(a, fill_value, dtype=None):
    """``numpy.full_like``."""
    t = asarray(a)
    return _C.full(t.shape, fill_value, dtype if dtype is not None else t.dtype)


def softmax(x, axis=-1):
    """Softmax along ``axis`` (numerically stable)."""
    return _C.composite("softmax", x, axis)


def log_softmax(x, axis=-1):
    """Log-softmax along ``axis``."""
    return _C.composite("log_softmax", x, axis)


def logsumexp(x, axis=None, keepdims=False):
    """``scipy.special.logsumexp`` (numerically stable)."""
    return _C.composite("logsumexp", x, axis, keepdims)


def gelu(x, approximate=False):
    """Gaussian error linear unit; ``approximate=True`` uses the tanh form."""
    return _C.composite("gelu", x, approximate=approximate)


def silu(x):
    """``x * sigmoid(x)``."""
    return _C.composite("silu", x)


def layer_norm(x, axis=-1, eps=1e-5):
    """Layer normalization over ``axis`` (no affine parameters)."""
    return _C.composite("layer_norm", x, axis, eps=eps)
