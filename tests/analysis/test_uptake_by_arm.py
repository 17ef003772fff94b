"""Each arm's uptake by its own intervention's definition; the control arm's by any of them."""

from __future__ import annotations

import pandas as pd

from analysis.uptake import PARTICIPANT_UPTAKE_COLUMNS, participant_uptake
from analysis.uptake_by_arm import participant_uptake_by_arm

EMAIL = {"offered": "invited", "started": "module_started"}
NUDGED = {"offered": "invited", "started": "slot_used", "dose": "slot_used", "completed_at_dose": 2}
INTERVENTIONS = {"email": ("course", EMAIL), "nudged": ("course_reminders", NUDGED)}


def _people() -> pd.DataFrame:
    ids = ["c1", "c2", "e1", "e2", "n1", "n2"]
    arms = ["control", "control", "course", "course", "course_reminders", "course_reminders"]
    return pd.DataFrame({"participant_id": ids, "unit_id": ids, "arm": arms})


def _event(unit: str, kind: str, day: int, intervention: str) -> dict:
    return {
        "unit_id": unit,
        "event_type": kind,
        "occurred_at": pd.Timestamp("2022-09-05") + pd.Timedelta(days=day),
        "module": None,
        "round_id": None,
        "intervention": intervention,
    }


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        [
            _event("e1", "invited", 1, "email"),
            _event("e1", "module_started", 3, "email"),
            _event("e2", "invited", 1, "email"),
            _event("n1", "invited", 1, "nudged"),
            _event("n1", "slot_used", 4, "nudged"),
            _event("n1", "slot_used", 11, "nudged"),
            _event("n2", "invited", 1, "nudged"),
            # the email log's start reached a reminders-arm member: not by their definition
            _event("n2", "module_started", 5, "email"),
            _event("c2", "slot_used", 9, "nudged"),  # contamination, by the nudged definition
        ]
    )


def test_each_arm_is_measured_by_its_own_interventions_definition_and_events():
    uptake = participant_uptake_by_arm(_people(), _events(), INTERVENTIONS)
    assert list(uptake.columns) == PARTICIPANT_UPTAKE_COLUMNS
    assert uptake["took_up"].to_dict() == {"c1": 0, "c2": 1, "e1": 1, "e2": 0, "n1": 1, "n2": 0}
    assert uptake["offered"].to_dict() == {"c1": 0, "c2": 0, "e1": 1, "e2": 1, "n1": 1, "n2": 1}
    assert uptake.loc["n1", "dose"] == 2 and uptake.loc["n1", "completed"] == 1
    assert uptake.loc["c2", "started_at"] == pd.Timestamp("2022-09-14")
    assert str(uptake["started_at"].dtype) == "datetime64[us]"


def test_one_intervention_gives_what_participant_uptake_gives():
    people = _people()
    events = _events()
    alone = participant_uptake_by_arm(people, events, {"email": ("course", EMAIL)})
    direct = participant_uptake(people, events[events["intervention"] == "email"], EMAIL)
    course = people.loc[people["arm"] == "course", "participant_id"]
    pd.testing.assert_frame_equal(alone.loc[course], direct.loc[course])


def test_an_active_arms_members_with_another_arms_events_are_counted_and_named():
    from dataclasses import replace

    from analysis.uptake import summarise_uptake
    from analysis.uptake_by_arm import cross_arm_contamination

    people = _people().assign(organisation="o1", team="t1")
    events = _events()
    uptake = participant_uptake_by_arm(people, events, INTERVENTIONS)
    cross = cross_arm_contamination(people, events, INTERVENTIONS)
    # n2 (reminders arm) has the email log's module_started: counted, named, once
    assert cross == [
        {"arm": "course", "intervention": "nudged", "participants": 0},
        {"arm": "course_reminders", "intervention": "email", "participants": 1},
    ]
    # and it is not uptake: n2's took_up is by its own arm's intervention (none)
    assert uptake.loc["n2", "took_up"] == 0
    summary = summarise_uptake(
        people,
        events,
        EMAIL,
        arm_order=["control", "course", "course_reminders"],
        control_arm="control",
        uptake=uptake,
        by_arm={
            "course": {"intervention": "email"},
            "course_reminders": {"intervention": "nudged"},
        },
    )
    section = replace(summary, cross_arm=cross).to_dict()
    assert section["cross_arm_contamination"] == cross
    # the control arm's contamination is counted as before, apart
    assert section["contamination"] == 1
    # with one intervention (no by_arm) results.json has no such key
    one = summarise_uptake(
        people,
        events,
        EMAIL,
        arm_order=["control", "course", "course_reminders"],
        control_arm="control",
    )
    assert "cross_arm_contamination" not in one.to_dict()
