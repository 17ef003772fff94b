"""Simulation study and Dask scale-out for design diagnosis (coffee trial: 13 buildings).

    .venv/bin/python bench/bench_diagnose.py

1. Under the null, with 13 clusters: CI coverage of CR2 + Bell-McCaffrey df
   against CR1 (Stata), and the rejection rate of randomisation inference.
2. `trialflow diagnose` with 1,000 simulations: serial against a local Dask
   cluster with 2 worker processes, side by side.
"""

from __future__ import annotations

import os
import time

# before flows sets its 90 s: Prefect's temporary server can take minutes on a loaded machine
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")

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


def _before(address: str, sims: int, effect: float, seed: int) -> list[dict]:
    """The flow as it was (commit d570f22): one Prefect task per 50 simulations on a
    DaskTaskRunner, the roster and design pickled into every task."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect_dask import DaskTaskRunner

    chunk = task(simulate_chunk, name="simulate chunk", cache_policy=NO_CACHE)

    @flow(name="diagnose-before", task_runner=DaskTaskRunner(address=address))
    def before() -> list[dict]:
        design = load_design("trial_designs/coffee.yaml")
        roster = simulate_roster(design, rng=np.random.default_rng([seed, 7])).rename(
            columns={v: k for k, v in design.roster.columns.items()}
        )
        settings = DiagnosisSettings(effect=effect, icc=0.05)
        futures = [chunk.submit(roster, design, settings, s) for s in chunk_seeds(seed, sims, 50)]
        frame = pd.concat([f.result() for f in futures], ignore_index=True)
        return summarise_diagnosis(frame, truth=effect).to_dict("records")

    return before()


def scale_out(n_sims: int = 1000) -> None:
    """Serial against a LocalCluster of 2 worker processes started here, same flow, same load."""
    from distributed import LocalCluster

    parameters = {"sims": n_sims, "effect": 0.2, "seed": 3}
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        address = cluster.scheduler_address
        # warm-up, not timed: Prefect's temporary server, and the workers' imports
        run_diagnosis("coffee", dask_address=address, sims=4, chunk_size=2)
        timed = {}
        for label, run in (
            ("serial (this process)", lambda: run_diagnosis("coffee", **parameters)),
            (
                "2 workers: 4 chunks of 250, data scattered once",
                lambda: run_diagnosis("coffee", dask_address=address, **parameters),
            ),
            (
                "2 workers, before: DaskTaskRunner, 20 tasks of 50",
                lambda: _before(address, **parameters),
            ),
        ):
            start = time.perf_counter()
            timed[label] = (run(), time.perf_counter() - start)
    serial, serial_s = timed["serial (this process)"]
    print(
        f"trialflow diagnose, {n_sims} simulations of the coffee trial, a LocalCluster of 2 "
        f"worker processes (1 thread each) beside the serial run; load average {load}:"
    )
    for label, (result, seconds) in timed.items():
        print(
            f"  {label:50s} {seconds:6.1f} s   speed-up {serial_s / seconds:.2f}x   "
            f"identical results: {result == serial}"
        )


if __name__ == "__main__":
    import sys

    if "--scale-out-only" not in sys.argv:
        simulation_study()
    scale_out()
