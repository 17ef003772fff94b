"""Roster checks (intake.roster): plain functions over a roster already read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from intake.roster import check_roster
from tests.designs import DESIGNS
from trial_designs.design import load_design

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


def test_a_start_date_in_the_future_is_refused():
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(5)
    roster["source_row"] = range(2, 7)
    roster.loc[1, "start_date"] = "2205-01-10"
    roster.loc[2, "start_date"] = "2026-12-01"
    problems = check_roster(roster, design, today=dt.date(2026, 11, 30))
    assert problems[["source_row", "rule", "value"]].values.tolist() == [
        [3, "start_date_not_future", "2205-01-10"],
        [4, "start_date_not_future", "2026-12-01"],
    ]
    assert "after today (2026-11-30)" in problems["message"].iloc[0]
    assert check_roster(roster, design, today=dt.date(2205, 1, 10)).empty
