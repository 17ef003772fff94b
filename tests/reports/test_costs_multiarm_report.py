"""The report's costs section for a multi-arm trial: every active arm, and the joint EVPI.

A three-arm document is made from the analysed cluster trial (tests/simulated_results.py)
by adding a second active arm's costs (``other_arms``) and a joint EVPI, as
analysis.sections.costs writes them.
"""

from __future__ import annotations

import re

import pytest

from reports.charts.costs import ceac_chart
from reports.costs_markdown import cost_summary, costs_markdown
from reports.format import format_money, format_percent
from reports.render import render_trial
from reports.value_of_information import research_line


def test_an_empty_acceptability_curve_gives_no_chart_not_an_index_error():
    assert ceac_chart([], effect_label="GHQ-12", chart_id="ceac-empty") is None


@pytest.fixture
def three_arms(results):
    """The goal-setting document with a three-arm costs section, as the analysis writes it."""
    from tests.analysis.test_costs_multiarm import _section

    doc = results("goal_setting")
    section, _ = _section()
    doc["costs"] = section
    doc["trial"]["arms"].append(
        {"name": "course_reminders", "label": "Course and reminders", "ratio": 1}
    )
    return doc


def test_each_active_arm_has_its_own_block_under_its_label(three_arms, page):
    html = render_trial(three_arms)
    parsed = page(html)
    headings = [page.text(h) for h in parsed.all("h3", data_arm="course")] + [
        page.text(h) for h in parsed.all("h3", data_arm="course_reminders")
    ]
    assert headings == ["Goal-setting course", "Course and reminders"]
    tables = parsed.all("table", data_table="cost-per")
    assert [t.get("data-arm") for t in tables] == ["course", "course_reminders"]
    other = three_arms["costs"]["other_arms"][0]
    first, second = parsed.all("tr", data_field="cost-randomised")
    assert format_money(other["per_participant"]["randomised"]) in page.text(second)
    assert format_money(three_arms["costs"]["per_participant"]["randomised"]) in page.text(first)
    # one plane and one curve per arm and outcome, each with an id of its own
    charts = re.findall(r'id="((?:ce-plane|ceac)-[^"]*)-title"', html)
    assert sorted(charts) == ["ce-plane-0", "ce-plane-course_reminders-0", "ceac-0"] + [
        "ceac-course_reminders-0"
    ]
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    assert len(parsed.all("p", data_field="dominance")) == 2


def test_the_evpi_table_names_the_best_of_every_option(three_arms, page):
    voi = three_arms["costs"]["value_of_information"]
    html = render_trial(three_arms)
    table = page(html).one("table", data_table="evpi")
    assert "Chance it is best" in page.text(table)
    labels = {"control": "Usual practice", "course": "Goal-setting course"}
    labels["course_reminders"] = "Course and reminders"
    body = [
        r for r in table.iter()
        if r.tag.endswith("}tr") and any(c.tag.endswith("}td") for c in r)
    ]  # fmt: skip
    for tr, row in zip(body, voi["by_threshold"], strict=True):
        cells = [page.text(c) for c in tr]
        assert cells[1] == labels[row["best_option"]]
        chance = row["prob_best_by_option"][row["best_option"]]
        assert cells[2] == format_percent(100 * chance)
    sentences = " ".join(page.text(p) for p in page(html).all("p", data_field="evpi"))
    assert "of the choice among Usual practice, Goal-setting course and Course and reminders" in (
        sentences
    )


def test_the_portfolio_line_uses_the_joint_evpi(three_arms):
    voi = three_arms["costs"]["value_of_information"]
    line = research_line(three_arms)
    best = max(voi["by_threshold"], key=lambda r: r["evpi_population"])
    assert format_money(best["evpi_population"]) in line
    assert "staff in scope" in line or "May be worth" in line


def test_the_markdown_costs_every_arm():
    from tests.analysis.test_costs_multiarm import _section

    section, _ = _section()
    text = costs_markdown("Goals", section)
    assert "### course\n" in text and "### course_reminders\n" in text
    other = section["other_arms"][0]
    assert f"£{other['per_participant']['randomised']:,.2f}" in text
    assert text.count("| figure | undiscounted | discounted |") == 2


@pytest.mark.parametrize("width", [390, 1280])
def test_the_three_arm_costs_section_reads_on_a_phone_and_a_desktop(three_arms, tmp_path, width):
    """As tests/reports/test_browser_layout.py measures the demo pages, in Chromium."""
    from tests.reports.test_browser_layout import MIN_PHONE_PX, _chromium, _measure

    figures = _measure(_chromium(), tmp_path, "three_arms", render_trial(three_arms), width)
    assert figures["viewport"] == width
    charts = [c for c in figures["charts"] if c["id"].startswith(("ce-plane", "ceac"))]
    assert len(charts) == 4
    for chart in charts:
        assert chart["minFontPx"] >= MIN_PHONE_PX, (chart["id"], chart["small"][:5])
        assert not chart["textOverlaps"], (chart["id"], chart["textOverlaps"])
        assert not chart["struck"], (chart["id"], chart["struck"])
        assert not chart["legendHits"], (chart["id"], chart["legendHits"])
    assert figures["pageScrollWidth"] <= width, figures["overflowing"]
    assert not figures["overflowing"], figures["overflowing"]
    for table in figures["tables"]:
        assert table["ok"], table


def test_the_coordinators_summary_gives_every_arm():
    from tests.analysis.test_costs_multiarm import _section

    section, _ = _section()
    summary = cost_summary(section)
    assert [a["arm"] for a in summary["by_arm"]] == ["course", "course_reminders"]
    other = section["other_arms"][0]
    assert (
        summary["by_arm"][1]["per_participant_randomised"]
        == (other["per_participant"]["randomised"])
    )
    assert summary["per_participant_randomised"] == section["per_participant"]["randomised"]
    # one active arm: the summary is as before, with no by_arm
    section.pop("other_arms")
    assert "by_arm" not in cost_summary(section)
