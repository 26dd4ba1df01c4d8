"""The NumPy boundary: zero-copy in and out, read-only views, lifetimes, documented copies,
the NumPy 2 ``__array__`` signature, DLPack and the dispatch protocols."""

import gc

import ember
import numpy as np
import pytest
from conftest import DTYPES, assert_same, rand


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 4)])
def test_c_contiguous_input_is_borrowed(dtype, shape, rng):
    a = rand(rng, shape, dtype)
    t = ember.asarray(a)
    assert t.dtype == a.dtype and t.shape == a.shape
    if a.size:
        assert ember._ember.data_ptr(t) == a.ctypes.data
    v = np.asarray(t)
    assert np.shares_memory(v, a) or a.size == 0
    assert not v.flags.writeable
    assert_same(v, a)


def test_views_are_borrowed_with_their_strides(rng):
    a = rand(rng, (6, 8), "float32")
    for view in (a[::2, 1::3], a.T, a[::-1], np.asfortranarray(a)):
        t = ember.asarray(view)
        assert np.shares_memory(np.asarray(t), view)
        assert_same(t, view)


def test_byteswapped_and_misaligned_inputs_are_copied(rng):
    a = rand(rng, (5,), "float64").astype(">f8")
    t = ember.asarray(a)
    assert t.dtype == np.float64
    assert_same(t, a.astype(np.float64))
    raw = np.zeros(33, np.uint8)
    mis = raw[1:].view(np.float32)
    assert_same(ember.asarray(mis), mis.copy())


@pytest.mark.parametrize(
    "bad",
    [np.zeros(3, np.complex128), np.array(["a"]), np.array([object()]), np.zeros(3, np.uint8), np.zeros(2, np.float16)],
)
def test_unsupported_dtypes_raise_type_error(bad):
    with pytest.raises(TypeError, match="unsupported dtype|cannot convert"):
        ember.asarray(bad)


def test_no_silent_dtype_conversion_in_ops():
    with pytest.raises(TypeError, match="x: unsupported dtype"):
        ember.exp(np.zeros(3, np.float16))


def test_lifetimes():
    a = np.arange(10, dtype=np.float64)
    t = ember.asarray(a)
    del a
    gc.collect()
    assert_same(t, np.arange(10, dtype=np.float64))
    v = t.numpy()
    del t
    gc.collect()
    assert_same(v, np.arange(10, dtype=np.float64))


def test_array_protocol_copy_semantics(rng):
    a = rand(rng, (4,), "float32")
    t = ember.asarray(a)
    assert np.shares_memory(np.asarray(t), a)
    c = np.array(t, copy=True)
    assert not np.shares_memory(c, a) and c.flags.writeable
    d = t.__array__(dtype=np.float64)
    assert d.dtype == np.float64
    with pytest.raises(ValueError):
        t.__array__(dtype=np.float64, copy=False)
    ai = t.__array_interface__
    assert ai["data"][0] == a.ctypes.data and ai["data"][1] is True


def test_asarray_copy_flag(rng):
    a = rand(rng, (4,), "int32")
    assert not np.shares_memory(np.asarray(ember.asarray(a, copy=True)), a)
    with pytest.raises(ValueError):
        ember.asarray(a, dtype="int64", copy=False)
    assert ember.asarray(a, dtype="int64").dtype == np.int64


def test_dlpack_both_ways(rng):
    a = rand(rng, (3, 4), "float32")
    t = ember.asarray(a)
    back = np.from_dlpack(t)
    assert np.shares_memory(back, a)
    assert t.__dlpack_device__() == (1, 0)
    t2 = ember.from_dlpack(a)
    assert np.shares_memory(np.asarray(t2), a)


def test_tensor_is_immutable(rng):
    t = ember.asarray(rand(rng, (3,), "float32"))
    with pytest.raises(TypeError, match="immutable"):
        t[0] = 1.0
    with pytest.raises(ValueError):
        t.numpy()[0] = 1.0


def test_numpy_functions_dispatch_to_ember(rng):
    a = rand(rng, (3, 4), "float32")
    t = ember.asarray(a)
    for r, want in [
        (np.exp(t), np.exp(a)),
        (np.sum(t, axis=1), np.sum(a, axis=1)),
        (np.matmul(a.T, t), np.matmul(a.T, a)),
        (np.add(t, 1), np.add(a, 1)),
        (np.where(t > 0, t, 0.0), np.where(a > 0, a, 0.0)),
        (np.mean(t, axis=0, keepdims=True), np.mean(a, axis=0, keepdims=True)),
        (np.add.reduce(t, axis=0), np.add.reduce(a, axis=0)),
    ]:
        assert isinstance(r, ember.Tensor)
        assert_same(r, want, rtol=1e-6)


def test_unimplemented_numpy_functions_run_in_numpy(rng):
    a = rand(rng, (4, 4), "float64")
    t = ember.asarray(a)
    assert_same(np.cumsum(t, axis=0), np.cumsum(a, axis=0))
    r = np.linalg.norm(t)
    assert np.isclose(float(r), np.linalg.norm(a))
    assert_same(np.sort(t, axis=1), np.sort(a, axis=1))


def test_operators_and_methods(rng):
    a = rand(rng, (3, 4), "float64")
    b = rand(rng, (4,), "int32")
    t = ember.asarray(a)
    assert_same(t + b, a + b)
    assert_same(2 - t, 2 - a)
    assert_same(t * 3, a * 3)
    assert_same(t / b.astype(np.float64).clip(1), a / b.astype(np.float64).clip(1))
    assert_same(t // 2, a // 2)
    assert_same(t % 1.5, a % 1.5)
    assert_same(abs(t) ** 2, abs(a) ** 2)
    assert_same(-t, -a)
    assert_same(t @ a.T, a @ a.T)
    assert_same(t > 0, a > 0)
    assert_same((t > 0) & (t < 1), (a > 0) & (a < 1))
    assert_same(~(t > 0), ~(a > 0))
    assert_same(t.sum(axis=0), a.sum(axis=0))
    assert_same(t.T, a.T)
    assert_same(t.reshape(2, 6), a.reshape(2, 6))
    assert_same(t.astype(np.float32), a.astype(np.float32))
    assert t.ndim == 2 and t.size == 12 and t.shape == (3, 4) and len(t) == 3
    assert float(t[0, 0]) == a[0, 0]
    assert t.device == "cpu"
    assert repr(ember.asarray(np.array([1.0, 2.0]))) == "tensor([1., 2.])"
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)


def test_bitwise_operators_on_integers_run_in_numpy(rng):
    # Ember's &, |, ^ and ~ are logical ops on bools; on integers they are NumPy's bitwise
    # ufuncs, which Ember does not implement: NumPy computes them (they raised TypeError).
    a = rand(rng, (3, 4), "int64")
    b = rand(rng, (4,), "int32")
    t, u = ember.asarray(a), ember.asarray(b)
    assert_same(t & u, a & b)
    assert_same(t | 6, a | 6)
    assert_same(3 ^ t, 3 ^ a)
    assert_same(~u, ~b)
    assert_same(ember.asarray(a > 0) & 1, (a > 0) & 1)
    with pytest.raises(TypeError):
        ember.asarray(a.astype(np.float32)) & t


def test_devices_and_missing_cuda_says_why():
    devs = ember.devices()
    assert devs[0] == "cpu"
    t = ember.asarray(np.zeros(2))
    assert t.to("cpu") is t
    if len(devs) == 1:
        with pytest.raises(ember.DeviceError, match="cuda:0 is not available: no CUDA driver found"):
            t.to("cuda")
    with pytest.raises(ValueError, match="device: expected"):
        t.to("tpu")
