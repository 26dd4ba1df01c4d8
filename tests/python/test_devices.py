"""Tensors on a GPU, eager ops there, ``@ember.jit(device=...)`` and the copies they make.

Runs on a real ``cuda:0`` when the driver reports one, else on the simulated ``cuda:0`` of
``ember.testing.simulate_cuda`` (kernels executed by the CUDA grid simulator), so it needs no
GPU; NumPy is the oracle for every value, and the copy
ledger's counts are checked against the placement the compiler reports.
"""

import re

import ember
import numpy as np
import pytest
from conftest import assert_same

SIZES = [(7,), (3, 33), (4, 2, 5)]


#: A real GPU when the driver reports one (then these tests run on it); else the simulation.
REAL_GPU = "cuda:0" in ember.devices()


@pytest.fixture
def gpu():
    """``cuda:0`` (real, or simulated with 64 MiB), with an empty ledger."""
    sim = None if REAL_GPU else ember.testing.simulate_cuda(memory=64 << 20)
    ember.transfer_ledger(reset=True)
    yield "cuda:0"
    if sim is not None:
        sim.stop()


simulated_only = pytest.mark.skipif(REAL_GPU, reason="needs the simulated device's memory limit")


def ledger(**match):
    rows = ember.transfer_ledger(reset=True)
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_devices_lists_and_describes_the_gpu(gpu):
    assert ember.devices()[:2] == ["cpu", "cuda:0"]
    assert ("simulated" in ember.describe_device("cuda:0")) != REAL_GPU
    assert ember.describe_device("cpu").startswith("cpu")
    with pytest.raises(ValueError, match="device: expected"):
        ember.describe_device("tpu")


@simulated_only
def test_without_simulation_cuda_is_absent(gpu):
    ember.testing.simulate_cuda(1 << 20).stop()
    with pytest.raises(ember.DeviceError, match="cuda:0 is not available"):
        ember.describe_device("cuda:0")
    with pytest.raises(ember.DeviceError, match="cuda:0"):
        ember.asarray(np.ones(3)).to("cuda")


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float32", "float64"])
def test_to_and_back_round_trips_every_dtype(gpu, shape, dtype):
    a = (rand(shape) * 3).astype(dtype)
    t = ember.asarray(a).to(gpu)
    assert t.device == gpu and t.shape == a.shape and t.dtype == a.dtype
    back = t.to("cpu")
    assert back.device == "cpu"
    assert_same(back, a)
    rows = ledger(explicit=True)
    assert [r["direction"] for r in rows] == ["h2d", "d2h"]
    assert rows[0]["bytes"] == a.nbytes


def test_reading_a_device_tensor_copies_it_and_says_so(gpu):
    a = rand((3, 4))
    t = ember.asarray(a).to(gpu)
    ledger()
    assert_same(np.asarray(t), a)
    assert_same(t.numpy(), a)
    assert float(t[1, 2]) == a[1, 2]
    assert t.tolist() == a.tolist()
    assert "tensor(" in repr(t)
    assert all(r["direction"] == "d2h" and r["explicit"] for r in ledger())
    with pytest.raises(ValueError, match="copy=False"):
        t.__array__(copy=False)
    with pytest.raises(AttributeError, match="cuda:0"):
        _ = t.__array_interface__
    with pytest.raises(BufferError, match="cuda:0"):
        t.__dlpack__()


UNARY = [np.exp, np.tanh, np.sqrt, np.abs, np.negative, np.sin, np.log1p]
BINARY = [np.add, np.subtract, np.multiply, np.divide, np.maximum, np.greater]


@pytest.mark.parametrize("fn", UNARY, ids=lambda f: f.__name__)
def test_eager_unary_ops_run_on_the_device(gpu, fn):
    a = np.abs(rand((5, 9), 1)) + 0.1
    t = ember.asarray(a).to(gpu)
    r = fn(t)
    assert isinstance(r, ember.Tensor) and r.device == gpu
    assert_same(r, fn(a))


@pytest.mark.parametrize("fn", BINARY, ids=lambda f: f.__name__)
def test_eager_binary_ops_run_on_the_device_with_broadcasting(gpu, fn):
    a, b = rand((4, 6), 2), rand((6,), 3)
    r = fn(ember.asarray(a).to(gpu), ember.asarray(b).to(gpu))
    assert r.device == gpu
    assert_same(r, fn(a, b))
    # A Python scalar joins the device op without a guarded transfer.
    with ember.transfer_guard("disallow"):
        assert_same(fn(ember.asarray(a).to(gpu), 1.5), fn(a, np.float32(1.5)))


def test_reductions_softmax_matmul_and_views_on_the_device(gpu):
    a, w = rand((6, 10), 4), rand((10, 3), 5)
    t, tw = ember.asarray(a).to(gpu), ember.asarray(w).to(gpu)
    ledger()
    assert_same(t.sum(axis=1), a.sum(axis=1), rtol=1e-5)
    assert_same(t.max(axis=0, keepdims=True), a.max(axis=0, keepdims=True))
    assert_same(t.mean(), a.mean(), rtol=1e-5)
    assert_same(np.argmax(t, axis=1), np.argmax(a, axis=1))
    e = np.exp(a - a.max(axis=1, keepdims=True))
    assert_same(ember.softmax(t, axis=1), e / e.sum(axis=1, keepdims=True), rtol=1e-5)
    assert_same(t @ tw, a @ w, rtol=1e-5)
    assert_same(t.T, a.T)
    assert_same(t[1:5:2, ::-1], a[1:5:2, ::-1])
    moved = [r for r in ledger(explicit=False) if "scalar operand" not in r["cause"]]
    assert moved == [], "everything but Python scalars stayed on the device"
    ledger()
    assert_same(t.T.reshape(-1), a.T.reshape(-1))
    rows = ledger(explicit=False)
    assert [r["direction"] for r in rows] == ["d2d"], "a strided view is gathered on the device"
    assert "gathered" in rows[0]["cause"]


def test_an_op_without_a_device_kernel_runs_on_the_host_and_records_why(gpu):
    a = rand((2, 3), 6)
    t = ember.asarray(a).to(gpu)
    ledger()
    r = np.concatenate([t, t])
    assert r.device == gpu
    assert_same(r, np.concatenate([a, a]))
    implicit = ledger(explicit=False)
    assert len(implicit) == 3 and all("concatenate" in r["cause"] for r in implicit)
    with ember.transfer_guard("disallow"):
        with pytest.raises(ember.TransferError, match=r"concatenate"):
            np.concatenate([t, t])


def _placement_copies(f, *args):
    text = f.explain(*args).placement
    return len(re.findall(r"^  copy %", text, re.M))


def test_jit_on_cuda_copies_each_argument_in_and_each_result_out_once(gpu):
    def mlp(x, w1, b1, w2):
        h = np.maximum(x @ w1 + b1, 0)
        return ember.softmax(h @ w2, axis=-1), h.sum(axis=0)

    args = (rand((8, 16), 7), rand((16, 32), 8), rand((32,), 9), rand((32, 4), 10))
    want = mlp(*args)
    f = ember.jit(mlp, device="cuda")
    ledger()
    got = f(*args)
    for g, w in zip(got, want, strict=True):
        assert isinstance(g, np.ndarray)
        assert_same(g, w, rtol=1e-5)
    rows = ledger(explicit=False)
    assert sum(r["direction"] == "h2d" for r in rows) == 4
    assert sum(r["direction"] == "d2h" for r in rows) == 2
    assert len(rows) == _placement_copies(f, *args), "the ledger matches the plan"
    ledger()
    f(*args)  # a cached call copies the same again
    assert len(ledger(explicit=False)) == 6
    text = str(f.explain(*args))
    assert "== placement ==" in text and "on cuda:0" in text


def test_jit_follows_arguments_that_live_on_the_device(gpu):
    @ember.jit
    def f(x, y):
        return np.tanh(x * y).sum(axis=-1)

    a, b = rand((5, 7), 11), rand((5, 7), 12)
    host = f(a, b)
    da, db = ember.asarray(a).to(gpu), ember.asarray(b).to(gpu)
    ledger()
    r = f(da, db)
    assert isinstance(r, ember.Tensor) and r.device == gpu
    assert ledger() == []
    assert_same(r, host, rtol=1e-6)
    r2 = f(da, db)  # the fast path keys on the device too
    assert r2.device == gpu
    assert f(a, b).__class__ is np.ndarray, "host arguments still get the host plan"


def test_jit_auto_keeps_tiny_work_on_the_host(gpu):
    f = ember.jit(lambda x: np.exp(x) * 2, device="auto")
    a = rand((4,), 13)
    ledger()
    assert_same(f(a), np.exp(a) * 2)
    assert ledger() == [], "tiny work stays on the host with no copies"


def test_transfer_guard_refuses_the_implicit_copies_of_a_device_jit(gpu):
    f = ember.jit(lambda x: x + 1, device="cuda", transfer_guard="disallow")
    a = rand((3,), 14)
    with pytest.raises(ember.TransferError, match=r"12 bytes.*input 0 on cpu"):
        f(a)
    assert_same(f(ember.asarray(a).to(gpu)), a + 1)


@simulated_only
def test_out_of_memory_is_an_ember_and_memory_error_and_the_device_keeps_working(gpu):
    ember.testing.simulate_cuda(memory=1 << 16)
    with pytest.raises(ember.OutOfMemoryError, match="cuda:0: out of memory") as e:
        ember.asarray(np.zeros(1 << 15, np.float32)).to("cuda")
    assert isinstance(e.value, MemoryError) and isinstance(e.value, ember.EmberError)
    a = rand((100,), 15)
    assert_same(np.exp(ember.asarray(a).to("cuda")), np.exp(a))


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", 0, "CUDA"])
def test_bad_device_arguments_name_the_argument(bad):
    with pytest.raises(ValueError, match="device: expected"):
        ember.jit(lambda x: x, device=bad)


@simulated_only
def test_the_gpu_benchmark_runs_and_checks_its_results_on_the_simulated_device():
    import os
    import subprocess
    import sys

    bench = os.path.join(os.path.dirname(__file__), "..", "..", "benches", "gpu_bench.py")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, bench, "--simulate"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "| w3 |" in r.stdout and "simulated" in r.stdout


def test_the_profiler_shows_device_kernels_on_the_stream_track_and_the_copies(gpu):
    f = ember.jit(lambda x: np.exp(x).sum(axis=1), device="cuda")
    a = rand((4, 50), 16)
    f(a)
    with ember.profile() as p:
        f(a)
    kernels = [e for e in p.events if e["kind"] == "kernel"]
    assert kernels and all(e["device"] == "cuda:0" and e["stream"] == 0 for e in kernels)
    copies = [e for e in p.events if e["kind"] == "transfer"]
    assert sorted(e["direction"] for e in copies) == ["d2h", "h2d"]
    assert all("cuda:0" in e["reason"] for e in copies)
    assert not [e for e in p.events if e["kind"] == "host_call"], "copies are not host calls"


def test_device_kernels_and_copies_are_timed_by_the_device(gpu):
    f = ember.jit(lambda x, w: np.tanh(x @ w).sum(axis=1), device="cuda")
    a, w = rand((40, 30), 17), rand((30, 50), 18)
    f(a, w)
    with ember.profile() as p:
        f(a, w)
    events = p.events
    on_stream = [e for e in events if e["device"] == "cuda:0" and e["kind"] in ("kernel", "library_call")]
    assert on_stream and all(e["launch_ns"] is not None and e["duration_ns"] > 0 for e in on_stream)
    # One stream runs its work in order: each starts when the previous one has ended.
    for x, y in zip(on_stream, on_stream[1:], strict=False):
        assert y["start_ns"] >= x["start_ns"] + x["duration_ns"]
    copies = [e for e in events if e["kind"] == "transfer"]
    assert copies and all(e["launch_ns"] is not None for e in copies)
    assert all(e["launch_ns"] is None for e in events if e["device"] == "cpu")
    assert '"clock":"device"' in p.chrome_trace()


MATMUL_SIZES = [(1, 1, 1), (7, 1, 70), (65, 33, 129)]


def _on(gpu, a, transposed):
    """``a`` on the device, as a transposed view of its transpose when asked."""
    if transposed:
        return ember.asarray(np.ascontiguousarray(a.T)).to(gpu).T
    return ember.asarray(a).to(gpu)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", MATMUL_SIZES)
def test_matmul_on_the_device_odd_sizes_and_transposed_views(gpu, dtype, m, k, n):
    a, b = rand((m, k), 20, dtype), rand((k, n), 21, dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for ta in (False, True):
        for tb in (False, True):
            r = _on(gpu, a, ta) @ _on(gpu, b, tb)
            assert r.device == gpu and r.dtype == dtype and r.shape == (m, n)
            np.testing.assert_allclose(np.asarray(r), want, rtol=rtol, atol=rtol * k)
    gathered = [r for r in ledger(explicit=False) if r["direction"] == "d2d"]
    assert gathered == [], "transposed operands are read in place"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_matmul_on_the_device(gpu, dtype):
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for sa, sb in [((3, 17, 20), (20, 9)), ((2, 1, 5, 8), (3, 8, 66)), ((4, 70, 3), (4, 3, 65))]:
        a, b = rand(sa, 22, dtype), rand(sb, 23, dtype)
        r = ember.asarray(a).to(gpu) @ ember.asarray(b).to(gpu)
        assert r.device == gpu and r.shape == np.matmul(a, b).shape
        want = a.astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(np.asarray(r), want, rtol=rtol, atol=rtol * 10)


def test_jit_matmul_with_a_bias_relu_epilogue_says_which_engine_runs(gpu):
    def layer(x, w, b):
        return np.maximum(x @ w + b, 0)

    f = ember.jit(layer, device="cuda")
    x, w, b = rand((33, 20), 24), rand((20, 70), 25), rand((70,), 26)
    assert_same(f(x, w, b), layer(x, w, b), rtol=1e-5, atol=1e-6)
    plan = f.explain(x, w, b).plan
    if REAL_GPU:
        assert "on cuBLAS" in plan or "on the tiled kernel" in plan, plan
    else:
        assert "1 on the tiled kernel (the simulated device has no cuBLAS)" in plan, plan


def _device_work(f, *args):
    """The kernel and library-call events one call of ``f`` puts on ``cuda:0``."""
    f(*args)
    with ember.profile() as p:
        f(*args)
    return [e for e in p.events if e["device"] == "cuda:0" and e["kind"] in ("kernel", "library_call")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(33, 20, 70), (1, 7, 130), (65, 1, 3)])
def test_relu_of_x_at_w_plus_b_is_one_kernel_on_the_tiled_path(gpu, dtype, m, k, n):
    def layer(x, w, b):
        return np.maximum(x @ w + b, 0)

    f = ember.jit(layer, device="cuda")
    x, w, b = rand((m, k), 27, dtype), rand((k, n), 28, dtype), rand((n,), 29, dtype)
    want = np.maximum(x.astype(np.float64) @ w.astype(np.float64) + b, 0)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    got = f(x, w, b)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * k)
    plan = f.explain(x, w, b).plan
    work = _device_work(f, x, w, b)
    if "on the tiled kernel" in plan:
        # The product and its epilogue: one kernel, nothing after it.
        assert "1 storing its epilogue (one kernel)" in plan and "1 device kernel(s)" in plan, plan
        assert [(e["kind"], e["name"]) for e in work] == [("kernel", "matmul+add+maximum")], work
    else:
        # cuBLAS computes the product; the epilogue is a kernel after it.
        assert [e["kind"] for e in work] == ["library_call", "kernel"], work


def test_epilogues_with_column_bias_casts_and_two_outputs_on_the_device(gpu):
    def f(x, w, c):
        h = np.tanh(x @ w - c)
        return h, h.astype(np.float64) * 2

    g = ember.jit(f, device="cuda")
    x, w, c = rand((3, 40, 16), 30), rand((16, 66), 31), rand((40, 1), 32)
    got, want = g(x, w, c), f(x, w, c)
    for a, e in zip(got, want, strict=True):
        assert a.dtype == e.dtype
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5)
    plan = g.explain(x, w, c).plan
    if not REAL_GPU:
        assert "1 storing its epilogue (one kernel)" in plan, plan
        assert len(_device_work(g, x, w, c)) == 1


@simulated_only
def test_an_epilogue_the_tiled_kernel_cannot_store_runs_apart_and_says_why(gpu):
    def f(x, w, d):
        return x @ w + d

    g = ember.jit(f, device="cuda")
    x, w, d = rand((2, 3, 17, 20), 33), rand((20, 9), 34), rand((3, 1, 9), 35)
    np.testing.assert_allclose(g(x, w, d), f(x, w, d), rtol=1e-5, atol=1e-5)
    plan = g.explain(x, w, d).plan
    assert "1 with its epilogue as a kernel of its own (an operand of the epilogue has batch axes" in plan, plan
    assert [e["kind"] for e in _device_work(g, x, w, d)] == ["kernel", "kernel"]
