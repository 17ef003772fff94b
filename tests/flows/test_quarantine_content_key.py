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


def test_migration_0003_keys_old_rows_on_their_archived_content_and_drops_repeats(tmp_path):
    # a store at revision 0002 that quarantined the same bad row from two overlapping exports
    from alembic import command

    from flows.migrations import _config
    from flows.sources import read_table
    from flows.store import quarantine_row_key

    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(HEADER + "".join(LINES))
    second.write_text(HEADER + "".join(LINES) + "LET00009,nope,2019-06-01\n")
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0002_audit_chain_amendments")
        for path in (first, second):
            conn.execute(
                sa.text(
                    "INSERT INTO ingested_files (trial_id, kind, file_hash, file_name, "
                    "archived_path, rows_read, rows_stored, rows_quarantined, ingested_at) VALUES "
                    "('letters', 'deliveries', :h, :n, :p, 3, 0, 1, '2026-01-01 00:00:00')"
                ),
                {"h": file_hash(path), "n": path.name, "p": str(path)},
            )
        for path, row in ((first, 3), (second, 3), (second, 5)):
            conn.execute(
                sa.text(
                    "INSERT INTO quarantine (trial_id, kind, file_hash, file_name, row_number, "
                    "\"column\", rule, value, message, quarantined_at) VALUES ('letters', "
                    "'deliveries', :h, :n, :r, 'event_type', 'known_event_type', 'x', 'bad', "
                    "'2026-01-01 00:00:00')"
                ),
                {"h": file_hash(path), "n": path.name, "r": row},
            )
    engine.dispose()
    store = Store(url)  # upgrades to head
    held = _quarantined(store)
    assert held[["file_name", "row_number"]].values.tolist() == [["a.csv", 3], ["b.csv", 5]]
    raw = read_table(second).set_index("source_row")
    assert held["row_key"].tolist() == [
        quarantine_row_key(raw.loc[r].to_dict(), file_hash="-", row_number=r) for r in (3, 5)
    ]
