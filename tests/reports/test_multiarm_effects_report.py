"""A three-arm report shows each active arm's CACE, its IPW and MI rows under the arm's label,
and the primary's Holm-adjusted p-values where the design declares Holm across arms."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.results import analyse_trial
from reports.format import format_p
from reports.render import render_trial
from tests.designs import DESIGNS
from trial_designs.design import load_design

DATA = DESIGNS.parents[0] / "tests" / "reference" / "data" / "multiarm.csv"
LABELS = {"letter": "Letter of appreciation", "call": "Phone call"}


@pytest.fixture(scope="module")
def three_arm_page(tmp_path_factory):  # noqa: ANN001, ANN201
    spec = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    spec.pop("cycles", None)
    spec["outcomes"] = [o for o in spec["outcomes"] if o["name"] == "feeling_valued"]
    spec["arms"].append({"name": "call", "ratio": 1, "label": LABELS["call"]})
    spec["randomisation"]["block_sizes"] = [3, 6]
    spec["analysis"].update(subgroups=[], adjust_across_arms="holm")
    path = tmp_path_factory.mktemp("three") / "letters.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    data = pd.read_csv(DATA, dtype={"participant_id": str}).assign(cluster=np.nan)
    results = analyse_trial(data, load_design(path), ri_draws=0)
    return results, render_trial(results)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_each_active_arm_has_its_cace_card(three_arm_page):
    results, html = three_arm_page
    caces = [e for e in results["outcomes"][0]["estimates"] if e["estimand"] == "CACE"]
    assert [e["arm"] for e in caces] == ["letter", "call"]
    for label in LABELS.values():
        assert f"CACE on Feeling valued (0-10) ({label})" in _text(html)


def test_each_active_arm_has_its_own_sensitivity_rows_and_agreement(three_arm_page):
    _, html = three_arm_page
    table = html[
        html.index('data-table="sensitivity"') : html.index(
            "</table>", html.index('data-table="sensitivity"')
        )
    ]
    rows = re.findall(r'<th scope="row">([^<]+)</th>', table)
    for label in LABELS.values():
        for method in (
            "Complete cases (primary analysis)",
            "Inverse-probability weighting",
            "Multiple imputation",
        ):
            assert f"{method}: {label}" in rows
    for label in LABELS.values():
        assert f"For {label} against control, the conclusion" in _text(html)


def test_the_primary_shows_its_holm_adjusted_p_values(three_arm_page):
    results, html = three_arm_page
    itts = [e for e in results["outcomes"][0]["estimates"] if e["estimand"] == "ITT"]
    shown = re.findall(r'data-col="p-holm">([^<]+)<', html)
    for estimate in itts:
        assert estimate["p_value_holm"] is not None
        assert format_p(estimate["p_value_holm"]) in shown
    assert "not adjusted" not in shown
    assert "Holm-adjusted across the active arms (each against control)" in _text(html)
