"""The design lock and amendments (issue 13.1): a design cannot change silently after randomisation."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from flows.enrol import enrol_late_entrants
from flows.integrity import (
    AmendmentRefusedError,
    DesignChangedError,
    amend_design,
    require_current_design,
)
from flows.store import Store
from tests.designs import DESIGNS
from trial_designs.allocate import sequence_slot
from trial_designs.design import ALGORITHM_VERSION, TrialDesign, load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


def _randomised(n: int = 60) -> tuple[Store, TrialDesign]:
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(n)
    store = Store()
    store.record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    return store, design


def _edited(design: TrialDesign, **changes) -> TrialDesign:  # noqa: ANN003
    """The design with dotted-path fields changed, e.g. ``randomisation__seed=777``."""
    data = design.model_dump(mode="json")
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(leaf) if leaf.isdigit() else leaf] = value
    return TrialDesign.model_validate(data)


def _slot(design: TrialDesign):  # noqa: ANN202
    def allocate_slot(stratum, position, n_initial):  # noqa: ANN001, ANN202
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


def _newcomer(pid: str) -> pd.DataFrame:
    return pd.DataFrame(
        [{"participant_id": pid, "unit_id": pid, "stratum": "Dudley", "organisation": "Dudley"}]
    )


def test_enrolling_under_an_edited_seed_is_refused_and_names_the_field():
    store, design = _randomised()
    edited = _edited(design, randomisation__seed=777)
    with pytest.raises(DesignChangedError) as caught:
        enrol_late_entrants(
            store,
            design=edited,
            newcomers=_newcomer("NEW1"),
            allocate_slot=_slot(edited),
            algorithm_version=ALGORITHM_VERSION,
        )
    message = str(caught.value)
    assert "randomisation.seed: 20190401 -> 777" in message
    assert "Refusing to enrol" in message and "trialflow amend letters" in message
    allocations = store.allocations("letters")
    assert "NEW1" not in set(allocations["unit_id"])
    assert set(allocations["design_hash"]) == {store.trial("letters")["design_hash"]}


def test_every_writing_stage_check_lists_each_changed_field():
    store, design = _randomised()
    edited = _edited(
        design, arms__1__ratio=2, randomisation__block_sizes=[3, 6], analysis__ri_draws=10
    )
    with pytest.raises(DesignChangedError, match=r"Refusing to analyse") as caught:
        require_current_design(edited, stage="analyse", store=store)
    assert "arms[letter].ratio: 1 -> 2" in str(caught.value)
    assert "analysis.ri_draws: 2000 -> 10" in str(caught.value)
    require_current_design(design, stage="analyse", store=store)  # the stored design passes


def test_a_wording_amendment_becomes_the_trials_design_and_is_recorded(monkeypatch):
    monkeypatch.setenv("LOGNAME", "mallory")
    store, design = _randomised()
    amended = _edited(design, outcomes__0__label="Feeling valued at work (0-10)")
    result = amend_design(amended, reason="ethics asked for clearer wording", store=store)
    assert result["changes"] == [
        'outcomes[feeling_valued].label: "Feeling valued (0-10)" -> "Feeling valued at work (0-10)"'
    ]
    assert store.trial("letters")["design_hash"] == amended.design_hash
    require_current_design(amended, stage="analyse", store=store)
    with pytest.raises(DesignChangedError, match="Refusing to analyse"):
        require_current_design(design, stage="analyse", store=store)
    audit = store.audit("letters")
    row = audit[audit["event"] == "design-amended"].iloc[-1]
    details = json.loads(row["details_json"])
    assert (details["old_hash"], details["new_hash"]) == (design.design_hash, amended.design_hash)
    assert row["reason"] == "ethics asked for clearer wording"
    assert row["claimed_user"] == "mallory" and row["os_user"] != "mallory"
    recorded = store.read(__import__("sqlalchemy").text("SELECT * FROM amendments"))
    assert recorded[["old_hash", "new_hash"]].values.tolist() == [
        [design.design_hash, amended.design_hash]
    ]
    # and enrolment carries on under the amended design, from the same sequence
    out = enrol_late_entrants(
        store,
        design=amended,
        newcomers=_newcomer("NEW1"),
        allocate_slot=_slot(amended),
        algorithm_version=ALGORITHM_VERSION,
    )
    assert out["status"].tolist() == ["allocated"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"randomisation__seed": 777}, "randomisation.seed"),
        ({"randomisation__block_sizes": [2, 4]}, "randomisation.block_sizes"),
        (
            {"randomisation__method": "complete", "randomisation__block_sizes": []},
            "randomisation.method",
        ),
        ({"arms__1__ratio": 2, "randomisation__block_sizes": [3, 6]}, "arms[letter].ratio"),
        ({"strata": ["organisation", "role"]}, "strata"),
    ],
)
def test_an_amendment_that_would_change_allocations_is_refused(changes, field):
    store, design = _randomised()
    with pytest.raises(AmendmentRefusedError, match="refused") as caught:
        amend_design(_edited(design, **changes), reason="try", store=store)
    assert f"  {field}: " in str(caught.value) and "is fixed once randomised" in str(caught.value)
    assert store.trial("letters")["design_hash"] == design.design_hash
    assert "design-amended" not in set(store.audit("letters")["event"])


def test_an_amendment_moving_a_past_date_is_refused_and_a_future_one_allowed():
    store, design = _randomised()
    # letters runs learning cycles: the first cycle's dates are follow_up's, so both move
    with pytest.raises(AmendmentRefusedError, match=r"follow_up.baseline: \"2019-03-15\""):
        amend_design(
            _edited(design, follow_up__baseline="2019-03-20", cycles__0__baseline="2019-03-20"),
            reason="x",
            store=store,
            today=dt.date(2019, 6, 1),
        )
    moved = _edited(design, follow_up__endline="2019-11-01", cycles__0__endline="2019-11-01")
    amend_design(moved, reason="survey delayed", store=store, today=dt.date(2019, 6, 1))
    assert store.trial("letters")["design_hash"] == moved.design_hash


@pytest.mark.parametrize(
    ("reason", "message"), [(None, "needs a reason"), ("  ", "needs a reason")]
)
def test_an_amendment_needs_a_reason_and_a_change(reason, message):
    store, design = _randomised()
    with pytest.raises(AmendmentRefusedError, match=message):
        amend_design(_edited(design, title="New title"), reason=reason, store=store)
    with pytest.raises(AmendmentRefusedError, match="nothing to amend"):
        amend_design(design, reason="none", store=store)


def test_a_report_from_results_of_an_earlier_design_is_refused():
    from flows.integrity import require_results_design

    store, design = _randomised()
    require_results_design("letters", design.design_hash, stage="write its report", store=store)
    require_results_design("elsewhere", "0" * 64, stage="write its report", store=store)
    amended = _edited(design, outcomes__0__label="Valued (0-10)")
    amend_design(amended, reason="wording", store=store)
    with pytest.raises(DesignChangedError) as caught:
        require_results_design("letters", design.design_hash, stage="write its report", store=store)
    message = str(caught.value)
    assert "Refusing to write its report" in message and "trialflow analyse letters" in message
    assert 'outcomes[feeling_valued].label: "Feeling valued (0-10)" -> "Valued (0-10)"' in message
