"""trialflow status: counts equal the store's own, waiting files found by hash, attention list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.deliveries import read_deliveries, write_events
from flows.randomise import read_roster
from flows.sources import file_hash
from flows.status import (
    UnknownTrialError,
    drop_files,
    gather_status,
    record_stage_run_hook,
    summarise_status,
    trial_status,
)
from flows.store import Store, trialflow_home
from flows.withdraw import withdraw_participant
from intake.deliveries import check_deliveries, event_rows
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise
from trial_designs.simulate_deliveries import simulate_deliveries
from trial_designs.simulate_roster import simulate_roster

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _randomised(name: str, tmp_path: Path):  # noqa: ANN202
    design = load_design(DESIGNS / f"{name}.yaml")
    path = tmp_path / "roster.csv"
    simulate_roster(design, rng=np.random.default_rng(3)).to_csv(path, index=False)
    roster, pii = read_roster.fn(str(path), design)
    Store().record_randomisation(
        design=design, allocation=randomise(roster, design), roster=roster, pii=pii
    )
    return design, Store().participant_arms(design.id)


def _ingest(design, people: pd.DataFrame, path: Path) -> None:  # noqa: ANN001
    """A delivery ingest as the flow does it, without Prefect."""
    intervention = design.interventions[0]
    frame = read_deliveries(path, intervention)
    problems = check_deliveries(
        frame,
        design,
        intervention,
        known_units=sorted(set(people["participant_id"]) | set(people["unit_id"])),
        held_rounds=[],
    )
    good = frame[~frame["source_row"].isin(problems["source_row"])]
    rows = event_rows(good, design, intervention, people, file_name=path.name)
    write_events(
        Store(),
        design,
        path=path,
        digest=file_hash(path),
        rows=rows,
        problems=problems,
        rows_read=len(frame),
    )


@pytest.fixture
def letters_with_a_log(tmp_path):
    design, people = _randomised("letters", tmp_path)
    drop = trialflow_home() / "drop" / "letters"
    (drop / "deliveries").mkdir(parents=True)
    log = simulate_deliveries(design, people, rng=np.random.default_rng(8))["deliveries.csv"]
    first = drop / "deliveries" / "week1.csv"
    log.to_csv(first, index=False)
    _ingest(design, people, first)
    return design, people, drop, log


def test_arm_counts_equal_the_store_and_withdrawn_are_counted_in_their_arm(letters_with_a_log):
    _design, people, _drop, _log = letters_with_a_log
    gone = people.groupby("arm")["participant_id"].first()
    for pid in gone:
        withdraw_participant("letters", pid, reason="asked")
    status = trial_status("letters")
    by_arm = {row["arm"]: row for row in status["arms"]}
    assert set(by_arm) == set(people["arm"])
    for arm, group in people.groupby("arm"):
        assert by_arm[arm]["participants"] == len(group)
        assert by_arm[arm]["units"] == group["unit_id"].nunique()
        assert by_arm[arm]["withdrawn"] == 1
    assert status["withdrawn"] == len(gone)
    assert any(f"{len(gone)} participants withdrawn" in item for item in status["attention"])


def test_files_waiting_are_found_by_content_not_by_name(letters_with_a_log):
    _design, _people, drop, log = letters_with_a_log
    # the same bytes under another name were ingested already; a changed file was not
    (drop / "deliveries" / "week1_copy.csv").write_bytes(
        (drop / "deliveries" / "week1.csv").read_bytes()
    )
    log.head(20).to_csv(drop / "deliveries" / "week2.csv", index=False)
    (drop / "outcomes").mkdir()
    (drop / "outcomes" / "survey_endline.csv").write_text("staff_id\nX\n")
    (drop / "notes.txt").write_text("not an input")
    (drop / "roster.csv").write_text("staff_id\nX\n")
    status = trial_status("letters")
    states = {row["file"]: row["status"] for row in status["drop"]}
    assert states == {
        "deliveries/week1.csv": "ingested",
        "deliveries/week1_copy.csv": "ingested",
        "deliveries/week2.csv": "waiting",
        "outcomes/survey_endline.csv": "waiting",
        "roster.csv": "randomised",
    }
    waiting = next(i for i in status["attention"] if "waiting" in i)
    assert "2 files waiting" in waiting and "week2.csv" in waiting and "week1" not in waiting


def test_quarantine_counts_and_the_ingest_stage_come_from_the_store(letters_with_a_log):
    _design, _people, _drop, log = letters_with_a_log
    held = Store().quarantined("letters")
    assert len(held)  # the simulated log carries bad rows on purpose
    status = trial_status("letters")
    expected = held.groupby(["kind", "rule"])["row_number"].nunique().to_dict()
    assert {(r["kind"], r["rule"]): r["rows"] for r in status["quarantine"]} == expected
    deliveries = next(s for s in status["stages"] if s["stage"] == "deliveries")
    assert deliveries["status"] == "completed"
    assert deliveries["result"].startswith(f"week1.csv: {len(log)} rows read")
    rows_held = held["row_number"].nunique()
    assert any(f"{rows_held} rows quarantined in 1 file" in i for i in status["attention"])
    assert any(i.startswith("No outcome data yet") for i in status["attention"])
    assert status["events"]["delivery_events"] > 0


def test_a_failed_stage_comes_first_in_the_attention_list_until_it_succeeds(letters_with_a_log):
    store = Store()
    store.record_stage_run(
        trial_id="letters", stage="analyse", status="failed", summary="No outcome data."
    )
    status = trial_status("letters")
    analyse = next(s for s in status["stages"] if s["stage"] == "analyse")
    assert analyse["status"] == "failed" and analyse["result"] == "No outcome data."
    assert status["attention"][0].startswith("The last analyse run failed")
    store.record_stage_run(
        trial_id="letters", stage="analyse", status="completed", summary="results x"
    )
    status = trial_status("letters")
    assert not any("failed" in item for item in status["attention"])
    store.record_stage_run(
        trial_id="letters",
        stage="outcomes",
        status="completed",
        summary="s.csv: 9 rows read, 8 stored, 1 quarantined; archived as 0af3.csv. 2 rows were stored already.",
    )
    outcomes = next(s for s in trial_status("letters")["stages"] if s["stage"] == "outcomes")
    assert (
        outcomes["result"]
        == "s.csv: 9 rows read, 8 stored, 1 quarantined. 2 rows were stored already."
    )
    never = next(s for s in status["stages"] if s["stage"] == "report")
    assert (never["last_run"], never["status"]) == ("never", "not run")


def test_summarise_status_is_pure(letters_with_a_log):
    facts = gather_status("letters")
    first = summarise_status(facts)
    second = summarise_status(facts)
    assert first == second
    # nothing in the summary depends on the store once the facts are gathered
    assert json.dumps(first, default=str)


def test_an_unknown_trial_lists_the_known_ones(tmp_path):
    with pytest.raises(UnknownTrialError, match=r"Known trials: \(none yet"):
        trial_status("letters")
    _randomised("coffee", tmp_path)
    with pytest.raises(
        UnknownTrialError, match=r"Trial 'letterz' is not in the store .*Known trials: coffee\.$"
    ):
        trial_status("letterz")
    result = runner.invoke(app, ["status", "letterz"])
    assert result.exit_code == 1
    assert "Known trials: coffee" in result.output and "Traceback" not in result.output


def test_the_status_command_prints_tables_and_json_equal_to_trial_status(letters_with_a_log):
    result = runner.invoke(app, ["status", "letters", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads(json.dumps(trial_status("letters"), default=str))
    shown = runner.invoke(app, ["status", "letters"])
    assert shown.exit_code == 0, shown.output
    for text in ("Arms", "Stages: last run", "Quarantined rows", "Needs attention"):
        assert text in shown.output


def test_the_stage_hook_records_completions_and_failures(letters_with_a_log):
    flow = SimpleNamespace(name="letters")
    run = SimpleNamespace(parameters={"design": "letters"}, start_time=None, id="r1")

    class State:
        def __init__(self, failed: bool, result: object, message: str | None = None) -> None:
            self.failed, self._result, self.message = failed, result, message

        def is_failed(self) -> bool:
            return self.failed

        def is_crashed(self) -> bool:
            return False

        def result(self, raise_on_failure: bool = True) -> object:
            return self._result

    done = {"letters": 3, "problems": [{"participant_id": "X", "rule": "missing_feedback"}]}
    record_stage_run_hook(flow, run, State(False, done))
    record_stage_run_hook(
        SimpleNamespace(name="report"), run, State(True, None, "Flow run failed: boom")
    )
    runs = Store().stage_runs("letters")
    assert runs[["stage", "status"]].values.tolist() == [
        ["letters", "completed"],
        ["report", "failed"],
    ]
    assert runs["summary"].tolist() == [
        "3 letter(s) written; 1 participant(s) without a letter",
        "Flow run failed: boom",
    ]
    # a trial the store does not know is skipped, and a broken hook never raises
    record_stage_run_hook(flow, SimpleNamespace(parameters={"design": "nope"}), State(False, {}))
    record_stage_run_hook(flow, None, None)
    assert len(Store().stage_runs("letters")) == 2


def test_status_imports_no_prefect():
    code = "import sys, flows.status; print('prefect' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


def test_drop_files_of_a_missing_folder_is_empty(tmp_path):
    ingests = pd.DataFrame(columns=["kind", "file_hash", "timepoint"])
    assert drop_files(tmp_path / "absent", ingests).empty
