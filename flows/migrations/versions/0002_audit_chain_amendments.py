"""What trialflow added to the store after the baseline, up to the first migration.

- ``audit_log``: who ran it (OS account, host, a differing $LOGNAME), the file
  and the reason, and the hash chain (``prev_hash``, ``row_hash``; see
  flows.audit);
- ``participants.superseded_in_round`` (a forced re-randomisation leaves
  people on record);
- the tables ``design_documents``, ``amendments``, ``withdrawals`` and
  ``stage_runs``.

Every step checks first, so a store that trialflow's earlier ad hoc schema
upgrade (``Store._upgrade_schema``) already brought part of the way is
finished, not broken.  The audit rows of an older store are sealed into the
chain at once, as that upgrade did, so that ``trialflow audit verify`` vouches
for them from the first open on.

Revision ID: 0002_audit_chain_amendments
Revises: 0001_baseline
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_audit_chain_amendments"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

_NEW_COLUMNS = {
    "participants": [sa.Column("superseded_in_round", sa.Integer)],
    "audit_log": [
        sa.Column("os_user", sa.String(128)),
        sa.Column("host", sa.String(255)),
        sa.Column("claimed_user", sa.String(128)),
        sa.Column("file_hash", sa.String(64)),
        sa.Column("reason", sa.Text),
        sa.Column("prev_hash", sa.String(64)),
        sa.Column("row_hash", sa.String(64)),
    ],
}


def _new_tables() -> sa.MetaData:
    metadata = sa.MetaData()
    # the foreign keys below name trials; declare its key so the metadata resolves them
    sa.Table("trials", metadata, sa.Column("trial_id", sa.String(64), primary_key=True))
    sa.Table(
        "design_documents",
        metadata,
        sa.Column("trial_id", sa.String(64), primary_key=True),
        sa.Column("design_hash", sa.String(64), primary_key=True),
        sa.Column("design_json", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )
    sa.Table(
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
    sa.Table(
        "withdrawals",
        metadata,
        sa.Column("trial_id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.String(128), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("who", sa.String(128), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "stage_runs",
        metadata,
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trial_id", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime, nullable=False),
        sa.Column("summary", sa.Text),
        sa.Column("flow_run_id", sa.String(64)),
    )
    return metadata


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table, columns in _NEW_COLUMNS.items():
        have = {c["name"] for c in inspector.get_columns(table)}
        for column in columns:
            if column.name not in have:
                op.add_column(table, column)
    new = _new_tables()
    new.create_all(bind, tables=[t for name, t in new.tables.items() if name != "trials"])
    unhashed = bind.execute(
        sa.text("SELECT count(*) FROM audit_log WHERE row_hash IS NULL")
    ).scalar_one()
    if unhashed:
        # flows.audit hashes every column of flows.store.audit_log: a later revision that adds
        # an audit_log column must seal before adding it, or move this sealing into its own.
        from flows.audit import seal_unhashed

        seal_unhashed(bind)


def downgrade() -> None:
    raise NotImplementedError(
        "Downgrading would drop the audit log's hash chain and the amendments, withdrawals and "
        "design documents on record. Refusing; restore a backup instead."
    )
