"""The delivery and uptake rule book that designs and the uptake analysis share."""

from __future__ import annotations

import pytest

from tests.designs import DESIGNS
from trial_designs.design import DesignError, load_design
from trial_designs.uptake_rules import check_uptake_definition


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"startd": "x"}, r"The uptake key 'startd' is not known\. Choose one of: offered"),
        ({"offered": "invited"}, r"must name the 'started' event"),
        ({"started": "module_begun"}, r"'started' must name one of the intervention's event types"),
        (
            {"started": "module_started", "dose": "module_completed", "completed_at_dose": 0},
            r"'completed_at_dose' must be a positive integer\. Got 0 instead",
        ),
        (
            {"started": "module_started", "completed_at_dose": 6},
            r"'completed_at_dose' needs a 'dose' event",
        ),
    ],
)
def test_bad_uptake_definitions_are_refused_with_the_key_and_value(definition, message):
    vocabulary = ["invited", "module_started", "module_completed"]
    with pytest.raises(ValueError, match=message):
        check_uptake_definition(definition, vocabulary)


def test_a_design_with_a_bad_uptake_or_column_field_does_not_load(tmp_path):
    text = (DESIGNS / "goal_setting.yaml").read_text()
    bad = tmp_path / "goal_setting.yaml"
    bad.write_text(text.replace("started: module_started", "started: module_begun"))
    with pytest.raises(
        DesignError, match=r"interventions\[0\] \(goal_setting\): 'uptake' is not valid"
    ):
        load_design(bad)
    bad.write_text(text.replace("module: module}", "lesson: module}"))
    with pytest.raises(DesignError, match=r"unknown delivery field\(s\) \['lesson'\]"):
        load_design(bad)


def test_every_seed_design_declares_a_usable_uptake_and_columns():
    for name in ("letters", "goal_setting", "coffee", "schwartz_rounds"):
        design = load_design(DESIGNS / f"{name}.yaml")
        (intervention,) = design.interventions
        check_uptake_definition(intervention.uptake, intervention.event_types)
        assert {"unit_id", "event_type", "occurred_at"} <= set(intervention.columns)
