"""The copy ledger and the transfer guard: every implicit copy is recorded with its bytes and
cause, and ``"disallow"`` refuses it with an error that names both."""

import ember
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def clean_ledger():
    ember.transfer_ledger(reset=True)
    yield
    ember.set_transfer_guard("allow")


def test_borrowed_arrays_copy_nothing():
    a = np.arange(6, dtype=np.float32)
    with ember.transfer_guard("disallow"):
        t = ember.asarray(a)
        assert np.shares_memory(np.asarray(t), a)
    assert ember.transfer_ledger() == []


def test_byteswapped_argument_is_recorded_with_its_cause():
    a = np.arange(4, dtype=">f8")
    ember.asarray(a)
    (rec,) = ember.transfer_ledger()
    assert rec["bytes"] == 32 and rec["direction"] == "h2h" and rec["device"] == "cpu"
    assert "non-native byte order" in rec["cause"] and not rec["explicit"]


def test_disallow_raises_naming_bytes_and_cause():
    a = np.arange(4, dtype=">f8")
    with ember.transfer_guard("disallow"):
        with pytest.raises(ember.TransferError, match=r"32 bytes .*non-native byte order"):
            ember.asarray(a)
    ember.asarray(a)  # the block ended: allowed again
    assert len(ember.transfer_ledger()) == 1


def test_log_prints_one_line(capfd):
    with ember.transfer_guard("log"):
        ember.asarray(np.arange(3, dtype=">i4"))
    assert "implicit h2h copy of 12 bytes" in capfd.readouterr().err


def test_global_level_and_bad_levels():
    assert ember.set_transfer_guard("disallow") == "allow"
    with pytest.raises(ember.TransferError):
        ember.asarray(np.arange(2, dtype=">f4"))
    assert ember.set_transfer_guard("allow") == "disallow"
    with pytest.raises(ValueError, match="expected 'allow', 'log' or 'disallow'"):
        ember.transfer_guard("never")
    with pytest.raises(ValueError, match="transfer_guard"):
        ember.jit(lambda x: x, transfer_guard="sometimes")


def test_per_call_guard_on_a_jitted_function():
    f = ember.jit(lambda x: x + 1, transfer_guard="disallow")
    np.testing.assert_array_equal(f(np.arange(3.0)), np.arange(3.0) + 1)
    with pytest.raises(ember.TransferError, match="argument 0"):
        f(np.arange(3.0).astype(">f8"))
    g = ember.jit(lambda x: x + 1)
    np.testing.assert_array_equal(g(np.arange(3.0).astype(">f8")), np.arange(3.0) + 1)


def test_kernel_operand_copies_are_recorded():
    f = ember.jit(lambda x: x.T.reshape(-1) * 2)
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(f(x), x.T.reshape(-1) * 2)
    causes = [r["cause"] for r in ember.transfer_ledger()]
    assert any("copied to C order" in c for c in causes), causes


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.T + 1,
        lambda x: x[::-1] + 1,
        lambda x: x[::2, 1:] * 2,
        lambda x: x[:, ::-1] - x,
        lambda x: np.exp(x.T[3:, ::3]).sum(axis=1),
    ],
    ids=["transpose", "reversed rows", "every second row", "reversed columns", "reduction"],
)
def test_kernels_read_transposed_and_sliced_views_without_copying(fn):
    x = np.random.default_rng(3).standard_normal((37, 24)).astype(np.float32)
    f = ember.jit(fn)
    before = len(ember.transfer_ledger())
    np.testing.assert_allclose(f(x), fn(x), rtol=1e-6)
    copies = [r["cause"] for r in ember.transfer_ledger()[before:]]
    assert not copies, copies


def test_a_fortran_order_argument_runs_in_its_memory_order_without_a_copy():
    x = np.asfortranarray(np.random.default_rng(4).standard_normal((33, 17)))
    f = ember.jit(lambda x: x * 2 + 1)
    before = len(ember.transfer_ledger())
    r = f(x)
    np.testing.assert_array_equal(r, x * 2 + 1)
    assert r.flags.f_contiguous and r.strides == (x * 2 + 1).strides
    copies = [r["cause"] for r in ember.transfer_ledger()[before:]]
    assert not copies, copies
