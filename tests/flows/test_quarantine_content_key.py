"""The same bad row sent again in an overlapping export is quarantined once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from flows.sources import file_hash
from flows.store import Store, quarantine

HEADER = "unit_id,event_type,date\n"
LINES = [
    "LET00001,letter_sent,2019-05-01\n",
    "LET00002,bogus,2019-05-01\n",
    "LET00003,,2019-05-02\n",
]


def _problems(rows: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_row": rows,
            "column": ["event_type"] * len(rows),
            "rule": ["known_event_type"] * len(rows),
            "value": ["x"] * len(rows),
            "message": ["not an event type"] * len(rows),
        }
    )


def _ingest(store: Store, path: Path, rows: list[int]) -> None:
    with store.transaction() as conn:
        store.record_ingest(
            conn,
            trial_id="letters",
            kind="deliveries",
            file_name=path.name,
            file_hash=file_hash(path),
            archived_path=str(path),
            timepoint=None,
            rows_read=len(path.read_text().splitlines()) - 1,
            rows_stored=0,
            problems=_problems(rows),
        )


def _quarantined(store: Store) -> pd.DataFrame:
    return store.read(sa.select(quarantine).order_by(quarantine.c.quarantine_id))


def test_an_overlapping_export_does_not_quarantine_the_same_rows_again(tmp_path):
    store = Store()
    first = tmp_path / "deliveries_may.csv"
    first.write_text(HEADER + "".join(LINES))
    _ingest(store, first, [3, 4])
    assert len(_quarantined(store)) == 2
    # the same export plus one new (bad) line, and the new line moved to the top
    second = tmp_path / "deliveries_may_june.csv"
    second.write_text(HEADER + "LET00004,oops,2019-06-01\n" + "".join(LINES))
    _ingest(store, second, [2, 4, 5])
    held = _quarantined(store)
    assert len(held) == 3, held[["file_name", "row_number"]]
    assert held["file_name"].tolist() == [first.name, first.name, second.name]
    assert held["row_number"].tolist() == [3, 4, 2]
    # the very same file again adds nothing either
    _ingest(store, second, [2, 4, 5])
    assert len(_quarantined(store)) == 3


def test_two_different_bad_rows_with_the_same_value_are_both_kept(tmp_path):
    store = Store()
    path = tmp_path / "d.csv"
    path.write_text(HEADER + "LET00002,bogus,2019-05-01\nLET00005,bogus,2019-05-01\n")
    _ingest(store, path, [2, 3])
    assert len(_quarantined(store)) == 2
