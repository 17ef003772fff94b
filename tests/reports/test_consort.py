"""CONSORT arithmetic: the boxes a reader sees add up, and broken counts are caught and shown."""

from __future__ import annotations

import pytest

from reports.consort import consort_flow, consort_problems
from reports.render import render_trial

ALL = (
    "letters",
    "goal_setting",
    "coffee",
    "schwartz_rounds",
    "letters_null",
    "schwartz_rounds_harm",
    "letters_arm_lost",
)
ALLOCATED = "Allocated"
RECEIVED = "Received the intervention"
NOT_RECEIVED = "Did not receive it"
LOST = "Lost to follow-up (no endline measure)"
EXCLUDED = "Excluded from analysis (missing baseline or covariate)"
ANALYSED = "Analysed (primary outcome)"


def _number(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.mark.parametrize("name", ALL)
def test_the_boxes_shown_add_up(name, rendered, page):
    """Read back from the HTML, not from the counts: what a reader sees must add up."""
    report = page(rendered[name])
    levels = report.all(data_level=True)
    assert levels
    for level in levels:
        boxes = {}
        for element in level.iter():
            if element.get("data-box") in ("assessed", "excluded", "randomised"):
                boxes[element.get("data-box")] = report.text(element)
        arms = [e for e in level.iter() if e.get("data-arm")]
        assert len(arms) == 2
        allocated_total = 0
        for arm in arms:
            shown = {
                e.get("data-box"): _number(report.text(e)) for e in arm.iter() if e.get("data-box")
            }
            allocated_total += shown[ALLOCATED]
            assert shown[ALLOCATED] == shown[LOST] + shown.get(EXCLUDED, 0) + shown[ANALYSED]
            if RECEIVED in shown and NOT_RECEIVED in shown:
                assert shown[ALLOCATED] == shown[RECEIVED] + shown[NOT_RECEIVED]
        assert _number(boxes["randomised"]) == allocated_total
        if "assessed" in boxes and boxes["assessed"][0].isdigit():
            assert _number(boxes["assessed"]) == _number(boxes["excluded"]) + allocated_total


@pytest.mark.parametrize("name", ALL)
def test_fixture_counts_have_no_problems(name, results):
    assert consort_problems(results(name)) == []
    flow = consort_flow(results(name))
    assert flow.levels[-1].level == "individuals"
    assert (flow.levels[0].level == "clusters") is (results(name)["trial"]["unit"] == "cluster")


def _broken(results, change) -> list[str]:
    doc = results("letters")
    change(doc)
    return consort_problems(doc)


def test_an_arm_that_does_not_add_up_is_named_with_its_numbers(results):
    def more_analysed(doc):
        doc["consort"]["individuals"]["letter"]["analysed"] += 1
        doc["outcomes"][0]["estimates"][0]["n_per_arm"]["letter"] += 1

    assert _broken(results, more_analysed) == [
        "Letter of appreciation (individuals): allocated 195 is not lost 57 + excluded from "
        "analysis 9 + analysed 130 (= 196)."
    ]


def test_received_and_not_received_must_make_allocated(results):
    def fewer_received(doc):
        doc["consort"]["individuals"]["letter"]["received"] = 180

    assert _broken(results, fewer_received) == [
        "Letter of appreciation (individuals): allocated 195 is not received 180 + "
        "not received 6 (= 186)."
    ]


def test_assessed_must_be_excluded_plus_randomised(results):
    def more_assessed(doc):
        doc["consort"]["assessed"] = 420

    assert _broken(results, more_assessed) == [
        "Assessed 420 is not excluded 21 + randomised 391 (= 412)."
    ]


def test_analysed_must_match_the_primary_analysis(results):
    def different_n(doc):
        doc["outcomes"][0]["estimates"][0]["n_per_arm"]["control"] = 120

    assert _broken(results, different_n) == [
        "No letter: the CONSORT box says 123 analysed but the primary analysis used 120."
    ]


def test_cluster_boxes_are_checked_too(results):
    doc = results("coffee")
    doc["consort"]["clusters"]["coffee"]["lost"] = 1
    assert consort_problems(doc) == [
        "Coffee machine and supplies (clusters): allocated 6 is not lost 1 + excluded from "
        "analysis 0 + analysed 6 (= 7)."
    ]


def test_a_report_with_broken_counts_says_so_above_the_diagram(results, page):
    doc = results("letters")
    doc["consort"]["individuals"]["control"]["lost"] = 60
    report = page(render_trial(doc))
    consort = report.one("section", id="consort")
    warning = next(e for e in consort.iter() if e.get("class") == "warning")
    assert "These counts do not add up" in report.text(warning)
    assert "No letter (individuals): allocated 196 is not lost 60" in report.text(warning)
