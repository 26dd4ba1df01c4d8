"""NumPy ufuncs and functions composed of Ember's ops (deg2rad ... logaddexp, the ufuncs'
``.outer``, diff, pad, split, roll, repeat, the stacks, diagonal/trace/diag, inner/vdot/cross,
average/ptp/cov/corrcoef, isclose, nan_to_num...), traced under ``@ember.jit`` without falling
back and run eagerly on tensors, against NumPy: dtype, shape and values (exact where NumPy's
computation is copied exactly), or the same exception type. Arguments Ember cannot record fall
back with a reason that names them."""

import warnings

import ember
import numpy as np
import pytest
from conftest import DTYPES, assert_same, rand

FLOATS = ["float32", "float64"]
SHAPES = [(), (0,), (7,), (3, 5), (2, 0, 3)]
NONEMPTY = [(7,), (3, 5), (2, 3, 4)]


def expected(fn, *args):
    """NumPy's answer (a tree of arrays), or the class of the exception it raised (TypeError
    for results in a dtype Ember lacks, such as float16 or int8)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            r = fn(*args)
        except np.exceptions.AxisError:
            return np.exceptions.AxisError
        except (TypeError, ValueError, IndexError, ZeroDivisionError) as e:
            return next(c for c in (TypeError, ValueError, IndexError, ZeroDivisionError) if isinstance(e, c))
    bad = False

    def leaves(x):
        nonlocal bad
        if isinstance(x, (tuple, list)):
            return type(x)(leaves(v) for v in x)
        a = np.asarray(x)
        bad = bad or a.dtype in (np.float16, np.int8, np.uint8, np.int16)
        return a

    r = leaves(r)
    return TypeError if bad else r


def same_tree(got, want, rtol=None, atol=0.0):
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), f"{got!r} vs NumPy's {want!r}"
        for g, w in zip(got, want, strict=True):
            same_tree(g, w, rtol, atol)
        return
    assert_same(got, want, rtol=rtol, atol=atol)


def as_tensors(args):
    return [ember.asarray(a) if isinstance(a, np.ndarray) else a for a in args]


def check(fn, *args, rtol=None, atol=0.0, eager=True):
    """``fn`` traced (no fallback allowed) and, with ``eager``, called on tensors, against
    ``fn`` on the NumPy arrays (NumPy scalars among ``args`` become 0-d arrays)."""
    args = [np.asarray(a) if isinstance(a, np.generic) else a for a in args]
    want = expected(fn, *args)
    f = ember.jit(fn, fallback="error")
    runs = [lambda: f(*args)]
    if eager:
        runs.append(lambda: fn(*as_tensors(args)))
    for run in runs:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("error", ember.FallbackWarning)
            if isinstance(want, type):
                with pytest.raises(want):
                    run()
                continue
            got = run()
        same_tree(got, want, rtol=rtol, atol=atol)
    if not isinstance(want, type):
        assert f.cache_info().fallbacks == []


def falls_back(fn, *args, reason):
    """``fn`` falls back with ``reason`` in its recorded reason, and still returns NumPy's
    answer."""
    f = ember.jit(fn)
    with pytest.warns(ember.FallbackWarning, match=reason), np.errstate(all="ignore"):
        got = f(*args)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want = fn(*args)
    same_tree(got, want)
    (recorded,) = f.cache_info().fallbacks
    return recorded


def specials(rng, shape, dtype):
    """Random values with zeros, halves, signed zeros, infinities and NaNs mixed in."""
    x = rand(rng, shape, dtype)
    if x.size and x.dtype.kind == "f":
        flat = x.reshape(-1)
        extra = np.array([0.0, -0.0, 0.5, -0.5, 1.5, -2.5, np.inf, -np.inf, np.nan], x.dtype)
        pos = rng.choice(flat.size, size=min(flat.size, 4), replace=False)
        flat[pos] = rng.choice(extra, size=pos.size)
    elif x.size and x.dtype.kind == "i":
        x.reshape(-1)[0] = 0
    return x


# --- elementwise ufuncs --------------------------------------------------------------------

UNARY = ["deg2rad", "radians", "rad2deg", "degrees", "trunc", "conjugate", "conj"]


@pytest.mark.parametrize("name", ["deg2rad", "rad2deg", "trunc", "conjugate"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_unary_ufuncs_exactly(name, dtype, shape, rng):
    x = specials(rng, shape, dtype) * (100 if dtype.startswith("float") else 1)
    check(lambda v: getattr(np, name)(v), x.astype(dtype), rtol=0)


@pytest.mark.parametrize("alias,name", [("radians", "deg2rad"), ("degrees", "rad2deg"), ("conj", "conjugate")])
def test_unary_ufunc_aliases(alias, name, rng):
    for dtype in DTYPES:
        check(lambda v: getattr(np, alias)(v), specials(rng, (3, 5), dtype), rtol=0)
    assert getattr(ember, alias) is getattr(ember, name)


@pytest.mark.parametrize("name", ["deg2rad", "rad2deg"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_angle_conversions_use_numpys_constants(name, dtype, rng):
    # float32 rad2deg multiplies by 180.0f / NPY_PIf, not by float32(180 / pi).
    x = np.concatenate([rng.standard_normal(3000) * 1000, np.arange(-720, 721)]).astype(dtype)
    check(lambda v: getattr(np, name)(v), x, rtol=0)
    assert_same(getattr(ember, name)(x), getattr(np, name)(x), rtol=0)


BINARY = ["fmax", "fmin", "heaviside", "logaddexp", "divmod", "float_power"]
PAIRS = [("bool", "bool"), ("int32", "int32"), ("int32", "int64"), ("int64", "float32"), ("float32", "float32")]
PAIRS += [("float32", "float64"), ("float64", "float64"), ("bool", "float32"), ("int32", "float32")]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("da,db", PAIRS)
@pytest.mark.parametrize("sa,sb", [((7,), (7,)), ((3, 1), (4,)), ((), (0,)), ((2, 0, 3), (3,))])
def test_binary_ufuncs(name, da, db, sa, sb, rng):
    a, b = specials(rng, sa, da), specials(rng, sb, db)
    if name in ("divmod",) and b.dtype.kind in "iu":
        b[b == 0] = 3  # integer division by zero is not this test's subject
    check(lambda x, y: getattr(np, name)(x, y), a, b, rtol=1e-5 if name == "logaddexp" else None)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", [2, -1.5, 0.0])
def test_binary_ufuncs_with_weak_python_scalars(name, dtype, scalar, rng):
    if name == "divmod" and scalar == 0.0:
        scalar = 3.0
    x = specials(rng, (6,), dtype)
    check(lambda v: getattr(np, name)(v, scalar), x, rtol=1e-5)
    check(lambda v: getattr(np, name)(scalar, v), x, rtol=1e-5)


@pytest.mark.parametrize("name", ["fmax", "fmin"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_fmax_fmin_ignore_nans(name, dtype):
    # (Which of -0.0 and 0.0 NumPy returns depends on its loop: SIMD or not, the dtype.)
    a = np.array([np.nan, 1.0, np.nan, -0.0, 0.0, -np.inf, 3.0], dtype)
    b = np.array([2.0, np.nan, np.nan, 0.0, -0.0, np.inf, -3.0], dtype)
    check(lambda x, y: getattr(np, name)(x, y), a, b, rtol=0)


def test_heaviside_special_values():
    x = np.array([np.nan, -np.inf, -1.0, -0.0, 0.0, 2.0, np.inf])
    for h0 in [0.5, np.nan, np.full(7, 2.0)]:
        check(lambda v: np.heaviside(v, h0), x, rtol=0)
    check(lambda v, h: np.heaviside(v, h), x.astype(np.float32), np.linspace(0, 1, 7).astype(np.float32))


@pytest.mark.parametrize("dtype", FLOATS)
def test_logaddexp_special_values(dtype):
    vals = np.array([-np.inf, -1000.0, -1.0, 0.0, 1e-3, 1.0, 30.0, 1000.0, np.inf, np.nan])
    a, b = (v.astype(dtype) for v in np.meshgrid(vals, vals))
    check(lambda x, y: np.logaddexp(x, y), a, b, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_divmod_by_zero_and_negative_operands(rng):
    a = np.array([7.0, -7.0, 7.0, -7.0, 0.0, 1.0, np.inf, np.nan])
    b = np.array([2.0, 2.0, -2.0, -2.0, 0.0, 0.0, 3.0, 1.0])
    check(lambda x, y: np.divmod(x, y), a, b)
    check(lambda x, y: np.divmod(x, y), np.array([7, -7, 7, -7, 0]), np.array([2, 2, -2, -2, 5], np.int32))


def test_float_power_of_negative_bases(rng):
    check(lambda x: np.float_power(x, 0.5), np.array([-4.0, 4.0, 0.0], np.float32))
    check(lambda x: np.float_power(x, -2), np.array([-2, 3, 0], np.int32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_sinc(dtype, shape, rng):
    x = specials(rng, shape, dtype)
    check(lambda v: np.sinc(v), x, rtol=1e-5, atol=1e-6)


def test_sinc_at_integers_and_zero():
    x = np.arange(-4, 5).astype(np.float64)
    check(lambda v: np.sinc(v), x, rtol=1e-12, atol=1e-15)
    check(lambda v: np.sinc(v), np.array([0, 1, 2]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["fix", "isposinf", "isneginf", "isreal", "iscomplex", "real", "imag"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3, 5)])
def test_elementwise_functions(name, dtype, shape, rng):
    check(lambda v: getattr(np, name)(v), specials(rng, shape, dtype), rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("deg", [False, True])
def test_angle(dtype, deg, rng):
    check(lambda v: np.angle(v, deg=deg), specials(rng, (3, 5), dtype))
    check(lambda v: np.angle(v, deg), specials(rng, (), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_iscomplexobj_isrealobj(dtype, rng):
    def f(v):
        assert not np.iscomplexobj(v) and np.isrealobj(v)
        return v + 0 if v.dtype != np.bool_ else v

    check(f, rand(rng, (3,), dtype))
    assert np.iscomplexobj(ember.asarray(rand(rng, (3,), dtype))) is False
    assert ember.isrealobj(rand(rng, (3,), dtype)) is True


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3, 5)])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"nan": 5.0},
        {"nan": -1, "posinf": 100.0, "neginf": -100.0},
        {"posinf": 1e300},
        {"neginf": np.float64(-3.25)},
    ],
)
def test_nan_to_num(dtype, shape, kw, rng):
    check(lambda v: np.nan_to_num(v, **kw), specials(rng, shape, dtype), rtol=0)


def test_nan_to_num_bad_value_and_copy_false(rng):
    x = specials(rng, (6,), "float32")
    check(lambda v: np.nan_to_num(v, nan="a"), x)  # ValueError: could not convert
    falls_back(lambda v: np.nan_to_num(v, copy=False), x, reason=r"np\.nan_to_num.*copy=False")
    falls_back(lambda v: np.nan_to_num(v, nan=np.zeros(6)), x, reason="nan= given as an array")


# --- isclose --------------------------------------------------------------------------------

ISCLOSE = [
    np.array([1.0, 1.0 + 1e-6, 1.1, np.inf, -np.inf, np.inf, np.nan, np.nan, 0.0, 1e-9]),
    np.array([1.0, 1.0, 1.0, np.inf, np.inf, 5.0, np.nan, 1.0, 1e-9, 0.0]),
]


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
@pytest.mark.parametrize("equal_nan", [False, True])
def test_isclose_dtypes(da, db, equal_nan, rng):
    a, b = (
        x.astype(d) if d.startswith("float") else rand(rng, x.shape, d) for x, d in zip(ISCLOSE, (da, db), strict=True)
    )
    check(lambda x, y: np.isclose(x, y, equal_nan=equal_nan), a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "other", [1.0, 1, True, 1e-9, float("inf"), float("nan"), np.float32(1.0), np.array([1.0, 2.0], np.float32)]
)
def test_isclose_with_scalars_and_arrays(dtype, other, rng):
    x = (ISCLOSE[0][:2] if dtype.startswith("float") else rand(rng, (2,), dtype)).astype(dtype)
    check(lambda v: np.isclose(v, other, equal_nan=True), x)
    check(lambda v: np.isclose(other, v), x)


@pytest.mark.parametrize(
    "rtol,atol", [(0.0, 0.0), (1e-3, 0.0), (0.0, 0.2), (np.float32(0.1), 0), (np.array([0.1, 0.0]), 1e-8)]
)
def test_isclose_tolerances(rtol, atol):
    a = np.array([1.0, 1.05], np.float32)
    b = np.array([1.1, 1.0], np.float32)
    check(lambda x, y: np.isclose(x, y, rtol=rtol, atol=atol), a, b)
    check(lambda x, y: np.isclose(x, y, rtol, atol), a, b)


def test_isclose_with_traced_tolerances_falls_back(rng):
    x = rand(rng, (4,), "float64")
    falls_back(lambda v, t: np.isclose(v, v + 0.05, atol=t), x, np.array(0.1), reason="atol given as traced")


def test_isclose_warns_for_a_nonfinite_tolerance():
    a = np.array([1.0, 2.0])
    with pytest.warns(RuntimeWarning, match="atol"):
        got = ember.jit(lambda v: np.isclose(v, 1.0, atol=np.inf), fallback="error")(a)
    assert_same(got, np.array([True, True]))


# --- ufunc keywords and .outer -------------------------------------------------------------


@pytest.mark.parametrize("name", UNARY)
def test_unary_ufunc_default_keywords_trace(name, rng):
    x = rand(rng, (3, 4), "float32")
    check(lambda v: getattr(np, name)(v, out=None, where=True, dtype=None, casting="same_kind"), x, rtol=0)


@pytest.mark.parametrize("name", BINARY)
def test_binary_ufunc_keywords_ember_lacks_fall_back_naming_them(name, rng):
    x, y = rand(rng, (3, 4), "float64"), rand(rng, (3, 4), "float64")
    out = (np.zeros((3, 4)), np.zeros((3, 4))) if name == "divmod" else np.zeros((3, 4))
    falls_back(
        lambda a, b: getattr(np, name)(a, b, where=a > 0, out=out), x, y, reason=rf"np\.{name} .*\(out=, where=\)"
    )
    falls_back(lambda a, b: getattr(np, name)(a, b, dtype=np.float64), x, y, reason=r"\(dtype=\)")


def test_unary_ufunc_out_falls_back_naming_it(rng):
    x = rand(rng, (3, 4), "float64")
    falls_back(lambda a: np.deg2rad(a, out=np.empty((3, 4))), x, reason=r"np\.deg2rad .*\(out=\)")
    falls_back(lambda a: np.trunc(a, where=a > 0, out=np.zeros((3, 4))), x, reason=r"\(out=, where=\)")
    # Also for ufuncs Ember has an op for.
    falls_back(lambda a: np.exp(a, where=a > 0, out=np.zeros((3, 4))), x, reason=r"np\.exp .*\(out=, where=\)")
    falls_back(lambda a: np.exp(a, dtype=np.float64), x, reason=r"np\.exp .*\(dtype=\)")
    check(lambda a: np.exp(a, where=True, dtype=None), x)


OUTER = ["add", "subtract", "multiply", "maximum", "minimum", "less", "equal", "greater_equal"]
OUTER += ["logical_and", "arctan2", "power", "fmax", "logaddexp", "divmod", "heaviside"]


@pytest.mark.parametrize("name", OUTER)
@pytest.mark.parametrize("da,db", [("int32", "int32"), ("float32", "float32"), ("int64", "float64"), ("bool", "bool")])
@pytest.mark.parametrize("sa,sb", [((2, 3), (4,)), ((), (3,)), ((0,), (2, 2))])
def test_ufunc_outer(name, da, db, sa, sb, rng):
    a, b = rand(rng, sa, da), rand(rng, sb, db)
    if name == "divmod" and b.dtype.kind == "i":
        b[b == 0] = 2
    if name == "power" and b.dtype.kind == "i":
        b = np.abs(b)
    check(lambda x, y: getattr(np, name).outer(x, y), a, b, rtol=1e-5)


def test_ufunc_outer_converts_scalars_like_asarray(rng):
    x = rand(rng, (3,), "float32")
    check(lambda v: np.add.outer(v, 1.5), x)  # float64, as NumPy's outer makes an array of 1.5
    check(lambda v: np.multiply.outer([1, 2], v), x)
    falls_back(lambda v: np.add.outer(v, v, out=np.empty((3, 3), np.float32)), x, reason=r"np\.add\.outer .*\(out=\)")
    falls_back(lambda v: np.add.accumulate(v), x, reason=r"np\.add\.accumulate")


# --- known fallbacks -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nonzero", "flatnonzero", "argwhere"])
def test_data_dependent_shapes_fall_back_saying_why(name, rng):
    x = rand(rng, (3, 4), "int32")
    reason = falls_back(lambda v: getattr(np, name)(v), x, reason="the result's shape depends on the data")
    assert reason.startswith(f"np.{name} is not supported")


# --- diff and ediff1d ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 0, 3), (2, 3, 4), ()])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_diff(dtype, shape, axis, rng):
    x = rand(rng, shape, dtype)
    for n in (1, 3):
        check(lambda v: np.diff(v, n, axis), x)
    check(lambda v: np.diff(v, 0, axis), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("prepend,append", [(0, None), (None, 1.5), (True, True), ("arr", "arr"), ("arr", 2)])
def test_diff_prepend_append(dtype, prepend, append, rng):
    x = rand(rng, (3, 4), dtype)
    extra = rand(rng, (3, 2), dtype)
    kw = {}
    for key, v in (("prepend", prepend), ("append", append)):
        if v is not None:
            kw[key] = extra if isinstance(v, str) else v
    check(lambda v: np.diff(v, axis=1, **kw), x)
    check(lambda v, e: np.diff(v, prepend=e), x, extra)


def test_diff_errors(rng):
    x = rand(rng, (3, 4), "float32")
    check(lambda v: np.diff(v, -1), x)  # ValueError
    check(lambda v: np.diff(v, axis=2), x)  # AxisError
    check(lambda v: np.diff(v, axis=0, prepend=np.zeros((1, 3))), x)  # ValueError: shapes
    check(lambda v: np.diff(v[0, 0]), x)  # ValueError: 0-d


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (1,), (3, 4)])
@pytest.mark.parametrize("to_begin,to_end", [(None, None), (0, None), (None, [1, 2]), (True, np.array([[3]]))])
def test_ediff1d(dtype, shape, to_begin, to_end, rng):
    check(lambda v: np.ediff1d(v, to_end=to_end, to_begin=to_begin), rand(rng, shape, dtype))


def test_ediff1d_rejects_unsafe_kinds(rng):
    check(lambda v: np.ediff1d(v, to_begin=1.5), rand(rng, (5,), "int32"))  # TypeError
    check(lambda v: np.ediff1d(v, to_end=np.float64(2.0)), rand(rng, (5,), "float32"))


# --- repeat and roll -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["bool", "float32"])
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 4), (2, 0, 3)])
@pytest.mark.parametrize("repeats", [0, 1, 3, [2], np.int64(2)])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_repeat_scalar_counts(dtype, shape, repeats, axis, rng):
    check(lambda v: np.repeat(v, repeats, axis), rand(rng, shape, dtype))


@pytest.mark.parametrize(
    "repeats", [[1, 0, 2], [2, 2, 2], [0, 0, 0], np.array([3, 1, 1]), [1, 2], [-1, 1, 1], [1.0, 2.0, 1.0], -1]
)
@pytest.mark.parametrize("axis", [0, 1, -2, None, 2])
def test_repeat_counts_per_element(repeats, axis, rng):
    check(lambda v: np.repeat(v, repeats, axis), rand(rng, (3, 3), "int64"))


def test_repeat_with_irregular_counts_falls_back(rng):
    x = rand(rng, (200,), "float32")
    counts = np.arange(200) % 3
    check(lambda v: np.repeat(v, np.repeat([1, 2, 0, 3], 30), axis=0), x[:120])  # four runs
    falls_back(lambda v: np.repeat(v, counts), x, reason="repeats with 133 runs of equal counts")
    falls_back(lambda v, r: np.repeat(v, r), x[:3], np.array([1, 2, 3]), reason="repeats given as a traced tensor")


@pytest.mark.parametrize("dtype", ["bool", "int64", "float32"])
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize(
    "shift,axis",
    [(1, None), (-3, None), (10, None), (2, 0), (-1, -1), ((1, 2), (0, -1)), (1, (0, 0)), ((1, -2), 0), (0, 0), (1, 5)],
)
def test_roll(dtype, shape, shift, axis, rng):
    check(lambda v: np.roll(v, shift, axis), rand(rng, shape, dtype))


def test_roll_errors(rng):
    x = rand(rng, (3, 4), "float32")
    check(lambda v: np.roll(v, [[1, 2]], 0), x)  # ValueError: not 1-d
    check(lambda v: np.roll(v, (1, 2, 3), (0, 1)), x)  # ValueError: shapes
    falls_back(lambda v, s: np.roll(v, s), x, np.array(1), reason="shift given as a traced tensor")


# --- pad -----------------------------------------------------------------------------------

PAD_WIDTHS = [0, 2, (1, 3), ((1, 0), (0, 2)), ((0, 7), (9, 1)), [[2]]]


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (1, 4), (2, 3, 2)])
@pytest.mark.parametrize("pad_width", PAD_WIDTHS, ids=repr)
def test_pad_modes(mode, shape, pad_width, rng):
    x = rand(rng, shape, "float32")
    if np.ndim(pad_width) == 2 and np.shape(pad_width)[0] != len(shape):
        pad_width = pad_width[0]
    check(lambda v: np.pad(v, pad_width, mode=mode), x)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pad_dtypes(mode, dtype, rng):
    check(lambda v: np.pad(v, ((1, 3), (2, 0)), mode=mode), rand(rng, (3, 4), dtype))


@pytest.mark.parametrize("mode", ["reflect", "symmetric"])
@pytest.mark.parametrize("dtype", ["bool", "int32", "float64"])
@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("pad_width", [1, (4, 0), (0, 6), (7, 11)])
def test_pad_reflect_odd(mode, dtype, n, pad_width, rng):
    x = rand(rng, (n, 2), dtype)
    check(lambda v: np.pad(v, (pad_width, (1, 1)), mode=mode, reflect_type="odd"), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values", [0, 1.5, -1, (2, 3), ((1, 2), (3, 4)), True, np.nan])
def test_pad_constant_values(dtype, values, rng):
    check(lambda v: np.pad(v, ((1, 2), (2, 1)), constant_values=values), rand(rng, (2, 3), dtype))


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0)])
@pytest.mark.parametrize("mode", ["constant", "edge", "wrap", "reflect"])
@pytest.mark.parametrize("pad_width", [((0, 0), (1, 1)), 1, 0])
def test_pad_empty_arrays(shape, mode, pad_width, rng):
    if len(shape) == 1 and np.ndim(pad_width) == 2:
        pad_width = pad_width[1]
    check(lambda v: np.pad(v, pad_width, mode=mode), rand(rng, shape, "float32"))


@pytest.mark.parametrize(
    "pad_width,mode,kw",
    [
        (-1, "constant", {}),  # ValueError: negative
        (1.5, "constant", {}),  # TypeError: not integral
        (((1, 2), (3, 4), (5, 6)), "edge", {}),  # ValueError: shape
        (1, "bogus", {}),  # ValueError: mode
        (1, "edge", {"constant_values": 1}),  # ValueError: keyword for the mode
        ({0: 1, 1: (2, 0)}, "wrap", {}),
        ({-1: 2}, "constant", {}),
    ],
)
def test_pad_arguments(pad_width, mode, kw, rng):
    check(lambda v: np.pad(v, pad_width, mode=mode, **kw), rand(rng, (3, 4), "int32"))


@pytest.mark.parametrize(
    "mode,reason", [("mean", "mode='mean'"), ("linear_ramp", "mode='linear_ramp'"), ("empty", "mode='empty'")]
)
def test_pad_modes_ember_lacks_fall_back_naming_them(mode, reason, rng):
    x = rand(rng, (3, 4), "float64")
    if mode == "empty":
        f = ember.jit(lambda v: np.pad(v, 1, mode=mode))
        with pytest.warns(ember.FallbackWarning, match=reason):
            assert f(x).shape == (5, 6)
        return
    falls_back(lambda v: np.pad(v, 1, mode=mode), x, reason=rf"np\.pad .*{reason}")


def test_pad_with_traced_values_falls_back(rng):
    x = rand(rng, (3,), "float64")
    falls_back(lambda v, c: np.pad(v, 1, constant_values=c), x, np.array(2.0), reason="constant_values given as a")
    falls_back(lambda v, w: np.pad(v, w), x, np.array(2), reason="pad_width given as a traced tensor")


def test_pad_far_wider_than_the_array_falls_back(rng):
    x = rand(rng, (2,), "float64")
    check(lambda v: np.pad(v, 40, mode="reflect"), x)
    falls_back(lambda v: np.pad(v, 200, mode="symmetric"), x, reason="slices per axis")


# --- split ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["split", "array_split"])
@pytest.mark.parametrize("shape", [(6,), (4, 6), (0, 6), (2, 3, 6)])
@pytest.mark.parametrize("ios", [1, 2, 3, 4, 5, 7, [2, 3], [1, 10], [-2], [4, 1], [], np.array([2, 5]), 0])
@pytest.mark.parametrize("axis", [0, -1, 3])
def test_split(name, shape, ios, axis, rng):
    check(lambda v: getattr(np, name)(v, ios, axis), rand(rng, shape, "int32"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_dtypes(dtype, rng):
    x = rand(rng, (4, 6), dtype)
    check(lambda v: np.split(v, 3, axis=1), x)
    check(lambda v: np.array_split(v, [1, 3]), x)


@pytest.mark.parametrize("name", ["hsplit", "vsplit", "dsplit"])
@pytest.mark.parametrize("shape", [(), (6,), (4, 6), (2, 4, 6)])
@pytest.mark.parametrize("ios", [2, [1, 3], 5])
def test_hsplit_vsplit_dsplit(name, shape, ios, rng):
    check(lambda v: getattr(np, name)(v, ios), rand(rng, shape, "int32"))


def test_split_with_traced_indices_falls_back(rng):
    x = rand(rng, (6,), "float64")
    falls_back(lambda v, i: np.split(v, i), x, np.array([2, 4]), reason="indices_or_sections given as a traced tensor")


# --- moveaxis, rollaxis, atleast_nd --------------------------------------------------------


@pytest.mark.parametrize(
    "src,dst", [(0, -1), (-1, 0), ((0, 1), (-1, -2)), ([0, 2], [2, 0]), (1, 1), (3, 0), ((0, 0), (1, 2)), ((0, 1), 2)]
)
def test_moveaxis(src, dst, rng):
    check(lambda v: np.moveaxis(v, src, dst), rand(rng, (2, 3, 4), "float32"))


@pytest.mark.parametrize("axis", [0, 1, -1, 3])
@pytest.mark.parametrize("start", [0, 1, 2, 3, -1, -4, 4])
def test_rollaxis(axis, start, rng):
    check(lambda v: np.rollaxis(v, axis, start), rand(rng, (2, 3, 4), "int64"))


@pytest.mark.parametrize("name", ["atleast_1d", "atleast_2d", "atleast_3d"])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 3, 4), (1, 2, 3, 4)])
def test_atleast_nd(name, shape, rng):
    x = rand(rng, shape, "int32")
    check(lambda v: getattr(np, name)(v), x)
    check(lambda v: getattr(np, name)(v, 2.5, v[..., :1]), x)


# --- stacks --------------------------------------------------------------------------------

STACKS = ["hstack", "vstack", "dstack", "column_stack", "row_stack"]


@pytest.mark.parametrize("name", STACKS)
@pytest.mark.parametrize(
    "shapes",
    [
        [(), ()],
        [(3,), (3,)],
        [(3,), (4,)],
        [(2, 3), (2, 3)],
        [(2, 3), (4, 3)],
        [(2, 3), (2, 5)],
        [(2, 3, 4), (2, 3, 1)],
        [(0, 3), (2, 3)],
        [(3,)],
    ],
)
@pytest.mark.parametrize("dtypes", [("int32", "int32"), ("bool", "float32"), ("int64", "float32")])
def test_stacks(name, shapes, dtypes, rng):
    arrays = [rand(rng, s, d) for s, d in zip(shapes, dtypes, strict=False)]
    check(lambda *vs: getattr(np, name)(vs), *arrays)
    check(lambda *vs: getattr(np, name)(list(vs) + [np.ones(shapes[0], np.int32)]), *arrays)


def test_stack_dtype_falls_back_and_row_stack_warns(rng):
    x = rand(rng, (2, 3), "float32")
    falls_back(lambda v: np.vstack([v, v], dtype=np.float64), x, reason=r"np\.vstack .*dtype=")
    falls_back(lambda v: np.hstack([v, v], casting="no"), x, reason=r"np\.hstack .*casting='no'")
    with pytest.warns(DeprecationWarning, match="row_stack"):
        ember.jit(lambda v: np.row_stack([v, v]), fallback="error")(x)


# --- average and ptp -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (), (0, 3)])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, -1)])
def test_average_unweighted(dtype, shape, axis, rng):
    x = rand(rng, shape, dtype)
    check(lambda v: np.average(v, axis=axis), x, rtol=1e-5)
    check(lambda v: np.average(v, axis=axis, returned=True, keepdims=True), x, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wdtype", ["int64", "float32", "float64"])
@pytest.mark.parametrize("axis,wshape", [(None, (3, 4)), (1, (4,)), (0, (3,)), ((0, 1), (3, 4)), (-1, (3, 4))])
def test_average_weighted(dtype, wdtype, axis, wshape, rng):
    x = rand(rng, (3, 4), dtype)
    w = (np.abs(rand(rng, wshape, wdtype)) + 1).astype(wdtype)
    check(lambda v: np.average(v, axis=axis, weights=w), x, rtol=1e-5)
    check(lambda v: np.average(v, axis=axis, weights=w, returned=True, keepdims=True), x, rtol=1e-5)


def test_average_weight_errors(rng):
    x = rand(rng, (3, 4), "float64")
    check(lambda v: np.average(v, weights=np.ones(4)), x)  # TypeError: axis needed
    check(lambda v: np.average(v, axis=1, weights=np.ones(3)), x)  # ValueError
    check(lambda v: np.average(v, axis=2), x)  # AxisError
    for fn in (lambda v: np.average(v, axis=1, weights=[1.0, -1.0, 0.0, 0.0]),):
        with pytest.raises(ZeroDivisionError):
            fn(x)
        with pytest.raises(ZeroDivisionError):
            ember.jit(fn, fallback="error")(x)
    with pytest.raises(ZeroDivisionError):
        ember.jit(lambda v: np.average(v, axis=0, returned=True), fallback="error")(np.zeros((3, 0)))


def test_average_with_traced_weights_falls_back(rng):
    x, w = rand(rng, (3, 4), "float64"), np.abs(rand(rng, (3, 4), "float64")) + 1
    reason = falls_back(lambda v, u: np.average(v, weights=u), x, w, reason="weights given as a traced tensor")
    assert "ZeroDivisionError" in reason
    assert_same(np.average(ember.asarray(x), weights=ember.asarray(w)), np.average(x, weights=w))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (), (0, 3)])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, -1)])
def test_ptp(dtype, shape, axis, rng):
    x = specials(rng, shape, dtype)
    check(lambda v: np.ptp(v, axis=axis), x)
    check(lambda v: np.ptp(v, axis, keepdims=True), x, eager=False)


# --- diagonal, trace, diag -----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 2), (0, 3), (2, 3, 4), (3, 1, 2, 3)])
@pytest.mark.parametrize("offset", [0, 1, -1, 2, -4, 7])
@pytest.mark.parametrize("axes", [(0, 1), (1, 0), (-1, -2), (0, -1)])
def test_diagonal_and_trace(shape, offset, axes, rng):
    x = rand(rng, shape, "float32")
    check(lambda v: np.diagonal(v, offset, *axes), x)
    check(lambda v: np.trace(v, offset, *axes), x, rtol=1e-5, eager=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (0, 3), (2, 3, 4)])
@pytest.mark.parametrize("offset", [0, 1, -2])
def test_diagonal_and_trace_dtypes(dtype, shape, offset, rng):
    x = rand(rng, shape, dtype)
    check(lambda v: np.diagonal(v, offset, 1, 0), x)
    check(lambda v: np.trace(v, offset, -1, 0), x, rtol=1e-5)


@pytest.mark.parametrize("dtype", [None, "int32", "float32", "bool"])
def test_trace_dtype(dtype, rng):
    for d in DTYPES:
        check(lambda v: np.trace(v, dtype=dtype), rand(rng, (4, 5), d), rtol=1e-5)


@pytest.mark.parametrize(
    "shape,offset,axes",
    [
        ((5,), 0, (0, 1)),
        ((), 0, (0, 1)),
        ((3, 3), 0, (0, 0)),
        ((3, 3), 0, (1, -1)),
        ((3, 3), 0, (0, 2)),
        ((3, 3), 1.0, (0, 1)),
    ],
)
def test_diagonal_errors(shape, offset, axes, rng):
    x = rand(rng, shape, "float64")
    check(lambda v: np.diagonal(v, offset, *axes), x)
    check(lambda v: np.trace(v, offset, *axes), x)


@pytest.mark.parametrize("dtype", ["bool", "int32", "float64"])
@pytest.mark.parametrize("shape", [(4,), (1,), (0,), (3, 3), (2, 5), (5, 2), (0, 2), (), (2, 2, 2)])
@pytest.mark.parametrize("k", [0, 1, -1, 3, -2])
def test_diag(dtype, shape, k, rng):
    check(lambda v: np.diag(v, k), rand(rng, shape, dtype))


def test_trace_out_falls_back(rng):
    x = rand(rng, (3, 3), "float64")
    falls_back(lambda v: np.trace(v, out=np.zeros(())), x, reason=r"np\.trace.*out=")


# --- inner, vdot, cross --------------------------------------------------------------------


@pytest.mark.parametrize("da,db", PAIRS)
@pytest.mark.parametrize(
    "sa,sb", [((4,), (4,)), ((2, 3), (3,)), ((2, 3), (4, 3)), ((), (3, 2)), ((2, 0), (3, 0)), ((3,), (4,))]
)
def test_inner(da, db, sa, sb, rng):
    check(lambda x, y: np.inner(x, y), rand(rng, sa, da), rand(rng, sb, db), rtol=1e-5)


@pytest.mark.parametrize("da,db", PAIRS)
@pytest.mark.parametrize("sa,sb", [((4,), (4,)), ((2, 3), (3, 2)), ((), ()), ((0,), (0, 2)), ((3,), (4,))])
def test_vdot(da, db, sa, sb, rng):
    check(lambda x, y: np.vdot(x, y), rand(rng, sa, da), rand(rng, sb, db), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["bool", "int32", "float32", "float64"])
@pytest.mark.parametrize("na,nb", [(3, 3), (2, 3), (3, 2), (2, 2), (4, 3)])
@pytest.mark.parametrize("lead", [((), ()), ((5,), (5,)), ((2, 1), (4,)), ((0,), ())])
def test_cross(dtype, na, nb, lead, rng):
    a, b = rand(rng, lead[0] + (na,), dtype), rand(rng, lead[1] + (nb,), dtype)
    check(lambda x, y: np.cross(x, y), a, b)


@pytest.mark.parametrize(
    "kw",
    [
        {"axisa": 0},
        {"axisa": 0, "axisb": 0},
        {"axisa": 0, "axisb": 0, "axisc": 0},
        {"axis": 0},
        {"axisa": 0, "axisc": -2},
        {"axisa": 2},
        {"axisc": 3},
    ],
)
def test_cross_axes(kw, rng):
    a, b = rand(rng, (3, 4), "float64"), rand(rng, (3, 4) if "axisb" in kw or "axis" in kw else (4, 3), "int32")
    check(lambda x, y: np.cross(x, y, **kw), a, b)


def test_cross_warns_for_2_vectors_like_numpy(rng):
    a = rand(rng, (4, 2), "float32")
    with pytest.warns(DeprecationWarning, match="2-dimensional vectors"):
        ember.jit(lambda x: np.cross(x, x), fallback="error")(a)


# --- cov and corrcoef ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 6), (6,), (1, 5), (4, 1), (2, 2), (0, 3)])
@pytest.mark.parametrize("rowvar", [True, False])
def test_cov(dtype, shape, rowvar, rng):
    check(lambda v: np.cov(v, rowvar=rowvar), rand(rng, shape, dtype), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 6), (6,), (4, 1), (0, 3)])
@pytest.mark.parametrize("kw", [{"bias": True}, {"ddof": 0}, {"ddof": 2}, {"ddof": 1.0}, {"ddof": 1.5}, {"ddof": 6}])
def test_cov_ddof_and_bias(shape, kw, rng):
    check(lambda v: np.cov(v, **kw), rand(rng, shape, "float64"), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 6), (6,), (1, 5), (4, 1), (0, 3)])
@pytest.mark.parametrize("rowvar", [True, False])
def test_corrcoef(dtype, shape, rowvar, rng):
    x = rand(rng, shape, dtype)
    check(lambda v: np.corrcoef(v, rowvar=rowvar), x, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", ["cov", "corrcoef"])
@pytest.mark.parametrize("sx,sy", [((2, 5), (5,)), ((5,), (5,)), ((2, 5), (3, 5)), ((5, 2), (5, 3)), ((2, 5), (2, 4))])
@pytest.mark.parametrize("rowvar", [True, False])
def test_cov_with_y(name, sx, sy, rowvar, rng):
    check(
        lambda x, y: getattr(np, name)(x, y, rowvar),
        rand(rng, sx, "float32"),
        rand(rng, sy, "int32"),
        rtol=1e-6,
        atol=1e-12,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_cov_dtype(dtype, rng):
    x = rand(rng, (3, 5), "float64")
    check(lambda v: np.cov(v, dtype=dtype), x, rtol=1e-6)
    check(lambda v: np.corrcoef(v, dtype=dtype), x, rtol=1e-6)


def test_cov_errors_and_weights(rng):
    x = rand(rng, (3, 5), "float64")
    check(lambda v: np.cov(v[None]), x)  # ValueError: 3-d
    check(lambda v: np.cov(v, v[None]), x)
    check(lambda v: np.cov(v, np.ones((5, 5))), x)  # ValueError: concatenate
    with pytest.warns(RuntimeWarning, match="Degrees of freedom"), np.errstate(divide="ignore"):
        ember.jit(lambda v: np.cov(v, ddof=5), fallback="error")(x)
    falls_back(lambda v: np.cov(v, fweights=[1, 2, 1, 1, 1]), x, reason=r"np\.cov .*fweights=")
    falls_back(lambda v: np.cov(v, aweights=np.ones(5)), x, reason="aweights=")


# --- ember namespace and eager calls -------------------------------------------------------

EXPORTED = ["deg2rad", "radians", "rad2deg", "degrees", "trunc", "fix", "isneginf", "isposinf", "nan_to_num"]
EXPORTED += ["fmax", "fmin", "heaviside", "logaddexp", "divmod", "float_power", "sinc", "real", "imag", "conj"]
EXPORTED += ["conjugate", "angle", "isreal", "iscomplex", "iscomplexobj", "isrealobj", "isclose", "diff", "ediff1d"]
EXPORTED += ["average", "ptp", "trace", "diagonal", "diag", "inner", "vdot", "cross", "repeat", "roll", "pad"]
EXPORTED += ["split", "array_split", "hsplit", "vsplit", "dsplit", "moveaxis", "rollaxis", "atleast_1d", "atleast_2d"]
EXPORTED += ["atleast_3d", "hstack", "vstack", "dstack", "column_stack", "row_stack", "cov", "corrcoef"]


def test_ember_namespace_exports_them():
    for name in EXPORTED:
        assert name in ember.__all__ and callable(getattr(ember, name)), name


def test_ember_functions_on_numpy_arrays(rng):
    x = rand(rng, (3, 4), "float64")
    y = rand(rng, (3, 4), "float64")
    cases = [
        (ember.deg2rad, np.deg2rad, (x,)),
        (ember.logaddexp, np.logaddexp, (x, y)),
        (ember.heaviside, np.heaviside, (x, 0.5)),
        (ember.isclose, np.isclose, (x, y)),
        (ember.diff, np.diff, (x,)),
        (ember.trace, np.trace, (x,)),
        (ember.diag, np.diag, (x[0],)),
        (ember.inner, np.inner, (x, y)),
        (ember.cov, np.cov, (x,)),
        (ember.average, np.average, (x,)),
        (lambda v: ember.pad(v, 2, mode="wrap"), lambda v: np.pad(v, 2, mode="wrap"), (x,)),
        (lambda v: ember.roll(v, 1, 0), lambda v: np.roll(v, 1, 0), (x,)),
        (lambda v: ember.repeat(v, 2, 1), lambda v: np.repeat(v, 2, 1), (x,)),
    ]
    for ours, theirs, args in cases:
        got = ours(*args)
        assert isinstance(got, ember.Tensor)
        assert_same(got, theirs(*args), rtol=1e-12)
    got = ember.split(x, 3)
    assert isinstance(got, list) and all(isinstance(g, ember.Tensor) for g in got)
    same_tree(got, np.split(x, 3))
    same_tree(ember.divmod(x, 2.0), np.divmod(x, 2.0))


def test_whole_file_functions_in_one_traced_program(rng):
    # One function mixing several of them compiles as one graph.
    def f(a, b):
        d = np.diff(np.pad(a, 1, mode="edge"), axis=0)
        c = np.cross(b[:, :3], b[:, 1:4])
        s = np.vstack(np.split(a, 2, axis=1))
        return np.trace(d) + np.average(c) + np.ptp(s), np.logaddexp(a, np.roll(a, 1))

    a, b = rand(rng, (4, 4), "float64"), rand(rng, (5, 4), "float64")
    check(f, a, b, rtol=1e-12)
