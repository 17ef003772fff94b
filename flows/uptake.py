"""The uptake flow: funnels, trends, breakdowns and contamination from stored delivery events.

Reads the participants and delivery events from the store, calls
:func:`analysis.uptake.summarise_uptake`, publishes the funnel as a Prefect
table artifact and a markdown artifact, writes the tables as CSV and a
self-contained HTML dashboard (inline SVG charts) to
``.trialflow/out/<trial>/uptake.html`` for coordinators to open.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from analysis.uptake import UptakeSummary, participant_uptake, summarise_uptake
from analysis.uptake_by_arm import cross_arm_contamination, participant_uptake_by_arm
from flows.deliveries import deliveries_stage
from flows.integrity import require_current_design
from flows.safe_io import write_csv, write_text
from flows.status import STAGE_HOOKS
from flows.store import Store, delivery_events
from flows.tasks import IO_RETRIES, load_design_task, output_dir
from intake.quarantine import units_for_artifact
from reports.uptake_dashboard import render_uptake_dashboard, uptake_markdown
from trial_designs.design import TrialDesign

__all__ = [
    "load_events",
    "participant_uptake_from_store",
    "uptake_flow",
    "uptake_section_from_store",
]


def load_events(store: Store, trial_id: str) -> pd.DataFrame:
    """A trial's delivery events (the columns uptake needs), times parsed."""
    c = delivery_events.c
    query = sa.select(
        c.unit_id,
        c.intervention,
        c.event_type,
        sa.type_coerce(c.occurred_at, sa.String).label("occurred_at"),  # parsed below, in bulk
        c.module,
        c.round_id,
        sa.type_coerce(c.contaminated, sa.Integer).label("contaminated"),
    ).where(
        # "|| ''" keeps SQLite from walking the (trial, event key) index row by row: when most
        # events belong to the trial, as they do, a plain scan is three times faster
        (c.trial_id + "") == trial_id
    )
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            # the driver's plain tuples: SQLAlchemy's row objects cost more than the query here
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            cursor = conn.connection.driver_connection.execute(str(compiled))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        else:
            result = conn.execute(query)
            names, rows = list(result.keys()), result.all()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    # object columns: inferring pandas' pyarrow strings would cost more than the read
    events = pd.DataFrame(
        {n: np.array(v, dtype=object) for n, v in zip(names, columns, strict=True)}, dtype=object
    )
    events["occurred_at"] = pd.to_datetime(events["occurred_at"], format="ISO8601")
    events["module"] = pd.to_numeric(events["module"]).astype("Int64")
    events["contaminated"] = events["contaminated"].astype(bool)
    return events


def participant_uptake_from_store(
    design: TrialDesign, store: Store | None = None
) -> pd.DataFrame | None:
    """Per-participant uptake (took_up, dose, completed) for the analysis dataset.

    None when the design has no intervention or nothing has been delivered yet.
    """
    store = store or Store()
    if not design.interventions:
        return None
    events = load_events(store, design.id)
    if events.empty:
        return None
    return _participant_uptake(design, store.participant_arms(design.id), events)


def _participant_uptake(
    design: TrialDesign, participants: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """By the one intervention's definition, or with several, each arm by its own."""
    if len(design.interventions) < 2:
        return participant_uptake(participants, events, design.interventions[0].uptake)
    return participant_uptake_by_arm(
        participants, events, {i.name: (i.arm, i.uptake) for i in design.interventions}
    )


def _summarise(
    design: TrialDesign, participants: pd.DataFrame, events: pd.DataFrame
) -> UptakeSummary:
    several = len(design.interventions) > 1
    summary = summarise_uptake(
        participants,
        events,
        design.interventions[0].uptake,
        arm_order=list(design.arm_names),
        control_arm=design.control_arm,
        uptake=_participant_uptake(design, participants, events) if several else None,
        by_arm={i.arm: {"intervention": i.name, **i.uptake} for i in design.interventions}
        if several
        else None,
    )
    if not several:
        return summary
    # an active arm's members with another arm's intervention's events: counted, not uptake
    interventions = {i.name: (i.arm, i.uptake) for i in design.interventions}
    return replace(summary, cross_arm=cross_arm_contamination(participants, events, interventions))


def uptake_section_from_store(design: TrialDesign, store: Store | None = None) -> dict | None:
    """The ``uptake`` section of results.json, or None when nothing has been delivered yet."""
    store = store or Store()
    if not design.interventions:
        return None
    events = load_events(store, design.id)
    if events.empty:
        return None
    return _summarise(design, store.participant_arms(design.id), events).to_dict()


@task(name="load participants and events", cache_policy=NO_CACHE, **IO_RETRIES)
def load_inputs(design: TrialDesign) -> tuple[pd.DataFrame, pd.DataFrame]:
    store = Store()
    participants = store.participant_arms(design.id)
    if participants.empty:
        raise LookupError(
            f"Trial '{design.id}' has not been randomised yet; uptake needs its participants. "
            "Run `trialflow randomise` first."
        )
    return participants, load_events(store, design.id)


@task(name="compute uptake", cache_policy=NO_CACHE)
def compute_uptake(
    design: TrialDesign, participants: pd.DataFrame, events: pd.DataFrame
) -> UptakeSummary:
    return _summarise(design, participants, events)


@task(name="publish uptake artifacts", cache_policy=NO_CACHE, **IO_RETRIES)
def publish_artifacts(design: TrialDesign, summary: UptakeSummary, n_events: int) -> None:
    key = design.id.replace("_", "-")
    labels = {a.name: a.label or a.name for a in design.arms}
    table = summary.to_dict()["funnel"]
    create_table_artifact(
        key=f"{key}-uptake-funnel",
        table=[{**row, "arm": labels[row["arm"]]} for row in table],
        description=f"Uptake funnel per arm for {design.title}, from {n_events} delivery events.",
    )
    create_markdown_artifact(key=f"{key}-uptake", markdown=uptake_markdown(design, summary))
    if len(summary.contamination):
        create_table_artifact(
            key=f"{key}-uptake-contamination",
            # a person's id becomes their row of uptake/contamination.csv
            table=units_for_artifact(summary.contamination, "uptake/contamination.csv"),
            description=f"Control-arm units with delivery events in {design.title}.",
        )


@task(name="write uptake dashboard", cache_policy=NO_CACHE, **IO_RETRIES)
def write_outputs(design: TrialDesign, summary: UptakeSummary, n_events: int) -> dict[str, str]:
    """The tables as CSV under ``uptake/`` and the dashboard at ``uptake.html``."""
    folder = output_dir(design.id, "uptake")
    written = {}
    for name, frame in (
        ("funnel", summary.funnel),
        ("over_time", summary.over_time),
        ("by_organisation", summary.by_organisation),
        ("by_team", summary.by_team),
        ("doses", summary.doses),
        ("contamination", summary.contamination),
        ("participant_uptake", summary.participants.reset_index()),
    ):
        path = folder / f"{name}.csv"
        write_csv(frame, path)
        written[name] = str(path)
    html = render_uptake_dashboard(design, summary, n_events, updated=dt.datetime.now())
    path = output_dir(design.id) / "uptake.html"
    write_text(path, html)
    written["dashboard"] = str(path)
    return written


@flow(name="uptake", log_prints=True, **STAGE_HOOKS)
def uptake_flow(design: str, drop: str | None = None, ingest: bool = False) -> dict:
    """Compute the uptake funnel per arm from the store, publish it, and write the dashboard.

    With ``drop`` (a trial's drop folder), or ``ingest`` (the trial's drop
    folder under ``TRIALFLOW_HOME``, resolved when the flow runs), first ingest
    any delivery log in ``<drop>/deliveries`` not yet ingested, so the weekly
    figures include files the daily ingest has not seen.
    """
    logger = get_run_logger()
    trial = load_design_task(design)
    require_current_design(trial, stage="compute uptake")
    if not trial.interventions:
        raise ValueError(
            f"The design '{trial.id}' declares no intervention, so it has no uptake to track."
        )
    if drop is not None or ingest:
        deliveries_stage(design, drop)
    participants, events = load_inputs(trial)
    summary = compute_uptake(trial, participants, events)
    publish_artifacts(trial, summary, len(events))
    written = write_outputs(trial, summary, len(events))
    for row in summary.funnel.to_dict("records"):
        logger.info(
            "%s: %d allocated, %d offered, %d started, %d completed",
            row["arm"],
            row["allocated"],
            row["offered"],
            row["started"],
            row["completed"],
        )
    return {
        "trial": trial.id,
        "dashboard": written["dashboard"],
        "files": written,
        "events": len(events),
        "funnel": summary.to_dict()["funnel"],
        "contaminated_units": len(summary.contamination),
    }
