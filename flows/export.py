"""Export the analysis dataset and its data dictionary: what evaluators take to R or Stata.

``trialflow export DESIGN --out DIR`` writes, for trial ``<id>``:

- ``<id>_analysis.csv`` and ``<id>_analysis.parquet``: one row per randomised
  participant (:func:`analysis.dataset.analysis_dataset`);
- ``<id>_dictionary.csv`` and ``<id>_dictionary.md``: every column with its
  description, instrument, range, direction and missing-data rule.

The dataset is built from the store's participant and outcome tables only;
names, addresses and free text live elsewhere (``participant_pii``) and never
reach it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from analysis.dataset import analysis_dataset, data_dictionary, dictionary_markdown
from flows.audit import file_sha256, record_audit_event
from flows.common import IO_RETRIES, load_design_task
from flows.integrity import require_current_design
from flows.safe_io import atomic_path, write_csv, write_text
from flows.store import Store, outcome_values
from trial_designs.design import TrialDesign

__all__ = ["export_flow", "load_analysis_dataset"]


def load_analysis_dataset(design: TrialDesign, store: Store | None = None) -> pd.DataFrame:
    """The one-row-per-participant dataset, from the store (uptake included once delivered)."""
    store = store or Store()
    participants = store.participant_arms(design.id)
    if not len(participants):
        raise LookupError(
            f"Trial '{design.id}' has no participants in the store; randomise it first."
        )
    if design.randomisation.method == "minimisation":  # the order the allocation depended on
        order = store.allocations(design.id).set_index("unit_id")["sequence_position"]
        participants = participants.assign(arrival=participants["unit_id"].map(order))
    values = store.read(
        sa.select(
            outcome_values.c.participant_id,
            outcome_values.c.timepoint,
            outcome_values.c.measure,
            outcome_values.c.value,
            outcome_values.c.collected_on,
        ).where(outcome_values.c.trial_id == design.id)
    )
    if values.empty:
        values = pd.DataFrame(
            columns=["participant_id", "timepoint", "measure", "value", "collected_on"]
        )
    from flows.uptake import participant_uptake_from_store  # its store reads live there

    uptake = participant_uptake_from_store(design, store)
    return analysis_dataset(participants, values, design, uptake)


@task(name="build analysis dataset", cache_policy=NO_CACHE, **IO_RETRIES)
def build_dataset(design: TrialDesign) -> pd.DataFrame:
    return load_analysis_dataset(design)


@task(name="describe columns", cache_policy=NO_CACHE)
def describe_columns(dataset: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    return data_dictionary(dataset, design)


@task(name="write export files", cache_policy=NO_CACHE, **IO_RETRIES)
def write_export(
    design: TrialDesign, dataset: pd.DataFrame, dictionary: pd.DataFrame, out: Path
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        out / f"{design.id}_analysis.csv",
        out / f"{design.id}_analysis.parquet",
        out / f"{design.id}_dictionary.csv",
        out / f"{design.id}_dictionary.md",
    ]
    write_csv(dataset, paths[0])
    with atomic_path(paths[1]) as temporary:
        dataset.to_parquet(temporary, index=False)
    write_csv(dictionary, paths[2])
    write_text(paths[3], dictionary_markdown(dictionary, design, n_rows=len(dataset)))
    return paths


@flow(name="export", log_prints=True)
def export_flow(design: str, out: str) -> list[str]:
    """Write the analysis dataset (CSV, Parquet) and its data dictionary (CSV, markdown)."""
    trial = load_design_task(design)
    require_current_design(trial, stage="export")
    dataset = build_dataset(trial)
    dictionary = describe_columns(dataset, trial)
    paths = write_export(trial, dataset, dictionary, Path(out))
    responded = dataset["responded_endline"].mean() if "responded_endline" in dataset else None
    line = (
        f"{trial.id}: {len(dataset)} participants, {dataset.shape[1]} columns"
        + (f", {responded:.0%} responded at endline" if responded is not None else "")
        + f"; written to {Path(out)}."
    )
    create_markdown_artifact(key=f"{trial.id.replace('_', '-')}-export", markdown=line)
    record_audit_event(
        None,
        trial.id,
        "export-written",
        {
            "files": {p.name: file_sha256(p) for p in paths},
            "rows": len(dataset),
            "columns": int(dataset.shape[1]),
            "folder": str(Path(out)),
        },
        file_hash=file_sha256(paths[0]),
        design_hash=trial.design_hash,
        once=True,
    )
    get_run_logger().info(line)
    return [str(p) for p in paths]
