from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analysis.hr_outcomes import sickness_absence, turnover

START, END = dt.date(2020, 1, 1), dt.date(2020, 1, 31)


def test_overlapping_episodes_are_merged_and_clipped_to_the_window():
    staff = pd.DataFrame({"participant_id": ["a", "b"], "fte": [1.0, 1.0]})
    episodes = pd.DataFrame(
        {
            "participant_id": ["a", "a", "a", "b"],
            "start_date": ["2020-01-03", "2020-01-05", "2019-12-25", "2020-01-30"],
            "end_date": ["2020-01-07", "2020-01-09", "2020-01-01", "2020-02-10"],
        }
    )
    out = sickness_absence(episodes, staff, window_start=START, window_end=END)
    assert out.loc["a", "days_lost"] == 7 + 1  # 3rd-9th merged, plus 1 Jan
    assert out.loc["b", "days_lost"] == 2
    assert out.loc["a", "absence_rate"] == pytest.approx(8 / 31)


def test_fte_changes_and_leavers():
    staff = pd.DataFrame(
        {
            "participant_id": ["a", "a", "c"],
            "fte": [1.0, 0.5, 0.8],
            "effective_from": [None, "2020-01-17", None],
            "leaving_date": [None, None, "2020-01-10"],
        }
    )
    episodes = pd.DataFrame(
        {
            "participant_id": ["a", "c"],
            "start_date": ["2020-01-15", "2020-01-09"],
            "end_date": ["2020-01-18", "2020-01-20"],
        }
    )
    out = sickness_absence(episodes, staff, window_start=START, window_end=END)
    assert out.loc["a", "fte_days_lost"] == pytest.approx(2 * 1.0 + 2 * 0.5)
    assert out.loc["a", "fte_days_available"] == pytest.approx(16 * 1.0 + 15 * 0.5)
    assert out.loc["c", "days_lost"] == 2  # absent after leaving does not count
    assert out.loc["c", "fte_days_available"] == pytest.approx(10 * 0.8)


def test_no_episodes_means_zero():
    staff = pd.DataFrame({"participant_id": ["z"], "fte": [1.0]})
    out = sickness_absence(
        pd.DataFrame(columns=["participant_id", "start_date", "end_date"]),
        staff,
        window_start=START,
        window_end=END,
    )
    assert out.loc["z", "days_lost"] == 0 and out.loc["z", "absence_rate"] == 0


def test_turnover_edges():
    staff = pd.DataFrame(
        {
            "participant_id": ["in", "edge", "before", "stay"],
            "leaving_date": ["2020-01-15", "2020-01-31", "2019-12-31", None],
        }
    )
    out = turnover(staff, window_start=START, window_end=END)
    assert out["in"] == 1 and out["edge"] == 1 and out["stay"] == 0
    assert np.isnan(out["before"])
