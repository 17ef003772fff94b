"""The one formatting module (reports/format.py): how every number, amount and name looks."""

from __future__ import annotations

import math

import pytest

from analysis.costs import EEF_COST_BANDS, eef_cost_band
from reports.charts.style import money_tick
from reports.format import (
    EEF_BANDS,
    MINUS,
    flagged_label,
    format_money,
    format_number,
    format_p,
    format_p_is,
    format_percent,
    humanise,
    outcome_noun,
)


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


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (3.1, None, "£3.10"),
        (999.994, None, "£999.99"),
        (1598.0, None, "£1,598"),
        (-13.5, None, f"{MINUS}£13.50"),
        (1598.0, 2, "£1,598.00"),
        (-13397.0, 2, f"{MINUS}£13,397.00"),
        (80.0, 0, "£80"),
        (None, 2, "\u2014"),
    ],
)
def test_money_has_one_format_with_a_true_minus_before_the_pound_sign(value, decimals, text):
    assert format_money(value, decimals=decimals) == text


def test_chart_ticks_drop_pence_only_on_whole_pounds():
    assert money_tick(250.0, 0) == "£250"
    assert money_tick(-1200.0, 0) == f"{MINUS}£1,200"
    assert money_tick(2.5, 0) == "£2.50"


def test_eef_band_ranges_are_read_from_the_analysis_bounds():
    assert [band for band, _ in EEF_BANDS] == [band for band, _, _ in EEF_COST_BANDS]
    assert dict(EEF_BANDS) == {
        "very low": "under £80",
        "low": "£80 to £200",
        "moderate": "£200 to £720",
        "high": "£720 to £1,200",
        "very high": "over £1,200",
    }
    # each printed range holds the costs the analysis puts in that band, either side of a bound
    for (band, upper, _), (after, _, _) in zip(EEF_COST_BANDS, EEF_COST_BANDS[1:], strict=False):
        assert math.isfinite(upper)
        assert eef_cost_band(upper - 0.01) == band and eef_cost_band(upper + 0.01) == after


def test_p_values_and_labels():
    assert format_p_is(0.0136) == "p = 0.014" and format_p_is(0.0004) == "p < 0.001"
    assert humanise("years_in_post") == "Years in post"
    flagged = {"instrument": "wrqol", "scoring_placeholder": True}
    assert flagged_label(flagged, "WRQoL").startswith("WRQoL [scored with the placeholder WRQoL")
    assert flagged_label({"instrument": "wrqol"}, "WRQoL") == "WRQoL"
