"""Exploratory subgroups (trialflow analyse --label X --subgroups a,b): recorded, described, refused."""

from __future__ import annotations

import pytest

from analysis.exploratory import (
    added_subgroups,
    exploratory_changes,
    exploratory_design,
    mark_exploratory,
    parse_subgroups,
)
from tests.designs import DESIGNS
from trial_designs.design import load_design

LETTERS = load_design(DESIGNS / "letters.yaml")


def test_added_subgroups_are_recorded_beside_the_declared_ones():
    changes = exploratory_changes(LETTERS, subgroups=["team"])
    declared = ["role", "organisation", "wellbeing_tertile"]
    assert changes == {"subgroups": {"prespecified": declared, "exploratory": [*declared, "team"]}}
    assert added_subgroups(changes) == ("team",)
    # the design the analysis runs keeps its own declaration: team is not made pre-declared
    assert exploratory_design(LETTERS, changes).analysis == LETTERS.analysis


def test_the_methods_text_and_differences_say_the_subgroup_is_exploratory():
    changes = exploratory_changes(LETTERS, subgroups=["team"])
    results = {"trial": {}, "methods": {}, "outcomes": []}
    marked = mark_exploratory(results, LETTERS, label="by_team", changes=changes)
    (difference,) = marked["exploratory"]["differences"]
    assert difference == (
        "Exploratory subgroups: team, besides the pre-declared role, organisation, "
        "wellbeing_tertile; they are not Holm-adjusted."
    )
    methods = marked["methods"]["prespecified"]
    assert "Outcomes and everything else are as the design declares" in methods


def test_a_declared_subgroup_is_refused_as_exploratory():
    with pytest.raises(ValueError, match=r"The subgroup 'role' is declared in the design, so"):
        exploratory_changes(LETTERS, subgroups=["role"])


@pytest.mark.parametrize(
    ("text", "message"),
    [("", r"'--subgroups' names at least one column"), ("team,team", r"names each column once")],
)
def test_a_subgroups_option_without_names_or_with_a_repeat_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_subgroups(text)
