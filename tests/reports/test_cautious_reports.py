"""Reports are no bolder than the evidence: weak results are not "clear", not funded, and flagged.

The simulated Schwartz Rounds trial is the issue's case: the model finds less distress
(p < 0.05), randomisation inference and multiple imputation do not, and there are
5 local authorities (3 and 2).  Each test reads those numbers off the document.
"""

from __future__ import annotations

import pytest

from reports.format import format_money, format_p_is
from reports.headline import headline_sentences
from reports.portfolio import portfolio_answer
from reports.render import render_portfolio, render_trial

DEMO = ("letters", "goal_setting", "coffee", "schwartz_rounds")


def test_a_caveated_result_is_never_called_a_clear_benefit(results, rendered, page):
    itt = results("schwartz_rounds")["outcomes"][0]["estimates"][0]
    assert itt["p_value"] < 0.05 <= itt["ri_p_value"]  # the caveat's premise
    report = page(rendered["schwartz_rounds"])
    card = report.one("div", data_field="primary-estimate")
    assert "Possible benefit (weak evidence)" in report.text(card)
    assert f"randomisation inference gives {format_p_is(itt['ri_p_value'])}" in report.text(card)
    primary_row = report.one("tr", data_outcome="ghq12")
    assert "Possible benefit (weak evidence)" in report.text(primary_row)
    assert "Clear benefit" not in report.visible_text()
    # the headline's first paragraph is the caveated sentence
    headline = report.one("div", data_field="headline")
    first = report.text(next(e for e in headline.iter() if report.tag(e) == "p"))
    assert first == headline_sentences(results("schwartz_rounds"))[0]
    assert "but the evidence is weak" in first


def test_the_same_clear_result_without_caveats_is_a_clear_benefit(results, page):
    doc = results("schwartz_rounds")
    doc["trial"]["unit"] = "individual"  # no clusters to count
    del doc["consort"]["clusters"]
    primary = doc["outcomes"][0]
    primary["estimates"][0]["ri_p_value"] = 0.01
    primary["sensitivity"] = [
        m for m in primary["sensitivity"] if m["method"] != "multiple_imputation"
    ]
    report = page(render_trial(doc))
    assert "Clear benefit" in report.text(report.one("div", data_field="primary-estimate"))


def test_the_portfolio_does_not_recommend_funding_a_weak_result(results):
    answer = " ".join(portfolio_answer([results("schwartz_rounds")]))
    assert "Fund it" not in answer and "strongest case" not in answer
    assert "Test further before funding" in answer
    assert (
        "Schwartz Rounds in children's services may have improved its primary outcome, "
        "psychological distress (GHQ-12)"
    ) in answer
    assert "with 5 organisations (3 control, 2 intervention)" in answer


def test_without_the_caveats_the_portfolio_would_fund_it(results):
    """The other side of the rule: the same effect, no caveat, is named as the case to fund."""
    doc = results("schwartz_rounds")
    doc["trial"]["unit"] = "individual"
    del doc["consort"]["clusters"]
    primary = doc["outcomes"][0]
    primary["estimates"][0]["ri_p_value"] = 0.01
    primary["sensitivity"] = []
    answer = " ".join(portfolio_answer([doc]))
    assert "Fund it for psychological distress (GHQ-12)" in answer


def test_the_portfolio_badge_is_not_clear_either(rendered, page):
    report = page(rendered["portfolio"])
    row = report.one("tr", data_trial="schwartz_rounds")
    assert "Possible benefit (weak evidence)" in report.text(row)
    assert "Clear benefit" not in report.text(row)


def test_an_icer_interval_from_few_clusters_is_labelled_unreliable_beside_it(rendered, page):
    report = page(rendered["schwartz_rounds"])
    lines = [report.text(e) for e in report.all("p", data_field="icer")]
    bounded = [line for line in lines if "interval £" in line]
    assert bounded, lines
    for line in bounded:
        assert (
            "(unreliable: the bootstrap resamples whole organisations and an arm has only 2)"
            in line
        )


@pytest.mark.parametrize("name", ["coffee", "letters"])
def test_enough_clusters_or_none_and_the_icer_carries_no_such_label(name, rendered, page):
    report = page(rendered[name])
    assert report.all(data_field="icer")
    assert not report.all(data_field="icer-unreliable")


def _positive_icer(row: dict) -> None:
    """Turn a cost-effectiveness row's effect round (effect, its interval, the ICER, the plane).

    The simulated Schwartz Rounds cost more and lose slightly more staff, so the analysis's
    ICER for turnover is negative, which the report words as "not a price"; a priced ICER
    needs a trial that costs more and loses fewer, which is this row with its effect negated.
    """
    assert row["incremental_cost"] > 0
    low, high = row["effect_ci_low"], row["effect_ci_high"]
    row.update(
        incremental_effect=-row["incremental_effect"], effect_ci_low=-high, effect_ci_high=-low
    )
    if row["icer_ci_low"] is not None:
        row.update(icer_ci_low=-row["icer_ci_high"], icer_ci_high=-row["icer_ci_low"])
    row["icer"] = -row["icer"]
    row["plane"] = [{**p, "effect": -p["effect"]} for p in row["plane"]]
    shares = row["quadrant_shares"]
    row["quadrant_shares"] = {
        f"{side}_and_{better}": shares[f"{side}_and_{worse}"]
        for side in ("dearer", "cheaper")
        for better, worse in (("better", "worse"), ("worse", "better"))
    }
    # the acceptability curve of the turned plane (its points stand for the replicates)
    row["ceac"] = [
        {
            "wtp": c["wtp"],
            "probability": sum(c["wtp"] * p["effect"] > p["cost"] for p in row["plane"])
            / len(row["plane"]),
        }
        for c in row["ceac"]
    ]
    row["sentence"] = None  # the analysis's sentence describes the original signs
    row["verdict"] = "trade-off"


def test_a_proportion_is_priced_per_percentage_point(results, page):
    doc = results("schwartz_rounds")
    row = next(r for r in doc["costs"]["cost_effectiveness"] if r["outcome"] == "turnover")
    assert row["effect_unit"] == "percentage point"
    if row["icer"] < 0:
        _positive_icer(row)
    assert row["icer"] > 0
    report = page(render_trial(doc))
    turnover = [
        report.text(e)
        for e in report.all("p", data_field="icer")
        if "percentage point" in report.text(e)
    ]
    assert turnover and turnover[0].startswith(
        "Incremental cost-effectiveness ratio (ICER): "
        f"{format_money(row['icer'])} per percentage point avoided"
    )
    assert "one-point" not in report.visible_text()


def test_an_older_results_file_priced_per_leaver_is_restated_in_percentage_points(results, page):
    doc = results("goal_setting")
    row = next(r for r in doc["costs"]["cost_effectiveness"] if r["outcome"] == "turnover")
    # the analysis now writes a proportion per percentage point; a results.json written
    # before it said its unit priced it per leaver (per 0-1 unit): made so here
    assert row.pop("effect_unit") == "percentage point"
    for key in ("incremental_effect", "effect_ci_low", "effect_ci_high"):
        row[key] /= 100
    for key in ("icer", "icer_ci_low", "icer_ci_high"):
        row[key] = None if row[key] is None else row[key] * 100
    row["plane"] = [{**p, "effect": p["effect"] / 100} for p in row["plane"]]
    row["ceac"] = [{**c, "wtp": c["wtp"] * 100} for c in row["ceac"]]
    row["effect_label"] = "staff turnover (leavers avoided)"
    assert "effect_unit" not in row  # written before results.json said its unit
    report = page(render_trial(doc))
    line = next(
        report.text(e)
        for e in report.all("p", data_field="icer")
        if "percentage point" in report.text(e)
    )
    assert f"{format_money(row['icer'] / 100)} per percentage point avoided" in line
    assert "staff turnover (percentage points avoided)" in report.visible_text()


def test_every_wrqol_number_is_flagged_when_scored_with_the_placeholder_map(rendered, page):
    report = page(rendered["goal_setting"])
    shown = [
        e
        for e in report.root.iter()
        if report.tag(e) in ("tr", "text", "li", "dd", "p") and "WRQoL" in "".join(e.itertext())
    ]
    assert shown
    for element in shown:
        assert "placeholder" in report.text(element), report.text(element)
    row = report.one("tr", data_outcome="wrqol")
    flag = report.one("span", data_field="scoring-placeholder")
    assert report.text(flag) in report.text(row)


def test_wrqol_from_a_licensed_map_is_not_flagged(results, page):
    doc = results("goal_setting")
    # the simulated trial is scored with the packaged placeholder map; a licensed map gives
    # the same document without the flag and without the analysis's warning about it
    for outcome in doc["outcomes"]:
        outcome.pop("scoring_placeholder", None)
    doc["warnings"] = [w for w in doc["warnings"] if "placeholder" not in w]
    report = page(render_trial(doc))
    assert "WRQoL" in report.visible_text()
    assert "placeholder" not in report.visible_text()


def test_a_primary_wrqol_is_flagged_in_the_key_numbers_and_the_portfolio(results, page):
    doc = results("goal_setting")
    for outcome in doc["outcomes"]:
        outcome["primary"] = outcome["name"] == "wrqol"
    doc["outcomes"].sort(key=lambda o: not o["primary"])
    report = page(render_trial(doc))
    card = report.one("div", data_field="primary-estimate")
    assert "placeholder" in report.text(card)
    assert headline_sentences(doc)[1] == (
        "Read the quality of working life (WRQoL) result with care: it is scored with the "
        "placeholder WRQoL item map, not the licensed one, so the total is right only if its "
        "reversed items are."
    )
    portfolio = page(render_portfolio([doc, results("letters")]))
    assert "placeholder" in report.text(portfolio.one("tr", data_trial="goal_setting"))


def test_a_negative_icer_is_not_shown_as_a_price(results, page):
    doc = results("schwartz_rounds")
    row = next(r for r in doc["costs"]["cost_effectiveness"] if r["outcome"] == "turnover")
    row.update(incremental_effect=-2.0, icer=row["incremental_cost"] / -2.0, verdict="dominated")
    report = page(render_trial(doc))
    line = next(
        report.text(e)
        for e in report.all("p", data_field="icer")
        if "percentage point" in report.text(e)
    )
    assert line.startswith("Incremental cost-effectiveness ratio (ICER): not a price")
    assert "bootstrap 95% interval" not in line
