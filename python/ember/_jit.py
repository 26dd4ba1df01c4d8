"""``@ember.jit``: trace once per signature, optimize, compile, cache; fall back to eager
execution (with a reason) when tracing meets something it cannot record."""

from __future__ import annotations

import collections
import functools
import inspect
import os
import sys
import threading
import traceback
import warnings

import numpy as np

from . import _ember as _C
from . import _profile as _prof
from ._ember import Tensor, TraceError
from ._pytree import flatten, unflatten

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_DEBUG = int(os.environ.get("EMBER_DEBUG", "0") or 0)
_state = threading.local()
_SCALARS = (bool, int, float)
_SUPPORTED = {"b1", "i4", "i8", "f4", "f8"}


def _is_scalar(leaf):
    """A Python scalar: static and weak under NEP 50. ``np.float64`` subclasses ``float`` but
    is a NumPy scalar, strongly typed and passed like a 0-d array."""
    return isinstance(leaf, _SCALARS) and not isinstance(leaf, np.generic)


class EmberWarning(UserWarning):
    """Base class of Ember's warnings."""


class FallbackWarning(EmberWarning):
    """A jitted call ran eagerly because tracing met something it cannot record."""


class RetraceWarning(EmberWarning):
    """A jitted function keeps retracing because an argument keeps changing."""


def _debug(level, msg):
    if _DEBUG >= level:
        print(f"[ember] {msg}", file=sys.stderr)


def _user_frame(tb):
    """The innermost traceback frame outside the ember package, as ``file:line``."""
    frames = [f for f in traceback.extract_tb(tb) if not f.filename.startswith(_PACKAGE_DIR)]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "<unknown>"


def _leaf_signature(leaf, where):
    """The cache-key entry of one argument leaf."""
    if isinstance(leaf, np.ndarray):
        return ("a", leaf.dtype.str, leaf.shape)
    if isinstance(leaf, Tensor):
        return ("t", leaf.dtype.str, leaf.shape, leaf.device)
    if _is_scalar(leaf):
        # Python scalars are static: their value is part of the key (NEP 50 keeps them weak).
        return ("s", type(leaf).__name__, leaf)
    if isinstance(leaf, np.generic):
        return ("a", leaf.dtype.str, ())
    raise TypeError(
        f"{where}: expected an array, an ember.Tensor or a Python scalar, got {type(leaf).__name__}"
    )


def _describe(sig):
    if sig[0] in ("a", "t"):
        d = np.dtype(sig[1])
        return f"{d.name if d.isnative else d.str}{list(sig[2])}"
    return f"{sig[1]} {sig[2]!r}"


class _Entry:
    __slots__ = ("compiled", "eager_reason", "out_tensors", "out_tree")

    def __init__(self):
        self.compiled = None
        self.eager_reason = None
        self.out_tree = None
        self.out_tensors = False


class CacheInfo(collections.namedtuple("CacheInfo", "hits misses retraces fallbacks entries")):
    """Counters of a jitted function: ``hits``, ``misses``, ``retraces`` (list of reasons),
    ``fallbacks`` (list of reasons) and the number of cache ``entries``."""


class Explanation:
    """What ``f.explain(*args)`` returns: the graph as traced, after each pass, the final
    graph and plan, or the reason the call falls back to eager execution."""

    def __init__(self, name, compiled=None, fallback=None):
        self.name = name
        self.fallback = fallback
        self.traced = compiled.traced_text if compiled else None
        self.passes = (
            [(n, changed, secs, text) for (n, changed, secs, text) in compiled.passes]
            if compiled
            else []
        )
        self.optimized = compiled.optimized_text if compiled else None
        self.plan = compiled.plan_summary if compiled else None
        self.dot = compiled.plan_dot if compiled else None
        self.compile_seconds = compiled.compile_seconds if compiled else None
        #: The placement pass's decisions (devices, copies, costs), or None on the host.
        self.placement = compiled.placement_text if compiled else None
        #: ``(name, kernel IR, CUDA C, source lines, compile seconds)`` per compiled kernel.
        self.kernels = compiled.kernels if compiled else []

    def __str__(self):
        return self.format(code=True)

    def format(self, code=True):
        """The explanation as text; ``code=False`` leaves out the generated kernels."""
        if self.fallback:
            return f"{self.name}: runs eagerly: {self.fallback}"
        lines = [f"== {self.name}: traced ==", self.traced]
        for name, changed, secs, text in self.passes:
            mark = "changed" if changed else "no change"
            lines.append(f"== after {name} ({mark}, {secs * 1e3:.2f} ms) ==")
            if changed and text:
                lines.append(text)
        lines += ["== optimized ==", self.optimized]
        if self.placement:
            lines += ["== placement ==", self.placement]
        lines.append(f"== plan == {self.plan}")
        for name, ir, cuda, locs, secs in self.kernels if code else []:
            where = ", ".join(locs) or "no source line"
            lines += [
                f"== kernel {name} ({where}; compiled in {secs * 1e3:.2f} ms) ==",
                ir,
                "-- as CUDA C --",
                cuda,
            ]
        lines.append(f"compiled in {self.compile_seconds * 1e3:.2f} ms")
        return "\n".join(lines)

    __repr__ = __str__


class Lowered:
    """A jitted call lowered for given arguments (see :meth:`JitFunction.lower`)."""

    def __init__(self, explanation):
        self.explanation = explanation
        self.kernels = explanation.kernels

    def as_text(self):
        """The optimized graph in IR text form (or the fallback reason)."""
        return self.explanation.optimized or f"runs eagerly: {self.explanation.fallback}"

    def as_dot(self):
        """Graphviz DOT of the optimized graph: kernels as clusters, copies in red."""
        if self.explanation.dot is None:
            raise ValueError(
                f"{self.explanation.name} runs eagerly ({self.explanation.fallback}); there is no graph"
            )
        return self.explanation.dot

    def __str__(self):
        return str(self.explanation)


def viz(f, *args, path="ember_graph.svg", **kwargs):
    """Writes the optimized graph of ``f(*args)`` (kernels as clusters, copies highlighted) to
    ``path``: SVG through Graphviz's ``dot`` when it is installed, else the DOT text next to it
    (``.dot``), with a warning that says so. Returns the path written."""
    import shutil
    import subprocess

    dot = f.lower(*args, **kwargs).as_dot()
    exe = shutil.which("dot")
    if exe is None or not path.endswith(".svg"):
        out = path if path.endswith(".dot") else os.path.splitext(path)[0] + ".dot"
        with open(out, "w") as fh:
            fh.write(dot)
        if exe is None and not path.endswith(".dot"):
            warnings.warn(
                f"ember.viz: Graphviz 'dot' not found; wrote DOT text to {out}",
                EmberWarning,
                stacklevel=2,
            )
        return out
    subprocess.run([exe, "-Tsvg", "-o", path], input=dot.encode(), check=True)
    return path


class JitFunction:
    """A function compiled by Ember per argument signature. Call it like the original."""

    def __init__(
        self,
        fn,
        static_argnums=(),
        static_argnames=(),
        fallback="eager",
        transfer_guard=None,
        device=None,
    ):
        if device is not None and not (
            isinstance(device, str)
            and (device in ("cpu", "cuda", "gpu", "auto") or _is_cuda_ordinal(device))
        ):
            raise ValueError(
                f"device: expected None, 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}"
            )
        self._device = device
        if transfer_guard not in (None, "allow", "log", "disallow"):
            raise ValueError(
                f"transfer_guard: expected 'allow', 'log' or 'disallow', got {transfer_guard!r}"
            )
        self._transfer_guard = transfer_guard
        if fallback not in ("eager", "error"):
            raise ValueError(f"fallback: expected 'eager' or 'error', got {fallback!r}")
        if not callable(fn):
            raise TypeError(f"ember.jit: expected a function, got {type(fn).__name__}")
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._static_argnums = frozenset(
            (static_argnums,) if isinstance(static_argnums, int) else static_argnums
        )
        self._static_argnames = frozenset(
            (static_argnames,) if isinstance(static_argnames, str) else static_argnames
        )
        self._fallback = fallback
        self._cache = {}
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._retraces = []
        self._fallbacks = []
        # Fast path for the common call f(array, array, ...): keyed by each argument's type,
        # dtype and shape only, it skips pytree flattening (see __call__).
        self._fast = _C.FastCache()
        self._fast_seen = 0
        self._fast_ok = (
            not self._static_argnums and not self._static_argnames and transfer_guard is None
        )
        self._recent = collections.deque(maxlen=10)
        self._last_key = None
        self._warned_retrace = False
        try:
            self._param_names = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            self._param_names = []

    # -- signature -------------------------------------------------------------------
    def _arg_name(self, i):
        return (
            f"argument '{self._param_names[i]}'" if i < len(self._param_names) else f"argument {i}"
        )

    def _split(self, args, kwargs):
        """Separates static arguments, flattens the rest; returns (key, leaves, rebuild)."""
        dyn_args = []
        static = []
        for i, a in enumerate(args):
            if i in self._static_argnums:
                static.append(("p", i, a))
                dyn_args.append(None)
            else:
                dyn_args.append(a)
        dyn_kwargs = {}
        for k in sorted(kwargs):
            if k in self._static_argnames:
                static.append(("k", k, kwargs[k]))
            else:
                dyn_kwargs[k] = kwargs[k]
        leaves = []
        structure = flatten((tuple(dyn_args), dyn_kwargs), leaves)
        sigs = tuple(
            _leaf_signature(leaf, f"{self.__name__}: argument leaf {i}")
            for i, leaf in enumerate(leaves)
        )
        try:
            key = (structure, tuple(static), sigs)
            hash(key)
        except TypeError as e:
            raise TypeError(f"{self.__name__}: static arguments must be hashable ({e})") from None
        return key, leaves

    def _retrace_reason(self, key):
        old = self._last_key
        if old is None:
            return None
        if old[0] != key[0]:
            return "the structure of the arguments changed"
        if old[1] != key[1]:
            return f"static arguments changed from {old[1]!r} to {key[1]!r}"
        for i, (a, b) in enumerate(zip(old[2], key[2])):
            if a != b:
                return f"argument leaf {i} changed from {_describe(a)} to {_describe(b)}"
        return "a new signature"

    # -- calling ---------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        t0 = _prof.now() if _prof.active else 0
        if self._fast_ok and not kwargs and getattr(_state, "depth", 0) == 0:
            r = self._fast.call(args)
            if r is not None:
                if t0:
                    _prof.call_done(self.__name__, t0, hit=True)
                return r
        if getattr(_state, "depth", 0) > 0:
            # Called while another function is being traced: inline (like JAX).
            return self._fn(*args, **kwargs)
        key, leaves = self._split(args, kwargs)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._miss(key, leaves, args, kwargs)
        else:
            self._hits += 1
            self._recent.append(False)
            if t0:
                _prof.instant("cache_hit", self.__name__, t0)
        if entry.eager_reason is not None:
            if t0:
                return _prof.eager_call(self, entry.eager_reason, t0, args, kwargs)
            return self._fn(*args, **kwargs)
        tree = entry.out_tree
        if self._fast_ok and not kwargs:
            if tree == "*":
                self._fast.insert(args, entry.compiled, "*", entry.out_tensors)
            elif tree[0] in "LT" and all(t == "*" for t in tree[1]):
                self._fast.insert(args, entry.compiled, tree[0], entry.out_tensors)
        arrays = [leaf for leaf in leaves if not _is_scalar(leaf)]
        if self._transfer_guard is None:
            outs = entry.compiled.run(arrays)
        else:
            prev = _C.set_transfer_guard(self._transfer_guard, "thread")
            try:
                outs = entry.compiled.run(arrays)
            finally:
                _C.set_transfer_guard(prev, "thread")
        if not entry.out_tensors:
            outs = [o.numpy() for o in outs]
        if t0:
            _prof.call_done(self.__name__, t0)
        return unflatten(entry.out_tree, iter(outs))

    def _miss(self, key, leaves, args, kwargs):
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                return entry
            self._misses += 1
            fast_hits = self._fast.hits - self._fast_seen
            self._fast_seen = self._fast.hits
            self._recent.extend([False] * min(fast_hits, 10))
            self._recent.append(True)
            reason = self._retrace_reason(key)
            if _prof.active:
                _prof.cache_miss(self.__name__, reason)
            if reason is not None:
                self._retraces.append(reason)
                _debug(1, f"retrace {self.__name__}: {reason}")
                if sum(self._recent) > 5 and not self._warned_retrace:
                    self._warned_retrace = True
                    warnings.warn(
                        f"{self.__name__} retraced {sum(self._recent)} of its last {len(self._recent)} calls; "
                        f"last reason: {reason}. Pass changing Python values as arrays, or mark them static.",
                        RetraceWarning,
                        stacklevel=4,
                    )
            self._last_key = key
            entry = self._trace(key, leaves, args, kwargs)
            self._cache[key] = entry
            return entry

    def _trace(self, key, leaves, args, kwargs):
        t_trace = _prof.now() if _prof.active else 0
        entry = _Entry()
        trace = _C.Trace()
        traced = []
        for leaf in leaves:
            if _is_scalar(leaf):
                traced.append(leaf)
            else:
                arr = leaf if isinstance(leaf, Tensor) else np.asarray(leaf)
                if (
                    not isinstance(leaf, Tensor)
                    and arr.dtype.kind + str(arr.itemsize) not in _SUPPORTED
                ):
                    raise TypeError(
                        f"{self.__name__}: unsupported dtype {arr.dtype}; Ember supports bool, int32, int64, float32, float64"
                    )
                device = leaf.device if isinstance(leaf, Tensor) else "cpu"
                traced.append(trace.input(arr.dtype, list(arr.shape), device))
        entry.out_tensors = any(isinstance(leaf, Tensor) for leaf in leaves)
        structure = key[0]
        dyn_args, dyn_kwargs = unflatten(structure, iter(traced))
        call_args = [a for a in dyn_args]
        call_kwargs = dict(dyn_kwargs)
        for kind, k, v in key[1]:
            if kind == "p":
                call_args[k] = v
            else:
                call_kwargs[k] = v
        _state.depth = getattr(_state, "depth", 0) + 1
        try:
            out = self._fn(*call_args, **call_kwargs)
        except TraceError as e:
            where = _user_frame(e.__traceback__)
            if t_trace:
                _prof.span("trace", self.__name__, t_trace)
            reason = f"{e} (at {where})"
            if self._fallback == "error":
                raise TraceError(f"{self.__name__}: {reason}") from None
            entry.eager_reason = reason
            self._fallbacks.append(reason)
            _debug(1, f"fallback {self.__name__}: {reason}")
            warnings.warn(
                f"ember.jit: {self.__name__} runs eagerly: {reason}", FallbackWarning, stacklevel=5
            )
            return entry
        except RecursionError:
            raise RecursionError(
                f"{self.__name__}: recursion while tracing; a jitted function cannot call itself "
                "with a data-dependent depth"
            ) from None
        finally:
            _state.depth -= 1
        out_leaves = []
        entry.out_tree = flatten(out, out_leaves)
        for i, o in enumerate(out_leaves):
            if not isinstance(o, (Tensor, np.ndarray, np.generic) + _SCALARS):
                raise TypeError(
                    f"{self.__name__}: output leaf {i} is a {type(o).__name__}; a jitted function must "
                    "return arrays (or tuples, lists, dicts of arrays)"
                )
        t_compile = _prof.span("trace", self.__name__, t_trace) if t_trace else 0
        entry.compiled = trace.finish(out_leaves, self.__name__, self._device)
        if t_compile:
            _prof.compiled(self.__name__, t_compile, entry.compiled)
        if _DEBUG >= 3:
            _debug(3, Explanation(self.__name__, entry.compiled).format(code=_DEBUG >= 4))
        _debug(
            1,
            f"compile {self.__name__}: {entry.compiled.plan_summary} in {entry.compiled.compile_seconds * 1e3:.2f} ms",
        )
        return entry

    # -- introspection ---------------------------------------------------------------
    def explain(self, *args, **kwargs):
        """Traces (or looks up) the call for these arguments and returns an
        :class:`Explanation` with the graph before and after each pass, or the fallback
        reason."""
        key, leaves = self._split(args, kwargs)
        entry = self._cache.get(key) or self._miss(key, leaves, args, kwargs)
        return Explanation(self.__name__, entry.compiled, entry.eager_reason)

    def placement(self, *args, target="simulated", **kwargs):
        """What the device-placement pass decides for this call on ``target``: each node's
        device, each copy with its bytes and reason, and the estimated costs (all-host and
        all-device baselines included). ``target="simulated"`` models a host plus a GPU, so the
        decisions can be read on a machine without one; the compiled plan is unchanged."""
        e = self.explain(*args, **kwargs)
        if e.fallback:
            return f"{self.__name__}: runs eagerly: {e.fallback}"
        key, _ = self._split(args, kwargs)
        return self._cache[key].compiled.placement(target)

    def lower(self, *args, **kwargs):
        """The compiled form of the call for these arguments: ``.as_dot()`` (the optimized
        graph with kernels as clusters and copies highlighted), ``.as_text()``, ``.kernels``."""
        return Lowered(self.explain(*args, **kwargs))

    def cache_info(self):
        """Hits, misses, retrace reasons, fallback reasons and entries of this function."""
        return CacheInfo(
            self._hits + self._fast.hits,
            self._misses,
            list(self._retraces),
            list(self._fallbacks),
            len(self._cache),
        )

    def clear_cache(self):
        """Forgets every compiled signature."""
        with self._lock:
            self._cache.clear()
            self._fast.clear()
            self._last_key = None


def _is_cuda_ordinal(s):
    return s.startswith("cuda:") and s[5:].isdigit()


def jit(
    fn=None,
    *,
    static_argnums=(),
    static_argnames=(),
    fallback="eager",
    transfer_guard=None,
    device=None,
):
    """Compiles ``fn`` per argument signature. Use as ``@ember.jit`` or
    ``ember.jit(f, static_argnums=..., static_argnames=..., fallback="eager"|"error",
    transfer_guard=None|"allow"|"log"|"disallow", device=None|"cpu"|"cuda"|"cuda:N"|"auto")``.

    ``device``: ``None`` runs where the arguments are (the host for NumPy arrays; the GPU for
    tensors on a GPU, whose results stay there); ``"cuda"`` runs every op the GPU can run on
    it, copying host arguments in and results out once each (each copy in
    ``ember.transfer_ledger()`` with its reason); ``"auto"`` lets the placement pass choose
    per op from estimated compute and copy times. ``f.explain(*args)`` shows the decisions."""
    if fn is None:
        return lambda f: JitFunction(
            f, static_argnums, static_argnames, fallback, transfer_guard, device
        )
    return JitFunction(fn, static_argnums, static_argnames, fallback, transfer_guard, device)
