"""common.validation.is_real_number: what the cost model and analysis.costs call a number."""

from __future__ import annotations

import numpy as np
import pytest

from common.validation import is_real_number


@pytest.mark.parametrize("value", [0, 3, -2.5, float("nan"), np.int64(4), np.float32(0.5)])
def test_ints_and_floats_of_python_and_numpy_are_numbers(value):
    assert is_real_number(value)


@pytest.mark.parametrize("value", [True, np.bool_(False), "3", None, 1 + 2j, [1]])
def test_bools_text_and_containers_are_not(value):
    assert not is_real_number(value)
