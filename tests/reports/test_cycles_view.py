"""The report's learning cycles block: the table rows, the sentence with the test, the amendments."""

from __future__ import annotations

import copy
from pathlib import Path

from reports.trial_view.cycles import cycles_view

EFFECT = {"n": 120, "n_per_arm": {"control": 60, "letter": 60}, "std_error": 0.2}
RESULTS = {
    "trial": {
        "control_arm": "control",
        "arms": [
            {"name": "control", "label": "No letter", "control": True},
            {"name": "letter", "label": "Letter of appreciation"},
        ]
    },
    "outcomes": [{"name": "feeling_valued", "label": "Feeling valued (0-10)", "primary": True}],
    "cycles": {
        "outcome": "feeling_valued",
        "arm": "letter",
        "se_type": "HC2",
        "by_cycle": [
            {**EFFECT, "cycle": "spring_2019", "number": 1, "randomised_on": "2019-04-01",
             "estimate": 0.3, "ci_low": -0.1, "ci_high": 0.7, "p_value": 0.14},
            {**EFFECT, "cycle": "autumn_2019", "number": 2, "randomised_on": "2019-10-01",
             "n": 3, "estimate": 1.2, "ci_low": 0.8, "ci_high": 1.6, "p_value": 0.0001},
        ],
        "pooled": {**EFFECT, "cycle": "pooled", "number": 0, "randomised_on": None,
                   "estimate": 0.7, "ci_low": 0.4, "ci_high": 1.0, "p_value": 0.0002},
        "heterogeneity": {"statistic": 9.61, "df_num": 1, "df_denom": 236.0, "p_value": 0.0022},
        "amendments": [],
    },
}  # fmt: skip


def test_the_sentence_gives_each_cycle_the_pooled_effect_and_the_test():
    view = cycles_view(RESULTS)
    assert view["sentence"] == (
        "The difference in feeling valued (Letter of appreciation minus No letter) was +0.30 "
        "(95% CI \u22120.10 to 0.70) in cycle 1 (spring_2019) and +1.20 (95% CI 0.80 to 1.60) "
        "in cycle 2 (autumn_2019). Pooled across cycles with cycle fixed effects it was +0.70 "
        "(95% CI 0.40 to 1.00). The test of whether it differs between cycles (arm \u00d7 cycle "
        "interaction, Wald F(1, 236) = 9.61, HC2 standard errors) gives p = 0.002: the effect "
        "differs between cycles."
    )
    assert [r["cycle"] for r in view["rows"]] == [
        "Cycle 1: spring_2019",
        "Cycle 2: autumn_2019",
        "Pooled, with cycle fixed effects",
    ]
    assert view["rows"][1]["randomised"] == "1 October 2019"
    # a cycle of 3 people is a small count: hidden as every small count is
    assert view["rows"][1]["n"] == "[c]"
    assert view["no_amendments"].startswith("No design amendment was recorded between cycles")


def test_amendments_between_cycles_are_listed():
    results = copy.deepcopy(RESULTS)
    results["cycles"]["amendments"] = [
        {
            "after_cycle": 1,
            "recorded_at": "2026-11-30T19:40:00",
            "reason": "clearer wording",
            "changes": ["title: 'Letters' -> 'Letters of thanks'"],
        }
    ]
    view = cycles_view(results)
    assert view["amendments"] == [
        "After cycle 1, recorded 30 November 2026: clearer wording "
        "(title: 'Letters' -> 'Letters of thanks')"
    ]
    assert view["no_amendments"] is None


def test_no_cycles_no_block_and_one_cycle_says_so():
    assert cycles_view({"outcomes": []}) is None
    results = copy.deepcopy(RESULTS)
    results["cycles"].update(
        by_cycle=results["cycles"]["by_cycle"][:1], pooled=None, heterogeneity=None
    )
    assert cycles_view(results)["sentence"].endswith(
        "in cycle 1 (spring_2019). Only one cycle has outcomes so far, so the cycles cannot "
        "be compared yet."
    )


def test_the_pooling_note_names_which_estimates_have_cycle_fixed_effects():
    note = cycles_view(RESULTS)["pooling_note"]
    # the attrition bounds are unadjusted pooled differences: "every estimate" was false
    assert "Every estimate" not in note
    assert "attrition bounds do not" in note and "ITT, CACE" in note
    # the report prints the view's note, not a sentence of its own
    template = (Path(__file__).parents[2] / "reports/templates/trial.html.j2").read_text()
    assert "{{ cycles.pooling_note }}" in template
    assert "Every estimate in this report pools the cycles" not in template


def test_amendments_not_looked_up_are_not_reported_as_none_recorded():
    results = copy.deepcopy(RESULTS)
    results["cycles"]["amendments_looked_up"] = False
    said = cycles_view(results)["no_amendments"]
    assert said.startswith("Design amendments between cycles were not looked up")
    assert "No design amendment was recorded" not in said
    assert cycles_view(RESULTS)["no_amendments"].startswith("No design amendment was recorded")
