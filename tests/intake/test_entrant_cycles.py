"""Which learning cycle a late entrant joins (intake.entrants, trial_designs.cycles): pure."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from intake.entrants import place_entrants
from tests.designs import DESIGNS
from trial_designs.cycles import (
    cycle_of_enrolment,
    entry_cycle,
    is_late_entrant,
    late_entrant_label,
)
from trial_designs.design import load_design

LETTERS = load_design(DESIGNS / "letters.yaml")
COFFEE = load_design(DESIGNS / "coffee.yaml")
TODAY = dt.date(2026, 11, 30)


def _roster(starts: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_row": range(2, len(starts) + 2),
            "id": [f"N{i}" for i in range(len(starts))],
            "start_date": starts,
        }
    )


def test_an_entrant_joins_the_first_cycle_randomised_on_or_after_the_day_they_joined():
    spring, autumn = LETTERS.cycles
    day = dt.timedelta(days=1)
    assert entry_cycle(LETTERS.cycles, spring.recruitment_start - dt.timedelta(days=400)) == 1
    assert entry_cycle(LETTERS.cycles, spring.randomisation) == 1
    assert entry_cycle(LETTERS.cycles, spring.randomisation + day) == 2
    assert entry_cycle(LETTERS.cycles, autumn.randomisation) == 2
    assert entry_cycle(LETTERS.cycles, autumn.randomisation + day) is None


def test_a_later_cycles_late_entrant_is_read_back_as_that_cycle():
    labels = pd.Series([late_entrant_label(n) for n in (1, 2, 10)] + ["initial", "cycle2"])
    assert labels.tolist() == ["late", "cycle2_late", "cycle10_late", "initial", "cycle2"]
    assert cycle_of_enrolment(labels).tolist() == [1, 2, 10, 1, 2]
    assert is_late_entrant(labels).tolist() == [True, True, True, False, False]


def test_entrants_are_placed_in_randomised_cycles_or_refused_by_row():
    roster = _roster(["2019-03-20", "2019-05-01", "2019-10-15", None, "2019-10-01"])
    labels, problems = place_entrants(
        roster, LETTERS, randomised={1}, stored_ids={"N4"}, today=TODAY
    )
    # N4 is enrolled already: not placed again; the first joins the spring cohort
    assert labels[roster["id"] == "N0"].tolist() == ["late"]
    assert problems[["source_row", "column", "rule", "value"]].values.tolist() == [
        [3, "start_date", "in_a_randomised_cycle", "2019-05-01"],  # autumn: not randomised yet
        [4, "start_date", "in_a_randomised_cycle", "2019-10-15"],  # after the last cycle
        [5, "start_date", "in_a_randomised_cycle", None],  # no date: joined today
    ]
    assert "(`trialflow randomise letters --cycle 2`)" in problems["message"].iloc[0]
    assert (
        problems["message"]
        .iloc[2]
        .startswith("This entrant has no start date, so joined 2026-11-30 (today), after the last")
    )
    # once the autumn cohort is randomised, those who joined after the spring's are its own
    labels, problems = place_entrants(
        roster, LETTERS, randomised={1, 2}, stored_ids=set(), today=dt.date(2019, 6, 1)
    )
    assert labels.tolist() == ["late", "cycle2_late", "late", "cycle2_late", "cycle2_late"]
    assert problems["source_row"].tolist() == [4]


def test_a_trial_without_cycles_enrols_every_entrant_as_late():
    labels, problems = place_entrants(
        _roster(["2030-01-01", None]), COFFEE, randomised={1}, stored_ids=set(), today=TODAY
    )
    assert labels.tolist() == ["late", "late"] and problems.empty
