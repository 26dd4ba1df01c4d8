"""``ember.profile()``: event counts and order for known functions, reasons for retraces,
fallbacks and copies, the summary's sections, a Chrome trace that follows the trace-event
format, sampling of long runs, and the ``EMBER_DEBUG`` levels."""

import inspect
import json
import os
import subprocess
import sys
import threading
import warnings

import ember
import numpy as np
import pytest
from ember import _profile

DEBUG = ember._ember._debug_level()


def kinds(p, *wanted):
    return [e["kind"] for e in p.events if not wanted or e["kind"] in wanted]


def scale_add(a, b):
    return np.tanh(a * b) + 1.0


def test_off_by_default_and_no_events_outside_a_session():
    if DEBUG >= 2:
        pytest.skip("EMBER_DEBUG >= 2 records without a session by design")
    assert _profile.active == 0
    f = ember.jit(scale_add)
    a = np.ones(8, np.float32)
    f(a, a)
    with ember.profile() as p:
        assert _profile.active == 1
    assert _profile.active == 0
    f(a, a)
    assert p.events == []


def test_one_compile_then_only_hits():
    f = ember.jit(scale_add)
    a = np.linspace(0, 1, 64, dtype=np.float32)
    with ember.profile() as p:
        for _ in range(5):
            f(a, a)
    ev = p.events
    count = {k: sum(e["kind"] == k for e in ev) for k in {e["kind"] for e in ev}}
    assert count["call"] == 5
    assert count["cache_miss"] == 1
    assert count["cache_hit"] == 4
    assert count["trace"] == 1
    assert count["compile"] == 1
    assert count["pass"] >= 1
    assert "retrace" not in count and "fallback" not in count
    # Ordered by start: the first call misses, traces, then compiles (its passes inside);
    # every later call is a hit.
    order = [k for k in kinds(p) if k in ("cache_miss", "trace", "compile", "cache_hit")]
    assert order == ["cache_miss", "trace", "compile"] + ["cache_hit"] * 4
    compile_ev = next(e for e in ev if e["kind"] == "compile")
    start, end = compile_ev["start_ns"], compile_ev["start_ns"] + compile_ev["duration_ns"]
    for e in ev:
        if e["kind"] == "pass":
            assert start <= e["start_ns"] and e["start_ns"] + e["duration_ns"] <= end
    starts = [e["start_ns"] for e in ev]
    assert starts == sorted(starts)
    calls = [e for e in ev if e["kind"] == "call"]
    assert all(e["name"] == "scale_add" and e["duration_ns"] > 0 for e in calls)


def test_retrace_is_recorded_with_its_reason():
    f = ember.jit(scale_add)
    with ember.profile() as p:
        f(np.ones(3, np.float32), np.ones(3, np.float32))
        f(np.ones(4, np.float32), np.ones(4, np.float32))
    retraces = [e for e in p.events if e["kind"] == "retrace"]
    assert len(retraces) == 1
    assert retraces[0]["reason"] == "argument leaf 0 changed from float32[3] to float32[4]"
    assert kinds(p, "cache_miss", "compile").count("compile") == 2


def needs_a_value(x):
    if float(x.sum()) > 0:  # a data-dependent branch: cannot be traced
        return x * 2
    return x


def test_fallback_is_recorded_with_its_reason():
    f = ember.jit(needs_a_value)
    x = np.ones(5, np.float32)
    with ember.profile() as p, warnings.catch_warnings():
        warnings.simplefilter("ignore", ember.FallbackWarning)
        f(x)
        f(x)
    fallbacks = [e for e in p.events if e["kind"] == "fallback"]
    assert len(fallbacks) == 2  # each call that runs eagerly
    reason = fallbacks[0]["reason"]
    assert reason == f.cache_info().fallbacks[0]
    assert "test_profile.py" in reason
    assert "compile" not in kinds(p)
    eager = [e for e in p.events if e["kind"] == "host_call"]
    assert [e["name"] for e in eager] == ["needs_a_value (eager)"] * 2
    assert "fallback needs_a_value: " in p.summary()


def test_a_copy_is_recorded_with_its_bytes_direction_and_cause():
    f = ember.jit(scale_add)
    a = np.arange(1000, dtype=np.float32)
    swapped = a.astype(">f4")  # the boundary must copy to native byte order
    with ember.profile() as p:
        got = f(swapped, a)
        f(a, a)  # borrowed: no copy
    np.testing.assert_allclose(got, scale_add(a, a), rtol=1e-6)
    copies = [e for e in p.events if e["kind"] == "transfer"]
    assert len(copies) == 1
    c = copies[0]
    assert c["bytes"] == 4000
    assert c["direction"] == "h2h"
    assert "non-native byte order" in c["reason"]
    s = p.summary()
    assert "-- copies: 1 moving 4.0 KB --" in s
    assert "non-native byte order" in s


def test_summary_separates_compile_from_run_and_counts_calls():
    f = ember.jit(scale_add)
    a = np.ones(32, np.float32)
    with ember.profile() as p:
        for _ in range(3):
            f(a, a)
    s = p.summary()
    assert s.index("-- compile:") < s.index("-- calls of jitted functions --")
    assert "trace scale_add" in s and "compile scale_add" in s
    assert "scale_add: 2 hit(s), 1 miss(es), 0 retrace(s), 0 fallback(s)" in s


def test_kernel_events_carry_rates_and_fused_source_lines():
    f = ember.jit(scale_add)
    a = np.ones(4096, np.float32)
    with ember.profile() as p:
        f(a, a)
        f(a, a)
    run = [e for e in p.events if e["kind"] in ("kernel", "library_call")]
    if not run:
        pytest.skip("the runtime does not record kernel events yet (profile::kernel hook)")
    # The multiply, tanh and add of scale_add fuse into one kernel carrying its line.
    line = f"test_profile.py:{inspect.getsourcelines(scale_add)[1] + 1}"
    lines = {loc for e in run for loc in e["locations"]}
    assert any(loc.endswith(line) for loc in lines), lines
    assert all(e["bytes"] > 0 and e["flops"] > 0 for e in run if e["kind"] == "kernel")
    s = p.summary()
    assert "GB/s" in s and line in s


def validate_trace(obj):
    """Checks a trace against the trace-event format: required fields per phase, balanced
    B/E per track, timestamps that never go back on a track, and named tracks."""
    assert isinstance(obj, dict) and isinstance(obj["traceEvents"], list)
    stacks, last_ts, names = {}, {}, {}
    for e in obj["traceEvents"]:
        for field in ("name", "ph", "pid", "tid"):
            assert field in e, (field, e)
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
        if e["ph"] == "M":
            if e["name"] == "thread_name":
                names[(e["pid"], e["tid"])] = e["args"]["name"]
            continue
        assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0, e
        track = (e["pid"], e["tid"])
        if e["ph"] != "C":
            assert e["ts"] >= last_ts.get(track, 0), ("timestamp went back", e)
            last_ts[track] = e["ts"]
        if e["ph"] == "X":
            assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0, e
        elif e["ph"] == "B":
            stacks.setdefault(track, []).append(e["name"])
        elif e["ph"] == "E":
            assert stacks.get(track), ("E without B", e)
            stacks[track].pop()
        elif e["ph"] == "i":
            assert e.get("s") in ("t", "p", "g"), e
        else:
            assert e["ph"] == "C" and isinstance(e["args"], dict), e
    assert all(not s for s in stacks.values()), "unbalanced B/E"
    for track in last_ts:
        assert track in names, f"track {track} has no thread_name"
    return set(names.values())


def test_chrome_trace_validates_and_round_trips(tmp_path):
    f = ember.jit(scale_add)
    a = np.ones(100, np.float32)
    with ember.profile() as p:
        f(a, a)
        f(a.astype(">f4"), a)
        f(a, a)
    path = tmp_path / "trace.json"
    p.export_chrome_trace(path)
    text = path.read_text()
    obj = json.loads(text)
    assert json.loads(json.dumps(obj)) == obj
    tracks = validate_trace(obj)
    assert {"Python calls", "Compilation", "Copies"} <= tracks
    names = {e["name"] for e in obj["traceEvents"]}
    assert {"scale_add", "trace scale_add", "compile scale_add", "copy h2h"} <= names
    # Times are microseconds: a call lasts less than the whole session.
    wall = obj["otherData"]["wall_us"]
    assert all(e.get("dur", 0) <= wall for e in obj["traceEvents"])


def test_long_runs_are_sampled_but_counted_exactly():
    f = ember.jit(scale_add)
    a = np.ones(4, np.float32)
    f(a, a)
    with ember.profile(max_events_per_name=20) as p:
        for _ in range(3000):
            f(a, a)
    # A handful of event names (call, hit, kernel, alloc, free), each kept 20 times and then
    # sampled 1 in 2, 4, 8, ...: far fewer than the 15000 events recorded.
    assert len(p.events) < 600
    assert p.dropped_events > 5000
    assert "scale_add: 3000 hit(s)" in p.summary()
    obj = json.loads(p.chrome_trace())
    validate_trace(obj)
    assert any("sampled" in e.get("args", {}) for e in obj["traceEvents"])


def test_calls_from_threads_get_their_own_tracks():
    f = ember.jit(scale_add)
    a = np.ones(16, np.float32)
    f(a, a)

    def work():
        for _ in range(50):
            f(a, a)

    with ember.profile() as p:
        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert kinds(p).count("call") == 100
    tracks = validate_trace(json.loads(p.chrome_trace()))
    assert sum(t.startswith("Python calls") for t in tracks) == 2


def test_sessions_nest_and_misuse_is_an_error():
    f = ember.jit(scale_add)
    a = np.ones(4, np.float32)
    with ember.profile() as outer:
        f(a, a)
        with ember.profile() as inner:
            f(a, a)
        f(a, a)
    assert kinds(outer).count("call") == 3
    assert kinds(inner).count("call") == 1
    p = ember.profile()
    with pytest.raises(RuntimeError):
        p.summary()
    p.start()
    with pytest.raises(RuntimeError):
        p.start()
    p.stop()
    p.stop()
    with pytest.raises(ValueError):
        ember.profile(max_events_per_name=-1)
    assert repr(p) == "<ember.Profile stopped>"


SCRIPT = """
import warnings, numpy as np, ember
warnings.simplefilter("ignore")
f = ember.jit(lambda a, b: np.tanh(a * b) + 1.0)
f(np.ones(3, np.float32), np.ones(3, np.float32))
f(np.ones(4, np.float32).astype(">f4"), np.ones(4, np.float32))
g = ember.jit(lambda x: x * 2 if float(x.sum()) > 0 else x)
g(np.ones(3, np.float32))
"""


def run_with_debug(level):
    env = dict(os.environ, EMBER_DEBUG=str(level))
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stderr


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_ember_debug_levels(level):
    err = run_with_debug(level)
    lines = [ln for ln in err.splitlines() if ln.startswith("[ember]")]
    has = lambda s: any(s in ln for ln in lines)
    assert has("compile <lambda>") == (level >= 1)
    assert has("retrace <lambda>: argument leaf 0") == (level >= 1)
    assert has("fallback <lambda>") == (level >= 1)
    assert has("copy h2h") == (level >= 2)
    if level >= 2:
        copy = next(ln for ln in lines if "copy h2h" in ln)
        assert "16 B" in copy and "GB/s" in copy and "non-native byte order" in copy
    assert ("== after" in err) == (level >= 3)


def test_a_forgotten_session_turns_the_hooks_off():
    if DEBUG >= 2:
        pytest.skip("EMBER_DEBUG >= 2 records without a session by design")
    ember.profile().start()  # never stopped, immediately garbage
    assert _profile.active == 0
