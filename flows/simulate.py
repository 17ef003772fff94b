"""The simulate flow: write synthetic trial files for a design."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.safe_io import write_csv
from flows.tasks import IO_RETRIES, load_design_task
from trial_designs.design import TrialDesign
from trial_designs.simulate_roster import simulate_roster

__all__ = ["simulate_flow"]


@task(name="write roster", cache_policy=NO_CACHE, **IO_RETRIES)
def write_roster(design: TrialDesign, out: Path, seed: int) -> Path:
    roster = simulate_roster(design, rng=np.random.default_rng([seed, 1]))
    path = out / "roster.csv"
    write_csv(roster, path)
    return path


@flow(name="simulate", log_prints=True)
def simulate_flow(design: str, out: str, seed: int = 1) -> list[str]:
    """Simulate the files of one trial into ``out``."""
    trial = load_design_task(design)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    return [str(write_roster(trial, folder, seed))]
