"""Attrition bounds in results.json's attrition section (issue 15.3): the wiring, by property.

tests/analysis/test_attrition_bounds.py checks the bounds themselves (by hand and against R);
these check that the section holds those bounds for the primary outcome of every active arm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.attrition_bounds import lee_bounds, worst_best_bounds
from analysis.sections.missing_data import attrition_section


def _trial(n: int = 600, seed: int = 5, arms=("control", "course"), binary=False) -> pd.DataFrame:
    """Treated staff with low outcomes answer less (monotone: treatment only lowers response)."""
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.resize(np.array(arms), n))
    treated = arm != arms[0]
    y = rng.normal(20, 4, n) + 1.0 * treated
    if binary:
        y = (y > 21).astype(float)
    low = y < np.median(y)
    respond = rng.random(n) < np.where(treated & low, 0.55, 0.85)
    return pd.DataFrame({"arm": arm, "y_endline": np.where(respond, y, np.nan)})


def _section(data, *, arms=("control", "course"), clustered=False):
    return attrition_section(
        data, endline="y_endline", arm_order=list(arms), control=arms[0], clustered=clustered
    ).to_json_dict()


def test_a_continuous_primary_gets_lee_bounds_that_hold_the_observed_difference():
    data = _trial()
    (row,) = _section(data)["bounds"]
    expected = lee_bounds(
        data, outcome="y_endline", arm="arm", treatment="course", control="control"
    )
    assert row == {"arm": "course", **expected.to_dict(), "se_ignores_clustering": False}
    assert row["kind"] == "lee" and row["trimmed_arm"] == "control"
    observed = data.dropna().groupby("arm")["y_endline"].mean()
    naive = observed["course"] - observed["control"]
    # trimming the better-followed arm from either end brackets its untrimmed mean
    assert row["lower"] < naive < row["upper"]
    assert row["ci_low"] < row["lower"] and row["upper"] < row["ci_high"]


def test_a_binary_primary_gets_worst_best_bounds_as_wide_as_the_shares_lost():
    data = _trial(binary=True)
    (row,) = _section(data)["bounds"]
    expected = worst_best_bounds(
        data, outcome="y_endline", arm="arm", treatment="course", control="control"
    )
    assert row == {"arm": "course", **expected.to_dict(), "se_ignores_clustering": False}
    lost = data["y_endline"].isna().groupby(data["arm"]).mean()
    assert row["upper"] - row["lower"] == pytest.approx(lost["course"] + lost["control"])


def test_every_active_arm_is_bounded_against_control_in_the_designs_order():
    arms = ("control", "course", "coaching")
    data = _trial(n=900, arms=arms)
    rows = _section(data, arms=arms)["bounds"]
    assert [r["arm"] for r in rows] == ["course", "coaching"]
    for row in rows:
        pair = data[data["arm"].isin(["control", row["arm"]])]
        alone = lee_bounds(
            pair, outcome="y_endline", arm="arm", treatment=row["arm"], control="control"
        )
        assert row["lower"] == alone.lower and row["upper"] == alone.upper


def test_clustered_standard_errors_are_flagged_and_nobody_lost_means_no_bounds():
    data = _trial()
    assert _section(data, clustered=True)["bounds"][0]["se_ignores_clustering"] is True
    everyone = data.assign(y_endline=data["y_endline"].fillna(20.0))
    assert _section(everyone)["bounds"] == []


def test_an_arm_with_one_response_is_left_unbounded_not_an_error():
    data = _trial()
    course = data.index[data["arm"] == "course"]
    data.loc[course, "y_endline"] = np.nan
    data.loc[course[0], "y_endline"] = 21.0
    section = _section(data)
    assert section["bounds"] == []
    assert section["by_arm"][1]["followed_up"] == 1
