"""Design diagnosis as a flow: simulations in chunks, serially or on a Dask cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from analysis.diagnose import DiagnosisSettings, chunk_seeds, simulate_chunk, summarise_diagnosis
from flows.common import load_design_task
from flows.progress import progress_callback
from trial_designs.design import TrialDesign
from trial_designs.simulate_roster import simulate_roster

__all__ = ["diagnose_flow", "run_diagnosis", "task_runner_for"]


@task(name="simulate chunk", cache_policy=NO_CACHE)
def simulate_chunk_task(
    roster: pd.DataFrame, design: TrialDesign, settings: DiagnosisSettings, seeds: list[int]
) -> pd.DataFrame:
    return simulate_chunk(roster, design, settings, seeds)


def task_runner_for(dask_address: str | None, dask_workers: int):
    """A Dask task runner for an existing scheduler or a local cluster; None for Prefect's default."""
    if not dask_address and not dask_workers:
        return None
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


@flow(name="diagnose", log_prints=True)
def diagnose_flow(
    design: str,
    sims: int = 1000,
    effect: float = 0.2,
    icc: float = 0.05,
    chunk_size: int = 50,
    seed: int = 2026,
    ri_draws: int = 0,
) -> list[dict]:
    """Simulate the design ``sims`` times and report power, bias, RMSE and coverage per estimator.

    Chunks of ``chunk_size`` simulations are tasks: never one task per
    simulation, since each Prefect task run costs milliseconds.
    """
    logger = get_run_logger()
    trial = load_design_task(design)
    roster = simulate_roster(trial, rng=np.random.default_rng([seed, 7]))
    roster = roster.rename(columns={v: k for k, v in trial.roster.columns.items()})
    settings = DiagnosisSettings(effect=effect, icc=icc, ri_draws=ri_draws)
    chunks = chunk_seeds(seed, sims, chunk_size)
    futures = [simulate_chunk_task.submit(roster, trial, settings, seeds) for seeds in chunks]
    order = {f.task_run_id: i for i, f in enumerate(futures)}
    parts: dict[int, pd.DataFrame] = {}
    # the bar is the CLI's (on a terminal only); a deployment's log has the chunk lines
    on_progress = progress_callback(f"diagnosing {trial.id}")
    on_progress(0, sims)
    for future in as_completed(futures):
        i = order[future.task_run_id]
        parts[i] = future.result()
        done = sum(len(chunks[j]) for j in parts)
        on_progress(done, sims)
        logger.info("chunk %d/%d done (%d simulations)", len(parts), len(chunks), done)
    sims_frame = pd.concat([parts[i] for i in range(len(chunks))], ignore_index=True)
    summary = summarise_diagnosis(sims_frame, truth=effect)
    create_table_artifact(
        key=f"{trial.id.replace('_', '-')}-diagnosis",
        table=summary.round(4).to_dict("records"),
        description=f"{sims} simulations, effect {effect} SD, ICC {icc}.",
    )
    return summary.to_dict("records")


def run_diagnosis(
    design: str, *, dask_address: str | None = None, dask_workers: int = 0, **parameters
) -> list[dict]:
    """Run :func:`diagnose_flow` serially, on a local Dask cluster, or on an existing scheduler."""
    runner = task_runner_for(dask_address, dask_workers)
    chosen = diagnose_flow.with_options(task_runner=runner) if runner else diagnose_flow
    return chosen(design, **parameters)
