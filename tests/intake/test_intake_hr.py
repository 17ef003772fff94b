"""HR extract checks and measures (intake.hr): plain functions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.hr_outcomes import sickness_absence
from intake.hr import check_hr_rows, hr_measures
from intake.outcomes import source_options
from tests.designs import DESIGNS
from tests.outcome_files import GOALS, problem_list
from trial_designs.cycles import cycle_window
from trial_designs.design import load_design

# ---------------------------------------------------------------- HR (pure)


def _hr(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows,
        columns=[
            "participant_id",
            "record_type",
            "fte",
            "effective_from",
            "leaving_date",
            "start_date",
            "end_date",
        ],  # fmt: skip
    ).astype(object)
    frame = frame.where(frame.notna(), None)
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    return frame


def test_hr_rules_quarantine_bad_rows_and_hold_the_rest_of_that_person():
    options = source_options(GOALS, "hr")
    assert options["record_types"] == {"staff": "EMP", "absence": "SICK"}
    frame = _hr(
        [
            ("A", "EMP", "1", None, None, None, None),  # 2
            ("A", "SICK", None, None, None, "2019-10-07", "2019-10-09"),  # 3
            ("B", "EMP", "1.5", None, None, None, None),  # 4 impossible FTE
            ("B", "SICK", None, None, None, "2019-10-07", "2019-10-08"),  # 5 held
            ("C", "EMP", "0.8", None, "2019-13-01", None, None),  # 6 not a date
            ("D", "SICK", None, None, None, "2019-10-09", "2019-10-07"),  # 7 ends before start
            ("D", "EMP", "1", None, None, None, None),  # 8 held
            ("E", "SICK", None, None, None, "2019-10-09", "2019-10-10"),  # 9 no staff row
            ("Z", "EMP", "1", None, None, None, None),  # 10 not in the trial
            ("A", "staff", "1", None, None, None, None),  # 11 unknown record code
        ]
    )
    problems = check_hr_rows(frame, GOALS, ["A", "B", "C", "D", "E"], options)
    assert problem_list(problems) == [
        (2, "participant_id", "held_with_bad_row"),
        (3, "participant_id", "held_with_bad_row"),
        (4, "fte", "fte_in_range"),
        (5, "participant_id", "held_with_bad_row"),
        (6, "leaving_date", "valid_date"),
        (7, "end_date", "end_after_start"),
        (8, "participant_id", "held_with_bad_row"),
        (9, "participant_id", "no_staff_record"),
        (10, "participant_id", "known_participant"),
        (11, "record_type", "known_record_type"),
    ]
    assert problems.loc[problems["source_row"] == 11, "value"].item() == "staff"


def test_hr_measures_merge_overlapping_episodes_over_the_design_window():
    options = source_options(GOALS, "hr")
    frame = _hr(
        [
            ("A", "EMP", "0.5", None, None, None, None),
            ("A", "SICK", None, None, None, "2019-10-07", "2019-10-11"),  # Mon-Fri
            ("A", "SICK", None, None, None, "2019-10-09", "2019-10-15"),  # overlaps: to Tue
            ("B", "EMP", "1", None, "2019-11-29", None, None),
            ("C", "EMP", "1", None, "2019-08-30", None, None),  # left before the window
        ]
    )
    rows = hr_measures(frame, GOALS, options)
    wide = rows.values.set_index(rows.keys["participant_id"])
    assert wide.loc["A", "days_lost"] == 7.0 and wide.loc["A", "spells"] == 1.0
    assert wide.loc["A", "turnover"] == 0.0 and wide.loc["B", "turnover"] == 1.0
    assert np.isnan(wide.loc["C", "turnover"]) and np.isnan(wide.loc["C", "absence_rate"])
    staff = frame[frame["record_type"] == "EMP"].assign(fte=lambda d: d["fte"].astype(float))
    direct = sickness_absence(
        frame[frame["record_type"] == "SICK"],
        staff,
        window_start=GOALS.follow_up.window_start,
        window_end=GOALS.follow_up.window_end,
        holidays=options["holidays"],
    )
    np.testing.assert_allclose(
        wide.loc[["A", "B"], "absence_rate"], direct.loc[["A", "B"], "absence_rate"]
    )
    rules = dict(zip(rows.keys["participant_id"], rows.rules["turnover"], strict=True))
    assert rules == {
        "A": "no leaving date in window",
        "B": "left within window",
        "C": "left before window: not at risk",
    }
    assert set(rows.keys["collected_on"]) == {"2020-02-28"}


def test_hr_measures_measure_a_later_cycle_over_its_own_window():
    # letters: cycle 1 randomised 2019-04-01 (window 2019-04-01..2019-12-31), cycle 2
    # randomised 2019-10-01: a cycle-2 starter who left on 2019-09-16 was never at risk
    letters = load_design(DESIGNS / "letters.yaml")
    options = source_options(letters, "hr")
    staff, sick = options["record_types"]["staff"], options["record_types"]["absence"]
    frame = _hr(
        [
            ("S1", staff, "1", None, "2019-09-16", None, None),  # cycle 1: left within
            ("A2", staff, "1", None, "2019-09-16", None, None),  # cycle 2: left before
            ("B2", staff, "1", None, "2020-03-02", None, None),  # cycle 2: left within its own
            ("B2", sick, None, None, None, "2020-01-06", "2020-01-10"),  # Mon-Fri, 2020
        ]
    )
    cycle_of = pd.Series({"S1": 1, "A2": 2, "B2": 2})
    rows = hr_measures(frame, letters, options, cycle_of=cycle_of)
    wide = rows.values.set_index(rows.keys["participant_id"])
    assert list(wide.index) == ["A2", "B2", "S1"]
    assert wide.loc["S1", "turnover"] == 1.0
    assert np.isnan(wide.loc["A2", "turnover"]) and np.isnan(wide.loc["A2", "absence_rate"])
    assert wide.loc["B2", "turnover"] == 1.0 and wide.loc["B2", "days_lost"] == 5.0
    rules = dict(zip(rows.keys["participant_id"], rows.rules["turnover"], strict=True))
    assert rules["A2"] == "left before window: not at risk"
    start, end = cycle_window(letters.follow_up, letters.cycles, 2)
    assert start == letters.cycles[1].randomisation
    collected = dict(zip(rows.keys["participant_id"], rows.keys["collected_on"], strict=True))
    assert collected == {
        "A2": end.isoformat(),
        "B2": end.isoformat(),
        "S1": letters.follow_up.window_end.isoformat(),
    }
    # without cycles, everyone is measured over the first cohort's window (the old reading)
    alone = hr_measures(frame, letters, options)
    assert alone.values.set_index(alone.keys["participant_id"]).loc["A2", "turnover"] == 1.0
