"""The coordinator's validation report of one ingested outcome file, and the quarantine as markdown.

Pure: results in, text out.  The flow writes the HTML beside a CSV of every
problem; :func:`quarantine_markdown` is the Prefect artifact's table, which
anyone with the UI can read, so it carries counts and row numbers, never values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from intake.outcomes import RULES
from intake.quarantine import quarantine_summary
from reports.templating import html_environment

__all__ = ["REPORT_ROW_LIMIT", "quarantine_markdown", "render_validation_report"]

#: The validation report lists at most this many problems; the CSV beside it has them all.
REPORT_ROW_LIMIT = 2000
_TEMPLATES = html_environment(Path(__file__).parent / "templates")


def render_validation_report(
    design: Any,
    *,
    file_name: str,
    source: str,
    timepoint: str,
    summary: Any,
    problems: pd.DataFrame,
    already: int,
) -> str:
    """The validation report of one outcome file as HTML.

    Parameters
    ----------
    design : TrialDesign
        The trial (title, id and follow-up window are shown).
    file_name : str
        The ingested file's name.
    source, timepoint : str
        ``survey`` or ``hr``, and the timepoint the file was ingested at.
    summary : IngestSummary
        The store's record of the ingest (rows read, stored, quarantined, file hash).
    problems : DataFrame
        Every quarantined problem (:data:`intake.quarantine.PROBLEM_COLUMNS`);
        the first :data:`REPORT_ROW_LIMIT` are listed.
    already : int
        Rows skipped because they were stored already.

    Returns
    -------
    str
        The HTML page, every value escaped.
    """
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
    return _TEMPLATES.get_template("validation_report.html.j2").render(
        trial=design,
        file_name=file_name,
        source=source,
        timepoint=timepoint,
        summary=summary,
        already=already,
        by_rule=by_rule,
        problems=shown.to_dict("records"),
        n_problems=len(problems),
        limit=REPORT_ROW_LIMIT,
        rules={r: RULES[r] for r in sorted(listed) if r in RULES},
        window=(design.follow_up.recruitment_start, design.follow_up.window_end),
    )


def quarantine_markdown(file_name: str, problems: pd.DataFrame) -> str:
    """The quarantine of one ingest as a markdown table (see :func:`quarantine_summary`)."""
    summary = quarantine_summary(problems)
    if not summary:
        return f"No row of `{file_name}` was quarantined."
    n_rows = problems["source_row"].nunique()
    lines = [
        f"**{n_rows} row(s) of `{file_name}` quarantined** (row numbers are the file's lines; "
        "the header is line 1):",
        "",
        "| rule | column | rows | row numbers |",
        "|---|---|---:|---|",
    ]
    lines += [
        f"| {s['rule']} | {s['column']} | {s['rows']} | {s['row_numbers']} |" for s in summary
    ]
    return "\n".join(lines)
