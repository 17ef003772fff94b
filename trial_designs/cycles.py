"""Learning cycles: a trial that randomises a new cohort again and again under one design.

Each cycle recruits people not yet randomised (new starters, staff who joined
since), randomises them with the design's own method and its own seed, and
surveys them at its own baseline and endline.  The first cycle is the trial's
``follow_up`` dates; the design lists every cycle, the first included, so the
report can name them all.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pydantic import Field, model_validator

from trial_designs.sections import DesignSection, FollowUp, Identifier

__all__ = [
    "Cycle",
    "check_cycles",
    "cycle_of_enrolment",
    "cycle_seed",
    "cycle_window",
    "last_survey_day",
]


class Cycle(DesignSection):
    """One learning cycle: its name and its four dates."""

    name: Identifier = Field(description="The cycle's name for readers (e.g. spring_2019).")
    recruitment_start: dt.date = Field(
        description="When the cycle's cohort starts to be recruited."
    )
    randomisation: dt.date = Field(description="When the cycle's cohort is randomised.")
    baseline: dt.date = Field(description="When the cycle's baseline survey opens.")
    endline: dt.date = Field(description="When the cycle's endline survey opens.")
    seed: int | None = Field(
        default=None,
        ge=0,
        description="The seed of this cycle's randomisation; if left out, the design's "
        "randomisation seed plus the cycle's number minus one (cycle 1 uses the design's seed).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Cycle:
        # outcomes measured before allocation cannot show its effect, as for follow_up
        if self.randomisation < self.recruitment_start:
            raise ValueError(
                f"randomisation must not come before recruitment_start "
                f"({self.recruitment_start}). Got {self.randomisation} instead"
            )
        if self.endline <= max(self.randomisation, self.baseline):
            raise ValueError(
                f"endline must be after randomisation "
                f"({self.randomisation}) and baseline ({self.baseline}). Got {self.endline} instead"
            )
        return self


def cycle_of_enrolment(enrolment: pd.Series) -> pd.Series:
    """Each participant's cycle from the store's enrolment: ``cycle<N>`` is N, anything else 1.

    The first cycle is the trial's own randomisation (``initial``) and its late
    entrants (``late``).
    """
    text = enrolment.astype("str")
    number = pd.to_numeric(text.str.extract(r"^cycle(\d+)$")[0], errors="coerce")
    return number.fillna(1).astype(int)


def cycle_seed(cycles: tuple[Cycle, ...], number: int, design_seed: int) -> int:
    """The seed cycle ``number`` (1-based) randomises with: its own, or the design's + number - 1."""
    declared = cycles[number - 1].seed
    return declared if declared is not None else design_seed + number - 1


def check_cycles(cycles: tuple[Cycle, ...], follow_up: FollowUp, *, unit: str) -> None:
    """The cycles of a design: the first is follow_up's, each later one starts after the last.

    Raises
    ------
    ValueError
        Naming the cycle, the rule and the value.
    """
    if not cycles:
        return
    if unit != "individual":
        # a new cohort in a cluster trial joins clusters already allocated: that is
        # `trialflow enrol`, not a new randomisation
        raise ValueError(
            "'cycles' randomise a new cohort of people, so they need unit 'individual'; in a "
            "cluster trial new staff join their randomised cluster (`trialflow enrol`). "
            f"Got unit '{unit}' instead"
        )
    if len(cycles) < 2:
        raise ValueError(
            "'cycles' lists every cycle, the first included, so it needs at least 2. "
            f"Got {len(cycles)} instead"
        )
    names = [c.name for c in cycles]
    if len(set(names)) != len(names):
        raise ValueError(f"cycles must have unique names. Got {names} instead")
    first = cycles[0]
    for key in ("recruitment_start", "randomisation", "baseline", "endline"):
        if getattr(first, key) != getattr(follow_up, key):
            raise ValueError(
                f"cycles[0] ({first.name}) is the trial's first cycle, so its {key} must be "
                f"follow_up.{key} ({getattr(follow_up, key)}). Got {getattr(first, key)} instead"
            )
    for before, after in zip(cycles, cycles[1:], strict=False):
        if after.randomisation <= before.randomisation:
            raise ValueError(
                f"cycle '{after.name}' must be randomised after cycle '{before.name}' "
                f"({before.randomisation}): cycles are listed in time order. Got "
                f"{after.randomisation} instead"
            )


def cycle_window(
    follow_up: FollowUp, cycles: tuple[Cycle, ...], number: int
) -> tuple[dt.date, dt.date]:
    """The follow-up window (inclusive) of cycle ``number`` (1-based): follow_up's own for cycle 1
    or a design without cycles; for a later cycle, follow_up's window moved on by as much as
    the cycle's randomisation comes after the first's (start) and its endline after the
    first's (end), so no cohort is measured before it was randomised.

    Raises
    ------
    ValueError
        If ``number`` is not one of the design's cycles.
    """
    if number == 1 and not cycles:
        return follow_up.window_start, follow_up.window_end
    if not 1 <= number <= len(cycles):
        raise ValueError(
            f"The cycle number must be one of 1 to {max(len(cycles), 1)} (the design's cycles). "
            f"Got {number} instead"
        )
    cycle = cycles[number - 1]
    start = follow_up.window_start + (cycle.randomisation - follow_up.randomisation)
    end = follow_up.window_end + (cycle.endline - follow_up.endline)
    return start, end


def last_survey_day(follow_up: FollowUp, cycles: tuple[Cycle, ...]) -> dt.date:
    """The last day a survey response may be dated: follow_up's window_end, moved on by as
    much as the last cycle's endline comes after the first's, so each cycle has the same
    follow-up window after its endline."""
    if not cycles:
        return follow_up.window_end
    return follow_up.window_end + max(dt.timedelta(0), cycles[-1].endline - follow_up.endline)
