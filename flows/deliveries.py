"""Delivery-log ingestion: checked events, each stored once, contamination flagged.

One ingest (the skeleton of :mod:`flows.ingest`) reads a delivery-log export,
maps its columns (the design's intervention ``columns``), checks every row
(:func:`intake.deliveries.check_deliveries`: known participants and clusters,
the intervention's event vocabulary, dates inside the trial window and not
before randomisation, modules 1-6, attendance only at Rounds that were held,
numeric quantities), then stores the good rows, the quarantined rows and the
file record in one transaction and archives the raw file under its content
hash.  Bad rows never stop good rows.

Each event has a key hashed from (trial, unit, intervention, event type,
time, module, Round), unique per trial, so an overlapping export, or the same
line twice, adds only what is new; the same bytes ingested twice change
nothing at all.  Events delivered to a control-arm unit are stored with
``contaminated`` set and listed in a contamination artifact.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from analysis.uptake import contamination
from flows.ingest import (
    Written,
    fingerprint,
    previous_ingest,
    publish_quarantine,
    read_canonical,
    store_ingest,
)
from flows.integrity import require_current_design
from flows.progress import progress_callback
from flows.safe_io import write_csv
from flows.settings import get_settings
from flows.sources import SourceError
from flows.status import STAGE_HOOKS
from flows.store import IngestSummary, Store, delivery_events
from flows.tasks import IO_RETRIES, load_design_task, output_dir
from intake.deliveries import EVENT_COLUMNS, check_deliveries, event_rows, intervention_of
from intake.ids import foreign_file_problem
from intake.mapping import delivery_fields, delivery_frame
from intake.quarantine import units_for_artifact
from intake.rules import known_flags
from reports.validation_report import quarantine_markdown
from trial_designs.cycles import cycle_of_enrolment
from trial_designs.design import TrialDesign
from trial_designs.sections import Intervention

__all__ = [
    "deliveries_ingest_flow",
    "deliveries_stage",
    "insert_events",
    "read_deliveries",
    "write_events",
]

_NUMBERS = ("quantity", "hours", "attendees")
_CHUNK = 50_000


def read_deliveries(path: str | Path, intervention: Intervention) -> pd.DataFrame:
    """A delivery-log file with canonical columns (:data:`trial_designs.uptake_rules.DELIVERY_FIELDS`).

    Every field the intervention's ``columns`` maps, and unit, event type and
    date, must be in the file; an optional field the design does not map is
    read if the file has a column of its name, and is empty otherwise.

    Raises
    ------
    SourceError
        Naming the file and every missing column; nothing is written.
    """
    return delivery_frame(
        read_canonical(path, delivery_fields(intervention), rows_are="delivery events")
    )


def _records(chunk: pd.DataFrame) -> list[dict]:
    """Plain Python values for the database: NaN and NA become NULL, not a float NaN."""
    columns = {c: chunk[c].to_numpy(dtype=object, copy=True) for c in chunk.columns}
    for name in ("quantity", "hours", "attendees", "module"):
        values = columns[name]
        missing = pd.isna(values)
        values[missing] = None
        if name == "module":
            values[~missing] = [int(v) for v in values[~missing]]
    columns["occurred_at"] = chunk["occurred_at"].dt.to_pydatetime()
    columns["contaminated"] = chunk["contaminated"].astype(bool).tolist()
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _sqlite_rows(chunk: pd.DataFrame) -> list[tuple]:
    """Rows as SQLAlchemy would store them in SQLite (times as text, flags as 0/1), built by column.

    The driver binds Python ints, floats, str and None only: numpy scalars are converted here.
    """
    columns = {}
    for name in EVENT_COLUMNS:
        values = chunk[name]
        if name == "occurred_at":
            columns[name] = values.dt.strftime("%Y-%m-%d %H:%M:%S.%f").to_numpy(dtype=object)
        elif name in ("quantity", "hours", "attendees", "module", "source_row", "contaminated"):
            missing = values.isna().to_numpy()
            kind = float if name in _NUMBERS else int
            plain = values.astype(float).fillna(0).to_numpy().astype(kind).astype(object)
            plain[missing] = None
            columns[name] = plain
        else:
            plain = values.to_numpy(dtype=object, copy=True)
            plain[pd.isna(plain)] = None
            columns[name] = plain
    return list(zip(*columns.values(), strict=True))


def insert_events(store: Store, conn: sa.Connection, rows: pd.DataFrame) -> int:
    """Insert events (from :func:`event_rows`) inside the caller's transaction; returns how many were new.

    An event whose key is already stored is skipped.  On SQLite the rows go
    straight to the driver's ``executemany`` as tuples, in chunks: building a
    parameter dict per row through SQLAlchemy costs three times as long at a
    million events, and rows go in key order.  On PostgreSQL the same tuples
    go through COPY (:meth:`Store.insert_new_many`); other databases use
    :meth:`Store.insert_new`.
    """
    if store.engine.dialect.name == "postgresql":  # COPY, with the same tuples as SQLite
        chunks = (_sqlite_rows(rows.iloc[s : s + _CHUNK]) for s in range(0, len(rows), _CHUNK))
        return store.insert_new_many(
            conn, delivery_events, EVENT_COLUMNS, (row for chunk in chunks for row in chunk)
        )
    if store.engine.dialect.name != "sqlite":  # pragma: no cover - other servers
        stored = 0
        for start in range(0, len(rows), _CHUNK):
            chunk = _records(rows.iloc[start : start + _CHUNK])
            stored += store.insert_new(conn, delivery_events, chunk)
        return stored
    statement = (
        f"INSERT OR IGNORE INTO {delivery_events.name} ({', '.join(EVENT_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
    )
    # in key order the unique index grows at its end instead of at a million random pages
    rows = rows.sort_values("event_key", kind="stable")
    before = conn.exec_driver_sql("SELECT total_changes()").scalar_one()
    for start in range(0, len(rows), _CHUNK):
        conn.exec_driver_sql(statement, _sqlite_rows(rows.iloc[start : start + _CHUNK]))
    return conn.exec_driver_sql("SELECT total_changes()").scalar_one() - before


def write_events(
    store: Store,
    design: TrialDesign,
    *,
    path: str | Path,
    digest: str,
    rows: pd.DataFrame,
    problems: pd.DataFrame,
    rows_read: int,
    owner: str | None = None,
) -> IngestSummary:
    """Archive the raw file, then store events, quarantine rows and the file record in one transaction.

    ``owner`` is the intervention whose log it is, for a design with several (:func:`_owner`).
    """
    summary, _ = store_ingest(
        store,
        design,
        path=path,
        digest=digest,
        kind="deliveries",
        timepoint=None,
        rows_read=rows_read,
        write=lambda conn: Written(insert_events(store, conn, rows), problems),
        intervention=owner,
    )
    return summary


def _owner(design: TrialDesign, intervention: Intervention) -> str | None:
    """The intervention a log is recorded under: its name when the design has several (each
    its own log, maybe with the same file name or bytes), None with one, as before 0005."""
    return intervention.name if len(design.interventions) > 1 else None


# -- tasks ----------------------------------------------------------------------------
@task(name="read delivery log", cache_policy=NO_CACHE, **IO_RETRIES)
def read_delivery_log(file: str, intervention: Intervention) -> pd.DataFrame:
    return read_deliveries(file, intervention)


@task(name="load trial units", cache_policy=NO_CACHE, **IO_RETRIES)
def load_units(design: TrialDesign) -> tuple[pd.DataFrame, list[str]]:
    """The trial's participants (with arms) and the Rounds already held, from the store."""
    store = Store()
    participants = store.participant_arms(design.id)
    if participants.empty:
        raise LookupError(
            f"Trial '{design.id}' has not been randomised yet; deliveries need its allocation. "
            "Run `trialflow randomise` first."
        )
    held = store.read(
        sa.select(delivery_events.c.round_id)
        .where(
            delivery_events.c.trial_id == design.id,
            delivery_events.c.event_type == "round_held",
            delivery_events.c.round_id.is_not(None),
        )
        .distinct()
    )
    gone = store.withdrawals(design.id)
    participants = participants.assign(
        withdrawn_at=participants["participant_id"].map(
            dict(zip(gone["participant_id"], pd.to_datetime(gone["withdrawn_at"]), strict=True))
        )
    )
    return participants, (held["round_id"].tolist() if len(held) else [])


@task(name="check delivery log", cache_policy=NO_CACHE)
def check_delivery_log(
    frame: pd.DataFrame,
    design: TrialDesign,
    intervention: Intervention,
    participants: pd.DataFrame,
    held_rounds: list[str],
    file_name: str = "",
) -> pd.DataFrame:
    known = sorted(set(participants["participant_id"]) | set(participants["unit_id"]))
    # mostly strangers: another trial's log, refused whole rather than quarantined row by row
    foreign = foreign_file_problem(
        frame["unit_id"],
        known_flags(frame["unit_id"], pd.Index(known, dtype=object)),
        file_name=file_name,
        trial_id=design.id,
        noun="participant or cluster",
    )
    if foreign:
        raise SourceError(foreign)
    gone = participants.dropna(subset=["withdrawn_at"]) if "withdrawn_at" in participants else None
    return check_deliveries(
        frame,
        design,
        intervention,
        known_units=known,
        held_rounds=held_rounds,
        withdrawn=None
        if gone is None or gone.empty
        else dict(zip(gone["participant_id"], gone["withdrawn_at"], strict=True)),
        # a later cohort's events are checked against its own cycle's window
        cycle_of=dict(
            zip(
                participants["participant_id"].astype(str),
                cycle_of_enrolment(participants["enrolment"]),
                strict=True,
            )
        )
        if design.cycles and "enrolment" in participants
        else None,
    )


@task(name="prepare events", cache_policy=NO_CACHE)
def prepare_events(
    frame: pd.DataFrame,
    problems: pd.DataFrame,
    design: TrialDesign,
    intervention: Intervention,
    participants: pd.DataFrame,
    file_name: str,
) -> pd.DataFrame:
    good = frame[~frame["source_row"].isin(problems["source_row"])]
    return event_rows(good, design, intervention, participants, file_name=file_name)


@task(name="store delivery events", cache_policy=NO_CACHE, **IO_RETRIES)
def store_events(
    design: TrialDesign,
    file: str,
    digest: str,
    rows: pd.DataFrame,
    problems: pd.DataFrame,
    rows_read: int,
    owner: str | None = None,
) -> IngestSummary:
    return write_events(
        Store(),
        design,
        path=file,
        digest=digest,
        rows=rows,
        problems=problems,
        rows_read=rows_read,
        owner=owner,
    )


@task(name="publish delivery ingest", cache_policy=NO_CACHE, **IO_RETRIES)
def publish_ingest(
    design: TrialDesign,
    summary: IngestSummary,
    problems: pd.DataFrame,
    flagged: pd.DataFrame,
    owner: str | None = None,
) -> Path | None:
    """The ingest as artifacts; quarantined rows also as a CSV beside the other outputs."""
    key = design.id.replace("_", "-")
    # with several interventions the same bytes may be two logs: their CSVs are kept apart
    prefix = f"{owner}-" if owner else ""
    lines = [f"**{summary.line()}**", ""]
    report = None
    if len(problems):
        report = (
            output_dir(design.id, "deliveries")
            / f"{prefix}{Path(summary.file_name).stem}-{summary.file_hash[:12]}-quarantine.csv"
        )
        write_csv(problems, report)
        # counts by rule and row numbers only: artifacts are readable by anyone with the UI
        lines += [quarantine_markdown(summary.file_name, problems)]
        lines += ["", f"Quarantined rows: `{report}`"]
    if len(flagged):
        lines += [
            "",
            f"{len(flagged)} control-arm unit(s) received some of the intervention; their events "
            "are stored and flagged as contaminated (the analysis stays by allocated arm).",
        ]
        # the units in a CSV; the artifact names a person by that CSV's row, never by id
        listing = (
            output_dir(design.id, "deliveries")
            / f"{prefix}{Path(summary.file_name).stem}-{summary.file_hash[:12]}-contamination.csv"
        )
        write_csv(flagged, listing)
        create_table_artifact(
            key=f"{key}-contamination",
            table=units_for_artifact(flagged, listing.name),
            description=f"Delivery events that reached the control arm of {design.title}.",
        )
    create_markdown_artifact(key=f"{key}-deliveries-ingest", markdown="\n".join(lines))
    return report


@flow(name="deliveries-ingest", log_prints=True, **STAGE_HOOKS)
def deliveries_ingest_flow(design: str, file: str, intervention_name: str | None = None) -> dict:
    """Check and store one delivery-log export; bad rows go to quarantine with their reasons.

    ``intervention_name`` says whose log it is; a design with one intervention
    needs none, one with several (one per active arm) must name it.
    """
    logger = get_run_logger()
    trial = load_design_task(design)
    require_current_design(trial, stage="ingest deliveries")
    intervention = intervention_of(trial, intervention_name)
    if Store().trial(trial.id) is None:
        raise LookupError(
            f"Trial '{trial.id}' has not been randomised yet; deliveries need its allocation. "
            "Run `trialflow randomise` first."
        )
    digest = fingerprint(file)
    owner = _owner(trial, intervention)
    previous = previous_ingest(
        trial, kind="deliveries", digest=digest, timepoint=None, intervention=owner
    )
    if previous:
        summary = IngestSummary(
            Path(file).name, digest, previous["archived_path"], previous["rows_read"], 0, 0, True
        )
        logger.info(summary.line())
        return {"summary": summary.line(), "already_ingested": True, "contaminated_units": 0}
    step = progress_callback(f"ingesting {Path(file).name}")  # read, check, store, publish
    step(0, 4)
    frame = read_delivery_log(file, intervention)
    step(1, 4)
    participants, held = load_units(trial)
    problems = check_delivery_log(
        frame, trial, intervention, participants, held, file_name=Path(file).name
    )
    step(2, 4)
    rows = prepare_events(frame, problems, trial, intervention, participants, Path(file).name)
    summary = store_events(trial, file, digest, rows, problems, len(frame), owner)
    step(3, 4)
    flagged = contamination(rows[rows["contaminated"]], participants, control_arm=trial.control_arm)
    report = publish_ingest(trial, summary, problems, flagged, owner)
    step(4, 4)
    publish_quarantine(
        trial, Path(file).name, problems, key=f"{trial.id.replace('_', '-')}-deliveries-quarantine"
    )
    already = len(rows) - summary.rows_stored
    line = summary.line()
    if already:
        line += f" {already} good row(s) were already stored (an overlapping export or a repeated line)."
    logger.info(line)
    return {
        "summary": line,
        "already_ingested": False,
        "rows_read": summary.rows_read,
        "rows_stored": summary.rows_stored,
        "rows_already_stored": already,
        "rows_quarantined": summary.rows_quarantined,
        "contaminated_units": len(flagged),
        "quarantine_report": str(report) if report else None,
    }


def _delivery_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in (".csv", ".xlsx"))


def _logs_by_intervention(trial: TrialDesign, folder: Path) -> list[tuple[Path, str | None]]:
    """Each log to ingest and whose it is: with several interventions, each one's logs sit in
    ``deliveries/<intervention>/``, and a log directly in ``deliveries/`` is refused."""
    if len(trial.interventions) < 2:
        return [(path, None) for path in _delivery_files(folder)]
    loose = _delivery_files(folder)
    if loose:
        raise ValueError(
            f"The design '{trial.id}' declares {len(trial.interventions)} interventions, so each "
            f"delivery log goes in deliveries/<intervention>/ (one of: "
            f"{', '.join(i.name for i in trial.interventions)}). Got {loose[0].name} directly "
            f"in {folder} instead."
        )
    return [
        (path, i.name)
        for i in trial.interventions
        if (folder / i.name).is_dir()
        for path in _delivery_files(folder / i.name)
    ]


@flow(name="deliveries-stage", log_prints=True)
def deliveries_stage(design: str, drop: str | None = None) -> list[str]:
    """Ingest every delivery log in the drop folder's ``deliveries/`` (by name); known files change
    nothing.  A design with several interventions keeps each one's logs in
    ``deliveries/<intervention>/``."""
    logger = get_run_logger()
    trial = load_design_task(design)
    folder = (Path(drop) if drop else get_settings().drop_dir(trial.id)) / "deliveries"
    files = _logs_by_intervention(trial, folder) if folder.exists() else []
    if not files:
        logger.info("No delivery logs in %s; nothing to ingest.", folder)
        return []
    return [
        deliveries_ingest_flow(design, str(path), *([name] if name else []))["summary"]
        for path, name in files
    ]
