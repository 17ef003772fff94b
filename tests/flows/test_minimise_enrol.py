"""Minimisation through the store and the flows: replayable, and safe under concurrent enrolment.

A copy of letters.yaml is declared with ``method: minimisation`` (the packaged
file is not changed) and held to the guarantees blocked randomisation has:
every unit allocated once, nothing lost under concurrent ``enrol``, and the
stored allocation equal to a replay from the seed and the arrival order.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.enrol import enrol_late_entrants
from flows.store import AlreadyRandomisedError, Store
from tests.designs import DESIGNS
from trial_designs.design import ALGORITHM_VERSION, load_design
from trial_designs.minimise import allocate_minimisation, factor_levels, minimisation_allocator
from trial_designs.randomise import randomise
from trial_designs.strata import stratum_keys

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"
FACTORS = ["organisation", "role"]
ORGANISATIONS = ["Bracknell Forest", "Dudley", "Shropshire"]
ROLES = ["Social worker", "Senior practitioner", "Team manager"]


def _minimised_letters(folder: Path) -> Path:
    data = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    data["randomisation"] = {
        "method": "minimisation",
        "seed": 20190401,
        "minimisation": {"factors": FACTORS, "p": 0.8},
    }
    path = folder / "letters.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _randomised(folder: Path, n: int = 120):  # noqa: ANN202
    design = load_design(_minimised_letters(folder))
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(n)
    store = Store()
    store.record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    return store, design


def _newcomers(ids: list[str], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "id": ids,
            "organisation": rng.choice(ORGANISATIONS, len(ids)),
            "role": rng.choice(ROLES, len(ids)),
            "team": "T1",
            "start_date": "2019-05-01",
        }
    )
    return table.assign(
        participant_id=table["id"],
        unit_id=table["id"],
        stratum=stratum_keys(table, ["organisation"]),
    )


def _enrol_one_by_one(store: Store, design, newcomers: pd.DataFrame, pause: float = 0) -> None:  # noqa: ANN001
    for k in range(len(newcomers)):
        time.sleep(pause)  # lets another process take the lock between two enrolments
        enrol_late_entrants(
            store,
            design=design,
            newcomers=newcomers.iloc[[k]],
            allocate_slot=None,
            algorithm_version=ALGORITHM_VERSION,
            allocate_next=minimisation_allocator(design),
        )


def _assert_serial_replay(store: Store, design) -> pd.DataFrame:  # noqa: ANN001
    """The stored arms are a replay from the seed in the committed arrival order."""
    alloc = store.allocations(design.id).sort_values("sequence_position")
    people = store.participant_arms(design.id).set_index("participant_id")
    assert alloc["unit_id"].is_unique  # no double allocation
    assert alloc["sequence_position"].tolist() == list(range(len(alloc)))  # no gap, no repeat
    replay = allocate_minimisation(
        factor_levels(people.loc[alloc["unit_id"]], FACTORS), n_arms=2, seed=20190401, p=0.8
    )
    assert alloc["arm"].tolist() == [design.arm_names[a] for a in replay]
    return alloc


def test_late_entrants_one_at_a_time_get_the_arms_of_a_batch_replay(tmp_path):
    store, design = _randomised(tmp_path)
    newcomers = _newcomers([f"NEW{i}" for i in range(12)], seed=1)
    newcomers.loc[[2, 9], "role"] = None  # a missing factor is a level of its own, stored or not
    _enrol_one_by_one(store, design, newcomers.iloc[:5])

    # and seven more in one call: the same arms as one at a time
    result = enrol_late_entrants(
        store,
        design=design,
        newcomers=newcomers.iloc[5:],
        allocate_slot=None,
        algorithm_version=ALGORITHM_VERSION,
        allocate_next=minimisation_allocator(design),
    )
    assert result["status"].tolist() == ["allocated"] * 7
    alloc = _assert_serial_replay(store, design)
    late = alloc[alloc["sequence"] == "enrolment"]
    assert late["unit_id"].tolist() == newcomers["id"].tolist()  # arrival = enrolment order
    again = enrol_late_entrants(
        store,
        design=design,
        newcomers=newcomers.iloc[[0]],
        allocate_slot=None,
        algorithm_version=ALGORITHM_VERSION,
        allocate_next=minimisation_allocator(design),
    )
    assert again["status"].tolist() == ["already allocated"]
    assert len(store.allocations(design.id)) == 120 + 12
    # each late allocation is audited with its arrival position, seed and design hash
    audit = store.audit(design.id)
    enrolled = audit[audit["event"] == "enrolled"].set_index("unit_id")
    positions = late.set_index("unit_id")["sequence_position"]
    assert enrolled.loc[positions.index, "sequence_position"].tolist() == positions.tolist()
    assert set(enrolled["seed"]) == {20190401}
    assert set(enrolled["design_hash"]) == {design.design_hash}


def _enrol_in_process(home: str, design_file: str, ids: list[str], seed: int, barrier) -> None:
    import os

    os.environ["TRIALFLOW_HOME"] = home
    design = load_design(design_file)
    store = Store()
    newcomers = _newcomers(ids, seed)
    import flows.integrity  # noqa: F401 - enrol_late_entrants imports it (and Prefect): before the race

    barrier.wait(120)  # a sibling that died before the race must not hang the suite
    _enrol_one_by_one(store, design, newcomers, pause=0.05)


@pytest.mark.parametrize(
    ("backend", "n_processes"),
    # PostgreSQL (issue 18.1): several coordinators on one server, so more processes at once
    [("sqlite", 4), ("postgresql", 8)],
)
def test_processes_enrolling_at_once_lose_and_double_nothing(
    backend, n_processes, tmp_path, _isolated_home, request, monkeypatch
):
    if backend == "postgresql":  # the child processes inherit the store's URL
        monkeypatch.setenv("TRIALFLOW_DATABASE_URL", request.getfixturevalue("postgres_url"))
    store, design = _randomised(tmp_path, n=60)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(n_processes)
    # each process enrols its own five people one transaction at a time, so they
    # interleave; all of them also try to enrol SHARED (the same person, same levels)
    batches = [[f"P{w}_{i}" for i in range(5)] + ["SHARED"] for w in range(n_processes)]
    procs = [
        ctx.Process(
            target=_enrol_in_process,
            args=(str(_isolated_home), str(tmp_path / "letters.yaml"), ids, 100 + w, barrier),
        )
        for w, ids in enumerate(batches)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0] * n_processes
    alloc = _assert_serial_replay(store, design)
    late = alloc[alloc["sequence"] == "enrolment"]
    expected = {pid for ids in batches for pid in ids}
    assert len(expected) == 5 * n_processes + 1
    assert set(late["unit_id"]) == expected and len(late) == len(expected)  # none lost
    assert (alloc["unit_id"] == "SHARED").sum() == 1


@pytest.mark.flow
def test_letters_with_minimisation_through_the_flows(prefect_server, tmp_path):
    from flows.randomise import enrol_flow, randomise_flow
    from trial_designs.simulate_roster import simulate_late_entrants, simulate_roster

    design_file = _minimised_letters(tmp_path)
    design = load_design(design_file)
    roster = simulate_roster(design, rng=np.random.default_rng(3))
    roster_path = tmp_path / "letters_roster.csv"
    roster.to_csv(roster_path, index=False)
    result = randomise_flow(str(design_file), str(roster_path))
    assert result["units"] == len(roster) == 391
    arms = Store().participant_arms("letters")
    assert len(arms) == 391 and arms["participant_id"].is_unique
    listing = pd.read_csv(result["allocation_list"], dtype=str)
    assert set(listing["participant_id"]) == set(roster[design.roster.columns["id"]].astype(str))
    with pytest.raises(AlreadyRandomisedError):
        randomise_flow(str(design_file), str(roster_path))
    newcomers = simulate_late_entrants(design, n=6, rng=np.random.default_rng(8))
    new_path = tmp_path / "new.csv"
    newcomers.to_csv(new_path, index=False)
    enrolled = enrol_flow(str(design_file), str(new_path))
    done = pd.DataFrame(enrolled["enrolled"])
    assert done["status"].tolist() == ["allocated"] * 6
    alloc = _assert_serial_replay(Store(), design)
    assert len(alloc) == 397
    listing = pd.read_csv(enrolled["allocation_list"], dtype=str)
    assert sorted(listing["participant_id"]) == sorted(alloc["unit_id"])
    # the analysis dataset carries the arrival order inference re-runs the minimisation in
    from analysis.dataset import data_dictionary
    from flows.export import load_analysis_dataset

    dataset = load_analysis_dataset(design)
    by_id = dataset.set_index("participant_id")["arrival"]
    assert by_id.loc[alloc["unit_id"]].tolist() == alloc["sequence_position"].tolist()
    assert "arrival" in data_dictionary(dataset, design)["column"].tolist()


def test_enrolling_a_minimised_trial_from_a_block_sequence_is_refused(tmp_path):
    store, design = _randomised(tmp_path, n=20)
    with pytest.raises(
        ValueError,
        match=r"needs 'allocate_next' exactly when the design minimises.*Got method "
        r"'minimisation' and allocate_next None instead\.",
    ):
        enrol_late_entrants(
            store,
            design=design,
            newcomers=_newcomers(["NEW1"], seed=1),
            allocate_slot=lambda *_: "letter",
            algorithm_version=ALGORITHM_VERSION,
        )
    assert len(store.allocations(design.id)) == 20  # nothing written
