"""Design diagnosis as a flow: simulations in chunks, here or on a Dask cluster.

Where the chunks run is :mod:`flows.dask_runner`'s choice (``--dask-address``,
``--dask-workers``); each simulation has its own seed, so the summary is the
same bits wherever they ran and however they were chunked.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from analysis.diagnose import DiagnosisSettings, chunk_seeds, simulate_chunk, summarise_diagnosis
from flows.dask_runner import active_client, dask_client, map_chunks, worker_count
from flows.progress import progress_callback
from flows.tasks import load_design_task
from trial_designs.design import TrialDesign
from trial_designs.simulate_roster import simulate_roster

__all__ = ["DEFAULT_CHUNK_SIZE", "chunk_size_for", "diagnose_flow", "run_diagnosis"]

#: Simulations per chunk when they run here: small enough for a live progress bar.
DEFAULT_CHUNK_SIZE = 50
#: Chunks per worker on a cluster: few and large, so a chunk's fixed cost (a round trip
#: to the scheduler, a result frame) is paid rarely; two each so a slow worker's second
#: chunk can still be picked up by a free one.
CHUNKS_PER_WORKER = 2


def chunk_size_for(sims: int, workers: int, chunk_size: int | None) -> int:
    """The chunk size asked for, else :data:`DEFAULT_CHUNK_SIZE` here, else one that gives
    each of ``workers`` :data:`CHUNKS_PER_WORKER` chunks."""
    if chunk_size is not None:
        return chunk_size
    if workers <= 1:
        return DEFAULT_CHUNK_SIZE
    return max(1, math.ceil(sims / (workers * CHUNKS_PER_WORKER)))


@task(name="simulate", cache_policy=NO_CACHE)
def simulate_task(
    roster: pd.DataFrame,
    design: TrialDesign,
    settings: DiagnosisSettings,
    seed: int,
    sims: int,
    chunk_size: int | None,
) -> pd.DataFrame:
    """Every simulation, chunk by chunk, on the active Dask client or here."""
    logger = get_run_logger()
    client = active_client()
    chunks = chunk_seeds(seed, sims, chunk_size_for(sims, worker_count(client), chunk_size))
    # the bar is the CLI's (on a terminal only); a deployment's log has the chunk lines
    on_progress = progress_callback(f"diagnosing {design.id}")
    on_progress(0, sims)
    finished: list[int] = []

    def on_done(i: int) -> None:
        finished.append(i)
        done = sum(len(chunks[j]) for j in finished)
        on_progress(done, sims)
        logger.info("chunk %d/%d done (%d simulations)", len(finished), len(chunks), done)

    parts = map_chunks(
        simulate_chunk, chunks, shared=(roster, design, settings), client=client, on_done=on_done
    )
    return pd.concat(parts, ignore_index=True)


@flow(name="diagnose", log_prints=True)
def diagnose_flow(
    design: str,
    sims: int = 1000,
    effect: float = 0.2,
    icc: float = 0.05,
    chunk_size: int | None = None,
    seed: int = 2026,
    ri_draws: int = 0,
) -> list[dict]:
    """Simulate the design ``sims`` times and report power, bias, RMSE and coverage per estimator.

    ``chunk_size`` simulations go to a worker at once (default: 50 here; on a
    cluster, two chunks per worker).  The result does not depend on it.
    """
    trial = load_design_task(design)
    roster = simulate_roster(trial, rng=np.random.default_rng([seed, 7]))
    roster = roster.rename(columns={v: k for k, v in trial.roster.columns.items()})
    settings = DiagnosisSettings(effect=effect, icc=icc, ri_draws=ri_draws)
    chunk_seeds(seed, sims, 1 if chunk_size is None else chunk_size)  # refuse bad counts first
    sims_frame = simulate_task(roster, trial, settings, seed, sims, chunk_size)
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
    """Run :func:`diagnose_flow` here, on a local Dask cluster, or on an existing scheduler.

    The scheduler is reached first: a wrong address is refused
    (:class:`flows.dask_runner.DaskUnreachable`) before the flow starts.
    """
    with dask_client(dask_address, dask_workers):
        return diagnose_flow(design, **parameters)
