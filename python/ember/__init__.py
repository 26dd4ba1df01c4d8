"""Ember: a graph compiler with eager fallback for NumPy code.

    import numpy as np, ember

    @ember.jit
    def f(a, b):
        return np.tanh(a * b) + 1

    f(np.ones(4, np.float32), np.ones(4, np.float32))

``ember.Tensor`` is an immutable array; ``ember.asarray`` borrows a NumPy array's memory
(no copy) when its dtype is supported (bool, int32, int64, float32, float64), its byte
order native and its data aligned; otherwise it copies. ``Tensor.numpy()`` and
``np.asarray(tensor)`` are read-only zero-copy views. A NumPy function Ember does not
implement runs in NumPy on concrete tensors; inside ``@ember.jit`` it makes the call fall back
to eager execution, with the reason recorded in ``f.cache_info()`` and warned once.
"""

import os as _os

from . import _ember, _indexing, linalg, testing
from ._api import *
from ._api import __all__ as _api_all
from ._einsum import einsum
from ._ember import (
    BackendError,
    DeviceError,
    EmberError,
    OutOfMemoryError,
    Tensor,
    TraceError,
    TransferError,
)
from ._functions import *
from ._functions import __all__ as _functions_all
from ._jit import (
    CacheInfo,
    EmberWarning,
    Explanation,
    FallbackWarning,
    JitFunction,
    Lowered,
    RetraceWarning,
    jit,
    viz,
)
from ._matrix_functions import *
from ._matrix_functions import __all__ as _matrix_all
from ._profile import Profile, profile
from ._shape_functions import *
from ._shape_functions import __all__ as _shape_all
from ._statistics import *
from ._statistics import __all__ as _statistics_all
from ._transfers import set_transfer_guard, transfer_guard, transfer_ledger
from ._ufunc_compositions import *
from ._ufunc_compositions import __all__ as _ufunc_compositions_all

_ember._set_package_dir(_os.path.dirname(_os.path.abspath(__file__)))
_indexing.install()

bool_ = "bool"
int32 = "int32"
int64 = "int64"
float32 = "float32"
float64 = "float64"


def from_dlpack(x):
    """Imports an object that implements ``__dlpack__`` (a NumPy array, another library's
    CPU tensor) without copying."""
    import numpy as np

    return asarray(np.from_dlpack(x))


def devices():
    """The devices Ember can run on: ``["cpu"]`` plus each CUDA device the driver reports
    (found at run time; with no driver, CUDA is simply absent), or the simulated ``cuda:0``
    of :func:`ember.testing.simulate_cuda`."""
    return _ember.devices()


def synchronize(device="cuda:0"):
    """Waits until the work queued on ``device`` has finished. Kernels on a GPU run
    asynchronously; reading a result waits by itself, so this is only needed for timing."""
    return _ember.synchronize(device)


def describe_device(device):
    """One line about ``device`` (``"cpu"``, ``"cuda:0"``): its name, architecture and
    memory, or that it is simulated. Raises :class:`DeviceError` when it is not available."""
    return _ember.describe_device(device)


__all__ = list(
    dict.fromkeys(
        list(_api_all)
        + list(_functions_all)
        + list(_matrix_all)
        + list(_shape_all)
        + list(_statistics_all)
        + list(_ufunc_compositions_all)
    )
) + [
    "einsum",
    "linalg",
    "Tensor",
    "jit",
    "JitFunction",
    "Lowered",
    "viz",
    "profile",
    "Profile",
    "CacheInfo",
    "Explanation",
    "EmberError",
    "TraceError",
    "BackendError",
    "DeviceError",
    "TransferError",
    "transfer_guard",
    "set_transfer_guard",
    "transfer_ledger",
    "EmberWarning",
    "FallbackWarning",
    "RetraceWarning",
    "from_dlpack",
    "devices",
    "describe_device",
    "synchronize",
    "OutOfMemoryError",
    "testing",
    "bool_",
    "int32",
    "int64",
    "float32",
    "float64",
]
