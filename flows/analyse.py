"""The analysis flow: the analysis dataset in, results.json out."""

from __future__ import annotations

import datetime as dt
import json
import platform
from importlib import metadata
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from analysis.dataset import foreign_dataset
from analysis.exploratory import (
    added_subgroups,
    check_label,
    exploratory_changes,
    exploratory_design,
    mark_exploratory,
)
from analysis.results import analyse_trial
from flows.cycles import cycle_records
from flows.dask_runner import active_client, blocks_on
from flows.export import load_analysis_dataset
from flows.integrity import amendment_records, require_current_design
from flows.progress import progress_callback
from flows.results_file import exploratory_folder, results_path, write_results_file
from flows.safe_io import write_text
from flows.sources import read_table
from flows.status import STAGE_HOOKS
from flows.store import Store, audit_log, delivery_events, quarantine
from flows.tasks import IO_RETRIES, load_design_task, resolve_design_path
from flows.uptake import uptake_section_from_store
from trial_designs.design import TrialDesign
from trial_designs.scale_files import WRQOL_SCORING, read_wrqol_scoring
from trial_designs.sections import MAX_RI_DRAWS

__all__ = ["analyse_flow", "load_cost_events"]


def load_cost_events(store: Store, trial_id: str) -> pd.DataFrame:
    """The delivery events with the fields costs are driven by.

    ``round_id`` ties a Round's panel meeting, steering group and attendances to
    it, so each Round's cost is shared over its own head count.
    """
    c = delivery_events.c
    events = store.read(
        sa.select(
            c.unit_id,
            c.event_type,
            c.occurred_at,
            c.quantity,
            c.hours,
            c.attendees,
            c.round_id,
            c.contaminated,
        ).where(c.trial_id == trial_id)
    )
    events["occurred_at"] = pd.to_datetime(events["occurred_at"])
    events["contaminated"] = events["contaminated"].astype(bool)
    return events


@task(name="load analysis data", cache_policy=NO_CACHE, **IO_RETRIES)
def load_data(
    design: TrialDesign, data: str | None
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict]:
    """The analysis dataset, the delivery log (for costs) and the sections that come from the store.

    An analysis dataset given as a file has no delivery log, so no costs.
    """
    if data:
        # renamed per analysis.columns and checked: a missing outcome column is an error
        frame = foreign_dataset(read_table(data), design, file_name=Path(data).name)
        return frame, None, {"data_source": Path(data).name}
    store = Store()
    frame = load_analysis_dataset(design, store)
    bad = store.read(
        sa.select(
            quarantine.c.kind,
            quarantine.c.rule,
            quarantine.c.file_name,
            quarantine.c.row_number,
            quarantine.c.intervention,
        ).where(quarantine.c.trial_id == design.id)
    )
    # two interventions' logs may share a file name: a file is its name and whose log it is
    bad = bad.assign(log=bad["intervention"].fillna("").astype(str) + "/" + bad["file_name"])
    by_rule = []
    if len(bad):
        grouped = (
            bad.groupby(["kind", "rule"])
            .agg(rows=("row_number", "size"), files=("log", "nunique"))
            .reset_index()
        )
        by_rule = grouped.to_dict("records")
    audit = store.read(
        sa.select(audit_log.c.details_json).where(
            audit_log.c.trial_id == design.id,
            audit_log.c.event.in_(["randomised", "re-randomised"]),
        )
    )
    balance = (
        json.loads(audit["details_json"].iloc[-1]).get("balance_score") if len(audit) else None
    )
    extras = {
        "data_source": "store",
        "balance_score": balance,
        "uptake": uptake_section_from_store(design, store),
        "data_validation": {
            "rows_quarantined": int(bad.drop_duplicates(["log", "row_number"]).shape[0])
            if len(bad)
            else 0,
            "by_rule": by_rule,
        },
    }
    # a trial never amended has no field (its results.json is as before)
    recorded = amendment_records(store, design.id)
    if recorded:
        extras["amendments"] = recorded
    if design.cycles:
        extras["cycle_records"] = cycle_records(store, design)
    events = load_cost_events(store, design.id)
    return frame, events if len(events) else None, extras


@task(name="check scoring files", cache_policy=NO_CACHE, **IO_RETRIES)
def placeholder_scoring(design: TrialDesign, design_file: str) -> list[str]:
    """Instruments whose stored scores come from a placeholder item map (WRQoL's packaged one).

    The survey stage scores WRQoL with the file ``survey.options.wrqol_scoring``
    names (default the packaged placeholder); results.json flags the outcome so
    the report can say so beside every WRQoL number, not only in a log.
    """
    if not any(o.instrument == "wrqol" for o in design.outcomes):
        return []
    declared = design.survey.options.get("wrqol_scoring")
    path = Path(declared) if declared else WRQOL_SCORING
    if declared and not path.is_absolute():
        path = resolve_design_path(design_file).resolve().parent / path
    return ["wrqol"] if read_wrqol_scoring(path).get("placeholder") else []


@task(name="analyse", cache_policy=NO_CACHE)
def analyse_task(
    frame: pd.DataFrame,
    design: TrialDesign,
    events: pd.DataFrame | None,
    extras: dict,
    ri_draws: int | None,
    exploratory_subgroups: tuple[str, ...] = (),
) -> dict:
    return analyse_trial(
        frame,
        design,
        ri_draws=ri_draws,
        events=events,
        extras=extras,
        on_progress=progress_callback(f"analysing {design.id}"),
        map_blocks=blocks_on(active_client()),
        exploratory_subgroups=exploratory_subgroups,
    )


@task(name="write results", cache_policy=NO_CACHE, **IO_RETRIES)
def write_results(
    design: TrialDesign, results: dict, out: str | None, label: str | None = None
) -> Path:
    folder = Path(out) if out else results_path(design.id).parent
    if label is not None:  # exploratory: its own folder, so the pre-specified file is never touched
        folder = exploratory_folder(folder, label)
    path = write_results_file(results, folder)  # checked by the results model first
    run = {
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "packages": {
            p: metadata.version(p)
            for p in ("trialflow", "numpy", "pandas", "scipy", "linearmodels", "scikit-learn")
        },
    }
    write_text(folder / "run.json", json.dumps(run, indent=2, sort_keys=True) + "\n")
    return path


def _check_covariates(frame: pd.DataFrame, design: TrialDesign, covariates: list[str]) -> None:
    """Exploratory covariates are baseline columns of the dataset, not the arm or an outcome."""
    missing = [c for c in covariates if c not in frame]
    if missing:
        raise ValueError(
            f"'--covariates' names {', '.join(repr(c) for c in missing)}, not a column of "
            f"{design.id}'s analysis dataset. Choose from: {', '.join(map(str, frame.columns))}. "
            f"Got {', '.join(covariates)} instead."
        )
    outcomes = {f"{o.name}_endline" for o in design.outcomes}
    banned = [c for c in covariates if c in {"arm", "participant_id"} | outcomes]
    if banned:
        raise ValueError(
            f"'--covariates' cannot adjust for {', '.join(repr(c) for c in banned)}: the arm, "
            "the participant id and endline outcomes are not baseline covariates. "
            f"Got {', '.join(covariates)} instead."
        )


def _primary_line(title: str, primary: dict, arms: list[dict]) -> str:
    """The primary outcome's ITT in one line; with several active arms, each arm's, named."""
    itts = [e for e in primary["estimates"] if e["estimand"] == "ITT"] or primary["estimates"][:1]

    def figures(itt: dict) -> str:
        holm = itt.get("p_value_holm")
        return (
            f"{itt['estimate']:.2f} (95% CI {itt['ci_low']:.2f} to {itt['ci_high']:.2f}; "
            f"p = {itt['p_value']:.3f}"
            + (f"; Holm p = {holm:.3f}" if len(itts) > 1 and holm is not None else "")
            + f"; RI p = {itt.get('ri_p_value')})"
        )

    if len(itts) == 1:
        return f"{title}: ITT on {primary['label']} = {figures(itts[0])}."
    labels = {a["name"]: a.get("label") or a["name"] for a in arms}
    return (
        f"{title}: ITT on {primary['label']} against control: "
        + "; ".join(f"{labels.get(itt['arm'], itt['arm'])} {figures(itt)}" for itt in itts)
        + "."
    )


@flow(name="analyse", log_prints=True, **STAGE_HOOKS)
def analyse_flow(
    design: str,
    data: str | None = None,
    out: str | None = None,
    ri_draws: int | None = None,
    covariates: list[str] | None = None,
    se_type: str | None = None,
    label: str | None = None,
    subgroups: list[str] | None = None,
) -> dict:
    """Analyse a trial from the store (or an analysis dataset file) into results.json.

    ``covariates`` and ``se_type`` replace the design's analysis options, and
    ``subgroups`` are analysed besides the declared ones, for an
    exploratory reanalysis, which needs a ``label``: it is written to
    ``exploratory/<label>/results.json`` beside the pre-specified file, marked
    ``analysis_status: exploratory`` (see :mod:`analysis.exploratory`).
    """
    if ri_draws is not None and not 0 <= ri_draws <= MAX_RI_DRAWS:
        # before any data is read: the analysis would refuse it only after loading
        raise ValueError(
            f"'--ri-draws' must be between 0 and {MAX_RI_DRAWS}. Got {ri_draws} instead."
        )
    if label is None and (covariates is not None or se_type is not None or subgroups):
        options = (("--covariates", covariates), ("--se-type", se_type), ("--subgroups", subgroups))
        given = " and ".join(o for o, v in options if v is not None)
        raise ValueError(
            f"{given} change the pre-specified analysis, so they need '--label NAME': the "
            "results then go to exploratory/NAME/results.json, marked exploratory, and the "
            f"pre-specified results.json is never overwritten. Got {given} without a label."
        )
    if label is not None:
        check_label(label)
    logger = get_run_logger()
    trial = load_design_task(design)
    require_current_design(trial, stage="analyse")
    changes = (
        exploratory_changes(trial, covariates=covariates, se_type=se_type, subgroups=subgroups)
        if label is not None
        else None
    )
    frame, events, extras = load_data(trial, data)
    if changes and "covariates" in changes:
        _check_covariates(frame, trial, changes["covariates"]["exploratory"])
    if not data:  # a dataset file brings its own scores; the store's were scored here
        extras["placeholder_scoring"] = placeholder_scoring(trial, design)
    from flows.sap import sap_status_task  # issue 16.2: the registered plan against this analysis

    extras["sap"] = sap_status_task(
        trial, ri_draws, Path(data).name if data else "store", label, changes
    )
    analysed = exploratory_design(trial, changes) if changes else trial
    results = analyse_task(
        frame, analysed, events, extras, ri_draws, exploratory_subgroups=added_subgroups(changes)
    )
    if changes:
        results = mark_exploratory(results, trial, label=label, changes=changes)
    path = write_results(trial, results, out, label)
    primary = next((o for o in results["outcomes"] if o["primary"]), None)
    if primary:
        line = _primary_line(trial.title, primary, results.get("trial", {}).get("arms") or [])
        key = f"{trial.id}-primary-result" if label is None else f"{trial.id}-exploratory-{label}"
        if label is not None:  # never in the pre-specified result's artifact
            line = f"EXPLORATORY analysis '{label}' (not pre-specified). {line}"
        create_markdown_artifact(key=key.replace("_", "-"), markdown=line)
        logger.info(line)
    return {"results": str(path)}
