"""Python ints beyond int64 as operands, against NumPy 2: with float arrays they compute
(in the array's float dtype), comparisons with int32/int64 arrays are exact, division,
arctan2, hypot and copysign of int and bool arrays compute in float64, and everything NumPy
refuses (integer arithmetic, logical ops, bool comparisons, values beyond float64) raises
OverflowError, eagerly and under jit alike."""

import warnings

import ember
import numpy as np
import pytest

I64 = np.array([np.iinfo(np.int64).min, -5, 0, 7, np.iinfo(np.int64).max])
ARRAYS = {
    "float32": np.array([1.5, -2.0, 0.0], np.float32),
    "float64": np.array([1.5, -2.0, 0.0]),
    "int64": I64,
    "int32": I64.astype(np.int32),
    "bool": np.array([True, False]),
}
BIG = [2**63, 2**70, -(2**63) - 1, -(2**80), 2**200, 2**1100]
OPS = {
    "add": lambda x, h: x + h,
    "rmul": lambda x, h: h * x,
    "div": lambda x, h: x / h,
    "rdiv": lambda x, h: h / x,
    "arctan2": lambda x, h: np.arctan2(x, h),
    "hypot": lambda x, h: np.hypot(h, x),
    "copysign": lambda x, h: np.copysign(h, x),
    "rcopysign": lambda x, h: np.copysign(x, h),
    "fmod": lambda x, h: np.fmod(x, h),
    "lt": lambda x, h: x < h,
    "le": lambda x, h: x <= h,
    "gt": lambda x, h: x > h,
    "ge": lambda x, h: h >= x,
    "eq": lambda x, h: x == h,
    "ne": lambda x, h: x != h,
    "and": lambda x, h: np.logical_and(x, h),
    "maximum": lambda x, h: np.maximum(x, h),
    "clip": lambda x, h: np.clip(x, 0, h),
}


def outcome(f, x):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return np.asarray(f(x))
        except OverflowError:
            return OverflowError


@pytest.mark.parametrize("h", BIG, ids=["2**63", "2**70", "-2**63-1", "-2**80", "2**200", "2**1100"])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", ARRAYS)
def test_big_python_ints_follow_numpy(dtype, op, h):
    x = ARRAYS[dtype]

    def f(a):
        return OPS[op](a, h)

    want = outcome(f, x)
    for mode, g, arg in (("eager", f, ember.asarray(x)), ("jit", ember.jit(f), x)):
        got = outcome(g, arg)
        if want is OverflowError:
            assert got is OverflowError, (mode, got)
        else:
            assert got is not OverflowError, mode
            assert got.dtype == want.dtype, (mode, got.dtype, want.dtype)
            np.testing.assert_array_equal(got, want, err_msg=mode)


def test_creation_functions_refuse_ints_beyond_int64():
    # NumPy would make object arrays; Ember has none and says why.
    with pytest.raises(OverflowError, match="fill_value"):
        ember.full(3, 2**70)
    with pytest.raises(OverflowError, match="does not fit in int64"):
        ember.arange(2**70)
