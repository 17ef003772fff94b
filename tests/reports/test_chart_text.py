"""Text drawn from data is literal: matplotlib once read a label with two '$' as TeX, so an
outcome labelled 'Feeling valued ($\\frac{a}{$ scale)' made `trialflow report` exit 1."""

from __future__ import annotations

import matplotlib

from reports.charts import forest_chart, portfolio_chart

BROKEN_TEX = r"Feeling valued ($\frac{a}{$ scale)"
INLINE_TEX = "Cost ($x$ per head)"


def test_a_label_with_dollars_renders_literally_in_the_forest_plot():
    rows = [
        {"label": BROKEN_TEX, "value": 0.2, "low": -0.1, "high": 0.5, "primary": True},
        {"label": INLINE_TEX, "value": -0.1, "low": -0.3, "high": 0.1, "primary": False},
    ]
    svg = str(forest_chart(rows, chart_id="forest").svg)
    assert BROKEN_TEX in svg
    assert INLINE_TEX in svg
    # the global setting is left as it was: only the charts' own context changes it
    assert matplotlib.rcParams["text.parse_math"] is True


def test_a_trial_label_and_outcome_label_with_dollars_render_literally_in_the_portfolio():
    rows = [
        {"label": INLINE_TEX, "cost": 120.0, "effect": 0.4, "low": 0.1, "high": 0.7},
        {"label": "Coffee", "cost": 35.0, "effect": 0.1, "low": -0.2, "high": 0.4},
    ]
    svg = str(portfolio_chart(rows, effect_label=BROKEN_TEX, chart_id="portfolio").svg)
    assert INLINE_TEX in svg
    assert BROKEN_TEX in svg
