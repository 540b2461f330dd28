"""grebe.set_num_threads: bounded (at most 4 x the logical CPUs), numpy integers accepted, and
Keras-style errors naming the argument for the rest. The bound also holds at the binding."""
from __future__ import annotations

import os

import numpy as np
import pytest

import grebe
from grebe import _C


@pytest.fixture
def restore_threads():
    before = grebe.get_num_threads()
    yield
    grebe.set_num_threads(before)


def test_bound_is_four_times_the_logical_cpus():
    assert grebe.max_num_threads() == 4 * os.cpu_count()


@pytest.mark.parametrize("n", [1, np.int64(2), np.int32(1), np.uint8(2)])
def test_integers_and_numpy_integers_are_accepted(n, restore_threads):
    grebe.set_num_threads(n)
    assert grebe.get_num_threads() == int(n)
    assert type(grebe.get_num_threads()) is int


def test_the_bound_itself_is_accepted(restore_threads):
    grebe.set_num_threads(grebe.max_num_threads())
    assert grebe.get_num_threads() == grebe.max_num_threads()


@pytest.mark.parametrize("n", [0, -1, 10**6, 2**31, 2**70])
def test_out_of_range_is_a_value_error_naming_the_argument(n, restore_threads):
    before = grebe.get_num_threads()
    with pytest.raises(ValueError, match=rf"set_num_threads.*at most {grebe.max_num_threads()}"
                                         rf".*Received: n={n}"):
        grebe.set_num_threads(n)
    assert grebe.get_num_threads() == before


@pytest.mark.parametrize("n", [2.0, 2.7, "4", None, True, np.bool_(True), np.float32(2), [2]])
def test_non_integers_are_a_type_error(n, restore_threads):
    with pytest.raises(TypeError, match=r"set_num_threads: expected an integer.*Received: n="):
        grebe.set_num_threads(n)


@pytest.mark.parametrize("n", [0, 10**6, 2**31 - 1])
def test_the_binding_checks_the_bound_too(n):
    with pytest.raises(ValueError, match="set_num_threads"):
        _C.set_num_threads(n)
