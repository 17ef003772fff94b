"""Survey checks and scoring (intake.surveys): plain functions, no store, no Prefect."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from intake.mapping import survey_fields
from intake.surveys import check_survey_rows, score_survey
from tests.outcome_files import COFFEE, GOALS, ITEMS, problem_list, response, survey_frame
from trial_designs.instruments import SWEMWBS_METRIC

# ---------------------------------------------------------------- survey checks (pure)


def test_every_kind_of_bad_survey_row_is_found_with_its_rule():
    known = ["A", "B", "C", "D", "E", "F"]
    frame = survey_frame(
        [
            response("A"),  # 2 good
            response("STRANGER"),  # 3 not in the trial
            response(None),  # 4 no id
            response("B", swemwbs_3="6"),  # 5 out of range
            response("C", feeling_valued="n/a"),  # 6 not a number
            response("D", day="2031-01-01"),  # 7 after follow-up
            response("E", day="12/03/2020"),  # 8 not an ISO date
            response("F", day=None),  # 9 no date
            {"participant_id": "F", "collected_on": "2020-03-20"},  # 10 nothing answered
        ]
    )
    problems = check_survey_rows(frame, COFFEE, known, timepoint="endline")
    assert problem_list(problems) == [
        (3, "participant_id", "known_participant"),
        (4, "participant_id", "required_id"),
        (5, "swemwbs_3", "item_in_range"),
        (6, "feeling_valued", "item_in_range"),
        (7, "collected_on", "date_in_window"),
        (8, "collected_on", "valid_date"),
        (9, "collected_on", "valid_date"),
        (10, "swemwbs_1", "no_items_answered"),
    ]
    # values are shown as the file holds them, not as the checks derived them
    assert problems["value"].tolist() == [
        "STRANGER", None, "6", "n/a", "2031-01-01", "12/03/2020", None, None
    ]  # fmt: skip
    assert problems["message"].str.len().min() > 20


def test_the_window_starts_at_recruitment_so_baseline_may_precede_randomisation():
    fu = COFFEE.follow_up
    # baseline opens at recruitment; endline's window closes with follow-up's
    # (tests/intake/test_survey_timepoint_windows.py holds each timepoint's window)
    for timepoint, inside, outside in (
        ("baseline", fu.recruitment_start, fu.recruitment_start - pd.Timedelta(days=1)),
        ("endline", fu.window_end, fu.window_end + pd.Timedelta(days=1)),
    ):
        frame = survey_frame([response("A", day=str(inside)), response("B", day=str(outside))])
        problems = check_survey_rows(frame, COFFEE, ["A", "B"], timepoint=timepoint)
        assert problem_list(problems) == [(3, "collected_on", "date_in_window")]


def test_duplicate_rule_most_items_then_latest_date_then_last_row():
    # all inside coffee's endline window (2020-03-10 to 2020-03-31)
    complete_early = response("A", day="2020-03-11")
    partial_late = response("A", day="2020-03-30", swemwbs_2=None)
    same_day_first = response("B", day="2020-03-15", answer=2)
    same_day_second = response("B", day="2020-03-15", answer=4)
    early = response("C", day="2020-03-12")
    late = response("C", day="2020-03-19")
    rows = [complete_early, partial_late, same_day_first, same_day_second, early, late]
    problems = check_survey_rows(survey_frame(rows), COFFEE, ["A", "B", "C"], timepoint="endline")
    assert problem_list(problems) == [
        (3, "participant_id", "duplicate_response"),  # fewer items, though later
        (4, "participant_id", "duplicate_response"),  # same items and day: the last row wins
        (6, "participant_id", "duplicate_response"),  # same items: the later date wins
    ]
    assert (
        problems["message"]
        .iloc[0]
        .startswith("This participant has another response at this timepoint; row 2 was kept")
    )
    # the winner does not depend on the order of the rows, except for exact ties
    for order in itertools.permutations([0, 1, 4, 5]):
        shuffled = survey_frame([rows[i] for i in order])
        kept = shuffled[
            ~shuffled["source_row"].isin(
                check_survey_rows(shuffled, COFFEE, ["A", "C"], timepoint="endline")["source_row"]
            )
        ]
        assert sorted(kept["collected_on"]) == ["2020-03-11", "2020-03-19"]


def test_a_bad_row_never_wins_a_duplicate_contest():
    rows = [response("A", day="2020-03-11"), response("A", day="2020-03-15", swemwbs_1="9")]
    problems = check_survey_rows(survey_frame(rows), COFFEE, ["A"], timepoint="endline")
    assert problem_list(problems) == [(3, "swemwbs_1", "item_in_range")]


# ---------------------------------------------------------------- scoring (pure)


def test_scores_items_and_the_missing_item_rule_are_stored_together():
    frame = survey_frame(
        [response("A", answer=3), response("B", answer=4, swemwbs_5=None, feeling_valued=None)]
    )
    rows = score_survey(frame, COFFEE)
    assert rows.measures == [*ITEMS, "feeling_valued", "swemwbs_raw", "swemwbs_metric"]
    long = rows.long().set_index(["participant_id", "measure"])
    assert long.loc[("A", "swemwbs_metric"), "value"] == SWEMWBS_METRIC[21 - 7]
    assert long.loc[("A", "swemwbs_metric"), "rule"] == "complete"
    assert pd.isna(long.loc[("A", "swemwbs_1"), "rule"])
    assert np.isnan(long.loc[("B", "swemwbs_metric"), "value"])
    assert long.loc[("B", "swemwbs_metric"), "rule"] == "missing(1 item)"
    assert np.isnan(long.loc[("B", "swemwbs_5"), "value"])  # unanswered, and recorded as such
    assert long.loc[("B", "feeling_valued"), "rule"] == "missing(1 item)"
    assert set(long["collected_on"]) == {"2020-03-12"}
    # the store's tuples hold exactly the long rows, participant by participant
    tuples = list(rows.tuples(trial_id="coffee", timepoint="endline", source_file="f.csv", chunk=1))
    assert len(tuples) == len(long) == 2 * len(rows.measures)
    assert [t[1] for t in tuples] == sorted(t[1] for t in tuples)
    as_long = {(t[1], t[3]): (t[4], t[5]) for t in tuples}
    for (pid, measure), row in long.iterrows():
        value, rule = as_long[(pid, measure)]
        assert (value is None and np.isnan(row["value"])) or value == row["value"]
        assert rule == row["rule"] or (rule is None and pd.isna(row["rule"]))


def test_wrqol_is_scored_with_the_scoring_file_and_reverse_items():
    from trial_designs.scale_files import read_wrqol_scoring

    fields = survey_fields(GOALS)
    assert fields["swemwbs_1"] == "wb1" and fields["wrqol_23"] == "wrqol_q23"
    scoring = read_wrqol_scoring()
    answers = {f: "5" for f in fields if f.startswith("wrqol_")}
    answers |= {f"wrqol_{i}": "1" for i in scoring["reverse"]}  # reverse-worded, disagreed with
    frame = pd.DataFrame(
        [
            {
                "participant_id": "A",
                "collected_on": "2020-01-20",
                **dict.fromkeys(ITEMS, "3"),
                "time_pressure": "5",
                "job_satisfaction": "5",
                **answers,
                **{f"cbi_work_{i}": "3" for i in range(1, 8)},  # goal_setting's burnout items
            }
        ]  # fmt: skip
    ).assign(source_row=2)
    long = score_survey(frame, GOALS, wrqol_scoring=scoring).long().set_index("measure")
    assert long.loc["wrqol_total", "value"] == 115.0
