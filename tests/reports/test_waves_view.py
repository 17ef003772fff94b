"""The report's follow-up waves (issue 15.1): means by wave, per-wave and pooled effects, the caveat.

goal_setting declares a mid-point wave, so its simulated results carry ``waves`` on every
survey outcome; letters declares none.
"""

from __future__ import annotations

import copy
import re

import pytest

from reports.charts import wave_means_chart
from reports.disclosure import SUPPRESSED_MARK
from reports.format import format_ci, format_effect, format_p
from reports.render import render_trial
from reports.trial_view.waves import waves_view


@pytest.fixture(scope="module")
def goal_setting(simulated_results) -> dict:
    return simulated_results("goal_setting")


def test_every_survey_outcome_gets_its_sentence_chart_tables_and_caveat(goal_setting):
    blocks = waves_view(goal_setting)
    survey = [o for o in goal_setting["outcomes"] if o["source"] == "survey"]
    assert [b["name"] for b in blocks] == [o["name"] for o in survey]
    primary, block = survey[0], blocks[0]
    assert primary["primary"] and block["primary"]
    waves = primary["waves"]
    (pooled,) = waves["pooled"]
    midpoint, endline = waves["effects"]
    assert (midpoint["timepoint"], endline["timepoint"]) == ("midpoint", "endline")
    # the endline row is the headline's own estimate: the pre-declared timepoint is endline
    itt = next(e for e in primary["estimates"] if e["estimand"] == "ITT")
    assert endline["primary"] and endline["estimate"] == itt["estimate"]

    def stated(e: dict) -> str:
        return (
            f"{format_effect(e['estimate'], primary)} "
            f"(95% CI {format_ci(e['ci_low'], e['ci_high'], primary)})"
        )

    assert block["sentence"] == (
        f"The difference, in points on the 7\u201335 SWEMWBS scale, was {stated(midpoint)} at "
        f"midpoint and {stated(endline)} at endline. Averaged over midpoint and endline, the "
        f"pooled repeated-measures estimate is {format_effect(pooled['estimate'], primary)} "
        f"(95% CI {format_ci(pooled['ci_low'], pooled['ci_high'], primary)}, "
        f"p = {pooled['p_value']:.3f}). The headline uses endline, the timepoint the design "
        "declared before the data were seen."
    )
    assert [r["timepoint"] for r in block["rows"]] == [
        "midpoint",
        "endline (pre-declared)",
        "pooled over midpoint, endline",
    ]
    assert [r["p"] for r in block["rows"]] == [
        format_p(e["p_value"]) for e in (midpoint, endline, pooled)
    ]
    assert block["timepoints"] == ["baseline", "midpoint", "endline"]
    assert [len(line["cells"]) for line in block["table"]] == [3, 3]
    assert "missing at random" in block["caveat"] and "normal-based" in block["caveat"]
    assert "clusters" not in block["caveat"]  # individually randomised
    page = render_trial(goal_setting)
    assert page.count('data-field="waves"') == len(survey)
    assert page.count('data-table="wave-effects"') == len(survey)
    assert "Mean by wave, each arm" in page


def test_a_trial_without_waves_shows_none(simulated_results):
    assert waves_view(simulated_results("letters")) == []


def test_a_mean_of_a_handful_of_answers_is_hidden_from_table_and_chart(goal_setting):
    doc = copy.deepcopy(goal_setting)
    means = doc["outcomes"][0]["waves"]["means"]
    hidden = next(m for m in means if m["timepoint"] == "midpoint")
    hidden["n"] = 4
    block = waves_view(doc)[0]
    row = next(line for line in block["table"] if line["label"] != "Usual practice")
    control = next(line for line in block["table"] if line["label"] == "Usual practice")
    assert hidden["arm"] == "control"
    assert control["cells"][1] == SUPPRESSED_MARK and SUPPRESSED_MARK not in row["cells"]
    assert "Usual practice: baseline" in block["chart"].description
    assert "midpoint" not in block["chart"].description.split(". ")[0]


def test_a_cluster_trial_says_its_pooled_interval_is_too_narrow(goal_setting):
    doc = copy.deepcopy(goal_setting)
    doc["outcomes"][0]["waves"]["n_clusters"] = 5
    doc["trial"]["cluster_by"] = "local_authority"
    caveat = waves_view(doc)[0]["caveat"]
    assert caveat.endswith(
        "With only 5 local authorities randomised, that interval is likely too narrow: the "
        "per-wave intervals, which allow for few clusters, are the ones to read first."
    )


def test_chart_text_is_at_least_11_px_when_drawn_390_px_wide():
    points = [
        {"timepoint": t, "mean": m, "low": m - 0.4, "high": m + 0.4, "text": f"{m}"}
        for t, m in (("baseline", 21.0), ("midpoint", 21.5), ("endline", 21.4))
    ]
    chart = wave_means_chart(
        [{"label": "Usual practice", "points": points}, {"label": "Course", "points": points}],
        timepoints=["baseline", "midpoint", "endline"],
        unit="Wellbeing (SWEMWBS metric score)",
        chart_id="waves-test",
    )
    width = float(re.search(r'viewBox="[\d.]+ [\d.]+ ([\d.]+) ', chart.svg).group(1))
    sizes = [float(s) for s in re.findall(r"font-size:\s*([\d.]+)px", chart.svg)]
    sizes += [float(s) for s in re.findall(r'font-size="([\d.]+)"', chart.svg)]
    assert sizes, "the SVG states its font sizes"
    assert min(sizes) * 390 / width >= 11
