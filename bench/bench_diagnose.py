"""Simulation study and Dask scale-out for design diagnosis (coffee trial: 13 buildings).

    .venv/bin/python bench/bench_diagnose.py

1. Under the null, with 13 clusters: CI coverage of CR2 + Bell-McCaffrey df
   against CR1 (Stata), and the rejection rate of randomisation inference.
2. `trialflow diagnose` with 1,000 simulations: serial against a local Dask
   cluster with 2 worker processes, side by side.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from analysis.diagnose import DiagnosisSettings, chunk_seeds, simulate_chunk, summarise_diagnosis
from flows.diagnose import run_diagnosis
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster


def simulation_study(n_sims: int = 1000) -> None:
    design = load_design("trial_designs/coffee.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(5)).rename(
        columns={v: k for k, v in design.roster.columns.items()}
    )
    settings = DiagnosisSettings(effect=0.0, icc=0.1, ri_draws=500)
    start = time.perf_counter()
    sims = pd.concat(
        [simulate_chunk(roster, design, settings, seeds) for seeds in chunk_seeds(99, n_sims, 100)]
    )
    summary = summarise_diagnosis(sims, truth=0.0)
    print(
        f"simulation study: {n_sims} trials under the null, 13 buildings, ICC 0.1, RI with 500 draws ({time.perf_counter() - start:.0f} s)"
    )
    mc_se = np.sqrt(0.05 * 0.95 / n_sims)
    for row in summary.itertuples():
        coverage = "" if np.isnan(row.coverage) else f"coverage of 95% CI {row.coverage:.3f}; "
        print(
            f"  {row.estimator:8s} {coverage}rejects at 5%: {row.power:.3f}  (Monte Carlo SE {mc_se:.3f})"
        )


def scale_out(n_sims: int = 1000) -> None:
    parameters = {"sims": n_sims, "chunk_size": 50, "effect": 0.2, "seed": 3}
    start = time.perf_counter()
    serial = run_diagnosis("coffee", **parameters)
    serial_s = time.perf_counter() - start
    start = time.perf_counter()
    on_dask = run_diagnosis("coffee", dask_workers=2, **parameters)
    dask_s = time.perf_counter() - start
    print(
        f"trialflow diagnose, {n_sims} simulations of the coffee trial (each run includes Prefect's start-up):"
    )
    print(f"  serial                      {serial_s:6.1f} s")
    print(
        f"  local Dask, 2 workers       {dask_s:6.1f} s   speed-up {serial_s / dask_s:.2f}x   identical results: {serial == on_dask}"
    )


if __name__ == "__main__":
    simulation_study()
    scale_out()
