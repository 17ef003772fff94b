"""A forced re-randomisation under an edited design: amendable changes refused, others recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from flows.store import AlreadyRandomisedError, ForcedDesignChangeError, Store
from tests.designs import DESIGNS
from trial_designs.design import TrialDesign, load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


def _edited(design: TrialDesign, edit) -> TrialDesign:  # noqa: ANN001
    data = design.model_dump(mode="json")
    edit(data)
    return TrialDesign.model_validate(data)


def _store() -> tuple[Store, TrialDesign, pd.DataFrame]:
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(30)
    store = Store()
    store.record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    return store, design, roster


def test_a_forced_rerandomisation_under_a_relabelled_design_is_refused_naming_the_field():
    store, design, roster = _store()

    def relabel(data):  # noqa: ANN001, ANN202
        data["outcomes"][0]["label"] = "Feeling valued by the employer (0-10)"

    edited = _edited(design, relabel)
    with pytest.raises(ForcedDesignChangeError, match="trialflow amend") as caught:
        store.record_randomisation(
            design=edited, allocation=randomise(roster, edited), roster=roster, force_reason="x"
        )
    assert isinstance(caught.value, AlreadyRandomisedError)  # the CLI's exit 1, no retry
    assert "label" in str(caught.value) and "Feeling valued by the employer" in str(caught.value)
    assert store.trial("letters")["design_hash"] == design.design_hash
    assert "re-randomised" not in set(store.audit("letters")["event"])


def test_a_forced_rerandomisation_with_a_new_seed_records_the_diff_in_its_audit_row():
    store, design, roster = _store()

    def reseed(data):  # noqa: ANN001, ANN202
        data["randomisation"]["seed"] = 777

    edited = _edited(design, reseed)
    round_no = store.record_randomisation(
        design=edited, allocation=randomise(roster, edited), roster=roster, force_reason="x"
    )
    assert round_no == 2 and store.trial("letters")["design_hash"] == edited.design_hash
    audit = store.audit("letters")
    details = json.loads(audit.loc[audit["event"] == "re-randomised", "details_json"].iloc[-1])
    assert details["previous_design_hash"] == design.design_hash
    assert details["design_changes"] == ["randomisation.seed: 20190401 -> 777"]


def test_a_forced_rerandomisation_under_the_same_design_records_no_changes():
    store, design, roster = _store()
    store.record_randomisation(
        design=design, allocation=randomise(roster, design), roster=roster, force_reason="x"
    )
    audit = store.audit("letters")
    details = json.loads(audit.loc[audit["event"] == "re-randomised", "details_json"].iloc[-1])
    assert "design_changes" not in details
