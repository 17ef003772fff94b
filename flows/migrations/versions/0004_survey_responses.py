"""Survey values move from one row per value to one row per response (issue 18.3).

``outcome_values`` held every survey answer and score as its own row: 9M rows
for 1M responses, and a store stage of 27 s that no tuning of that layout
could bring under the ingest's 30 s target.  ``survey_responses`` holds one
row per response (trial, participant, timepoint, part) with its values as one
JSON object; flows.store.responses says why and gives the measured figures.

Every survey value already stored moves, in place, with its rule, date, file
and row: the values of one response (one file's row) become one row; a
response whose values came from more than one file (a later file that added
measures) becomes parts 0, 1, ... in the order the files were ingested.
A value is a survey value when its file is on record (``ingested_files``) as
a survey of that trial and timepoint, and as nothing else; every other value
(HR measures, and any value whose file is not on record) stays in
``outcome_values``, which the readers read too, so no value is lost or
changed either way.  Numbers are written with Python's ``repr`` and read with
``json.loads``, which round-trip every double exactly.

Revision ID: 0004_survey_responses
Revises: 0003_quarantine_row_key
Create Date: 2026-11-30
"""

from __future__ import annotations

import itertools
import json

import sqlalchemy as sa
from alembic import op

revision = "0004_survey_responses"
down_revision = "0003_quarantine_row_key"
branch_labels = None
depends_on = None

#: Participants moved per batch: bounds the memory of a store of millions of responses.
_BATCH = 20_000

_values = sa.table(
    "outcome_values",
    sa.column("trial_id", sa.String),
    sa.column("participant_id", sa.String),
    sa.column("timepoint", sa.String),
    sa.column("measure", sa.String),
    sa.column("value", sa.Float),
    sa.column("rule", sa.Text),
    sa.column("collected_on", sa.Date),
    sa.column("source_file", sa.Text),
    sa.column("source_row", sa.Integer),
)
_files = sa.table(
    "ingested_files",
    sa.column("file_id", sa.Integer),
    sa.column("trial_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("file_name", sa.Text),
    sa.column("timepoint", sa.String),
)


def _responses_table(metadata: sa.MetaData) -> sa.Table:
    # flows.store.schema.survey_responses as of this revision, frozen here
    return sa.Table(
        "survey_responses",
        metadata,
        sa.Column("trial_id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.String(128), primary_key=True),
        sa.Column("timepoint", sa.String(32), primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("collected_on", sa.Date),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("source_row", sa.Integer, nullable=False),
        sa.Column("n_values", sa.Integer, nullable=False),
        sa.Column("values_json", sa.Text, nullable=False),
        sa.Column("rules_json", sa.Text),
    )


def _number(value: float | None) -> str:
    return "null" if value is None or value != value else repr(float(value))


def _survey_files(bind: sa.Connection) -> dict[tuple[str, str], dict[str, int]]:
    """(trial, timepoint) -> {file name: ingest order} of the files on record only as surveys."""
    rows = bind.execute(
        sa.select(
            _files.c.file_id,
            _files.c.trial_id,
            _files.c.timepoint,
            _files.c.file_name,
            _files.c.kind,
        ).order_by(_files.c.file_id)
    ).all()
    other = {(r.trial_id, r.timepoint, r.file_name) for r in rows if r.kind != "survey"}
    found: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        if (
            r.kind == "survey"
            and r.timepoint is not None
            and (r.trial_id, r.timepoint, r.file_name) not in other
        ):
            found.setdefault((r.trial_id, r.timepoint), {}).setdefault(r.file_name, r.file_id)
    return found


def _response_rows(values: list, order: dict[str, int]) -> list[dict]:
    """One participant's long rows at one timepoint as response rows, part by part."""
    rows = []
    groups: dict[tuple, list] = {}
    for v in values:
        groups.setdefault((v.source_file, v.source_row), []).append(v)
    ranked = sorted(groups, key=lambda k: (order.get(k[0], 0), k[0], k[1]))
    for part, key in enumerate(ranked):
        group = groups[key]
        rules = {v.measure: v.rule for v in group if v.rule is not None}
        rows.append(
            {
                "trial_id": group[0].trial_id,
                "participant_id": group[0].participant_id,
                "timepoint": group[0].timepoint,
                "part": part,
                "collected_on": next((v.collected_on for v in group if v.collected_on), None),
                "source_file": key[0],
                "source_row": key[1],
                "n_values": len(group),
                "values_json": "{"
                + ",".join(f"{json.dumps(v.measure)}:{_number(v.value)}" for v in group)
                + "}",
                "rules_json": json.dumps(rules, ensure_ascii=False) if rules else None,
            }
        )
    return rows


def upgrade() -> None:
    bind = op.get_bind()
    metadata = sa.MetaData()
    responses = _responses_table(metadata)
    metadata.create_all(bind, checkfirst=True)
    o = _values.c
    for (trial_id, timepoint), files in _survey_files(bind).items():
        names = list(files)
        where = sa.and_(o.trial_id == trial_id, o.timepoint == timepoint, o.source_file.in_(names))
        # the participants in the database's own order, so a batch is a BETWEEN range
        people = list(
            bind.execute(
                sa.select(o.participant_id).where(where).distinct().order_by(o.participant_id)
            ).scalars()
        )
        for start in range(0, len(people), _BATCH):
            batch = people[start : start + _BATCH]
            values = bind.execute(
                sa.select(_values)
                .where(where, o.participant_id.between(batch[0], batch[-1]))
                .order_by(o.participant_id, o.measure)
            ).all()
            rows = [
                row
                for _, group in itertools.groupby(values, key=lambda v: v.participant_id)
                for row in _response_rows(list(group), files)
            ]
            if rows:
                bind.execute(responses.insert(), rows)
        bind.execute(_values.delete().where(where))


def downgrade() -> None:
    bind = op.get_bind()
    responses = _responses_table(sa.MetaData())
    long = []
    for r in bind.execute(sa.select(responses)).mappings():
        rules = json.loads(r["rules_json"]) if r["rules_json"] else {}
        for measure, value in json.loads(r["values_json"]).items():
            long.append(
                {
                    "trial_id": r["trial_id"],
                    "participant_id": r["participant_id"],
                    "timepoint": r["timepoint"],
                    "measure": measure,
                    "value": value,
                    "rule": rules.get(measure),
                    "collected_on": r["collected_on"],
                    "source_file": r["source_file"],
                    "source_row": r["source_row"],
                }
            )
    if long:
        bind.execute(_values.insert(), long)
    op.drop_table("survey_responses")
