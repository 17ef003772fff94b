"""The system of record: SQLAlchemy over SQLite (WAL) by default, any URL by setting.

Every write is one transaction.  Allocations and the audit log are
append-only: the database itself refuses UPDATE and DELETE on them, and a
unique constraint on (trial, round, unit) makes a double allocation
impossible, even from two processes at once.

The schema is Alembic's (flows.migrations): every change to a table here
(a new table, column, constraint or index) comes with a new revision in
flows/migrations/versions/, or tests/flows/test_migrations.py fails.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event

from flows import settings
from flows.audit import append_audit_rows, current_actor

__all__ = [
    "DEFAULT_HOME",
    "AlreadyRandomisedError",
    "ForcedDesignChangeError",
    "forced_design_changes",
    "AlreadyWithdrawnError",
    "Store",
    "metadata",
    "trialflow_home",
    "IngestSummary",
]

DEFAULT_HOME = settings.DEFAULT_HOME

metadata = sa.MetaData()

trials = sa.Table(
    "trials",
    metadata,
    sa.Column("trial_id", sa.String(64), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("design_hash", sa.String(64), nullable=False),
    sa.Column("design_json", sa.Text, nullable=False),
    sa.Column("active_round", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

participants = sa.Table(
    "participants",
    metadata,
    sa.Column("trial_id", sa.String(64), sa.ForeignKey("trials.trial_id"), primary_key=True),
    sa.Column("participant_id", sa.String(128), primary_key=True),
    sa.Column("organisation", sa.Text),
    sa.Column("building", sa.Text),
    sa.Column("team", sa.Text),
    sa.Column("role", sa.Text),
    sa.Column("start_date", sa.Date),
    sa.Column("stratum", sa.Text, nullable=False),
    sa.Column("unit_id", sa.String(128), nullable=False),
    sa.Column("enrolment", sa.String(16), nullable=False),  # initial | late
    sa.Column("covariates_json", sa.Text),
    sa.Column("enrolled_at", sa.DateTime, nullable=False),
    # Set when a forced re-randomisation left this person's unit out of the new round: the
    # person (and their round's allocation) stays on record; `trialflow enrol` allocates them
    # in the new round and clears it.
    sa.Column("superseded_in_round", sa.Integer),
)

# Names and addresses live apart from every analysis table; only letter production reads them.
participant_pii = sa.Table(
    "participant_pii",
    metadata,
    sa.Column("trial_id", sa.String(64), primary_key=True),
    sa.Column("participant_id", sa.String(128), primary_key=True),
    sa.Column("first_name", sa.Text),
    sa.Column("surname", sa.Text),
    sa.Column("address", sa.Text),
)

allocations = sa.Table(
    "allocations",
    metadata,
    sa.Column("allocation_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trial_id", sa.String(64), sa.ForeignKey("trials.trial_id"), nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("unit_id", sa.String(128), nullable=False),
    sa.Column("unit_kind", sa.String(16), nullable=False),  # participant | cluster
    sa.Column("stratum", sa.Text, nullable=False),
    sa.Column("arm", sa.String(64), nullable=False),
    sa.Column("sequence", sa.String(16), nullable=False),  # initial | blocks | enrolment
    sa.Column("sequence_position", sa.Integer, nullable=False),
    sa.Column("allocated_at", sa.DateTime, nullable=False),
    sa.Column("design_hash", sa.String(64), nullable=False),
    sa.Column("algorithm_version", sa.String(64), nullable=False),
    sa.UniqueConstraint("trial_id", "round", "unit_id", name="uq_allocation_unit"),
    sa.UniqueConstraint(
        "trial_id", "round", "stratum", "sequence", "sequence_position", name="uq_allocation_slot"
    ),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trial_id", sa.String(64), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("round", sa.Integer),
    sa.Column("unit_id", sa.String(128)),
    sa.Column("arm", sa.String(64)),
    sa.Column("sequence", sa.String(16)),
    sa.Column("sequence_position", sa.Integer),
    sa.Column("seed", sa.BigInteger),
    sa.Column("design_hash", sa.String(64)),
    sa.Column("algorithm_version", sa.String(64)),
    sa.Column("details_json", sa.Text),
    # issue 13.7: the OS account and host (``who`` is the OS account too); a differing
    # $LOGNAME is kept apart; what file and why; the hash chain (see flows.audit)
    sa.Column("os_user", sa.String(128)),
    sa.Column("host", sa.String(255)),
    sa.Column("claimed_user", sa.String(128)),
    sa.Column("file_hash", sa.String(64)),
    sa.Column("reason", sa.Text),
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("row_hash", sa.String(64)),
)

# Every design document a trial has run under, by hash, so a changed design can be diffed.
design_documents = sa.Table(
    "design_documents",
    metadata,
    sa.Column("trial_id", sa.String(64), primary_key=True),
    sa.Column("design_hash", sa.String(64), primary_key=True),
    sa.Column("design_json", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
)

amendments = sa.Table(
    "amendments",
    metadata,
    sa.Column("amendment_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trial_id", sa.String(64), sa.ForeignKey("trials.trial_id"), nullable=False),
    sa.Column("old_hash", sa.String(64), nullable=False),
    sa.Column("new_hash", sa.String(64), nullable=False),
    sa.Column("changes_json", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("host", sa.String(255)),
    sa.Column("claimed_user", sa.String(128)),
    sa.Column("at", sa.DateTime, nullable=False),
)

ingested_files = sa.Table(
    "ingested_files",
    metadata,
    sa.Column("file_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trial_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # deliveries | survey | hr
    sa.Column("file_hash", sa.String(64), nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("archived_path", sa.Text, nullable=False),
    sa.Column("timepoint", sa.String(32)),
    sa.Column("rows_read", sa.Integer, nullable=False),
    sa.Column("rows_stored", sa.Integer, nullable=False),
    sa.Column("rows_quarantined", sa.Integer, nullable=False),
    sa.Column("ingested_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("trial_id", "kind", "file_hash", "timepoint", name="uq_ingested_file"),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("quarantine_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trial_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("file_hash", sa.String(64), nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
    sa.Column("column", sa.Text, nullable=False),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("value", sa.Text),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("quarantined_at", sa.DateTime, nullable=False),
    # SHA-256 of the raw row's values (quarantine_row_key): the same bad row sent again in
    # another file (an overlapping export) is quarantined once (migration 0003)
    sa.Column("row_key", sa.String(64), nullable=False),
    sa.UniqueConstraint("trial_id", "kind", "row_key", "column", "rule", name="uq_quarantine_row"),
)

delivery_events = sa.Table(
    "delivery_events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trial_id", sa.String(64), nullable=False),
    sa.Column("event_key", sa.String(64), nullable=False),
    sa.Column("unit_id", sa.String(128), nullable=False),
    sa.Column("unit_kind", sa.String(16), nullable=False),
    sa.Column("intervention", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("quantity", sa.Float),
    sa.Column("hours", sa.Float),
    sa.Column("attendees", sa.Float),
    sa.Column("module", sa.Integer),
    sa.Column("round_id", sa.String(64)),
    sa.Column("facilitator", sa.Text),
    sa.Column("contaminated", sa.Boolean, nullable=False, default=False),
    sa.Column("source_file", sa.Text, nullable=False),
    sa.Column("source_row", sa.Integer, nullable=False),
    sa.UniqueConstraint("trial_id", "event_key", name="uq_delivery_event"),
)

outcome_values = sa.Table(
    "outcome_values",
    metadata,
    sa.Column("trial_id", sa.String(64), primary_key=True),
    sa.Column("participant_id", sa.String(128), primary_key=True),
    sa.Column("timepoint", sa.String(32), primary_key=True),
    sa.Column("measure", sa.String(64), primary_key=True),
    sa.Column("value", sa.Float),
    sa.Column("rule", sa.Text),
    sa.Column("collected_on", sa.Date),
    sa.Column("source_file", sa.Text, nullable=False),
    sa.Column("source_row", sa.Integer, nullable=False),
)

# A withdrawn participant stays in the trial (ITT, CONSORT); only contact with them stops.
withdrawals = sa.Table(
    "withdrawals",
    metadata,
    sa.Column("trial_id", sa.String(64), primary_key=True),
    sa.Column("participant_id", sa.String(128), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("withdrawn_at", sa.DateTime, nullable=False),
)

# One row per run of a stage flow (completed or failed), for `trialflow status`.
stage_runs = sa.Table(
    "stage_runs",
    metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trial_id", sa.String(64), nullable=False),
    sa.Column("stage", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # completed | failed
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime, nullable=False),
    sa.Column("summary", sa.Text),
    sa.Column("flow_run_id", sa.String(64)),
)

_APPEND_ONLY = ("allocations", "audit_log", "amendments")


#: Participant fields a minimisation counts (trial_designs.design.MINIMISATION_FIELDS).
_FACTOR_FIELDS = ("organisation", "building", "team", "role")


class AlreadyRandomisedError(RuntimeError):
    """A trial that has allocations already; re-randomising needs force and a reason."""


class ForcedDesignChangeError(AlreadyRandomisedError):
    """A forced re-randomisation under a design that changes fields an amendment should record."""


def forced_design_changes(stored_json: str, design) -> tuple[list, list]:  # noqa: ANN001
    """What a forced re-randomisation under ``design`` changes, split by how it must be recorded.

    Returns ``(changes, amendable)``: every field that differs from the stored
    design document, and those of them an amendment could record (wording,
    costs, future dates: anything :func:`allocation_changes` does not refuse).
    """
    from trial_designs.design_diff import allocation_changes, design_diff

    before, after = json.loads(stored_json), json.loads(design.canonical_json())
    changes = design_diff(before, after)
    fixed = {
        c.path
        for c, _why in allocation_changes(
            changes, today=dt.datetime.now(dt.UTC).date(), old=before, new=after
        )
    }
    return changes, [c for c in changes if c.path not in fixed]


def quarantine_row_key(values: dict | None, *, file_hash: str, row_number: int) -> str:
    """The content key of a quarantined row: SHA-256 of its raw values, by column name.

    Without the raw row (the archived file unreadable), the key falls back to the
    file hash and row number, which only matches the same file sent again.
    """
    import hashlib

    if values is None:
        text = f"file:{file_hash}:row:{int(row_number)}"
    else:
        text = json.dumps(
            {str(k): None if not _present(v) else str(v) for k, v in values.items()},
            sort_keys=True,
            ensure_ascii=False,
        )
    return hashlib.sha256(text.encode()).hexdigest()


def _raw_rows(path: str | None, wanted: set[int]) -> dict[int, dict]:
    """The raw values of the wanted rows of an archived input file ({} if unreadable)."""
    from flows.sources import SourceError, read_table

    if not path or not wanted or not Path(path).is_file():
        return {}
    try:
        frame = read_table(path)
    except (SourceError, OSError, ValueError):
        return {}
    frame = frame[frame["source_row"].isin(wanted)]
    values = frame.drop(columns="source_row").to_dict("records")
    return dict(zip(frame["source_row"].astype(int), values, strict=True))


class AlreadyWithdrawnError(ValueError):
    """A participant who was withdrawn before; withdrawing again changes nothing."""


def trialflow_home() -> Path:
    """The working folder for the store, Prefect and outputs (:class:`flows.settings.Settings`)."""
    return settings.get_settings().home


def _default_url() -> str:
    config = settings.get_settings()
    if not config.uses_default_database:
        return config.database_url
    home = config.home
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'trialflow.db'}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Store:
    """The trialflow database.

    Parameters
    ----------
    url : str, optional
        A SQLAlchemy URL.  Default: ``$TRIALFLOW_DATABASE_URL``, else SQLite in
        WAL mode at ``.trialflow/trialflow.db``.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or _default_url()
        self.engine = sa.create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            self._configure_sqlite()
        existed = set(sa.inspect(self.engine).get_table_names())
        # Alembic builds a fresh store and upgrades an older one in place (flows.migrations);
        # a store from a newer trialflow is refused (StoreTooNewError).
        from flows.migrations import upgrade_store

        upgrade_store(self.engine)
        self._install_append_only_guards(existed)

    # -- connection set-up ------------------------------------------------------
    def _configure_sqlite(self) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_connection, _record):  # noqa: ANN001
            # Let SQLAlchemy, not pysqlite, emit BEGIN, so it can be BEGIN IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(connection):  # noqa: ANN001
            # Take the write lock at the start, so two enrolments serialise instead of
            # both reading the same "next slot" and one failing at commit.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    def _install_append_only_guards(self, existed: set[str] = frozenset()) -> None:
        """Create the triggers that refuse UPDATE and DELETE; log any that had gone missing.

        A missing trigger on an existing table means someone dropped it: it is
        put back and the audit log says so (before, it was recreated silently).
        """
        dialect = self.engine.dialect.name
        with self.engine.begin() as conn:
            if dialect == "postgresql":
                # Two stores opening at once both replaced the function and failed with "tuple
                # concurrently updated": take turns (SQLite: BEGIN IMMEDIATE already does).
                from flows.migrations import lock_schema

                lock_schema(conn)
            missing = [t for t in _APPEND_ONLY if t in existed and not self._guarded(conn, t)]
            for table in _APPEND_ONLY:
                if dialect == "sqlite":
                    for action in ("UPDATE", "DELETE"):
                        conn.exec_driver_sql(
                            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} "
                            f"BEFORE {action} ON {table} BEGIN "
                            f"SELECT RAISE(ABORT, '{table} is append-only'); END"
                        )
                elif dialect == "postgresql" and not self._guarded(conn, table):
                    # Only when missing: DROP TRIGGER takes an exclusive lock on the table, so
                    # every open waited behind any enrolment writing to it.
                    # text(), not exec_driver_sql: the driver would read RAISE's '%' as a
                    # placeholder (psycopg: "incomplete placeholder"); text() escapes it.
                    conn.execute(
                        sa.text(
                            "CREATE OR REPLACE FUNCTION trialflow_append_only() RETURNS trigger "
                            "AS $$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; "
                            "END $$ LANGUAGE plpgsql"
                        )
                    )
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                        "FOR EACH ROW EXECUTE FUNCTION trialflow_append_only()"
                    )
            if missing:
                from flows.audit import record_audit_event

                record_audit_event(
                    conn,
                    "*",
                    "append-only-guard-restored",
                    {"tables": missing, "note": "a trigger refusing UPDATE/DELETE was missing"},
                )

    def _guarded(self, conn: sa.Connection, table: str) -> bool:
        """Whether every append-only trigger of ``table`` is in place."""
        if self.engine.dialect.name == "sqlite":
            names = set(
                conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                    (table,),
                ).scalars()
            )
            return {f"{table}_no_update", f"{table}_no_delete"} <= names
        if self.engine.dialect.name == "postgresql":
            return bool(
                conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_trigger WHERE tgname = %s",
                    (f"{table}_append_only",),
                ).scalar()
            )
        return True  # pragma: no cover - other servers have no guard to check

    @contextmanager
    def transaction(self, *, lock_trial: str | None = None) -> Iterator[sa.Connection]:
        """One write transaction; on servers, optionally lock the trial's row first."""
        with self.engine.begin() as conn:
            if lock_trial is not None and self.engine.dialect.name != "sqlite":
                conn.execute(
                    sa.select(trials.c.trial_id)
                    .where(trials.c.trial_id == lock_trial)
                    .with_for_update()
                )
            yield conn

    def read(self, query: sa.Select) -> pd.DataFrame:
        """Run a read query into a DataFrame."""
        with self.engine.connect() as conn:
            result = conn.execute(query)
            # no rows still gives the query's columns: `analyse` of a trial without a
            # delivery log read events["occurred_at"] of a column-less frame (KeyError)
            return pd.DataFrame(result.mappings().all(), columns=list(result.keys()))

    # -- trials and allocations ---------------------------------------------------
    def trial(self, trial_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(trials).where(trials.c.trial_id == trial_id))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def record_randomisation(
        self,
        *,
        design,  # noqa: ANN001 - TrialDesign; typed loosely to keep flows/ free of import cycles
        allocation,  # noqa: ANN001 - trial_designs.randomise.Allocation
        roster: pd.DataFrame,
        pii: pd.DataFrame | None = None,
        force_reason: str | None = None,
    ) -> int:
        """Store a randomisation in one transaction; returns its round number.

        Raises
        ------
        AlreadyRandomisedError
            If the trial already has allocations and no ``force_reason`` is given.
        """
        now = _now()
        with self.transaction(lock_trial=design.id) as conn:
            existing = (
                conn.execute(sa.select(trials).where(trials.c.trial_id == design.id))
                .mappings()
                .first()
            )
            round_no = 1
            if existing is not None:
                n_alloc = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(allocations)
                    .where(
                        allocations.c.trial_id == design.id,
                        allocations.c.round == existing["active_round"],
                    )
                ).scalar_one()
                if n_alloc and not force_reason:
                    raise AlreadyRandomisedError(
                        f"Trial '{design.id}' was already randomised ({n_alloc} units in round "
                        f"{existing['active_round']}, design {existing['design_hash'][:12]}). Refusing to "
                        'randomise again. To override, run with --force --reason "..."; the old '
                        "allocations are kept and the override is logged."
                    )
                design_changes: list = []
                if existing["design_hash"] != design.design_hash:
                    design_changes, amendable = forced_design_changes(
                        existing["design_json"], design
                    )
                    if amendable and force_reason:
                        # Wording, costs and future dates have their own record (the
                        # amendments table); a re-randomisation would change them silently.
                        lines = "\n".join(f"  {c.line()}" for c in amendable)
                        raise ForcedDesignChangeError(
                            f"Trial '{design.id}' runs under design "
                            f"{existing['design_hash'][:12]}; the design given "
                            f"({design.design_hash[:12]}) also changes fields an amendment "
                            f"records:\n{lines}\nRecord them first with `trialflow amend "
                            f'{design.id} --design <file> --reason "..."`, then re-randomise. '
                            "Nothing was stored."
                        )
                round_no = existing["active_round"] + (1 if n_alloc else 0)
                # keep the document of the design being replaced, so it can still be diffed
                self.insert_new(
                    conn,
                    design_documents,
                    [
                        {
                            "trial_id": design.id,
                            "design_hash": existing["design_hash"],
                            "design_json": existing["design_json"],
                            "recorded_at": now,
                        }
                    ],
                )
                conn.execute(
                    trials.update()
                    .where(trials.c.trial_id == design.id)
                    .values(
                        active_round=round_no,
                        design_hash=design.design_hash,
                        design_json=design.canonical_json(),
                        title=design.title,
                    )
                )
                self._supersede(conn, design.id, roster, allocation, pii, round_no)
            else:
                conn.execute(
                    trials.insert().values(
                        trial_id=design.id,
                        title=design.title,
                        design_hash=design.design_hash,
                        design_json=design.canonical_json(),
                        active_round=1,
                        created_at=now,
                    )
                )
            self.insert_new(
                conn,
                design_documents,
                [
                    {
                        "trial_id": design.id,
                        "design_hash": design.design_hash,
                        "design_json": design.canonical_json(),
                        "recorded_at": now,
                    }
                ],
            )
            sequence = "blocks" if design.randomisation.method == "blocked" else "initial"
            units = allocation.units
            conn.execute(
                allocations.insert(),
                [
                    {
                        "trial_id": design.id,
                        "round": round_no,
                        "unit_id": u,
                        "unit_kind": "cluster" if design.unit == "cluster" else "participant",
                        "stratum": s,
                        "arm": a,
                        "sequence": sequence,
                        "sequence_position": int(p),
                        "allocated_at": now,
                        "design_hash": design.design_hash,
                        "algorithm_version": allocation.algorithm_version,
                    }
                    for u, s, a, p in units[
                        ["unit_id", "stratum", "arm", "sequence_position"]
                    ].itertuples(index=False)
                ],
            )
            self._insert_participants(conn, design, roster, allocation, "initial", now)
            if pii is not None and len(pii):
                conn.execute(
                    participant_pii.insert(),
                    [{"trial_id": design.id, **row} for row in pii.to_dict("records")],
                )
            details = {
                "method": allocation.method,
                "n_units": len(units),
                "balance_score": allocation.balance_score,
                "n_candidates": allocation.n_candidates,
                "n_accepted": allocation.n_accepted,
            }
            if force_reason:
                details["forced"] = True
                details["reason"] = force_reason
            if existing is not None and existing["design_hash"] != design.design_hash:
                # the allocation fields an amendment may not change: this row is their record
                details["previous_design_hash"] = existing["design_hash"]
                details["design_changes"] = [c.line() for c in design_changes]
            common = {
                "trial_id": design.id,
                "at": now,
                "round": round_no,
                "seed": design.randomisation.seed,
                "design_hash": design.design_hash,
                "algorithm_version": allocation.algorithm_version,
            }
            append_audit_rows(
                conn,
                [
                    {
                        **common,
                        "event": "re-randomised" if force_reason else "randomised",
                        "reason": force_reason,
                        "details_json": json.dumps(details),
                    }
                ],
            )
            append_audit_rows(
                conn,
                [
                    {
                        **common,
                        "event": "allocated",
                        "unit_id": u,
                        "arm": a,
                        "sequence": sequence,
                        "sequence_position": int(p),
                    }
                    for u, a, p in units[["unit_id", "arm", "sequence_position"]].itertuples(
                        index=False
                    )
                ],
            )
        return round_no

    @staticmethod
    def _supersede(conn, trial_id, roster, allocation, pii, round_no) -> None:  # noqa: ANN001
        """Make room for a new round without losing anyone already on record.

        People in the new roster are replaced by their new rows (and new PII, if
        given).  Everyone else (late entrants of an earlier round, people dropped
        from the roster) stays, with their PII; if their unit is not in the new
        round, ``superseded_in_round`` says their allocation belongs to an older
        round.  Before, every participant and PII row of the trial was deleted.
        """
        new_people = set(roster["id"].astype("str"))
        new_units = set(allocation.units["unit_id"].astype("str"))
        on_record = conn.execute(
            sa.select(participants.c.participant_id, participants.c.unit_id).where(
                participants.c.trial_id == trial_id
            )
        ).all()
        replaced = [p for p, _u in on_record if p in new_people]
        left_out = [p for p, u in on_record if p not in new_people and u not in new_units]
        new_pii = (
            set(pii["participant_id"].astype("str")) if pii is not None and len(pii) else set()
        )
        for start in range(0, max(len(replaced), len(left_out), len(new_pii)), 500):
            chunk = replaced[start : start + 500]
            if chunk:
                conn.execute(
                    participants.delete().where(
                        participants.c.trial_id == trial_id,
                        participants.c.participant_id.in_(chunk),
                    )
                )
            chunk = sorted(new_pii)[start : start + 500]
            if chunk:
                conn.execute(
                    participant_pii.delete().where(
                        participant_pii.c.trial_id == trial_id,
                        participant_pii.c.participant_id.in_(chunk),
                    )
                )
            chunk = left_out[start : start + 500]
            if chunk:
                conn.execute(
                    participants.update()
                    .where(
                        participants.c.trial_id == trial_id,
                        participants.c.participant_id.in_(chunk),
                        participants.c.superseded_in_round.is_(None),
                    )
                    .values(superseded_in_round=round_no)
                )

    @staticmethod
    def _insert_participants(conn, design, roster, allocation, enrolment, now) -> None:  # noqa: ANN001
        unit_of = dict(
            zip(allocation.members["participant_id"], allocation.members["unit_id"], strict=True)
        )
        stratum_of = dict(
            zip(allocation.units["unit_id"], allocation.units["stratum"], strict=True)
        )
        covariate_cols = [c for c in design.roster.covariates if c in roster.columns]
        rows = []
        for rec in roster.to_dict("records"):
            pid = str(rec["id"])
            unit = unit_of[pid]
            start = rec.get("start_date")
            rows.append(
                {
                    "trial_id": design.id,
                    "participant_id": pid,
                    "organisation": _text(rec.get("organisation")),
                    "building": _text(rec.get("building")),
                    "team": _text(rec.get("team")),
                    "role": _text(rec.get("role")),
                    "start_date": pd.Timestamp(start).date() if _present(start) else None,
                    "stratum": stratum_of[unit],
                    "unit_id": unit,
                    "enrolment": enrolment,
                    "covariates_json": json.dumps(
                        {c: _jsonable(rec.get(c)) for c in covariate_cols}
                    )
                    if covariate_cols
                    else None,
                    "enrolled_at": now,
                }
            )
        if rows:
            conn.execute(participants.insert(), rows)

    def superseded(self, trial_id: str, round_no: int) -> int:
        """How many participants a forced re-randomisation into ``round_no`` left superseded."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(participants)
                .where(
                    participants.c.trial_id == trial_id,
                    participants.c.superseded_in_round == round_no,
                )
            ).scalar_one()

    def allocations(self, trial_id: str) -> pd.DataFrame:
        """The active round's allocations of a trial (one row per randomised unit)."""
        trial = self.trial(trial_id)
        if trial is None:
            return pd.DataFrame(columns=[c.name for c in allocations.columns])
        return self.read(
            sa.select(allocations)
            .where(allocations.c.trial_id == trial_id, allocations.c.round == trial["active_round"])
            .order_by(allocations.c.allocation_id)
        )

    def participant_arms(self, trial_id: str) -> pd.DataFrame:
        """Each participant with its unit, stratum and arm (via its cluster in cluster trials)."""
        trial = self.trial(trial_id)
        if trial is None:
            return pd.DataFrame(
                columns=[
                    "participant_id",
                    "unit_id",
                    "stratum",
                    "arm",
                    "organisation",
                    "building",
                    "team",
                    "role",
                ]
            )
        j = participants.join(
            allocations,
            sa.and_(
                allocations.c.trial_id == participants.c.trial_id,
                allocations.c.unit_id == participants.c.unit_id,
                allocations.c.round == trial["active_round"],
            ),
        )
        return self.read(
            sa.select(
                participants.c.participant_id,
                participants.c.unit_id,
                participants.c.stratum,
                allocations.c.arm,
                participants.c.organisation,
                participants.c.building,
                participants.c.team,
                participants.c.role,
                participants.c.start_date,
                participants.c.enrolment,
                participants.c.covariates_json,
            )
            .select_from(j)
            .where(participants.c.trial_id == trial_id)
            .order_by(participants.c.participant_id)
        )

    # -- ingestion --------------------------------------------------------------
    def previous_ingest(
        self, *, trial_id: str, kind: str, file_hash: str, timepoint: str | None
    ) -> dict | None:
        """The record of an earlier ingest of the same bytes, if any."""
        query = sa.select(ingested_files).where(
            ingested_files.c.trial_id == trial_id,
            ingested_files.c.kind == kind,
            ingested_files.c.file_hash == file_hash,
            ingested_files.c.timepoint.is_(None)
            if timepoint is None
            else ingested_files.c.timepoint == timepoint,
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def insert_new(self, conn: sa.Connection, table: sa.Table, rows: list[dict]) -> int:
        """Insert rows, skipping any that collide with a unique key; returns rows added.

        Overlapping exports (the same event or response in two files) are
        therefore stored once.
        """
        if not rows:
            return 0
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            statement = table.insert().prefix_with("OR IGNORE")
        elif dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement = pg_insert(table).on_conflict_do_nothing()
        else:  # pragma: no cover - other servers: fall back to the plain insert
            statement = table.insert()
        before = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        conn.execute(statement, rows)
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() - before

    def record_ingest(
        self,
        conn: sa.Connection,
        *,
        trial_id: str,
        kind: str,
        file_name: str,
        file_hash: str,
        archived_path: str,
        timepoint: str | None,
        rows_read: int,
        rows_stored: int,
        problems: pd.DataFrame,
    ) -> IngestSummary:
        """Write the quarantine rows and the file record, inside the caller's transaction."""
        now = _now()
        rows = [
            {
                "trial_id": trial_id,
                "kind": kind,
                "file_hash": file_hash,
                "file_name": file_name,
                "row_number": int(p["source_row"]),
                "column": str(p["column"]),
                "rule": str(p["rule"]),
                "value": None if not _present(p["value"]) else str(p["value"]),
                "message": str(p["message"]),
                "quarantined_at": now,
            }
            for p in problems.to_dict("records")
        ]
        added = 0
        if rows:
            # Keyed on the raw row's content: the same bad row sent again, in the same file or
            # in an overlapping export, is quarantined once (uq_quarantine_row ignores it).
            raw = _raw_rows(archived_path, {r["row_number"] for r in rows})
            for row in rows:
                row["row_key"] = quarantine_row_key(
                    raw.get(row["row_number"]), file_hash=file_hash, row_number=row["row_number"]
                )
            added = self.insert_new(conn, quarantine, rows)
        n_bad_rows = int(problems["source_row"].nunique()) if len(problems) else 0
        conn.execute(
            ingested_files.insert().values(
                trial_id=trial_id,
                kind=kind,
                file_hash=file_hash,
                file_name=file_name,
                archived_path=archived_path,
                timepoint=timepoint,
                rows_read=rows_read,
                rows_stored=rows_stored,
                rows_quarantined=n_bad_rows,
                ingested_at=now,
            )
        )
        append_audit_rows(
            conn,
            [
                {
                    "trial_id": trial_id,
                    "event": f"{kind}-ingested",
                    "at": now,
                    "file_hash": file_hash,
                    "details_json": json.dumps(
                        {
                            "file_name": file_name,
                            "timepoint": timepoint,
                            "rows_read": rows_read,
                            "rows_stored": rows_stored,
                            "rows_quarantined": n_bad_rows,
                            "quarantine_rows_added": added,
                        },
                        sort_keys=True,
                    ),
                }
            ],
        )
        return IngestSummary(
            file_name=file_name,
            file_hash=file_hash,
            archived_path=archived_path,
            rows_read=rows_read,
            rows_stored=rows_stored,
            rows_quarantined=n_bad_rows,
            already_ingested=False,
        )

    def quarantined(self, trial_id: str, kind: str | None = None) -> pd.DataFrame:
        query = sa.select(quarantine).where(quarantine.c.trial_id == trial_id)
        if kind:
            query = query.where(quarantine.c.kind == kind)
        return self.read(query.order_by(quarantine.c.quarantine_id))

    def pii(self, trial_id: str) -> pd.DataFrame:
        """Names and addresses: for letter production and the coordinator's list only."""
        return self.read(
            sa.select(participant_pii).where(participant_pii.c.trial_id == trial_id)
        ).drop(columns=["trial_id"], errors="ignore")

    def audit(self, trial_id: str) -> pd.DataFrame:
        return self.read(
            sa.select(audit_log)
            .where(audit_log.c.trial_id == trial_id)
            .order_by(audit_log.c.audit_id)
        )

    def trial_ids(self) -> list[str]:
        """Every trial in the store, sorted."""
        with self.engine.connect() as conn:
            return sorted(conn.execute(sa.select(trials.c.trial_id)).scalars())

    # -- withdrawals ------------------------------------------------------------
    def withdraw(
        self,
        *,
        trial_id: str,
        participant_id: str,
        reason: str,
        effective: dt.date | None = None,
    ) -> dict:
        """Withdraw a participant from further contact, and log it, in one transaction.

        The participant keeps their allocation and stays in the ITT analysis
        and the CONSORT counts; letters and deliveries stop.  ``effective`` is
        the day they withdrew when it is recorded later (from the start of that
        day, UTC); by default, now.  The audit log keeps both.

        Raises
        ------
        LookupError
            The trial or the participant is not in the store (no other ids are listed).
        AlreadyWithdrawnError
            The participant was withdrawn before; nothing changes.
        ValueError
            The reason is empty.
        """
        reason = (reason or "").strip()
        if not reason:
            raise ValueError(
                'A withdrawal needs a reason (--reason "..."): it goes into the audit log. '
                "Got an empty reason instead."
            )
        now = _now()
        if effective is not None and effective > now.date():
            raise ValueError(
                f"A withdrawal cannot take effect in the future (today is {now.date()} UTC). "
                f"Got {effective} instead."
            )
        since = now if effective is None else dt.datetime.combine(effective, dt.time.min)
        who = current_actor().os_user
        with self.transaction(lock_trial=trial_id) as conn:
            trial = (
                conn.execute(sa.select(trials).where(trials.c.trial_id == trial_id))
                .mappings()
                .first()
            )
            if trial is None:
                known = sorted(conn.execute(sa.select(trials.c.trial_id)).scalars())
                raise LookupError(
                    f"Trial '{trial_id}' is not in the store. Known trials: "
                    f"{', '.join(known) if known else '(none yet)'}."
                )
            person = (
                conn.execute(
                    sa.select(participants.c.unit_id).where(
                        participants.c.trial_id == trial_id,
                        participants.c.participant_id == participant_id,
                    )
                )
                .mappings()
                .first()
            )
            if person is None:
                raise LookupError(
                    f"Trial '{trial_id}' has no participant with the id given; check the id "
                    f"against the coordinator's allocation list. Got '{participant_id}' instead."
                )
            before = (
                conn.execute(
                    sa.select(withdrawals).where(
                        withdrawals.c.trial_id == trial_id,
                        withdrawals.c.participant_id == participant_id,
                    )
                )
                .mappings()
                .first()
            )
            if before is not None:
                raise AlreadyWithdrawnError(
                    f"Participant '{participant_id}' of trial '{trial_id}' was already withdrawn "
                    f"on {before['withdrawn_at']:%Y-%m-%d %H:%M} UTC by {before['who']} "
                    f"(reason: {before['reason']}). Nothing changed."
                )
            arm = conn.execute(
                sa.select(allocations.c.arm).where(
                    allocations.c.trial_id == trial_id,
                    allocations.c.round == trial["active_round"],
                    allocations.c.unit_id == person["unit_id"],
                )
            ).scalar_one_or_none()
            conn.execute(
                withdrawals.insert().values(
                    trial_id=trial_id,
                    participant_id=participant_id,
                    reason=reason,
                    who=who,
                    withdrawn_at=since,
                )
            )
            append_audit_rows(
                conn,
                [
                    {
                        "trial_id": trial_id,
                        "event": "withdrawn",
                        "at": now,
                        "reason": reason,
                        "round": trial["active_round"],
                        "unit_id": person["unit_id"],
                        "arm": arm,
                        "design_hash": trial["design_hash"],
                        "details_json": json.dumps(
                            {
                                "participant_id": participant_id,
                                "reason": reason,
                                "effective": since.isoformat(),
                            }
                        ),
                    }
                ],
            )
        return {
            "trial_id": trial_id,
            "participant_id": participant_id,
            "arm": arm,
            "reason": reason,
            "who": who,
            "withdrawn_at": since,
        }

    def withdrawals(self, trial_id: str) -> pd.DataFrame:
        """The trial's withdrawn participants: participant_id, reason, who, withdrawn_at."""
        found = self.read(
            sa.select(
                withdrawals.c.participant_id,
                withdrawals.c.reason,
                withdrawals.c.who,
                withdrawals.c.withdrawn_at,
            )
            .where(withdrawals.c.trial_id == trial_id)
            .order_by(withdrawals.c.withdrawn_at, withdrawals.c.participant_id)
        )
        if found.empty:
            return pd.DataFrame(columns=["participant_id", "reason", "who", "withdrawn_at"])
        return found

    # -- stage runs -------------------------------------------------------------
    def record_stage_run(
        self,
        *,
        trial_id: str,
        stage: str,
        status: str,
        summary: str | None,
        started_at: dt.datetime | None = None,
        flow_run_id: str | None = None,
    ) -> None:
        """Note that a stage ran (``completed`` or ``failed``), for ``trialflow status``."""
        with self.transaction() as conn:
            conn.execute(
                stage_runs.insert().values(
                    trial_id=trial_id,
                    stage=stage,
                    status=status,
                    started_at=started_at,
                    finished_at=_now(),
                    summary=summary,
                    flow_run_id=flow_run_id,
                )
            )

    def stage_runs(self, trial_id: str) -> pd.DataFrame:
        """Every recorded stage run of a trial, oldest first."""
        found = self.read(
            sa.select(stage_runs)
            .where(stage_runs.c.trial_id == trial_id)
            .order_by(stage_runs.c.run_id)
        )
        if found.empty:
            return pd.DataFrame(columns=[c.name for c in stage_runs.columns])
        return found

    def enrol(
        self,
        *,
        design,  # noqa: ANN001
        newcomers: pd.DataFrame,
        allocate_slot,  # noqa: ANN001
        algorithm_version: str,
        pii: pd.DataFrame | None = None,
        allocate_next=None,  # noqa: ANN001
    ) -> pd.DataFrame:
        """Allocate late entrants from their stratum's concealed sequence, one transaction.

        Under minimisation ``allocate_next(history, newcomer)`` gives the arm
        instead: ``history`` lists everyone allocated in the round, in arrival
        order (sequence position), with their organisation, building, team,
        role and arm, read inside the same locked transaction that writes the
        newcomer; the newcomer's position is the length of ``history``.

        ``allocate_slot(stratum, position, n_initial)`` returns the arm of a
        sequence position (a pure function of the design).  The next unused
        position of each stratum is read inside the locked transaction, so two
        processes never take the same slot, and the unique constraint makes a
        second allocation of the same unit impossible.

        Returns one row per newcomer: participant_id, unit_id, arm, status
        (``allocated``, ``joined cluster`` or ``already allocated``).
        """
        minimised = design.randomisation.method == "minimisation"
        if minimised != (allocate_next is not None):
            raise ValueError(
                "Store.enrol needs 'allocate_next' exactly when the design minimises: a "
                "minimised trial's late entrants are not taken from a block sequence. Got "
                f"method '{design.randomisation.method}' and allocate_next {allocate_next!r} instead."
            )
        now = _now()
        results = []
        with self.transaction(lock_trial=design.id) as conn:
            trial = (
                conn.execute(sa.select(trials).where(trials.c.trial_id == design.id))
                .mappings()
                .first()
            )
            if trial is None:
                raise LookupError(
                    f"Trial '{design.id}' has not been randomised yet; run `trialflow randomise` first."
                )
            from flows.integrity import design_mismatch

            # checked under the lock too: an amendment may land between the flow's check and here
            changed = design_mismatch(trial, design, stage="enrol")
            if changed is not None:
                raise changed
            round_no = trial["active_round"]
            current = pd.DataFrame(
                conn.execute(
                    sa.select(
                        allocations.c.unit_id,
                        allocations.c.stratum,
                        allocations.c.arm,
                        allocations.c.sequence,
                    ).where(allocations.c.trial_id == design.id, allocations.c.round == round_no)
                )
                .mappings()
                .all()
            )
            on_record = conn.execute(
                sa.select(participants.c.participant_id, participants.c.superseded_in_round).where(
                    participants.c.trial_id == design.id
                )
            ).all()
            # people whose allocation a forced re-randomisation superseded are enrolled afresh
            known_people = {p for p, superseded in on_record if superseded is None}
            superseded_people = {p for p, superseded in on_record if superseded is not None}
            arm_of = dict(zip(current["unit_id"], current["arm"], strict=True))
            used = current.groupby(["stratum", "sequence"]).size().to_dict()
            history = self._arrival_history(conn, design.id, round_no) if allocate_next else None
            new_rows = []
            audit_rows = []
            member_rows = []
            sequence = "blocks" if design.randomisation.method == "blocked" else "enrolment"
            for rec in newcomers.to_dict("records"):
                pid, unit, stratum = rec["participant_id"], rec["unit_id"], rec["stratum"]
                if pid in known_people:
                    results.append(
                        {
                            "participant_id": pid,
                            "unit_id": unit,
                            "arm": arm_of.get(unit),
                            "status": "already allocated",
                        }
                    )
                    continue
                status = "joined cluster"
                if unit not in arm_of:
                    # minimisation: one arrival order for the whole trial (the history's)
                    position = (
                        len(history) if history is not None else used.get((stratum, sequence), 0)
                    )
                    n_initial = None
                    if history is None and sequence == "blocks":
                        # the initial randomisation shaped the block it ended in
                        n_initial = conn.execute(
                            sa.select(sa.func.count())
                            .select_from(allocations)
                            .join(
                                participants,
                                sa.and_(
                                    participants.c.trial_id == allocations.c.trial_id,
                                    participants.c.participant_id == allocations.c.unit_id,
                                ),
                            )
                            .where(
                                allocations.c.trial_id == design.id,
                                allocations.c.round == round_no,
                                allocations.c.stratum == stratum,
                                participants.c.enrolment == "initial",
                            )
                        ).scalar_one()
                    if history is not None:
                        arm = allocate_next(history, rec)
                        history.append(
                            {**{f: _text(rec.get(f)) for f in _FACTOR_FIELDS}, "arm": arm}
                        )
                    else:
                        arm = allocate_slot(stratum, position, n_initial)
                    used[(stratum, sequence)] = position + 1
                    arm_of[unit] = arm
                    status = "allocated"
                    new_rows.append(
                        {
                            "trial_id": design.id,
                            "round": round_no,
                            "unit_id": unit,
                            "unit_kind": "cluster" if design.unit == "cluster" else "participant",
                            "stratum": stratum,
                            "arm": arm,
                            "sequence": sequence,
                            "sequence_position": position,
                            "allocated_at": now,
                            "design_hash": design.design_hash,
                            "algorithm_version": algorithm_version,
                        }
                    )
                    audit_rows.append(
                        {
                            "trial_id": design.id,
                            "event": "enrolled",
                            "at": now,
                            "round": round_no,
                            "unit_id": unit,
                            "arm": arm,
                            "sequence": sequence,
                            "sequence_position": position,
                            "seed": design.randomisation.seed,
                            "design_hash": design.design_hash,
                            "algorithm_version": algorithm_version,
                        }
                    )
                known_people.add(pid)
                member_rows.append(
                    {
                        "trial_id": design.id,
                        "participant_id": pid,
                        "organisation": _text(rec.get("organisation")),
                        "building": _text(rec.get("building")),
                        "team": _text(rec.get("team")),
                        "role": _text(rec.get("role")),
                        "start_date": pd.Timestamp(rec["start_date"]).date()
                        if _present(rec.get("start_date"))
                        else None,
                        "stratum": stratum,
                        "unit_id": unit,
                        "enrolment": "late",
                        "covariates_json": None,
                        "enrolled_at": now,
                    }
                )
                results.append(
                    {"participant_id": pid, "unit_id": unit, "arm": arm_of[unit], "status": status}
                )
            if new_rows:
                conn.execute(allocations.insert(), new_rows)
                append_audit_rows(conn, audit_rows)
            if member_rows:
                returning = sorted(superseded_people & {r["participant_id"] for r in member_rows})
                for start in range(0, len(returning), 500):
                    conn.execute(
                        participants.delete().where(
                            participants.c.trial_id == design.id,
                            participants.c.participant_id.in_(returning[start : start + 500]),
                        )
                    )
                conn.execute(participants.insert(), member_rows)
                if pii is not None and len(pii):
                    # late entrants' names go where the initial roster's went, for letters and the list
                    added = {row["participant_id"] for row in member_rows}
                    fresh = pii[pii["participant_id"].astype("str").isin(added)]
                    if len(fresh) and returning:  # superseded people keep their PII row
                        conn.execute(
                            participant_pii.delete().where(
                                participant_pii.c.trial_id == design.id,
                                participant_pii.c.participant_id.in_(
                                    sorted(
                                        set(returning) & set(fresh["participant_id"].astype("str"))
                                    )
                                ),
                            )
                        )
                    if len(fresh):
                        conn.execute(
                            participant_pii.insert(),
                            [
                                {"trial_id": design.id, **{k: _text(v) for k, v in row.items()}}
                                for row in fresh.drop_duplicates("participant_id").to_dict(
                                    "records"
                                )
                            ],
                        )
        return pd.DataFrame(results, columns=["participant_id", "unit_id", "arm", "status"])

    @staticmethod
    def _arrival_history(conn: sa.Connection, trial_id: str, round_no: int) -> list[dict]:
        """Everyone allocated in a round, in arrival order, with the fields minimisation counts."""
        rows = conn.execute(
            sa.select(
                *[participants.c[f] for f in _FACTOR_FIELDS],
                allocations.c.arm,
            )
            .select_from(
                allocations.join(
                    participants,
                    sa.and_(
                        participants.c.trial_id == allocations.c.trial_id,
                        participants.c.participant_id == allocations.c.unit_id,
                    ),
                )
            )
            .where(allocations.c.trial_id == trial_id, allocations.c.round == round_no)
            .order_by(allocations.c.sequence_position, allocations.c.allocation_id)
        ).mappings()
        return [dict(row) for row in rows]

    def insert_new_many(
        self,
        conn: sa.Connection,
        table: sa.Table,
        columns: list[str],
        rows,  # noqa: ANN001 - any iterable of tuples in `columns` order
        *,
        chunk_size: int = 50_000,
    ) -> int:
        """The bulk twin of :meth:`insert_new`: tuples through the driver's executemany.

        Rows colliding with a unique key are skipped, as in :meth:`insert_new`.
        Building one dict per row costs more than SQLite's own insert at
        millions of rows, so rows stay tuples and go in chunks.  Values are
        passed to the driver as they are (dates as ISO strings; None for NULL).
        Returns the number of rows added.
        """
        from itertools import islice

        dialect = self.engine.dialect
        if dialect.name not in ("sqlite", "postgresql"):  # pragma: no cover - other servers
            return self.insert_new(conn, table, [dict(zip(columns, r, strict=True)) for r in rows])
        names = ", ".join(dialect.identifier_preparer.quote(c) for c in columns)
        marks = ", ".join(["?" if dialect.paramstyle == "qmark" else "%s"] * len(columns))
        if dialect.name == "sqlite":
            statement = f"INSERT OR IGNORE INTO {table.name} ({names}) VALUES ({marks})"
        else:
            statement = (
                f"INSERT INTO {table.name} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
            )
        before = None
        if dialect.name != "sqlite":  # executemany's rowcount is the sum only on SQLite
            before = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        added, iterator = 0, iter(rows)
        while chunk := list(islice(iterator, chunk_size)):
            added += conn.exec_driver_sql(statement, chunk).rowcount
        if before is not None:
            added = (
                conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() - before
            )
        return added


@dataclass(frozen=True)
class IngestSummary:
    """What one ingest of one file did."""

    file_name: str
    file_hash: str
    archived_path: str
    rows_read: int
    rows_stored: int
    rows_quarantined: int
    already_ingested: bool

    def line(self) -> str:
        if self.already_ingested:
            return f"{self.file_name}: already ingested (sha256 {self.file_hash[:12]}); nothing changed."
        return (
            f"{self.file_name}: {self.rows_read} rows read, {self.rows_stored} stored, "
            f"{self.rows_quarantined} quarantined; archived as {Path(self.archived_path).name}."
        )


def _present(value: object) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and pd.isna(value))
        and value is not pd.NaT
    )


def _text(value: object) -> str | None:
    return str(value) if _present(value) else None


def _jsonable(value: object) -> object:
    if not _present(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
