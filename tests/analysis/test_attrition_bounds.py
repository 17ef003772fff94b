"""Lee bounds and worst/best-case bounds: by hand, by property, and against R.

The R reference (tests/reference/lee_bounds_reference.R) is an independent base-R
implementation of Lee (2009) and Imbens-Manski (2004); its output is committed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.attrition_bounds import imbens_manski_interval, lee_bounds, worst_best_bounds

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
ARMS = {"outcome": "y", "arm": "arm", "treatment": "active", "control": "control"}


def frame(active, control):
    return pd.DataFrame(
        {
            "arm": ["active"] * len(active) + ["control"] * len(control),
            "y": np.array(list(active) + list(control), dtype=float),
        }
    )


def test_lee_by_hand_whole_respondents():
    # Treatment 4 of 5 observed (q1 = 0.8), control 3 of 5 (q0 = 0.6): p = 1 - 0.6/0.8 = 0.25,
    # keep 3 of the 4 treated. Lowest 3: (1+2+2)/3 = 5/3; highest 3: (2+2+3)/3 = 7/3.
    # Control mean (0+1+2)/3 = 1. Bounds [2/3, 4/3].
    b = lee_bounds(frame([1, 2, 2, 3, np.nan], [0, 1, 2, np.nan, np.nan]), **ARMS)
    assert b.trimmed_arm == "treatment"
    assert b.trim_share == pytest.approx(0.25, abs=1e-15)
    assert (b.lower, b.upper) == pytest.approx((2 / 3, 4 / 3), abs=1e-12)


def test_lee_by_hand_tie_at_the_cut_takes_a_fraction():
    # Treatment 4/4 observed [1, 2, 2, 4]; control 2/3 observed [0, 1]: kept mass
    # = q0 * n1 = 2/3 * 4 = 8/3 respondents. Lowest 8/3: (1 + 2 + 2 * 2/3) / (8/3) = 13/8;
    # highest 8/3: (4 + 2 + 2 * 2/3) / (8/3) = 22/8. Control mean 1/2: bounds [9/8, 9/4].
    b = lee_bounds(frame([2, 4, 1, 2], [1, np.nan, 0]), **ARMS)
    assert (b.lower, b.upper) == pytest.approx((9 / 8, 9 / 4), abs=1e-12)
    # The row order of tied values cannot matter.
    again = lee_bounds(frame([2, 2, 1, 4], [0, np.nan, 1]), **ARMS)
    assert again == b


def test_lee_trims_control_when_control_answers_more():
    # Control 4/4 [0, 1, 2, 3], treatment 3/4 [5, 5, 5]: keep 3 controls. Lower bound uses
    # the highest controls (1+2+3)/3 = 2: 5 - 2 = 3; upper the lowest (0+1+2)/3 = 1: 4.
    b = lee_bounds(frame([5, 5, 5, np.nan], [0, 1, 2, 3]), **ARMS)
    assert b.trimmed_arm == "control"
    assert (b.lower, b.upper) == pytest.approx((3.0, 4.0), abs=1e-12)


def test_equal_retention_collapses_to_the_difference_in_means():
    rng = np.random.default_rng(1)
    a = rng.normal(1, 1, 40)
    c = rng.normal(0, 1, 20)
    a[:10] = np.nan  # 30/40 = 15/20
    c[:5] = np.nan
    b = lee_bounds(frame(a, c), **ARMS)
    diff = np.nanmean(a) - np.nanmean(c)
    se = math.sqrt(np.nanvar(a) / 30 + np.nanvar(c) / 15)
    assert b.trimmed_arm is None and b.trim_share == 0
    assert b.lower == b.upper == pytest.approx(diff, abs=1e-12)
    z = stats.norm.ppf(0.975)
    assert (b.ci_low, b.ci_high) == pytest.approx((diff - z * se, diff + z * se), abs=1e-9)


def test_swapping_the_arms_negates_and_swaps_the_bounds():
    d = pd.read_csv(REFERENCE / "data" / "attrition.csv")
    d = d[d.dataset == "control_trimmed"]
    b = lee_bounds(d, **ARMS)
    s = lee_bounds(d, outcome="y", arm="arm", treatment="control", control="active")
    assert (s.lower, s.upper) == pytest.approx((-b.upper, -b.lower), abs=1e-12)
    assert (s.se_lower, s.se_upper) == pytest.approx((b.se_upper, b.se_lower), abs=1e-12)
    assert b.lower <= b.upper and b.ci_low < b.lower and b.ci_high > b.upper


def test_imbens_manski_critical_value_runs_from_two_to_one_sided():
    lo, hi, c = imbens_manski_interval(0.0, 0.0, 1.0, 1.0)
    assert c == pytest.approx(stats.norm.ppf(0.975), abs=1e-10)
    assert (lo, hi) == pytest.approx((-c, c))
    _, _, wide = imbens_manski_interval(0.0, 50.0, 1.0, 1.0)
    assert wide == pytest.approx(stats.norm.ppf(0.95), abs=1e-10)
    _, _, mid = imbens_manski_interval(0.0, 1.0, 1.0, 0.5)
    assert stats.norm.ppf(0.95) < mid < stats.norm.ppf(0.975)
    # The defining equation holds at the root.
    gap = stats.norm.cdf(mid + 1.0) - stats.norm.cdf(-mid)
    assert gap == pytest.approx(0.95, abs=1e-12)


def test_worst_best_by_hand():
    # Treatment [1, 0, nan, nan] (n=4), control [1, 1, 0, nan, 0] (n=5).
    # Lower: treatment 1/4 - control (3+1)/5... missing control set to 1: 3/5 -> 1/4 - 3/5.
    # Upper: treatment (1+2)/4 = 3/4 - control missing set to 0: 2/5 -> 3/4 - 2/5.
    b = worst_best_bounds(frame([1, 0, np.nan, np.nan], [1, 1, 0, np.nan, 0]), **ARMS)
    assert (b.lower, b.upper) == pytest.approx((1 / 4 - 3 / 5, 3 / 4 - 2 / 5), abs=1e-15)
    # The width is the sum of the arms' missing shares.
    assert b.upper - b.lower == pytest.approx(2 / 4 + 1 / 5)


def _reference():
    data = pd.read_csv(REFERENCE / "data" / "attrition.csv")
    ref = pd.read_csv(REFERENCE / "output" / "lee_bounds.csv", dtype={"value": float})
    return data, ref


@pytest.mark.parametrize(
    ("dataset", "method"),
    [
        ("treatment_trimmed", "lee"),
        ("control_trimmed", "lee"),
        ("equal_retention", "lee"),
        ("heavy_ties", "lee"),
        ("binary", "lee"),
        ("binary", "worst_best"),
    ],
)
def test_matches_the_r_reference(dataset, method):
    data, ref = _reference()
    rows = ref[(ref.dataset == dataset) & (ref.method == method)]
    assert len(rows) >= 7
    fit = {"lee": lee_bounds, "worst_best": worst_best_bounds}[method]
    got = fit(data[data.dataset == dataset], **ARMS).to_dict()
    gaps = {q: abs(got[q] - v) for q, v in zip(rows.quantity, rows.value, strict=True)}
    worst = max(gaps, key=gaps.get)
    print(f"{dataset}/{method}: max |Python - R| = {gaps[worst]:.3g} ({worst})")
    assert gaps[worst] < 1e-9


def test_no_observed_outcome_in_an_arm_names_the_arm():
    with pytest.raises(ValueError, match=r"control arm 'control' has no observed 'y' \(3 rand"):
        lee_bounds(frame([1, 2, np.nan], [np.nan] * 3), **ARMS)
    with pytest.raises(ValueError, match=r"treatment arm 'active' has no observed 'y'"):
        worst_best_bounds(frame([np.nan], [1, 0]), **ARMS)


def test_hostile_arguments_are_named():
    d = frame([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"treatment arm 'letter' has no rows in the column"):
        lee_bounds(d, outcome="y", arm="arm", treatment="letter", control="control")
    with pytest.raises(ValueError, match=r"'treatment' and 'control' arms must differ"):
        lee_bounds(d, outcome="y", arm="arm", treatment="control", control="control")
    with pytest.raises(ValueError, match=r"'level' must lie in \(0, 1\)\. Got 95 instead"):
        lee_bounds(d, **ARMS, level=95)
    with pytest.raises(ValueError, match=r"column\(s\) 'score' are not in the data"):
        lee_bounds(d, outcome="score", arm="arm", treatment="active", control="control")
    bad = d.assign(y=d.y.astype(object))
    bad.loc[0, "y"] = "n/a"
    with pytest.raises(ValueError, match=r"outcome 'y' must be numeric or missing\. Got 'n/a'"):
        lee_bounds(bad, **ARMS)
    with pytest.raises(ValueError, match=r"must be binary \(0 or 1, or missing\).*Got 2\.0"):
        worst_best_bounds(d, **ARMS)
    with pytest.raises(ValueError, match=r"'upper' bound must be at least the 'lower'"):
        imbens_manski_interval(1.0, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"must not both be 0"):
        imbens_manski_interval(0.0, 1.0, 0.0, 0.0)


def test_one_observed_outcome_is_refused_by_lee_naming_the_arm():
    # One respondent gives a variance of 0 by construction, not a real standard error.
    with pytest.raises(ValueError, match=r"control arm 'control' has 1 observed 'y'; at least 2"):
        lee_bounds(frame([1, 2, 3, 4], [2, np.nan, np.nan, np.nan]), **ARMS)


def test_bounds_without_spread_are_their_own_interval():
    # Every observed outcome is 5: the bounds are 0 with SE 0, and the CI is [0, 0].
    b = lee_bounds(frame([5, 5, 5, np.nan], [5, 5, np.nan, np.nan]), **ARMS)
    assert (b.lower, b.upper, b.se_lower, b.se_upper) == (0.0, 0.0, 0.0, 0.0)
    assert (b.ci_low, b.ci_high) == (0.0, 0.0)
