"""The demo's three-arm design through randomisation, the per-intervention delivery logs and uptake."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from flows.deliveries import deliveries_ingest_flow, deliveries_stage
from flows.demo import DEMO_SEED, DEMO_TRIALS
from flows.randomise import randomise_flow
from flows.store import Store, delivery_events
from flows.uptake import load_events, uptake_flow
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_deliveries import simulate_deliveries
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow

NAME = "goal_setting_nudges"


def test_the_demo_runs_the_three_arm_design_after_the_four_seed_trials():
    assert DEMO_TRIALS == ("letters", "goal_setting", "coffee", "schwartz_rounds", NAME)


def test_three_arms_randomised_uptake_measured_per_arm_from_each_interventions_log(
    prefect_server, tmp_path
):
    design = load_design(DESIGNS / f"{NAME}.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng([DEMO_SEED, 1]))
    roster.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow(NAME, str(tmp_path / "roster.csv"))
    people = Store().participant_arms(NAME)
    assert len(people) == 900
    # 1:1:1 within each authority: every arm gets the floor or the ceiling of a third
    for authority, members in people.groupby("organisation"):
        counts = members["arm"].value_counts().reindex(design.arm_names, fill_value=0)
        third = len(members) / 3
        assert set(counts) <= {math.floor(third), math.ceil(third)}, authority
    assert people["arm"].value_counts().sort_index().to_dict() == {
        "control": 302,
        "course": 299,
        "course_reminders": 299,
    }

    # one log per intervention, each in its own folder, as the demo writes them
    logs = simulate_deliveries(design, people, rng=np.random.default_rng([DEMO_SEED, 2]))
    drop = tmp_path / "drop"
    for name, frame in logs.items():
        (drop / "deliveries" / name).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(drop / "deliveries" / name, index=False)
    summaries = deliveries_stage(NAME, str(drop))
    assert len(summaries) == 2
    events = load_events(Store(), NAME)
    arm_of = dict(zip(people["participant_id"], people["arm"], strict=True))
    stored = events.assign(arm=events["unit_id"].map(arm_of))
    # the reminders arm's own events come only from its own log; the email log's vocabulary
    # has no reminder, so its planted 'reminder_sent' row was quarantined, not stored
    assert set(stored.loc[stored["event_type"] == "reminder_sent", "arm"]) == {"course_reminders"}
    with Store().engine.connect() as conn:
        kinds = conn.execute(
            sa.select(delivery_events.c.intervention, delivery_events.c.event_type)
            .where(delivery_events.c.trial_id == NAME)
            .distinct()
        ).all()
    assert {k for k, e in kinds if e == "reminder_sent"} == {"course_with_reminders"}

    funnel = {row["arm"]: row for row in uptake_flow(NAME)["funnel"]}
    # about 20% start the course by email, about 40% with the manager's reminders
    assert 15 < funnel["course"]["started_pct"] < 28
    assert 33 < funnel["course_reminders"]["started_pct"] < 50
    assert funnel["course_reminders"]["completed"] > funnel["course"]["completed"]
    assert funnel["control"]["started"] == 2  # the two who found the course (contamination)
    assert funnel["course"]["offered"] == funnel["course"]["allocated"] == 299


def test_a_log_of_a_design_with_several_interventions_must_say_whose_it_is(
    prefect_server, tmp_path
):
    design = load_design(DESIGNS / f"{NAME}.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(3), n=60)
    roster.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow(NAME, str(tmp_path / "roster.csv"))
    log = tmp_path / "drop" / "deliveries" / "all.csv"
    log.parent.mkdir(parents=True)
    log.write_text("learner_id,activity,timestamp,module\n")
    with pytest.raises(ValueError, match=r"declares 2 interventions, so a delivery log must say"):
        deliveries_ingest_flow(NAME, str(log))
    with pytest.raises(ValueError, match=r"'nudges' is not declared.*Got 'nudges' instead"):
        deliveries_ingest_flow(NAME, str(log), "nudges")
    with pytest.raises(ValueError, match=r"each delivery log goes in deliveries/<intervention>/"):
        deliveries_stage(NAME, str(Path(tmp_path / "drop")))
