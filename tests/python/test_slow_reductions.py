"""Reductions that used to run on slow paths, against NumPy.

* int32 sums and products accumulate in int64 (as NumPy's do), now in vector loops that widen
  int32 lanes into int64 accumulators: full, along the rows and along the columns
  (interchanged), with sums far beyond 2**31 and products that wrap around int64.
* Middle-axis reductions ``x.sum(axis=1)`` of a C-order ``(A, B, C)`` array: each slab runs
  interchanged (rows of the reduced axis in memory order into a row of states).
* Full reductions in two phases (``np.exp(x - x.max()).sum()``, the variance): both phases
  split over the pool, the second reading the first's result.

Results must equal NumPy's exactly for integers and max/min (NaN included), within a few eps
of ``sum |x|`` for float sums, and be the same bits on every call."""

import ember
import numpy as np
import pytest

# Means of empty axes are NaN with a warning, in NumPy as under jit.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def jit(f):
    return ember.jit(f, fallback="error")


def big_int32(rng, shape):
    return rng.integers(2**30, 2**31 - 1, size=shape, dtype=np.int64).astype(np.int32) * np.where(
        rng.random(shape) < 0.3, -1, 1
    ).astype(np.int32)


INT_SHAPES = [(4099, 65), (257, 4099), (300_001,), (1, 7), (7, 1), (0, 5), (5, 0), (3, 5)]


@pytest.mark.parametrize("shape", INT_SHAPES, ids=str)
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_int32_sums_beyond_2_31(shape, axis):
    if axis is not None and axis >= len(shape):
        pytest.skip("no such axis")
    rng = np.random.default_rng(len(shape) + sum(shape))
    x = big_int32(rng, shape)
    for op in ("sum", "mean"):
        want = getattr(x, op)(axis=axis)
        got = np.asarray(jit(lambda a: getattr(a, op)(axis=axis))(x))
        assert got.dtype == want.dtype and got.shape == np.shape(want)
        if op == "sum":
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("shape", [(4099, 65), (300_001,), (33, 1000)], ids=str)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_int32_products_wrap_like_numpy(shape, axis):
    if axis is not None and axis >= len(shape):
        pytest.skip("no such axis")
    rng = np.random.default_rng(7)
    x = rng.integers(-3, 4, size=shape).astype(np.int32)
    x[x == 0] = 1
    want = x.prod(axis=axis)
    got = np.asarray(jit(lambda a: a.prod(axis=axis))(x))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_int32_max_min(op, axis):
    rng = np.random.default_rng(8)
    x = big_int32(rng, (1001, 515))
    want = getattr(x, op)(axis=axis)
    np.testing.assert_array_equal(jit(lambda a: getattr(a, op)(axis=axis))(x), want)


MIDDLE = [(64, 512, 256), (5, 61, 1031), (3, 40, 300), (2, 9, 8195), (512, 64, 64), (4, 1, 300), (4, 0, 300)]


@pytest.mark.parametrize("shape", MIDDLE, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_middle_axis(op, dtype, shape):
    if shape[1] == 0 and op in ("max", "min"):
        pytest.skip("NumPy raises for an empty max")
    rng = np.random.default_rng(shape[2])
    if dtype == np.int32:
        x = big_int32(rng, shape)
    else:
        x = rng.standard_normal(shape).astype(dtype)
        if x.size and op in ("max", "min"):
            x[0, 0, 3] = np.nan
            x[-1, -1, -1] = np.nan
    f = jit(lambda a: getattr(a, op)(axis=1))
    got, want = np.asarray(f(x)), getattr(x, op)(axis=1)
    assert got.dtype == want.dtype and got.shape == want.shape
    if op in ("sum", "mean") and dtype != np.int32:
        ref = getattr(x.astype(np.float64), op)(axis=1)
        scale = np.abs(x.astype(np.float64)).sum(axis=1) / (x.shape[1] if op == "mean" else 1)
        eps = np.finfo(dtype).eps
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        ok = ~np.isnan(ref)
        assert np.all(np.abs(got - ref)[ok] <= 4 * eps * scale[ok] + 1e-30)
    elif op == "mean":
        np.testing.assert_allclose(got, want, rtol=1e-12)
    else:
        np.testing.assert_array_equal(got, want)
    again = np.asarray(f(x))
    assert got.tobytes() == again.tobytes()


def test_middle_axis_views():
    rng = np.random.default_rng(9)
    base = rng.standard_normal((8, 70, 600)).astype(np.float32)
    for x in (base[:, :, ::2], base[::-1], np.asfortranarray(base), base[:, 1:, 1:]):
        got = np.asarray(jit(lambda a: a.sum(axis=1))(x))
        np.testing.assert_allclose(got, x.astype(np.float64).sum(axis=1), rtol=1e-5, atol=1e-4)


TWO_PHASE = {
    "shifted_sum": lambda a: (a - a.max()).sum(),
    "logsumexp_sum": lambda a: np.exp(a - a.max()).sum(),
    "variance": lambda a: ((a - a.mean()) ** 2).mean(),
}


@pytest.mark.parametrize("n", [1, 1000, 300_001, 1 << 22])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(TWO_PHASE))
def test_two_phase_full_reductions(name, dtype, n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 3).astype(dtype)
    fn = TWO_PHASE[name]
    f = jit(fn)
    got = np.asarray(f(x))
    ref = fn(x.astype(np.float64))
    assert got.dtype == fn(x).dtype
    eps = np.finfo(dtype).eps
    # Both phases' errors: the first result enters every term of the second.
    np.testing.assert_allclose(got, ref, rtol=64 * eps, atol=0)
    assert got.tobytes() == np.asarray(f(x)).tobytes()
    y = x.copy()
    y[n // 2] = np.nan
    assert np.isnan(np.asarray(f(y)))
