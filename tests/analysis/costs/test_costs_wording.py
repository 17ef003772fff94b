"""analysis.costs.wording: the words results.json stores about costs, and the coded verdict."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from analysis.costs import COST_EFFECT_VERDICTS, bootstrap_cost_effect, cost_effect_verdict
from analysis.costs.wording import (
    cost_effect_sentence,
    icer_interval_note,
    pounds_and_pence,
    relative_variation,
    unit_cost_range,
)
from reports.format import format_money

SIGNS = (-2.5, -0.0, 0.0, 0.4, 3.0)


@pytest.mark.parametrize(("cost", "effect"), list(itertools.product(SIGNS, SIGNS)))
def test_the_verdict_is_where_the_point_falls_on_the_plane(cost, effect):
    verdict = cost_effect_verdict(cost, effect)
    assert verdict in COST_EFFECT_VERDICTS
    if effect == 0:
        assert verdict == "no difference"
    elif cost <= 0 < effect:
        assert verdict == "dominant"
    elif effect < 0 <= cost:
        assert verdict == "dominated"
    else:
        # dearer and better, or cheaper and worse
        assert (cost > 0 and effect > 0) or (cost < 0 and effect < 0)
        assert verdict == "trade-off"


@pytest.mark.parametrize(("cost", "effect"), list(itertools.product(SIGNS, SIGNS)))
def test_the_sentence_says_the_verdict(cost, effect):
    verdict = cost_effect_verdict(cost, effect)
    sentence = cost_effect_sentence(
        cost,
        effect,
        verdict=verdict,
        outcome_label="SWEMWBS",
        effect_unit="point",
        higher_is_better=True,
    )
    opening = {
        "dominant": "The intervention is dominant: it ",
        "dominated": "The intervention is dominated: it ",
    }
    assert sentence.startswith(opening.get(verdict, "The intervention costs"))
    assert ("does not change SWEMWBS" in sentence) == (verdict == "no difference")
    assert (" per point " in sentence) == (verdict == "trade-off")
    assert sentence.endswith(".")


@pytest.mark.parametrize(("cost", "effect"), list(itertools.product(SIGNS, SIGNS)))
def test_an_arms_sentence_names_the_arm_and_says_the_rest_as_the_intervention(cost, effect):
    words = {
        "verdict": cost_effect_verdict(cost, effect),
        "outcome_label": "SWEMWBS",
        "effect_unit": "point",
        "higher_is_better": True,
    }
    plain = cost_effect_sentence(cost, effect, **words)
    named = cost_effect_sentence(cost, effect, **words, subject="Course plus manager reminders")
    assert plain.startswith("The intervention ")
    assert named == plain.replace("The intervention", "Course plus manager reminders", 1)
    assert "intervention" not in named


def test_a_bootstrap_result_carries_the_coded_verdict_and_its_sentence(rng):
    arm = np.arange(60) % 2 == 1
    costs = np.where(arm, 30.0, 0.0) + rng.normal(0, 1, 60)
    effects = rng.normal(0, 1, 60) + 0.9 * arm
    result = bootstrap_cost_effect(costs, effects, arm, rng=rng, n_boot=200)
    assert result.verdict == cost_effect_verdict(result.incremental_cost, result.incremental_effect)
    out = result.to_dict()
    assert out["verdict"] == result.verdict
    assert (
        out["sentence"]
        == result.sentence
        == cost_effect_sentence(
            result.incremental_cost,
            result.incremental_effect,
            verdict=result.verdict,
            outcome_label="the outcome",
            effect_unit="point",
            higher_is_better=True,
        )
    )
    assert out["icer"]["note"] == result.icer_ci_note
    assert result.sentence_about("Course offered by email") == result.sentence.replace(
        "The intervention", "Course offered by email", 1
    )


def test_the_icer_note_says_why_an_interval_is_undefined_or_unbounded():
    assert icer_interval_note(ci_level=0.95, effect_ci=(-0.1, 0.3), icer_ci=(np.nan, np.nan)) == (
        "Undefined: the 95% CI of the effect (-0.1 to 0.3) includes zero, so the ICER's "
        "replicates pass through infinity. See the plane and the CEAC."
    )
    bounded = icer_interval_note(ci_level=0.9, effect_ci=(0.2, 0.5), icer_ci=(10.0, 40.0))
    assert bounded.startswith("Percentile 90% interval") and bounded.endswith("plane.")
    unbounded = icer_interval_note(ci_level=0.95, effect_ci=(-0.5, -0.2), icer_ci=(-np.inf, 4.0))
    assert unbounded.endswith("; a bound is unbounded because replicates reach zero effect.")


@pytest.mark.parametrize("value", [0.0, -0.0, 0.004, 0.005, 3.1, -13.5, 999.995, 1598.0, -1e7])
def test_pounds_and_pence_is_the_reports_money_in_pence_without_a_sign(value):
    # results.json's sentences keep pence; the reports' formatter writes the same with decimals=2
    assert pounds_and_pence(value) == format_money(abs(value), decimals=2)


def test_how_a_unit_cost_was_varied():
    assert unit_cost_range(25, 40) == "£25.00 to £40.00"
    assert unit_cost_range(1234.5, 2000) == "£1,234.50 to £2,000.00"
    assert relative_variation(0.25) == "±25%"
    assert relative_variation(0.125) == "±12.5%"
