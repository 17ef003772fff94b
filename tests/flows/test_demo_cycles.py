"""The demo's later learning cycles: a later cohort's HR records dated by its own cycle."""

from __future__ import annotations

import pandas as pd

from flows.demo import _dated_by_cycle
from tests.designs import DESIGNS
from trial_designs.design import load_design


def test_a_later_cohorts_hr_extract_moves_to_its_cycle_and_nobody_left_before_it():
    letters = load_design(DESIGNS / "letters.yaml")
    cols = letters.hr.columns
    people = pd.DataFrame(
        {"participant_id": ["S1", "C2A", "C2B"], "enrolment": ["initial", "cycle2", "cycle2"]}
    )
    hr = pd.DataFrame(
        {
            cols["participant_id"]: ["S1", "C2A", "C2B", "C2B"],
            cols["record_type"]: ["EMP", "EMP", "EMP", "SICK"],
            cols["effective_from"]: [None, None, None, None],
            cols["leaving_date"]: ["2019-09-16", "2019-09-16", "2019-03-20", None],
            cols["start_date"]: [None, None, None, "2019-05-06"],
            cols["end_date"]: [None, None, None, "2019-05-08"],
        }
    ).astype(object)
    moved = _dated_by_cycle({"hr_extract.csv": hr}, letters, people)["hr_extract.csv"]
    shift = letters.cycles[1].randomisation - letters.follow_up.randomisation
    by_row = moved
    # the first cohort keeps its dates; the second's leave and are off sick in their own window
    assert by_row.loc[0, cols["leaving_date"]] == "2019-09-16"
    assert by_row.loc[1, cols["leaving_date"]] == (pd.Timestamp("2019-09-16") + shift).strftime(
        "%Y-%m-%d"
    )
    assert by_row.loc[3, cols["start_date"]] == (pd.Timestamp("2019-05-06") + shift).strftime(
        "%Y-%m-%d"
    )
    # left before the window, moved, is still before cycle 2's randomisation: not a leaver
    assert pd.isna(by_row.loc[2, cols["leaving_date"]])
    second = moved[cols["participant_id"]].isin(["C2A", "C2B"])
    left = pd.to_datetime(moved.loc[second, cols["leaving_date"]], format="%Y-%m-%d")
    assert (left.dropna() >= pd.Timestamp(letters.cycles[1].randomisation)).all()
