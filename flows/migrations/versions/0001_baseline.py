"""Baseline: the store's schema as trialflow wrote it before migrations (commit 4effa0d).

A store from before migrations has no ``alembic_version`` table: it is
upgraded from nothing, and this revision creates only the tables it lacks, so
its rows stay where they are.  The definitions are frozen here on purpose:
never import them from flows.store, which moves on.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "trials",
        metadata,
        sa.Column("trial_id", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("design_hash", sa.String(64), nullable=False),
        sa.Column("design_json", sa.Text, nullable=False),
        sa.Column("active_round", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    sa.Table(
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
        sa.Column("enrolment", sa.String(16), nullable=False),
        sa.Column("covariates_json", sa.Text),
        sa.Column("enrolled_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "participant_pii",
        metadata,
        sa.Column("trial_id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.String(128), primary_key=True),
        sa.Column("first_name", sa.Text),
        sa.Column("surname", sa.Text),
        sa.Column("address", sa.Text),
    )
    sa.Table(
        "allocations",
        metadata,
        sa.Column("allocation_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trial_id", sa.String(64), sa.ForeignKey("trials.trial_id"), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("unit_id", sa.String(128), nullable=False),
        sa.Column("unit_kind", sa.String(16), nullable=False),
        sa.Column("stratum", sa.Text, nullable=False),
        sa.Column("arm", sa.String(64), nullable=False),
        sa.Column("sequence", sa.String(16), nullable=False),
        sa.Column("sequence_position", sa.Integer, nullable=False),
        sa.Column("allocated_at", sa.DateTime, nullable=False),
        sa.Column("design_hash", sa.String(64), nullable=False),
        sa.Column("algorithm_version", sa.String(64), nullable=False),
        sa.UniqueConstraint("trial_id", "round", "unit_id", name="uq_allocation_unit"),
        sa.UniqueConstraint(
            "trial_id",
            "round",
            "stratum",
            "sequence",
            "sequence_position",
            name="uq_allocation_slot",
        ),
    )
    sa.Table(
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
    )
    sa.Table(
        "ingested_files",
        metadata,
        sa.Column("file_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trial_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
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
    sa.Table(
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
    )
    sa.Table(
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
        sa.Column("contaminated", sa.Boolean, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("source_row", sa.Integer, nullable=False),
        sa.UniqueConstraint("trial_id", "event_key", name="uq_delivery_event"),
    )
    sa.Table(
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
    return metadata


def upgrade() -> None:
    # checkfirst: a store from before migrations keeps its tables (and rows) as they are
    _tables().create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    raise NotImplementedError(
        "Downgrading below the baseline would drop every table of the store, the append-only "
        "allocations and audit log among them. Refusing; restore a backup instead."
    )
