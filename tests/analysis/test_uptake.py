from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.uptake import (
    contaminated_events,
    contamination,
    dose_distribution,
    funnel,
    participant_uptake,
    summarise_uptake,
    uptake_by,
    uptake_over_time,
)

GOALS = {
    "offered": "invited",
    "started": "module_started",
    "dose": "module_completed",
    "completed_at_dose": 6,
}
ROUNDS = {
    "offered": "round_held",
    "started": "attended",
    "dose": "attended",
    "completed_at_dose": 3,
}
LETTERS = {
    "offered": "letter_sent",
    "started": "letter_sent",
    "completed": "letter_sent",
    "not_received": "letter_returned",
}


def _people(n_course: int = 5, n_control: int = 5) -> pd.DataFrame:
    ids = [f"P{i:02d}" for i in range(n_course + n_control)]
    return pd.DataFrame(
        {
            "participant_id": ids,
            "unit_id": ids,
            "arm": ["course"] * n_course + ["control"] * n_control,
            "organisation": ["A", "B"] * ((n_course + n_control) // 2),
            "team": [f"T{i % 3}" for i in range(n_course + n_control)],
        }
    )


def _event(unit, kind, day, module=None, round_id=None) -> dict:  # noqa: ANN001
    return {
        "unit_id": unit,
        "event_type": kind,
        "occurred_at": f"2019-09-{day:02d}",
        "module": module,
        "round_id": round_id,
    }


def _course_events() -> pd.DataFrame:
    rows = [_event(f"P{i:02d}", "invited", 2) for i in range(5)]
    # P00 completes all six modules; P01 starts and completes two; P02 starts only
    for m in range(1, 7):
        rows += [
            _event("P00", "module_started", 2 + m, m),
            _event("P00", "module_completed", 3 + m, m),
        ]
    rows += [_event("P01", "module_started", 9, 1), _event("P01", "module_completed", 10, 1)]
    rows += [_event("P01", "module_completed", 10, 1)]  # the same module logged twice
    rows += [_event("P01", "module_started", 16, 2), _event("P01", "module_completed", 17, 2)]
    rows += [_event("P02", "module_started", 20, 1)]
    rows += [_event("P07", "module_started", 23, 1)]  # a control-arm social worker finds the course
    return pd.DataFrame(rows)


def test_goal_setting_uptake_counts_distinct_modules_and_completion_at_six():
    uptake = participant_uptake(_people(), _course_events(), GOALS)
    assert uptake.loc["P00", ["offered", "took_up", "dose", "completed"]].tolist() == [1, 1, 6, 1]
    assert uptake.loc["P01", ["offered", "took_up", "dose", "completed"]].tolist() == [1, 1, 2, 0]
    assert uptake.loc["P02", ["offered", "took_up", "dose", "completed"]].tolist() == [1, 1, 0, 0]
    assert uptake.loc["P03", ["offered", "took_up", "dose", "completed"]].tolist() == [1, 0, 0, 0]
    assert uptake.loc["P07", ["offered", "took_up"]].tolist() == [0, 1]
    assert uptake.loc["P00", "completed_at"] == pd.Timestamp("2019-09-09")  # the sixth module
    assert uptake.loc["P01", "started_at"] == pd.Timestamp("2019-09-09")
    assert list(uptake.index) == _people()["participant_id"].tolist()


def test_funnel_per_arm_matches_participant_uptake_and_is_monotone():
    people = _people()
    uptake = participant_uptake(people, _course_events(), GOALS)
    table = funnel(people, uptake, arm_order=["control", "course"]).set_index("arm")
    assert table.loc["course", ["allocated", "offered", "started", "completed"]].tolist() == [
        5,
        5,
        3,
        1,
    ]
    assert table.loc["course", "started_pct"] == pytest.approx(60.0)
    assert table.loc["course", "mean_dose"] == pytest.approx(8 / 5)
    assert table.loc["course", "mean_dose_started"] == pytest.approx(8 / 3)
    assert table.loc["control", ["offered", "started"]].tolist() == [0, 1]
    assert (table["allocated"] >= table["offered"]).all()
    assert (table["started"] >= table["completed"]).all()


def test_shuffling_events_and_participants_changes_nothing(rng):
    people, events = _people(), _course_events()
    first = participant_uptake(people, events, GOALS)
    again = participant_uptake(
        people.sample(frac=1, random_state=1), events.sample(frac=1, random_state=2), GOALS
    )
    pd.testing.assert_frame_equal(first, again.loc[first.index])


def test_a_returned_letter_was_offered_but_not_received():
    people = _people(3, 1)
    events = pd.DataFrame(
        [
            _event("P00", "letter_sent", 5),
            _event("P01", "letter_sent", 5),
            _event("P01", "letter_returned", 20),
        ]
    )
    uptake = participant_uptake(people, events, LETTERS)
    assert uptake["offered"].tolist() == [1, 1, 0, 0]
    assert uptake["took_up"].tolist() == [1, 0, 0, 0]
    assert uptake["completed"].tolist() == [1, 0, 0, 0]
    assert uptake["not_received"].tolist() == [0, 1, 0, 0]


def _sites() -> pd.DataFrame:
    ids = [f"S{i:02d}" for i in range(12)]
    site = ["LA1"] * 4 + ["LA3"] * 4 + ["LA4"] * 4
    arm = ["rounds"] * 8 + ["waiting_list"] * 4
    return pd.DataFrame(
        {
            "participant_id": ids,
            "unit_id": site,
            "arm": arm,
            "organisation": site,
            "team": site,
        }
    )


def test_cluster_events_reach_everyone_in_the_cluster_and_attendance_is_personal():
    events = pd.DataFrame(
        [
            _event("LA1", "round_held", 3, round_id="LA1-R1"),
            _event("LA1", "round_held", 10, round_id="LA1-R2"),
            _event("LA1", "round_held", 17, round_id="LA1-R3"),
            _event("S00", "attended", 3, round_id="LA1-R1"),
            _event("S00", "attended", 10, round_id="LA1-R2"),
            _event("S00", "attended", 17, round_id="LA1-R3"),
            _event("S01", "attended", 10, round_id="LA1-R2"),
            _event("S01", "attended", 10, round_id="LA1-R2"),  # logged twice: one Round
            _event("LA3", "training_held", 2),
        ]
    )
    uptake = participant_uptake(_sites(), events, ROUNDS)
    assert uptake["offered"].tolist() == [1] * 4 + [0] * 8
    assert uptake.loc["S00", ["took_up", "dose", "completed"]].tolist() == [1, 3, 1]
    assert uptake.loc["S01", ["took_up", "dose", "completed"]].tolist() == [1, 1, 0]
    assert uptake.loc["S02", ["took_up", "dose", "completed"]].tolist() == [0, 0, 0]


def test_coffee_machine_makes_everyone_in_the_building_offered_and_started():
    people = _sites().assign(arm=["coffee"] * 8 + ["control"] * 4)
    definition = {
        "offered": "machine_installed",
        "started": "machine_installed",
        "completed": "machine_installed",
    }
    events = pd.DataFrame(
        [_event("LA1", "machine_installed", 5), _event("LA1", "supplies_restocked", 25)]
    )
    uptake = participant_uptake(people, events, definition)
    assert uptake["took_up"].tolist() == [1] * 4 + [0] * 8
    table = funnel(people, uptake, arm_order=["control", "coffee"]).set_index("arm")
    assert table.loc["coffee", "started_pct"] == pytest.approx(50.0)


def test_contamination_lists_control_units_and_flags_their_events():
    people = _sites().assign(arm=["coffee"] * 8 + ["control"] * 4)
    events = pd.DataFrame(
        [
            _event("LA1", "machine_installed", 5),
            _event("LA4", "machine_installed", 6),  # a machine in a control building
            _event("LA4", "supplies_restocked", 26),
            _event("S01", "note_delivered", 7),
        ]
    )
    assert contaminated_events(events, people, control_arm="control").tolist() == [
        False,
        True,
        True,
        False,
    ]
    table = contamination(events, people, control_arm="control")
    assert table[["unit_id", "unit_kind", "participants_reached", "events"]].to_dict("records") == [
        {"unit_id": "LA4", "unit_kind": "cluster", "participants_reached": 4, "events": 2}
    ]
    assert table.loc[0, "event_types"] == "machine_installed, supplies_restocked"
    individual = contamination(_course_events(), _people(), control_arm="control")
    assert individual["unit_id"].tolist() == ["P07"]


def test_over_time_is_cumulative_by_iso_week_and_ends_at_the_funnel():
    people = _people()
    uptake = participant_uptake(people, _course_events(), GOALS)
    weekly = uptake_over_time(people, uptake, arm_order=["control", "course"])
    assert set(weekly["arm"]) == {"control", "course"}
    assert pd.to_datetime(weekly["week"]).dt.day_of_week.eq(0).all()  # Mondays
    assert weekly["iso_week"].iloc[0] == "2019-W36"
    for _arm, rows in weekly.groupby("arm"):
        assert rows["started"].is_monotonic_increasing
        assert rows["new_started"].sum() == rows["started"].iloc[-1]
    last = weekly.groupby("arm").last()
    table = funnel(people, uptake, arm_order=["control", "course"]).set_index("arm")
    assert last["started"].to_dict() == table["started"].to_dict()
    assert last["completed"].to_dict() == table["completed"].to_dict()


def test_breakdowns_add_up_to_the_funnel():
    people = _people(6, 4)
    uptake = participant_uptake(people, _course_events(), GOALS)
    table = funnel(people, uptake, arm_order=["control", "course"]).set_index("arm")
    for by in ("organisation", "team"):
        groups = uptake_by(people, uptake, by=by).groupby("arm")[["allocated", "started"]].sum()
        assert groups.to_dict() == table[["allocated", "started"]].to_dict()
    with pytest.raises(ValueError, match=r"The breakdown 'by' 'site' is not known\. Choose one of"):
        uptake_by(people, uptake, by="site")


def test_no_events_gives_zero_uptake_not_an_error():
    people = _people()
    empty = pd.DataFrame(columns=["unit_id", "event_type", "occurred_at"])
    summary = summarise_uptake(
        people, empty, GOALS, arm_order=["control", "course"], control_arm="control"
    )
    assert summary.funnel["started"].tolist() == [0, 0]
    assert summary.over_time.empty and summary.contamination.empty
    assert json.loads(json.dumps(summary.to_dict()))["contamination"] == 0


def test_summary_to_dict_is_json_safe_and_schema_shaped():
    summary = summarise_uptake(
        _people(),
        _course_events(),
        GOALS,
        arm_order=["control", "course"],
        control_arm="control",
    )
    out = summary.to_dict()
    text = json.dumps(out, allow_nan=False)  # NaN would fail here
    assert json.loads(text) == out
    assert out["contamination"] == 1
    assert {"arm", "allocated", "offered", "started", "completed", "mean_dose"} <= set(
        out["funnel"][0]
    )
    assert {"week", "arm", "started", "completed", "started_pct"} <= set(out["over_time"][0])
    assert all(
        type(v) in (int, float, str, type(None)) for row in out["funnel"] for v in row.values()
    )


def test_uptake_scales_to_many_events_without_changing_answers():
    rng = np.random.default_rng(5)
    n = 2000
    people = pd.DataFrame(
        {
            "participant_id": [f"P{i:05d}" for i in range(n)],
            "arm": np.where(np.arange(n) % 2 == 0, "course", "control"),
        }
    ).assign(unit_id=lambda d: d["participant_id"], organisation="A", team="T")
    who = rng.choice(people["participant_id"], size=20000)
    module = rng.integers(1, 7, size=20000)
    events = pd.DataFrame(
        {
            "unit_id": who,
            "event_type": "module_completed",
            "occurred_at": "2019-10-01",
            "module": module,
        }
    )
    events = pd.concat([events, events.assign(event_type="module_started")])
    uptake = participant_uptake(people, events, GOALS)
    expected = (
        pd.DataFrame({"p": who, "m": module}).drop_duplicates().groupby("p").size()
    ).reindex(people["participant_id"], fill_value=0)
    assert uptake["dose"].tolist() == expected.tolist()
    assert uptake["completed"].tolist() == (expected >= 6).astype(int).tolist()


def test_dose_distribution_counts_everyone_once_and_at_least_is_the_drop_off():
    people = _people()
    uptake = participant_uptake(people, _course_events(), GOALS)
    doses = dose_distribution(people, uptake, arm_order=["control", "course"])
    course = doses[doses["arm"] == "course"].set_index("dose")
    assert course["participants"].tolist() == [3, 0, 1, 0, 0, 0, 1]  # P02-P04, P01, P00
    assert course["at_least"].tolist() == [5, 2, 2, 1, 1, 1, 1]
    assert course["at_least"].is_monotonic_decreasing
    assert doses.groupby("arm")["participants"].sum().to_dict() == {"control": 5, "course": 5}
    assert course.loc[0, "at_least_pct"] == pytest.approx(100.0)
