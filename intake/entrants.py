"""Late entrants of a trial with learning cycles: the cycle each joins, or why they cannot.

A cohort is whoever its cycle randomises, so an entrant belongs to the first
cycle randomised on or after the day they joined
(:func:`trial_designs.cycles.entry_cycle`): their roster ``start_date``, or, with
none, the day they are enrolled.  That cycle must be randomised already: a later
cycle's people go on its roster (``randomise --cycle``); after the last cycle's
randomisation there is no cohort to join.  Pure.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from intake.quarantine import PROBLEM_COLUMNS
from trial_designs.cycles import entry_cycle, late_entrant_label
from trial_designs.design import TrialDesign

__all__ = ["ENTRANT_CYCLE_RULE", "place_entrants"]

#: The rule a late entrant who cannot join a randomised cycle breaks.
ENTRANT_CYCLE_RULE = "in_a_randomised_cycle"


def place_entrants(
    roster: pd.DataFrame,
    design: TrialDesign,
    *,
    randomised: set[int],
    stored_ids: set[str],
    today: dt.date,
) -> tuple[pd.Series, pd.DataFrame]:
    """Each roster row's enrolment label, and the rows that cannot join a randomised cycle.

    Parameters
    ----------
    roster : DataFrame
        Checked roster rows (canonical columns, ``source_row``), start_date as read.
    randomised : set of int
        The cycles (1-based) the store holds a randomised cohort of.
    stored_ids : set of str
        Participants already enrolled: they keep their place and are not placed again.
    today : date
        The day of enrolment: the joining day of an entrant with no start date.

    Returns
    -------
    labels : Series
        :func:`trial_designs.cycles.late_entrant_label` of each row's cycle
        (``late`` in a design without cycles), indexed as ``roster``.
    problems : DataFrame
        :data:`~intake.quarantine.PROBLEM_COLUMNS`, rule :data:`ENTRANT_CYCLE_RULE`.
    """
    labels = pd.Series("late", index=roster.index, dtype=object)
    if not design.cycles:
        return labels, pd.DataFrame(columns=PROBLEM_COLUMNS)
    raw = roster["start_date"] if "start_date" in roster else pd.Series(None, index=roster.index)
    started = pd.to_datetime(raw, format="ISO8601", errors="coerce")
    joined = started.dt.normalize().fillna(pd.Timestamp(today))
    # 0: joined after every cycle was randomised
    number = joined.map(lambda day: entry_cycle(design.cycles, day.date()) or 0).astype(int)
    new = ~roster["id"].astype("str").isin(stored_ids)
    # the trial's own randomisation is cycle 1: enrol needs it, so it is always randomised
    placed = number.isin(randomised | {1}) & (number > 0)
    labels[placed] = number[placed].map(late_entrant_label)
    refused = roster[new & ~placed]
    problems = pd.DataFrame(
        {
            "source_row": refused["source_row"].astype(int),
            "column": design.roster.columns.get("start_date", "start_date"),
            "rule": ENTRANT_CYCLE_RULE,
            "value": raw[refused.index].astype(object).where(started[refused.index].notna(), None),
            "message": [
                _refusal(design, int(number[i]), joined[i].date(), pd.notna(started[i]))
                for i in refused.index
            ],
        },
        columns=PROBLEM_COLUMNS,
    )
    return labels, problems


def _refusal(design: TrialDesign, number: int, joined: dt.date, dated: bool) -> str:
    """Why an entrant who joined on ``joined`` (cycle ``number``, 0 for none) is refused."""
    when = f"joined {joined}" if dated else f"has no start date, so joined {joined} (today)"
    if number == 0:
        return (
            f"This entrant {when}, after the last learning cycle was randomised ("
            + ", ".join(f"{c.name} on {c.randomisation}" for c in design.cycles)
            + "): an entrant who joins after a cohort was randomised is not part of its "
            "randomisation. Declare a further cycle (an amendment) and randomise it with --cycle."
        )
    before, own = design.cycles[number - 2], design.cycles[number - 1]
    return (
        f"This entrant {when}, after cycle {number - 1} ({before.name}) was randomised on "
        f"{before.randomisation}, so they belong to cycle {number} ({own.name}), which is not "
        f"randomised yet: put them on its roster (`trialflow randomise {design.id} --cycle "
        f"{number}`)."
    )
