"""Golden structure: every section in order, and the numbers shown are the results.json numbers."""

from __future__ import annotations

import re

import pytest

from reports.format import (
    format_ci,
    format_count,
    format_effect,
    format_money,
    format_number,
    format_p,
    format_percent,
)
from reports.headline import headline_sentences
from reports.lookup import itt_estimate, primary_outcome
from reports.portfolio import PORTFOLIO_SECTIONS
from reports.trial_view import SECTIONS, trial_view

DEMO_TRIALS = ("letters", "goal_setting", "coffee", "schwartz_rounds")
EDGE_CASES = ("letters_null", "schwartz_rounds_harm", "letters_arm_lost")
ALL = DEMO_TRIALS + EDGE_CASES


def _cell_text(row, col: str) -> str:
    element = next(e for e in row.iter() if e.get("data-col") == col)
    return re.sub(r"\s+", " ", "".join(element.itertext())).strip()


@pytest.mark.parametrize("name", ALL)
def test_sections_are_present_in_order(name, rendered, page):
    report = page(rendered[name])
    sections = report.all("section")
    assert [s.get("id") for s in sections] == [sid for sid, _ in SECTIONS]
    headings = [report.text(next(iter(s))) for s in sections]
    assert headings == [heading for _, heading in SECTIONS]


def test_portfolio_sections_are_present_in_order(rendered, page):
    report = page(rendered["portfolio"])
    assert [s.get("id") for s in report.all("section")] == [sid for sid, _ in PORTFOLIO_SECTIONS]


@pytest.mark.parametrize("name", ALL)
def test_headline_is_the_generated_sentences(name, results, rendered, page):
    report = page(rendered[name])
    shown = [report.text(p) for p in report.one(data_field="headline")]
    assert shown == list(headline_sentences(results(name)))


@pytest.mark.parametrize("name", DEMO_TRIALS)
def test_key_numbers_equal_results(name, results, rendered, page):
    doc = results(name)
    report = page(rendered[name])
    primary = primary_outcome(doc)
    itt = itt_estimate(primary)
    card = report.one(data_field="primary-estimate")
    assert report.text(card.find(".//*[@data-value]")) == format_effect(itt["estimate"], primary)
    assert f"95% CI {format_ci(itt['ci_low'], itt['ci_high'], primary)}" in report.text(card)
    assert f"p = {format_p(itt['p_value'])}" in report.text(card)
    g_card = report.one(data_field="hedges-g")
    assert report.text(g_card.find(".//*[@data-value]")) == format_number(
        itt["hedges_g"], 2, signed=True
    )
    cost_card = report.one(data_field="cost-per-participant")
    per = doc["costs"]["per_participant"]
    assert report.text(cost_card.find(".//*[@data-value]")) == format_money(per["randomised"])
    assert doc["costs"]["eef_band"] in report.text(cost_card)
    uptake = report.one(data_field="uptake")
    active = next(r for r in doc["uptake"]["funnel"] if r["arm"] != doc["trial"]["control_arm"])
    assert f"{format_count(active['started'])} of {format_count(active['allocated'])}" in (
        report.text(uptake)
    )
    strength = report.text(report.one(data_field="evidence-strength"))
    randomised = sum(b["allocated"] for b in doc["consort"]["individuals"].values())
    assert f"{format_count(randomised)} staff randomised" in strength
    assert f"randomisation p = {format_p(itt['ri_p_value'])}" in strength
    if doc["trial"]["unit"] == "cluster":
        clusters = sum(b["allocated"] for b in doc["consort"]["clusters"].values())
        assert f"in {clusters} " in strength


@pytest.mark.parametrize("name", DEMO_TRIALS)
def test_outcome_rows_equal_results(name, results, rendered, page):
    doc = results(name)
    report = page(rendered[name])
    rows = report.all("tr", data_outcome=True)
    assert [r.get("data-outcome") for r in rows] == [o["name"] for o in doc["outcomes"]]
    assert doc["outcomes"][0]["primary"]
    for row, outcome in zip(rows, doc["outcomes"], strict=True):
        itt = itt_estimate(outcome)

        def cell(col, row=row):
            return _cell_text(row, col)

        assert cell("estimate") == format_effect(itt["estimate"], outcome)
        assert cell("ci") == format_ci(itt["ci_low"], itt["ci_high"], outcome)
        assert cell("p") == format_p(itt["p_value"])
        assert cell("ri-p") == format_p(itt["ri_p_value"])
        assert cell("g") == format_number(itt["hedges_g"], 2, signed=True)
        if outcome["primary"]:
            assert cell("p-holm") == "not adjusted"
        else:
            assert cell("p-holm") == format_p(itt["p_value_holm"])


@pytest.mark.parametrize("name", ["coffee", "schwartz_rounds"])
def test_cluster_reports_show_each_icc(name, results, rendered, page):
    doc = results(name)
    report = page(rendered[name])
    shown = [report.text(td) for td in report.all("td", data_col="icc")]
    assert shown == [
        format_number(o["icc"], 3) for o in doc["outcomes"] if o.get("icc") is not None
    ]
    assert [lvl.get("data-level") for lvl in report.all(data_level=True)] == [
        "clusters",
        "individuals",
    ]


@pytest.mark.parametrize("name", ["letters", "goal_setting"])
def test_individual_reports_have_one_consort_level_and_no_icc(name, rendered, page):
    report = page(rendered[name])
    assert [lvl.get("data-level") for lvl in report.all(data_level=True)] == ["individuals"]
    assert not report.all("td", data_col="icc")


@pytest.mark.parametrize("name", DEMO_TRIALS)
def test_consort_boxes_show_the_counts(name, results, rendered, page):
    doc = results(name)
    report = page(rendered[name])
    level = report.one(data_level="individuals")
    for arm_element in [e for e in level.iter() if e.get("data-arm")]:
        box = doc["consort"]["individuals"][arm_element.get("data-arm")]
        shown = {e.get("data-box"): report.text(e) for e in arm_element.iter() if e.get("data-box")}
        assert shown["Allocated"] == format_count(box["allocated"])
        assert shown["Lost to follow-up (no endline measure)"] == format_count(box["lost"])
        assert shown["Analysed (primary outcome)"] == format_count(box["analysed"])


@pytest.mark.parametrize("name", DEMO_TRIALS)
def test_costs_cace_and_methods_equal_results(name, results, rendered, page):
    doc = results(name)
    report = page(rendered[name])
    per = doc["costs"]["per_participant"]
    for key in ("randomised", "took_up", "completed"):
        row = report.one("tr", data_field=f"cost-{key}")
        assert format_money(per[key]) in report.text(row)
    if "per_attendee_per_round" in per:
        row = report.one("tr", data_field="cost-per_attendee_per_round")
        assert format_money(per["per_attendee_per_round"]) in report.text(row)
    assert report.text(report.one(data_field="design-hash")) == doc["trial"]["design_hash"]
    assert str(doc["trial"]["randomisation"]["seed"]) in report.text(
        report.one(data_field="design")
    )
    cace = [e for o in doc["outcomes"] for e in o["estimates"] if e["estimand"] == "CACE"]
    cards = report.all(data_field="first-stage-f")
    assert [report.text(c.find(".//*[@class='value']")) for c in cards] == [
        format_number(e["first_stage_f"], 1) for e in cace
    ]


def test_the_goal_setting_cace_is_explained(results, rendered, page):
    report = page(rendered["goal_setting"])
    text = report.text(report.one("section", id="cace"))
    assert "complier average causal effect" in text
    funnel = results("goal_setting")["uptake"]["funnel"]
    started = next(r for r in funnel if r["arm"] == "course")["started_pct"]
    assert f"{format_percent(started)} of those offered it took it up" in text
    assert "strong instrument" in text


@pytest.mark.parametrize("name", ALL + ("portfolio",))
def test_reports_are_self_contained_accessible_and_small(name, rendered, page):
    html = rendered[name]
    assert len(html.encode("utf-8")) < 2_000_000
    lowered = html.lower()
    for forbidden in ("<script", "<link", "<img", "@import", "http://", "https://", "src="):
        if forbidden in ("http://",):
            # the only http:// allowed is an XML namespace inside inline SVG
            assert not re.search(r"http://(?!www\.w3\.org/)", lowered), forbidden
            continue
        assert forbidden not in lowered, forbidden
    assert not re.search(r"url\((?!#)", lowered)
    report = page(html)
    assert report.root.get("lang") == "en-GB"
    svgs = [e for e in report.root.iter() if report.tag(e) == "svg"]
    assert svgs, "every report has charts"
    ids = {e.get("id") for e in report.root.iter() if e.get("id")}
    for svg in svgs:
        assert svg.get("role") == "img"
        title = next(e for e in svg.iter() if report.tag(e) == "title")
        assert title.get("id") == svg.get("aria-labelledby") and title.get("id") in ids
        assert re.search(r"\d", report.text(title)), "the text alternative holds the numbers"
        assert "width" not in svg.attrib, "charts scale with the page"
    for table in report.all("table"):
        assert any(report.tag(e) == "caption" for e in table), "every table has a caption"
        headers = [e for e in table.iter() if report.tag(e) == "th"]
        assert headers and all(h.get("scope") in ("col", "row") for h in headers)
    all_ids = [e.get("id") for e in report.root.iter() if e.get("id")]
    assert len(all_ids) == len(set(all_ids)), "ids are unique on the page"


def test_trial_view_is_json_like_and_pure(results):
    doc = results("coffee")
    before = repr(doc)
    trial_view(doc)
    assert repr(doc) == before, "rendering must not change the results"


def test_portfolio_rows_equal_results(results, rendered, page):
    report = page(rendered["portfolio"])
    for name in DEMO_TRIALS:
        doc = results(name)
        row = report.one("tr", data_trial=doc["trial"]["id"])
        shared = next(o for o in doc["outcomes"] if o["instrument"] == "swemwbs")
        itt = itt_estimate(shared)
        shared_cell = report.text(next(e for e in row.iter() if e.get("data-col") == "shared"))
        assert format_effect(itt["estimate"], shared) in shared_cell
        assert format_ci(itt["ci_low"], itt["ci_high"], shared) in shared_cell
        cost_cell = next(e for e in row.iter() if e.get("data-col") == "cost")
        assert report.text(cost_cell) == format_money(doc["costs"]["per_participant"]["randomised"])
