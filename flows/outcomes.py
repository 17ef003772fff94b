"""Outcome ingestion: survey exports and HR extracts, checked, scored and stored in one transaction.

``trialflow outcomes ingest DESIGN FILE --source survey|hr --timepoint T`` runs
:func:`outcomes_ingest_flow`:

1. read the CSV/XLSX file, renaming the columns the design maps
   (``survey.columns`` / ``hr.columns``) to canonical fields; every other
   column, free text included, is dropped here and never goes further;
2. check every row: great-expectations runs the row rules (id present, id in
   the trial, date valid and inside the window, FTE in range, record type
   known); the instruments' own range check finds out-of-range items; the
   duplicate rule (:data:`intake.surveys.DUPLICATE_RULE`) picks one response per
   participant;
3. score the good rows (items, scores and the missing-item rule applied) or,
   for HR, compute absence and turnover over the design's window;
4. store, in ONE transaction, the new outcome values (a survey response as one
   row, HR measures one value a row: :mod:`flows.store.responses`), the
   quarantined rows with rule, column and value, and the file's record; values
   already stored are never overwritten (:data:`intake.outcome_rows.CONFLICT_RULE`);
5. write the coordinator's validation report (HTML, plus every problem as
   CSV) to ``.trialflow/out/<trial>/validation/<file-stem>-<hash12>.html``.

The raw file is archived under its SHA-256 at ``.trialflow/archive/<trial>/``;
ingesting the same bytes again changes nothing.

HR extract shape: ONE file per extract with a ``record_type`` column (see
:mod:`intake.hr`).

The checks and the scoring are the pure functions of :mod:`intake`
(:mod:`intake.surveys`, :mod:`intake.hr`), the report is rendered by
:mod:`reports.validation_report`, and the tail (archive, store, record,
publish) is the skeleton of :mod:`flows.ingest`; the tasks here do the I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.ingest import (
    Written,
    fingerprint,
    previous_ingest,
    publish_quarantine,
    read_canonical,
    store_ingest,
)
from flows.integrity import require_current_design
from flows.progress import progress_callback
from flows.safe_io import write_csv, write_text
from flows.sources import SourceError
from flows.status import STAGE_HOOKS
from flows.store import IngestSummary, Store, outcome_values, participants, survey_responses
from flows.store.responses import (
    RESPONSE_COLUMNS,
    new_measures,
    outcome_values_long,
    response_tuples,
)
from flows.tasks import IO_RETRIES, load_design_task, output_dir, resolve_design_path
from intake.hr import check_hr_rows, hr_measures
from intake.ids import foreign_file_problem
from intake.mapping import (
    outcome_fields,
    outcome_frame,
    survey_instruments,
    with_optional_hr_columns,
)
from intake.outcome_rows import OUTCOME_COLUMNS, OutcomeRows, separate_stored
from intake.outcomes import check_declared_timepoint, check_outcome_arguments, source_options
from intake.quarantine import combine_problems
from intake.rules import known_flags
from intake.surveys import check_survey_rows, score_survey
from reports.validation_report import quarantine_markdown, render_validation_report
from trial_designs.cycles import cycle_of_enrolment
from trial_designs.design import TrialDesign
from trial_designs.scale_files import WRQOL_SCORING, read_wrqol_scoring

__all__ = ["outcomes_ingest_flow"]


@task(
    name="read outcome file",
    cache_policy=NO_CACHE,
    **IO_RETRIES,
)
def read_outcome_file(
    path: str, design: TrialDesign, source: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The file's rows with canonical field names, only those fields; and field -> file column."""
    mapping = outcome_fields(design, source)
    prepare = None if source == "survey" else (lambda raw: with_optional_hr_columns(raw, design))
    return outcome_frame(read_canonical(path, mapping, prepare=prepare), mapping), mapping


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
    **IO_RETRIES,
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
    frame: pd.DataFrame,
    design: TrialDesign,
    source: str,
    known: pd.Index,
    options: dict,
    timepoint: str,
    cycle_of: pd.Series | None = None,
    file_name: str = "",
) -> pd.DataFrame:
    flags = known_flags(frame["participant_id"], known)
    present = int(np.nansum(flags))
    if len(frame) and present == 0:
        raise SourceError(
            f"None of the {len(frame)} rows names a participant of trial '{design.id}'. Is this "
            "the right file for this trial? Nothing was stored."
        )
    # mostly strangers: another trial's file, refused whole rather than quarantined row by row
    foreign = foreign_file_problem(
        frame["participant_id"], flags, file_name=file_name, trial_id=design.id
    )
    if foreign:
        raise SourceError(foreign)
    if source == "survey":
        # each response is held to its own timepoint's (and its cohort's own) dates
        return check_survey_rows(frame, design, known, timepoint=timepoint, cycle_of=cycle_of)
    return check_hr_rows(frame, design, known, options)


@task(name="score responses", cache_policy=NO_CACHE)
def score_task(
    frame: pd.DataFrame, design: TrialDesign, scoring: dict | None, problems: pd.DataFrame
) -> OutcomeRows:
    return score_survey(
        frame[~frame["source_row"].isin(problems["source_row"])], design, wrqol_scoring=scoring
    )


@task(name="load participants' cycles", cache_policy=NO_CACHE, **IO_RETRIES)
def load_participant_cycles(design: TrialDesign) -> pd.Series | None:
    """Each participant's learning cycle from the store's enrolment; None without cycles."""
    if not design.cycles:
        return None
    with Store().engine.connect() as conn:
        rows = conn.execute(
            sa.select(participants.c.participant_id, participants.c.enrolment).where(
                participants.c.trial_id == design.id
            )
        ).all()
    ids = pd.Index([str(r[0]) for r in rows], dtype=object, name="participant_id")
    return pd.Series(
        cycle_of_enrolment(pd.Series([r[1] for r in rows], dtype=object)).to_numpy(), index=ids
    )


@task(name="compute HR measures", cache_policy=NO_CACHE)
def hr_task(
    frame: pd.DataFrame,
    design: TrialDesign,
    options: dict,
    problems: pd.DataFrame,
    cycle_of: pd.Series | None = None,
) -> OutcomeRows:
    good = frame[~frame["source_row"].isin(problems["source_row"])]
    return hr_measures(good, design, options, cycle_of=cycle_of)


@dataclass(frozen=True)
class _Stored:
    summary: IngestSummary
    problems: pd.DataFrame
    already: int


@task(
    name="store outcomes",
    cache_policy=NO_CACHE,
    **IO_RETRIES,
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

    def write(conn: sa.Connection) -> Written:
        # what both tables hold at this timepoint: a survey value stored long by an older
        # trialflow (its file not on record as a survey) counts as stored too
        stored = outcome_values_long(conn, design.id, timepoint=timepoint, measures=rows.measures)
        to_store, conflicts, already = separate_stored(
            rows,
            stored[["participant_id", "measure", "value", "source_file", "source_row"]],
            file_columns=mapping,
        )
        mapped = problems.assign(column=[mapping.get(c, c) for c in problems["column"]])
        if source == "survey":  # one row per response (flows.store.responses says why)
            keep, parts = new_measures(to_store, stored)
            added = store.insert_new_many(
                conn,
                survey_responses,
                RESPONSE_COLUMNS,
                response_tuples(
                    to_store,
                    trial_id=design.id,
                    timepoint=timepoint,
                    source_file=name,
                    parts=parts,
                    keep=keep,
                ),
            )
        else:  # HR: a few measures per person, one value a row
            added = store.insert_new_many(
                conn,
                outcome_values,
                OUTCOME_COLUMNS,
                to_store.tuples(trial_id=design.id, timepoint=timepoint, source_file=name),
            )
        return Written(
            len(to_store) if added else 0,
            combine_problems([mapped, conflicts]),
            already,
        )

    summary, written = store_ingest(
        store,
        design,
        path=path,
        digest=digest,
        kind=source,
        timepoint=timepoint,
        rows_read=rows_read,
        write=write,
    )
    return _Stored(summary, written.problems, written.already)


@task(name="write validation report", cache_policy=NO_CACHE, **IO_RETRIES)
def write_validation_report(
    design: TrialDesign, path: str, source: str, timepoint: str, stored: _Stored
) -> tuple[Path, Path]:
    """The coordinator's report (HTML) and every problem as CSV, named by file stem and hash."""
    folder = output_dir(design.id, "validation")
    stem = f"{Path(path).stem}-{stored.summary.file_hash[:12]}"
    html = render_validation_report(
        design,
        file_name=Path(path).name,
        source=source,
        timepoint=timepoint,
        summary=stored.summary,
        problems=stored.problems,
        already=stored.already,
    )
    report = folder / f"{stem}.html"
    write_text(report, html)
    listing = folder / f"{stem}.csv"
    write_csv(
        stored.problems.rename(columns={"source_row": "row", "message": "what_to_fix"}), listing
    )
    return report, listing


@flow(name="outcomes-ingest", log_prints=True, **STAGE_HOOKS)
def outcomes_ingest_flow(
    design: str, file: str, source: str = "survey", timepoint: str = "endline"
) -> dict:
    """Read, check, score and store one survey export or HR extract; report what to fix."""
    check_outcome_arguments(source, timepoint)
    logger = get_run_logger()
    trial = load_design_task(design)
    check_declared_timepoint(trial, timepoint)  # before anything is read or written
    require_current_design(trial, stage="ingest outcomes")
    options = source_options(trial, source)
    digest = fingerprint(file)
    previous = previous_ingest(trial, kind=source, digest=digest, timepoint=timepoint)
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
    cycle_of = load_participant_cycles(trial)
    problems = check_rows(
        frame, trial, source, known, options, timepoint, cycle_of, file_name=Path(file).name
    )
    step(2, 4)
    if source == "survey":
        scoring = load_wrqol_scoring(trial, design, options)
        rows = score_task(frame, trial, scoring, problems)
    else:
        # each cohort's absence and turnover run over its own cycle's window
        rows = hr_task(frame, trial, options, problems, cycle_of)
    stored = store_outcomes(
        trial, file, digest, source, timepoint, rows, problems, mapping, len(frame)
    )
    step(3, 4)
    report, listing = write_validation_report(trial, file, source, timepoint, stored)
    step(4, 4)
    line = stored.summary.line()
    if stored.already:
        line += f" {stored.already} rows were stored already and were skipped."
    key = re.sub(r"[^a-z0-9-]", "-", f"{trial.id}-{source}-{timepoint}".lower())
    # counts by rule and row numbers only: artifacts are readable by anyone with the UI
    create_markdown_artifact(
        key=f"{key}-ingest",
        markdown="\n".join(
            [f"**{line}**", "", quarantine_markdown(Path(file).name, stored.problems), ""]
            + [f"Validation report: [open]({Path(report).resolve().as_uri()}) `{report}`"]
        ),
    )
    publish_quarantine(trial, Path(file).name, stored.problems, key=f"{key}-quarantine")
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
