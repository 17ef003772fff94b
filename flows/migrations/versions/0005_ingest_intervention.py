"""A delivery log is identified by its intervention as well as its bytes.

With several interventions (one per active arm), each has its own delivery
log, and two logs may share a file name (both exported as ``export.csv``) or
even their bytes.  ``ingested_files.intervention`` and
``quarantine.intervention`` record whose log it was (NULL for a design with one
intervention and for surveys and HR extracts, as every row before this
revision), and ``uq_ingested_file`` becomes (trial, kind, file hash,
timepoint, intervention): the same bytes for another intervention are a new
ingest, for the same one still nothing new.

Rows already stored keep NULL: before this revision a second intervention's
copy of the same bytes was never ingested, so no stored row is ambiguous.

Revision ID: 0005_ingest_intervention
Revises: 0004_survey_responses
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_ingest_intervention"
down_revision = "0004_survey_responses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in ("ingested_files", "quarantine"):
        if "intervention" not in {c["name"] for c in sa.inspect(bind).get_columns(table)}:
            op.add_column(table, sa.Column("intervention", sa.String(64)))
    with op.batch_alter_table("ingested_files") as batch:
        batch.drop_constraint("uq_ingested_file", type_="unique")
        batch.create_unique_constraint(
            "uq_ingested_file", ["trial_id", "kind", "file_hash", "timepoint", "intervention"]
        )


def downgrade() -> None:
    with op.batch_alter_table("ingested_files") as batch:
        batch.drop_constraint("uq_ingested_file", type_="unique")
        batch.create_unique_constraint(
            "uq_ingested_file", ["trial_id", "kind", "file_hash", "timepoint"]
        )
        batch.drop_column("intervention")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("intervention")
