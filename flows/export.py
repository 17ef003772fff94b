"""Export the analysis dataset and its data dictionary for evaluators."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from analysis.dataset import analysis_dataset, data_dictionary
from flows.common import IO_RETRIES, load_design_task
from flows.store import Store, outcome_values
from trial_designs.design import TrialDesign

__all__ = ["export_flow", "load_analysis_dataset"]


def load_analysis_dataset(design: TrialDesign, store: Store | None = None) -> pd.DataFrame:
    """The one-row-per-participant dataset, from the store."""
    store = store or Store()
    participants = store.participant_arms(design.id)
    if not len(participants):
        raise LookupError(
            f"Trial '{design.id}' has no participants in the store; randomise it first."
        )
    values = store.read(
        sa.select(
            outcome_values.c.participant_id,
            outcome_values.c.timepoint,
            outcome_values.c.measure,
            outcome_values.c.value,
        ).where(outcome_values.c.trial_id == design.id)
    )
    if values.empty:
        values = pd.DataFrame(columns=["participant_id", "timepoint", "measure", "value"])
    uptake = None
    try:
        from flows.uptake import participant_uptake_from_store

        uptake = participant_uptake_from_store(design, store)
    except ImportError:
        uptake = None
    return analysis_dataset(participants, values, design, uptake)


@task(name="write analysis dataset", cache_policy=NO_CACHE, **IO_RETRIES)
def write_dataset(design: TrialDesign, out: Path) -> list[Path]:
    dataset = load_analysis_dataset(design)
    dictionary = data_dictionary(dataset, design)
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        out / f"{design.id}_analysis.csv",
        out / f"{design.id}_analysis.parquet",
        out / f"{design.id}_dictionary.csv",
        out / f"{design.id}_dictionary.md",
    ]
    dataset.to_csv(paths[0], index=False)
    dataset.to_parquet(paths[1], index=False)
    dictionary.to_csv(paths[2], index=False)
    lines = [
        f"# Data dictionary: {design.title}",
        "",
        f"Design hash `{design.design_hash}`. One row per participant.",
        "",
        "| column | description | instrument | range | direction | missing-data rule |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.column} | {r.description} | {r.instrument} | {r.range} | {r.direction} | {r.missing_rule} |"
        for r in dictionary.itertuples()
    ]
    paths[3].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


@flow(name="export", log_prints=True)
def export_flow(design: str, out: str) -> list[str]:
    """Write the analysis dataset (CSV, Parquet) and data dictionary (CSV, markdown)."""
    trial = load_design_task(design)
    return [str(p) for p in write_dataset(trial, Path(out))]
