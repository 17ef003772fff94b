"""What the uptake funnel and the labels say: every arm has a row, and [c] is explained."""

from __future__ import annotations

import re

import pytest

from reports.charts import MAX_WIDTH_PT, forest_chart, funnel_chart, portfolio_chart, uptake_chart
from reports.disclosure import SUPPRESSED_MARK
from reports.format import humanise


def _texts(chart) -> str:
    return str(chart.svg)


def test_the_funnel_keeps_the_control_arm_and_explains_a_hidden_share():
    rows = [
        {
            "label": "Waiting list",
            "allocated": 162,
            "stages": [("offered", 0, 0.0), ("started", 0, 0.0), ("completed", 0, 0.0)],
        },
        {
            "label": "Rounds",
            "allocated": 148,
            "stages": [("offered", 148, 100.0), ("started", None, None), ("completed", 41, 27.7)],
        },
        {
            "label": "Contaminated",
            "allocated": 150,
            "stages": [("offered", None, None), ("started", None, None), ("completed", 0, 0.0)],
        },
    ]
    chart = funnel_chart(rows, chart_id="funnel")
    svg = _texts(chart)
    assert "Waiting list" in svg and "Not offered the intervention" in svg
    assert svg.count(f">{SUPPRESSED_MARK}<") >= 3, "hidden shares are marked, not dropped"
    assert f"{SUPPRESSED_MARK}: not shown (fewer than 5 people)" in svg
    assert "Waiting list: not offered the intervention" in chart.description
    assert "Contaminated (150 allocated): offered [c]" in chart.description


def test_a_funnel_with_nothing_hidden_does_not_explain_the_mark():
    rows = [
        {"label": "A", "allocated": 10, "stages": [("offered", 10, 100.0), ("started", 9, 90.0)]}
    ]
    assert "not shown" not in _texts(funnel_chart(rows, chart_id="funnel"))


def test_labels_keep_instrument_names_and_read_field_names_as_words():
    assert humanise("swemwbs_baseline") == "SWEMWBS baseline"
    assert humanise("ghq12_baseline") == "GHQ-12 baseline"
    assert humanise("print_and_post") == "Print and post"
    assert humanise("hr_record") == "HR record"
    assert humanise("Training (one-off)") == "Training (one-off)"


LONG_WORD = "Supercalifragilisticexpialidociousnessofworkplacewellbeingmeasure"


@pytest.mark.parametrize("label", [LONG_WORD, "A " * 80, LONG_WORD * 3])
def test_labels_of_any_length_draw_and_a_long_word_does_not_outgrow_a_phone(label):
    charts = [
        forest_chart(
            [{"label": label, "value": 0.1, "low": -0.1, "high": 0.3, "primary": True}],
            chart_id="forest",
        ),
        portfolio_chart(
            [{"label": label, "cost": 1e7, "effect": 0.1, "low": -0.1, "high": 0.3}],
            effect_label=label,
            chart_id="portfolio",
        ),
        funnel_chart(
            [{"label": label, "allocated": 10, "stages": [("offered", 10, 100.0)]}],
            chart_id="funnel",
        ),
        uptake_chart(
            [{"label": label, "points": [("2020-01-06", 10.0), ("2020-03-02", 50.0)]}],
            chart_id="uptake",
        ),
    ]
    widths = [float(re.search(r"max-width: (\d+)pt", str(c.svg)).group(1)) for c in charts]
    if len(label) < 100:  # one long word, or many short ones: wrapped to fit
        assert max(widths) <= MAX_WIDTH_PT, widths
