"""The append-only guards and the hash-chained audit log on a real PostgreSQL server.

The same properties tests/flows/test_audit.py holds SQLite to: UPDATE and
DELETE refused by the database, an edit made behind the guard's back found by
``verify``, and concurrent appenders (serialised by flows.audit's advisory
lock, on PostgreSQL only) leaving one unforked chain.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from flows.audit import record_audit_event, verify_audit_chain
from flows.store import Store
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


@pytest.fixture
def pg_store(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    """letters, 40 people, randomised into a store on its own PostgreSQL database."""
    monkeypatch.setenv("TRIALFLOW_DATABASE_URL", postgres_url)
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(40)
    store = Store()
    assert store.engine.dialect.name == "postgresql"
    store.record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    record_audit_event(store, "letters", "amendment-test", {"x": 1})
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO amendments (trial_id, old_hash, new_hash, changes_json, reason, who,"
                " at) VALUES ('letters', 'a', 'b', '{}', 'r', 'w', now())"
            )
        )
    return store


@pytest.mark.parametrize("table", ["audit_log", "allocations", "amendments"])
@pytest.mark.parametrize("statement", ["UPDATE {table} SET trial_id = 'x'", "DELETE FROM {table}"])
def test_update_and_delete_are_refused_by_the_server(pg_store, table, statement):
    before = pg_store.read(sa.text(f"SELECT * FROM {table}"))
    assert len(before)
    with (
        pytest.raises(sa.exc.DBAPIError, match=f"{table} is append-only"),
        pg_store.engine.begin() as conn,
    ):
        conn.exec_driver_sql(statement.format(table=table))
    after = pg_store.read(sa.text(f"SELECT * FROM {table}"))
    pd.testing.assert_frame_equal(after, before)


def test_an_edit_behind_the_guard_is_found_and_the_guard_restored(pg_store):
    assert verify_audit_chain(pg_store).ok
    victim = int(pg_store.audit("letters")["audit_id"].iloc[5])
    with pg_store.engine.begin() as conn:  # what a hostile superuser could do
        conn.exec_driver_sql("DROP TRIGGER audit_log_append_only ON audit_log")
        conn.exec_driver_sql(f"UPDATE audit_log SET arm = 'forged' WHERE audit_id = {victim}")
    reopened = Store()  # puts the trigger back, and says so in the log
    assert reopened.audit("*")["event"].tolist()[-1] == "append-only-guard-restored"
    with (
        pytest.raises(sa.exc.DBAPIError, match="audit_log is append-only"),
        reopened.engine.begin() as conn,
    ):
        conn.exec_driver_sql("DELETE FROM audit_log")
    check = verify_audit_chain(reopened)
    chain = [p for p in check.problems if p.subject is None and "guard" not in p.problem]
    assert [p.audit_id for p in chain] == [victim]
    assert "edited" in chain[0].problem
    assert any("guard of audit_log was found missing" in p.problem for p in check.problems)


def test_a_deleted_row_leaves_a_gap(pg_store):
    ids = pg_store.audit("letters")["audit_id"].tolist()
    with pg_store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        conn.exec_driver_sql(f"DELETE FROM audit_log WHERE audit_id = {ids[10]}")
        conn.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    check = verify_audit_chain(pg_store)
    chain = [p for p in check.problems if p.subject is None]
    assert [p.audit_id for p in chain] == [ids[11]]
    assert f"ids jump from {ids[9]} to {ids[11]}" in chain[0].problem
    # the deleted row was an 'allocated' row: its allocation now has none
    assert [p.problem for p in check.problems if p.subject] == [
        p.problem for p in check.problems if "no 'allocated' or 'enrolled' audit row" in p.problem
    ]


def test_a_flipped_allocation_behind_a_disabled_guard_is_found(pg_store):
    unit, arm = pg_store.allocations("letters")[["unit_id", "arm"]].iloc[2]
    other = "control" if arm != "control" else "letter"
    with pg_store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE allocations DISABLE TRIGGER allocations_append_only")
        conn.exec_driver_sql(f"UPDATE allocations SET arm = '{other}' WHERE unit_id = '{unit}'")
        conn.exec_driver_sql("ALTER TABLE allocations ENABLE TRIGGER allocations_append_only")
    check = verify_audit_chain(pg_store)
    assert [p.subject for p in check.problems] == [
        f"allocation of unit '{unit}' (trial 'letters', round 1)"
    ]
    assert f"arm '{other}' where the audit log says '{arm}'" in check.problems[0].problem


def _append_events(url: str, worker: int, n: int, barrier) -> None:  # runs in a child process
    os.environ["TRIALFLOW_DATABASE_URL"] = url
    store = Store()
    barrier.wait(120)  # a sibling that died before the race must not hang the suite
    for i in range(n):
        record_audit_event(store, "letters", "stress", {"worker": worker, "i": i})


def test_eight_concurrent_appenders_do_not_fork_the_chain(pg_store):
    n_workers, n_each = 8, 15
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(n_workers)
    url = pg_store.url
    procs = [
        ctx.Process(target=_append_events, args=(url, w, n_each, barrier)) for w in range(n_workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0] * n_workers
    audit = pg_store.audit("letters")
    stress = audit[audit["event"] == "stress"]
    assert len(stress) == n_workers * n_each
    # the writers interleaved (or the lock proved nothing) ...
    workers = stress["details_json"].str.extract(r'"worker": (\d+)')[0]
    assert (workers != workers.shift()).sum() > n_workers
    # ... and yet every row chains onto exactly one predecessor
    everything = pg_store.read(sa.text("SELECT audit_id, prev_hash FROM audit_log"))
    assert everything["prev_hash"].is_unique
    check = verify_audit_chain(pg_store)
    assert check.ok, [p.line() for p in check.problems]
