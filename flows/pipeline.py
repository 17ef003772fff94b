"""The pipeline: one trial's stages in order, each a subflow, each idempotent.

Inputs come from a drop folder per trial (default ``<TRIALFLOW_HOME>/drop/<trial>``)::

    roster.csv                      the staff roster (randomised once)
    deliveries/*.csv                delivery-log exports
    outcomes/survey_<timepoint>.csv survey exports, one file per wave
    outcomes/hr_*.csv               HR extracts

The stages: randomise, ingest deliveries, uptake (funnel and dashboard),
ingest outcomes, analyse (results.json, costs included), costs (the ledger
as CSV and the cost-effectiveness summary as an artifact) and report (HTML
and PDF in ``<TRIALFLOW_HOME>/reports``).

Every stage can run on its own (each has a deployment in prefect.yaml) and
finds only new work: a roster already randomised is skipped, files already
ingested (same bytes) change nothing.  Re-running after a new survey wave
ingests that file, re-analyses and re-renders the report.  A stage that
fails leaves the store as it was (every write is one transaction), so
re-running the pipeline continues from the failed stage.
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger

from flows.analyse import analyse_flow
from flows.costs import costs_flow
from flows.deliveries import deliveries_stage
from flows.outcomes import outcomes_ingest_flow
from flows.randomise import randomise_flow
from flows.report import report_flow
from flows.settings import get_settings
from flows.store import Store
from flows.tasks import load_design_task
from flows.uptake import uptake_flow

__all__ = [
    "STAGES",
    "analyse_stage",
    "default_drop",
    "outcomes_stage",
    "pipeline_flow",
    "randomise_stage",
]

STAGES = ("randomise", "deliveries", "uptake", "outcomes", "analyse", "costs", "report")


def default_drop(trial_id: str) -> Path:
    """``<TRIALFLOW_HOME>/drop/<trial>``: where the demo and the deployments look for files."""
    return get_settings().drop_dir(trial_id)


def _drop(design: str, drop: str | None) -> Path:
    return Path(drop) if drop else default_drop(load_design_task.fn(design).id)


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in (".csv", ".xlsx"))


@flow(name="randomise-stage", log_prints=True)
def randomise_stage(design: str, drop: str | None = None) -> str:
    """Randomise the drop folder's roster, unless the trial is randomised already."""
    trial = load_design_task(design)
    if Store().trial(trial.id) is not None:
        return "already randomised; skipped"
    roster = _drop(design, drop) / "roster.csv"
    if not roster.exists():
        raise FileNotFoundError(f"No roster at {roster}: put the staff roster there first.")
    result = randomise_flow(design, str(roster))
    return f"randomised {result['units']} units (round {result['round']})"


@flow(name="outcomes-stage", log_prints=True)
def outcomes_stage(design: str, drop: str | None = None) -> list[str]:
    """Ingest every survey wave (``survey_<timepoint>.csv``) and HR extract (``hr_*.csv``)."""
    folder = _drop(design, drop) / "outcomes"
    done = []
    for path in _files(folder, "survey_*"):
        timepoint = path.stem.removeprefix("survey_")
        done.append(outcomes_ingest_flow(design, str(path), "survey", timepoint)["summary"])
    for path in _files(folder, "hr_*"):
        done.append(outcomes_ingest_flow(design, str(path), "hr", "endline")["summary"])
    return done


@flow(name="analyse-stage", log_prints=True)
def analyse_stage(design: str) -> str:
    """Analyse the trial from the store into results.json."""
    return analyse_flow(design)["results"]


def _uptake_summary(design: str) -> str:
    """The uptake stage: funnel, artifacts and dashboard (skipped when no intervention is declared)."""
    if not load_design_task.fn(design).interventions:
        return "no intervention declared; skipped"
    result = uptake_flow(design)
    return f"{result['events']} events; dashboard {result['dashboard']}"


@flow(name="pipeline", log_prints=True)
def pipeline_flow(
    design: str, drop: str | None = None, stages: list[str] | None = None, pdf: bool = True
) -> dict:
    """Run a trial's stages in order; returns what each stage did and how long it took."""
    logger = get_run_logger()
    wanted = list(stages or STAGES)
    unknown = sorted(set(wanted) - set(STAGES))
    if unknown:
        raise ValueError(f"Unknown stage(s) {unknown}. Choose from: {', '.join(STAGES)}.")
    # The *-stage flows only find the files and call the stage's own flow (randomise,
    # deliveries-ingest, outcomes-ingest, analyse), which records the run for status.  Here
    # they run as plain functions inside this run: a flow run of their own showed nothing
    # more and cost ~0.3 s each (they stay flows for their deployments).
    runners = {
        "randomise": lambda: randomise_stage.fn(design, drop),
        "deliveries": lambda: deliveries_stage.fn(design, drop),
        "uptake": lambda: _uptake_summary(design),
        "outcomes": lambda: outcomes_stage.fn(design, drop),
        "analyse": lambda: analyse_stage.fn(design),
        "costs": lambda: costs_flow(design),
        "report": lambda: report_flow(design, pdf=pdf)["reports"],
    }
    done: dict[str, object] = {}
    timings: dict[str, float] = {}
    for stage in STAGES:
        if stage not in wanted:
            continue
        start = time.perf_counter()
        done[stage] = runners[stage]()
        timings[stage] = round(time.perf_counter() - start, 2)
        logger.info("%s: %s (%.1f s)", stage, done[stage], timings[stage])
    return {"stages": done, "seconds": timings}
