from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from flows.enrol import enrol_late_entrants
from flows.store import AlreadyRandomisedError, Store
from intake.roster import check_roster
from tests.designs import DESIGNS
from trial_designs.allocate import sequence_slot
from trial_designs.design import ALGORITHM_VERSION, load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"

# Every test but the first runs on SQLite and on PostgreSQL (tests/flows/conftest.py).
on_both = pytest.mark.usefixtures("store_backend")


def _randomised(name: str = "letters") -> tuple[Store, object, pd.DataFrame]:
    design = load_design(DESIGNS / f"{name}.yaml")
    roster = pd.read_csv(GOLDEN / f"{name}_roster.csv", dtype=str)
    store = Store()
    store.record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    return store, design, roster


def test_store_defaults_to_sqlite_in_wal_mode_under_trialflow_home(_isolated_home):
    store = Store()
    assert store.url == f"sqlite:///{_isolated_home / 'trialflow.db'}"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@on_both
def test_randomising_twice_is_refused_and_force_is_logged():
    store, design, roster = _randomised()
    before = store.allocations("letters")
    with pytest.raises(
        AlreadyRandomisedError,
        match=r"^Trial 'letters' was already randomised \(391 units in round 1, design [0-9a-f]{12}\)\. Refusing",
    ):
        store.record_randomisation(
            design=design, allocation=randomise(roster, design), roster=roster
        )
    pd.testing.assert_frame_equal(store.allocations("letters"), before)
    round_no = store.record_randomisation(
        design=design,
        allocation=randomise(roster, design),
        roster=roster,
        force_reason="wrong roster uploaded",
    )
    assert round_no == 2
    with store.engine.connect() as conn:
        rounds = conn.execute(
            sa.text("SELECT round, count(*) FROM allocations GROUP BY round")
        ).all()
    assert sorted(rounds) == [(1, 391), (2, 391)]  # nothing was overwritten
    audit = store.audit("letters")
    forced = audit[audit["event"] == "re-randomised"]
    assert len(forced) == 1 and "wrong roster uploaded" in forced["details_json"].iloc[0]


@on_both
def test_allocations_and_audit_are_append_only():
    store, _design, _roster = _randomised()
    for statement in (
        "UPDATE allocations SET arm = 'control'",
        "DELETE FROM allocations",
        "DELETE FROM audit_log",
    ):
        with (
            pytest.raises(sa.exc.DatabaseError, match="is append-only"),
            store.engine.begin() as conn,
        ):
            conn.exec_driver_sql(statement)
    assert len(store.allocations("letters")) == 391


@on_both
def test_unique_unit_constraint_blocks_a_double_allocation():
    store, design, _roster = _randomised()
    row = store.allocations("letters").iloc[0].to_dict()
    row.pop("allocation_id")
    row["sequence_position"] = 10_000
    row["allocated_at"] = row["allocated_at"].to_pydatetime()
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(sa.table("allocations", *[sa.column(c) for c in row]).insert().values(**row))


@on_both
def test_audit_records_who_when_version_seed_hash_and_position():
    store, design, _roster = _randomised()
    audit = store.audit("letters")
    allocated = audit[audit["event"] == "allocated"]
    assert len(allocated) == 391
    assert set(allocated["algorithm_version"]) == {ALGORITHM_VERSION}
    assert set(allocated["seed"]) == {design.randomisation.seed}
    assert set(allocated["design_hash"]) == {design.design_hash}
    assert allocated["who"].str.len().min() > 0 and allocated["at"].notna().all()
    assert allocated["sequence_position"].notna().all()


def _slot(design):
    def allocate_slot(stratum, position, n_initial):
        return design.arm_names[
            sequence_slot(
                ratios=design.ratios,
                block_sizes=design.randomisation.block_sizes,
                seed=design.randomisation.seed,
                stratum=stratum,
                position=position,
                n_initial=n_initial,
            )
        ]

    return allocate_slot


def _newcomer(pid: str, stratum: str = "Dudley") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "participant_id": pid,
                "unit_id": pid,
                "stratum": stratum,
                "organisation": stratum,
                "start_date": "2019-05-01",
            }
        ]
    )


@on_both
def test_late_entrants_take_the_next_slots_of_their_stratum():
    store, design, _roster = _randomised()
    n_dudley = int((store.allocations("letters")["stratum"] == "Dudley").sum())
    first = enrol_late_entrants(
        store,
        design=design,
        newcomers=_newcomer("NEW1"),
        allocate_slot=_slot(design),
        algorithm_version=ALGORITHM_VERSION,
    )
    second = enrol_late_entrants(
        store,
        design=design,
        newcomers=_newcomer("NEW2"),
        allocate_slot=_slot(design),
        algorithm_version=ALGORITHM_VERSION,
    )
    again = enrol_late_entrants(
        store,
        design=design,
        newcomers=_newcomer("NEW1"),
        allocate_slot=_slot(design),
        algorithm_version=ALGORITHM_VERSION,
    )
    assert again["status"].tolist() == ["already allocated"]
    alloc = store.allocations("letters").set_index("unit_id")
    assert alloc.loc["NEW1", "sequence_position"] == n_dudley
    assert alloc.loc["NEW2", "sequence_position"] == n_dudley + 1
    expected = [_slot(design)("Dudley", n_dudley + i, n_dudley) for i in range(2)]
    assert [first["arm"].iloc[0], second["arm"].iloc[0]] == expected


def _enrol_in_process(home: str, pid: str, barrier) -> None:  # runs in a child process
    import os

    os.environ["TRIALFLOW_HOME"] = home
    design = load_design(DESIGNS / "letters.yaml")
    store = Store()
    barrier.wait(120)  # a sibling that died before the race must not hang the suite
    enrol_late_entrants(
        store,
        design=design,
        newcomers=_newcomer(pid),
        allocate_slot=_slot(design),
        algorithm_version=ALGORITHM_VERSION,
    )


@on_both
def test_two_processes_enrolling_the_same_person_make_one_allocation(_isolated_home):
    store, _design, _roster = _randomised()
    ctx = mp.get_context("spawn")
    for attempt in range(3):
        pid = f"RACE{attempt}"
        barrier = ctx.Barrier(2)
        procs = [
            ctx.Process(target=_enrol_in_process, args=(str(_isolated_home), pid, barrier))
            for _ in range(2)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0]
        alloc = store.allocations("letters")
        assert (alloc["unit_id"] == pid).sum() == 1
    # and the three racers took three distinct consecutive slots
    positions = alloc[alloc["unit_id"].str.startswith("RACE")]["sequence_position"].tolist()
    assert len(set(positions)) == 3


@on_both
def test_bad_roster_is_reported_by_row_and_nothing_is_written():
    design = load_design(DESIGNS / "coffee.yaml")
    roster = pd.read_csv(GOLDEN / "coffee_roster.csv", dtype=str).head(6).copy()
    roster["source_row"] = range(2, 8)
    roster.loc[1, "id"] = roster.loc[0, "id"]
    roster.loc[2, "building"] = "Hogwarts"
    roster.loc[3, "consent"] = "no"
    roster.loc[4, "building"] = None
    problems = check_roster(roster, design)
    got = problems[["source_row", "column", "rule", "value"]].to_records(index=False).tolist()
    assert got == [
        (2, "staff_id", "unique_id", roster.loc[0, "id"]),
        (3, "staff_id", "unique_id", roster.loc[0, "id"]),
        (4, "office", "known_cluster", "Hogwarts"),
        (5, "consent", "consented", "no"),
        (6, "office", "required_stratum", None),
    ]
    assert Store().trial("coffee") is None


@on_both
def test_forced_rerandomisation_keeps_round_one_late_entrants_and_their_pii():
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(40)
    pii = pd.DataFrame({"participant_id": roster["id"], "first_name": "P", "surname": roster["id"]})
    store = Store()
    store.record_randomisation(
        design=design, allocation=randomise(roster, design), roster=roster, pii=pii
    )
    late = enrol_late_entrants(
        store,
        design=design,
        newcomers=_newcomer("LATE1"),
        allocate_slot=_slot(design),
        algorithm_version=ALGORITHM_VERSION,
    )
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO participant_pii (trial_id, participant_id, first_name, surname) "
                "VALUES ('letters', 'LATE1', 'Lara', 'Late')"
            )
        )
    round_no = store.record_randomisation(
        design=design,
        allocation=randomise(roster, design),
        roster=roster,
        pii=pii,
        force_reason="roster had the wrong start dates",
    )
    assert round_no == 2
    with store.engine.connect() as conn:
        kept = conn.execute(
            sa.text(
                "SELECT p.participant_id, p.enrolment, p.superseded_in_round, x.first_name "
                "FROM participants p LEFT JOIN participant_pii x USING (trial_id, participant_id) "
                "WHERE p.participant_id = 'LATE1'"
            )
        ).all()
        people = conn.execute(sa.text("SELECT count(*) FROM participants")).scalar_one()
        names = conn.execute(sa.text("SELECT count(*) FROM participant_pii")).scalar_one()
    assert kept == [("LATE1", "late", 2, "Lara")]
    assert (people, names) == (41, 41)
    # the round-1 allocation is still there, marked as the round it was made in
    alloc = store.read(sa.text("SELECT round, arm FROM allocations WHERE unit_id = 'LATE1'"))
    assert alloc.values.tolist() == [[1, late["arm"].iloc[0]]]
    # not in round 2's analysis population until enrolled again, which allocates them in round 2
    assert "LATE1" not in set(store.participant_arms("letters")["participant_id"])
    again = enrol_late_entrants(
        store,
        design=design,
        newcomers=_newcomer("LATE1"),
        allocate_slot=_slot(design),
        algorithm_version=ALGORITHM_VERSION,
    )
    assert again["status"].tolist() == ["allocated"]
    arms = store.participant_arms("letters").set_index("participant_id")
    assert arms.loc["LATE1", "arm"] == again["arm"].iloc[0]
    with store.engine.connect() as conn:
        rounds = (
            conn.execute(
                sa.text("SELECT round FROM allocations WHERE unit_id = 'LATE1' ORDER BY round")
            )
            .scalars()
            .all()
        )
        flag = conn.execute(
            sa.text("SELECT superseded_in_round FROM participants WHERE participant_id = 'LATE1'")
        ).scalar_one()
    assert rounds == [1, 2] and flag is None
