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


_INSTEAD = (
    ". Name a column fixed before randomisation that groups people (a role, a team, a "
    "stratum). Got '{name}' instead."
)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (
            "turnover_endline",
            "is measured after randomisation, so the arm could change which subgroup a "
            "person falls in",
        ),
        ("swemwbs_endline", "is measured after randomisation"),
        (
            "arm",
            "is the randomised arm, so each of its levels holds one arm only and there is no "
            "treatment effect within it",
        ),
        (
            "participant_id",
            "has one level per person, so each subgroup would hold one person and nothing "
            "could be compared within it",
        ),
        ("start_date", "has one level per person"),
    ],
)
def test_an_outcome_the_arm_or_an_id_is_refused_as_an_exploratory_subgroup(name, why):
    # an interaction on a post-randomisation outcome, the arm or one person per level is
    # not a subgroup effect: refused before any data is read (flows.analyse calls this first)
    with pytest.raises(ValueError) as refused:
        exploratory_changes(LETTERS, subgroups=["team", name])
    message = str(refused.value)
    assert message.startswith(f"The exploratory subgroup '{name}' {why}")
    assert message.endswith(_INSTEAD.format(name=name))


def test_the_analysis_refuses_them_too_among_the_columns_of_its_data():
    import pandas as pd

    from analysis.sections.subgroups import check_exploratory_subgroups

    data = pd.DataFrame(
        {
            "participant_id": ["a", "b"],
            "arm": ["control", "letter"],
            "team": ["t1", "t2"],
            "swemwbs_wave_9": [20.0, 21.0],  # a timepoint only the data has
            "swemwbs_baseline": [19.0, 22.0],
        }
    )
    for name in ("participant_id", "arm", "swemwbs_wave_9"):
        with pytest.raises(ValueError, match=rf"^The exploratory subgroup '{name}' (is|has) "):
            check_exploratory_subgroups(data, LETTERS, [name])
    (team, base) = check_exploratory_subgroups(data, LETTERS, ["team", "swemwbs_baseline"])
    assert (team.column, base.column) == ("team", "swemwbs_baseline")
