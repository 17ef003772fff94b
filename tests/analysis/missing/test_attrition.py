"""analysis.missing.attrition: the attrition table and the test of differential attrition."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.missing.attrition import (
    _fisher_exact_rx2,
    attrition_table,
    differential_attrition_test,
)


def _arms(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """A dataset with the given (responded, lost) counts per arm."""
    rows = []
    for arm, (responded, lost) in counts.items():
        rows += [(arm, True)] * responded + [(arm, False)] * lost
    return pd.DataFrame(rows, columns=["arm", "responded"])


# ---------------------------------------------------------------------------
# Attrition
# ---------------------------------------------------------------------------
def test_attrition_table_counts_and_percentages():
    table = attrition_table(
        _arms({"letter": (60, 40), "control": (80, 20)}), arm="arm", responded="responded"
    )
    assert table["arm"].tolist() == ["control", "letter"]
    assert table["randomised"].tolist() == [100, 100]
    assert table["responded"].tolist() == [80, 60]
    assert table["lost"].tolist() == [20, 40]
    assert table["percent_lost"].tolist() == [20.0, 40.0]


def test_chi_square_hand_worked():
    # expected lost 30 and responded 70 in each arm:
    # X2 = 2 (10^2 / 30) + 2 (10^2 / 70) = 20/3 + 20/7 = 200/21 on 1 df
    result = differential_attrition_test(
        _arms({"control": (80, 20), "letter": (60, 40)}), arm="arm", responded="responded"
    )
    assert result.method == "chi-square" and result.df == 1
    assert result.statistic == pytest.approx(200 / 21, rel=1e-12)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(100 / 21)), rel=1e-10)
    assert result.min_expected == pytest.approx(30.0)
    assert result.lost == (20, 40) and result.arms == ("control", "letter")


def test_fisher_hand_worked_two_by_two():
    # rows of 4, 4 lost in all: P(x lost in arm 1) = C(4,x) C(4,4-x) / 70 = 1 16 36 16 1 (/70);
    # observed x = 3, so p = (1 + 16 + 16 + 1) / 70 (R: fisher.test gives 0.4857)
    result = differential_attrition_test(
        _arms({"a": (1, 3), "b": (3, 1)}), arm="arm", responded="responded"
    )
    assert result.method == "fisher" and result.statistic is None
    assert result.p_value == pytest.approx(34 / 70, rel=1e-12)


def test_fisher_agrees_with_scipy_on_two_by_two(rng):
    for _ in range(20):
        table = rng.integers(0, 12, size=(2, 2))
        if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
            continue
        ours = _fisher_exact_rx2(table.sum(axis=1), table[:, 1])
        assert ours == pytest.approx(stats.fisher_exact(table).pvalue, rel=1e-9)


def test_fisher_for_three_arms_agrees_with_brute_force():
    rows, lost = np.array([7, 5, 9]), np.array([3, 0, 1])
    c, total = lost.sum(), rows.sum()

    def probability(x):
        return math.prod(
            math.comb(int(r), int(k)) for r, k in zip(rows, x, strict=True)
        ) / math.comb(int(total), int(c))

    tables = [x for x in itertools.product(*(range(r + 1) for r in rows)) if sum(x) == c]
    observed = probability(lost)
    brute = sum(p for x in tables if (p := probability(x)) <= observed * (1 + 1e-7))
    assert sum(probability(x) for x in tables) == pytest.approx(1.0)
    assert _fisher_exact_rx2(rows, lost) == pytest.approx(brute, rel=1e-10)
    data = _arms({"a": (4, 3), "b": (5, 0), "c": (8, 1)})
    assert differential_attrition_test(
        data, arm="arm", responded="responded"
    ).p_value == pytest.approx(brute)


def test_no_attrition_at_all_gives_p_one():
    result = differential_attrition_test(
        _arms({"a": (30, 0), "b": (40, 0)}), arm="arm", responded="responded"
    )
    assert result.p_value == 1.0 and result.method == "fisher"
    forced = differential_attrition_test(
        _arms({"a": (30, 0), "b": (40, 0)}), arm="arm", responded="responded", method="chi-square"
    )
    assert forced.p_value == 1.0 and forced.statistic == 0.0


def test_attrition_errors_and_json():
    data = _arms({"a": (30, 5), "b": (40, 7)})
    with pytest.raises(
        ValueError, match="'method' 'g-test' is not known. Choose one of: auto, chi-square, fisher"
    ):
        differential_attrition_test(data, arm="arm", responded="responded", method="g-test")
    with pytest.raises(ValueError, match="must be boolean or 0/1. Got values \\[2.0\\]"):
        attrition_table(data.assign(responded=2), arm="arm", responded="responded")
    with pytest.raises(ValueError, match="'responded' must have no missing values"):
        attrition_table(data.assign(responded=np.nan), arm="arm", responded="responded")
    with pytest.raises(ValueError, match="at least 2 arms"):
        differential_attrition_test(data.assign(arm="a"), arm="arm", responded="responded")
    payload = differential_attrition_test(data, arm="arm", responded="responded").to_dict()
    assert json.loads(json.dumps(payload)) == payload
