"""Two interventions' delivery logs with the same file name are two files, not one sent twice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from flows.deliveries import deliveries_ingest_flow
from flows.randomise import randomise_flow
from flows.status import gather_status, summarise_status
from flows.store import Store, delivery_events
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow

NAME = "goal_setting_nudges"
# the same bad line (a learner the trial does not know) in both interventions' exports
UNKNOWN = {
    "learner_id": "NOBODY",
    "activity": "invited",
    "timestamp": "2022-10-03 09:00:00",
    "module": "",
}


def _log(people: pd.DataFrame, arm: str, activity: str) -> pd.DataFrame:
    mine = people[people["arm"] == arm].head(5)
    rows = [
        {"learner_id": p, "activity": activity, "timestamp": "2022-10-03 09:00:00", "module": ""}
        for p in mine["participant_id"]
    ]
    return pd.DataFrame([*rows, UNKNOWN])


def _events(intervention: str) -> int:
    with Store().engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(
                delivery_events.c.trial_id == NAME, delivery_events.c.intervention == intervention
            )
        ).scalar_one()


def test_two_interventions_logs_named_alike_each_store_every_row(prefect_server, tmp_path):
    design = load_design(DESIGNS / f"{NAME}.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(5), n=60)
    roster.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow(NAME, str(tmp_path / "roster.csv"))
    people = Store().participant_arms(NAME)
    drop = tmp_path / "drop" / "deliveries"
    email = drop / "course_by_email" / "export.csv"
    reminders = drop / "course_with_reminders" / "export.csv"
    for path, arm, activity in (
        (email, "course", "invited"),
        (reminders, "course_reminders", "reminder_sent"),
    ):
        path.parent.mkdir(parents=True)
        _log(people, arm, activity).to_csv(path, index=False)

    first = deliveries_ingest_flow(NAME, str(email), "course_by_email")
    second = deliveries_ingest_flow(NAME, str(reminders), "course_with_reminders")
    assert (first["rows_stored"], first["rows_quarantined"]) == (5, 1)
    assert (second["rows_stored"], second["rows_quarantined"]) == (5, 1)
    assert (_events("course_by_email"), _events("course_with_reminders")) == (5, 5)
    # each log's unknown learner stays in quarantine: one does not hide the other
    held = Store().quarantined(NAME, "deliveries")
    assert len(held) == 2
    assert sorted(held["intervention"]) == ["course_by_email", "course_with_reminders"]

    # the same file again for the same intervention changes nothing
    again = deliveries_ingest_flow(NAME, str(reminders), "course_with_reminders")
    assert again["already_ingested"] is True
    assert (_events("course_by_email"), _events("course_with_reminders")) == (5, 5)
    assert len(Store().quarantined(NAME, "deliveries")) == 2

    # the email log's very bytes sent as the reminders' log are that intervention's events
    # (contamination of the course arm), not a re-ingest of the email log
    copied = tmp_path / "copy" / "export.csv"
    copied.parent.mkdir()
    copied.write_bytes(email.read_bytes())
    third = deliveries_ingest_flow(NAME, str(copied), "course_with_reminders")
    assert third["already_ingested"] is False
    assert third["rows_stored"] == 5
    assert (_events("course_by_email"), _events("course_with_reminders")) == (5, 10)
    assert len(Store().quarantined(NAME, "deliveries")) == 2  # its unknown learner is held already

    # status sees both logs in their folders, each ingested, and both quarantined rows
    summary = summarise_status(gather_status(NAME, drop=tmp_path / "drop"))
    logs = {d["file"]: d["status"] for d in summary["drop"] if d["kind"] == "deliveries"}
    assert logs == {
        "deliveries/course_by_email/export.csv": "ingested",
        "deliveries/course_with_reminders/export.csv": "ingested",
    }
    assert sum(q["rows"] for q in summary["quarantine"]) == 2
