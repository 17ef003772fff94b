"""The uptake dashboard and the uptake stage's markdown (reports/uptake_dashboard.py), pure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from analysis.uptake import summarise_uptake
from reports.uptake_dashboard import definition_in_words, render_uptake_dashboard, uptake_markdown
from trial_designs.design import load_design

DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"


@pytest.fixture
def letters_uptake():
    """Six people, three per arm: two letters delivered, one to a control-arm person."""
    design = load_design(DESIGNS / "letters.yaml")
    ids = [f"P{i}" for i in range(6)]
    people = pd.DataFrame(
        {
            "participant_id": ids,
            "unit_id": ids,
            "arm": ["letter"] * 3 + ["control"] * 3,
            "organisation": ["Dudley", "Shropshire"] * 3,
            "team": [f"T{i % 2}" for i in range(6)],
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": ["P0", "P1", "P4"],
            "event_type": ["letter_sent"] * 3,
            "occurred_at": pd.to_datetime(["2019-04-08", "2019-04-15", "2019-04-15"]),
            "module": pd.array([None] * 3, dtype="Int64"),
            "round_id": [None] * 3,
            "contaminated": [False, False, True],
        }
    )
    summary = summarise_uptake(
        people,
        events,
        design.interventions[0].uptake,
        arm_order=list(design.arm_names),
        control_arm=design.control_arm,
    )
    return design, summary


def test_the_definition_is_said_in_words_from_the_design():
    letters = definition_in_words(load_design(DESIGNS / "letters.yaml"))
    assert letters == [
        "Offered: a 'letter_sent' event reached the participant.",
        "Started: a 'letter_sent' event, and no 'letter_returned' event.",
        "Completed: a 'letter_sent' event.",
    ]
    rounds = definition_in_words(load_design(DESIGNS / "schwartz_rounds.yaml"))
    assert rounds[0].endswith("reached the participant or their cluster.")
    assert "Dose: the number of distinct 'attended' events." in rounds
    assert rounds[-1] == "Completed: a dose of 3 or more."


def test_the_markdown_has_one_row_per_arm_and_counts_contamination(letters_uptake):
    design, summary = letters_uptake
    text = uptake_markdown(design, summary)
    lines = text.splitlines()
    assert lines[0] == f"# Uptake: {design.title}"
    labels = {a.name: a.label or a.name for a in design.arms}
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| Arm")]
    assert [r.split(" | ")[0][2:] for r in rows] == [labels[a] for a in design.arm_names]
    letter_row = next(r for r in rows if r.startswith(f"| {labels['letter']} |"))
    assert "| 3 | 2 (66.7%) | 2 (66.7%) | 2 (66.7%) |" in letter_row
    assert "- Started: a 'letter_sent' event, and no 'letter_returned' event." in lines
    assert lines[-1].startswith("**Contamination:** 1 control-arm unit(s) received some")


def test_the_dashboard_says_when_it_was_updated_and_draws_both_charts(letters_uptake):
    design, summary = letters_uptake
    html = render_uptake_dashboard(design, summary, 3, updated=dt.datetime(2019, 5, 1, 9, 30))
    assert "Updated 01 May 2019, 09:30 from 3 delivery events in the trial store." in html
    assert html.count("<svg") == 2  # the funnel and the weeks
    assert "<p>Nothing has been offered yet.</p>" not in html
    one = render_uptake_dashboard(design, summary, 1, updated=dt.datetime(2019, 5, 1, 9, 30))
    assert "from 1 delivery event in" in one


def test_the_dashboard_names_contamination_between_active_arms_and_two_arms_say_nothing(
    letters_uptake,
):
    from dataclasses import replace

    from analysis.uptake_by_arm import cross_arm_contamination, participant_uptake_by_arm

    design = load_design(DESIGNS / "goal_setting_nudges.yaml")
    ids = ["C1", "E1", "E2", "R1"]
    people = pd.DataFrame(
        {
            "participant_id": ids,
            "unit_id": ids,
            "arm": ["control", "course", "course", "course_reminders"],
            "organisation": "Dudley",
            "team": "T0",
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": ["E1", "E2", "E2", "R1"],
            "event_type": ["invited", "invited", "reminder_sent", "invited"],
            "occurred_at": pd.to_datetime(["2022-10-03"] * 4),
            "module": pd.array([None] * 4, dtype="Int64"),
            "round_id": [None] * 4,
            "contaminated": [False] * 4,
            "intervention": [
                "course_by_email",
                "course_by_email",
                "course_with_reminders",  # reached a course-arm learner
                "course_with_reminders",
            ],
        }
    )
    interventions = {i.name: (i.arm, i.uptake) for i in design.interventions}
    summary = summarise_uptake(
        people,
        events,
        design.interventions[0].uptake,
        arm_order=list(design.arm_names),
        control_arm=design.control_arm,
        uptake=participant_uptake_by_arm(people, events, interventions),
        by_arm={i.arm: {"intervention": i.name, **i.uptake} for i in design.interventions},
    )
    summary = replace(summary, cross_arm=cross_arm_contamination(people, events, interventions))
    said = (
        "1 of the course offered by email arm's participants have events of course_with_reminders"
    )
    assert said in uptake_markdown(design, summary)
    html = render_uptake_dashboard(design, summary, 4, updated=dt.datetime(2022, 11, 1, 9, 0))
    assert said.replace("'", "&#39;") in html
    assert "their uptake counts only their own arm's intervention" in html
    # a two-arm trial has no such line
    letters, two_arm = letters_uptake
    assert "between active arms" not in uptake_markdown(letters, two_arm).lower()
    assert "cross-arm-contamination" not in render_uptake_dashboard(
        letters, two_arm, 3, updated=dt.datetime(2019, 5, 1, 9, 30)
    )
