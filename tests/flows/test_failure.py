"""A stage that fails leaves the store consistent, and a re-run ends where a clean run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from flows.outcomes import outcomes_ingest_flow
from flows.randomise import randomise_flow
from flows.store import Store
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_outcomes import simulate_outcomes
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow
TABLES = ("outcome_values", "survey_responses", "quarantine", "ingested_files", "allocations")


def _counts() -> dict:
    with Store().engine.connect() as conn:
        return {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar() for t in TABLES}


def _prepare(home: Path, tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("TRIALFLOW_HOME", str(home))
    design = load_design(DESIGNS / "goal_setting.yaml")
    roster = tmp_path / "roster.csv"
    if not roster.exists():
        simulate_roster(design, rng=np.random.default_rng(4)).to_csv(roster, index=False)
    randomise_flow("goal_setting", str(roster))
    survey = tmp_path / "survey_endline.csv"
    if not survey.exists():
        files = simulate_outcomes(
            design, Store().participant_arms("goal_setting"), rng=np.random.default_rng(2)
        )
        files["survey_endline.csv"].to_csv(survey, index=False)
    return survey


def test_killed_ingest_leaves_nothing_and_a_rerun_matches_a_clean_run(
    prefect_server, tmp_path, monkeypatch
):
    clean_home, crash_home = tmp_path / "clean", tmp_path / "crash"
    survey = _prepare(clean_home, tmp_path, monkeypatch)
    outcomes_ingest_flow("goal_setting", str(survey), "survey", "endline")
    clean = _counts()

    _prepare(crash_home, tmp_path, monkeypatch)
    before = _counts()
    env = {
        **os.environ,
        "TRIALFLOW_HOME": str(crash_home),
        "PREFECT_HOME": str(tmp_path / "child-prefect"),
    }
    env.pop("PREFECT_API_URL", None)
    code = f"from flows.outcomes import outcomes_ingest_flow; outcomes_ingest_flow('goal_setting', {str(survey)!r}, 'survey', 'endline')"
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # its own process group, so the kill takes its temporary Prefect server with it
        # (as a crashed machine would) instead of leaving that server running
        start_new_session=True,
    )
    seen = ""
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it the moment it starts writing
        line = child.stdout.readline()
        seen += line
        if "store outcomes" in line or not line:
            break
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(30)
    assert "store outcomes" in seen, seen[-2000:]
    after_kill = _counts()
    # all or nothing: either the transaction committed or the store is as it was
    assert after_kill in (before, clean), after_kill
    outcomes_ingest_flow("goal_setting", str(survey), "survey", "endline")
    assert _counts() == clean


def test_a_write_that_fails_halfway_rolls_back_completely(prefect_server, tmp_path, monkeypatch):
    survey = _prepare(tmp_path / "home", tmp_path, monkeypatch)
    before = _counts()
    original = Store.record_ingest

    def crash(self, conn, **kwargs):  # the values are inserted; the bookkeeping then fails
        raise OSError("disk full")

    monkeypatch.setattr(Store, "record_ingest", crash)
    with pytest.raises(OSError, match="disk full"):
        outcomes_ingest_flow("goal_setting", str(survey), "survey", "endline")
    assert _counts() == before
    monkeypatch.setattr(Store, "record_ingest", original)
    outcomes_ingest_flow("goal_setting", str(survey), "survey", "endline")
    assert _counts()["survey_responses"] > before["survey_responses"]
