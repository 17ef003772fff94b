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


def _number(text: str) -> int | None:
    """A box's count, or None where disclosure control hides it ('[c]')."""
    return None if text.startswith("[c]") else int(text.replace(",", ""))


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
            parts = [shown[LOST], shown.get(EXCLUDED, 0), shown[ANALYSED]]
            if None not in parts:  # a hidden small count cannot be added up from the page
                assert shown[ALLOCATED] == sum(parts)
            if (
                RECEIVED in shown
                and NOT_RECEIVED in shown
                and None
                not in (
                    shown[RECEIVED],
                    shown[NOT_RECEIVED],
                )
            ):
                assert shown[ALLOCATED] == shown[RECEIVED] + shown[NOT_RECEIVED]
        assert _number(boxes["randomised"]) == allocated_total
        if (
            "assessed" in boxes
            and boxes["assessed"][0].isdigit()
            and boxes["excluded"][0].isdigit()
        ):
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

    box = results("letters")["consort"]["individuals"]["letter"]
    lost, excluded, analysed = box["lost"], box["excluded"], box["analysed"] + 1
    assert _broken(results, more_analysed) == [
        f"Letter of appreciation (individuals): allocated {box['allocated']} is not lost {lost} "
        f"+ excluded from analysis {excluded} + analysed {analysed} "
        f"(= {lost + excluded + analysed})."
    ]


def test_received_and_not_received_must_make_allocated(results):
    def fewer_received(doc):
        doc["consort"]["individuals"]["letter"]["received"] = 180

    box = results("letters")["consort"]["individuals"]["letter"]
    assert _broken(results, fewer_received) == [
        f"Letter of appreciation (individuals): allocated {box['allocated']} is not received 180 "
        f"+ not received {box['not_received']} (= {180 + box['not_received']})."
    ]


def test_assessed_must_be_excluded_plus_randomised(results):
    def more_assessed(doc):
        doc["consort"]["assessed"] = 420
        doc["consort"]["excluded"] = 21

    randomised = sum(b["allocated"] for b in results("letters")["consort"]["individuals"].values())
    assert _broken(results, more_assessed) == [
        f"Assessed 420 is not excluded 21 + randomised {randomised} (= {21 + randomised})."
    ]


def test_analysed_must_match_the_primary_analysis(results):
    def different_n(doc):
        doc["outcomes"][0]["estimates"][0]["n_per_arm"]["control"] -= 1

    doc = results("letters")
    analysed = doc["consort"]["individuals"]["control"]["analysed"]
    used = doc["outcomes"][0]["estimates"][0]["n_per_arm"]["control"] - 1
    assert _broken(results, different_n) == [
        f"No letter: the CONSORT box says {analysed} analysed but the primary analysis used {used}."
    ]


def test_cluster_boxes_are_checked_too(results):
    doc = results("coffee")
    box = {"excluded": 0, **doc["consort"]["clusters"]["coffee"]}
    doc["consort"]["clusters"]["coffee"]["lost"] = box["lost"] + 1
    assert consort_problems(doc) == [
        f"Coffee machine and supplies (clusters): allocated {box['allocated']} is not lost "
        f"{box['lost'] + 1} + excluded from analysis {box['excluded']} + analysed {box['analysed']} "
        f"(= {box['lost'] + 1 + box['excluded'] + box['analysed']})."
    ]


def test_a_report_with_broken_counts_says_so_above_the_diagram(results, page):
    doc = results("letters")
    allocated = doc["consort"]["individuals"]["control"]["allocated"]
    doc["consort"]["individuals"]["control"]["lost"] += 3
    lost = doc["consort"]["individuals"]["control"]["lost"]
    report = page(render_trial(doc))
    consort = report.one("section", id="consort")
    warning = next(e for e in consort.iter() if e.get("class") == "warning")
    assert "These counts do not add up" in report.text(warning)
    assert f"No letter (individuals): allocated {allocated} is not lost {lost}" in report.text(
        warning
    )
