"""Quarantine rows keyed on their content, not on the file they came in.

Re-sending an overlapping export (the same file plus one new line) has another
file hash, so the old de-duplication (file hash, row, column, rule) quarantined
the same bad rows again.  ``quarantine.row_key`` is the SHA-256 of the raw
row's values (see ``flows.store.quarantine_row_key``), and
``uq_quarantine_row`` (trial, kind, row_key, column, rule) stores each bad row
once, whichever file brought it.

Rows already quarantined get a key from what is on record, their file hash and
row number (the raw values are not stored); exact duplicates of one such key
are dropped, the first kept.

Revision ID: 0003_quarantine_row_key
Revises: 0002_audit_chain_amendments
Create Date: 2026-11-30
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003_quarantine_row_key"
down_revision = "0002_audit_chain_amendments"
branch_labels = None
depends_on = None


def _legacy_key(file_hash: str, row_number: int) -> str:
    # the same as flows.store.quarantine_row_key's fallback, frozen here
    return hashlib.sha256(f"file:{file_hash}:row:{int(row_number)}".encode()).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    have = {c["name"] for c in sa.inspect(bind).get_columns("quarantine")}
    if "row_key" not in have:
        op.add_column("quarantine", sa.Column("row_key", sa.String(64)))
    quarantine = sa.table(
        "quarantine",
        sa.column("quarantine_id", sa.Integer),
        sa.column("trial_id", sa.String),
        sa.column("kind", sa.String),
        sa.column("file_hash", sa.String),
        sa.column("row_number", sa.Integer),
        sa.column("column", sa.Text),
        sa.column("rule", sa.Text),
        sa.column("row_key", sa.String),
    )
    rows = bind.execute(
        sa.select(
            quarantine.c.quarantine_id,
            quarantine.c.trial_id,
            quarantine.c.kind,
            quarantine.c.file_hash,
            quarantine.c.row_number,
            quarantine.c.column,
            quarantine.c.rule,
        )
        .where(quarantine.c.row_key.is_(None))
        .order_by(quarantine.c.quarantine_id)
    ).all()
    seen: set[tuple] = set()
    duplicates: list[int] = []
    for row in rows:
        key = _legacy_key(row.file_hash, row.row_number)
        slot = (row.trial_id, row.kind, key, row.column, row.rule)
        if slot in seen:
            duplicates.append(row.quarantine_id)
            continue
        seen.add(slot)
        bind.execute(
            quarantine.update()
            .where(quarantine.c.quarantine_id == row.quarantine_id)
            .values(row_key=key)
        )
    for start in range(0, len(duplicates), 500):
        bind.execute(
            quarantine.delete().where(
                quarantine.c.quarantine_id.in_(duplicates[start : start + 500])
            )
        )
    with op.batch_alter_table("quarantine") as batch:
        batch.alter_column("row_key", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint(
            "uq_quarantine_row", ["trial_id", "kind", "row_key", "column", "rule"]
        )


def downgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_constraint("uq_quarantine_row", type_="unique")
        batch.drop_column("row_key")
