"""The store's schema: its tables, the metadata Alembic compares against, and the triggers.

Allocations, the audit log and amendments are append-only: the database itself
refuses UPDATE and DELETE on them (:func:`install_append_only_guards`), and a
unique constraint on (trial, round, unit) makes a double allocation impossible,
even from two processes at once.

The schema is Alembic's (flows.migrations): every change to a table here (a new
table, column, constraint or index) comes with a new revision in
flows/migrations/versions/, or tests/flows/test_migrations.py fails.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

__all__ = [
    "APPEND_ONLY",
    "allocations",
    "amendments",
    "audit_log",
    "delivery_events",
    "design_documents",
    "ingested_files",
    "install_append_only_guards",
    "metadata",
    "outcome_values",
    "participant_pii",
    "participants",
    "quarantine",
    "stage_runs",
    "survey_responses",
    "trials",
    "withdrawals",
]

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
    # whose delivery log, when the design has several interventions (NULL otherwise): two
    # interventions' logs are two files even with the same name or bytes (migration 0005)
    sa.Column("intervention", sa.String(64)),
    sa.UniqueConstraint(
        "trial_id", "kind", "file_hash", "timepoint", "intervention", name="uq_ingested_file"
    ),
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
    # whose delivery log the row came in, as ingested_files.intervention (migration 0005)
    sa.Column("intervention", sa.String(64)),
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

# HR measures, one value a row: a few per person (see survey_responses for the surveys).
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

# One row per survey response: its answers and scores as one JSON object (flows.store.responses
# says why: 1M responses stored in ~4 s, not 27 s as 9M one-value rows). ``part`` is 0 for a
# response; a later file that adds measures the stored response lacks (an amended design)
# stores only those, as part 1, 2, ... Stored values are never changed: the table is append-only.
survey_responses = sa.Table(
    "survey_responses",
    metadata,
    sa.Column("trial_id", sa.String(64), primary_key=True),
    sa.Column("participant_id", sa.String(128), primary_key=True),
    sa.Column("timepoint", sa.String(32), primary_key=True),
    sa.Column("part", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("collected_on", sa.Date),
    sa.Column("source_file", sa.Text, nullable=False),
    sa.Column("source_row", sa.Integer, nullable=False),
    sa.Column("n_values", sa.Integer, nullable=False),  # measures in values_json, NULLs included
    sa.Column("values_json", sa.Text, nullable=False),  # {"measure": value or null, ...}
    sa.Column("rules_json", sa.Text),  # {"measure": missing-data rule} of the scores, or NULL
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

#: The tables whose rows are never updated or deleted (triggers refuse it).
APPEND_ONLY = ("allocations", "audit_log", "amendments", "survey_responses")


def install_append_only_guards(engine: sa.Engine, existed: Collection[str] = frozenset()) -> None:
    """Create the triggers that refuse UPDATE and DELETE; log any that had gone missing.

    A missing trigger on a table that ``existed`` before this open means someone
    dropped it: it is put back and the audit log says so (before, it was
    recreated silently).
    """
    dialect = engine.dialect.name
    with engine.begin() as conn:
        if dialect == "postgresql":
            # Two stores opening at once both replaced the function and failed with "tuple
            # concurrently updated": take turns (SQLite: BEGIN IMMEDIATE already does).
            from flows.migrations import lock_schema

            lock_schema(conn)
        missing = [t for t in APPEND_ONLY if t in existed and not _guarded(conn, t)]
        for table in APPEND_ONLY:
            if dialect == "sqlite":
                for action in ("UPDATE", "DELETE"):
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} "
                        f"BEFORE {action} ON {table} BEGIN "
                        f"SELECT RAISE(ABORT, '{table} is append-only'); END"
                    )
            elif dialect == "postgresql" and not _guarded(conn, table):
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
            # flows.audit imports the store, so it is imported here, when first needed
            from flows.audit import record_audit_event

            record_audit_event(
                conn,
                "*",
                "append-only-guard-restored",
                {"tables": missing, "note": "a trigger refusing UPDATE/DELETE was missing"},
            )


def _guarded(conn: sa.Connection, table: str) -> bool:
    """Whether every append-only trigger of ``table`` is in place."""
    if conn.dialect.name == "sqlite":
        names = set(
            conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                (table,),
            ).scalars()
        )
        return {f"{table}_no_update", f"{table}_no_delete"} <= names
    if conn.dialect.name == "postgresql":
        return bool(
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_trigger WHERE tgname = %s",
                (f"{table}_append_only",),
            ).scalar()
        )
    return True  # pragma: no cover - other servers have no guard to check
