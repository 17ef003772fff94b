"""The three-arm demo design's report: each arm named in the headline, no more claimed than Holm allows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flows.demo import summary_row
from flows.results_file import results_path
from reports.evidence import evidence_caveats
from reports.format import format_p
from reports.headline import headline_sentences
from reports.render import render_trial
from trial_designs.design import load_design

ROOT = Path(__file__).resolve().parents[2]
NAME = "goal_setting_nudges"
LABELS = {"course": "Course offered by email", "course_reminders": "Course plus manager reminders"}


@pytest.fixture
def results(simulated_results) -> dict:
    return simulated_results(NAME)


def _primary_itts(results: dict) -> dict:
    primary = next(o for o in results["outcomes"] if o["primary"])
    return {e["arm"]: e for e in primary["estimates"] if e["estimand"] == "ITT"}


def test_each_active_arm_has_its_itt_with_a_holm_p_across_the_arms(results):
    itts = _primary_itts(results)
    assert sorted(itts) == ["course", "course_reminders"]
    ps = sorted(e["p_value"] for e in itts.values())
    # Holm over two: the smaller p doubled, the larger kept (never below the smaller's)
    holm = sorted(e["p_value_holm"] for e in itts.values())
    assert holm == pytest.approx([min(1, 2 * ps[0]), max(min(1, 2 * ps[0]), ps[1])])


def test_the_headline_gives_each_arm_its_own_sentence_and_holm_weakens_a_lone_5pc(results):
    sentences = headline_sentences(results)
    itts = _primary_itts(results)
    for arm, label in LABELS.items():
        own = [s for s in sentences if s.startswith(label)]
        assert own, arm
        estimate = itts[arm]
        clear = not estimate["ci_low"] <= 0 <= estimate["ci_high"]
        if clear and estimate["p_value_holm"] >= 0.05:
            # the 95% CI excludes zero, but not once both comparisons with control count
            assert own[0].startswith(f"{label} may have ")
            assert (
                f"Holm's adjustment across the arms gives p = {format_p(estimate['p_value_holm'])}"
                in own[0]
            )
        elif not clear:
            assert "had no clear effect" in own[0]
    uptake = next(s for s in sentences if "took it up" in s)
    for arm, label in LABELS.items():
        funnel = next(r for r in results["uptake"]["funnel"] if r["arm"] == arm)
        assert f"{round(funnel['started_pct'])}% in the {label} arm" in uptake
    cost = next(s for s in sentences if s.startswith("The cost per participant was"))
    assert all(f"in the {label} arm" in cost for label in LABELS.values())


def test_holm_caveat_only_where_the_adjusted_p_reaches_5pc(results):
    primary = next(o for o in results["outcomes"] if o["primary"])
    for estimate in primary["estimates"]:
        if estimate["estimand"] == "ITT":
            estimate.update(ci_low=0.05, ci_high=1.2, p_value=0.02, p_value_holm=0.04)
    kinds = {c.kind for c in evidence_caveats(results, outcome=primary, arm="course_reminders")}
    assert "holm_across_arms" not in kinds
    primary["estimates"][1]["p_value_holm"] = 0.06
    kinds = {c.kind for c in evidence_caveats(results, outcome=primary, arm="course_reminders")}
    assert "holm_across_arms" in kinds
    # a secondary's Holm p (across outcomes) is not this caveat: two-arm reports keep theirs
    secondary = next(o for o in results["outcomes"] if not o["primary"])
    secondary["estimates"][0].update(ci_low=0.1, ci_high=0.5, p_value=0.01, p_value_holm=0.2)
    assert not any(
        c.kind == "holm_across_arms" for c in evidence_caveats(results, outcome=secondary)
    )


def test_the_baseline_table_has_a_standardised_difference_per_active_arm(results):
    html = render_trial(results)
    headers = re.findall(r'<th scope="col" class="num">Standardised difference: ([^<]+)</th>', html)
    assert headers == list(LABELS.values())


def test_the_demo_summary_row_names_each_arm(results):
    path = results_path(NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results), encoding="utf-8")
    row = summary_row(load_design(ROOT / "trial_designs" / f"{NAME}.yaml"))
    for column in ("uptake", "primary effect [95% CI]", "cost per participant"):
        assert all(label in row[column] for label in LABELS.values()), column


def test_key_numbers_cost_each_arm_and_the_evidence_checks_each_arms_ri(results):
    html = render_trial(results)
    costs = re.findall(r'data-field="cost-per-participant">\s*<p class="label">([^<]+)</p>', html)
    assert costs == [f"Cost per participant ({label})" for label in LABELS.values()]
    for label in LABELS.values():
        assert f"{label} against control: Randomisation inference (" in html


def test_the_cace_section_explains_the_cace_once_then_gives_each_arm_its_cards(results):
    html = render_trial(results)
    section = html[
        html.index('<section id="cace"') : html.index(
            "</section>", html.index('<section id="cace"')
        )
    ]
    # the one explanation, then the cards: one set per outcome and arm, each naming its arm
    assert section.count("complier average causal effect") == 1
    assert section.count("without taking it up, changes nothing") == 1
    assert section.index("complier average causal effect") < section.index(
        'data-field="cace-estimate"'
    )
    labels = re.findall(
        r'data-field="cace-estimate"><p class="label">CACE on [^<]*[(]([^<)]+)[)]</p>', section
    )
    cace = [
        (o["label"], e["arm"])
        for o in results["outcomes"]
        for e in o["estimates"]
        if e["estimand"] == "CACE"
    ]
    assert len(cace) > 2 and len(labels) == len(cace)
    assert set(labels) == set(LABELS.values())


def test_the_uptake_note_names_contamination_between_active_arms(results):
    results["uptake"]["cross_arm_contamination"] = [
        {"arm": "course", "intervention": "course_with_reminders", "participants": 12},
        {"arm": "course_reminders", "intervention": "course_by_email", "participants": 0},
    ]
    html = render_trial(results)
    note = re.search(r'<p data-field="cross-arm-contamination">([^<]*)</p>', html)
    assert note is not None
    text = note.group(1)
    # counted and named as control contamination is; an arm with none is not listed
    assert (
        "12 of the course offered by email arm&#39;s participants have events of course_with_reminders"
        in text
    )
    assert "course_by_email" not in text
    assert "their uptake counts only their own arm's intervention" in text
    results["uptake"]["cross_arm_contamination"][0]["participants"] = 0
    assert 'data-field="cross-arm-contamination"' not in render_trial(results)
