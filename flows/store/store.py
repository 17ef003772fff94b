"""The system of record: SQLAlchemy over SQLite (WAL) by default, any URL by setting.

Every write is one transaction.  The tables, their append-only triggers and the
metadata Alembic compares against are in :mod:`flows.store.schema`; a
randomisation's round is written by :mod:`flows.store.randomisations`, an
ingested file's record by :mod:`flows.store.ingests`, and late entrants by
:mod:`flows.enrol`, which allocates them inside the store's lock.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event

from flows import settings
from flows.audit import append_audit_rows, current_actor
from flows.store.bulk import copy_new
from flows.store.ingests import IngestRecords
from flows.store.randomisations import RandomisationRecords
from flows.store.schema import (
    allocations,
    audit_log,
    install_append_only_guards,
    participant_pii,
    participants,
    stage_runs,
    trials,
    withdrawals,
)
from flows.store.values import utc_now

__all__ = ["DEFAULT_HOME", "AlreadyWithdrawnError", "Store", "default_url", "trialflow_home"]

DEFAULT_HOME = settings.DEFAULT_HOME

#: SQLite's page cache (KiB) in a bulk ingest's transaction: room for the inner pages of
#: a B-tree of millions of rows, so they are written to the WAL once, not at every spill.
BULK_CACHE_KIB = 65_536


class AlreadyWithdrawnError(ValueError):
    """A participant who was withdrawn before; withdrawing again changes nothing."""


def trialflow_home() -> Path:
    """The working folder for the store, Prefect and outputs (:class:`flows.settings.Settings`)."""
    return settings.get_settings().home


def default_url() -> str:
    """The store the settings name: $TRIALFLOW_DATABASE_URL, else SQLite under the home."""
    config = settings.get_settings()
    if not config.uses_default_database:
        return config.database_url
    home = config.home
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'trialflow.db'}"


class Store(RandomisationRecords, IngestRecords):
    """The trialflow database.

    Parameters
    ----------
    url : str, optional
        A SQLAlchemy URL.  Default: ``$TRIALFLOW_DATABASE_URL``, else SQLite in
        WAL mode at ``.trialflow/trialflow.db``.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        self.engine = sa.create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            self._configure_sqlite()
        existed = set(sa.inspect(self.engine).get_table_names())
        # Alembic builds a fresh store and upgrades an older one in place (flows.migrations);
        # a store from a newer trialflow is refused (StoreTooNewError).
        from flows.migrations import upgrade_store

        upgrade_store(self.engine)
        install_append_only_guards(self.engine, existed)

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

    @contextmanager
    def transaction(
        self, *, lock_trial: str | None = None, bulk: bool = False
    ) -> Iterator[sa.Connection]:
        """One write transaction; on servers, optionally lock the trial's row first.

        ``bulk`` (an ingest of millions of rows) gives SQLite a page cache of
        :data:`BULK_CACHE_KIB` for this transaction: with the default 2 MB, the
        B-tree's inner pages were spilled to the WAL and written again at every
        touch (measured: 28% more bytes written, 6% more CPU at 2.7M values).
        The cache holds no committed state, so atomicity is unchanged.

        Left as they are, on purpose: ``synchronous`` stays FULL (in WAL mode one
        big ingest pays one fsync at commit; NORMAL would save that one and could
        lose the last committed ingest in a power cut), and the unique keys stay
        in place during the load (``INSERT OR IGNORE`` needs them to skip a row
        stored already; built afterwards, a duplicate would fail the whole file).
        """
        with self.engine.connect() as conn:
            sqlite = bulk and self.engine.dialect.name == "sqlite"
            # on the driver's connection: through SQLAlchemy the PRAGMA would begin a transaction
            raw = conn.connection.driver_connection if sqlite else None
            if raw is not None:
                default = raw.execute("PRAGMA cache_size").fetchone()[0]
                raw.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
            try:
                with conn.begin():
                    if lock_trial is not None and self.engine.dialect.name != "sqlite":
                        conn.execute(
                            sa.select(trials.c.trial_id)
                            .where(trials.c.trial_id == lock_trial)
                            .with_for_update()
                        )
                    yield conn
            finally:
                if raw is not None:  # the pooled connection goes back with its usual cache
                    with suppress(sqlite3.Error):  # never hide the error that ended the write
                        raw.execute(f"PRAGMA cache_size={int(default)}")

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

    def insert_new_many(
        self,
        conn: sa.Connection,
        table: sa.Table,
        columns: list[str],
        rows,  # noqa: ANN001 - any iterable of tuples in `columns` order
        *,
        chunk_size: int = 50_000,
    ) -> int:
        """The bulk twin of :meth:`insert_new`: tuples through the driver, never dicts.

        Rows colliding with a unique key are skipped, as in :meth:`insert_new`.
        Building one dict per row costs more than SQLite's own insert at
        millions of rows, so rows stay tuples: on SQLite they go in chunks to
        the driver's executemany (one prepared statement), on PostgreSQL
        through COPY (:func:`flows.store.bulk.copy_new`).  Values are passed as
        they are (dates as ISO strings; None for NULL).  Returns the number of
        rows added.
        """
        from itertools import islice

        dialect = self.engine.dialect
        if dialect.name not in ("sqlite", "postgresql"):  # pragma: no cover - other servers
            return self.insert_new(conn, table, [dict(zip(columns, r, strict=True)) for r in rows])
        names = ", ".join(dialect.identifier_preparer.quote(c) for c in columns)
        if dialect.name == "postgresql":
            return copy_new(conn, table.name, names, rows)
        marks = ", ".join(["?"] * len(columns))
        statement = f"INSERT OR IGNORE INTO {table.name} ({names}) VALUES ({marks})"
        added, iterator = 0, iter(rows)
        while chunk := list(islice(iterator, chunk_size)):
            added += conn.exec_driver_sql(statement, chunk).rowcount
        return added

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
        now = utc_now()
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
                    finished_at=utc_now(),
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
