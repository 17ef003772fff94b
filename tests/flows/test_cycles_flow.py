"""`randomise --cycle 2`: a new cohort randomised once, earlier cycles' people skipped, refusals store nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from flows.cycles import CycleError, cycle_randomise_flow, cycle_records
from flows.integrity import amend_design
from flows.randomise import randomise_flow
from flows.store import Store
from flows.store.schema import allocations, audit_log
from tests.designs import DESIGNS
from trial_designs.cycles import cycle_of_enrolment
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_late_entrants, simulate_roster

LETTERS = str(DESIGNS / "letters.yaml")


def _counts() -> tuple[int, int]:
    store = Store()
    with store.engine.connect() as conn:
        n_alloc = conn.execute(sa.select(sa.func.count()).select_from(allocations)).scalar_one()
        n_audit = conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()
    return n_alloc, n_audit


def test_cycle_of_enrolment_reads_the_store_label():
    got = cycle_of_enrolment(pd.Series(["initial", "late", "cycle2", "cycle10"]))
    assert got.tolist() == [1, 1, 2, 10]


@pytest.mark.flow
def test_a_second_cycle_randomises_only_new_people(prefect_server, tmp_path):
    design = load_design(LETTERS)
    first = simulate_roster(design, rng=np.random.default_rng(1), n=60)
    first.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow(LETTERS, str(tmp_path / "roster.csv"))
    before = Store().participant_arms("letters").set_index("participant_id")["arm"]

    # refused before anything is written: cycle 1, an undeclared cycle, nobody new
    n_before = _counts()
    with pytest.raises(CycleError, match=r"^Cycle 1 \(spring_2019\) is the trial's own"):
        cycle_randomise_flow(LETTERS, str(tmp_path / "roster.csv"), 1)
    with pytest.raises(
        CycleError, match=r"so --cycle takes one of: 2 \(autumn_2019\)\. Got --cycle 3"
    ):
        cycle_randomise_flow(LETTERS, str(tmp_path / "roster.csv"), 3)
    with pytest.raises(CycleError) as refused:
        cycle_randomise_flow(LETTERS, str(tmp_path / "roster.csv"), 2)
    assert str(refused.value) == (
        "Cycle 2 (autumn_2019) of trial 'letters' has no one to randomise: all 60 "
        "participant(s) in roster.csv were randomised in an earlier cycle. Nothing was stored. "
        "Give the roster of the cycle's new starters and staff not yet randomised. "
        "Got 0 new participants instead."
    )
    assert _counts() == n_before

    # between the cycles the trial amends its wording; the autumn cohort runs under it
    text = (DESIGNS / "letters.yaml").read_text()
    amended_path = tmp_path / "letters.yaml"
    amended_path.write_text(text.replace("title: Letters of appreciation", "title: Letters"))
    amended = load_design(amended_path)
    amend_design(amended, reason="shorter title for the autumn", store=Store())

    # the staff list of the autumn: everyone from the spring plus 24 new starters
    new = simulate_late_entrants(design, n=24, rng=np.random.default_rng(2))
    pd.concat([first, new]).to_csv(tmp_path / "autumn.csv", index=False)
    result = cycle_randomise_flow(str(amended_path), str(tmp_path / "autumn.csv"), 2)
    assert result["units"] == 24
    assert result["skipped_message"] == (
        "60 participant(s) in autumn.csv were randomised in an earlier cycle (60 in cycle 1 "
        "(spring_2019)): they keep that allocation and are skipped: "
        f"{', '.join(sorted(first['staff_id'])[:5])} and 55 more."
    )
    people = Store().participant_arms("letters").set_index("participant_id")
    assert len(people) == 84
    # the spring cohort's allocations are untouched; the autumn's are cycle 2
    assert people.loc[before.index, "arm"].equals(before)
    cycle = cycle_of_enrolment(people["enrolment"])
    assert set(people.index[cycle == 2]) == set(new["staff_id"])
    assert set(people.loc[cycle == 2, "arm"]) == {"control", "letter"}
    audit = Store().audit("letters")
    row = audit[audit["event"] == "randomised"].iloc[-1]
    assert '"cycle": 2' in row["details_json"]
    assert row["seed"] == design.randomisation.seed + 1

    # the amendment is recorded between the two cycles' randomisations
    records = cycle_records(Store(), amended)
    assert sorted(records["randomised_at"]) == [1, 2]
    (amendment,) = records["amendments"]
    assert amendment["reason"] == "shorter title for the autumn"
    assert amendment["changes"] == ['title: "Letters of appreciation" -> "Letters"']
    assert records["randomised_at"][1] < amendment["recorded_at"] < records["randomised_at"][2]

    # a cycle is randomised once
    n_after = _counts()
    with pytest.raises(CycleError, match=r"is already randomised \(24 participants in cycle 2"):
        cycle_randomise_flow(str(amended_path), str(tmp_path / "autumn.csv"), 2)
    assert _counts() == n_after


@pytest.mark.flow
def test_a_cycle_is_stored_by_the_same_method_as_the_trials_own_randomisation(
    prefect_server, tmp_path, monkeypatch
):
    from flows.store.randomisations import RandomisationRecords

    stored = []
    insert = RandomisationRecords.insert_cohort

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        stored.append((kwargs["sequence"], kwargs["enrolment"], len(args[2].units)))
        return insert(*args, **kwargs)

    monkeypatch.setattr(RandomisationRecords, "insert_cohort", staticmethod(spy))
    design = load_design(LETTERS)
    first = simulate_roster(design, rng=np.random.default_rng(4), n=30)
    first.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow(LETTERS, str(tmp_path / "roster.csv"))
    new = simulate_late_entrants(design, n=10, rng=np.random.default_rng(5))
    pd.concat([first, new]).to_csv(tmp_path / "autumn.csv", index=False)
    cycle_randomise_flow(LETTERS, str(tmp_path / "autumn.csv"), 2)
    assert stored == [("blocks", "initial", 30), ("cycle2", "cycle2", 10)]
    audit = Store().audit("letters")
    allocated = audit[audit["event"] == "allocated"]
    assert allocated["sequence"].value_counts().to_dict() == {"blocks": 30, "cycle2": 10}
