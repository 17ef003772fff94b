"""The three-arm report's words claim no more than the evidence and name each intervention."""

from __future__ import annotations

import re

import pytest

from reports.render import render_trial

NAME = "goal_setting_nudges"


@pytest.fixture(scope="module")
def three_arms(simulated_results) -> dict:
    return simulated_results(NAME)


def _caption(html: str) -> str:
    return re.search(r'<caption id="outcomes-cap">(.*?)</caption>', html).group(1)


def test_the_outcomes_caption_speaks_of_each_intervention_against_control(three_arms, rendered):
    assert _caption(render_trial(three_arms)) == (
        "Effect of being offered each intervention, against usual practice (ITT) on every "
        "outcome, primary first"
    )
    # two arms: as before
    assert _caption(rendered["letters"]) == (
        "Effect of being offered the intervention (ITT) on every outcome, primary first"
    )


def test_captions_over_scrolling_tables_are_held_to_the_screen(rendered):
    # measured in tests/reports/test_browser_layout.py; here: the rule is in the page, for
    # screens only (a PDF's tables do not scroll)
    assert re.search(
        r"@media screen \{ \.table-wrap > table > caption \{ max-width: min\(calc\(100vw - 2rem\)",
        rendered["letters"],
    )
