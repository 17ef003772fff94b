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
from flows.pipeline import default_drop, pipeline_flow
from flows.store import Store
from trial_designs.design import TrialDesign
from trial_designs.simulate import simulate_roster
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
        simulate_roster(design, rng=np.random.default_rng([DEMO_SEED, 1])).to_csv(path, index=False)
    return path


@task(name="simulate outcome files", cache_policy=NO_CACHE, **IO_RETRIES)
def simulate_outcome_files(design: TrialDesign, drop: Path) -> list[Path]:
    """Surveys and HR extract for the randomised participants, written once."""
    folder = drop / "outcomes"
    if folder.exists() and any(folder.iterdir()):
        return sorted(folder.iterdir())
    folder.mkdir(parents=True, exist_ok=True)
    files = simulate_outcomes(
        design, Store().participant_arms(design.id), rng=np.random.default_rng([DEMO_SEED, 3])
    )
    paths = []
    for name, frame in files.items():
        frame.to_csv(folder / name, index=False)
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
def demo_flow(trials: list[str] | None = None) -> dict:
    """Simulate each seed trial into its drop folder and run its pipeline end to end."""
    summary, seconds = [], {}
    for name in trials or DEMO_TRIALS:
        start = time.perf_counter()
        design = load_design_task(name)
        drop = default_drop(design.id)
        simulate_roster_file(design, drop)
        pipeline_flow(name, str(drop), ["randomise"])
        simulate_outcome_files(design, drop)
        pipeline_flow(name, str(drop))
        summary.append(summary_row(design))
        seconds[name] = round(time.perf_counter() - start, 1)
    return {"summary": summary, "seconds": seconds}
