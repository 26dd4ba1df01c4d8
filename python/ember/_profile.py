"""``ember.profile()``: where time, compilation and copies go, mapped to your source lines.

    with ember.profile() as p:
        f(a, b)
    print(p.summary())
    p.export_chrome_trace("trace.json")   # open in https://ui.perfetto.dev or chrome://tracing

Events come from one recorder shared with the Rust runtime: calls of jitted functions, cache
hits and misses, retraces and fallbacks with their reasons, tracing, each pass, compiles,
kernels, library calls, copies (bytes, direction, cause) and allocations. Nothing is recorded
outside a session (unless ``EMBER_DEBUG`` is 2 or more), and the hooks then cost one check.

The helpers below are called by ``_jit.py`` only while ``active`` is true.
"""

from __future__ import annotations

import contextlib
import os
import threading

from . import _ember as _C

now = _C._profile_now
_record = _C._profile_record
_lock = threading.Lock()

# Sessions started from Python, plus one when EMBER_DEBUG >= 2 (kernel and copy lines are
# printed without a session). Read without the lock by the hooks: a plain int check.
active = 1 if _C._debug_level() >= 2 else 0


class Profile:
    """A profiling session. Use as ``with ember.profile() as p:`` (or ``start()`` /
    ``stop()``); afterwards read ``p.events``, ``p.summary()`` or export a Chrome trace.

    ``max_events_per_name`` events of each name are kept as they are; later ones are sampled
    (one in 2, 4, 8, ... as the count doubles) so long runs give small traces. The summary's
    counts and times always include every event."""

    def __init__(self, max_events_per_name=1000):
        if not isinstance(max_events_per_name, int) or max_events_per_name < 0:
            raise ValueError(
                f"max_events_per_name: expected an int >= 0, got {max_events_per_name!r}"
            )
        self._max = max_events_per_name
        self._session = None

    def start(self):
        """Starts recording. A session records once."""
        global active
        if self._session is not None:
            raise RuntimeError("this profile has already been started")
        with _lock:
            self._session = _C.Profiler(self._max)
            active += 1
        return self

    def stop(self):
        """Stops recording; results stay available. Stopping twice does nothing."""
        global active
        with _lock:
            if self._session is not None and self._session.active:
                self._session.stop()
                active -= 1

    def __del__(self):
        # A session dropped while recording must not leave the hooks on (at interpreter exit
        # the module's globals may already be gone).
        with contextlib.suppress(AttributeError, RuntimeError, TypeError):
            self.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _require(self):
        if self._session is None:
            raise RuntimeError("this profile has not been started")
        return self._session

    @property
    def events(self):
        """The recorded events, ordered by start, as dicts with ``kind``, ``name``,
        ``start_ns`` (since the session's start), ``duration_ns``, ``thread``, ``device``,
        ``stream``, ``bytes``, ``flops``, ``direction``, ``reason``, ``locations``
        (``"file:line"`` strings) and ``launch_ns``. Kernels, library calls and copies on
        a device are timed by the device (CUDA events around each on its stream; the
        simulated device times its execution): their ``duration_ns`` is the device's time,
        ``start_ns`` their place on the device's timeline, and ``launch_ns`` the time the
        host spent launching them (``None`` for events timed on the host)."""
        return self._require().events()

    @property
    def dropped_events(self):
        """Events counted in the summary but sampled out of ``events`` and the trace."""
        return self._require().dropped_events

    def summary(self):
        """A table of where time went: compile work apart from run work; per kernel or op
        the calls, total and mean time, share of the run, GB/s, GFLOP/s and the source lines
        fused into it; copies; the cache (hits, misses, retrace and fallback reasons);
        peak memory per device."""
        return self._require().summary()

    def chrome_trace(self):
        """The session as Chrome trace-event JSON text."""
        return self._require().chrome_trace()

    def export_chrome_trace(self, path):
        """Writes the Chrome trace (loads in Perfetto and chrome://tracing) to ``path``."""
        self._require().export_chrome_trace(os.fspath(path))

    def peak_memory(self, device="cpu"):
        """The most bytes allocated at once on ``device`` during the session."""
        return self._require().peak_memory(device)

    def __repr__(self):
        state = (
            "not started"
            if self._session is None
            else ("recording" if self._session.active else "stopped")
        )
        return f"<ember.Profile {state}>"


def profile(max_events_per_name=1000):
    """A :class:`Profile` session to use as ``with ember.profile() as p:``."""
    return Profile(max_events_per_name)


# -- hooks used by _jit.py while `active` -----------------------------------------------


def span(kind, name, start, reason=None):
    """Records a span from ``start`` to now; returns now."""
    end = now()
    _record(kind, name, start, end - start, reason=reason)
    return end


def instant(kind, name, at=None, reason=None):
    """Records an instant (a cache hit, miss, retrace or fallback)."""
    _record(kind, name, now() if at is None else at, reason=reason)


# call_done(name, start, hit=False): records a finished call of a jitted function (after a
# cache hit when ``hit``) in one crossing into Rust.
call_done = _C._profile_call


def cache_miss(name, retrace_reason):
    """Records a cache miss, and a retrace with its reason when the function had traced."""
    t = now()
    _record("cache_miss", name, t)
    if retrace_reason is not None:
        _record("retrace", name, t, reason=retrace_reason)


def compiled(name, start, compiled):
    """Records a compile that ran from ``start`` to now and its passes, laid end to end from
    ``start`` (they run one after another inside the compile)."""
    end = now()
    t = start
    for pass_name, _changed, secs, _text in compiled.passes:
        dur = int(secs * 1e9)
        _record("pass", pass_name, t, dur)
        t += dur
    _record("compile", name, start, end - start)


def eager_call(jitted, reason, start, args, kwargs):
    """Runs the jitted function's Python function eagerly (the call falls back), recording the
    fallback with its reason, the eager run as a host call and the call itself."""
    name = jitted.__name__
    _record("fallback", name, start, reason=reason)
    t = now()
    try:
        return jitted._fn(*args, **kwargs)
    finally:
        span("host_call", f"{name} (eager)", t, reason=reason)
        span("call", name, start)
