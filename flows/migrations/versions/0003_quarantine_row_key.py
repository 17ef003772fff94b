"""Quarantine rows keyed on their content, not on the file they came in.

Re-sending an overlapping export (the same file plus one new line) has another
file hash, so the old de-duplication (file hash, row, column, rule) quarantined
the same bad rows again.  ``quarantine.row_key`` is the SHA-256 of the raw
row's values (see ``flows.store.quarantine_row_key``), and
``uq_quarantine_row`` (trial, kind, row_key, column, rule) stores each bad row
once, whichever file brought it.

Rows already quarantined get their key from the archived file they came in
(``ingested_files.archived_path``), or, if it is gone, from their file hash and
row number; the same bad row quarantined again by an earlier overlapping
export is then dropped, the first kept.

Revision ID: 0003_quarantine_row_key
Revises: 0002_audit_chain_amendments
Create Date: 2026-11-30
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from alembic import op

revision = "0003_quarantine_row_key"
down_revision = "0002_audit_chain_amendments"
branch_labels = None
depends_on = None


def _key(values: dict | None, file_hash: str, row_number: int) -> str:
    # flows.store.quarantine_row_key as of this revision, frozen here
    if values is None:
        text = f"file:{file_hash}:row:{int(row_number)}"
    else:
        text = json.dumps(
            {str(k): None if _missing(v) else str(v) for k, v in values.items()},
            sort_keys=True,
            ensure_ascii=False,
        )
    return hashlib.sha256(text.encode()).hexdigest()


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _archived_rows(path: str | None) -> dict[int, dict]:
    """Raw rows of an archived input file by source row ({} if it is gone or unreadable)."""
    from flows.sources import read_table

    if not path or not Path(path).is_file():
        return {}
    try:
        frame = read_table(path)
    except Exception:  # noqa: BLE001 - an unreadable archive falls back to the file key
        return {}
    values = frame.drop(columns="source_row").to_dict("records")
    return dict(zip(frame["source_row"].astype(int), values, strict=True))


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
    archives = dict(
        bind.execute(
            sa.text("SELECT file_hash, max(archived_path) FROM ingested_files GROUP BY file_hash")
        ).all()
    )
    raw: dict[str, dict[int, dict]] = {}
    seen: set[tuple] = set()
    duplicates: list[int] = []
    for row in rows:
        if row.file_hash not in raw:
            raw[row.file_hash] = _archived_rows(archives.get(row.file_hash))
        values = raw[row.file_hash].get(int(row.row_number))
        key = _key(values, row.file_hash, row.row_number)
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
