"""Survey exports: every problem of a file's rows, and the scores of the good ones.

The checks run great-expectations rules (id present and in the trial, date
valid and inside the window), the instruments' own range check and the
duplicate rule (:data:`DUPLICATE_RULE`); the scoring applies each instrument's
missing-item rule.  Pure: frames in, frames out.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from analysis.instruments import find_out_of_range, score_instrument
from intake.mapping import survey_fields, survey_instruments
from intake.outcome_rows import OutcomeRows
from intake.quarantine import PROBLEM_COLUMNS, as_file_values, combine_problems, problem_rows
from intake.rules import EPOCH, Rule, day_numbers, known_flags, run_rules
from trial_designs.cycles import survey_window
from trial_designs.design import TrialDesign

__all__ = ["DUPLICATE_RULE", "check_survey_rows", "score_survey"]

#: Which of several responses by one participant at one timepoint in a file is kept.
DUPLICATE_RULE = (
    "When one participant has several responses at one timepoint, the most complete response "
    "is kept (most items answered); ties go to the latest collection date, then to the later "
    "row of the file. The other responses are quarantined with rule duplicate_response."
)


def check_survey_rows(
    frame: pd.DataFrame,
    design: TrialDesign,
    known: pd.Index | list[str],
    *,
    timepoint: str,
    cycle_of: pd.Series | None = None,
) -> pd.DataFrame:
    """Every problem of a survey file, one row per problem, by canonical column.

    Rules: ``required_id``, ``known_participant``, ``valid_date`` and
    ``date_in_window`` (great-expectations), ``item_in_range`` (the instruments'
    own check), ``no_items_answered``, then ``duplicate_response`` among the rows
    left (:data:`DUPLICATE_RULE`).

    ``date_in_window`` holds each response to its own timepoint's window
    (:func:`trial_designs.cycles.survey_window`), so another timepoint's export
    ingested under the wrong ``--timepoint`` is quarantined rather than stored:

    - baseline: from recruitment start until randomisation (or, where the follow-up
      window opens later, the day before it opens);
    - a follow-up wave: from its date until the day before the next timepoint opens;
    - endline: from its date to ``follow_up.window_end``;
    - in a trial with learning cycles, each by the participant's own cycle's dates.

    Parameters
    ----------
    frame : DataFrame
        source_row and the canonical fields of :func:`survey_fields`, as read.
    known : Index or list of str
        The trial's participant ids.
    timepoint : str
        The timepoint the file is ingested as: baseline, a declared wave or endline.
    cycle_of : Series, optional
        Each participant's learning cycle (1-based), indexed by participant id, as for
        :func:`intake.hr.hr_measures`; anyone not in it, or everyone when it is left
        out, is held to the first cycle's (the design's ``follow_up``) dates.

    Returns
    -------
    DataFrame
        :data:`~intake.quarantine.PROBLEM_COLUMNS`, sorted by source_row; values as
        the file holds them.
    """
    items = [f for f in survey_fields(design) if f not in ("participant_id", "collected_on")]
    day = day_numbers(frame["collected_on"])
    flagged = pd.DataFrame(
        {
            "source_row": frame["source_row"].to_numpy(np.int64),
            "participant_id": frame["participant_id"],
            "_known": known_flags(frame["participant_id"], pd.Index(known)),
            "_day": day.to_numpy(),
        }
    )
    dated, window_rules = _window_rules(frame, day, design, timepoint, cycle_of)
    flagged = pd.concat([flagged, dated], axis=1)
    rules = [
        Rule("required_id", "participant_id", "not_null", "Every response needs a participant id."),
        Rule(
            "known_participant",
            "_known",
            "in_set",
            "Not a participant of this trial: check the id against the allocation list.",
            {"value_set": [1.0]},
            "participant_id",
        ),
        Rule(
            "valid_date",
            "_day",
            "not_null",
            "The collection date is missing or is not a date written YYYY-MM-DD.",
            {},
            "collected_on",
        ),
        *window_rules,
    ]
    found = [as_file_values(run_rules(flagged, rules), frame)]
    for spec in survey_instruments(design):
        bad = find_out_of_range(frame, instrument=spec)
        found.append(
            pd.DataFrame(
                {
                    "source_row": frame.loc[bad["index"], "source_row"].to_numpy(np.int64),
                    "column": bad["column"].to_numpy(object),
                    "rule": bad["rule"].to_numpy(object),
                    "value": bad["value"].to_numpy(object),
                    "message": bad["message"].to_numpy(object),
                },
                columns=PROBLEM_COLUMNS,
            )
        )
    answered = frame[items].notna().sum(axis=1).to_numpy()
    found.append(
        problem_rows(
            frame,
            answered == 0,
            items[0],
            "no_items_answered",
            "No item of this response is answered; if the person skipped the survey, leave the "
            "row out.",
        )
    )
    problems = combine_problems(found)
    clean = ~frame["source_row"].isin(problems["source_row"]).to_numpy()
    return combine_problems([problems, _duplicates(frame[clean], answered[clean], day[clean])])


def _window_rules(
    frame: pd.DataFrame,
    day: pd.Series,
    design: TrialDesign,
    timepoint: str,
    cycle_of: pd.Series | None,
) -> tuple[pd.DataFrame, list[Rule]]:
    """One ``date_in_window`` rule per cohort, over a day column holding only its rows' days."""
    if cycle_of is not None and design.cycles:
        number = frame["participant_id"].astype(str).map(cycle_of).fillna(1).astype(int)
    else:
        number = pd.Series(1, index=frame.index, dtype=int)
    columns, rules = {}, []
    for n in sorted(set(number)) or [1]:
        window = survey_window(design.follow_up, design.cycles, timepoint, n)
        cohort = f" of cycle {n} ({design.cycles[n - 1].name})" if design.cycles else ""
        column = f"_day_{n}"
        columns[column] = np.where((number == n).to_numpy(), day.to_numpy(), np.nan)
        rules.append(
            Rule(
                "date_in_window",
                column,
                "between",
                f"A response at {timepoint}{cohort} must be dated from {window.start} "
                f"({window.opens}) to {window.end} ({window.closes}). Is this another "
                "timepoint's file?",
                {"min_value": _day_number(window.start), "max_value": _day_number(window.end)},
                "collected_on",
            )
        )
    return pd.DataFrame(columns, index=frame.index), rules


def _day_number(day: dt.date) -> float:
    return float((pd.Timestamp(day) - EPOCH).days)


def _duplicates(frame: pd.DataFrame, answered: np.ndarray, day: pd.Series) -> pd.DataFrame:
    """The responses that lose under :data:`DUPLICATE_RULE`, as problems."""
    ranked = pd.DataFrame(
        {
            "participant_id": frame["participant_id"].to_numpy(object),
            "answered": answered,
            "day": day.to_numpy(),
            "source_row": frame["source_row"].to_numpy(np.int64),
        }
    ).sort_values(["participant_id", "answered", "day", "source_row"], na_position="first")
    repeated = ranked["participant_id"].duplicated(keep=False)
    if not repeated.any():
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    ranked = ranked[repeated]
    winners = ranked.groupby("participant_id")["source_row"].last()
    losers = ranked[ranked["participant_id"].duplicated(keep="last")]
    kept = winners.reindex(losers["participant_id"]).to_numpy()
    return pd.DataFrame(
        {
            "source_row": losers["source_row"].to_numpy(),
            "column": "participant_id",
            "rule": "duplicate_response",
            "value": losers["participant_id"].to_numpy(object),
            "message": [
                f"This participant has another response at this timepoint; row {k} was kept "
                "(the most items answered, then the latest date, then the last row)."
                for k in kept
            ],
        },
        columns=PROBLEM_COLUMNS,
    )


def _iso_dates(dates: pd.Series) -> np.ndarray:
    parsed = pd.to_datetime(dates, format="ISO8601", errors="coerce")
    days = parsed.to_numpy().astype("datetime64[D]")
    return np.where(np.isnat(days), None, np.datetime_as_string(days, unit="D")).astype(object)


def score_survey(
    frame: pd.DataFrame, design: TrialDesign, *, wrqol_scoring: dict | None = None
) -> OutcomeRows:
    """Items, scores and the missing-item rule applied, for every (checked) response.

    Items are stored as answered (NULL when unanswered); each instrument's
    scores carry the rule :func:`analysis.instruments.score_instrument`
    applied (``complete``, ``prorated(1)``, ``missing(2 items)``). A single
    item and an ONS4 item are their own scores, so they are stored once, with
    the rule.
    """
    fields = survey_fields(design)
    items = [f for f in fields if f not in ("participant_id", "collected_on")]
    numeric = pd.DataFrame(
        {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(float) for c in items}
    )
    values: dict[str, np.ndarray] = {c: numeric[c].to_numpy() for c in items}
    rules: dict[str, np.ndarray | None] = dict.fromkeys(items)
    for spec in survey_instruments(design):
        scored = score_instrument(
            numeric, instrument=spec, scoring=wrqol_scoring if spec.name == "wrqol" else None
        )
        rule_column = scored.columns[-1]
        rule = np.asarray(scored[rule_column].astype(object))
        for column in scored.columns[:-1]:
            values[column] = scored[column].to_numpy(float)
            rules[column] = rule
    keys = pd.DataFrame(
        {
            "participant_id": frame["participant_id"].astype(str).to_numpy(object),
            "collected_on": _iso_dates(frame["collected_on"]),
            "source_row": frame["source_row"].to_numpy(np.int64),
        }
    )
    return OutcomeRows(keys, pd.DataFrame(values), rules)
