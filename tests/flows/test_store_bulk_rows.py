"""The randomisation's bulk write (flows.store.bulk.insert_rows): same rows as
SQLAlchemy's insert, and a failure still stores nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from flows.audit import verify_audit_chain
from flows.store import Store
from flows.store.bulk import insert_rows
from flows.store.schema import allocations
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"
on_both = pytest.mark.usefixtures("store_backend")


def _allocation_row(unit: str, at: dt.datetime) -> dict:
    return {
        "trial_id": "t",
        "round": 1,
        "unit_id": unit,
        "unit_kind": "participant",
        "stratum": "all",
        "arm": "control",
        "sequence": "initial",
        "sequence_position": int(unit[1:]),
        "allocated_at": at,
        "design_hash": "h" * 64,
        "algorithm_version": "v",
    }


@on_both
def test_rows_are_stored_as_sqlalchemys_insert_stores_them():
    store = Store()
    with store.transaction() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO trials (trial_id, title, design_hash, design_json, "
                "active_round, created_at) VALUES ('t', 't', 'h', '{}', 1, "
                "'2026-01-01 00:00:00.000000')"
            )
        )
        # on the hour (no microseconds) and with a zone: the cases a naive adapter gets wrong
        at = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
        conn.execute(allocations.insert(), [_allocation_row("u1", at)])
        assert insert_rows(conn, allocations, [_allocation_row("u2", at)]) == 1
    with store.engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT unit_id, allocated_at FROM allocations ORDER BY unit_id")
        ).all()
        typed = conn.execute(sa.select(allocations.c.allocated_at)).scalars().all()
    assert stored[0][1] == stored[1][1]  # the same text (SQLite) or value (PostgreSQL)
    assert typed[0] == typed[1]


@on_both
def test_a_randomisation_that_fails_midway_stores_nothing_and_keeps_the_chain():
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    allocation = randomise(roster, design)
    # the same unit twice: the unique key refuses the second, after thousands of rows went in
    units = pd.concat([allocation.units, allocation.units.tail(1)], ignore_index=True)
    broken = type(allocation)(**{**allocation.__dict__, "units": units})
    store = Store()
    with pytest.raises(sa.exc.IntegrityError):
        store.record_randomisation(design=design, allocation=broken, roster=roster)
    assert store.allocations("letters").empty
    assert store.trial("letters") is None
    assert store.audit("letters").empty
    store.record_randomisation(design=design, allocation=allocation, roster=roster)
    assert len(store.allocations("letters")) == len(allocation.units)
    assert verify_audit_chain(store).ok


def test_postgres_copy_stores_a_zoned_time_as_an_insert_does(postgres_url):
    # COPY's text drops a zone ('09:00+00' read as 09:00); an INSERT converts it to the
    # session's zone. In London's summer time the two differ by an hour.
    store = Store(postgres_url)
    at = dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC)
    with store.transaction() as conn:
        conn.exec_driver_sql("SET LOCAL TimeZone = 'Europe/London'")
        conn.execute(
            sa.text(
                "INSERT INTO trials (trial_id, title, design_hash, design_json, "
                "active_round, created_at) VALUES ('t', 't', 'h', '{}', 1, '2026-01-01')"
            )
        )
        conn.execute(allocations.insert(), [_allocation_row("u1", at)])
        rows = [_allocation_row(f"u{i}", at) for i in range(2, 5)]
        rows[1]["allocated_at"] = at.replace(tzinfo=None)  # a naive one beside, as it is
        assert insert_rows(conn, allocations, rows) == 3
    with store.engine.connect() as conn:
        stored = dict(
            conn.execute(sa.select(allocations.c.unit_id, allocations.c.allocated_at)).all()
        )
    assert stored["u1"] == dt.datetime(2026, 7, 1, 10, 0)
    assert stored["u2"] == stored["u4"] == stored["u1"]
    assert stored["u3"] == dt.datetime(2026, 7, 1, 9, 0)


def test_rows_written_in_chunks_are_the_rows_written_at_once(tmp_path, monkeypatch):
    # the audit rows are appended a chunk per call, each chained onto the one before: the
    # chain (and every other row) must be the one a single call writes
    from flows.store.schema import audit_log, participant_pii, participants

    now = dt.datetime(2026, 12, 1, 9, 30)
    monkeypatch.setattr("flows.store.randomisations.utc_now", lambda: now)
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    pii = roster[["id"]].rename(columns={"id": "participant_id"}).assign(first_name="Ann")
    stored = []
    for chunk_rows in (7, 1_000_000):
        monkeypatch.setattr("flows.store.bulk.INSERT_CHUNK_ROWS", chunk_rows)
        monkeypatch.setattr("flows.store.randomisations.INSERT_CHUNK_ROWS", chunk_rows)
        store = Store(f"sqlite:///{tmp_path / f'{chunk_rows}.db'}")
        store.record_randomisation(
            design=design, allocation=randomise(roster, design), roster=roster, pii=pii
        )
        assert verify_audit_chain(store).ok
        with store.engine.connect() as conn:
            stored.append(
                [
                    conn.execute(sa.select(t).order_by(*t.primary_key.columns)).all()
                    for t in (allocations, participants, participant_pii, audit_log)
                ]
            )
    assert len(stored[0][0]) == len(roster) and len(stored[0][3]) == len(roster) + 1
    assert stored[0] == stored[1]
