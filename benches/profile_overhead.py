"""What the profiler costs a cached ``@ember.jit`` call: with profiling off (the hooks are in
place but inactive), against the unprofiled figure (the same ``JitFunction.__call__`` with
its profiler hooks removed from the source), and with a session recording.

    .venv/bin/python benches/profile_overhead.py [--repeats 41] [--calls 5000]

Two call shapes: all-array arguments (the Rust fast path) and an array plus a Python scalar
(the Python cache path). Variants run interleaved, in a rotating order, so drift on a shared
machine hits them alike; the figures are medians over repeats of per-call means, and "noise"
is the interquartile range of the paired differences (off minus unprofiled, per repeat).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import statistics
import textwrap
import time

import ember
import numpy as np
from ember import _jit


class _StripProfilerHooks(ast.NodeTransformer):
    """Removes the profiler's hooks from ``JitFunction.__call__``: ``t0 = ...``, every
    ``if t0:`` block, and ``X if not t0 or ... else None`` becomes ``X``."""

    def visit_Assign(self, node):
        if any(isinstance(t, ast.Name) and t.id == "t0" for t in node.targets):
            return None
        return self.generic_visit(node)

    def visit_If(self, node):
        if isinstance(node.test, ast.Name) and node.test.id == "t0":
            return node.orelse or None
        return self.generic_visit(node)

    def visit_IfExp(self, node):
        test = node.test
        if (
            isinstance(test, ast.BoolOp)
            and isinstance(test.values[0], ast.UnaryOp)
            and isinstance(test.values[0].operand, ast.Name)
            and test.values[0].operand.id == "t0"
        ):
            return self.visit(node.body)
        return self.generic_visit(node)


def unprofiled_call():
    """``JitFunction.__call__`` compiled without its profiler hooks."""
    src = textwrap.dedent(inspect.getsource(_jit.JitFunction.__call__))
    tree = _StripProfilerHooks().visit(ast.parse(src))
    ast.fix_missing_locations(tree)
    stripped = ast.unparse(tree)
    if "_prof" in stripped or "t0" in stripped:
        raise SystemExit(f"could not strip the profiler hooks:\n{stripped}")
    namespace = {}
    exec(compile(tree, "<unprofiled __call__>", "exec"), vars(_jit), namespace)
    return namespace["__call__"]


class Unprofiled(_jit.JitFunction):
    """A jitted function whose calls carry no profiler hooks."""


Unprofiled.__call__ = unprofiled_call()


def f(a, b):
    return a * b + 1.0


def per_call_ns(fn, args, calls):
    t = time.perf_counter_ns()
    for _ in range(calls):
        fn(*args)
    return (time.perf_counter_ns() - t) / calls


def quartiles(xs):
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def bench(label, args, repeats, calls):
    off = ember.jit(f)
    base = Unprofiled(f)
    on = ember.jit(f)
    for g in (off, base, on):
        g(*args)  # compile outside the timing
    times = {"unprofiled": [], "off": [], "on": []}
    variants = [
        ("unprofiled", lambda: per_call_ns(base, args, calls)),
        ("off", lambda: per_call_ns(off, args, calls)),
        ("on", None),
    ]
    for r in range(repeats):
        order = variants[r % 3 :] + variants[: r % 3]
        for name, run in order:
            if name == "on":
                with ember.profile():
                    times["on"].append(per_call_ns(on, args, calls))
            else:
                times[name].append(run())
    med = {k: statistics.median(v) for k, v in times.items()}
    diffs = [o - u for o, u in zip(times["off"], times["unprofiled"], strict=True)]
    d_med = statistics.median(diffs)
    q1, q3 = quartiles(diffs)
    within = q1 <= 0 <= q3 or abs(d_med) <= (q3 - q1)
    print(f"{label}:")
    for k in ("unprofiled", "off", "on"):
        lo, hi = quartiles(times[k])
        print(f"  {k:<11} {med[k]:8.0f} ns/call   (IQR {lo:.0f}..{hi:.0f})")
    print(
        f"  off - unprofiled: median {d_med:+.0f} ns ({100 * d_med / med['unprofiled']:+.1f}%), "
        f"IQR {q1:+.0f}..{q3:+.0f} ns -> {'within noise' if within else 'ABOVE NOISE'}"
    )
    print(f"  on - off: {med['on'] - med['off']:+.0f} ns per call while recording")
    return within


def hook_statements_ns(n=2_000_000):
    """The profiler's statements on the fast path, alone: ``t0 = ...`` and the ``not t0`` test
    the fast path runs, against the same function without them (a lower bound on the cost,
    free of the call's own noise)."""
    from ember import _profile as _prof

    def with_hooks():
        t0 = _prof.now() if _prof.active else 0
        return not t0

    def without():
        return True

    best = {}
    for fn in (with_hooks, without) * 5:
        t = time.perf_counter_ns()
        for _ in range(n):
            fn()
        best[fn.__name__] = min(best.get(fn.__name__, 1e18), (time.perf_counter_ns() - t) / n)
    return best["with_hooks"] - best["without"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=41)
    ap.add_argument("--calls", type=int, default=5000)
    opts = ap.parse_args()
    print(f"hook statements alone, profiling off: {hook_statements_ns():+.1f} ns per call")
    a = np.ones(16, np.float32)
    ok = bench("cached call, arrays (Rust fast path)", (a, a), opts.repeats, opts.calls)
    ok &= bench("cached call, array + scalar (Python cache)", (a, 2.0), opts.repeats, opts.calls)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
