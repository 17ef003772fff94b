"""What an outcome ingest checks before reading a file: its source, timepoint and options.

Also the glossary of every quarantine rule an outcome file can break
(:data:`RULES`), which the validation report prints.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from analysis.hr_outcomes import DAY_BASES
from intake.outcome_rows import CONFLICT_RULE
from intake.surveys import DUPLICATE_RULE
from trial_designs.design import TrialDesign

__all__ = [
    "RULES",
    "SOURCE_OPTIONS",
    "check_declared_timepoint",
    "check_outcome_arguments",
    "source_options",
]

#: Every quarantine rule, with what it asks for (the validation report's glossary).
RULES: dict[str, str] = {
    "required_id": "Every row needs a participant id.",
    "known_participant": "The participant id must be one of this trial's randomised participants.",
    "valid_date": "Dates are written YYYY-MM-DD and are real calendar dates.",
    "date_in_window": "Each response is dated within its timepoint's window: baseline from "
    "recruitment start to randomisation, a follow-up wave from its date to the day before the "
    "next timepoint, endline from its date to the end of follow-up (in a trial with learning "
    "cycles, by the participant's own cycle's dates).",
    "item_in_range": "Each answer is a whole number in the item's range; unanswered items are "
    "left empty.",
    "no_items_answered": "A response with no item answered carries no outcome.",
    "duplicate_response": DUPLICATE_RULE,
    "conflicts_with_stored": CONFLICT_RULE,
    "known_record_type": "Each HR row is a staff row or an absence episode.",
    "fte_in_range": "FTE is a number above 0 and at most 1.",
    "end_after_start": "An absence episode ends on or after the day it starts.",
    "no_staff_record": "Absence is computed per FTE, so each person with absence episodes needs a "
    "staff row in the same extract.",
    "held_with_bad_row": "A person's absence and turnover are computed from all their HR rows "
    "together, so their other rows wait until the bad row is fixed.",
}

#: Options a design may set under ``survey.options`` and ``hr.options``.
SOURCE_OPTIONS: dict[str, dict[str, str]] = {
    "survey": {
        "wrqol_scoring": "Path of the WRQoL scoring file (relative to the design file); "
        "default the packaged placeholder map.",
    },
    "hr": {
        "day_basis": f"How absence days are counted: {', '.join(DAY_BASES)} (default working).",
        "holidays": "Dates that are not working days (e.g. bank holidays); day_basis working only.",
        "record_types": "How the file writes the two record types: {staff: .., absence: ..} "
        "(default staff and absence).",
    },
}
_TIMEPOINT = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def source_options(design: TrialDesign, source: str) -> dict[str, Any]:
    """A source's options from the design, checked and with defaults filled in.

    Raises
    ------
    ValueError
        For an option the source does not have, an unknown day basis, a date
        that is not a date or record types that are not two distinct codes.
    """
    spec = design.survey if source == "survey" else design.hr
    given = dict(spec.options)
    unknown = sorted(set(given) - set(SOURCE_OPTIONS[source]))
    if unknown:
        raise ValueError(
            f"The {source}.options of design '{design.id}' name unknown option(s) {unknown}. "
            f"Choose from: {', '.join(SOURCE_OPTIONS[source])}. Got {unknown} instead."
        )
    if source == "survey":
        return {"wrqol_scoring": given.get("wrqol_scoring")}
    day_basis = given.get("day_basis", "working")
    if day_basis not in DAY_BASES:
        raise ValueError(
            f"The hr.options 'day_basis' of design '{design.id}' is not known. Choose one of: "
            f"{', '.join(DAY_BASES)}. Got '{day_basis}' instead."
        )
    holidays = []
    for day in given.get("holidays") or ():
        stamp = pd.to_datetime(str(day), format="ISO8601", errors="coerce")
        if pd.isna(stamp):
            raise ValueError(
                f"The hr.options 'holidays' of design '{design.id}' must be dates (YYYY-MM-DD). "
                f"Got {day!r} instead."
            )
        holidays.append(stamp.date())
    types = {"staff": "staff", "absence": "absence", **(given.get("record_types") or {})}
    if set(types) != {"staff", "absence"} or len({str(v) for v in types.values()}) != 2:
        raise ValueError(
            f"The hr.options 'record_types' of design '{design.id}' must give two distinct codes, "
            f"for staff and absence. Got {given.get('record_types')!r} instead."
        )
    return {
        "day_basis": day_basis,
        "holidays": tuple(holidays),
        "record_types": {k: str(v) for k, v in types.items()},
    }


def check_outcome_arguments(source: str, timepoint: str) -> None:
    """Refuse an unknown source, or a timepoint that cannot name a dataset column."""
    # not check_choice: the message says "The source", not "The 'source'", as it always has
    if source not in SOURCE_OPTIONS:
        raise ValueError(
            f"The source '{source}' is not known. Choose one of: {', '.join(SOURCE_OPTIONS)}. "
            f"Got '{source}' instead."
        )
    if not _TIMEPOINT.match(timepoint or ""):
        raise ValueError(
            "The timepoint names dataset columns (swemwbs_<timepoint>), so it must be lowercase "
            "letters, digits and underscores, starting with a letter (baseline, endline, wave_2). "
            f"Got {timepoint!r} instead."
        )


def check_declared_timepoint(design: TrialDesign, timepoint: str) -> None:
    """Refuse a timepoint the design does not declare (baseline, its waves, endline).

    An undeclared name was stored as a timepoint of its own that no analysis reads:
    a wave is declared first (``follow_up.waves``), so its dates and place are known.
    """
    declared = design.follow_up.timepoints
    if timepoint not in declared:
        raise ValueError(
            f"The timepoint '{timepoint}' is not declared by design '{design.id}'. Choose one "
            f"of: {', '.join(declared)} (a follow-up wave is declared under follow_up.waves, "
            f"with its name and date). Got '{timepoint}' instead."
        )
