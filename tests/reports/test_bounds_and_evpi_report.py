"""The report's attrition bounds and value of information (issue 15.3, 15.6), on analysed trials.

The documents are real analyses of simulated demo trials (tests/simulated_results.py);
schwartz_rounds is a five-authority cluster trial that declares value_of_information.
"""

from __future__ import annotations

import pytest

from reports.format import format_ci, format_money
from reports.render import render_portfolio, render_trial
from reports.value_of_information import research_line
from tests.simulated_results import DEMO_TRIALS


def _texts(page, html, **attrs) -> list[str]:
    return [page.text(e) for e in page(html).all(**attrs)]


def test_the_cluster_trials_bounds_sit_beside_ipw_and_mi_with_their_caveat(results, page):
    doc = results("schwartz_rounds")
    (bound,) = doc["attrition"]["bounds"]
    assert bound["kind"] == "lee" and bound["se_ignores_clustering"] is True
    html = render_trial(doc)
    primary = doc["outcomes"][0]
    (row,) = page(html).all("tr", data_row="bounds")
    cells = [page.text(c) for c in row]
    assert cells[0] == "Lee bounds (monotone attrition)"
    assert cells[2] == format_ci(bound["ci_low"], bound["ci_high"], primary)
    # the row is in the sensitivity table, after the complete-case, IPW and MI rows
    table = page(html).one("table", data_table="sensitivity")
    assert row in list(table.iter())
    (sentence,) = _texts(page, html, data_field="attrition-bounds")
    between = format_ci(bound["lower"], bound["upper"], primary).replace(" to ", " and ")
    assert f"lies between {between} (Lee bounds" in sentence
    assert "monotone attrition" in sentence
    (caveat,) = _texts(page, html, data_field="attrition-bounds-caveat")
    assert "clustered by organisation, so they are too narrow" in caveat
    methods = doc["methods"]["missing_data"]
    assert "Lee (2009)" in methods and "too narrow" in methods


def test_an_individually_randomised_trial_has_no_clustering_caveat(results, page):
    doc = results("goal_setting")
    assert doc["attrition"]["bounds"] and not doc["attrition"]["bounds"][0]["se_ignores_clustering"]
    html = render_trial(doc)
    assert _texts(page, html, data_field="attrition-bounds")
    assert not page(html).all(data_field="attrition-bounds-caveat")
    assert "too narrow" not in doc["methods"]["missing_data"]


def test_a_binary_bound_is_worded_as_worst_and_best_case(results, page):
    doc = results("goal_setting")
    doc["attrition"]["bounds"][0].update(kind="worst_best", trimmed_arm=None, trim_share=0.0)
    (sentence,) = _texts(page, render_trial(doc), data_field="attrition-bounds")
    assert sentence.startswith("Setting every missing answer to the worst and then the best case")
    assert "Lee" not in sentence


@pytest.mark.parametrize(
    ("lower", "upper", "ci_low", "ci_high", "words"),
    [
        (-2.0, 1.0, -3.0, 2.0, "The bounds include no difference"),
        (-2.0, -1.0, -3.0, 0.5, "but their 95% interval includes no difference"),
        (-2.0, -1.0, -3.0, -0.5, "Even at the bounds' least favourable end"),
    ],
)
def test_the_sentence_says_no_more_than_the_bounds_allow(
    results, page, lower, upper, ci_low, ci_high, words
):
    doc = results("goal_setting")
    doc["attrition"]["bounds"][0].update(lower=lower, upper=upper, ci_low=ci_low, ci_high=ci_high)
    (sentence,) = _texts(page, render_trial(doc), data_field="attrition-bounds")
    assert words in sentence


def test_the_evpi_table_and_sentences_state_results_json(results, page):
    doc = results("schwartz_rounds")
    voi = doc["costs"]["value_of_information"]
    html = render_trial(doc)
    table = page(html).one("table", data_table="evpi")
    body = [r for r in table.iter() if page.tag(r) == "tr"][1:]
    assert len(body) == len(voi["by_threshold"]) == 3
    for tr, row in zip(body, voi["by_threshold"], strict=True):
        cells = [page.text(c) for c in tr]
        assert cells[0] == f"£{row['wtp']:,.0f}"  # the demo's thresholds are whole pounds
        assert cells[3] == format_money(row["evpi_per_person"])
        assert cells[4] == format_money(row["evpi_population"])
        worth = row["research_may_be_worthwhile"]
        assert cells[5] == (
            f"may be worth up to {format_money(row['evpi_population'])}"
            if worth
            else "not worth its cost"
        )
    intro, conclusion, caveat = _texts(page, html, data_field="evpi")
    assert "2,500 staff in scope over 3 years" in intro and "upper bound" in intro
    assert format_money(voi["research_cost"]) in conclusion
    # five authorities: the bootstrap resampled 2 or 3 per arm, so the EVPI may be too low
    fewest = min(doc["costs"]["cost_effectiveness"][0]["n_clusters_per_arm"].values())
    assert fewest < 5
    assert caveat == (
        f"The bootstrap resampled only {fewest} organisations in an arm, so its draws "
        "understate the uncertainty and this EVPI may be too low."
    )
    assert caveat in research_line(doc)
    for row in doc["costs"]["cost_effectiveness"]:
        row["n_clusters_per_arm"] = {k: 5 for k in row["n_clusters_per_arm"]}
    assert len(_texts(page, render_trial(doc), data_field="evpi")) == 2
    assert "may be too low" not in research_line(doc)


def test_the_portfolio_says_per_trial_whether_more_research_is_worth_its_cost(results, page):
    docs = [results(name) for name in DEMO_TRIALS]
    lines = _texts(page, render_portfolio(docs), data_field="further-research")
    assert len(lines) == len(DEMO_TRIALS)
    declared = [d for d in docs if (d.get("costs") or {}).get("value_of_information")]
    assert [d["trial"]["id"] for d in declared] == ["schwartz_rounds"]
    for doc, line in zip(docs, lines, strict=True):
        assert line == f"More research: {research_line(doc)}"
        if doc not in declared:
            assert line.startswith("More research: Not assessed")


def test_research_is_never_said_to_be_worth_doing_only_that_it_may_be(results):
    doc = results("schwartz_rounds")
    rows = doc["costs"]["value_of_information"]["by_threshold"]
    for row in rows:
        row["research_may_be_worthwhile"] = False
    best = max(r["evpi_population"] for r in rows)
    # two or three authorities per arm: the verdict is hedged as the EVPI's own
    assert research_line(doc).startswith("By this EVPI, not worth its cost")
    assert research_line(doc).endswith("this EVPI may be too low.")
    for row in doc["costs"]["cost_effectiveness"]:
        row["n_clusters_per_arm"] = {k: 5 for k in row["n_clusters_per_arm"]}
    assert research_line(doc).startswith("Not worth its cost")
    assert f"at most {format_money(best)}, less than the £250,000" in research_line(doc)
    rows[1].update(research_may_be_worthwhile=True, evpi_population=400_000.0)
    line = research_line(doc)
    assert line.startswith("May be worth up to £400,000") and "upper bound" in line
    assert "is worth" not in line
    doc["costs"]["value_of_information"]["research_cost"] = None
    assert "no research cost declared" in research_line(doc)
