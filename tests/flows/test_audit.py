"""The audit log: who (OS account and host), and a hash chain that shows edits, inserts, deletes."""

from __future__ import annotations

import multiprocessing as mp
import os
import pwd
import socket
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from flows.audit import (
    CHAIN_STARTED,
    current_actor,
    record_audit_event,
    row_digest,
    verify_audit_chain,
)
from flows.store import Store, audit_log
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


def _randomised(name: str = "letters", n: int = 40) -> Store:
    design = load_design(DESIGNS / f"{name}.yaml")
    roster = pd.read_csv(GOLDEN / f"{name}_roster.csv", dtype=str).head(n)
    store = Store()
    store.record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    return store


def _rows(store: Store) -> list[dict]:
    """The audit rows typed as the store reads them (a DataFrame turns null ints into NaN)."""
    with store.engine.connect() as conn:
        query = sa.select(audit_log).order_by(audit_log.c.audit_id)
        return [dict(r) for r in conn.execute(query).mappings()]


def _tamper(store: Store, *statements: str) -> None:
    """What the hostile test did: drop the guard, change the log."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        for statement in statements:
            conn.exec_driver_sql(statement)


def _chain(check) -> list:  # noqa: ANN001
    """The problems the hash chain found (not the allocation cross-check, not a restored guard)."""
    return [p for p in check.problems if p.subject is None and "append-only guard" not in p.problem]


def test_who_is_the_os_account_and_host_and_a_claimed_logname_is_kept_apart(monkeypatch):
    monkeypatch.setenv("LOGNAME", "mallory")
    store = _randomised()
    audit = store.audit("letters")
    account = pwd.getpwuid(os.geteuid()).pw_name
    assert set(audit["who"]) == {account}
    assert set(audit["os_user"]) == {account}
    assert set(audit["host"]) == {socket.gethostname()}
    assert set(audit["claimed_user"]) == ({"mallory"} if account != "mallory" else {None})


def test_an_honest_claimed_name_is_not_repeated(monkeypatch):
    monkeypatch.setenv("LOGNAME", pwd.getpwuid(os.geteuid()).pw_name)
    assert current_actor().claimed_user is None


def test_an_untouched_log_verifies_and_every_row_is_chained():
    store = _randomised()
    record_audit_event(store, "letters", "export-written", {"files": 3}, file_hash="ab" * 32)
    check = verify_audit_chain(store, "letters")
    audit = store.audit("letters")
    assert check.ok, [p.line() for p in check.problems]
    assert check.rows == len(audit) and check.head_hash == audit["row_hash"].iloc[-1]
    assert (audit["prev_hash"].iloc[1:].to_numpy() == audit["row_hash"].iloc[:-1].to_numpy()).all()
    assert all(row_digest(r) == r["row_hash"] for r in _rows(store))


def test_an_edited_row_is_found_even_after_the_trigger_was_dropped_and_recreated():
    store = _randomised()
    victim = int(store.audit("letters")["audit_id"].iloc[5])
    _tamper(store, f"UPDATE audit_log SET arm = 'letter', who = 'x' WHERE audit_id = {victim}")
    reopened = Store()  # puts the trigger back, and now says so in the log
    audit = reopened.audit("*")
    assert audit["event"].tolist()[-1] == "append-only-guard-restored"
    check = verify_audit_chain(reopened)
    assert [p.audit_id for p in _chain(check)] == [victim]
    assert "edited" in _chain(check)[0].problem
    # the restored guard is a problem of its own, as is the audit row disagreeing with its allocation
    assert any("guard of audit_log was found missing" in p.problem for p in check.problems)
    assert any(p.subject and "the allocation was edited" in p.problem for p in check.problems)


def test_an_edited_and_rehashed_row_breaks_the_link_to_the_next_row():
    store = _randomised()
    rows = _rows(store)
    row = dict(rows[7])
    row["arm"] = "letter" if row["arm"] == "control" else "control"
    forged = row_digest(row)
    _tamper(
        store,
        f"UPDATE audit_log SET arm = '{row['arm']}', row_hash = '{forged}' "
        f"WHERE audit_id = {row['audit_id']}",
    )
    check = verify_audit_chain(store)
    assert [p.audit_id for p in _chain(check)] == [rows[8]["audit_id"]]
    assert "prev_hash does not match" in _chain(check)[0].problem


def test_a_deleted_row_leaves_a_gap_in_the_chain():
    store = _randomised()
    ids = store.audit("letters")["audit_id"].tolist()
    _tamper(store, f"DELETE FROM audit_log WHERE audit_id = {ids[10]}")
    check = verify_audit_chain(store)
    assert [p.audit_id for p in _chain(check)] == [ids[11]]
    assert f"ids jump from {ids[9]} to {ids[11]}" in _chain(check)[0].problem


@pytest.mark.parametrize("forged", [None, "f" * 64])
def test_an_inserted_row_is_found(forged):
    store = _randomised()
    ids = store.audit("letters")["audit_id"].tolist()
    # squeeze a row in: free an id in the middle, then write a new row with it
    hash_sql = "NULL" if forged is None else f"'{forged}'"
    _tamper(
        store,
        f"INSERT INTO audit_log (audit_id, trial_id, event, who, at, unit_id, arm, prev_hash,"
        f" row_hash) VALUES ({ids[-1] + 1}, 'letters', 'allocated', 'root', "
        f"'2026-01-01 00:00:00.000000', 'EXTRA', 'letter', {hash_sql}, {hash_sql})",
    )
    check = verify_audit_chain(store)
    assert not check.ok
    assert check.problems[0].audit_id == ids[-1] + 1


def test_a_store_written_before_the_chain_is_sealed_on_first_open(tmp_path):
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE audit_log (audit_id INTEGER PRIMARY KEY, trial_id VARCHAR(64) NOT NULL,"
        " event VARCHAR(32) NOT NULL, who VARCHAR(128) NOT NULL, at DATETIME NOT NULL,"
        " round INTEGER, unit_id VARCHAR(128), arm VARCHAR(64), sequence VARCHAR(16),"
        " sequence_position INTEGER, seed BIGINT, design_hash VARCHAR(64),"
        " algorithm_version VARCHAR(64), details_json TEXT)"
    )
    con.executemany(
        "INSERT INTO audit_log (trial_id, event, who, at, unit_id, arm) VALUES (?,?,?,?,?,?)",
        [
            # not 'allocated': this store has no allocations table for them to match
            ("old", "letters-rendered", "mallory", "2025-01-01 09:00:00.000000", f"U{i}", "a")
            for i in range(5)
        ],
    )
    for action in ("update", "delete"):  # as the earlier trialflow made them
        con.execute(
            f"CREATE TRIGGER audit_log_no_{action} BEFORE {action.upper()} ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )
    con.commit()
    con.close()
    store = Store(f"sqlite:///{path}")
    audit = store.read(sa.text("SELECT * FROM audit_log ORDER BY audit_id"))
    assert audit["event"].tolist()[-1] == CHAIN_STARTED
    assert '"unhashed_rows": 5' in audit["details_json"].iloc[-1]
    assert verify_audit_chain(store).ok
    # the old rows are now covered: editing one shows
    _tamper(store, "UPDATE audit_log SET arm = 'b' WHERE audit_id = 2")
    check = verify_audit_chain(store)
    assert [p.audit_id for p in _chain(check)] == [6]
    assert "unhashed rows 1-5" in _chain(check)[0].problem


def _append_events(home: str, worker: int, n: int) -> None:
    os.environ["TRIALFLOW_HOME"] = home
    store = Store()
    for i in range(n):
        record_audit_event(store, "letters", "stress", {"worker": worker, "i": i})


def test_concurrent_appenders_do_not_fork_the_chain(_isolated_home):
    store = _randomised(n=10)
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_append_events, args=(str(_isolated_home), w, 15)) for w in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    audit = store.audit("letters")
    assert (audit["event"] == "stress").sum() == 60
    assert audit["prev_hash"].is_unique
    check = verify_audit_chain(store)
    assert check.ok, [p.line() for p in check.problems]


def test_cli_audit_verify_exits_1_naming_the_row_and_0_on_an_intact_chain():
    from typer.testing import CliRunner

    from flows.cli import app

    store = _randomised()
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "letters"])
    assert ok.exit_code == 0, ok.output
    assert "Audit chain intact" in ok.output and "head hash" in ok.output
    victim = int(store.audit("letters")["audit_id"].iloc[3])
    _tamper(store, f"UPDATE audit_log SET arm = 'x' WHERE audit_id = {victim}")
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"row {victim}: its contents do not match its row_hash" in broken.output
    # the edited row, the guard the CLI's store put back, the allocation the row no longer matches
    assert "The audit chain is broken: 3 problem(s)" in broken.output
