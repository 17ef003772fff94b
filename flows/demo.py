"""The demo: the four seed trials simulated and run end to end, on embedded defaults."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.analyse import results_path
from flows.common import IO_RETRIES, load_design_task
from flows.letters import letters_flow
from flows.pipeline import default_drop, pipeline_flow
from flows.report import report_flow
from flows.safe_io import write_csv
from flows.store import Store
from flows.uptake import participant_uptake_from_store
from trial_designs.design import TrialDesign
from trial_designs.simulate import simulate_roster
from trial_designs.simulate_deliveries import simulate_deliveries
from trial_designs.simulate_outcomes import simulate_outcomes

__all__ = ["DEMO_TRIALS", "demo_flow", "summary_row"]

DEMO_TRIALS = ("letters", "goal_setting", "coffee", "schwartz_rounds")
DEMO_SEED = 2026


@task(name="simulate roster", cache_policy=NO_CACHE, **IO_RETRIES)
def simulate_roster_file(design: TrialDesign, drop: Path) -> Path:
    """Write the synthetic roster once; later runs keep the file so nothing changes."""
    drop.mkdir(parents=True, exist_ok=True)
    path = drop / "roster.csv"
    if not path.exists():
        write_csv(simulate_roster(design, rng=np.random.default_rng([DEMO_SEED, 1])), path)
    return path


@task(name="simulate delivery logs", cache_policy=NO_CACHE, **IO_RETRIES)
def simulate_delivery_files(design: TrialDesign, drop: Path) -> dict[str, Path]:
    """The delivery log in ``deliveries/`` and, for letters, managers' feedback, written once."""
    folder = drop / "deliveries"
    log, feedback = folder / "deliveries.csv", drop / "manager_feedback.csv"
    if not log.exists():
        folder.mkdir(parents=True, exist_ok=True)
        files = simulate_deliveries(
            design, Store().participant_arms(design.id), rng=np.random.default_rng([DEMO_SEED, 2])
        )
        write_csv(files["deliveries.csv"], log)
        if "manager_feedback.csv" in files:
            write_csv(files["manager_feedback.csv"], feedback)
    return {"deliveries": log, **({"feedback": feedback} if feedback.exists() else {})}


@task(name="simulate outcome files", cache_policy=NO_CACHE, **IO_RETRIES)
def simulate_outcome_files(design: TrialDesign, drop: Path) -> list[Path]:
    """Surveys and HR extract for the randomised participants, written once.

    Effects that work through uptake (letters, goal-setting) reach only those
    the stored delivery log says took the intervention up.
    """
    folder = drop / "outcomes"
    if folder.exists() and any(folder.iterdir()):
        return sorted(folder.iterdir())
    folder.mkdir(parents=True, exist_ok=True)
    store = Store()
    uptake = participant_uptake_from_store(design, store)
    files = simulate_outcomes(
        design,
        store.participant_arms(design.id),
        rng=np.random.default_rng([DEMO_SEED, 3]),
        took_up=None if uptake is None else uptake["took_up"],
    )
    paths = []
    for name, frame in files.items():
        write_csv(frame, folder / name)
        paths.append(folder / name)
    return paths


def summary_row(design: TrialDesign) -> dict:
    """Trial, N, uptake, primary effect [CI] and cost per participant, from results.json."""
    results = json.loads(results_path(design.id).read_text())
    primary = next(o for o in results["outcomes"] if o["primary"])
    itt = next(e for e in primary["estimates"] if e["estimand"] == "ITT")
    allocated = sum(v["allocated"] for v in results["consort"]["individuals"].values())
    uptake = results.get("uptake") or {}
    active = [r for r in uptake.get("funnel", []) if r["arm"] != design.control_arm]
    costs = (results.get("costs") or {}).get("per_participant") or {}
    return {
        "trial": design.title,
        "n": allocated,
        "uptake": f"{active[0]['started_pct']:.0f}% started" if active else "",
        "primary effect [95% CI]": f"{primary['label']}: {itt['estimate']:+.2f} [{itt['ci_low']:+.2f}, {itt['ci_high']:+.2f}]",
        "cost per participant": f"£{costs['randomised']:,.2f}"
        if costs.get("randomised") is not None
        else "",
    }


@flow(name="demo", log_prints=True)
def demo_flow(trials: list[str] | None = None, pdf: bool = True) -> dict:
    """Simulate each seed trial into its drop folder, run its pipeline end to end, then the portfolio.

    Each trial: roster -> randomise -> delivery logs (and, for letters, the
    mail-merge from managers' feedback) -> ingest deliveries -> outcomes
    simulated from who took the intervention up -> the whole pipeline.
    Re-running changes nothing: every file is written once and every stage
    finds no new work, except that analysis and reports are redone.
    """
    entered = time.perf_counter()
    summary, reports = [], {}
    seconds: dict[str, float] = {}

    def timed(step: str, run, *args, **kwargs):  # noqa: ANN001, ANN202 - any callable
        start = time.perf_counter()
        result = run(*args, **kwargs)
        seconds[step] = round(seconds.get(step, 0.0) + time.perf_counter() - start, 1)
        return result

    def stages(done: dict) -> dict:
        for stage, spent in done["seconds"].items():
            seconds[stage] = round(seconds.get(stage, 0.0) + spent, 1)
        return done["stages"]

    for name in trials or DEMO_TRIALS:
        design = load_design_task(name)
        drop = default_drop(design.id)
        timed("simulate", simulate_roster_file, design, drop)
        stages(pipeline_flow(name, str(drop), ["randomise"]))
        files = timed("simulate", simulate_delivery_files, design, drop)
        if "feedback" in files:
            day = design.follow_up.randomisation.isoformat()
            timed("letters", letters_flow, name, str(files["feedback"]), day)
        stages(pipeline_flow(name, str(drop), ["deliveries"]))
        timed("simulate", simulate_outcome_files, design, drop)
        reports.update(stages(pipeline_flow(name, str(drop), pdf=pdf))["report"])
        summary.append(summary_row(design))
    portfolio = timed(
        "portfolio report", report_flow, portfolio=True, pdf=pdf, trial_reports=False
    )["portfolio"]
    return {
        "summary": summary,
        "seconds": seconds,
        "reports": reports,
        "portfolio": portfolio,
        "entered_at": entered,
    }
