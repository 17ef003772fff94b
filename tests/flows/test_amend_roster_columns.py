"""An amendment may not remap the roster column behind the id, a stratum or the clusters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from flows.integrity import AmendmentRefusedError, amend_design
from flows.store import Store
from tests.designs import DESIGNS
from trial_designs.design import TrialDesign, load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


def _randomised() -> tuple[Store, TrialDesign]:
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(40)
    store = Store()
    store.record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    return store, design


def _remapped(design: TrialDesign, field: str, column: str) -> TrialDesign:
    data = design.model_dump(mode="json")
    data["roster"]["columns"][field] = column
    return TrialDesign.model_validate(data)


@pytest.mark.parametrize(
    ("field", "column", "role"),
    [("organisation", "region", "stratum"), ("id", "payroll_no", "participant id")],
)
def test_remapping_the_column_behind_a_stratum_or_the_id_is_refused(field, column, role):
    store, design = _randomised()
    with pytest.raises(AmendmentRefusedError, match="refused") as caught:
        amend_design(_remapped(design, field, column), reason="x", store=store)
    message = str(caught.value)
    assert f"roster.columns.{field}: " in message and f'-> "{column}"' in message
    assert f"holds the {role} '{field}'" in message
    assert store.trial("letters")["design_hash"] == design.design_hash
    assert "design-amended" not in set(store.audit("letters")["event"])


def test_remapping_a_column_no_allocation_depends_on_may_be_amended():
    store, design = _randomised()
    done = amend_design(_remapped(design, "start_date", "joined_on"), reason="x", store=store)
    assert store.trial("letters")["design_hash"] != design.design_hash
    assert done
