"""Learning cycles: a trial that randomises a new cohort again and again under one design.

Each cycle recruits people not yet randomised (new starters, staff who joined
since), randomises them with the design's own method and its own seed, and
surveys them at its own baseline and endline.  The first cycle is the trial's
``follow_up`` dates; the design lists every cycle, the first included, so the
report can name them all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pydantic import Field, model_validator

from trial_designs.sections import DesignSection, FollowUp, Identifier

__all__ = [
    "Cycle",
    "check_cycles",
    "cycle_of_enrolment",
    "cycle_seed",
    "cycle_window",
    "entry_cycle",
    "is_late_entrant",
    "late_entrant_label",
    "SurveyWindow",
    "last_survey_day",
    "survey_window",
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
    """Each participant's cycle from the store's enrolment: ``cycle<N>`` (randomised in cycle
    N) and ``cycle<N>_late`` (a late entrant of cycle N) are N, anything else 1.

    The first cycle is the trial's own randomisation (``initial``) and its late
    entrants (``late``).
    """
    text = enrolment.astype("str")
    number = pd.to_numeric(text.str.extract(r"^cycle(\d+)(?:_late)?$")[0], errors="coerce")
    return number.fillna(1).astype(int)


def late_entrant_label(number: int) -> str:
    """The store's enrolment label of a late entrant of cycle ``number``: ``late`` for the first
    (and in a trial without cycles, as always), ``cycle<N>_late`` for a later one."""
    return "late" if number == 1 else f"cycle{number}_late"


def is_late_entrant(enrolment: pd.Series) -> pd.Series:
    """True for the enrolment labels of late entrants (:func:`late_entrant_label`), any cycle."""
    return enrolment.astype("str").str.fullmatch(r"late|cycle\d+_late")


def entry_cycle(cycles: tuple[Cycle, ...], joined: dt.date) -> int | None:
    """The cycle (1-based) of someone who joined on ``joined``: the first cycle randomised on or
    after that day; None if every cycle was randomised before it.

    A cohort is whoever its cycle randomises: someone who joins after a cycle's
    randomisation was not part of it and belongs to the next cycle (as
    ``randomise --cycle`` takes staff not yet randomised); after the last
    cycle's randomisation there is no cohort left to join.
    """
    for number, cycle in enumerate(cycles, start=1):
        if joined <= cycle.randomisation:
            return number
    return None


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
    for cycle in cycles[1:]:
        # a later cohort's wave comes as long after its randomisation as the first's did
        # (survey_window), so it must still fall before that cohort's endline
        for wave in follow_up.waves:
            moved = wave.date + (cycle.randomisation - follow_up.randomisation)
            if moved >= cycle.endline:
                raise ValueError(
                    f"cycle '{cycle.name}' surveys wave '{wave.name}' on {moved} (as long after "
                    f"its randomisation as the first cycle's), so its endline must come after "
                    f"that. Got {cycle.endline} instead"
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


@dataclass(frozen=True)
class SurveyWindow:
    """The days (inclusive) a survey response may be dated, and what each end is for a reader."""

    start: dt.date
    end: dt.date
    opens: str
    closes: str


def survey_window(
    follow_up: FollowUp, cycles: tuple[Cycle, ...], timepoint: str, number: int = 1
) -> SurveyWindow:
    """The days a response at ``timepoint`` by cycle ``number``'s cohort may be dated.

    - ``baseline``: from recruitment start (or the baseline date, if earlier) until
      randomisation; where the follow-up window opens later than that (a cluster trial
      that surveys staff once their site is allocated, before the intervention starts),
      until the day before it opens.  A later response may already show the
      intervention's effect.
    - a follow-up wave (``follow_up.waves``): from its date until the day before the next
      timepoint (the next wave, or endline) opens.
    - ``endline``: from its date to the end of the follow-up window.

    A later cycle's cohort has its own dates: its recruitment start, randomisation,
    baseline and endline, its :func:`cycle_window`, and each wave moved on by as much as
    the cycle's randomisation comes after the first's.

    Raises
    ------
    ValueError
        If ``timepoint`` is not one the design declares, or ``number`` not one of its cycles.
    """
    if timepoint not in follow_up.timepoints:
        raise ValueError(
            f"The timepoint '{timepoint}' is not declared by the design. Choose one of: "
            f"{', '.join(follow_up.timepoints)}. Got '{timepoint}' instead."
        )
    window_start, window_end = cycle_window(follow_up, cycles, number)
    own = cycles[number - 1] if cycles else follow_up
    day = dt.timedelta(days=1)
    if timepoint == "baseline":
        start = min(own.recruitment_start, own.baseline)
        # of equal dates the first names the end: randomisation, then follow-up's start
        end, closes = max(
            (
                (own.randomisation, "randomisation"),
                (window_start - day, "the day before follow-up starts"),
                (own.baseline, "baseline opens"),
            ),
            key=lambda pair: pair[0],
        )
        opens = "recruitment starts" if start == own.recruitment_start else "baseline opens"
        return SurveyWindow(start, end, opens, closes)
    if timepoint == "endline":
        return SurveyWindow(own.endline, window_end, "endline opens", "the end of follow-up")
    shift = own.randomisation - follow_up.randomisation
    opened = {w.name: w.date + shift for w in follow_up.waves} | {"endline": own.endline}
    following = min((n for n, d in opened.items() if d > opened[timepoint]), key=opened.get)
    return SurveyWindow(
        opened[timepoint],
        opened[following] - day,
        f"the {timepoint} wave opens",
        f"the day before {following} opens",
    )
