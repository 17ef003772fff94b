"""Outcome ingestion: surveys and HR extracts, checked, scored and stored in one transaction.

Survey rows are checked (great-expectations plus the instruments' own range
check), duplicates resolved by a documented rule, scored, and stored as long
rows (items, scores and the missing-data rule applied).  HR extracts hold
staff rows (fte, leaving date) and absence episodes; absence and turnover are
computed over the design's window and stored as measures.  Bad rows go to
quarantine with the rule, column and value; the raw file is archived under
its hash; re-ingesting the same bytes changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from analysis.hr_outcomes import sickness_absence, turnover
from analysis.instruments import instrument_spec, score_instrument
from flows.checks import PROBLEM_COLUMNS, Rule, format_problems, run_rules
from flows.common import IO_RETRIES, load_design_task, output_dir
from flows.sources import SourceError, archive_file, file_hash, read_table, rename_to_canonical
from flows.store import IngestSummary, Store, outcome_values, trialflow_home
from trial_designs.design import TrialDesign

__all__ = ["DUPLICATE_RULE", "outcomes_ingest_flow", "survey_columns"]

#: Which of several responses by one participant at one timepoint is kept.
DUPLICATE_RULE = (
    "duplicate_response: the response with the most items answered is kept; ties go to the latest "
    "collection date, then to the later row in the file. The others are quarantined."
)
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape()
)


def survey_columns(design: TrialDesign) -> dict[str, tuple[float, float]]:
    """Every item column a design's survey holds, with its valid range."""
    columns: dict[str, tuple[float, float]] = {}
    for outcome in design.outcomes:
        if outcome.source != "survey":
            continue
        if outcome.instrument == "single_item":
            columns[outcome.name] = (outcome.min_value or 0, outcome.max_value or 10)
        else:
            spec = instrument_spec(outcome.instrument)
            columns.update({item: (spec.item_min, spec.item_max) for item in spec.items})
    return columns


def _problems(
    frame: pd.DataFrame, mask: pd.Series, column: str, rule: str, message: str
) -> pd.DataFrame:
    rows = frame[mask]
    return pd.DataFrame(
        {
            "source_row": rows["source_row"],
            "column": column,
            "rule": rule,
            "value": rows[column].astype(object).where(rows[column].notna(), None)
            if column in rows
            else None,
            "message": message,
        }
    )


def resolve_duplicates(frame: pd.DataFrame, item_columns: list[str]) -> pd.DataFrame:
    """Rows that lose under :data:`DUPLICATE_RULE`, as problems."""
    answered = frame[item_columns].notna().sum(axis=1)
    ranked = frame.assign(
        _answered=answered, _date=pd.to_datetime(frame["collected_on"], errors="coerce")
    )
    ranked = ranked.sort_values(["participant_id", "_answered", "_date", "source_row"])
    losers = ranked[ranked.duplicated("participant_id", keep="last")]
    return _problems(
        frame.loc[losers.index].assign(participant_id=frame.loc[losers.index, "participant_id"]),
        pd.Series(True, index=losers.index),
        "participant_id",
        "duplicate_response",
        "Another response by this participant at this timepoint was kept (more items answered or later).",
    )


@task(name="read outcome file", cache_policy=NO_CACHE, **IO_RETRIES)
def read_outcome_file(path: str, design: TrialDesign, source: str) -> pd.DataFrame:
    raw = read_table(path)
    spec = design.survey if source == "survey" else design.hr
    mapping = {"participant_id": "participant_id", **spec.columns}
    if source == "survey":
        mapping.setdefault("collected_on", "collected_on")
    frame = rename_to_canonical(raw, mapping, file_name=Path(path).name)
    if source == "survey":
        keep = [
            "source_row",
            "participant_id",
            "collected_on",
            *[c for c in survey_columns(design) if c in frame],
        ]
        missing = [c for c in survey_columns(design) if c not in frame]
        if missing:
            raise SourceError(
                f"File {Path(path).name}: item column(s) {missing} that the design's outcomes need are missing."
            )
        return frame[keep]  # free text and any other column never go further
    keep = [
        "source_row",
        "participant_id",
        "record_type",
        "fte",
        "leaving_date",
        "start_date",
        "end_date",
    ]
    absent = [c for c in keep if c not in frame]
    if absent:
        raise SourceError(f"File {Path(path).name}: HR column(s) {absent} are missing.")
    return frame[keep]


@task(name="check survey", cache_policy=NO_CACHE)
def check_survey(frame: pd.DataFrame, design: TrialDesign, known: list[str]) -> pd.DataFrame:
    """All problems of a survey file: unknown ids, dates, item ranges, duplicates."""
    fu = design.follow_up
    items = survey_columns(design)
    dated = frame.assign(_day=pd.to_datetime(frame["collected_on"], errors="coerce"))
    rules = [
        Rule(
            "known_participant",
            "participant_id",
            "in_set",
            "Not a participant of this trial.",
            {"value_set": known},
        ),
        Rule("valid_date", "collected_on", "not_null", "A collection date (YYYY-MM-DD) is needed."),
        Rule(
            "date_in_window",
            "_day",
            "between",
            f"Responses must be collected between {fu.recruitment_start} and {fu.window_end}.",
            {
                "min_value": pd.Timestamp(fu.recruitment_start),
                "max_value": pd.Timestamp(fu.window_end),
            },
            "collected_on",
        ),
    ]
    checked = run_rules(dated, rules)
    raw_date = frame.set_index("source_row")["collected_on"]
    is_window = checked["rule"] == "date_in_window"
    checked.loc[is_window, "value"] = raw_date.reindex(
        checked.loc[is_window, "source_row"]
    ).to_numpy()
    found = [checked]
    unparseable = dated["collected_on"].notna() & dated["_day"].isna()
    found.append(
        _problems(dated, unparseable, "collected_on", "valid_date", "Dates are YYYY-MM-DD.")
    )
    for column, (low, high) in items.items():
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = frame[column].notna() & (
            values.isna() | (values < low) | (values > high) | (values % 1 != 0)
        )
        found.append(
            _problems(
                frame,
                bad,
                column,
                "item_in_range",
                f"Answers are whole numbers from {low:g} to {high:g}.",
            )
        )
    problems = (
        pd.concat([f for f in found if len(f)], ignore_index=True)
        if any(len(f) for f in found)
        else pd.DataFrame(columns=PROBLEM_COLUMNS)
    )
    clean = frame[~frame["source_row"].isin(problems["source_row"])]
    duplicates = resolve_duplicates(clean, list(items))
    return (
        pd.concat([problems, duplicates], ignore_index=True)
        .sort_values(["source_row", "rule"])
        .reset_index(drop=True)
    )


def score_survey(frame: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """Long rows (participant, measure, value, rule) for items and scores."""
    items = survey_columns(design)
    numeric = frame[list(items)].apply(pd.to_numeric, errors="coerce")
    parts = [numeric]
    rules: dict[str, pd.Series] = {}
    for instrument in {
        o.instrument
        for o in design.outcomes
        if o.source == "survey" and o.instrument != "single_item"
    }:
        scored = score_instrument(numeric, instrument=instrument)
        rule_col = f"{instrument}_rule"
        rules[instrument] = scored.pop(rule_col)
        parts.append(scored)
    wide = pd.concat(parts, axis=1).assign(
        participant_id=frame["participant_id"].to_numpy(),
        collected_on=frame["collected_on"].to_numpy(),
        source_row=frame["source_row"].to_numpy(),
    )
    long = wide.melt(
        id_vars=["participant_id", "collected_on", "source_row"],
        var_name="measure",
        value_name="value",
    )
    long["rule"] = None
    for instrument, rule in rules.items():
        lookup = pd.Series(rule.to_numpy(), index=frame["participant_id"].to_numpy())
        mask = long["measure"].str.startswith(instrument)
        long.loc[mask, "rule"] = lookup.reindex(long.loc[mask, "participant_id"]).to_numpy()
    return long


@task(name="check HR extract", cache_policy=NO_CACHE)
def check_hr(frame: pd.DataFrame, design: TrialDesign, known: list[str]) -> pd.DataFrame:
    fte = pd.to_numeric(frame["fte"], errors="coerce")
    staff = frame["record_type"] == "staff"
    absence = frame["record_type"] == "absence"
    start = pd.to_datetime(frame["start_date"], errors="coerce")
    end = pd.to_datetime(frame["end_date"], errors="coerce")
    leaving = pd.to_datetime(frame["leaving_date"], errors="coerce")
    found = [
        run_rules(
            frame,
            [
                Rule(
                    "known_participant",
                    "participant_id",
                    "in_set",
                    "Not a participant of this trial.",
                    {"value_set": known},
                ),
                Rule(
                    "known_record_type",
                    "record_type",
                    "in_set",
                    "record_type is 'staff' or 'absence'.",
                    {"value_set": ["staff", "absence"]},
                ),
            ],
        ),
        _problems(
            frame,
            staff & ((fte <= 0) | (fte > 1) | fte.isna()),
            "fte",
            "fte_in_range",
            "FTE is a number above 0 and at most 1.",
        ),
        _problems(
            frame,
            staff & frame["leaving_date"].notna() & leaving.isna(),
            "leaving_date",
            "valid_date",
            "Dates are YYYY-MM-DD.",
        ),
        _problems(
            frame,
            absence & (start.isna() | end.isna()),
            "start_date",
            "valid_date",
            "Absence episodes need start and end dates (YYYY-MM-DD).",
        ),
        _problems(
            frame,
            absence & (end < start),
            "end_date",
            "end_after_start",
            "An episode cannot end before it starts.",
        ),
    ]
    found = [f for f in found if len(f)]
    return (
        pd.concat(found, ignore_index=True)
        .sort_values(["source_row", "rule"])
        .reset_index(drop=True)
        if found
        else pd.DataFrame(columns=PROBLEM_COLUMNS)
    )


def hr_measures(frame: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """Long rows of absence and turnover measures computed over the design's window."""
    fu = design.follow_up
    staff = frame[frame["record_type"] == "staff"].assign(
        fte=lambda d: pd.to_numeric(d["fte"]), effective_from=pd.NaT
    )
    episodes = frame[frame["record_type"] == "absence"]
    absence = sickness_absence(
        episodes, staff, window_start=fu.window_start, window_end=fu.window_end
    )
    left = turnover(staff, window_start=fu.window_start, window_end=fu.window_end)
    wide = absence[["absence_rate", "days_lost_per_fte", "days_lost"]].join(left)
    row_of = staff.drop_duplicates("participant_id", keep="last").set_index("participant_id")[
        "source_row"
    ]
    long = wide.reset_index().melt(id_vars="participant_id", var_name="measure", value_name="value")
    long["source_row"] = row_of.reindex(long["participant_id"]).to_numpy()
    long["collected_on"] = fu.window_end.isoformat()
    long["rule"] = np.where(
        long["measure"] == "turnover",
        "left within window",
        "calendar days in window, episodes merged",
    )
    return long


@task(name="store outcomes", cache_policy=NO_CACHE, **IO_RETRIES)
def store_outcomes(
    design: TrialDesign,
    path: str,
    digest: str,
    source: str,
    timepoint: str,
    good: pd.DataFrame,
    problems: pd.DataFrame,
    rows_read: int,
) -> IngestSummary:
    store = Store()
    archived = archive_file(path, trialflow_home() / "archive" / design.id, digest)
    rows = [
        {
            "trial_id": design.id,
            "participant_id": str(r.participant_id),
            "timepoint": timepoint,
            "measure": r.measure,
            "value": None if pd.isna(r.value) else float(r.value),
            "rule": r.rule,
            "collected_on": pd.Timestamp(r.collected_on).date()
            if pd.notna(r.collected_on)
            else None,
            "source_file": Path(path).name,
            "source_row": int(r.source_row) if pd.notna(r.source_row) else 0,
        }
        for r in good.itertuples(index=False)
    ]
    with store.transaction() as conn:
        added = store.insert_new(conn, outcome_values, rows)
        # rows of the file newly stored (a row holds many values); 0 when all were known already
        stored = int(good["source_row"].nunique()) if added else 0
        return store.record_ingest(
            conn,
            trial_id=design.id,
            kind=source,
            file_name=Path(path).name,
            file_hash=digest,
            archived_path=str(archived),
            timepoint=timepoint,
            rows_read=rows_read,
            rows_stored=stored,
            problems=problems,
        )


@task(name="write validation report", cache_policy=NO_CACHE, **IO_RETRIES)
def write_validation_report(
    design: TrialDesign, path: str, summary: IngestSummary, problems: pd.DataFrame
) -> Path:
    html = _TEMPLATES.get_template("validation_report.html.j2").render(
        trial=design,
        file_name=Path(path).name,
        summary=summary,
        problems=problems.to_dict("records"),
        duplicate_rule=DUPLICATE_RULE,
    )
    out = output_dir(design.id, "validation") / f"{Path(path).stem}-{summary.file_hash[:12]}.html"
    out.write_text(html, encoding="utf-8")
    return out


@flow(name="outcomes-ingest", log_prints=True)
def outcomes_ingest_flow(
    design: str, file: str, source: str = "survey", timepoint: str = "endline"
) -> dict:
    """Read, check, score and store one survey or HR file."""
    if source not in ("survey", "hr"):
        raise ValueError(
            f"The source '{source}' is not known. Choose one of: survey, hr. Got '{source}' instead."
        )
    logger = get_run_logger()
    trial = load_design_task(design)
    digest = file_hash(file)
    store = Store()
    if store.trial(trial.id) is None:
        raise LookupError(
            f"Trial '{trial.id}' has not been randomised yet; outcomes need its participants."
        )
    previous = store.previous_ingest(
        trial_id=trial.id, kind=source, file_hash=digest, timepoint=timepoint
    )
    if previous:
        summary = IngestSummary(
            Path(file).name, digest, previous["archived_path"], previous["rows_read"], 0, 0, True
        )
        logger.info(summary.line())
        return {"summary": summary.line(), "already_ingested": True}
    frame = read_outcome_file(file, trial, source)
    known = store.participant_arms(trial.id)["participant_id"].tolist()
    if source == "survey":
        problems = check_survey(frame, trial, known)
        good = score_survey(frame[~frame["source_row"].isin(problems["source_row"])], trial)
    else:
        problems = check_hr(frame, trial, known)
        good = hr_measures(frame[~frame["source_row"].isin(problems["source_row"])], trial)
    summary = store_outcomes(trial, file, digest, source, timepoint, good, problems, len(frame))
    report = write_validation_report(trial, file, summary, problems)
    if len(problems):
        logger.warning(
            format_problems(Path(file).name, problems, limit=10).replace(
                "nothing was written", "these rows were quarantined"
            )
        )
    create_markdown_artifact(
        key=f"{trial.id.replace('_', '-')}-{source}-{timepoint}-ingest",
        markdown=f"**{summary.line()}**\n\nValidation report: `{report}`",
    )
    return {"summary": summary.line(), "validation_report": str(report), "already_ingested": False}
