"""Shared helpers: NumPy is the oracle for every test."""

import math
import warnings

import ember
import numpy as np
import pytest

DTYPES = ["bool", "int32", "int64", "float32", "float64"]
SHAPES = [(), (0,), (7,), (3, 5), (2, 0, 3), (2, 3, 4)]


def rand(rng, shape, dtype, low=-4, high=4):
    """Random values of a dtype: bools, small ints, floats with a wide spread."""
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.startswith("int"):
        return np.asarray(rng.integers(low, high + 1, size=shape)).astype(dtype)
    return np.asarray(rng.standard_normal(shape) * (high / 2)).astype(dtype)


def to_np(x):
    return np.asarray(x) if isinstance(x, ember.Tensor) else x


def assert_same(got, want, rtol=None, atol=0.0):
    """Same dtype, shape and values (NaNs equal; floats within an ulp-scale tolerance)."""
    got = np.asarray(to_np(got))
    want = np.asarray(want)
    assert got.dtype == want.dtype, f"dtype {got.dtype} != NumPy's {want.dtype}"
    assert got.shape == want.shape, f"shape {got.shape} != NumPy's {want.shape}"
    if want.dtype.kind == "f":
        tol = rtol if rtol is not None else (2e-6 if want.dtype == np.float32 else 1e-13)
        np.testing.assert_allclose(got, want, rtol=tol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def numpy_or_error(f):
    """NumPy's answer, or the exception type it raised (also for float16/int8 results that
    Ember refuses instead of returning a different dtype)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                r = f()
            except np.exceptions.AxisError:
                return np.exceptions.AxisError
            except (TypeError, ValueError, IndexError) as e:
                # NumPy raises subclasses (UFuncTypeError, ...); Ember the base classes.
                return next(c for c in (TypeError, ValueError, IndexError) if isinstance(e, c))
    r = np.asarray(r)
    if r.dtype in (np.float16, np.int8, np.uint8, np.int16):
        return TypeError
    return r


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def erf(x):
    return np.vectorize(math.erf, otypes=[x.dtype])(x)
