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
        (-2.0, -1.0, -3.0, -0.5, "even at their least favourable end"),
    ],
)
def test_the_sentence_says_no_more_than_the_bounds_allow(
    results, page, lower, upper, ci_low, ci_high, words
):
    doc = results("goal_setting")
    (bound,) = doc["attrition"]["bounds"]
    bound.update(lower=lower, upper=upper, ci_low=ci_low, ci_high=ci_high)
    for estimate in doc["outcomes"][0]["estimates"]:
        estimate["estimate"] = -1.5  # the primary estimate has the bounds' sign
    (sentence,) = _texts(page, render_trial(doc), data_field="attrition-bounds")
    assert words in sentence
    assert "other side of no difference" not in sentence
    assert "unadjusted difference in means" in sentence
    assert "not of the covariate-adjusted primary estimate" in sentence


@pytest.mark.parametrize(("ci_low", "ci_high"), [(-1.0, -0.01), (-1.0, 0.3)])
def test_bounds_of_the_other_sign_are_never_said_to_keep_the_primary_results_sign(
    results, page, ci_low, ci_high
):
    # coffee's case: primary +0.26 (adjusted), Lee bounds -0.59 to -0.07 of the raw difference
    doc = results("coffee")
    primary = doc["outcomes"][0]
    (bound,) = doc["attrition"]["bounds"]
    bound.update(lower=-0.59, upper=-0.07, ci_low=ci_low, ci_high=ci_high)
    itt = next(
        e for e in primary["estimates"] if e["estimand"] == "ITT" and e["arm"] == bound["arm"]
    )
    itt["estimate"] = 0.26
    (sentence,) = _texts(page, render_trial(doc), data_field="attrition-bounds")
    assert "keep" not in sentence and "sign, " not in sentence
    assert "other side of no difference from the covariate-adjusted primary estimate" in sentence
    assert "unadjusted difference in means" in sentence


def test_the_real_coffee_bounds_sentence_agrees_with_its_primary_estimate(results, page):
    doc = results("coffee")
    primary = doc["outcomes"][0]
    (bound,) = doc["attrition"]["bounds"]
    itt = next(
        e for e in primary["estimates"] if e["estimand"] == "ITT" and e["arm"] == bound["arm"]
    )
    (sentence,) = _texts(page, render_trial(doc), data_field="attrition-bounds")
    if bound["lower"] > 0 or bound["upper"] < 0:
        opposite = (bound["lower"] > 0) != (itt["estimate"] > 0)
        assert ("other side of no difference" in sentence) == opposite
        assert ("primary estimate's sign" in sentence) == (not opposite)


def test_the_evpi_table_and_sentences_state_results_json(results, page):
    doc = results("schwartz_rounds")
    voi = doc["costs"]["value_of_information"]
    html = render_trial(doc)
    table = page(html).one("table", data_table="evpi")
    body = [r for r in table.iter() if page.tag(r) == "tr"][1:]
    assert len(body) == len(voi["by_threshold"]) == 3
    # five authorities: the bootstrap resampled 2 or 3 per arm, so the EVPI cannot be assessed
    fewest = min(doc["costs"]["cost_effectiveness"][0]["n_clusters_per_arm"].values())
    assert fewest < 5
    caption = page.text(page(html).one("caption", id="evpi-cap"))
    assert caption.endswith(
        f"Unreliable: the bootstrap resampled only {fewest} organisations in an arm, so the "
        "chances and EVPIs below understate the uncertainty."
    )
    for tr, row in zip(body, voi["by_threshold"], strict=True):
        cells = [page.text(c) for c in tr]
        assert cells[0] == f"£{row['wtp']:,.0f}"  # the demo's thresholds are whole pounds
        assert cells[3] == format_money(row["evpi_per_person"])
        assert cells[4] == format_money(row["evpi_population"])
        assert cells[5] == "cannot be assessed reliably (too few clusters)"
    caveat, intro, conclusion = _texts(page, html, data_field="evpi")  # the caveat first
    assert caveat == (
        "The value of further research cannot be assessed reliably: the bootstrap resampled "
        f"only {fewest} organisations in an arm (fewer than 5), so its draws understate the "
        "uncertainty and the EVPI computed from them may be too low."
    )
    assert "2,500 staff in scope over 3 years" in intro
    assert "no study can be worth more" not in intro and "from these draws it is not" in intro
    assert format_money(voi["research_cost"]) in conclusion
    assert "cannot show whether more research is worth its cost" in conclusion
    section = page.text(page(html).one("table", data_table="evpi")) + " ".join(
        (caveat, intro, conclusion)
    )
    assert "not worth its cost" not in section and "100%" not in caveat + intro + conclusion
    assert research_line(doc).startswith(caveat)
    assert "not worth its cost" not in research_line(doc).lower()
    # enough clusters: the caveat goes, the verdicts and the upper bound come back
    for row in doc["costs"]["cost_effectiveness"]:
        row["n_clusters_per_arm"] = {k: 5 for k in row["n_clusters_per_arm"]}
    html = render_trial(doc)
    intro, conclusion = _texts(page, html, data_field="evpi")
    assert "It is an upper bound: no study can be worth more." in intro
    assert "Unreliable" not in page.text(page(html).one("caption", id="evpi-cap"))
    body = [r for r in page(html).one("table", data_table="evpi").iter() if page.tag(r) == "tr"]
    for tr, row in zip(body[1:], voi["by_threshold"], strict=True):
        assert page.text(list(tr)[5]) == (
            f"may be worth up to {format_money(row['evpi_population'])}"
            if row["research_may_be_worthwhile"]
            else "not worth its cost"
        )
    assert "cannot be assessed" not in research_line(doc)


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
    # two or three authorities per arm: no verdict, the caveat first
    assert research_line(doc).startswith("The value of further research cannot be assessed")
    assert "not worth its cost" not in research_line(doc).lower()
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


def _agreement(page, doc) -> str:
    (text,) = _texts(page, render_trial(doc), data_field="sensitivity-agreement")
    return text


def test_the_missing_data_agreement_weighs_the_bounds_too(results, page):
    # letters' case: every missing-at-random row a clear benefit, the Lee bounds' CI spans 0
    doc = results("letters")
    primary = doc["outcomes"][0]
    (bound,) = doc["attrition"]["bounds"]
    rows = [e for e in primary["estimates"] if e["estimand"] == "ITT"] + primary["sensitivity"]
    assert len(rows) > 1
    sign = 1 if primary.get("higher_is_better", True) else -1
    for row in rows:
        row.update(estimate=sign * 0.6, ci_low=min(sign * 0.27, sign * 0.94))
        row.update(ci_high=max(sign * 0.27, sign * 0.94))
    bound.update(lower=-0.1, upper=1.2, ci_low=-0.12, ci_high=1.29)
    text = _agreement(page, doc)
    assert "same under every way" not in text
    assert text.startswith(
        "The conclusion holds under the methods that assume the missing data are missing at "
        "random, but not under the bounds, which drop that assumption: their 95% interval "
        "includes no difference."
    )
    # bounds whose interval agrees: the sentence says the bounds were weighed
    bound.update(lower=sign * 0.3, upper=sign * 0.9, ci_low=min(sign * 0.1, sign * 1.1))
    bound.update(ci_high=max(sign * 0.1, sign * 1.1))
    assert _agreement(page, doc) == (
        "The conclusion is the same under every way of handling the missing data, including "
        "the bounds that do not assume it is missing at random."
    )
    bound.update(lower=-sign * 0.9, upper=-sign * 0.3, ci_low=-1.1, ci_high=-0.1)
    bound.update(ci_low=min(-sign * 1.1, -sign * 0.1), ci_high=max(-sign * 1.1, -sign * 0.1))
    assert "their 95% interval points the other way" in _agreement(page, doc)


def test_the_discounting_words_match_the_annuity_factor(results, page):
    from analysis.value_of_information import annuity_factor

    doc = results("schwartz_rounds")
    voi = doc["costs"]["value_of_information"]
    assert voi["discount_rate"] == 0.035 and voi["years"] == 3
    # the code discounts every year from its end, the first included (1/1.035 + ... + 1/1.035^3)
    assert annuity_factor(years=3, discount_rate=0.035) == pytest.approx(
        sum(1.035**-t for t in (1, 2, 3))
    )
    _, intro, _ = _texts(page, render_trial(doc), data_field="evpi")
    assert "over 3 years (each year, the first included, discounted at 3.5%)" in intro
    assert "later years" not in intro


def test_the_methods_say_a_cluster_trials_evpi_needs_enough_clusters(results):
    costs = results("schwartz_rounds")["methods"]["costs"]
    assert "EVPI bounds what any further study could be worth" in costs
    assert costs.endswith(
        "With fewer than 5 clusters in an arm the bootstrap understates the uncertainty and "
        "the EVPI cannot be assessed reliably."
    )
