"""Column reductions under ``@ember.jit`` (``x.sum(axis=0)`` of an ``R x C`` array) and full
reductions (``x.sum()``, ``np.exp(x).sum()``), jitted and eager.

Tall arrays: the CPU kernel reads each row in runs of up to 16 vectors and splits the columns
over the pool at multiples of that run, so widths around the run (and odd heights) hit the
vector loop, its scalar tail and the chunk edges. Large arrays (128K+ elements) run split
over the pool: column reductions interchanged (blocks of rows streamed in order, each folded
into a row of per-column states, the parts' states folded in order: widths that leave scalar
columns, heights that leave a partial block of rows), full reductions in parts whose partial
results fold in order. Results must equal NumPy's (float sums within a few eps of
``sum |x|``; max/min, including NaN, and integer sums exactly), dtype included, and be the
same on every call."""

import warnings

import ember
import numpy as np
import pytest

WIDTHS = [3, 17, 63, 64, 65, 100, 128, 129, 257]
DTYPES = [np.float32, np.float64, np.int32, np.int64]
OPS = ["sum", "max", "min", "mean"]


def data(rng, shape, dtype):
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-1000, 1000, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def check(got, want, x, op):
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape
    if op in ("sum", "mean") and np.issubdtype(want.dtype, np.floating):
        scale = np.abs(x.astype(np.float64)).sum(axis=0, keepdims=want.ndim == x.ndim)
        if op == "mean":
            scale = scale / x.shape[0]
        ref = getattr(x.astype(np.float64), op)(axis=0, keepdims=want.ndim == x.ndim)
        eps = np.finfo(want.dtype).eps
        assert np.all(np.abs(got - ref) <= 4 * eps * scale + 1e-30)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", OPS)
def test_tall_column_reductions(op, dtype, width):
    rng = np.random.default_rng(width)
    x = data(rng, (4099, width), dtype)
    f = ember.jit(lambda a: getattr(a, op)(axis=0), fallback="error")
    check(f(x), getattr(x, op)(axis=0), x, op)


@pytest.mark.parametrize("width", [64, 65, 257])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["max", "min", "sum"])
def test_nan_propagates(op, dtype, width):
    rng = np.random.default_rng(1)
    x = data(rng, (2051, width), dtype)
    x[7, 0] = np.nan
    x[2050, width - 1] = np.nan
    x[1000, width // 2] = np.nan
    x[3, 5] = np.inf
    f = ember.jit(lambda a: getattr(a, op)(axis=0), fallback="error")
    got, want = np.asarray(f(x)), getattr(x, op)(axis=0)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    if op != "sum":
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "view",
    ["rows_stepped", "cols_stepped", "fortran", "reversed", "offset"],
)
@pytest.mark.parametrize("op", OPS)
def test_strided_and_keepdims(op, view):
    rng = np.random.default_rng(2)
    base = data(rng, (6001, 130), np.float32)
    x = {
        "rows_stepped": base[::3],
        "cols_stepped": base[:, ::2],
        "fortran": np.asfortranarray(base),
        "reversed": base[::-1, ::-1],
        "offset": base[1:, 1:],
    }[view]
    for keepdims in (False, True):
        f = ember.jit(lambda a: getattr(a, op)(axis=0, keepdims=keepdims), fallback="error")
        check(f(x), getattr(x, op)(axis=0, keepdims=keepdims), x, op)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_fused_column_reduction(dtype):
    rng = np.random.default_rng(3)
    x = data(rng, (3001, 96), dtype)
    m = data(rng, (96,), dtype)
    f = ember.jit(lambda a, b: ((a - b) ** 2).sum(axis=0), fallback="error")
    want = ((x - m) ** 2).sum(axis=0)
    got = np.asarray(f(x, m))
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=8 * np.finfo(dtype).eps * 10)


@pytest.mark.parametrize("width", [5, 64, 65, 130])
@pytest.mark.parametrize("op", ["any", "all", "sum", "mean", "max"])
def test_bool_columns(op, width):
    rng = np.random.default_rng(4)
    x = rng.random((4001, width)) < 0.999
    f = ember.jit(lambda a: getattr(a, op)(axis=0), fallback="error")
    got, want = np.asarray(f(x)), getattr(x, op)(axis=0)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("width", [64, 100])
def test_argmax_columns(width):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3001, width)).astype(np.float32)
    x[5, 3] = np.nan
    f = ember.jit(lambda a: (a.argmax(axis=0), a.argmin(axis=0)), fallback="error")
    got = f(x)
    np.testing.assert_array_equal(got[0], x.argmax(axis=0))
    np.testing.assert_array_equal(got[1], x.argmin(axis=0))


# Shapes of 128K+ elements: the split forms. Widths: below one vector, odd, around the 16-vector
# run, wide; heights: not multiples of the parts' row blocks.
SPLIT_SHAPES = [(50_001, 3), (30_003, 5), (4099, 65), (2051, 127), (1001, 257), (257, 4099)]


@pytest.mark.parametrize("shape", SPLIT_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", OPS)
def test_large_column_reductions(op, dtype, shape):
    rng = np.random.default_rng(shape[1])
    x = data(rng, shape, dtype)
    f = ember.jit(lambda a: getattr(a, op)(axis=0), fallback="error")
    want = getattr(x, op)(axis=0)
    check(f(x), want, x, op)
    # Eager: the same kernel as a one-op plan.
    check(getattr(ember, op)(x, axis=0), want, x, op)


@pytest.mark.parametrize("shape", [(4099, 65), (2051, 127), (501, 1030)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["max", "min", "sum"])
def test_large_nan_and_inf(op, dtype, shape):
    rng = np.random.default_rng(7)
    r, c = shape
    x = data(rng, shape, dtype)
    x[0, 0] = np.nan  # first row, first vector
    x[r - 1, c - 1] = np.nan  # last row, a scalar column
    x[r // 2, c // 2] = np.nan
    x[3, 1] = np.inf
    x[r - 2, 1] = -np.inf  # inf - inf: NaN
    x[5, 2] = -np.inf
    x[r // 3, c - 2] = np.inf
    f = ember.jit(lambda a: getattr(a, op)(axis=0), fallback="error")
    with np.errstate(invalid="ignore"):
        got, want = np.asarray(f(x)), getattr(x, op)(axis=0)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    if op != "sum":
        np.testing.assert_array_equal(got, want)
    else:
        fin = np.isfinite(want)
        check(got[fin], want[fin], x[:, fin], op)


@pytest.mark.parametrize("view", ["rows_stepped", "cols_stepped", "transposed", "reversed", "offset"])
@pytest.mark.parametrize("op", ["sum", "max"])
def test_large_strided_views_eager_and_jit(op, view):
    rng = np.random.default_rng(8)
    base = data(rng, (2003, 1030), np.float32)
    x = {
        "rows_stepped": base[::2],
        "cols_stepped": base[:, ::3],
        "transposed": base.T,
        "reversed": base[::-1, ::-1],
        "offset": base[1:, 3:],
    }[view]
    want = getattr(x, op)(axis=0)
    f = ember.jit(lambda a: getattr(a, op)(axis=0), fallback="error")
    check(f(x), want, x, op)
    t = ember.asarray(base)
    tv = {
        "rows_stepped": t[::2],
        "cols_stepped": t[:, ::3],
        "transposed": t.T,
        "reversed": t[::-1, ::-1],
        "offset": t[1:, 3:],
    }[view]
    check(getattr(ember, op)(tv, axis=0), want, x, op)


@pytest.mark.parametrize("shape", [(0, 300), (300, 0), (0, 0)], ids=str)
def test_empty_axes(shape):
    x = np.zeros(shape, np.float32)
    for op in ("sum", "mean"):
        f = ember.jit(lambda a: getattr(a, op)(axis=0), fallback="eager")
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = getattr(x, op)(axis=0)
            got = np.asarray(f(x))
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_split_results_do_not_change_between_calls():
    rng = np.random.default_rng(9)
    x = data(rng, (3001, 515), np.float32) * 1e4
    y = data(rng, (1 << 20,), np.float32) * 1e4
    f = ember.jit(lambda a, b: (a.sum(axis=0), np.exp(b / 1e4).sum(), b.sum()), fallback="error")
    first = [np.asarray(v).copy() for v in f(x, y)]
    for _ in range(10):
        for a, b in zip(first, f(x, y), strict=True):
            assert np.asarray(b).tobytes() == a.tobytes()


FULL_OPS = ["sum", "prod", "max", "min", "mean", "argmax", "argmin", "any", "all"]


def full_check(got, want, x, op):
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype)
    if op in ("sum", "mean") and np.issubdtype(want.dtype, np.floating):
        scale = np.abs(x.astype(np.float64)).sum() / (x.size if op == "mean" else 1)
        ref = getattr(x.astype(np.float64), op)()
        assert abs(float(got) - ref) <= 4 * np.finfo(want.dtype).eps * scale + 1e-30
    elif op == "prod" and np.issubdtype(want.dtype, np.floating):
        # A million float32 products drift by ~1e-4 in any order (NumPy's too).
        ref = x.astype(np.float64).prod()
        np.testing.assert_allclose(got, ref, rtol=1e-3 if want.dtype == np.float32 else 1e-11)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [(1 << 17) + 7, 1_000_003])
@pytest.mark.parametrize("dtype", DTYPES + [np.bool_], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", FULL_OPS)
def test_full_reductions_split(op, dtype, n):
    rng = np.random.default_rng(n % 1000)
    if dtype == np.bool_:
        x = rng.random(n) < 0.9999
    elif op == "prod":
        x = (
            (1 + (rng.random(n) - 0.5) * 1e-3).astype(dtype)
            if dtype
            in (
                np.float32,
                np.float64,
            )
            else np.where(rng.random(n) < 1e-4, -1, 1).astype(dtype)
        )
    else:
        x = data(rng, (n,), dtype)
    f = ember.jit(lambda a: getattr(a, op)(), fallback="error")
    want = getattr(x, op)()
    full_check(f(x), want, x, op)
    full_check(getattr(ember, op)(x), want, x, op)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_fused_full_reductions(dtype):
    rng = np.random.default_rng(10)
    x = data(rng, (2049, 1001), dtype)
    b = data(rng, (1001,), dtype)
    f = ember.jit(lambda a: np.exp(a).sum(), fallback="error")
    full_check(f(x), np.exp(x).sum(), np.exp(x), "sum")
    g = ember.jit(lambda a, c: ((a - c) * (a - c)).mean(), fallback="error")
    d = (x - b) * (x - b)
    full_check(g(x, b), d.mean(), d, "mean")
    h = ember.jit(lambda a: (np.abs(a).max(), a.min(), a.argmax()), fallback="error")
    got = h(x)
    np.testing.assert_array_equal(got[0], np.abs(x).max())
    np.testing.assert_array_equal(got[1], x.min())
    np.testing.assert_array_equal(got[2], x.argmax())
    # Eager: exp runs as one kernel, the sum as a split one.
    t = ember.asarray(x)
    full_check(np.exp(t).sum(), np.exp(x).sum(), np.exp(x), "sum")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["sum", "max", "min", "argmax", "argmin"])
def test_full_reductions_nan_inf_ties(op, dtype):
    n = 1_000_003
    x = np.ones(n, dtype)
    x[[7000, 900_000]] = 5  # ties in different parts: the first index wins
    x[[9000, 990_000]] = -5
    f = ember.jit(lambda a: getattr(a, op)(), fallback="error")
    np.testing.assert_array_equal(f(x), getattr(x, op)())
    for at in (0, n // 2, n - 1):
        y = x.copy()
        y[at] = np.nan
        np.testing.assert_array_equal(f(y), getattr(y, op)())
    y = x.copy()
    y[11] = np.inf
    np.testing.assert_array_equal(f(y), getattr(y, op)())
    y[n - 2] = -np.inf  # inf - inf: NaN for sums
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(f(y), getattr(y, op)())


@pytest.mark.parametrize("shape", [(8, 50_000), (15, 20_000), (3, 100_000), (2, 8, 20_000)])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "var"])
def test_wide_column_reductions_of_few_rows(op, shape):
    # Enough work to split, too few rows for two parts of rows: these panicked choosing the
    # parts (found by the fuzzer at large sizes: np.mean(x, axis=0) of 8 x 1562 x 32).
    rng = np.random.default_rng(len(shape) * 100 + shape[0])
    x = rng.standard_normal(shape)
    f = ember.jit(lambda a: getattr(a, op)(axis=0), fallback="error")
    np.testing.assert_allclose(f(x), getattr(x, op)(axis=0), rtol=1e-12, atol=1e-12)
    eager = getattr(ember.asarray(x), op)(axis=0)
    np.testing.assert_allclose(eager, getattr(x, op)(axis=0), rtol=1e-12, atol=1e-12)
