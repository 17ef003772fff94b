"""Delivery-log checks and event keys (intake.deliveries): plain functions, no store, no Prefect."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from intake.deliveries import check_deliveries, event_keys
from tests.designs import DESIGNS
from trial_designs.design import load_design


def test_the_event_key_ignores_how_a_time_is_written_but_not_what_happened():
    def key(when: str, module: object = 1, kind: str = "module_started") -> str:
        return event_keys(
            "t", "course", pd.Series(["P1"]), pd.Series([kind]), pd.Series([pd.Timestamp(when)]),
            pd.Series([module]), pd.Series([None]),
        )[0]  # fmt: skip

    assert key("2019-09-03") == key("2019-09-03T00:00:00") == key("2019-09-03 00:00")
    assert key("2019-09-03", "1") == key("2019-09-03", 1.0)
    assert (
        len(
            {
                key("2019-09-03"),
                key("2019-09-04"),
                key("2019-09-03", 2),
                key("2019-09-03", kind="module_completed"),
            }
        )
        == 4
    )


def test_nothing_is_delivered_before_randomisation_even_inside_the_window():
    design = load_design(DESIGNS / "letters.yaml")
    early = design.follow_up.model_copy(update={"window_start": dt.date(2019, 3, 1)})
    design = design.model_copy(update={"follow_up": early})
    frame = pd.DataFrame(
        {
            "source_row": [2, 3],
            "unit_id": ["P1", "P1"],
            "event_type": ["letter_sent", "letter_sent"],
            "occurred_at": ["2019-03-20", "2019-04-02"],
            **{
                f: [None, None]
                for f in ("quantity", "hours", "attendees", "module", "round_id", "facilitator")
            },
        }
    )
    problems = check_deliveries(
        frame, design, design.interventions[0], known_units=["P1"], held_rounds=[]
    )
    assert problems[["source_row", "rule", "value"]].to_records(index=False).tolist() == [
        (2, "not_before_randomisation", "2019-03-20")
    ]


def test_the_event_key_is_the_documented_sha256_so_it_never_drifts_between_versions():
    import hashlib

    key = event_keys(
        "goal_setting",
        "goal_setting",
        pd.Series(["GOA00001"]),
        pd.Series(["module_completed"]),
        pd.Series([pd.Timestamp("2019-09-03 08:31:05")]),
        pd.Series([3]),
        pd.Series([None]),
    )[0]
    text = "goal_setting|GOA00001|goal_setting|module_completed|2019-09-03T08:31:05|3|"
    assert key == hashlib.sha256(text.encode()).hexdigest()


def test_a_later_cycles_events_are_checked_against_its_own_window():
    # letters: cycle 1 window 2019-04-01..2019-12-31; cycle 2 randomised 2019-10-01, its
    # window moved on as far, so a cycle-2 letter in 2020 is in, one in September is not
    design = load_design(DESIGNS / "letters.yaml")
    frame = pd.DataFrame(
        {
            "source_row": [2, 3, 4, 5, 6],
            "unit_id": ["S1", "C2", "C2", "S1", "C2"],
            "event_type": ["letter_sent"] * 5,
            "occurred_at": ["2019-05-02", "2020-02-03", "2019-09-20", "2020-02-03", "garbage"],
            **{
                f: [None] * 5
                for f in ("quantity", "hours", "attendees", "module", "round_id", "facilitator")
            },
        }
    )
    problems = check_deliveries(
        frame,
        design,
        design.interventions[0],
        known_units=["S1", "C2"],
        held_rounds=[],
        cycle_of={"S1": 1, "C2": 2},
    )
    assert problems[["source_row", "rule", "value"]].to_records(index=False).tolist() == [
        (4, "date_in_window", "2019-09-20"),
        (4, "not_before_randomisation", "2019-09-20"),
        (5, "date_in_window", "2020-02-03"),
        (6, "valid_date", "garbage"),
    ]
    message = problems.loc[problems["rule"] == "date_in_window", "message"].iloc[0]
    assert "cycle 2 (autumn_2019) 2019-10-01 to" in message
