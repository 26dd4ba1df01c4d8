"""Bad input raises a typed Python exception naming the argument and what was expected,
never a panic or a wrong result."""

import ember
import numpy as np
import pytest


def test_shape_mismatch():
    with pytest.raises(ValueError, match=r"could not be broadcast together with shapes \[3\] and \[4\]"):
        ember.add(np.zeros(3), np.zeros(4))


def test_bad_axis():
    with pytest.raises(np.exceptions.AxisError, match="axis 3 is out of bounds for array of dimension 2"):
        ember.sum(np.zeros((2, 2)), axis=3)
    with pytest.raises(ValueError, match="repeated axis"):
        ember.sum(np.zeros((2, 2)), axis=(0, 0))


def test_index_out_of_range():
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 0 with size 3"):
        ember.asarray(np.zeros(3))[5]
    with pytest.raises(IndexError, match="too many indices"):
        ember.asarray(np.zeros(3))[0, 0]


def test_bad_reshape():
    with pytest.raises(ValueError, match="cannot reshape array of size 6 into shape"):
        ember.reshape(np.zeros((2, 3)), (4, -1))


def test_wrong_argument_types():
    with pytest.raises(TypeError):
        ember.exp("hello")
    with pytest.raises(TypeError, match="dtype"):
        ember.zeros(3, dtype="complex64")
    with pytest.raises(TypeError):
        ember.asarray(np.zeros(2)).astype("not a dtype")


def test_bool_ops_numpy_refuses():
    with pytest.raises(TypeError, match="boolean subtract"):
        ember.subtract(np.ones(2, bool), np.ones(2, bool))
    with pytest.raises(TypeError, match="float16"):
        ember.exp(np.ones(2, bool))


def test_failed_call_leaves_tensors_intact():
    a = np.arange(4.0)
    t = ember.asarray(a)
    with pytest.raises(ValueError):
        t + np.zeros(3)
    np.testing.assert_array_equal(np.asarray(t), a)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ember.zeros((2**40, 2**40)),
        lambda: ember.zeros((2**62,)),
        lambda: ember.ones((2**31, 2**31)),
        lambda: ember.broadcast_to(np.zeros(1), (2**40, 2**40)),
        lambda: ember.linspace(0, 1, 2**62),
        lambda: ember.eye(2**40),
        lambda: ember.jit(lambda x: np.broadcast_to(x, (2**40, 2**40)) + 1)(np.zeros(1)),
    ],
)
def test_absurd_sizes_raise_instead_of_crashing(make):
    with pytest.raises((ValueError, MemoryError), match="too big|unable to allocate"):
        make()


def test_negative_ddof_is_a_clear_error():
    with pytest.raises(ValueError, match="ddof: expected a non-negative int"):
        ember.var(np.zeros(3), ddof=-1)
