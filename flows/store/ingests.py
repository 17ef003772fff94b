"""The store's record of an ingested file: its quarantined rows, its file record and audit row.

A quarantined row is keyed on its content (:func:`quarantine_row_key`), so the same
bad row sent again, in the same file or an overlapping export, is stored once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from flows.audit import append_audit_rows
from flows.store.schema import ingested_files, quarantine
from flows.store.values import is_present, utc_now

__all__ = ["IngestRecords", "IngestSummary", "quarantine_row_key"]


def quarantine_row_key(
    values: dict | None, *, file_hash: str, row_number: int, intervention: str | None = None
) -> str:
    """The content key of a quarantined row: SHA-256 of its raw values, by column name.

    Without the raw row (the archived file unreadable), the key falls back to the
    file hash and row number, which only matches the same file sent again.  A row
    of one intervention's delivery log (``intervention``, with several) is keyed
    with it: the same bad line in two interventions' logs is two rows to fix.
    """
    import hashlib

    if values is None:
        text = f"file:{file_hash}:row:{int(row_number)}"
    else:
        text = json.dumps(
            {str(k): None if not is_present(v) else str(v) for k, v in values.items()},
            sort_keys=True,
            ensure_ascii=False,
        )
    if intervention is not None:  # None keeps the key every earlier row was stored under
        text = f"intervention:{intervention}:{text}"
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


class IngestRecords:
    """The :class:`~flows.store.Store` methods that record an ingested file and read it back.

    A part of :class:`~flows.store.Store` (which provides ``engine``,
    ``insert_new`` and ``read``).
    """

    def previous_ingest(
        self,
        *,
        trial_id: str,
        kind: str,
        file_hash: str,
        timepoint: str | None,
        intervention: str | None = None,
    ) -> dict | None:
        """The record of an earlier ingest of the same bytes (for the same intervention), if any."""
        c = ingested_files.c
        query = sa.select(ingested_files).where(
            c.trial_id == trial_id,
            c.kind == kind,
            c.file_hash == file_hash,
            c.timepoint.is_(None) if timepoint is None else c.timepoint == timepoint,
            c.intervention.is_(None) if intervention is None else c.intervention == intervention,
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

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
        intervention: str | None = None,
    ) -> IngestSummary:
        """Write the quarantine rows and the file record, inside the caller's transaction.

        ``intervention`` names whose delivery log it is when the design has several.
        """
        now = utc_now()
        rows = [
            {
                "trial_id": trial_id,
                "kind": kind,
                "file_hash": file_hash,
                "file_name": file_name,
                "intervention": intervention,
                "row_number": int(p["source_row"]),
                "column": str(p["column"]),
                "rule": str(p["rule"]),
                "value": None if not is_present(p["value"]) else str(p["value"]),
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
                    raw.get(row["row_number"]),
                    file_hash=file_hash,
                    row_number=row["row_number"],
                    intervention=intervention,
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
                intervention=intervention,
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
