"""Each survey timepoint has its own dating window (issue 15, waves and cycles).

Before, ``check_survey_rows`` took no timepoint: a baseline or mid-point response
dated in any follow-up window was accepted, so an endline export ingested as
``--timepoint midpoint`` stored endline answers as the mid-point wave.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from intake.mapping import survey_fields
from intake.surveys import check_survey_rows
from tests.designs import DESIGNS
from tests.outcome_files import COFFEE, GOALS, problem_list
from trial_designs.cycles import Cycle, survey_window
from trial_designs.design import load_design

LETTERS = load_design(DESIGNS / "letters.yaml")
SCHWARTZ = load_design(DESIGNS / "schwartz_rounds.yaml")
DAY = dt.timedelta(days=1)


def _dated(design, days: list[dt.date]) -> pd.DataFrame:  # noqa: ANN001
    """One response per day, by A, B, C...: every item of the design answered 1 (in range)."""
    items = [f for f in survey_fields(design) if f not in ("participant_id", "collected_on")]
    frame = pd.DataFrame(
        {
            "participant_id": [chr(ord("A") + i) for i in range(len(days))],
            "collected_on": [d.isoformat() for d in days],
            **{item: "1" for item in items},
        }
    )
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    return frame


def _outside(frame: pd.DataFrame, design, timepoint: str, **kwargs) -> list[int]:  # noqa: ANN001
    known = frame["participant_id"].tolist()
    problems = check_survey_rows(frame, design, known, timepoint=timepoint, **kwargs)
    return [row for row, _col, rule in problem_list(problems) if rule == "date_in_window"]


def test_a_midpoint_response_must_be_dated_from_the_wave_to_the_day_before_endline():
    fu = GOALS.follow_up
    midpoint = fu.waves[0].date
    frame = _dated(GOALS, [midpoint, fu.endline - DAY, midpoint - DAY, fu.endline, fu.window_end])
    # rows 2-3 are in the wave's window; the day before it, and endline's own days, are not
    assert _outside(frame, GOALS, "midpoint") == [4, 5, 6]
    problems = check_survey_rows(frame, GOALS, list("ABCDE"), timepoint="midpoint")
    assert problems.loc[problems["rule"] == "date_in_window", "message"].iloc[0] == (
        f"A response at midpoint must be dated from {midpoint} (the midpoint wave opens) to "
        f"{fu.endline - DAY} (the day before endline opens). Is this another timepoint's file?"
    )


def test_a_baseline_response_must_be_dated_by_randomisation():
    fu = GOALS.follow_up
    frame = _dated(
        GOALS,
        [fu.recruitment_start, fu.randomisation, fu.recruitment_start - DAY]
        + [fu.randomisation + DAY, fu.waves[0].date, fu.endline],
    )
    assert _outside(frame, GOALS, "baseline") == [4, 5, 6, 7]


def test_an_endline_response_must_be_dated_from_endline_to_the_window_end():
    fu = COFFEE.follow_up
    frame = _dated(
        COFFEE, [fu.endline, fu.window_end, fu.baseline, fu.endline - DAY, fu.window_end + DAY]
    )
    assert _outside(frame, COFFEE, "endline") == [4, 5, 6]


def test_a_baseline_that_opens_after_cluster_randomisation_runs_until_follow_up_starts():
    # Schwartz Rounds randomises sites on 2020-01-15 and surveys their staff from 2020-01-20,
    # before the Rounds start (window_start 2020-02-01): the baseline must fit between
    fu = SCHWARTZ.follow_up
    window = survey_window(fu, (), "baseline")
    assert (window.start, window.end) == (fu.recruitment_start, fu.window_start - DAY)
    frame = _dated(SCHWARTZ, [fu.baseline, fu.window_start - DAY, fu.window_start])
    assert _outside(frame, SCHWARTZ, "baseline") == [4]


def test_each_cohort_of_a_learning_cycle_trial_is_checked_against_its_own_dates():
    fu, autumn = LETTERS.follow_up, LETTERS.cycles[1]
    cycle_of = pd.Series([1, 2, 1, 2], index=list("ABCD"))
    spring = survey_window(fu, LETTERS.cycles, "endline", 1)
    autumn_window = survey_window(fu, LETTERS.cycles, "endline", 2)
    assert (spring.start, spring.end) == (fu.endline, fu.window_end)
    assert (autumn_window.start, autumn_window.end) == (autumn.endline, dt.date(2020, 7, 1))
    # A and B in their own cohort's window; C (spring) in autumn's, D (autumn) in spring's
    frame = _dated(LETTERS, [fu.endline, autumn.endline, autumn.endline, fu.endline])
    assert _outside(frame, LETTERS, "endline", cycle_of=cycle_of) == [4, 5]
    problems = check_survey_rows(
        frame, LETTERS, list("ABCD"), timepoint="endline", cycle_of=cycle_of
    )
    assert problems.loc[problems["rule"] == "date_in_window", "message"].tolist() == [
        f"A response at endline of cycle 1 (spring_2019) must be dated from {fu.endline} "
        f"(endline opens) to {fu.window_end} (the end of follow-up). Is this another "
        "timepoint's file?",
        f"A response at endline of cycle 2 (autumn_2019) must be dated from {autumn.endline} "
        "(endline opens) to 2020-07-01 (the end of follow-up). Is this another timepoint's file?",
    ]
    # baseline: the autumn cohort answers before its own randomisation, not the spring's
    frame = _dated(LETTERS, [fu.randomisation, autumn.randomisation, autumn.randomisation])
    assert _outside(frame, LETTERS, "baseline", cycle_of=cycle_of) == [4]


def test_a_later_cohorts_wave_moves_with_its_randomisation():
    # goal setting with a second cohort randomised 182 days after the first
    fu = GOALS.follow_up
    later = {
        "recruitment_start": fu.recruitment_start + dt.timedelta(days=182),
        "randomisation": fu.randomisation + dt.timedelta(days=182),
        "baseline": fu.baseline + dt.timedelta(days=182),
        "endline": fu.endline + dt.timedelta(days=182),
    }
    first = {k: getattr(fu, k) for k in later}
    cycles = (Cycle(name="first", **first), Cycle(name="second", **later))
    wave = fu.waves[0].date + dt.timedelta(days=182)
    window = survey_window(fu, cycles, "midpoint", 2)
    assert (window.start, window.end) == (wave, later["endline"] - DAY)


def test_an_undeclared_timepoint_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"The timepoint 'wave_9' is not declared by the design"):
        survey_window(GOALS.follow_up, (), "wave_9")
    with pytest.raises(ValueError, match=r"Choose one of: baseline, midpoint, endline"):
        check_survey_rows(
            _dated(GOALS, [GOALS.follow_up.endline]), GOALS, ["A"], timepoint="wave_9"
        )
