"""Delivery-log ingestion: checked events, each stored once, contamination flagged.

One ingest reads a delivery-log export, maps its columns (the design's
intervention ``columns``), checks every row with great-expectations (known
participants and clusters, the intervention's event vocabulary, dates inside
the trial window and not before randomisation, modules 1-6, attendance only
at Rounds that were held, numeric quantities), then stores the good rows,
the quarantined rows and the file record in one transaction and archives the
raw file under its content hash.  Bad rows never stop good rows.

Each event has a key hashed from (trial, unit, intervention, event type,
time, module, Round), unique per trial, so an overlapping export, or the same
line twice, adds only what is new; the same bytes ingested twice change
nothing at all.  Events delivered to a control-arm unit are stored with
``contaminated`` set and listed in a contamination artifact.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from analysis.uptake import DELIVERY_FIELDS, contaminated_events, contamination
from flows.checks import (
    PROBLEM_COLUMNS,
    Rule,
    exact_ids,
    quarantine_log,
    quarantine_markdown,
    quarantine_summary,
    run_rules,
    units_for_artifact,
)
from flows.common import IO_RETRIES, load_design_task, output_dir
from flows.integrity import require_current_design
from flows.progress import progress_callback
from flows.safe_io import write_csv
from flows.settings import get_settings
from flows.sources import SourceError, archive_file, file_hash, read_table, rename_to_canonical
from flows.status import STAGE_HOOKS
from flows.store import IngestSummary, Store, delivery_events
from trial_designs.design import Intervention, TrialDesign

__all__ = [
    "EVENT_COLUMNS",
    "RETRY_IO",
    "check_deliveries",
    "deliveries_ingest_flow",
    "deliveries_stage",
    "event_keys",
    "event_rows",
    "insert_events",
    "intervention_of",
    "read_deliveries",
    "retry_if_transient",
    "write_events",
]

_REQUIRED = ("unit_id", "event_type", "occurred_at")
_NUMBERS = ("quantity", "hours", "attendees")
_NUMBER = r"^\s*\d+(?:\.\d+)?\s*$"
_MODULE = r"^\s*[1-6](?:\.0*)?\s*$"
_CHUNK = 50_000

#: Columns of a stored delivery event, in table order (the store adds event_id).
EVENT_COLUMNS = [c.name for c in delivery_events.columns if c.name != "event_id"]


def intervention_of(design: TrialDesign) -> Intervention:
    """The design's intervention: the one whose delivery logs are ingested."""
    if not design.interventions:
        raise ValueError(
            f"The design '{design.id}' declares no intervention, so it has no delivery log. "
            "Add an 'interventions:' entry with its event_types."
        )
    return design.interventions[0]


def _file_columns(intervention: Intervention) -> dict[str, str]:
    return {f: intervention.columns.get(f, f) for f in DELIVERY_FIELDS}


def read_deliveries(path: str | Path, intervention: Intervention) -> pd.DataFrame:
    """A delivery-log file with canonical columns (:data:`analysis.uptake.DELIVERY_FIELDS`).

    Every field the intervention's ``columns`` maps, and unit, event type and
    date, must be in the file; an optional field the design does not map is
    read if the file has a column of its name, and is empty otherwise.

    Raises
    ------
    SourceError
        Naming the file and every missing column; nothing is written.
    """
    path = Path(path)
    raw = read_table(path)
    mapping = {f: intervention.columns.get(f, f) for f in _REQUIRED} | intervention.columns
    frame = rename_to_canonical(raw, mapping, file_name=path.name)
    for field in DELIVERY_FIELDS:
        if field not in frame:
            frame[field] = None
    # matched exactly, as every reader matches ids: 'P10 ' is an unknown unit, not 'P10'
    frame["unit_id"] = exact_ids(frame["unit_id"])
    return frame[["source_row", *DELIVERY_FIELDS]]


def _member(values: pd.Series, candidates: object) -> np.ndarray:
    """Set membership through a hash table (pyarrow-backed ``str`` isin is slow for many ids)."""
    candidates = list(candidates) if isinstance(candidates, set) else candidates
    found = pd.Index(np.asarray(values, dtype=object), dtype=object).isin(
        np.asarray(candidates, dtype=object)
    )
    return np.asarray(found, dtype=bool)


_EPOCH = pd.Timestamp("1970-01-01")


def _seconds(moment: pd.Timestamp | pd.Series) -> float | pd.Series:
    """Seconds since 1970: great-expectations compares numbers 30 times faster than datetimes."""
    delta = moment - _EPOCH
    return delta.dt.total_seconds() if isinstance(delta, pd.Series) else delta.total_seconds()


def check_deliveries(
    frame: pd.DataFrame,
    design: TrialDesign,
    intervention: Intervention,
    *,
    known_units: list[str] | set[str],
    held_rounds: list[str],
    withdrawn: dict[str, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Every problem of a delivery log, one row per failing cell (great-expectations).

    Rules: ``required_unit``, ``known_unit`` (a participant or cluster of the
    trial), ``required_event_type``, ``known_event_type`` (the intervention's
    vocabulary), ``valid_date``, ``date_in_window`` (the design's follow-up
    window), ``not_before_randomisation``, ``numeric`` (quantity, hours,
    attendees: numbers, 0 or more), ``module_1_to_6`` and ``round_was_held``
    (``attended`` names a Round with a ``round_held`` event in this file or
    in the store), and ``withdrawn``: an event dated after its participant
    was withdrawn (``withdrawn`` maps participant id to the time of
    withdrawal).  Events from before the withdrawal are history and are
    stored: the participant stays in the analysis, uptake included.

    Returns
    -------
    DataFrame
        :data:`flows.checks.PROBLEM_COLUMNS`, values as written in the file.
    """
    cols = _file_columns(intervention)
    fu = design.follow_up
    end_of_window = pd.Timestamp(fu.window_end) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    when = pd.to_datetime(frame["occurred_at"], errors="coerce", format="ISO8601")
    # great-expectations re-validates a value set item by item many times over (24 s for
    # 200,000 staff ids), so membership is one hash lookup and the expectation checks its flag
    known = pd.Series(_member(frame["unit_id"], known_units), index=frame.index)
    checked = frame[["source_row", "unit_id", "event_type", *_NUMBERS, "module"]].assign(
        _when=_seconds(when),
        _known_unit=known.where(frame["unit_id"].notna()),
    )
    rules = [
        Rule(
            "required_unit",
            "unit_id",
            "not_null",
            "Every event needs the participant or cluster it was delivered to.",
            file_column=cols["unit_id"],
        ),
        Rule(
            "known_unit",
            "_known_unit",
            "in_set",
            "Not a participant or cluster of this trial.",
            {"value_set": [True]},
            cols["unit_id"],
        ),
        Rule(
            "required_event_type",
            "event_type",
            "not_null",
            "Every event needs an event type.",
            file_column=cols["event_type"],
        ),
        Rule(
            "known_event_type",
            "event_type",
            "in_set",
            f"Not an event of '{intervention.name}'. Choose one of: {', '.join(intervention.event_types)}.",
            {"value_set": list(intervention.event_types)},
            cols["event_type"],
        ),
        Rule(
            "valid_date",
            "_when",
            "not_null",
            "Every event needs a date: YYYY-MM-DD, optionally with a time (YYYY-MM-DDTHH:MM).",
            file_column=cols["occurred_at"],
        ),
        Rule(
            "date_in_window",
            "_when",
            "between",
            f"Deliveries must fall inside the trial window, {fu.window_start} to {fu.window_end}.",
            {
                "min_value": _seconds(pd.Timestamp(fu.window_start)),
                "max_value": _seconds(end_of_window),
            },
            cols["occurred_at"],
        ),
        Rule(
            "not_before_randomisation",
            "_when",
            "between",
            f"Nothing can be delivered before randomisation on {fu.randomisation}.",
            {"min_value": _seconds(pd.Timestamp(fu.randomisation))},
            cols["occurred_at"],
        ),
    ]
    for field in _NUMBERS:
        if frame[field].notna().any():
            rules.append(
                Rule(
                    "numeric",
                    field,
                    "regex",
                    f"'{cols[field]}' must be a number, 0 or more.",
                    {"regex": _NUMBER},
                    cols[field],
                )
            )
    if frame["module"].notna().any():
        rules.append(
            Rule(
                "module_1_to_6",
                "module",
                "regex",
                "Modules are numbered 1 to 6.",
                {"regex": _MODULE},
                cols["module"],
            )
        )
    attended = frame["event_type"] == "attended"
    if "attended" in intervention.event_types and attended.any():
        in_file = frame.loc[frame["event_type"] == "round_held", "round_id"].dropna()
        held = sorted(set(held_rounds) | set(in_file.astype("str")))
        checked["_attended_round"] = frame["round_id"].fillna("").where(attended)
        rules.append(
            Rule(
                "round_was_held",
                "_attended_round",
                "in_set",
                "Attendance can only be logged at a Round that was held: log its round_held "
                "event (same round id) in this file or an earlier one.",
                {"value_set": held or ["(no Round held yet)"]},
                cols["round_id"],
            )
        )
    problems = run_rules(checked, rules)
    if withdrawn:
        gone = pd.Series(withdrawn, dtype="datetime64[us]")
        after = when > frame["unit_id"].map(gone)  # NaT (not withdrawn) compares False
        if after.any():
            late = frame.loc[after, ["source_row", "unit_id"]]
            problems = pd.concat(
                [
                    problems,
                    pd.DataFrame(
                        {
                            "source_row": late["source_row"].astype(int),
                            "column": cols["unit_id"],
                            "rule": "withdrawn",
                            "value": late["unit_id"].astype("object"),
                            "message": "This participant was withdrawn before this date: nothing "
                            "more is delivered to them. Check the log; the row is kept here.",
                        }
                    ),
                ],
                ignore_index=True,
            )
    if problems.empty:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    # report what the file says, not the parsed helper columns
    raw = frame.set_index("source_row")
    problems["value"] = problems["value"].astype("object")
    for rule, field in (
        ("known_unit", "unit_id"),
        ("valid_date", "occurred_at"),
        ("date_in_window", "occurred_at"),
        ("not_before_randomisation", "occurred_at"),
        ("round_was_held", "round_id"),
    ):
        hit = problems["rule"] == rule
        if hit.any():
            values = raw[field].reindex(problems.loc[hit, "source_row"])
            problems.loc[hit, "value"] = (
                values.astype("object").where(values.notna(), None).to_numpy()
            )
    return problems.sort_values(["source_row", "rule"], kind="stable").reset_index(drop=True)


def event_keys(
    trial_id: str,
    intervention: str,
    unit_id: pd.Series,
    event_type: pd.Series,
    occurred_at: pd.Series,
    module: pd.Series,
    round_id: pd.Series,
) -> list[str]:
    """A stable key per event: the same event in two exports gets the same key.

    The key is the SHA-256 of ``trial|unit|intervention|event type|time|module|round``,
    with the time as ``YYYY-MM-DDTHH:MM:SS`` and a missing module or Round as
    the empty string.  Built column-wise, then hashed in one pass.
    """

    def text(values: pd.Series) -> pd.Series:
        return values.astype("object").where(values.notna(), "").astype("str")

    modules = pd.to_numeric(module, errors="coerce")
    module_text = modules.astype("Int64").astype("str").where(modules.notna(), "")
    joined = (
        f"{trial_id}|"
        + text(unit_id)
        + f"|{intervention}|"
        + text(event_type)
        + "|"
        + np.datetime_as_string(
            pd.to_datetime(occurred_at).to_numpy().astype("datetime64[s]"), unit="s"
        )
        + "|"
        + module_text
        + "|"
        + text(round_id)
    )
    sha = hashlib.sha256
    return [sha(line.encode()).hexdigest() for line in joined.tolist()]


def event_rows(
    good: pd.DataFrame,
    design: TrialDesign,
    intervention: Intervention,
    participants: pd.DataFrame,
    *,
    file_name: str,
) -> pd.DataFrame:
    """Checked log rows as stored events: typed, keyed, and flagged if delivered to the control arm."""
    when = pd.to_datetime(good["occurred_at"], format="ISO8601")
    numbers = {f: pd.to_numeric(good[f], errors="coerce") for f in (*_NUMBERS, "module")}
    unit = good["unit_id"].astype("str")
    round_id = good["round_id"].astype("object").where(good["round_id"].notna(), None)
    rows = pd.DataFrame(
        {
            "trial_id": design.id,
            "event_key": event_keys(
                design.id,
                intervention.name,
                unit,
                good["event_type"],
                when,
                numbers["module"],
                good["round_id"],
            ),
            "unit_id": unit.to_numpy(),
            "unit_kind": np.where(
                _member(unit, participants["participant_id"].astype("str")),
                "participant",
                "cluster",
            ),
            "intervention": intervention.name,
            "event_type": good["event_type"].astype("str").to_numpy(),
            "occurred_at": when.to_numpy(),
            "quantity": numbers["quantity"].to_numpy(),
            "hours": numbers["hours"].to_numpy(),
            "attendees": numbers["attendees"].to_numpy(),
            "module": numbers["module"].astype("Int64").to_numpy(),
            "round_id": round_id.to_numpy(),
            "facilitator": good["facilitator"]
            .astype("object")
            .where(good["facilitator"].notna(), None)
            .to_numpy(),
            "contaminated": contaminated_events(
                good.assign(unit_id=unit), participants, control_arm=design.control_arm
            ),
            "source_file": file_name,
            "source_row": good["source_row"].astype(int).to_numpy(),
        }
    )
    return rows[EVENT_COLUMNS]


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
    million events, and rows go in key order.  Other databases use
    :meth:`Store.insert_new`.
    """
    if store.engine.dialect.name != "sqlite":
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
) -> IngestSummary:
    """Archive the raw file, then store events, quarantine rows and the file record in one transaction."""
    path = Path(path)
    archived = archive_file(path, get_settings().archive_dir(design.id), digest)
    with store.transaction(lock_trial=design.id) as conn:
        stored = insert_events(store, conn, rows)
        return store.record_ingest(
            conn,
            trial_id=design.id,
            kind="deliveries",
            file_name=path.name,
            file_hash=digest,
            archived_path=str(archived),
            timepoint=None,
            rows_read=rows_read,
            rows_stored=stored,
            problems=problems,
        )


def retry_if_transient(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's hook signature
    """Retry an I/O task unless it failed on purpose: a bad file, an unknown trial, a bad value.

    Those fail the same way every time; retrying them only delays the message.
    """
    try:
        state.result()
    except (SourceError, LookupError, ValueError):
        return False
    except Exception:  # noqa: BLE001 - a locked database or a full disk may pass
        return True
    return False


#: Retries for this module's I/O tasks: transient failures only.
RETRY_IO = {**IO_RETRIES, "retry_condition_fn": retry_if_transient}


# -- tasks ----------------------------------------------------------------------------
@task(name="fingerprint delivery log", cache_policy=NO_CACHE, **RETRY_IO)
def fingerprint(file: str) -> str:
    if not Path(file).exists():
        raise SourceError(f"File {file} does not exist.")
    return file_hash(file)


@task(name="read delivery log", cache_policy=NO_CACHE, **RETRY_IO)
def read_delivery_log(file: str, intervention: Intervention) -> pd.DataFrame:
    return read_deliveries(file, intervention)


@task(name="load trial units", cache_policy=NO_CACHE, **RETRY_IO)
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
) -> pd.DataFrame:
    known = sorted(set(participants["participant_id"]) | set(participants["unit_id"]))
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


@task(name="store delivery events", cache_policy=NO_CACHE, **RETRY_IO)
def store_events(
    design: TrialDesign,
    file: str,
    digest: str,
    rows: pd.DataFrame,
    problems: pd.DataFrame,
    rows_read: int,
) -> IngestSummary:
    return write_events(
        Store(),
        design,
        path=file,
        digest=digest,
        rows=rows,
        problems=problems,
        rows_read=rows_read,
    )


@task(name="publish delivery ingest", cache_policy=NO_CACHE, **RETRY_IO)
def publish_ingest(
    design: TrialDesign,
    summary: IngestSummary,
    problems: pd.DataFrame,
    flagged: pd.DataFrame,
) -> Path | None:
    """The ingest as artifacts; quarantined rows also as a CSV beside the other outputs."""
    key = design.id.replace("_", "-")
    lines = [f"**{summary.line()}**", ""]
    report = None
    if len(problems):
        report = (
            output_dir(design.id, "deliveries")
            / f"{Path(summary.file_name).stem}-{summary.file_hash[:12]}-quarantine.csv"
        )
        write_csv(problems, report)
        # counts by rule and row numbers only: artifacts are readable by anyone with the UI
        lines += [quarantine_markdown(summary.file_name, problems)]
        create_table_artifact(
            key=f"{key}-deliveries-quarantine",
            table=quarantine_summary(problems),
            description=f"Quarantined rows of {summary.file_name} by rule ({design.title}).",
        )
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
            / f"{Path(summary.file_name).stem}-{summary.file_hash[:12]}-contamination.csv"
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
def deliveries_ingest_flow(design: str, file: str) -> dict:
    """Check and store one delivery-log export; bad rows go to quarantine with their reasons."""
    logger = get_run_logger()
    trial = load_design_task(design)
    require_current_design(trial, stage="ingest deliveries")
    intervention = intervention_of(trial)
    if Store().trial(trial.id) is None:
        raise LookupError(
            f"Trial '{trial.id}' has not been randomised yet; deliveries need its allocation. "
            "Run `trialflow randomise` first."
        )
    digest = fingerprint(file)
    previous = Store().previous_ingest(
        trial_id=trial.id, kind="deliveries", file_hash=digest, timepoint=None
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
    problems = check_delivery_log(frame, trial, intervention, participants, held)
    step(2, 4)
    rows = prepare_events(frame, problems, trial, intervention, participants, Path(file).name)
    summary = store_events(trial, file, digest, rows, problems, len(frame))
    step(3, 4)
    flagged = contamination(rows[rows["contaminated"]], participants, control_arm=trial.control_arm)
    report = publish_ingest(trial, summary, problems, flagged)
    step(4, 4)
    if len(problems):
        logger.warning(quarantine_log(Path(file).name, problems))  # no values: ids stay out
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


@flow(name="deliveries-stage", log_prints=True)
def deliveries_stage(design: str, drop: str | None = None) -> list[str]:
    """Ingest every delivery log in the drop folder's ``deliveries/`` (by name); known files change nothing."""
    logger = get_run_logger()
    trial = load_design_task(design)
    folder = (Path(drop) if drop else get_settings().drop_dir(trial.id)) / "deliveries"
    files = _delivery_files(folder) if folder.exists() else []
    if not files:
        logger.info("No delivery logs in %s; nothing to ingest.", folder)
        return []
    return [deliveries_ingest_flow(design, str(path))["summary"] for path in files]
