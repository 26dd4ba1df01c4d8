"""Programs the perf fuzzer found slow, as a benchmark: each pattern jitted against NumPy in
the same run (median of many cached calls; ratio < 1 means Ember is faster), each result
checked against NumPy first. Sizes are ~1M elements: these measure the code paths (layouts,
stacks, any/all, casts), not the memory system, so they finish in seconds.

    .venv-bench/bin/python benches/patterns.py [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import statistics
import time

import ember
import numpy as np

RNG = np.random.default_rng(0)
X = RNG.standard_normal((1000, 1000))
Y = RNG.standard_normal((1000, 1000))
XF = X.astype(np.float32)
F3 = np.asfortranarray((RNG.standard_normal((128, 250, 16)) * 10).astype(np.float32))
I32 = RNG.integers(-1000, 1000, (1000, 1000)).astype(np.int32)
B = X > 0
I3 = RNG.integers(-9, 9, (50000, 3, 3))

# name -> (function, arguments)
CASES = {
    "stack([x, y], axis=-1)": (lambda a, b: np.stack([a, b], axis=-1), (X, Y)),
    "stack([x, y], axis=0)": (lambda a, b: np.stack([a, b], axis=0), (X, Y)),
    "stack([x.T, y.T], axis=-1)": (lambda a, b: np.stack([a.T, b.T], axis=-1), (X, Y)),
    "concatenate([x, y], axis=1)": (lambda a, b: np.concatenate([a, b], axis=1), (X, Y)),
    "less(f, f).T (Fortran f)": (lambda a: np.less(a, a).T, (F3,)),
    "exp(f).T + 1 (Fortran f)": (lambda a: np.exp(a).transpose((2, 1, 0)) + 1, (F3,)),
    "tanh(x[:, ::-1])": (lambda a: np.tanh(a[:, ::-1]), (X,)),
    "x[:, ::2].sum(axis=1)": (lambda a: a[:, ::2].sum(axis=1), (X,)),
    "any(x > 2)": (lambda a: np.any(a > 2), (X,)),
    "all(x < 2, axis=1)": (lambda a: np.all(a < 2, axis=1), (X,)),
    "any(x32 > 2)": (lambda a: np.any(a > 2), (XF,)),
    "b.any() (bool, first True at 0)": (lambda a: a.any(), (B,)),
    "(~b).all() (bool, no early exit)": (lambda a: (~a).all(), (np.zeros_like(B),)),
    "b & c, ~b (bool)": (lambda a, c: (a & c, ~a), (B, Y > 0)),
    "x.mean(axis=0, dtype=int32)": (lambda a: a.mean(axis=0, dtype=np.int32), (X,)),
    "tan(x)": (lambda a: np.tan(a), (X,)),
    "i32 // 7, i32 % 7": (lambda a: (a // 7, a % 7), (I32,)),
    "x ** 0": (lambda a: a**0, (X,)),
    "exp(x) (float64)": (lambda a: np.exp(a), (X,)),
    "tanh(x) (float64)": (lambda a: np.tanh(a), (X,)),
    "log(|x|) (float64)": (lambda a: np.log(np.abs(a)), (X,)),
    "cos(x) (float64)": (lambda a: np.cos(a), (X,)),
    "expm1(x) (float64)": (lambda a: np.expm1(a), (X,)),
    "exp(x).sum() (float64)": (lambda a: np.exp(a).sum(), (X,)),
    "log(x).sum(axis=1) (float64)": (lambda a: np.log(a).sum(axis=1), (np.abs(X) + 0.5,)),
    "x + exp(b), b (1000,)": (lambda a, v: a + np.exp(v), (X, X[0])),
    "bool a @ a.T (500, 300)": (lambda a: a @ a.T, (B[:500, :300],)),
    "int64 (50000, 3, 3) @ (50000, 3, 3)": (lambda a: a @ a, (I3,)),
    "arctan2(~(x32 != int64(-2)), x32)": (
        lambda a: np.arctan2(np.logical_not(a != np.int64(-2)), a),
        (XF,),
    ),
}


def median_time(f, args, min_time=0.2):
    """Median seconds per call over at least `min_time` seconds (after a warm-up call)."""
    f(*args)
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 15:
        t0 = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def same(got, want):
    if isinstance(want, tuple):
        return all(same(g, w) for g, w in zip(got, want, strict=True))
    got = np.asarray(got)
    if want.dtype.kind == "f":
        return got.shape == want.shape and np.allclose(got, want, rtol=1e-5, equal_nan=True)
    return np.array_equal(got, want)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="run the cases whose name contains this")
    opts = ap.parse_args()
    print("| pattern | Ember | NumPy | Ember / NumPy |")
    print("|---|---|---|---|")
    with np.errstate(all="ignore"):
        for name, (f, args) in CASES.items():
            if opts.only not in name:
                continue
            jitted = ember.jit(f)
            assert same(jitted(*args), f(*args)), name
            t_e, t_n = median_time(jitted, args), median_time(f, args)
            print(f"| `{name}` | {t_e * 1e3:.3f} ms | {t_n * 1e3:.3f} ms | {t_e / t_n:.2f} |")


if __name__ == "__main__":
    main()
