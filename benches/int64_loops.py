"""int64 loops against NumPy at 16M elements: elementwise arithmetic, comparisons, a cast to
float64 and full reductions, each jitted function checked against NumPy first.

    .venv-bench/bin/python benches/int64_loops.py
"""

import time

import ember
import numpy as np

CASES = {
    "x*3 + y": lambda x, y: x * 3 + y,
    "maximum(x, y) - x": lambda x, y: np.maximum(x, y) - x,
    "(x > y) & (x != 0)": lambda x, y: (x > y) & (x != 0),
    "x / 7 (float64)": lambda x, y: x / 7,
    "sum(x * y)": lambda x, y: (x * y).sum(),
    "max(x - y)": lambda x, y: (x - y).max(),
}


def best(f, *args, k=7):
    """Fastest of `k` calls, after a warm-up call."""
    f(*args)
    fastest = float("inf")
    for _ in range(k):
        t0 = time.perf_counter()
        f(*args)
        fastest = min(fastest, time.perf_counter() - t0)
    return fastest


def main():
    n = 1 << 24
    rng = np.random.default_rng(0)
    x = rng.integers(-1000, 1000, n)
    y = rng.integers(-1000, 1000, n)
    for name, f in CASES.items():
        jitted = ember.jit(f)
        assert np.array_equal(np.asarray(jitted(x, y)), f(x, y)), name
        te, tn = best(jitted, x, y), best(f, x, y)
        print(f"int64 16M {name:20s} ember {te * 1e3:7.2f} ms  numpy {tn * 1e3:7.2f} ms  ratio {te / tn:.2f}")


if __name__ == "__main__":
    main()
