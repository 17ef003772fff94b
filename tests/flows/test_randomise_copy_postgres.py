"""On PostgreSQL a randomisation's rows go in by COPY (issue 18.3): the same rows, keys,
hash chain and append-only triggers as the SQLite store's INSERTs, in one transaction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import flows.store.bulk as bulk
from flows.audit import verify_audit_chain
from flows.store import Store
from flows.store.schema import allocations, audit_log, participant_pii, participants
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"
TABLES = {
    allocations: allocations.c.allocation_id,
    participants: participants.c.participant_id,
    participant_pii: participant_pii.c.participant_id,
    audit_log: audit_log.c.audit_id,
}
NOW = dt.datetime(2026, 12, 1, 9, 30, 0, 250_000)


def _randomise(url: str, chunk_rows: int, monkeypatch) -> tuple[Store, dict]:
    monkeypatch.setattr(bulk, "INSERT_CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr("flows.store.randomisations.INSERT_CHUNK_ROWS", chunk_rows)
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    pii = roster[["id"]].rename(columns={"id": "participant_id"}).assign(first_name="Ann")
    store = Store(url)
    store.record_randomisation(
        design=design, allocation=randomise(roster, design), roster=roster, pii=pii
    )
    with store.engine.connect() as conn:
        rows = {t.name: conn.execute(sa.select(t).order_by(key)).all() for t, key in TABLES.items()}
    return store, rows


def test_postgres_copy_stores_the_rows_the_sqlite_inserts_store(
    tmp_path, postgres_url, monkeypatch
):
    # the same clock for both stores, so the audit rows (and their hashes) can be compared
    monkeypatch.setattr("flows.store.randomisations.utc_now", lambda: NOW)
    copied: dict[str, int] = {}
    copy_rows = bulk.copy_rows

    def spy(conn, table, columns, rows, **kw):  # noqa: ANN001, ANN003
        copied[table.name] = copied.get(table.name, 0) + (
            n := copy_rows(conn, table, columns, rows, **kw)
        )
        return n

    monkeypatch.setattr(bulk, "copy_rows", spy)
    inserts: list[str] = []

    def record(conn, cursor, statement, *rest):  # noqa: ANN001, ANN002
        inserts.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        sqlite_store, on_sqlite = _randomise(f"sqlite:///{tmp_path / 'a.db'}", 50, monkeypatch)
        assert copied == {}
        assert any(s.startswith("INSERT INTO allocations") for s in inserts)  # the spy sees them
        inserts.clear()
        pg_store, on_postgres = _randomise(postgres_url, 50, monkeypatch)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    n = len(on_sqlite["allocations"])
    assert n > 300  # several chunks of 50
    # every row went by COPY on PostgreSQL, none by an INSERT through SQLAlchemy
    assert copied == {"allocations": n, "participants": n, "participant_pii": n, "audit_log": n + 1}
    written = ("allocations", "participants", "participant_pii", "audit_log")
    assert not [
        s for s in inserts if s.lstrip().startswith(tuple(f"INSERT INTO {t} " for t in written))
    ]
    for table in TABLES:
        assert on_postgres[table.name] == on_sqlite[table.name], table.name
    assert verify_audit_chain(pg_store).ok and verify_audit_chain(sqlite_store).ok
    # the append-only trigger acts on COPY's rows as on an INSERT's
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), pg_store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE allocations SET arm = 'x'"))
