from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from analysis.multiplicity import holm_adjust


def test_matches_hand_worked_r_example():
    # sorted: .005 .01 .03 .04; times 4 3 2 1: .02 .03 .06 .04; running max: .02 .03 .06 .06
    # so R's p.adjust(c(.01, .04, .03, .005), "holm") is .03 .06 .06 .02
    np.testing.assert_allclose(holm_adjust([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])


def test_running_maximum_keeps_order_and_cap_is_one():
    # sorted .2 .4 .7; times 3 2 1: .6 .8 .7 -> running max .6 .8 .8
    np.testing.assert_allclose(holm_adjust([0.4, 0.7, 0.2]), [0.8, 0.8, 0.6])
    # .5 * 3 = 1.5 is capped at 1, and the running maximum carries the cap on
    np.testing.assert_allclose(holm_adjust([0.9, 0.5, 0.6]), [1.0, 1.0, 1.0])


def test_ties_get_equal_adjusted_values_whatever_the_order():
    # two tied at .01 in a family of 3: both get 3 * .01
    np.testing.assert_allclose(holm_adjust([0.01, 0.02, 0.01]), [0.03, 0.03, 0.03])
    np.testing.assert_allclose(holm_adjust([0.01, 0.01, 0.2]), [0.03, 0.03, 0.2])


def test_missing_values_stay_missing_and_do_not_count():
    # R: p.adjust(c(.01, NA, .02), "holm") uses n = 2: .02 NA .02
    out = holm_adjust([0.01, None, 0.02])
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.02])
    assert np.isnan(holm_adjust([np.nan, np.nan])).all()
    assert holm_adjust([]).shape == (0,)


def test_single_p_value_is_unchanged():
    np.testing.assert_allclose(holm_adjust([0.037]), [0.037])


def test_agrees_with_statsmodels_and_keeps_its_properties(rng):
    for size in (2, 5, 17):
        p = rng.uniform(0, 0.2, size) ** rng.uniform(0.5, 2, size)
        ours = holm_adjust(p)
        np.testing.assert_allclose(ours, multipletests(p, method="holm")[1], rtol=1e-14)
        assert np.all(ours >= p) and np.all(ours <= 1)
        order = np.argsort(p)
        assert np.all(np.diff(ours[order]) >= 0)
        shuffled = rng.permutation(size)
        np.testing.assert_allclose(holm_adjust(p[shuffled]), ours[shuffled])


def test_series_and_mappings_keep_their_labels():
    series = pd.Series([0.04, 0.01], index=["burnout", "stress"], name="p")
    out = holm_adjust(series)
    assert isinstance(out, pd.Series) and list(out.index) == ["burnout", "stress"]
    np.testing.assert_allclose(out.to_numpy(), [0.04, 0.02])
    mapped = holm_adjust({"burnout": 0.04, "stress": 0.01, "valued": None})
    assert mapped["stress"] == pytest.approx(0.02) and mapped["burnout"] == pytest.approx(0.04)
    assert np.isnan(mapped["valued"])
    assert all(type(v) is float for v in mapped.values())


def test_rejects_values_outside_the_unit_interval_and_matrices():
    with pytest.raises(ValueError, match=r"'p_values' must lie in \[0, 1\]. Got \[1.2\]"):
        holm_adjust([0.1, 1.2])
    with pytest.raises(ValueError, match="one-dimensional"):
        holm_adjust([[0.1, 0.2], [0.3, 0.4]])
