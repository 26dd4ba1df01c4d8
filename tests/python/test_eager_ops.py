"""Every eager op against NumPy on random inputs over all dtypes and shapes (0-d, 0-size and
non-contiguous views included); the result dtype must equal NumPy 2's."""

import itertools
import warnings

import ember
import numpy as np
import pytest
from conftest import DTYPES, SHAPES, assert_same, erf, numpy_or_error, rand

UNARY = [
    "negative",
    "absolute",
    "sign",
    "exp",
    "expm1",
    "log",
    "log1p",
    "sqrt",
    "square",
    "reciprocal",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sinh",
    "cosh",
    "arcsin",
    "arccos",
    "arctan",
    "floor",
    "ceil",
    "isnan",
    "isinf",
    "isfinite",
    "logical_not",
    # Float loops only in NumPy: integers give float64 (Ember returned integers).
    "rint",
    "fabs",
    "log2",
    "log10",
    "exp2",
    "cbrt",
    "arcsinh",
    "arccosh",
    "arctanh",
]
BINARY = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "floor_divide",
    "remainder",
    "power",
    "maximum",
    "minimum",
    "arctan2",
    "equal",
    "not_equal",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "logical_and",
    "logical_or",
    "logical_xor",
    "hypot",
    "copysign",
    "fmod",
]


def run_both(ember_fn, numpy_fn):
    want = numpy_or_error(numpy_fn)
    if isinstance(want, type):
        with pytest.raises(want):
            with np.errstate(all="ignore"):
                ember_fn()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = ember_fn()
    assert_same(got, want)


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_unary(name, dtype, shape, rng):
    x = rand(rng, shape, dtype)
    if name in ("reciprocal",) and dtype.startswith("int"):
        x = np.where(x == 0, 1, x).astype(dtype)
    run_both(lambda: getattr(ember, name)(x), lambda: getattr(np, name)(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_on_strided_view(dtype, rng):
    base = rand(rng, (6, 8), dtype)
    view = base[::2, ::-3]
    for name in ("negative", "exp", "absolute", "isnan"):
        run_both(lambda: getattr(ember, name)(view), lambda: getattr(np, name)(view))


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32", "float64"])
def test_round_sigmoid_relu_erf(dtype, rng):
    x = rand(rng, (4, 5), dtype) * 1.5 if dtype.startswith("float") else rand(rng, (4, 5), dtype)
    x = x.astype(dtype)
    run_both(lambda: ember.round(x), lambda: np.round(x))
    xf = x if dtype.startswith("float") else x.astype(np.float64)
    assert_same(ember.sigmoid(x), (1 / (1 + np.exp(-xf))).astype(xf.dtype), rtol=1e-6)
    assert_same(ember.relu(x), np.maximum(x, np.zeros((), x.dtype)))
    assert_same(ember.erf(x), erf(xf), rtol=1e-6 if xf.dtype == np.float32 else 1e-13)


SHAPE_PAIRS = [((), ()), ((5,), ()), ((), (4,)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 0), (1,)), ((2, 3, 1), (3, 5))]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("da,db", list(itertools.product(DTYPES, DTYPES)))
def test_binary_dtypes(name, da, db, rng):
    a = rand(rng, (3, 4), da)
    b = rand(rng, (4,), db)
    if name == "power" and db.startswith("int"):
        b = np.abs(b).astype(db)
    run_both(lambda: getattr(ember, name)(a, b), lambda: getattr(np, name)(a, b))


@pytest.mark.parametrize("name", ["add", "multiply", "less", "maximum", "floor_divide", "remainder"])
@pytest.mark.parametrize("sa,sb", SHAPE_PAIRS)
def test_binary_broadcasting(name, sa, sb, rng):
    a, b = rand(rng, sa, "int64"), rand(rng, sb, "float32")
    run_both(lambda: getattr(ember, name)(a, b), lambda: getattr(np, name)(a, b))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", [True, 3, -2, 2.5, -0.5])
@pytest.mark.parametrize("name", ["add", "multiply", "less", "maximum", "divide"])
def test_weak_python_scalars_nep50(dtype, scalar, name, rng):
    a = rand(rng, (5,), dtype)
    run_both(lambda: getattr(ember, name)(a, scalar), lambda: getattr(np, name)(a, scalar))
    run_both(lambda: getattr(ember, name)(scalar, a), lambda: getattr(np, name)(scalar, a))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "scalar",
    [np.float64(2.5), np.float32(-0.5), np.int64(3), np.int32(-2), np.bool_(True)],
    ids=lambda s: type(s).__name__,
)
@pytest.mark.parametrize("name", ["add", "multiply", "less", "maximum", "divide"])
def test_numpy_scalars_are_strongly_typed_nep50(dtype, scalar, name, rng):
    # np.float64 subclasses Python's float, yet NEP 50 gives it its own dtype:
    # float32_array * np.float64(2.5) is float64, while * 2.5 stays float32.
    a = rand(rng, (5,), dtype)
    run_both(lambda: getattr(ember, name)(a, scalar), lambda: getattr(np, name)(a, scalar))
    run_both(lambda: getattr(ember, name)(scalar, a), lambda: getattr(np, name)(scalar, a))
    f = ember.jit(lambda x: getattr(np, name)(x, scalar))
    run_both(lambda: f(a), lambda: getattr(np, name)(a, scalar))


def test_int_overflow_of_python_scalar():
    a = np.arange(3, dtype=np.int32)
    with pytest.raises(OverflowError):
        np.add(a, 2**40)
    with pytest.raises(OverflowError):
        ember.add(a, 2**40)


@pytest.mark.parametrize(
    "name",
    [
        "equal",
        "not_equal",
        "less",
        "greater_equal",
        "logical_and",
        "logical_xor",
        "divide",
        "arctan2",
        "hypot",
        "copysign",
    ],
)
@pytest.mark.parametrize("scalar", [2**40, -(2**40), 2**31])
def test_int32_with_a_python_int_beyond_its_range_compares_and_divides(name, scalar, rng):
    # NumPy 2 compares exactly (int32_array < 2**40 is all True) and divides in float64;
    # Ember raised OverflowError.
    a = rand(rng, (7,), "int32")
    run_both(lambda: getattr(ember, name)(a, scalar), lambda: getattr(np, name)(a, scalar))
    run_both(lambda: getattr(ember, name)(scalar, a), lambda: getattr(np, name)(scalar, a))
    f = ember.jit(lambda x: getattr(np, name)(x, scalar))
    run_both(lambda: f(a), lambda: getattr(np, name)(a, scalar))
    t = ember.asarray(a)
    assert_same(t < scalar, a < scalar)
    assert_same(t == scalar, a == scalar)
    assert_same(scalar / t, scalar / a)


@pytest.mark.parametrize("exponent", [2, 3, 2.0, np.int64(2), True])
def test_bool_array_power_operator(exponent, rng):
    # NumPy's ndarray.__pow__ turns ``** 2`` into np.square, int8 for bools (np.power gives
    # int64): Ember refuses it as it does other int8 results instead of returning int64.
    a = rand(rng, (5,), "bool")
    run_both(lambda: ember.asarray(a) ** exponent, lambda: a**exponent)
    run_both(lambda: ember.jit(lambda x: x**exponent)(a), lambda: a**exponent)


@pytest.mark.parametrize("a,b", [(7, 2), (-7, 2), (7, -2), (-7, -2), (5, 0), (0, 0)])
@pytest.mark.parametrize("dtype", ["int32", "int64", "float64"])
def test_floor_divide_and_remainder_signs(a, b, dtype):
    x, y = np.array([a], dtype), np.array([b], dtype)
    run_both(lambda: ember.floor_divide(x, y), lambda: np.floor_divide(x, y))
    run_both(lambda: ember.remainder(x, y), lambda: np.remainder(x, y))
    run_both(lambda: ember.fmod(x, y), lambda: np.fmod(x, y))


#: Edge values for the math library functions: signed zeros, subnormal, tiny and huge
#: magnitudes, ±1 and their neighbours (poles and branch points), exact powers, infinities,
#: NaN and out-of-domain arguments.
EDGES = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    1 + 2**-52,
    1 - 2**-53,
    -1 + 2**-53,
    5e-324,
    1e-300,
    -1e-300,
    1e-10,
    2.0,
    8.0,
    27.0,
    -27.0,
    1000.0,
    1e-5,
    10.0,
    1e10,
    -1e10,
    3.4e38,
    1e300,
    -1e300,
    1.7e308,
    1023.5,
    1024.0,
    -1074.0,
    -1100.0,
    np.inf,
    -np.inf,
    np.nan,
]
MATH_UNARY = ["log2", "log10", "exp2", "cbrt", "arcsinh", "arccosh", "arctanh"]
MATH_BINARY = ["hypot", "copysign", "fmod"]


def assert_math_same(got, want):
    """Same dtype, NaN where NumPy has NaN (of either sign), the same signed zeros and
    infinities, and finite values within 4 ULP (NumPy's AVX-512 loops and the C library
    differ by 1-2)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    num = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[num]), np.signbit(want[num]))
    fin = np.isfinite(want)
    np.testing.assert_array_max_ulp(got[fin], want[fin], maxulp=4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", MATH_UNARY)
def test_math_functions_at_their_edges(name, dtype):
    with np.errstate(all="ignore"):
        x = np.array(EDGES).astype(dtype)
        want = getattr(np, name)(x)
        assert_math_same(getattr(ember, name)(x), want)
        assert_math_same(ember.jit(lambda v: getattr(np, name)(v), fallback="error")(x), want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", MATH_BINARY)
def test_binary_math_functions_at_their_edges(name, dtype):
    # Every pair of edge values.
    with np.errstate(all="ignore"):
        a = np.array(EDGES).astype(dtype)[:, None]
        b = np.array(EDGES).astype(dtype)
        want = getattr(np, name)(a, b)
        assert_math_same(getattr(ember, name)(a, b), want)
        assert_math_same(ember.jit(lambda x, y: getattr(np, name)(x, y), fallback="error")(a, b), want)


def test_math_functions_exact_values():
    # Exact where NumPy is exact, for float64, float32 and integer inputs (float64 results).
    for dtype in ["float64", "float32", "int64", "int32"]:
        jit = ember.jit(lambda v: (np.log10(v[0]), np.log2(v[1]), np.exp2(v[2]), np.cbrt(v[3])), fallback="error")
        x = np.array([1000, 8, 10, 27], dtype)
        for got in (
            (ember.log10(x[0]), ember.log2(x[1]), ember.exp2(x[2]), ember.cbrt(x[3])),
            jit(x),
        ):
            assert [float(np.asarray(v)) for v in got] == [3.0, 3.0, 1024.0, 3.0]
            want_dtype = np.float32 if dtype == "float32" else np.float64
            assert all(np.asarray(v).dtype == want_dtype for v in got)
    assert float(ember.cbrt(np.array(-27.0))) == -3.0
    assert float(ember.log10(np.array(1e-5))) == -5.0
    assert np.isfinite(ember.hypot(np.array(1e300), np.array(1e300)))
    assert float(ember.hypot(np.float32(3e38), np.float32(3e38))) == np.inf
    assert float(ember.copysign(np.array(1.0), np.array(-0.0))) == -1.0
    assert float(ember.copysign(np.array(-1.0), np.array(0.0))) == 1.0


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32", "float64"])
def test_fmod_takes_the_sign_of_the_dividend(dtype):
    a = np.array([7, -7, 7, -7, 6, -6, 5, 0, 3], dtype)
    b = np.array([3, 3, -3, -3, 3, 3, 0, 0, 10], dtype)
    with np.errstate(all="ignore"):
        want = np.fmod(a, b)
        run_both(lambda: ember.fmod(a, b), lambda: np.fmod(a, b))
        got = ember.jit(np.fmod, fallback="error")(a, b)
    assert_same(got, want)
    if dtype.startswith("float"):
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    else:
        # The most negative value modulo -1 is 0 (C's `%` overflows there).
        m = np.array([np.iinfo(dtype).min], dtype)
        m1 = np.array([-1], dtype)
        assert_same(ember.fmod(m, m1), np.fmod(m, m1))
        assert_same(ember.jit(np.fmod, fallback="error")(m, m1), np.fmod(m, m1))


@pytest.mark.parametrize("name", MATH_UNARY + MATH_BINARY)
def test_math_functions_of_bool_refuse_float16_and_int8(name):
    # NumPy gives float16 (int8 for fmod), which Ember does not support: TypeError, eagerly
    # and under jit, like np.sqrt of bools.
    x = np.array([True, False])
    args = (x,) if name in MATH_UNARY else (x, x)
    with np.errstate(all="ignore"):
        assert getattr(np, name)(*args).dtype in (np.float16, np.int8)
    with pytest.raises(TypeError, match="float16|int8"):
        getattr(ember, name)(*args)
    with pytest.raises(TypeError, match="float16|int8"):
        ember.jit(lambda *v: getattr(np, name)(*v), fallback="error")(*args)


def test_integer_negative_power_raises():
    with pytest.raises(ValueError):
        ember.power(np.array([2]), np.array([-1]))


REDUCTIONS = ["sum", "prod", "max", "min", "any", "all", "mean", "argmax", "argmin"]


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, dtype, axis, keepdims, rng):
    x = rand(rng, (3, 4, 5), dtype)
    if name in ("argmax", "argmin") and isinstance(axis, tuple):
        return
    run_both(
        lambda: getattr(ember, name)(x, axis=axis, keepdims=keepdims),
        lambda: getattr(np, name)(x, axis=axis, keepdims=keepdims),
    )


@pytest.mark.parametrize("name", REDUCTIONS + ["var", "std"])
@pytest.mark.parametrize("axis", [0, -1, 1, (0,), ()])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_of_0d_take_axis_0_or_minus_1(name, axis, keepdims):
    # NumPy's ufunc reductions and argmax/argmin accept an int axis of 0 or -1 on a 0-d array
    # and reduce nothing (Ember raised AxisError); mean, var and std raise AxisError; argmax
    # takes no tuple, not even (0,) (Ember took it).
    x = np.array(2.5)
    want = lambda: getattr(np, name)(x, axis=axis, keepdims=keepdims)
    run_both(lambda: getattr(ember, name)(x, axis=axis, keepdims=keepdims), want)
    run_both(lambda: getattr(np, name)(ember.asarray(x), axis=axis, keepdims=keepdims), want)
    f = ember.jit(lambda v: getattr(np, name)(v, axis=axis, keepdims=keepdims))
    run_both(lambda: f(x), lambda: getattr(np, name)(x, axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_takes_no_tuple_axis(name, rng):
    x = rand(rng, (3, 4), "float32")
    run_both(lambda: getattr(ember, name)(x, axis=(1,)), lambda: getattr(np, name)(x, axis=(1,)))


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("dtype", ["int32", "float32", "float64"])
@pytest.mark.parametrize("ddof", [0, 1])
def test_moments(name, dtype, ddof, rng):
    x = rand(rng, (4, 6), dtype)
    for axis in (None, 0, 1):
        run_both(
            lambda: getattr(ember, name)(x, axis=axis, ddof=ddof), lambda: getattr(np, name)(x, axis=axis, ddof=ddof)
        )


@pytest.mark.parametrize("name,ddof", [("mean", 0), ("var", 0), ("var", 1), ("std", 0), ("std", 1)])
@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_moments_with_an_integer_dtype_follow_numpy(name, ddof, src, dtype, rng):
    # NumPy sums in dtype and casts each quotient back to it (truncating): an integer result,
    # not Ember's float64 of the cast input; std of an array result raises TypeError.
    x = (rng.standard_normal((3, 4)) * 5).astype(src)
    for axis, keepdims in [(None, False), (None, True), (0, False), (1, True), ((0, 1), False)]:
        kw = dict(axis=axis, dtype=dtype, keepdims=keepdims) | ({"ddof": ddof} if name != "mean" else {})
        want = lambda: getattr(np, name)(x, **kw)
        run_both(lambda: getattr(ember, name)(x, **kw), want)
        f = ember.jit(lambda v: getattr(np, name)(v, **kw))
        run_both(lambda: f(x), want)


@pytest.mark.parametrize("name", ["sum", "prod", "any", "all", "mean"])
def test_empty_reductions(name):
    x = np.zeros((0, 3), np.float32)
    run_both(lambda: getattr(ember, name)(x, axis=0), lambda: getattr(np, name)(x, axis=0))


def test_max_of_empty_raises():
    with pytest.raises(ValueError):
        ember.max(np.zeros((0,), np.float32))


def test_float32_sum_is_pairwise_accurate():
    x = np.full(1_000_003, 0.1, np.float32)
    got = float(np.asarray(ember.sum(x)))
    assert abs(got - float(np.sum(x))) <= 1e-4 * abs(float(np.sum(x)))


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 4), (4, 5)),
        ((4,), (4, 2)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 3, 4), (4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((0, 3), (3, 2)),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul(sa, sb, dtype, rng):
    a, b = rand(rng, sa, dtype), rand(rng, sb, dtype)
    run_both(lambda: ember.matmul(a, b), lambda: np.matmul(a, b))
    tol = 1e-5 if dtype == "float32" else None
    if dtype.startswith("float"):
        assert_same(ember.asarray(a) @ b, a @ b, rtol=tol)


def test_matmul_mixed_dtypes_and_mismatch(rng):
    a, b = rand(rng, (3, 4), "int32"), rand(rng, (4, 2), "float32")
    assert_same(ember.matmul(a, b), np.matmul(a, b))
    with pytest.raises(ValueError):
        ember.matmul(a, rand(rng, (3, 2), "int32"))


def test_where_clip_astype(rng):
    c = rand(rng, (3, 4), "bool")
    a, b = rand(rng, (3, 4), "float32"), rand(rng, (4,), "int64")
    assert_same(ember.where(c, a, b), np.where(c, a, b))
    assert_same(ember.where(c, a, 0.0), np.where(c, a, 0.0))
    assert_same(ember.clip(a, -1, 1.5), np.clip(a, -1, 1.5))
    for d in ["bool", "int32", "int64", "float32", "float64"]:
        assert_same(ember.astype(a * 3, d), (a * 3).astype(d))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "lo,hi",
    [(0.5, np.float32(3.0)), (-2, np.float32(2.5)), (np.int64(-1), 2), (None, np.float32(0.5))]
    + [(0, 2**40), (-(2**40), 3), (1, 2**40)]
    # A weak float bound makes a weak int bound float64 too, where 2**40 fits.
    + [(2**40, 0.5), (-(2**40), np.float32(0.5))]
    # Crossed bounds where a_max is an integer array's largest value: NumPy drops it (seed
    # 1491739: clip(int32_array, inf, 2**31 - 1) is inf).
    + [(float("inf"), 2**31 - 1), (float("inf"), 2**63 - 1)]
    + [(np.float32(3e9), 2**31 - 1), (-(2**31), -(2**31)), (2**31 - 1, -(2**31))],
)
def test_clip_promotes_its_three_operands_together(dtype, lo, hi, rng):
    # NumPy promotes x, a_min and a_max at once (NEP 50): clip(bool_array, 0.5, np.float32(3))
    # is float32, where promoting pairwise (maximum, then minimum) made it float64. A Python
    # int at or beyond an integer array's range on the side that clips nothing is dropped
    # (no OverflowError).
    a = rand(rng, (7,), dtype)
    run_both(lambda: ember.clip(a, lo, hi), lambda: np.clip(a, lo, hi))
    run_both(lambda: ember.jit(lambda x: np.clip(x, lo, hi))(a), lambda: np.clip(a, lo, hi))


@pytest.mark.parametrize("bounds", [(0.5, 2.0), (-1, None), (np.float32(0.5), False)])
def test_ndarray_clip_with_tensor_bounds(bounds, rng):
    # A NumPy array's or scalar's .clip() calls the np.clip ufunc: with a tensor bound it
    # reaches Tensor.__array_ufunc__, which ran it in NumPy (a traced call fell back).
    x, b = rand(rng, (5,), "float64"), rand(rng, (5,), "float32")
    for fn in [
        lambda t: x.clip(t, bounds[1]),
        lambda t: x.clip(bounds[0], t),
        lambda t: np.float64(0.5).clip(bounds[0], t),
    ]:
        want = fn(b)
        assert_same(fn(ember.asarray(b)), want)
        assert_same(ember.jit(fn, fallback="error")(b), want)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("lo,hi", [(0, 2**64), (-(2**64), 3), (float("inf"), 2**64)])
def test_clip_drops_bounds_beyond_int64_of_integer_arrays(dtype, lo, hi, rng):
    # As within int64: a Python int beyond an integer array's range on the side that clips
    # nothing is dropped (it raised OverflowError converting to an int64 operand).
    a = rand(rng, (7,), dtype)
    run_both(lambda: ember.clip(a, lo, hi), lambda: np.clip(a, lo, hi))
    run_both(lambda: ember.jit(lambda x: x.clip(lo, hi))(a), lambda: np.clip(a, lo, hi))


def test_clip_bound_beyond_int32_on_the_clipping_side_overflows(rng):
    a = rand(rng, (7,), "int32")
    for lo, hi in [(2**40, None), (None, -(2**40))]:
        with pytest.raises(OverflowError):
            np.clip(a, lo, hi)
        with pytest.raises(OverflowError):
            ember.clip(a, lo, hi)


def test_movement_ops(rng):
    x = rand(rng, (2, 3, 4), "float32")
    assert_same(ember.reshape(x, (4, -1)), x.reshape(4, -1))
    assert_same(ember.transpose(x), x.T)
    assert_same(ember.transpose(x, (1, 0, 2)), x.transpose(1, 0, 2))
    assert_same(ember.expand_dims(x, 1), np.expand_dims(x, 1))
    assert_same(ember.squeeze(x[:1]), np.squeeze(x[:1]))
    assert_same(ember.broadcast_to(x[0, 0], (3, 4)), np.broadcast_to(x[0, 0], (3, 4)))
    assert_same(ember.swapaxes(x, 0, 2), np.swapaxes(x, 0, 2))
    assert_same(ember.concatenate([x, x[:1]], axis=0), np.concatenate([x, x[:1]], axis=0))
    assert_same(ember.concatenate([x, x.astype(np.int32)], axis=-1), np.concatenate([x, x.astype(np.int32)], axis=-1))
    assert_same(ember.stack([x, x], axis=1), np.stack([x, x], axis=1))


@pytest.mark.parametrize(
    "key",
    [
        0,
        -1,
        (1, 2),
        slice(None),
        slice(1, None),
        slice(None, None, -1),
        (slice(None), 1),
        (Ellipsis, 0),
        (None, 0),
        (slice(3, 0, -2), Ellipsis, None),
        (0, slice(1, 3), -1),
        slice(10, 20),
        (slice(None), slice(None), slice(None, None, 3)),
    ],
)
def test_basic_indexing(key, rng):
    x = rand(rng, (4, 3, 5), "int64")
    assert_same(ember.asarray(x)[key], x[key])


def test_advanced_indexing_runs_in_numpy(rng):
    x = rand(rng, (5, 3), "float64")
    t = ember.asarray(x)
    assert_same(t[x[:, 0] > 0], x[x[:, 0] > 0])
    assert_same(t[[0, 2, 4]], x[[0, 2, 4]])


def test_creation():
    assert_same(ember.zeros((2, 3)), np.zeros((2, 3)))
    assert_same(ember.ones(4, dtype="int32"), np.ones(4, dtype="int32"))
    assert_same(ember.full((2, 2), 7), np.full((2, 2), 7))
    assert_same(ember.full((2, 2), 1.5, dtype="float32"), np.full((2, 2), 1.5, dtype="float32"))
    assert_same(ember.arange(5), np.arange(5))
    assert_same(ember.arange(1, 2, 0.25), np.arange(1, 2, 0.25))
    assert_same(ember.arange(10, 0, -3), np.arange(10, 0, -3))
    assert_same(ember.linspace(0, 1, 7), np.linspace(0, 1, 7))
    assert_same(
        ember.linspace(0, 1, 5, endpoint=False, dtype="float32"), np.linspace(0, 1, 5, endpoint=False, dtype="float32")
    )
    assert_same(ember.eye(3, 4, k=1), np.eye(3, 4, k=1))


def test_composites(rng):
    x = rand(rng, (3, 7), "float32")
    e = np.exp(x - x.max(axis=1, keepdims=True))
    assert_same(ember.softmax(x, axis=1), e / e.sum(axis=1, keepdims=True), rtol=1e-6)
    assert_same(ember.log_softmax(x, axis=1), np.log(e / e.sum(axis=1, keepdims=True)), rtol=1e-5, atol=1e-6)
    xd = x.astype(np.float64)
    lse = np.log(np.sum(np.exp(xd), axis=1))
    assert_same(ember.logsumexp(xd, axis=1), lse, rtol=1e-12)
    assert_same(ember.silu(xd), xd / (1 + np.exp(-xd)), rtol=1e-12)
    assert_same(ember.gelu(xd), 0.5 * xd * (1 + erf(xd / np.sqrt(2))), rtol=1e-12)
    mu = xd.mean(axis=-1, keepdims=True)
    ln = (xd - mu) / np.sqrt(xd.var(axis=-1, keepdims=True) + 1e-5)
    assert_same(ember.layer_norm(xd), ln, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["int32", "float32", "float64"])
def test_large_eager_ops_run_compiled_and_match_numpy(dtype, rng):
    # Above 64K elements eager elementwise ops, row reductions and float matmuls run as
    # compiled single-op kernels; results must not change.
    x = rand(rng, (300, 400), dtype)
    y = rand(rng, (400,), dtype)
    run_both(lambda: ember.exp(x), lambda: np.exp(x))
    run_both(lambda: ember.add(x, y), lambda: np.add(x, y))
    run_both(lambda: ember.maximum(x, 0.5), lambda: np.maximum(x, 0.5))
    run_both(lambda: ember.max(x, axis=1), lambda: np.max(x, axis=1))
    run_both(lambda: ember.astype(x, "float32"), lambda: x.astype("float32"))
    if dtype.startswith("float"):
        # Column sums with cancellation: compare against float64 within the rounding error a
        # float32 sum of these magnitudes can have (NumPy's own result is off by as much).
        got = ember.sum(x, axis=0)
        scale = np.abs(x).astype(np.float64).sum(axis=0)
        eps = 2e-6 if dtype == "float32" else 1e-14
        assert np.asarray(got).dtype == x.dtype
        np.testing.assert_allclose(
            np.asarray(got), x.astype(np.float64).sum(axis=0), rtol=0, atol=float(eps * scale.max())
        )
        big = rand(rng, (300, 300), dtype)
        assert_same(ember.matmul(big, big), big @ big, rtol=1e-4 if dtype == "float32" else 1e-10, atol=1e-4)


@pytest.mark.parametrize("name", ["sum", "prod"])
@pytest.mark.parametrize("src", ["bool", "int32", "int64", "float32"])
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float32", "float64"])
@pytest.mark.parametrize("axis", [None, 0])
def test_sum_and_prod_accumulate_in_the_requested_dtype(name, src, dtype, axis):
    # int32 sums wrap, bool sums are `any` and bool products `all`, as in NumPy.
    x = np.array([[2**31 - 1, 5, 0], [7, 2**30, 1]], dtype=np.int64).astype(src)
    t = ember.asarray(x)
    run_both(
        lambda: getattr(t, name)(axis=axis, dtype=dtype),
        lambda: getattr(x, name)(axis=axis, dtype=dtype),
    )
    f = ember.jit(lambda a: getattr(a, name)(axis=axis, dtype=dtype))
    run_both(lambda: f(x), lambda: getattr(x, name)(axis=axis, dtype=dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
@pytest.mark.parametrize(
    "exponent",
    [
        0.5,
        2,
        -1,
        2.0,
        -1.0,
        0,
        0.0,
        -0.0,
        np.float32(0.5),
        np.float64(2.0),
        np.array(0.5),
        np.array([-1.0]),
        np.zeros((1, 1)),
    ],
    ids=repr,
)
@pytest.mark.parametrize("mode", ["eager", "jit", "ufunc"])
def test_power_by_one_exponent_matches_numpy_bit_for_bit(dtype, exponent, mode):
    # NumPy computes x ** 0.5 as sqrt (-0.0 stays -0.0, -inf gives NaN, unlike C's pow),
    # x ** 2 as x * x and x ** -1 as 1 / x when one exponent applies to every element;
    # x ** 0 is 1 everywhere (NaN and infinities too), Ember's a fill instead of pow.
    x = np.array([-0.0, -np.inf, np.nan, 3.0, -2.0, 1e30, 1.1, 0.0, 7.0, 2.5e-3])
    x = x.astype(dtype) if dtype.startswith("float") else np.array([0, -3, 5, 7, 1, -1], dtype)
    compute = {
        "eager": lambda: ember.asarray(x) ** exponent,
        "jit": lambda: ember.jit(lambda a: a**exponent)(x),
        "ufunc": lambda: np.power(ember.asarray(x), exponent),
    }[mode]
    want = numpy_or_error(lambda: np.power(x, exponent))
    if isinstance(want, type):
        with pytest.raises(want):
            compute()
        return
    with np.errstate(all="ignore"):
        got = np.asarray(compute())
    assert got.dtype == want.dtype and got.shape == want.shape
    # Bit for bit: the sign of zero and NaN against inf are what differs from C's pow.
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8), err_msg=f"{got} vs {want}")
