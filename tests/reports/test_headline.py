"""Headlines read sensibly for a clear benefit, a null effect, a harm and a lost arm."""

from __future__ import annotations

import pytest

from reports.headline import (
    MINUS,
    effect_verdict,
    format_ci,
    format_effect,
    format_money,
    format_number,
    format_p,
    format_percent,
    headline,
    headline_sentences,
    outcome_noun,
)

ALL = (
    "letters",
    "goal_setting",
    "coffee",
    "schwartz_rounds",
    "letters_null",
    "schwartz_rounds_harm",
    "letters_arm_lost",
)


def test_the_issue_example_is_what_the_letters_fixture_gives(results):
    assert headline_sentences(results("letters")) == (
        "Letters of appreciation raised feeling valued by 0.4 points on a 0\u201310 scale "
        "(95% CI 0.1 to 0.8).",
        "There was no clear effect on wellbeing (SWEMWBS).",
        "The cost was £3.10 per participant.",
    )


def test_a_null_effect_says_no_clear_effect(results):
    assert headline_sentences(results("letters_null")) == (
        "Letters of appreciation had no clear effect on feeling valued: the estimate was "
        f"+0.02 points on a 0\u201310 scale (95% CI {MINUS}0.39 to 0.43), "
        "a range that includes no difference.",
        "There was no clear effect on wellbeing (SWEMWBS).",
        "The cost was £3.10 per participant.",
    )


def test_a_harmful_effect_on_a_lower_is_better_outcome_says_so(results):
    assert headline_sentences(results("schwartz_rounds_harm")) == (
        "Schwartz Rounds in children's services raised psychological distress by 1.6 points "
        "on the 0\u201336 GHQ-12 scale (95% CI 0.5 to 2.7). Lower scores are better on this "
        "measure, so this is a worse result.",
        "There was no clear effect on wellbeing (SWEMWBS).",
        "With only 5 organisations randomised, the trial could detect only large effects.",
        "The cost was £283.46 per participant (£19.98 per attendee per Round).",
    )


def test_an_arm_lost_to_follow_up_is_not_estimated_and_says_why(results):
    assert headline_sentences(results("letters_arm_lost")) == (
        "The effect on feeling valued could not be estimated: no one in the Letter of "
        "appreciation arm was followed up (0 of 195 analysed).",
        "The cost was £3.10 per participant.",
    )


def test_low_uptake_gets_its_own_sentence(results):
    sentences = headline_sentences(results("goal_setting"))
    assert "Only 20% of those offered it took it up." in sentences


@pytest.mark.parametrize("name", ALL)
def test_never_no_effect_and_every_sentence_ends(name, results):
    text = headline(results(name))
    assert "no effect" not in text.replace("no clear effect", "")
    assert all(s.endswith(".") for s in headline_sentences(results(name)))


def _outcome(estimate, low, high, *, higher_is_better=True, **extra):
    return {
        "name": "x",
        "label": "Wellbeing (SWEMWBS metric score)",
        "primary": True,
        "instrument": "swemwbs",
        "higher_is_better": higher_is_better,
        "estimates": [
            {"estimand": "ITT", "arm": "t", "estimate": estimate, "ci_low": low, "ci_high": high}
        ],
        "arms": [],
        **extra,
    }


def _results(outcome):
    return {
        "trial": {
            "title": "The course",
            "control_arm": "c",
            "arms": [{"name": "c"}, {"name": "t", "label": "Course"}],
        },
        "outcomes": [outcome],
        "consort": {"individuals": {}},
    }


@pytest.mark.parametrize(
    ("estimate", "low", "high", "higher_is_better", "verb", "harm"),
    [
        (0.8, 0.3, 1.3, True, "raised", False),
        (-0.8, -1.3, -0.3, True, "reduced", True),
        (0.8, 0.3, 1.3, False, "raised", True),
        (-0.8, -1.3, -0.3, False, "reduced", False),
    ],
)
def test_direction_words_follow_the_sign_and_harm_follows_higher_is_better(
    estimate, low, high, higher_is_better, verb, harm
):
    outcome = _outcome(estimate, low, high, higher_is_better=higher_is_better)
    first = headline_sentences(_results(outcome))[0]
    assert first.startswith(f"The course {verb} wellbeing by 0.8 points")
    assert ("so this is a worse result" in first) is harm
    assert effect_verdict(outcome["estimates"][0], higher_is_better=higher_is_better) == (
        "harm" if harm else "benefit"
    )


def test_a_ci_touching_zero_is_not_a_clear_effect():
    outcome = _outcome(0.5, 0.0, 1.0)
    assert effect_verdict(outcome["estimates"][0], higher_is_better=True) == "unclear"
    assert "no clear effect" in headline_sentences(_results(outcome))[0]


def test_decimals_keep_a_clear_interval_away_from_zero():
    # 0.04 would print as 0.0 with one decimal, which reads as "includes zero"
    first = headline_sentences(_results(_outcome(0.4, 0.04, 0.76)))[0]
    assert "(95% CI 0.04 to 0.76)" in first and "0.40 points" in first


def test_proportions_are_stated_in_percentage_points():
    outcome = _outcome(
        -0.045,
        -0.08,
        -0.01,
        higher_is_better=False,
        instrument="turnover",
        binary=True,
        label="Left the employer",
    )
    first = headline_sentences(_results(outcome))[0]
    assert first == (
        "The course reduced staff turnover by 4.5 percentage points (95% CI 1.0 to 8.0)."
    )
    assert format_effect(-0.045, outcome) == f"{MINUS}4.5 pp"
    assert format_ci(-0.08, -0.01, outcome) == f"{MINUS}8.0 to {MINUS}1.0 pp"


def test_number_formats():
    assert format_number(-0.123, 2) == f"{MINUS}0.12"
    assert format_number(0.123, 2, signed=True) == "+0.12"
    assert format_number(-0.001, 2) == "0.00"
    assert format_number(None) == "\u2014"
    assert format_p(0.0004) == "<0.001" and format_p(0.0136) == "0.014"
    assert format_money(3.1) == "£3.10" and format_money(1598.0) == "£1,598"
    assert format_percent(20.46) == "20%" and format_percent(0.2) == "<1%"


def test_outcome_nouns():
    assert outcome_noun({"label": "Feeling valued (0-10)", "instrument": "single_item"}) == (
        "feeling valued"
    )
    assert outcome_noun({"label": "GHQ", "instrument": "ghq12"}) == (
        "psychological distress (GHQ-12)"
    )
    assert outcome_noun({"label": "GHQ", "instrument": "ghq12"}, with_instrument=False) == (
        "psychological distress"
    )
