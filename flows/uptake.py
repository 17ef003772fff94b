"""The uptake flow: funnels, trends, breakdowns and contamination from stored delivery events.

Reads the participants and delivery events from the store, calls
:func:`analysis.uptake.summarise_uptake`, publishes the funnel as a Prefect
table artifact and a markdown artifact, writes the tables as CSV and a
self-contained HTML dashboard (inline SVG charts) to
``.trialflow/out/<trial>/uptake.html`` for coordinators to open.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from analysis.uptake import UptakeSummary, participant_uptake, summarise_uptake
from flows.common import IO_RETRIES, load_design_task, output_dir
from flows.deliveries import deliveries_stage
from flows.integrity import require_current_design
from flows.safe_io import write_csv, write_text
from flows.status import STAGE_HOOKS
from flows.store import Store, delivery_events
from intake.quarantine import units_for_artifact
from reports.templating import html_environment
from trial_designs.design import TrialDesign

__all__ = [
    "load_events",
    "participant_uptake_from_store",
    "uptake_flow",
    "uptake_section_from_store",
]

_TEMPLATES = html_environment(
    Path(__file__).parent / "templates", trim_blocks=True, lstrip_blocks=True
)
_STAGE_WORDS = {
    "offered": "Offered",
    "started": "Started",
    "completed": "Completed",
}


def load_events(store: Store, trial_id: str) -> pd.DataFrame:
    """A trial's delivery events (the columns uptake needs), times parsed."""
    c = delivery_events.c
    query = sa.select(
        c.unit_id,
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
    return participant_uptake(
        store.participant_arms(design.id), events, design.interventions[0].uptake
    )


def _summarise(
    design: TrialDesign, participants: pd.DataFrame, events: pd.DataFrame
) -> UptakeSummary:
    return summarise_uptake(
        participants,
        events,
        design.interventions[0].uptake,
        arm_order=list(design.arm_names),
        control_arm=design.control_arm,
    )


def uptake_section_from_store(design: TrialDesign, store: Store | None = None) -> dict | None:
    """The ``uptake`` section of results.json, or None when nothing has been delivered yet."""
    store = store or Store()
    if not design.interventions:
        return None
    events = load_events(store, design.id)
    if events.empty:
        return None
    return _summarise(design, store.participant_arms(design.id), events).to_dict()


def _definition_in_words(design: TrialDesign) -> list[str]:
    definition = design.interventions[0].uptake
    started = definition["started"]
    words = [
        f"Offered: a '{definition.get('offered', started)}' event reached the participant"
        + (" or their cluster." if design.interventions[0].unit == "cluster" else "."),
        f"Started: a '{started}' event"
        + (
            f", and no '{definition['not_received']}' event."
            if definition.get("not_received")
            else "."
        ),
    ]
    if definition.get("dose"):
        words.append(f"Dose: the number of distinct '{definition['dose']}' events.")
    if definition.get("completed_at_dose"):
        words.append(f"Completed: a dose of {definition['completed_at_dose']} or more.")
    elif definition.get("completed"):
        words.append(f"Completed: a '{definition['completed']}' event.")
    return words


def _funnel_chart_rows(summary: UptakeSummary, labels: dict[str, str]) -> list[dict]:
    return [
        {
            "label": labels[row["arm"]],
            "allocated": int(row["allocated"]),
            "stages": [
                (
                    words,
                    int(row[stage]),
                    None if pd.isna(row[f"{stage}_pct"]) else float(row[f"{stage}_pct"]),
                )
                for stage, words in _STAGE_WORDS.items()
            ],
        }
        for row in summary.funnel.to_dict("records")
    ]


def _time_series(summary: UptakeSummary, labels: dict[str, str]) -> list[dict]:
    series = []
    for arm, rows in summary.over_time.groupby("arm", sort=False):
        points = [
            (str(r["week"]), float(r["started_pct"]))
            for r in rows.to_dict("records")
            if pd.notna(r["started_pct"])
        ]
        series.append({"label": labels[arm], "points": points})
    return series


def _side_by_side(rows: list[dict], by: str, design: TrialDesign) -> list[dict]:
    """Rows ordered by group, then arm in the design's order, so arms sit next to each other."""
    order = {arm: i for i, arm in enumerate(design.arm_names)}
    return sorted(rows, key=lambda r: (str(r[by]), order[r["arm"]]))


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

    def pct(value: object) -> str:
        return "–" if value is None or pd.isna(value) else f"{value:.1f}%"

    lines = [
        f"# Uptake: {design.title}",
        "",
        "| Arm | Allocated | Offered | Started | Completed | Mean dose (starters) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in table:
        dose = row["mean_dose_started"]
        lines.append(
            f"| {labels[row['arm']]} | {row['allocated']} | {row['offered']} ({pct(row['offered_pct'])}) "
            f"| {row['started']} ({pct(row['started_pct'])}) | {row['completed']} ({pct(row['completed_pct'])}) "
            f"| {'–' if dose is None else f'{dose:.2f}'} |"
        )
    lines += ["", *[f"- {w}" for w in _definition_in_words(design)], ""]
    n_flagged = len(summary.contamination)
    lines.append(
        f"**Contamination:** {n_flagged} control-arm unit(s) received some of the intervention "
        "(kept and flagged; the analysis stays by allocated arm)."
        if n_flagged
        else "**Contamination:** none recorded."
    )
    create_markdown_artifact(key=f"{key}-uptake", markdown="\n".join(lines))
    if n_flagged:
        create_table_artifact(
            key=f"{key}-uptake-contamination",
            # a person's id becomes their row of uptake/contamination.csv
            table=units_for_artifact(summary.contamination, "uptake/contamination.csv"),
            description=f"Control-arm units with delivery events in {design.title}.",
        )


@task(name="write uptake dashboard", cache_policy=NO_CACHE, **IO_RETRIES)
def write_outputs(design: TrialDesign, summary: UptakeSummary, n_events: int) -> dict[str, str]:
    """The tables as CSV under ``uptake/`` and the dashboard at ``uptake.html``."""
    from reports.charts import funnel_chart, uptake_chart  # matplotlib: only when drawing

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
    labels = {a.name: a.label or a.name for a in design.arms}
    data = summary.to_dict()
    funnel_rows = _funnel_chart_rows(summary, labels)
    anything = any(pct for row in funnel_rows for _, _, pct in row["stages"])
    funnel_svg = funnel_chart(funnel_rows, chart_id="uptake-funnel") if anything else None
    series = _time_series(summary, labels)
    time_svg = uptake_chart(series, chart_id="uptake-time") if series else None
    active = [a for a in design.arm_names if a != design.control_arm]
    doses = summary.doses[summary.doses["arm"].isin(active)]
    html = _TEMPLATES.get_template("uptake.html.j2").render(
        trial=design,
        intervention=design.interventions[0],
        labels=labels,
        definition=_definition_in_words(design),
        funnel=data["funnel"],
        funnel_svg=funnel_svg.svg if funnel_svg else None,
        time_svg=time_svg.svg if time_svg else None,
        weeks=data["over_time"],
        doses=[] if not design.interventions[0].uptake.get("dose") else doses.to_dict("records"),
        by_organisation=_side_by_side(data["by_organisation"], "organisation", design),
        by_team=_side_by_side([{**r} for r in summary.by_team.to_dict("records")], "team", design),
        contamination=data["contaminated_units"],
        n_events=n_events,
        updated=dt.datetime.now().strftime("%d %B %Y, %H:%M"),
    )
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
