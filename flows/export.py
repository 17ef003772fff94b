"""Export the analysis dataset and its data dictionary: what evaluators take to R or Stata.

``trialflow export DESIGN --out DIR`` writes, for trial ``<id>``:

- ``<id>_analysis.csv`` and ``<id>_analysis.parquet``: one row per randomised
  participant (:func:`analysis.dataset.analysis_dataset`);
- ``<id>_analysis.dta``: the same rows for Stata (version 118, readable by
  R's haven and pandas), with variable labels and value labels: every text
  column (arm, stratum, cluster, categorical covariates) is a labelled code,
  arm 0 being the control arm;
- ``<id>_dictionary.csv`` and ``<id>_dictionary.md``: every column with its
  description, instrument, range, direction and missing-data rule; the
  markdown ends with the pre-specified primary model as a formula
  (:mod:`analysis.formula`), and the Parquet file carries each column's
  description and the formula in its schema metadata;
- ``primary_analysis.R`` and ``primary_analysis.do``: scripts that refit the
  primary ITT (and CACE) from the CSV with estimatr, and from the ``.dta``
  with Stata's ``regress`` / ``ivregress`` (:mod:`reports.scripts`).

Text cells are neutralised against spreadsheet formulas in the CSV files only:
Stata and R read ``.dta`` and Parquet cells as data and never evaluate them, so
a leading quote there would only change the values (and split a team from itself
across files read by the same script).

The dataset is built from the store's participant and outcome tables only;
names, addresses and free text live elsewhere (``participant_pii``) and never
reach it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from analysis.dataset import analysis_dataset, data_dictionary, dictionary_markdown
from analysis.formula import PrimaryModel, model_markdown, primary_model
from flows.audit import file_sha256, record_audit_event
from flows.integrity import require_current_design
from flows.safe_io import atomic_path, write_csv, write_text
from flows.store import Store
from flows.store.responses import outcome_values_long
from flows.tasks import IO_RETRIES, load_design_task
from reports.scripts import r_script, stata_script
from trial_designs.design import TrialDesign

__all__ = ["export_flow", "load_analysis_dataset", "stata_frame"]

# Stata's limits (version 118): variable and data labels at most 80 characters.
_STATA_LABEL_LENGTH = 80


def _stata_label(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _STATA_LABEL_LENGTH else text[: _STATA_LABEL_LENGTH - 3] + "..."


def stata_frame(
    dataset: pd.DataFrame, dictionary: pd.DataFrame, design: TrialDesign
) -> tuple[pd.DataFrame, dict[str, str], dict[str, dict[int, str]]]:
    """The dataset as Stata wants it: text columns as labelled codes (pure).

    Returns
    -------
    frame : DataFrame
        ``participant_id`` stays text; every other text column becomes codes
        (float, missing as NaN, so Stata's ``.``): ``arm`` 0 for the control
        arm and 1, 2, ... for the active arms in the design's order; any other
        column 1, 2, ... over its values sorted as text, so ``i.stratum``'s base
        level is the reference level trialflow's stratum dummies drop.
    variable_labels : dict
        Column to its data-dictionary description, cut to Stata's 80 characters.
    value_labels : dict
        Column to {code: value}.
    """
    frame = dataset.copy()
    value_labels: dict[str, dict[int, str]] = {}
    for column in frame.columns:
        values = frame[column]
        if column == "participant_id" or not (
            pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
        ):
            continue
        text = values.astype("string")
        if column == "arm":
            levels = [design.control_arm, *(a for a in design.arm_names if a != design.control_arm)]
            codes = dict(zip(levels, range(len(levels)), strict=True))
        else:
            levels = sorted(text.dropna().unique())
            codes = {level: i for i, level in enumerate(levels, start=1)}
        frame[column] = text.map(codes).astype(float)
        value_labels[column] = {code: str(level) for level, code in codes.items()}
    described = dict(zip(dictionary["column"], dictionary["description"], strict=True))
    variable_labels = {c: _stata_label(described.get(c) or c) for c in frame.columns}
    return frame, variable_labels, value_labels


def _labelled_parquet(dataset: pd.DataFrame, dictionary: pd.DataFrame, model: PrimaryModel | None):  # noqa: ANN202
    """A pyarrow table whose fields carry their descriptions and whose schema carries the formula."""
    import pyarrow as pa

    table = pa.Table.from_pandas(dataset, preserve_index=False)
    described = dict(zip(dictionary["column"], dictionary["description"], strict=True))
    fields = [
        f.with_metadata({"description": str(described.get(f.name) or "")}) for f in table.schema
    ]
    metadata = dict(table.schema.metadata or {})
    if model is not None:
        metadata[b"trialflow.primary_model"] = model.formula.encode()
        metadata[b"trialflow.standard_errors"] = model.standard_errors.encode()
        if model.iv_formula:
            metadata[b"trialflow.cace_model"] = model.iv_formula.encode()
    return table.cast(pa.schema(fields, metadata=metadata))


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
    with store.engine.connect() as conn:  # survey responses unpacked, and HR measures
        values = outcome_values_long(conn, design.id)[
            ["participant_id", "timepoint", "measure", "value", "collected_on"]
        ]
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
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    paths = [
        out / f"{design.id}_analysis.csv",
        out / f"{design.id}_analysis.parquet",
        out / f"{design.id}_dictionary.csv",
        out / f"{design.id}_dictionary.md",
        out / f"{design.id}_analysis.dta",
    ]
    has_primary = any(o.primary for o in design.outcomes)
    model = primary_model(dataset, design) if has_primary else None
    write_csv(dataset, paths[0])
    with atomic_path(paths[1]) as temporary:
        pq.write_table(_labelled_parquet(dataset, dictionary, model), temporary)
    write_csv(dictionary, paths[2])
    markdown = dictionary_markdown(dictionary, design, n_rows=len(dataset))
    write_text(paths[3], markdown + ("\n" + model_markdown(model) if model else ""))
    frame, variable_labels, value_labels = stata_frame(dataset, dictionary, design)
    with atomic_path(paths[4]) as temporary:
        frame.to_stata(
            temporary,
            write_index=False,
            version=118,
            data_label=_stata_label(design.title),
            variable_labels=variable_labels,
            value_labels=value_labels,
        )
    if model is not None:
        names = {"trial_id": design.id, "design_hash": design.design_hash}
        paths.append(
            write_text(
                out / "primary_analysis.R", r_script(model, **names, data_file=paths[0].name)
            )
        )
        paths.append(
            write_text(
                out / "primary_analysis.do", stata_script(model, **names, data_file=paths[4].name)
            )
        )
    return paths


@flow(name="export", log_prints=True)
def export_flow(design: str, out: str) -> list[str]:
    """Write the analysis dataset (CSV, Parquet, Stata), its data dictionary and R/Stata scripts."""
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
