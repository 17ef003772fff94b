"""The report's subgroup blocks: the interaction sentence, Holm, the forest plot, skipped levels."""

from __future__ import annotations

from reports.disclosure import Suppression
from reports.trial_view.effects import outcomes_view


def _level(level: str, estimate: float, n: int = 40) -> dict:
    return {
        "variable": "wellbeing_tertile",
        "level": level,
        "n": n,
        "estimate": estimate,
        "ci_low": estimate - 1,
        "ci_high": estimate + 1,
        "interaction_p_value": 0.0312,
        "interaction_p_value_holm": 0.0936,
        "arm": "letter",
        "prespecified": True,
    }


def _results(*, prespecified: bool = True) -> dict:
    test = {
        "variable": "wellbeing_tertile",
        "column": "swemwbs_baseline",
        "arm": "letter",
        "prespecified": prespecified,
        "derivation": "tertiles",
        "cut_points": [19.98, 22.35],
        "levels": ["lowest third", "middle third", "highest third"],
        "skipped": [{"level": "highest third", "n": 6, "reason": "fewer than 10 participants (6)"}],
        "n": 86,
        "test": "wald_f",
        "statistic": 4.1,
        "df_num": 2,
        "df_denom": 80,
        "p_value": 0.0312,
        "p_value_holm": 0.0936 if prespecified else None,
        "se_type": "HC2",
        "se_clustered_by": None,
    }
    primary = {
        "name": "feeling_valued",
        "label": "Feeling valued (0-10)",
        "primary": True,
        "higher_is_better": True,
        "estimates": [],
        "arms": [],
        "subgroups": [_level("lowest third", 0.8), _level("middle third", -0.2)],
        "subgroup_tests": [test],
    }
    trial = {"arms": [{"name": "control", "control": True}, {"name": "letter"}]}
    wellbeing = {**primary, "name": "swemwbs", "label": "Wellbeing (SWEMWBS)", "primary": False}
    return {"trial": trial, "outcomes": [primary, {**wellbeing, "subgroups": []}]}


def _view(results: dict) -> dict:
    keys = [("subgroup", "feeling_valued", "wellbeing_tertile", s["level"]) for s in
            results["outcomes"][0]["subgroups"]]  # fmt: skip
    sup = Suppression(
        values={k: 40 for k in keys},
        primary=frozenset(),
        complementary=frozenset(),
        hidden=frozenset(),
    )
    return outcomes_view(results, sup)


def test_the_sentence_gives_the_interaction_p_holm_and_the_cut_points():
    (block,) = _view(_results())["subgroup_tests"]
    assert block["sentence"] == (
        "Wellbeing tertile (pre-declared): does the effect differ between its levels? "
        "Interaction test p = 0.031, p = 0.094 after Holm's adjustment across the declared "
        "subgroups. The levels are thirds of baseline Wellbeing (SWEMWBS) cut at 19.98 and "
        "22.35, over "
        "everyone randomised with a baseline value (both arms pooled, measured before "
        "randomisation)."
    )


def test_the_forest_plot_draws_each_level_with_the_p_values_and_a_line_at_zero():
    (block,) = _view(_results())["subgroup_tests"]
    svg, alt = str(block["chart"].svg), block["chart"].description
    assert "lowest third" in svg and "middle third" in svg
    assert "Interaction p = 0.031, Holm p = 0.094" in alt
    assert alt.startswith("lowest third: +0.80 (95% CI")


def test_a_skipped_level_is_listed_without_its_small_count():
    (block,) = _view(_results())["subgroup_tests"]
    assert block["skipped"] == ["highest third: no estimate of its own, fewer than 10 participants"]


def test_an_exploratory_subgroup_says_so_and_is_not_adjusted():
    (block,) = _view(_results(prespecified=False))["subgroup_tests"]
    assert block["sentence"].startswith(
        "Wellbeing tertile (exploratory: not declared in the design)"
    )
    assert "not adjusted for multiplicity (exploratory)" in block["sentence"]


def test_each_arm_of_a_multi_arm_trial_has_its_own_rows_and_counts():
    results = _results()
    primary = results["outcomes"][0]
    call = [{**s, "arm": "call", "n": 30} for s in primary["subgroups"]]
    primary["subgroups"] = [*primary["subgroups"], *call]
    primary["subgroup_tests"] = [
        *primary["subgroup_tests"],
        {**primary["subgroup_tests"][0], "arm": "call"},
    ]
    results["trial"]["arms"] = [
        {"name": "control", "control": True},
        {"name": "letter", "label": "Letter"},
        {"name": "call", "label": "Call"},
    ]
    sup = Suppression(values={}, primary=frozenset(), complementary=frozenset(), hidden=frozenset())
    view = outcomes_view(results, sup)
    assert [r["level"] for r in view["subgroups"]] == [
        "lowest third (Letter)",
        "middle third (Letter)",
        "lowest third (Call)",
        "middle third (Call)",
    ]
    letter, call_block = view["subgroup_tests"]
    assert "Letter against control" in letter["sentence"]
    assert "Call against control" in call_block["sentence"]
