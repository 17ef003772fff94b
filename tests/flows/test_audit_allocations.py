"""`audit verify` checks the allocations against their audit rows and reports a restored guard."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.audit import verify_audit_chain
from flows.cli import app
from flows.store import Store
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


def _randomised(n: int = 20) -> Store:
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(n)
    store = Store()
    store.record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    return store


def _sql(store: Store, *statements: str) -> None:
    with store.engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def _victim(store: Store) -> tuple[str, str]:
    row = store.allocations("letters").iloc[3]
    return row["unit_id"], row["arm"]


def test_a_flipped_allocation_is_reported_with_the_unit_and_both_arms():
    store = _randomised()
    unit, arm = _victim(store)
    other = "letter" if arm == "control" else "control"
    _sql(
        store,
        "DROP TRIGGER allocations_no_update",
        f"UPDATE allocations SET arm = '{other}' WHERE unit_id = '{unit}'",
    )
    check = verify_audit_chain(Store())  # reopening restores the guard
    lines = [p.line() for p in check.problems]
    assert not check.ok
    assert any(
        f"unit '{unit}'" in line and f"arm '{other}' where the audit log says '{arm}'" in line
        for line in lines
    ), lines
    assert any("guard of allocations was found missing and restored" in line for line in lines)


def test_a_deleted_allocation_is_reported():
    store = _randomised()
    unit, _arm = _victim(store)
    _sql(
        store,
        "DROP TRIGGER allocations_no_delete",
        f"DELETE FROM allocations WHERE unit_id = '{unit}'",
    )
    check = verify_audit_chain(store)  # not reopened: the guard is still missing
    assert [p.line() for p in check.problems] == [
        p.line() for p in check.problems if f"unit '{unit}'" in p.line()
    ]
    assert len(check.problems) == 1
    assert "has no allocation row" in check.problems[0].problem


def test_an_inserted_allocation_is_reported():
    store = _randomised()
    _sql(
        store,
        "INSERT INTO allocations (trial_id, round, unit_id, unit_kind, stratum, arm, sequence,"
        " sequence_position, allocated_at, design_hash, algorithm_version) SELECT trial_id,"
        " round, 'FAKE1', unit_kind, stratum, 'letter', sequence, 99, allocated_at,"
        " design_hash, algorithm_version FROM allocations LIMIT 1",
    )
    check = verify_audit_chain(store)
    assert len(check.problems) == 1
    assert "unit 'FAKE1'" in check.problems[0].line()
    assert "no 'allocated' or 'enrolled' audit row" in check.problems[0].problem


def test_a_restored_guard_alone_fails_verify_naming_the_table_and_when():
    store = _randomised()
    assert verify_audit_chain(store).ok
    _sql(store, "DROP TRIGGER amendments_no_delete")
    reopened = Store()
    restored = reopened.audit("*")
    assert restored["event"].tolist()[-1] == "append-only-guard-restored"
    result = CliRunner().invoke(app, ["audit", "verify"])
    assert result.exit_code == 1, result.output
    flat = " ".join(result.output.split())
    assert "append-only guard of amendments was found missing and restored at" in flat
    assert str(restored["at"].iloc[-1].date()) in flat


@pytest.mark.parametrize("args", [["audit", "verify", "nosuch"]])
def test_verify_of_an_unknown_trial_exits_1(args):
    _randomised()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "unknown trial" in result.output
    ok = CliRunner().invoke(app, ["audit", "verify", "letters"])
    assert ok.exit_code == 0, ok.output
