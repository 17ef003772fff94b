from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from analysis.uptake import summarise_uptake
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise
from trial_designs.simulate_deliveries import simulate_deliveries
from trial_designs.simulate_roster import simulate_roster

TRIALS = ("letters", "goal_setting", "coffee", "schwartz_rounds")


@cache
def _trial(name: str):  # noqa: ANN202
    """A design and its participants as the store would return them (arm, unit, organisation, team)."""
    design = load_design(DESIGNS / f"{name}.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(7))
    canonical = roster.rename(columns={v: k for k, v in design.roster.columns.items()})
    allocation = randomise(canonical, design)
    people = allocation.members.merge(allocation.units[["unit_id", "arm"]], on="unit_id").merge(
        canonical[["id", "organisation", "team"]]
        .rename(columns={"id": "participant_id"})
        .astype({"participant_id": "str"}),
        on="participant_id",
    )
    return design, people


def _events(name: str, seed: int = 11) -> tuple[pd.DataFrame, object, pd.DataFrame]:
    design, people = _trial(name)
    log = simulate_deliveries(design, people, rng=np.random.default_rng(seed))["deliveries.csv"]
    canonical = log.rename(columns={v: k for k, v in design.interventions[0].columns.items()})
    return canonical, design, people


def _good(events: pd.DataFrame, design, people: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001
    """The rows an ingest would keep: known unit, known event, inside the window."""
    known = set(people["participant_id"]) | set(people["unit_id"])
    when = pd.to_datetime(events["occurred_at"], format="ISO8601")
    fu = design.follow_up
    keep = (
        events["unit_id"].isin(known)
        & events["event_type"].isin(design.interventions[0].event_types)
        & (when >= pd.Timestamp(max(fu.window_start, fu.randomisation)))
        & (when < pd.Timestamp(fu.window_end) + pd.Timedelta(days=1))
    )
    if "module" in events:
        keep &= events["module"].isna() | events["module"].between(1, 6)
    return events[keep]


@pytest.mark.parametrize("name", TRIALS)
def test_seeded_pure_and_in_the_design_file_layout(name):
    design, people = _trial(name)
    before = people.copy()
    first = simulate_deliveries(design, people, rng=np.random.default_rng(3))
    shuffled = people.sample(frac=1, random_state=4)
    again = simulate_deliveries(design, shuffled, rng=np.random.default_rng(3))
    pd.testing.assert_frame_equal(people, before)  # the input is not changed
    assert first.keys() == again.keys()
    for key in first:
        pd.testing.assert_frame_equal(first[key], again[key])
    log = first["deliveries.csv"]
    assert set(log.columns) == set(design.interventions[0].columns.values())
    other = simulate_deliveries(design, people, rng=np.random.default_rng(4))["deliveries.csv"]
    assert not log.equals(other)


@pytest.mark.parametrize("name", TRIALS)
def test_every_log_holds_bad_rows_for_the_demo_and_one_line_exported_twice(name):
    events, design, people = _events(name)
    known = set(people["participant_id"]) | set(people["unit_id"])
    assert (~events["unit_id"].isin(known)).sum() >= 1
    assert (~events["event_type"].isin(design.interventions[0].event_types)).sum() == 1
    when = pd.to_datetime(events["occurred_at"], format="ISO8601")
    assert (when > pd.Timestamp(design.follow_up.window_end)).sum() == 1
    assert events.duplicated().sum() == 1
    if name == "goal_setting":
        assert events["module"].eq(7).sum() == 1


def test_goal_setting_about_a_fifth_start_few_finish_and_fewer_each_week():
    events, design, people = _events("goal_setting")
    good = _good(events, design, people)
    summary = summarise_uptake(
        people,
        good,
        design.interventions[0].uptake,
        arm_order=design.arm_names,
        control_arm=design.control_arm,
    )
    course = summary.funnel.set_index("arm").loc["course"]
    assert course["offered_pct"] == 100.0
    assert 15.0 <= course["started_pct"] <= 25.0
    assert course["completed_pct"] < 2.0
    started = good[good["event_type"] == "module_started"]
    course_ids = people.loc[people["arm"] == "course", "participant_id"]
    per_module = started[started["unit_id"].isin(course_ids)].groupby("module").size()
    assert per_module.index.tolist() == [1, 2, 3, 4, 5, 6]
    assert per_module.is_monotonic_decreasing and per_module.iloc[0] > 3 * per_module.iloc[-1]
    assert summary.contamination["unit_kind"].tolist() == ["participant", "participant"]


def test_schwartz_sites_hold_three_to_six_rounds_with_attendance_that_adds_up():
    events, design, people = _events("schwartz_rounds")
    good = _good(events, design, people)
    rounds_sites = set(people.loc[people["arm"] == "rounds", "unit_id"])
    held = good[good["event_type"] == "round_held"]
    per_site = held.groupby("unit_id").size()
    assert set(per_site.index) == rounds_sites
    assert per_site.between(3, 6).all()
    for kind in ("training_held", "panel_meeting_held", "steering_group_held", "round_held"):
        rows = good[good["event_type"] == kind]
        assert rows["hours"].gt(0).all() and rows["attendees"].notna().all()
    attended = good[good["event_type"] == "attended"]
    assert set(attended["round_id"]) - set(held["round_id"]) == {
        next(r for r in attended["round_id"] if r.endswith("-R9"))
    }
    counts = attended.drop_duplicates(["unit_id", "round_id"]).groupby("round_id").size()
    waiting = set(people.loc[people["arm"] == "waiting_list", "participant_id"])
    from_waiting = attended[attended["unit_id"].isin(waiting)].groupby("round_id").size()
    head_count = held.set_index("round_id")["attendees"]
    logged = counts.sub(from_waiting, fill_value=0).reindex(head_count.index, fill_value=0)
    # a Round is open to all the authority's staff: its head count includes the trial's attenders
    assert (logged <= head_count).all()
    assert logged.nunique() > 1 and head_count.nunique() > 1  # attendance varies by Round


def _round_cost(design) -> dict[str, float]:  # noqa: ANN001
    """Direct running cost of one Round at each site: panel + Round + steering group (the seed's table)."""
    items = {i["name"]: i["amount"] for i in design.costs["items"]}
    return {
        site: sum(items[name][site] for name in ("panel_meeting", "round", "steering_group"))
        for site in items["round"]
    }


@pytest.mark.parametrize("seed", range(8))
def test_schwartz_rounds_are_as_the_seed_describes_them(seed):
    """57-103 people for an hour and a half, so about £20 per attendee per Round (CASCADE)."""
    events, design, people = _events("schwartz_rounds", seed=seed)
    good = _good(events, design, people)
    held = good[good["event_type"] == "round_held"]
    assert held["attendees"].between(57, 103).all()
    assert held["hours"].eq(1.5).all()
    assert good.loc[good["event_type"] == "attended", "hours"].eq(1.5).all()
    cost = _round_cost(design)
    assert all(1146 <= c <= 2063 for c in cost.values())
    per_attendee = held["unit_id"].map(cost).sum() / held["attendees"].sum()
    assert 15 <= per_attendee <= 27, per_attendee


@pytest.mark.parametrize("seed", range(8))
def test_goal_setting_books_diary_time_for_about_one_in_ten(seed):
    """The seed's survey: about 10% of staff had time for the course scheduled in their diary."""
    events, design, people = _events("goal_setting", seed=seed)
    good = _good(events, design, people)
    course = people.loc[people["arm"] == "course", "participant_id"]
    booked = good.loc[good["event_type"] == "diary_slot_booked", "unit_id"]
    share = booked[booked.isin(course)].nunique() / len(course)
    # 5 Monte Carlo SEs around 10% for an arm of this size
    tolerance = 5 * (0.1 * 0.9 / len(course)) ** 0.5
    assert abs(share - 0.10) < tolerance, share


def test_letters_go_only_to_the_letter_arm_with_complete_feedback_and_a_few_come_back():
    design, people = _trial("letters")
    files = simulate_deliveries(design, people, rng=np.random.default_rng(11))
    feedback = files["manager_feedback.csv"]
    letter_arm = set(people.loc[people["arm"] == "letter", "participant_id"])
    assert set(feedback["participant_id"]) <= letter_arm
    assert len(letter_arm - set(feedback["participant_id"])) == 1  # one left off the sheet
    assert feedback[["feedback_1", "feedback_2"]].isna().any(axis=1).sum() == 2
    events = files["deliveries.csv"].rename(columns={"staff_id": "unit_id", "event": "event_type"})
    complete = set(feedback.dropna()["participant_id"])
    sent = events.loc[events["event_type"] == "letter_sent", "unit_id"]
    assert set(sent) - {"LET99999"} == complete
    returned = events.loc[events["event_type"] == "letter_returned", "unit_id"]
    assert 0 < returned.nunique() < 0.1 * len(complete)


def test_coffee_machines_go_to_coffee_buildings_once_with_regular_restocks():
    events, design, people = _events("coffee")
    good = _good(events, design, people).drop_duplicates()
    coffee_buildings = set(people.loc[people["arm"] == "coffee", "unit_id"])
    installed = good[good["event_type"] == "machine_installed"]
    assert sorted(installed["unit_id"]) == sorted(coffee_buildings)
    restocks = good[good["event_type"] == "supplies_restocked"].groupby("unit_id").size()
    assert set(restocks.index) == coffee_buildings and restocks.min() >= 3
    assert good["quantity"].eq(1).all()


def test_an_unknown_design_is_refused_with_the_choices():
    design, people = _trial("letters")
    other = design.model_copy(update={"id": "yoga"})
    with pytest.raises(
        ValueError, match=r"The design 'yoga' has no delivery simulator\. Choose one of: letters"
    ):
        simulate_deliveries(other, people, rng=np.random.default_rng(1))
