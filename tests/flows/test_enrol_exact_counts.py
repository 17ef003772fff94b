"""Late entrants of a trial whose arms declare exact counts (n_units).

They were allocated from a 1:1 sequence (every arm's unused 'ratio' is 1), so a building
joining a 6-of-13 coffee trial took either arm at 1:1 and the trial no longer had exactly
6 coffee buildings. A new unit is now refused; staff joining a randomised building join it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.randomise import enrol_flow, randomise_flow, refuse_new_units
from flows.store import Store
from tests.designs import DESIGNS
from trial_designs.design import DesignError, TrialDesign
from trial_designs.simulate_roster import simulate_late_entrants, simulate_roster


def _exact_coffee(tmp_path: Path) -> tuple[Path, TrialDesign]:
    data = yaml.safe_load((DESIGNS / "coffee.yaml").read_text())
    data["arms"] = [{"name": "control", "control": True}, {"name": "coffee", "n_units": 6}]
    data["randomisation"]["method"] = "cluster"
    data["randomisation"].pop("constraint", None)
    path = tmp_path / "coffee_exact.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, TrialDesign.model_validate(data)


def test_refuse_new_units_names_the_counts_and_the_units():
    data = yaml.safe_load((DESIGNS / "coffee.yaml").read_text())
    data["arms"] = [{"name": "control", "control": True}, {"name": "coffee", "n_units": 6}]
    data["randomisation"]["method"] = "cluster"
    data["randomisation"].pop("constraint", None)
    design = TrialDesign.model_validate(data)
    allocated = pd.Series(["coffee"] * 6 + ["control"] * 7)
    refuse_new_units(design, [], allocated)  # nobody new: nothing to refuse
    with pytest.raises(
        DesignError,
        match=r"^Trial 'coffee' declares exact arm counts \(n_units\), fixed at randomisation "
        r"\(control 7, coffee 6 of 13 clusters\), so a new cluster cannot be allocated late .*"
        r"Got new cluster\(s\) 'Whitstable' instead\.$",
    ):
        refuse_new_units(design, ["Whitstable"], allocated)
    # a design with ratios allocates late units as before
    ratio = TrialDesign.model_validate(yaml.safe_load((DESIGNS / "coffee.yaml").read_text()))
    refuse_new_units(ratio, ["Whitstable"], allocated)


@pytest.mark.flow
def test_a_new_building_is_refused_and_its_staff_enrol_nothing(prefect_server, tmp_path):
    design_path, design = _exact_coffee(tmp_path)
    roster = simulate_roster(design, rng=np.random.default_rng(3))
    roster.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow(str(design_path), str(tmp_path / "roster.csv"))
    before = Store().allocations("coffee")
    assert before["arm"].value_counts().to_dict() == {"control": 7, "coffee": 6}
    people = len(Store().participant_arms("coffee"))

    newcomers = simulate_late_entrants(design, n=3, rng=np.random.default_rng(8))
    newcomers.loc[2, "office"] = "Whitstable"  # a building that joins late
    newcomers.to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(DesignError, match=r"Got new cluster\(s\) 'Whitstable' instead\.$"):
        enrol_flow(str(design_path), str(tmp_path / "new.csv"))
    after = Store().allocations("coffee")
    assert after["arm"].value_counts().to_dict() == {"control": 7, "coffee": 6}
    assert len(Store().participant_arms("coffee")) == people

    # staff of randomised buildings join them
    newcomers.head(2).to_csv(tmp_path / "joiners.csv", index=False)
    result = pd.DataFrame(enrol_flow(str(design_path), str(tmp_path / "joiners.csv"))["enrolled"])
    arm_of = before.set_index("unit_id")["arm"]
    assert result["status"].tolist() == ["joined cluster", "joined cluster"]
    assert result["arm"].tolist() == arm_of[result["unit_id"]].tolist()
