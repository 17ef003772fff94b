"""Outcome ingestion: survey exports and HR extracts, checked, scored and stored in one transaction.

``trialflow outcomes ingest DESIGN FILE --source survey|hr --timepoint T`` runs
:func:`outcomes_ingest_flow`:

1. read the CSV/XLSX file, renaming the columns the design maps
   (``survey.columns`` / ``hr.columns``) to canonical fields; every other
   column, free text included, is dropped here and never goes further;
2. check every row: great-expectations runs the row rules (id present, id in
   the trial, date valid and inside the window, FTE in range, record type
   known); the instruments' own range check finds out-of-range items; the
   duplicate rule (:data:`DUPLICATE_RULE`) picks one response per participant;
3. score the good rows (items, scores and the missing-item rule applied) or,
   for HR, compute absence and turnover over the design's window;
4. store, in ONE transaction, the new outcome values, the quarantined rows
   with rule, column and value, and the file's record; values already stored
   are never overwritten (:data:`CONFLICT_RULE`);
5. write the coordinator's validation report (HTML, plus every problem as
   CSV) to ``.trialflow/out/<trial>/validation/<file-stem>-<hash12>.html``.

The raw file is archived under its SHA-256 at ``.trialflow/archive/<trial>/``;
ingesting the same bytes again changes nothing.

HR extract shape: ONE file per extract with a ``record_type`` column.
``staff`` rows hold ``fte``, ``effective_from`` (FTE in force from that date;
several rows per person when FTE changes) and ``leaving_date``; ``absence``
rows hold an episode's ``start_date`` and ``end_date``.  Absence rates need
the FTE and employment dates of the same people, and the store keeps only the
measures, so both record kinds arrive and are checked together.

The checks and the scoring are plain functions over DataFrames (tested
without Prefect); the tasks around them do the I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from analysis.hr_outcomes import DAY_BASES, sickness_absence, turnover
from analysis.instruments import (
    WRQOL_SCORING,
    InstrumentSpec,
    find_out_of_range,
    score_instrument,
    single_item_spec,
)
from flows.checks import (
    PROBLEM_COLUMNS,
    Rule,
    exact_ids,
    quarantine_log,
    quarantine_markdown,
    quarantine_summary,
    run_rules,
)
from flows.common import IO_RETRIES, load_design_task, output_dir, resolve_design_path
from flows.integrity import require_current_design
from flows.progress import progress_callback
from flows.safe_io import write_csv, write_text
from flows.settings import get_settings
from flows.sources import SourceError, archive_file, file_hash, read_table, rename_to_canonical
from flows.status import STAGE_HOOKS
from flows.store import IngestSummary, Store, outcome_values, participants
from reports.templating import html_environment
from trial_designs.design import TrialDesign
from trial_designs.scale_files import read_wrqol_scoring, survey_instrument

__all__ = [
    "CONFLICT_RULE",
    "DUPLICATE_RULE",
    "HR_FIELDS",
    "RULES",
    "SOURCE_OPTIONS",
    "OutcomeRows",
    "check_hr_rows",
    "check_survey_rows",
    "hr_measures",
    "outcomes_ingest_flow",
    "score_survey",
    "separate_stored",
    "source_options",
    "survey_fields",
    "survey_instruments",
]

#: Which of several responses by one participant at one timepoint in a file is kept.
DUPLICATE_RULE = (
    "When one participant has several responses at one timepoint, the most complete response "
    "is kept (most items answered); ties go to the latest collection date, then to the later "
    "row of the file. The other responses are quarantined with rule duplicate_response."
)

#: What happens when a file holds a value that is already stored.
CONFLICT_RULE = (
    "Stored values are never overwritten. A row identical to what is already stored (an "
    "overlapping export) is skipped as already stored; a row whose values differ from the "
    "stored ones is quarantined with rule conflicts_with_stored, and the stored value stays. "
    "A genuine correction is a decision for the trial's data manager, not a re-sent file."
)

#: Every quarantine rule, with what it asks for (the validation report's glossary).
RULES: dict[str, str] = {
    "required_id": "Every row needs a participant id.",
    "known_participant": "The participant id must be one of this trial's randomised participants.",
    "valid_date": "Dates are written YYYY-MM-DD and are real calendar dates.",
    "date_in_window": "Responses are dated from recruitment start to the end of follow-up.",
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

#: Canonical HR fields; the optional ones may be absent from a file that the design does not map.
HR_FIELDS = {
    "participant_id": True,
    "record_type": True,
    "fte": True,
    "effective_from": False,
    "leaving_date": False,
    "start_date": True,
    "end_date": True,
}
_HR_MEASURE_ORDER = ("absence_rate", "days_lost_per_fte", "days_lost", "spells", "turnover")
_TIMEPOINT = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_EPOCH = pd.Timestamp("1970-01-01")
_TEMPLATES = html_environment(Path(__file__).parent / "templates")
#: The validation report lists at most this many problems; the CSV beside it has them all.
REPORT_ROW_LIMIT = 2000


# ---------------------------------------------------------------------------------------
# What the design declares
# ---------------------------------------------------------------------------------------
def survey_instruments(design: TrialDesign) -> list[InstrumentSpec]:
    """The instruments a design's survey holds: named ones once each, then single items."""
    specs: dict[str, InstrumentSpec] = {}
    for outcome in design.outcomes:
        if outcome.source != "survey":
            continue
        if outcome.instrument == "single_item":
            specs[outcome.name] = single_item_spec(
                outcome.name,
                item_min=int(outcome.min_value),
                item_max=int(outcome.max_value),
                higher_is_better=outcome.higher_is_better,
                label=outcome.label,
            )
        else:
            specs.setdefault(outcome.instrument, survey_instrument(outcome.instrument))
    return list(specs.values())


def survey_fields(design: TrialDesign) -> dict[str, str]:
    """Canonical survey field -> column in the file: id, date, then every item the outcomes need.

    A field the design's ``survey.columns`` does not name is read from the
    column of the same name.
    """
    fields = ["participant_id", "collected_on"]
    for spec in survey_instruments(design):
        fields += [c for c in spec.items if c not in fields]
    return {f: design.survey.columns.get(f, f) for f in fields}


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


# ---------------------------------------------------------------------------------------
# Values to store
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutcomeRows:
    """Outcome values ready to store, held wide: one row per response (or HR participant).

    ``keys`` has participant_id, collected_on (ISO date) and source_row;
    ``values`` one float column per measure; ``rules`` gives each measure's
    missing-data rule, per row (an array) or None.  :meth:`long` and
    :meth:`tuples` give the store's long shape without ever holding all the
    long rows at once.
    """

    keys: pd.DataFrame
    values: pd.DataFrame
    rules: dict[str, np.ndarray | None] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def measures(self) -> list[str]:
        return list(self.values.columns)

    def subset(self, keep: np.ndarray) -> OutcomeRows:
        """The rows where ``keep`` (a boolean array) is true."""
        keep = np.asarray(keep, dtype=bool)
        return OutcomeRows(
            self.keys[keep].reset_index(drop=True),
            self.values[keep].reset_index(drop=True),
            {m: (None if r is None else r[keep]) for m, r in self.rules.items()},
        )

    def _rule_matrix(self, rows: slice) -> np.ndarray:
        n = len(self.keys.iloc[rows])
        matrix = np.full((n, len(self.measures)), None, dtype=object)
        for j, measure in enumerate(self.measures):
            rule = self.rules.get(measure)
            if rule is not None:
                matrix[:, j] = rule[rows]
        return matrix

    def long(self) -> pd.DataFrame:
        """participant_id, measure, value, rule, collected_on, source_row: one row per value."""
        m = len(self.measures)
        return pd.DataFrame(
            {
                "participant_id": np.repeat(self.keys["participant_id"].to_numpy(object), m),
                "measure": np.tile(np.asarray(self.measures, dtype=object), len(self)),
                "value": self.values.to_numpy(float).ravel(),
                "rule": self._rule_matrix(slice(None)).ravel(),
                "collected_on": np.repeat(self.keys["collected_on"].to_numpy(object), m),
                "source_row": np.repeat(self.keys["source_row"].to_numpy(np.int64), m),
            }
        )

    def tuples(
        self, *, trial_id: str, timepoint: str, source_file: str, chunk: int = 20_000
    ) -> Iterator[tuple]:
        """Rows in ``outcome_values`` column order, by participant so the key index grows in order."""
        order = np.argsort(self.keys["participant_id"].to_numpy(object), kind="stable")
        ids = self.keys["participant_id"].to_numpy(object)[order]
        dates = self.keys["collected_on"].to_numpy(object)[order]
        rows = self.keys["source_row"].to_numpy(np.int64)[order]
        values = self.values.to_numpy(float)[order]
        rules = self._rule_matrix(slice(None))[order]
        measures = self.measures
        m = len(measures)
        for start in range(0, len(ids), chunk):
            part = slice(start, start + chunk)
            k = len(ids[part])
            flat = values[part].ravel().tolist()
            yield from zip(
                [trial_id] * (k * m),
                np.repeat(ids[part], m).tolist(),
                [timepoint] * (k * m),
                measures * k,
                [None if v != v else v for v in flat],  # NaN is NULL, on every database
                rules[part].ravel().tolist(),
                np.repeat(dates[part], m).tolist(),
                [source_file] * (k * m),
                np.repeat(rows[part], m).tolist(),
                strict=True,
            )


_OUTCOME_COLUMNS = [
    "trial_id",
    "participant_id",
    "timepoint",
    "measure",
    "value",
    "rule",
    "collected_on",
    "source_file",
    "source_row",
]


# ---------------------------------------------------------------------------------------
# Checks (pure)
# ---------------------------------------------------------------------------------------
def _problems(
    frame: pd.DataFrame, mask: np.ndarray | pd.Series, column: str, rule: str, message
) -> pd.DataFrame:
    """Problem rows for ``frame[mask]``; ``message`` is a string or one string per row."""
    rows = frame[np.asarray(mask, dtype=bool)]
    if column in rows:
        values = rows[column].astype(object).where(rows[column].notna(), None).to_numpy()
    else:
        values = None
    return pd.DataFrame(
        {
            "source_row": rows["source_row"].to_numpy(np.int64),
            "column": column,
            "rule": rule,
            "value": values,
            "message": message,
        },
        columns=PROBLEM_COLUMNS,
    )


def _combine(found: list[pd.DataFrame]) -> pd.DataFrame:
    found = [f for f in found if len(f)]
    if not found:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    out = (
        pd.concat(found, ignore_index=True)
        .sort_values(["source_row", "rule", "column"], kind="stable")
        .reset_index(drop=True)
    )
    return out.assign(value=out["value"].astype(object).where(out["value"].notna(), None))


def _as_file_values(problems: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Show each problem's value as the file holds it (rules run on derived columns)."""
    if problems.empty:
        return problems
    by_row = frame.set_index("source_row")
    values = problems["value"].astype(object).to_numpy(copy=True)
    for column, index in problems.groupby("column").groups.items():
        if column in by_row:
            cells = by_row[column].reindex(problems.loc[index, "source_row"])
            values[problems.index.get_indexer(index)] = (
                cells.astype(object).where(cells.notna(), None).to_numpy()
            )
    return problems.assign(value=values)


def _day_numbers(dates: pd.Series) -> pd.Series:
    """Days since 1970-01-01 as floats; NaN for a blank or a string that is not a date."""
    parsed = pd.to_datetime(dates, format="ISO8601", errors="coerce")
    return (parsed.dt.normalize() - _EPOCH).dt.days.astype(float)


def _known_flags(ids: pd.Series, known: pd.Index) -> np.ndarray:
    """1.0 for an id in ``known``, 0.0 for one that is not, NaN for a missing id.

    Membership is computed here and validated by great-expectations as a flag:
    GE's own in_set with a value set as large as the trial took 108 s for 1M
    rows.  Arrow's hash lookup takes 0.4 s where pandas' isin on Arrow strings
    takes 4 s.
    """
    values = pa.array(ids.astype(object), type=pa.string(), from_pandas=True)
    value_set = pa.array(pd.Series(known, dtype=object), type=pa.string(), from_pandas=True)
    flags = pc.is_in(values, value_set=value_set).to_numpy(zero_copy_only=False).astype(float)
    return np.where(ids.isna().to_numpy(), np.nan, flags)


def check_survey_rows(
    frame: pd.DataFrame, design: TrialDesign, known: pd.Index | list[str]
) -> pd.DataFrame:
    """Every problem of a survey file, one row per problem, by canonical column.

    Rules: ``required_id``, ``known_participant``, ``valid_date`` and
    ``date_in_window`` (great-expectations; the window runs from
    ``follow_up.recruitment_start``, as baseline may precede randomisation, to
    ``follow_up.window_end``), ``item_in_range`` (the instruments' own check),
    ``no_items_answered``, then ``duplicate_response`` among the rows left
    (:data:`DUPLICATE_RULE`).

    Parameters
    ----------
    frame : DataFrame
        source_row and the canonical fields of :func:`survey_fields`, as read.
    known : Index or list of str
        The trial's participant ids.

    Returns
    -------
    DataFrame
        :data:`~flows.checks.PROBLEM_COLUMNS`, sorted by source_row; values as
        the file holds them.
    """
    fu = design.follow_up
    items = [f for f in survey_fields(design) if f not in ("participant_id", "collected_on")]
    day = _day_numbers(frame["collected_on"])
    flagged = pd.DataFrame(
        {
            "source_row": frame["source_row"].to_numpy(np.int64),
            "participant_id": frame["participant_id"],
            "_known": _known_flags(frame["participant_id"], pd.Index(known)),
            "_day": day.to_numpy(),
        }
    )
    low = float((pd.Timestamp(fu.recruitment_start) - _EPOCH).days)
    high = float((pd.Timestamp(fu.window_end) - _EPOCH).days)
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
        Rule(
            "date_in_window",
            "_day",
            "between",
            f"Responses must be dated from {fu.recruitment_start} (recruitment start) to "
            f"{fu.window_end} (end of follow-up).",
            {"min_value": low, "max_value": high},
            "collected_on",
        ),
    ]
    found = [_as_file_values(run_rules(flagged, rules), frame)]
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
        _problems(
            frame,
            answered == 0,
            items[0],
            "no_items_answered",
            "No item of this response is answered; if the person skipped the survey, leave the "
            "row out.",
        )
    )
    problems = _combine(found)
    clean = ~frame["source_row"].isin(problems["source_row"]).to_numpy()
    return _combine([problems, _duplicates(frame[clean], answered[clean], day[clean])])


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


def _hr_kinds(frame: pd.DataFrame, options: dict) -> pd.Series:
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
    kind = _hr_kinds(frame, options)
    staff = (kind == "staff").to_numpy()
    absence = (kind == "absence").to_numpy()
    fte = pd.to_numeric(frame["fte"], errors="coerce").to_numpy(float)

    def date_ok(column: str, rows: np.ndarray, required: bool) -> np.ndarray:
        raw = frame[column]
        parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce")
        ok = parsed.notna().to_numpy() | (raw.isna().to_numpy() & (not required))
        return np.where(rows, ok.astype(float), np.nan)

    start, end = _day_numbers(frame["start_date"]), _day_numbers(frame["end_date"])
    types = options["record_types"]
    flagged = pd.DataFrame(
        {
            "source_row": frame["source_row"].to_numpy(np.int64),
            "participant_id": frame["participant_id"],
            "_known": _known_flags(frame["participant_id"], pd.Index(known)),
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
    problems = _as_file_values(run_rules(flagged, rules), frame)
    bad_rows = problems["source_row"].unique()
    good = ~frame["source_row"].isin(bad_rows).to_numpy()
    # a staff row with a problem still counts here: the person is then held, not orphaned
    with_staff = set(frame.loc[staff, "participant_id"])
    orphan = good & absence & ~frame["participant_id"].isin(with_staff).to_numpy()
    orphans = _problems(
        frame,
        orphan,
        "participant_id",
        "no_staff_record",
        "An absence episode of someone with no staff row in this extract: add their staff row "
        "(FTE, leaving date).",
    )
    problems = _combine([problems, orphans])
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
    return _combine(
        [
            problems,
            _problems(
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


# ---------------------------------------------------------------------------------------
# Scoring and HR measures (pure)
# ---------------------------------------------------------------------------------------
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


def hr_measures(frame: pd.DataFrame, design: TrialDesign, options: dict) -> OutcomeRows:
    """Absence and turnover of every participant with a staff row, over the design's window.

    Measures: absence_rate, days_lost_per_fte, days_lost, spells
    (:func:`analysis.hr_outcomes.sickness_absence`, episodes merged, counted on
    ``options['day_basis']`` less ``options['holidays']``) and turnover
    (:func:`analysis.hr_outcomes.turnover`). Each value's rule says how it
    was computed or why it is missing. collected_on is the window's end.
    """
    fu = design.follow_up
    kind = _hr_kinds(frame, options)
    staff = frame[(kind == "staff").to_numpy()].assign(
        fte=lambda d: pd.to_numeric(d["fte"]),
        effective_from=lambda d: pd.to_datetime(d["effective_from"], format="ISO8601"),
        leaving_date=lambda d: pd.to_datetime(d["leaving_date"], format="ISO8601"),
    )
    episodes = frame[(kind == "absence").to_numpy()].assign(
        start_date=lambda d: pd.to_datetime(d["start_date"], format="ISO8601"),
        end_date=lambda d: pd.to_datetime(d["end_date"], format="ISO8601"),
    )
    window = {"window_start": fu.window_start, "window_end": fu.window_end}
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
            "collected_on": fu.window_end.isoformat(),
            "source_row": last_row.to_numpy(np.int64),
        }
    )
    rules = {m: absence_rule for m in _HR_MEASURE_ORDER[:-1]} | {"turnover": turnover_rule}
    return OutcomeRows(keys, values, rules)


def separate_stored(
    rows: OutcomeRows, stored: pd.DataFrame, *, file_columns: dict[str, str]
) -> tuple[OutcomeRows, pd.DataFrame, int]:
    """Split new rows against what is stored already (:data:`CONFLICT_RULE`).

    Parameters
    ----------
    rows : OutcomeRows
        Values of one file at one timepoint.
    stored : DataFrame
        What the store holds for the trial at that timepoint: participant_id,
        measure, value, source_file, source_row.
    file_columns : dict
        Canonical field -> file column, to name the column in a problem.

    Returns
    -------
    to_store : OutcomeRows
        Rows with at least one new value and no value that differs.
    conflicts : DataFrame
        One problem per differing value (items before scores), rule
        ``conflicts_with_stored``.
    already : int
        Rows whose every value is stored already, identically.
    """
    if stored.empty or not len(rows):
        return rows, pd.DataFrame(columns=PROBLEM_COLUMNS), 0
    long = rows.long()
    both = long.merge(stored, on=["participant_id", "measure"], suffixes=("", "_stored"))
    new, old = both["value"].to_numpy(float), both["value_stored"].to_numpy(float)
    same = (np.isnan(new) & np.isnan(old)) | np.isclose(new, old, rtol=0, atol=1e-9)
    differ = both[~same]
    # report the answers the coordinator can see in the file; scores only if no answer differs
    in_file = differ["measure"].isin(file_columns)
    shown = differ[in_file | ~differ["source_row"].isin(differ.loc[in_file, "source_row"])]
    conflicts = pd.DataFrame(
        {
            "source_row": shown["source_row"].to_numpy(np.int64),
            "column": [file_columns.get(m, m) for m in shown["measure"]],
            "rule": "conflicts_with_stored",
            "value": [None if v != v else v for v in shown["value"].tolist()],
            "message": [
                f"Already stored as {'empty' if o != o else f'{o:g}'} (from {f} row {r}); "
                "stored values are not overwritten."
                for o, f, r in zip(
                    shown["value_stored"],
                    shown["source_file"],
                    shown["source_row_stored"],
                    strict=True,
                )
            ],
        },
        columns=PROBLEM_COLUMNS,
    )
    conflicting = set(differ["source_row"])
    matched = both[same].groupby("source_row").size()
    complete = set(matched[matched == len(rows.measures)].index) - conflicting
    source_rows = rows.keys["source_row"].to_numpy()
    keep = ~np.isin(source_rows, list(conflicting | complete))
    return rows.subset(keep), _combine([conflicts]), len(complete)


# ---------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------
def _retry_io_only(task, task_run, state) -> bool:  # noqa: ANN001
    """Retry I/O hiccups, not files that are wrong: those fail the same way every time."""
    try:
        state.result()
    except (SourceError, ValueError, LookupError):
        return False
    except Exception:  # noqa: BLE001 - anything else may be transient
        return True
    return False


@task(
    name="fingerprint file",
    cache_policy=NO_CACHE,
    **{**IO_RETRIES, "retry_condition_fn": _retry_io_only},
)
def fingerprint(path: str) -> str:
    return file_hash(path)


@task(
    name="read outcome file",
    cache_policy=NO_CACHE,
    **{**IO_RETRIES, "retry_condition_fn": _retry_io_only},
)
def read_outcome_file(
    path: str, design: TrialDesign, source: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The file's rows with canonical field names, only those fields; and field -> file column."""
    raw = read_table(path)
    name = Path(path).name
    if source == "survey":
        mapping = survey_fields(design)
    else:
        mapping = {f: design.hr.columns.get(f, f) for f in HR_FIELDS}
        for optional in [f for f, needed in HR_FIELDS.items() if not needed]:
            if optional not in design.hr.columns and mapping[optional] not in raw:
                raw[mapping[optional]] = np.nan
    frame = rename_to_canonical(raw, mapping, file_name=name)
    frame = frame[["source_row", *mapping]].reset_index(drop=True)  # free text stops here
    # ids exactly as written: 'P10 ' is an unknown id, quarantined, never stored under 'P10'
    frame["participant_id"] = exact_ids(frame["participant_id"])
    return frame, mapping


@task(name="load participants", cache_policy=NO_CACHE, **IO_RETRIES)
def load_participant_ids(design: TrialDesign) -> pd.Index:
    store = Store()
    if store.trial(design.id) is None:
        raise LookupError(
            f"Trial '{design.id}' has not been randomised yet; outcomes need its participants. "
            "Run `trialflow randomise` first."
        )
    # every row of the participants table is in the active round (re-randomising replaces
    # them), so the ids alone do; reading participant_arms for 1M staff took 13 s
    with store.engine.connect() as conn:
        ids = conn.execute(
            sa.select(participants.c.participant_id).where(participants.c.trial_id == design.id)
        ).scalars()
        return pd.Index(list(ids), dtype=object, name="participant_id")


@task(
    name="load scoring file",
    cache_policy=NO_CACHE,
    **{**IO_RETRIES, "retry_condition_fn": _retry_io_only},
)
def load_wrqol_scoring(design: TrialDesign, design_file: str, options: dict) -> dict | None:
    if not any(s.name == "wrqol" for s in survey_instruments(design)):
        return None
    declared = options.get("wrqol_scoring")
    path = Path(declared) if declared else WRQOL_SCORING
    if declared and not path.is_absolute():
        path = resolve_design_path(design_file).resolve().parent / path
    scoring = read_wrqol_scoring(path)
    if scoring.get("placeholder"):
        get_run_logger().warning(
            "WRQoL is scored with the placeholder map in %s: the total is right only if its "
            "reversed items are, and subscales mean nothing until the licensed map is put there.",
            path,
        )
    return scoring


@task(name="check rows", cache_policy=NO_CACHE)
def check_rows(
    frame: pd.DataFrame, design: TrialDesign, source: str, known: pd.Index, options: dict
) -> pd.DataFrame:
    present = int(np.nansum(_known_flags(frame["participant_id"], known)))
    if len(frame) and present == 0:
        raise SourceError(
            f"None of the {len(frame)} rows names a participant of trial '{design.id}'. Is this "
            "the right file for this trial? Nothing was stored."
        )
    if source == "survey":
        return check_survey_rows(frame, design, known)
    return check_hr_rows(frame, design, known, options)


@task(name="score responses", cache_policy=NO_CACHE)
def score_task(
    frame: pd.DataFrame, design: TrialDesign, scoring: dict | None, problems: pd.DataFrame
) -> OutcomeRows:
    return score_survey(
        frame[~frame["source_row"].isin(problems["source_row"])], design, wrqol_scoring=scoring
    )


@task(name="compute HR measures", cache_policy=NO_CACHE)
def hr_task(
    frame: pd.DataFrame, design: TrialDesign, options: dict, problems: pd.DataFrame
) -> OutcomeRows:
    return hr_measures(frame[~frame["source_row"].isin(problems["source_row"])], design, options)


@dataclass(frozen=True)
class _Stored:
    summary: IngestSummary
    problems: pd.DataFrame
    already: int


@task(
    name="store outcomes",
    cache_policy=NO_CACHE,
    **{**IO_RETRIES, "retry_condition_fn": _retry_io_only},
)
def store_outcomes(
    design: TrialDesign,
    path: str,
    digest: str,
    source: str,
    timepoint: str,
    rows: OutcomeRows,
    problems: pd.DataFrame,
    mapping: dict[str, str],
    rows_read: int,
) -> _Stored:
    """Archive the file, then values, quarantine and the file record in one transaction."""
    store = Store()
    name = Path(path).name
    archived = archive_file(path, get_settings().archive_dir(design.id), digest)
    with store.transaction(lock_trial=design.id) as conn:
        query = sa.select(
            outcome_values.c.participant_id,
            outcome_values.c.measure,
            outcome_values.c.value,
            outcome_values.c.source_file,
            outcome_values.c.source_row,
        ).where(
            outcome_values.c.trial_id == design.id,
            outcome_values.c.timepoint == timepoint,
            outcome_values.c.measure.in_(rows.measures),
        )
        stored = pd.DataFrame(
            conn.execute(query).all(),
            columns=["participant_id", "measure", "value", "source_file", "source_row"],
        )
        to_store, conflicts, already = separate_stored(rows, stored, file_columns=mapping)
        problems = problems.assign(column=[mapping.get(c, c) for c in problems["column"]])
        problems = _combine([problems, conflicts])
        added = store.insert_new_many(
            conn,
            outcome_values,
            _OUTCOME_COLUMNS,
            to_store.tuples(trial_id=design.id, timepoint=timepoint, source_file=name),
        )
        summary = store.record_ingest(
            conn,
            trial_id=design.id,
            kind=source,
            file_name=name,
            file_hash=digest,
            archived_path=str(archived),
            timepoint=timepoint,
            rows_read=rows_read,
            rows_stored=len(to_store) if added else 0,
            problems=problems,
        )
    return _Stored(summary, problems, already)


def _report_context(design, path, source, timepoint, stored: _Stored) -> dict:  # noqa: ANN001
    problems = stored.problems
    by_rule = (
        problems.groupby("rule", sort=True)["source_row"]
        .agg(rows="nunique", problems="size")
        .reset_index()
        .to_dict("records")
        if len(problems)
        else []
    )
    shown = problems.head(REPORT_ROW_LIMIT).astype(object)
    shown = shown.where(shown.notna(), None)
    listed = {*problems["rule"], "duplicate_response", "conflicts_with_stored"}
    return {
        "trial": design,
        "file_name": Path(path).name,
        "source": source,
        "timepoint": timepoint,
        "summary": stored.summary,
        "already": stored.already,
        "by_rule": by_rule,
        "problems": shown.to_dict("records"),
        "n_problems": len(problems),
        "limit": REPORT_ROW_LIMIT,
        "rules": {r: RULES[r] for r in sorted(listed) if r in RULES},
        "window": (design.follow_up.recruitment_start, design.follow_up.window_end),
    }


@task(name="write validation report", cache_policy=NO_CACHE, **IO_RETRIES)
def write_validation_report(
    design: TrialDesign, path: str, source: str, timepoint: str, stored: _Stored
) -> tuple[Path, Path]:
    """The coordinator's report (HTML) and every problem as CSV, named by file stem and hash."""
    folder = output_dir(design.id, "validation")
    stem = f"{Path(path).stem}-{stored.summary.file_hash[:12]}"
    html = _TEMPLATES.get_template("validation_report.html.j2").render(
        **_report_context(design, path, source, timepoint, stored)
    )
    report = folder / f"{stem}.html"
    write_text(report, html)
    listing = folder / f"{stem}.csv"
    write_csv(
        stored.problems.rename(columns={"source_row": "row", "message": "what_to_fix"}), listing
    )
    return report, listing


# ---------------------------------------------------------------------------------------
# The flow
# ---------------------------------------------------------------------------------------
def _check_arguments(source: str, timepoint: str) -> None:
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


@flow(name="outcomes-ingest", log_prints=True, **STAGE_HOOKS)
def outcomes_ingest_flow(
    design: str, file: str, source: str = "survey", timepoint: str = "endline"
) -> dict:
    """Read, check, score and store one survey export or HR extract; report what to fix."""
    _check_arguments(source, timepoint)
    logger = get_run_logger()
    trial = load_design_task(design)
    require_current_design(trial, stage="ingest outcomes")
    options = source_options(trial, source)
    digest = fingerprint(file)
    previous = Store().previous_ingest(
        trial_id=trial.id, kind=source, file_hash=digest, timepoint=timepoint
    )
    if previous:
        line = (
            f"{Path(file).name}: already ingested (sha256 {digest[:12]}, at {timepoint}); "
            "nothing changed."
        )
        logger.info(line)
        return {"summary": line, "already_ingested": True, "validation_report": None}
    step = progress_callback(f"ingesting {Path(file).name}")  # read, check, store, report
    step(0, 4)
    known = load_participant_ids(trial)
    frame, mapping = read_outcome_file(file, trial, source)
    step(1, 4)
    problems = check_rows(frame, trial, source, known, options)
    step(2, 4)
    if source == "survey":
        scoring = load_wrqol_scoring(trial, design, options)
        rows = score_task(frame, trial, scoring, problems)
    else:
        rows = hr_task(frame, trial, options, problems)
    stored = store_outcomes(
        trial, file, digest, source, timepoint, rows, problems, mapping, len(frame)
    )
    step(3, 4)
    report, listing = write_validation_report(trial, file, source, timepoint, stored)
    step(4, 4)
    line = stored.summary.line()
    if stored.already:
        line += f" {stored.already} rows were stored already and were skipped."
    if len(stored.problems):
        logger.warning(quarantine_log(Path(file).name, stored.problems))  # no values: no ids
    key = re.sub(r"[^a-z0-9-]", "-", f"{trial.id}-{source}-{timepoint}".lower())
    # counts by rule and row numbers only: artifacts are readable by anyone with the UI
    create_markdown_artifact(
        key=f"{key}-ingest",
        markdown="\n".join(
            [f"**{line}**", "", quarantine_markdown(Path(file).name, stored.problems), ""]
            + [f"Validation report: [open]({Path(report).resolve().as_uri()}) `{report}`"]
        ),
    )
    if len(stored.problems):
        create_table_artifact(
            key=f"{key}-quarantine",
            table=quarantine_summary(stored.problems),
            description=f"Quarantined rows of {Path(file).name} by rule ({trial.title}).",
        )
    logger.info(line)
    return {
        "summary": line,
        "already_ingested": False,
        "validation_report": str(report),
        "problems_csv": str(listing),
        "rows_read": stored.summary.rows_read,
        "rows_stored": stored.summary.rows_stored,
        "rows_quarantined": stored.summary.rows_quarantined,
        "rows_already_stored": stored.already,
    }
