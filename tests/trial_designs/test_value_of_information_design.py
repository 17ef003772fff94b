"""The design's optional value_of_information section (issue 15.6): checked when it loads."""

from __future__ import annotations

import pytest
import yaml

from tests.designs import DESIGNS
from trial_designs.design import DesignError, load_design

VOI = {"wtp": [100, 500], "population": 2000, "years": 3}


def _load(tmp_path, name="letters", **changes):
    data = yaml.safe_load((DESIGNS / f"{name}.yaml").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_design(path)


def test_absent_section_leaves_the_hash_and_the_design_as_they_were(tmp_path):
    plain = load_design(DESIGNS / "letters.yaml")
    assert plain.value_of_information is None
    assert "value_of_information" not in plain.canonical_json()
    declared = _load(tmp_path, value_of_information=VOI)
    assert declared.design_hash != plain.design_hash
    assert declared.value_of_information.wtp == (100.0, 500.0)
    # the defaults: Green Book discounting, no research cost to compare with
    assert declared.value_of_information.discount_rate == 0.035
    assert declared.value_of_information.research_cost is None


def test_the_demo_declares_it_for_the_five_authority_trial():
    voi = load_design(DESIGNS / "schwartz_rounds.yaml").value_of_information
    assert voi is not None and voi.population > 0 and voi.research_cost is not None


@pytest.mark.parametrize(
    ("voi", "message"),
    [
        (
            {**VOI, "wtp": [-100, 500]},
            "value_of_information: 'wtp' every threshold must be a finite amount of at least 0. "
            "Got -100.0 instead.",
        ),
        ({**VOI, "wtp": []}, "value_of_information: 'wtp'"),
        ({**VOI, "wtp": [100, 100]}, "thresholds must differ. Got [100.0, 100.0] instead"),
        ({**VOI, "population": 0}, "'population' Input should be greater than or equal to 1"),
        ({**VOI, "years": 0}, "'years' Input should be greater than or equal to 1"),
        ({**VOI, "discount_rate": 1.5}, "'discount_rate' Input should be less than 1"),
        (
            {**VOI, "research_cost": -1},
            "'research_cost' Input should be greater than or equal to 0",
        ),
        ({**VOI, "wtps": [1]}, "'wtps' is not a field; did you mean 'wtp'?"),
    ],
)
def test_a_bad_declaration_is_refused_by_name_rule_and_value(tmp_path, voi, message):
    with pytest.raises(DesignError) as err:
        _load(tmp_path, value_of_information=voi)
    assert message in str(err.value)


def test_it_needs_costs_to_price(tmp_path):
    with pytest.raises(DesignError, match="must declare 'costs'. Got no costs instead"):
        _load(tmp_path, value_of_information=VOI, costs=None)
