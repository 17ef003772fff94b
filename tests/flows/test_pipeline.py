"""The pipeline end to end on one simulated trial: every section produced, re-runs change nothing,
a wave the design does not declare is refused, new answers change only the outcomes, the analysis
and the report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import sqlalchemy as sa

from analysis.results_model import SCHEMA_PATH
from flows.demo import demo_flow
from flows.pipeline import STAGES, default_drop, pipeline_flow
from flows.results_file import results_path
from flows.store import Store
from tests.designs import DESIGNS
from trial_designs.design import load_design

TRIAL = "schwartz_rounds"
TABLES = (
    "participants",
    "allocations",
    "audit_log",
    "delivery_events",
    "outcome_values",
    "survey_responses",
    "quarantine",
    "ingested_files",
)


def _counts() -> dict[str, int]:
    store = Store()
    with store.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        return {
            t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
            for t in TABLES
            if t in names
        }


def _digest(path) -> str:  # noqa: ANN001
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def demo_trial(prefect_server, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALFLOW_REPORTS_DIR", str(tmp_path / "reports"))
    return demo_flow([TRIAL], pdf=False)


def test_the_demo_runs_every_stage_then_reruns_change_only_what_is_new(demo_trial, tmp_path):
    assert set(demo_trial["seconds"]) >= set(STAGES)
    results = json.loads(results_path(TRIAL).read_text())
    jsonschema.validate(results, json.loads(SCHEMA_PATH.read_text()))
    funnel = {row["arm"]: row for row in results["uptake"]["funnel"]}
    assert funnel["rounds"]["started"] > 10 * funnel["waiting_list"]["started"]
    primary = results["outcomes"][0]
    assert [s["method"] for s in primary["sensitivity"]] == [
        "complete_case",
        "ipw",
        "multiple_imputation",
    ]
    assert primary["sensitivity"][0]["estimate"] == primary["estimates"][0]["estimate"]
    consort = results["consort"]["individuals"]
    for row in results["attrition"]["by_arm"]:
        assert row["allocated"] == consort[row["arm"]]["allocated"]
        assert row["lost"] == consort[row["arm"]]["lost"]
    assert results["balance"]["table"] and results["balance"]["auc"] is None  # cluster trial
    costs = results["costs"]
    # Rounds are open to all the authority's staff: participants bear their share of each
    # Round's head count and their own time, not the whole cost of the Rounds
    assert costs["per_participant"]["randomised"] == pytest.approx(
        costs["totals"]["participants_total"] / costs["denominators"]["randomised"]
    )
    assert costs["totals"]["participants_total"] < costs["totals"]["total"]
    assert costs["per_participant"]["per_round"] > 0
    assert [row["outcome"] for row in costs["cost_effectiveness"]] == [
        "ghq12",
        "swemwbs",
        "turnover",
    ]
    ledger = pd.read_csv(tmp_path / ".trialflow" / "out" / TRIAL / "costs" / "ledger.csv")
    assert ledger["cost"].sum() == pytest.approx(costs["totals"]["total"])
    report = demo_trial["reports"][TRIAL]["html"]
    assert report.endswith(f"{TRIAL}.html")
    assert "Cost per participant" in Path(report).read_text(encoding="utf-8")
    assert demo_trial["portfolio"]["html"].endswith("portfolio.html")
    (row,) = demo_trial["summary"]
    assert row["n"] == 310 and row["cost per participant"].startswith("£")

    # the same trial (one demo run serves both halves: it takes a minute)
    _rerun_changes_nothing_and_a_new_wave_changes_only_outcomes()


def _rerun_changes_nothing_and_a_new_wave_changes_only_outcomes() -> None:
    before = _counts()
    results = results_path(TRIAL)
    first = _digest(results)
    pipeline_flow(TRIAL, pdf=False)
    assert _counts() == before
    assert _digest(results) == first
    # a wave the design does not declare is refused before anything is written
    outcomes = default_drop(TRIAL) / "outcomes"
    wave = pd.read_csv(outcomes / "survey_endline.csv", dtype=str)
    wave.to_csv(outcomes / "survey_followup.csv", index=False)
    with pytest.raises(ValueError, match=r"^The timepoint 'followup' is not declared by design"):
        pipeline_flow(TRIAL, pdf=False)
    assert _counts() == before
    (outcomes / "survey_followup.csv").unlink()
    # new answers arrive (the endline file re-exported as the baseline's late responses,
    # dated in the baseline's window: dated at endline they are not baseline answers)
    design = load_design(DESIGNS / f"{TRIAL}.yaml")
    dated = {design.survey.columns["collected_on"]: design.follow_up.baseline.isoformat()}
    wave.assign(**dated).to_csv(outcomes / "survey_baseline.csv", index=False)
    done = pipeline_flow(TRIAL, pdf=False)
    after = _counts()
    changed = {t for t in TABLES if after.get(t) != before.get(t)}
    assert changed <= {"survey_responses", "quarantine", "ingested_files", "audit_log"}
    assert after["survey_responses"] > before["survey_responses"]
    for table in ("participants", "allocations", "delivery_events"):
        assert after[table] == before[table]
    assert "survey_baseline.csv" in " ".join(done["stages"]["outcomes"])
    # and the analysis and report were redone from the store
    assert done["stages"]["analyse"] == str(results)
    assert set(done["stages"]["report"]) == {TRIAL}
