"""Column reductions of tall arrays under ``@ember.jit`` (``x.sum(axis=0)`` of an ``R x C``
array): the CPU kernel reads each row in runs of up to 16 vectors and splits the columns over
the pool at multiples of that run, so widths around the run (and odd heights) hit the vector
loop, its scalar tail and the chunk edges. Results must equal NumPy's (float sums within a few
eps of ``sum |x|``; max/min, including NaN, and integer sums exactly), dtype included."""

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
