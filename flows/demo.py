"""The demo: the four seed trials simulated and run end to end, on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.common import IO_RETRIES, load_design_task
from flows.pipeline import default_drop, pipeline_flow
from flows.store import Store
from trial_designs.design import TrialDesign
from trial_designs.simulate import simulate_roster

__all__ = ["DEMO_TRIALS", "demo_flow"]

DEMO_TRIALS = ("letters", "goal_setting", "coffee", "schwartz_rounds")
DEMO_SEED = 2026


@task(name="simulate roster", cache_policy=NO_CACHE, **IO_RETRIES)
def simulate_roster_files(design: TrialDesign, drop: Path) -> Path:
    """Write the synthetic roster once; later runs keep the file so nothing changes."""
    drop.mkdir(parents=True, exist_ok=True)
    path = drop / "roster.csv"
    if not path.exists():
        simulate_roster(design, rng=np.random.default_rng([DEMO_SEED, 1])).to_csv(path, index=False)
    return path


@flow(name="demo", log_prints=True)
def demo_flow(trials: list[str] | None = None) -> list[dict]:
    """Simulate each seed trial into its drop folder and run its pipeline."""
    summary = []
    for name in trials or DEMO_TRIALS:
        design = load_design_task(name)
        drop = default_drop(design.id)
        simulate_roster_files(design, drop)
        pipeline_flow(name, str(drop))
        arms = Store().participant_arms(design.id)
        summary.append(
            {
                "trial": design.title,
                "n": len(arms),
                "clusters": int(arms["unit_id"].nunique()) if design.unit == "cluster" else None,
            }
        )
    return summary
