"""HR extracts: every problem of an extract's rows, and absence and turnover of the good ones.

One file per extract with a ``record_type`` column.  ``staff`` rows hold
``fte``, ``effective_from`` (FTE in force from that date; several rows per
person when FTE changes) and ``leaving_date``; ``absence`` rows hold an
episode's ``start_date`` and ``end_date``.  Absence rates need the FTE and
employment dates of the same people, and the store keeps only the measures,
so both record kinds arrive and are checked together.  Pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.hr_outcomes import sickness_absence, turnover
from intake.outcome_rows import OutcomeRows
from intake.quarantine import as_file_values, combine_problems, problem_rows
from intake.rules import Rule, day_numbers, known_flags, run_rules
from trial_designs.cycles import cycle_window
from trial_designs.design import TrialDesign

__all__ = ["check_hr_rows", "hr_kinds", "hr_measures"]

_HR_MEASURE_ORDER = ("absence_rate", "days_lost_per_fte", "days_lost", "spells", "turnover")


def hr_kinds(frame: pd.DataFrame, options: dict) -> pd.Series:
    """Each row's record kind (staff or absence) by the design's codes; None for an unknown code."""
    codes = {code: kind for kind, code in options["record_types"].items()}
    return frame["record_type"].astype(object).map(lambda v: codes.get(str(v).strip()))


def check_hr_rows(
    frame: pd.DataFrame, design: TrialDesign, known: pd.Index | list[str], options: dict
) -> pd.DataFrame:
    """Every problem of an HR extract, one row per problem, by canonical column.

    Rules (great-expectations): ``required_id``, ``known_participant``,
    ``known_record_type``, ``fte_in_range`` (staff rows: 0 < fte <= 1),
    ``valid_date`` (effective_from and leaving_date may be blank; an absence
    episode needs both dates) and ``end_after_start``.  Then
    ``no_staff_record`` (absence episodes of someone with no staff row at all)
    and ``held_with_bad_row`` (the other rows of a participant with a bad
    row: their measures are computed from all their rows or not at all).
    ``no_staff_record`` means no staff row at all: episodes of someone whose
    only staff row is bad are held instead.

    ``options`` are those of :func:`source_options` for ``hr``.
    """
    kind = hr_kinds(frame, options)
    staff = (kind == "staff").to_numpy()
    absence = (kind == "absence").to_numpy()
    fte = pd.to_numeric(frame["fte"], errors="coerce").to_numpy(float)

    def date_ok(column: str, rows: np.ndarray, required: bool) -> np.ndarray:
        raw = frame[column]
        parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce")
        ok = parsed.notna().to_numpy() | (raw.isna().to_numpy() & (not required))
        return np.where(rows, ok.astype(float), np.nan)

    start, end = day_numbers(frame["start_date"]), day_numbers(frame["end_date"])
    types = options["record_types"]
    flagged = pd.DataFrame(
        {
            "source_row": frame["source_row"].to_numpy(np.int64),
            "participant_id": frame["participant_id"],
            "_known": known_flags(frame["participant_id"], pd.Index(known)),
            "_kind": kind.notna().to_numpy(float),
            # a staff row with no usable FTE is out of range too; other rows are not checked
            "_fte": np.where(staff, np.nan_to_num(fte, nan=-1.0), np.nan),
            "_effective_from": date_ok("effective_from", staff, False),
            "_leaving_date": date_ok("leaving_date", staff, False),
            "_start_date": date_ok("start_date", absence, True),
            "_end_date": date_ok("end_date", absence, True),
            "_length": np.where(absence, (end - start).to_numpy(), np.nan),
        }
    )
    one = {"value_set": [1.0]}
    date_message = "Dates are written YYYY-MM-DD and are real calendar dates"
    rules = [
        Rule("required_id", "participant_id", "not_null", "Every HR row needs a participant id."),
        Rule(
            "known_participant",
            "_known",
            "in_set",
            "Not a participant of this trial: check the id against the allocation list.",
            one,
            "participant_id",
        ),
        Rule(
            "known_record_type",
            "_kind",
            "in_set",
            f"record_type must be '{types['staff']}' (a staff row) or '{types['absence']}' "
            "(an absence episode).",
            one,
            "record_type",
        ),
        Rule(
            "fte_in_range",
            "_fte",
            "between",
            "A staff row needs an FTE above 0 and at most 1 (e.g. 0.8).",
            {"min_value": 0.0, "max_value": 1.0, "strict_min": True},
            "fte",
        ),
        Rule(
            "valid_date",
            "_effective_from",
            "in_set",
            f"{date_message}; leave effective_from blank if the FTE applies throughout.",
            one,
            "effective_from",
        ),
        Rule(
            "valid_date",
            "_leaving_date",
            "in_set",
            f"{date_message}; leave leaving_date blank for staff still employed.",
            one,
            "leaving_date",
        ),
        Rule(
            "valid_date",
            "_start_date",
            "in_set",
            f"{date_message}; an absence episode needs its first day.",
            one,
            "start_date",
        ),
        Rule(
            "valid_date",
            "_end_date",
            "in_set",
            f"{date_message}; an absence episode needs its last day.",
            one,
            "end_date",
        ),
        Rule(
            "end_after_start",
            "_length",
            "between",
            "The episode ends before it starts: check the two dates.",
            {"min_value": 0.0},
            "end_date",
        ),
    ]
    problems = as_file_values(run_rules(flagged, rules), frame)
    bad_rows = problems["source_row"].unique()
    good = ~frame["source_row"].isin(bad_rows).to_numpy()
    # a staff row with a problem still counts here: the person is then held, not orphaned
    with_staff = set(frame.loc[staff, "participant_id"])
    orphan = good & absence & ~frame["participant_id"].isin(with_staff).to_numpy()
    orphans = problem_rows(
        frame,
        orphan,
        "participant_id",
        "no_staff_record",
        "An absence episode of someone with no staff row in this extract: add their staff row "
        "(FTE, leaving date).",
    )
    problems = combine_problems([problems, orphans])
    first_bad = (
        problems.merge(frame[["source_row", "participant_id"]], on="source_row")
        .groupby("participant_id")["source_row"]
        .min()
    )
    held = (
        ~frame["source_row"].isin(problems["source_row"]).to_numpy()
        & frame["participant_id"].isin(first_bad.index).to_numpy()
    )
    held_rows = frame[held]
    return combine_problems(
        [
            problems,
            problem_rows(
                held_rows,
                np.ones(len(held_rows), dtype=bool),
                "participant_id",
                "held_with_bad_row",
                [
                    f"Not used yet: row {first_bad[p]} of this participant has a problem; their "
                    "absence and turnover are computed once all their rows are good."
                    for p in held_rows["participant_id"]
                ],
            ),
        ]
    )


def hr_measures(
    frame: pd.DataFrame,
    design: TrialDesign,
    options: dict,
    *,
    cycle_of: pd.Series | None = None,
) -> OutcomeRows:
    """Absence and turnover of every participant with a staff row, over their cycle's window.

    Measures: absence_rate, days_lost_per_fte, days_lost, spells
    (:func:`analysis.hr_outcomes.sickness_absence`, episodes merged, counted on
    ``options['day_basis']`` less ``options['holidays']``) and turnover
    (:func:`analysis.hr_outcomes.turnover`). Each value's rule says how it
    was computed or why it is missing. collected_on is the window's end.

    Parameters
    ----------
    cycle_of : Series, optional
        Each participant's learning cycle (1-based), indexed by participant id
        (:func:`trial_designs.cycles.cycle_of_enrolment` of the store's enrolment).
        A participant of cycle N is measured over
        :func:`trial_designs.cycles.cycle_window` of N; anyone not in it, or every
        participant when it is left out, over the design's ``follow_up`` window.
    """
    kind = hr_kinds(frame, options)
    staff = frame[(kind == "staff").to_numpy()].assign(
        fte=lambda d: pd.to_numeric(d["fte"]),
        effective_from=lambda d: pd.to_datetime(d["effective_from"], format="ISO8601"),
        leaving_date=lambda d: pd.to_datetime(d["leaving_date"], format="ISO8601"),
    )
    episodes = frame[(kind == "absence").to_numpy()].assign(
        start_date=lambda d: pd.to_datetime(d["start_date"], format="ISO8601"),
        end_date=lambda d: pd.to_datetime(d["end_date"], format="ISO8601"),
    )
    # a later cohort is randomised later: measuring it over the first cohort's window would
    # count as turnover people who left before they were randomised
    number = staff["participant_id"].astype(str).map(cycle_of) if cycle_of is not None else None
    number = (
        number.fillna(1).astype(int)
        if number is not None
        else pd.Series(1, index=staff.index, dtype=int)
    )
    parts = []
    for n in sorted(set(number)):
        people = staff[(number == n).to_numpy()]
        ids = set(people["participant_id"])
        parts.append(
            _window_measures(
                episodes[episodes["participant_id"].isin(ids)], people, design, n, options
            )
        )
    if not parts:
        parts.append(_window_measures(episodes.iloc[:0], staff, design, 1, options))
    keys = pd.concat([p.keys for p in parts], ignore_index=True)
    values = pd.concat([p.values for p in parts], ignore_index=True)
    rules = {m: np.concatenate([p.rules[m] for p in parts]) for m in _HR_MEASURE_ORDER}
    order = np.argsort(keys["participant_id"].to_numpy(object), kind="stable")
    keys = keys.iloc[order].reset_index(drop=True)
    values = values.iloc[order].reset_index(drop=True)
    return OutcomeRows(keys, values, {m: r[order] for m, r in rules.items()})


def _window_measures(
    episodes: pd.DataFrame, staff: pd.DataFrame, design: TrialDesign, number: int, options: dict
) -> OutcomeRows:
    """hr_measures of one cycle's people over that cycle's window."""
    start, end = cycle_window(design.follow_up, design.cycles, number)
    window = {"window_start": start, "window_end": end}
    absence = sickness_absence(
        episodes,
        staff,
        **window,
        day_basis=options["day_basis"],
        holidays=options["holidays"] if options["day_basis"] == "working" else (),
    )
    left = turnover(staff, **window).reindex(absence.index)
    values = absence[list(_HR_MEASURE_ORDER[:-1])].assign(turnover=left).reset_index(drop=True)
    employed = absence["days_available"].notna().to_numpy()
    counted = f"{options['day_basis']} days in window while employed; episodes merged"
    absence_rule = np.where(employed, counted, "not employed in window").astype(object)
    stayed = np.where(left.to_numpy() == 1, "left within window", "no leaving date in window")
    turnover_rule = np.where(left.isna(), "left before window: not at risk", stayed).astype(object)
    last_row = staff.groupby("participant_id")["source_row"].max().reindex(absence.index)
    keys = pd.DataFrame(
        {
            "participant_id": absence.index.astype(str).to_numpy(object),
            "collected_on": end.isoformat(),
            "source_row": last_row.to_numpy(np.int64),
        }
    )
    rules = {m: absence_rule for m in _HR_MEASURE_ORDER[:-1]} | {"turnover": turnover_rule}
    return OutcomeRows(keys, values, rules)
