"""``@ember.jit``: traced results equal NumPy and eager Ember; the cache, retrace reasons,
fallback reasons and error modes behave as documented."""

import warnings

import ember
import numpy as np
import pytest
from conftest import DTYPES, assert_same, rand


def w1(a, b, c):
    return np.tanh(a * b + c) * 0.5 + a / (1 + np.exp(-b))


@pytest.mark.parametrize("shape", [(), (1,), (7,), (33, 5)])
def test_w1_matches_numpy(shape, rng):
    a, b, c = (rand(rng, shape, "float32") for _ in range(3))
    f = ember.jit(w1)
    assert_same(f(a, b, c), w1(a, b, c), rtol=1e-5, atol=1e-6)
    assert f.cache_info().misses == 1


@pytest.mark.parametrize("name", ["exp", "negative", "sqrt", "floor", "isnan", "tanh", "absolute"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_under_jit(name, dtype, rng):
    x = rand(rng, (4, 3), dtype)
    with np.errstate(all="ignore"):
        try:
            want = getattr(np, name)(x)
        except TypeError:
            with pytest.raises(TypeError):
                ember.jit(lambda v: getattr(np, name)(v))(x)
            return
        if want.dtype == np.float16:
            return
        got = ember.jit(lambda v: getattr(np, name)(v))(x)
    assert_same(got, want, rtol=1e-6)


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_binary_under_jit(da, db, rng):
    a, b = rand(rng, (3, 4), da), rand(rng, (4,), db)
    for name in ("add", "multiply", "maximum", "less", "divide"):
        with np.errstate(all="ignore"):
            try:
                want = getattr(np, name)(a, b)
            except TypeError:
                continue
            got = ember.jit(lambda x, y: getattr(np, name)(x, y))(a, b)
        assert_same(got, want)


def test_methods_reductions_indexing_under_jit(rng):
    x = rand(rng, (4, 6), "float64")
    w = rand(rng, (6, 3), "float64")

    @ember.jit
    def f(x, w):
        y = x[:, 1:].sum(axis=1, keepdims=True) + (x @ w).max(axis=1, keepdims=True)
        z = np.where(x > 0, x, 0.0).mean(axis=0)
        return y, {"z": z, "t": x.T[::2]}, [np.concatenate([x, x], axis=0).std()]

    got = f(x, w)
    want = f.__wrapped__(x, w)
    assert_same(got[0], want[0])
    assert_same(got[1]["z"], want[1]["z"])
    assert_same(got[1]["t"], want[1]["t"])
    assert_same(got[2][0], want[2][0])


def test_cache_hits_and_retrace_reasons(rng):
    f = ember.jit(lambda x: x * 2 + 1)
    a = rand(rng, (4,), "float32")
    for _ in range(3):
        f(a)
    info = f.cache_info()
    assert (info.hits, info.misses, info.entries) == (2, 1, 1)
    f(rand(rng, (8,), "float32"))
    f(rand(rng, (8,), "float64"))
    info = f.cache_info()
    assert info.misses == 3
    assert "changed from float32[4] to float32[8]" in info.retraces[0]
    assert "changed from float32[8] to float64[8]" in info.retraces[1]


def test_retrace_warning_names_the_changing_argument(rng):
    f = ember.jit(lambda x: x + 1)
    with pytest.warns(ember.RetraceWarning, match="changed from float64"):
        for n in range(1, 9):
            f(np.zeros(n))


def test_static_args_and_python_scalars(rng):
    f = ember.jit(lambda x, n: x * n, static_argnums=1)
    a = rand(rng, (3,), "float32")
    assert_same(f(a, 3), a * 3)
    assert_same(f(a, 2.5), a * 2.5)
    assert f.cache_info().misses == 2
    g = ember.jit(lambda x, *, axis: x.sum(axis=axis), static_argnames="axis")
    m = rand(rng, (2, 3), "int32")
    assert_same(g(m, axis=1), m.sum(axis=1))


def test_numpy_float64_arguments_are_traced_like_other_numpy_scalars(rng):
    # np.float64 subclasses Python's float, but as an argument it is a NumPy scalar like
    # np.float32: strongly typed and traced (it was taken as a static Python float, so each
    # value retraced and methods on it ran in NumPy, making the call fall back).
    f = ember.jit(lambda x, s: (x * s, s.clip(0.0, x)))
    a = rand(rng, (4,), "float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ember.EmberWarning)
        for v in (2.5, -1.5, 0.25):
            got = f(a, np.float64(v))
            assert_same(got[0], a * np.float64(v))
            assert_same(got[1], np.float64(v).clip(0.0, a))
    info = f.cache_info()
    assert info.misses == 1 and info.fallbacks == []


def test_closed_over_arrays_become_constants(rng):
    w = rand(rng, (3,), "float64")
    f = ember.jit(lambda x: x * w + w)
    x = rand(rng, (2, 3), "float64")
    assert_same(f(x), x * w + w)
    assert "const" in str(f.explain(x).traced)


@pytest.mark.parametrize(
    "body,reason",
    [
        (lambda x: x * 2 if x.sum() > 0 else x, "bool"),
        (lambda x: x * float(x[0]), "float"),
        (lambda x: x[x > 0], "advanced indexing"),
        (lambda x: np.cumsum(x), "np.cumsum"),
        (lambda x: x * int(x.max()), "int"),
        (lambda x: x.astype(np.int64) & 3, "np.bitwise_and"),
        (lambda x: ~x.astype(np.int32), "np.invert"),
    ],
)
def test_fallback_runs_eagerly_with_a_reason(body, reason, rng):
    x = rand(rng, (5,), "float64")
    f = ember.jit(body)
    with pytest.warns(ember.FallbackWarning, match=reason):
        got = f(x)
    assert_same(got, body(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(f(x), body(x))  # remembered: no retrace, no second warning
    info = f.cache_info()
    assert info.misses == 1 and len(info.fallbacks) == 1
    assert "test_jit.py" in info.fallbacks[0]
    assert "eagerly" in str(f.explain(x))


def test_fallback_error_mode(rng):
    f = ember.jit(lambda x: x if x.sum() > 0 else -x, fallback="error")
    with pytest.raises(ember.TraceError, match="bool"):
        f(rand(rng, (3,), "float32"))


def test_exceptions_in_f_propagate_unchanged(rng):
    def f(x):
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        ember.jit(f)(rand(rng, (2,), "float32"))


def test_bad_calls(rng):
    f = ember.jit(lambda x, y: x + y)
    with pytest.raises(TypeError):
        f(np.zeros(2))
    with pytest.raises(ValueError, match="broadcast"):
        f(np.zeros(2), np.zeros(3))
    with pytest.raises(TypeError, match="unsupported dtype"):
        f(np.zeros(2, np.complex64), np.zeros(2, np.complex64))
    with pytest.raises(TypeError, match="must return arrays"):
        ember.jit(lambda x: "nope")(np.zeros(2))

    def rec(x):
        return rec(x)

    with pytest.raises(RecursionError, match="recursion while tracing"):
        ember.jit(rec)(np.zeros(2))


def test_nested_jit_inlines(rng):
    inner = ember.jit(lambda x: x * 2)
    outer = ember.jit(lambda x: inner(x) + 1)
    x = rand(rng, (3,), "float32")
    assert_same(outer(x), x * 2 + 1)
    assert inner.cache_info().misses == 0


def test_explain_shows_passes(rng):
    f = ember.jit(lambda x: (x * 1.0 + 0.0).sum())
    e = f.explain(rand(rng, (4,), "float32"))
    text = str(e)
    assert "traced" in text and "simplify" in text
    assert "multiply" in e.traced and "multiply" not in e.optimized


def test_outputs_are_numpy_views_or_tensors(rng):
    x = rand(rng, (4,), "float32")
    r = ember.jit(lambda v: v + 1)(x)
    assert isinstance(r, np.ndarray)
    t = ember.jit(lambda v: v + 1)(ember.asarray(x))
    assert isinstance(t, ember.Tensor)


def test_composites_under_jit(rng):
    x = rand(rng, (4, 9), "float32")
    f = ember.jit(lambda v: ember.softmax(v, axis=1))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    assert_same(f(x), e / e.sum(axis=1, keepdims=True), rtol=1e-6)


def test_explain_lower_and_viz_show_kernels(rng, tmp_path):
    a, b, c = (rand(rng, (64,), "float32") for _ in range(3))
    f = ember.jit(w1)
    e = f.explain(a, b, c)
    assert len(e.kernels) == 1
    name, ir, cuda, locs, _ = e.kernels[0]
    assert "tanh" in name and "tanh" in ir
    assert "__global__" in cuda and "double" not in cuda
    assert any("test_jit.py" in loc for loc in locs)
    text = str(e)
    assert "== kernel" in text and "as CUDA C" in text
    assert "== kernel" not in e.format(code=False)
    dot = f.lower(a, b, c).as_dot()
    assert dot.startswith("digraph") and "cluster_0" in dot and "tanh" in dot
    out = ember.viz(f, a, b, c, path=str(tmp_path / "g.dot"))
    assert open(out).read() == dot
    g = ember.jit(lambda x: x if x.sum() > 0 else -x)
    with pytest.warns(ember.FallbackWarning):
        lowered = g.lower(a)
    assert "runs eagerly" in lowered.as_text()
    with pytest.raises(ValueError, match="runs eagerly"):
        lowered.as_dot()


def test_placement_on_a_simulated_gpu_moves_big_work_and_keeps_tiny_work(rng):
    big = np.ones((1024, 1024), np.float32)
    f = ember.jit(lambda a, b: np.tanh(a @ b) + 1)
    report = f.placement(big, big)
    assert report.count("cpu -> cuda:0") == 2 and report.count("cuda:0 -> cpu") == 1
    assert "cheaper on cuda:0" in report
    tiny = ember.jit(lambda x: x * 2 + 1)
    assert "no copies" in tiny.placement(np.ones(4, np.float32))
    assert "no copies" in f.placement(big, big, target="host")
    with pytest.raises(ValueError, match="target"):
        f.placement(big, big, target="tpu")
