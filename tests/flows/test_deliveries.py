from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from flows.deliveries import (
    deliveries_ingest_flow,
    deliveries_stage,
    read_deliveries,
    write_events,
)
from flows.randomise import randomise_flow
from flows.sources import SourceError, file_hash
from flows.store import Store, delivery_events, trialflow_home
from flows.tasks import retry_if_transient
from intake.deliveries import EVENT_COLUMNS, event_rows
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_deliveries import simulate_deliveries
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow

# The tests that write to the store run on SQLite and on PostgreSQL (issue 18.1).
on_both = pytest.mark.usefixtures("store_backend")


def _randomise(name: str, tmp_path: Path):  # noqa: ANN202
    design = load_design(DESIGNS / f"{name}.yaml")
    simulate_roster(design, rng=np.random.default_rng(3)).to_csv(
        tmp_path / "roster.csv", index=False
    )
    randomise_flow(name, str(tmp_path / "roster.csv"))
    return design, Store().participant_arms(name)


def _counts(trial: str) -> dict:
    with Store().engine.connect() as conn:
        return {
            t: conn.execute(
                sa.text(f"select count(*) from {t} where trial_id = :t"), {"t": trial}
            ).scalar()
            for t in ("delivery_events", "quarantine", "ingested_files")
        }


def _events(trial: str) -> pd.DataFrame:
    return Store().read(sa.select(delivery_events).where(delivery_events.c.trial_id == trial))


@pytest.fixture
def goal_setting(prefect_server, tmp_path):
    design, people = _randomise("goal_setting", tmp_path)
    log = simulate_deliveries(design, people, rng=np.random.default_rng(8))["deliveries.csv"]
    path = tmp_path / "platform_export.csv"
    log.to_csv(path, index=False)
    return design, people, log, path


@on_both
def test_bad_rows_are_quarantined_good_rows_stored_and_contamination_flagged(goal_setting):
    design, people, log, path = goal_setting
    result = deliveries_ingest_flow("goal_setting", str(path))
    quarantined = Store().quarantined("goal_setting")
    assert sorted(quarantined["rule"]) == [
        "date_in_window",
        "known_event_type",
        "known_unit",
        "module_1_to_6",
    ]
    by_rule = quarantined.set_index("rule")
    assert by_rule.loc["known_unit", ["column", "value"]].tolist() == ["learner_id", "GOA99999"]
    assert by_rule.loc["module_1_to_6", ["column", "value"]].tolist() == ["module", "7"]
    assert by_rule.loc["date_in_window", "value"].startswith("2020-06")  # as written in the file
    for row in quarantined.itertuples():  # row numbers are the file's lines (header = 1)
        assert str(log.iloc[row.row_number - 2][row.column]) == row.value
    stored = _events("goal_setting")
    n_good = len(log) - 4
    assert len(stored) == n_good - 1  # the line exported twice is stored once
    assert result["rows_stored"] == n_good - 1 and result["rows_quarantined"] == 4
    assert stored["event_key"].is_unique
    control = set(people.loc[people["arm"] == "control", "participant_id"])
    flagged = stored[stored["contaminated"].astype(bool)]
    assert len(flagged) == 2 and set(flagged["unit_id"]) <= control
    assert not stored.loc[~stored["unit_id"].isin(control), "contaminated"].astype(bool).any()
    assert result["contaminated_units"] == 2
    digest = file_hash(path)
    assert (
        trialflow_home() / "archive" / "goal_setting" / f"{digest}.csv"
    ).read_bytes() == path.read_bytes()
    assert Path(result["quarantine_report"]).exists()


@on_both
def test_reingest_adds_nothing_and_an_overlapping_export_adds_only_new_events(
    goal_setting, tmp_path
):
    _design, _people, log, path = goal_setting
    deliveries_ingest_flow("goal_setting", str(path))
    before = _counts("goal_setting")
    again = deliveries_ingest_flow("goal_setting", str(path))
    assert again["already_ingested"] and "nothing changed" in again["summary"]
    assert _counts("goal_setting") == before
    # next week's export: 200 lines seen before plus three new events, in a new order
    vocabulary = ["invited", "module_started", "module_completed"]
    seen = log.iloc[100:300]
    seen = seen[
        seen["activity"].isin(vocabulary)
        & ~seen["module"].eq(7).fillna(False)
        & seen["learner_id"].ne("GOA99999")
    ]
    new = (
        seen[seen["activity"] == "invited"]
        .head(3)
        .assign(activity="diary_slot_booked", timestamp="2019-12-02T09:00:00")
    )
    overlap = pd.concat([new, seen]).iloc[::-1]
    overlap_path = tmp_path / "platform_export_week2.csv"
    overlap.to_csv(overlap_path, index=False)
    result = deliveries_ingest_flow("goal_setting", str(overlap_path))
    after = _counts("goal_setting")
    assert result["rows_stored"] == 3 and result["rows_already_stored"] == len(seen)
    assert f"{len(seen)} good row(s) were already stored" in result["summary"]
    assert after["delivery_events"] == before["delivery_events"] + 3
    assert after["ingested_files"] == before["ingested_files"] + 1
    assert after["quarantine"] == before["quarantine"]


@on_both
def test_attendance_counts_only_at_rounds_held_in_this_file_or_an_earlier_one(
    prefect_server, tmp_path
):
    design, people = _randomise("schwartz_rounds", tmp_path)
    rounds_site = people.loc[people["arm"] == "rounds", "unit_id"].iloc[0]
    members = people.loc[people["unit_id"] == rounds_site, "participant_id"].tolist()
    waiting = people.loc[people["arm"] == "waiting_list", "participant_id"].iloc[0]
    held = pd.DataFrame(
        [
            {"unit": rounds_site, "event": "round_held", "date": "2020-03-04", "round": "R1", "facilitator": "F", "hours": 1, "attendees": 3},
            {"unit": rounds_site, "event": "training_held", "date": "2020-02-10", "round": None, "facilitator": "F", "hours": 7, "attendees": 8},
        ]
    )  # fmt: skip
    held.to_csv(tmp_path / "rounds.csv", index=False)
    deliveries_ingest_flow("schwartz_rounds", str(tmp_path / "rounds.csv"))
    attendance = pd.DataFrame(
        [
            {
                "unit": members[0],
                "event": "attended",
                "date": "2020-03-04",
                "round": "R1",
                "hours": 1,
            },
            {
                "unit": members[1],
                "event": "attended",
                "date": "2020-03-04",
                "round": "R1",
                "hours": "one",
            },
            {
                "unit": members[2],
                "event": "attended",
                "date": "2020-04-01",
                "round": "R2",
                "hours": 1,
            },
            {
                "unit": members[2],
                "event": "attended",
                "date": "2020-04-01",
                "round": None,
                "hours": 1,
            },
            {
                "unit": rounds_site,
                "event": "round_held",
                "date": "2020-05-06",
                "round": "R3",
                "hours": 1,
                "attendees": 2,
            },
            {
                "unit": members[3],
                "event": "attended",
                "date": "2020-05-06",
                "round": "R3",
                "hours": 1,
            },
            {"unit": waiting, "event": "attended", "date": "2020-05-06", "round": "R3", "hours": 1},
            {
                "unit": members[4],
                "event": "attended",
                "date": "2020-01-20",
                "round": "R1",
                "hours": 1,
            },
        ]
    ).reindex(columns=["unit", "event", "date", "round", "facilitator", "hours", "attendees"])
    attendance.to_csv(tmp_path / "attendance.csv", index=False)
    result = deliveries_ingest_flow("schwartz_rounds", str(tmp_path / "attendance.csv"))
    problems = Store().quarantined("schwartz_rounds")[["row_number", "column", "rule", "value"]]
    problems["value"] = problems["value"].astype("object").where(problems["value"].notna(), None)
    assert problems.to_records(index=False).tolist() == [
        (3, "hours", "numeric", "one"),
        (4, "round", "round_was_held", "R2"),
        (5, "round", "round_was_held", None),
        (9, "date", "date_in_window", "2020-01-20"),
    ]
    stored = _events("schwartz_rounds").set_index("source_row")
    assert result["rows_stored"] == 4
    assert stored.loc[stored["source_file"] == "rounds.csv", "unit_kind"].eq("cluster").all()
    latest = stored[stored["source_file"] == "attendance.csv"].sort_index()
    assert latest.loc[6, "event_type"] == "round_held" and latest.loc[6, "attendees"] == 2
    assert latest["contaminated"].astype(bool).tolist() == [False, False, False, True]


@on_both
def test_a_file_missing_mapped_columns_fails_naming_them_and_writes_nothing(goal_setting, tmp_path):
    _design, _people, log, _path = goal_setting
    broken = tmp_path / "old_export.csv"
    log.rename(columns={"activity": "action", "module": "unit"}).to_csv(broken, index=False)
    with pytest.raises(
        SourceError,
        match=r"old_export\.csv: column\(s\) 'activity' \(for event_type\), 'module' \(for module\)",
    ):
        deliveries_ingest_flow("goal_setting", str(broken))
    assert _counts("goal_setting") == {"delivery_events": 0, "quarantine": 0, "ingested_files": 0}
    assert not (trialflow_home() / "archive" / "goal_setting").exists()


@on_both
def test_a_write_that_fails_half_way_leaves_nothing_behind(goal_setting, monkeypatch):
    design, people, _log, path = goal_setting
    frame = read_deliveries(path, design.interventions[0])
    rows = event_rows(frame.head(200), design, design.interventions[0], people, file_name=path.name)
    store = Store()

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003
        raise OSError("disk full")

    monkeypatch.setattr(store, "record_ingest", broken)
    with pytest.raises(OSError, match="disk full"):
        write_events(
            store,
            design,
            path=path,
            digest=file_hash(path),  # the archive checks the copy against it
            rows=rows,
            problems=frame.head(0),
            rows_read=200,
        )
    assert _counts("goal_setting") == {"delivery_events": 0, "quarantine": 0, "ingested_files": 0}


@on_both
def test_the_daily_stage_ingests_each_file_in_the_drop_folder_once(goal_setting, tmp_path):
    _design, _people, log, _path = goal_setting
    drop = tmp_path / "drop"
    (drop / "deliveries").mkdir(parents=True)
    log.head(300).to_csv(drop / "deliveries" / "2019-09-09.csv", index=False)
    log.tail(300).to_csv(drop / "deliveries" / "2019-09-16.csv", index=False)
    (drop / "deliveries" / "notes.txt").write_text("not a log")
    first = deliveries_stage("goal_setting", str(drop))
    assert [line.split(":")[0] for line in first] == ["2019-09-09.csv", "2019-09-16.csv"]
    again = deliveries_stage("goal_setting", str(drop))
    assert all("already ingested" in line for line in again)
    assert deliveries_stage("goal_setting", str(tmp_path / "empty")) == []


def test_io_tasks_retry_a_locked_database_but_not_a_bad_file_or_an_unknown_trial():
    import sqlite3

    class Failed:
        def __init__(self, error: Exception) -> None:
            self.error = error

        def result(self):  # noqa: ANN202
            raise self.error

    assert retry_if_transient(None, None, Failed(sqlite3.OperationalError("database is locked")))
    assert retry_if_transient(None, None, Failed(OSError("No space left on device")))
    assert not retry_if_transient(None, None, Failed(SourceError("x.csv: column(s) missing")))
    assert not retry_if_transient(None, None, Failed(LookupError("not randomised")))


def test_the_event_columns_of_intake_are_the_store_table_columns_in_order():
    # intake builds rows for the table without importing the store (flows): the two must agree
    assert [c.name for c in delivery_events.columns if c.name != "event_id"] == EVENT_COLUMNS
