"""Quarantine rows: one row per problem naming the file's row, column, rule and value.

Every check of intake returns problems in this shape (:data:`PROBLEM_COLUMNS`);
the helpers here build, combine and summarise them.  Summaries for logs and
Prefect artifacts carry rules, columns, counts and row numbers, never values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "PROBLEM_COLUMNS",
    "as_file_values",
    "combine_problems",
    "empty_file_problem",
    "format_problems",
    "problem_rows",
    "quarantine_log",
    "quarantine_summary",
    "units_for_artifact",
]

PROBLEM_COLUMNS = ["source_row", "column", "rule", "value", "message"]


def format_problems(
    file_name: str, problems: pd.DataFrame, limit: int = 20, *, values: bool = True
) -> str:
    """One line per problem, e.g. ``roster.csv row 7, column 'staff_id': rule unique_id; value 'S12' ...``.

    With ``values=False`` the value is left out (for logs others can read).
    """
    lines = [f"{file_name}: {len(problems)} problem(s); nothing was written."]
    for rec in problems.head(limit).to_dict("records"):
        shown = f"; value {rec['value']!r}" if values else ""
        lines.append(
            f"{file_name} row {rec['source_row']}, column '{rec['column']}': rule {rec['rule']}"
            f"{shown}. {rec['message']}"
        )
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more.")
    return "\n".join(lines)


def quarantine_summary(problems: pd.DataFrame, *, rows_shown: int = 10) -> list[dict]:
    """Quarantined rows per rule and column: counts and row numbers, never the values.

    For Prefect artifacts and logs, which anyone with the UI can read: a value
    may be a staff id or a health answer, a row number and a count are not.
    """
    if problems.empty:
        return []
    out = []
    for (rule, column), group in problems.groupby(["rule", "column"], sort=True):
        numbers = sorted(set(group["source_row"].astype(int)))
        shown = ", ".join(str(n) for n in numbers[:rows_shown])
        out.append(
            {
                "rule": rule,
                "column": column,
                "rows": len(numbers),
                "row_numbers": shown + (", …" if len(numbers) > rows_shown else ""),
            }
        )
    return out


def quarantine_log(file_name: str, problems: pd.DataFrame) -> str:
    """The quarantine of one ingest for Prefect's log: rules, columns, counts and row numbers.

    Never the values or messages, which may carry staff ids (see
    :func:`quarantine_summary`); the quarantine CSV and validation report have them.
    """
    lines = [
        f"{file_name}: {problems['source_row'].nunique()} row(s) quarantined; values are in "
        "the quarantine table and its CSV, not in this log."
    ]
    for row in quarantine_summary(problems):
        lines.append(
            f"  rule {row['rule']}, column '{row['column']}': {row['rows']} row(s), "
            f"rows {row['row_numbers']}"
        )
    return "\n".join(lines)


def units_for_artifact(units: pd.DataFrame, csv_name: str) -> list[dict]:
    """Rows of a units table for a Prefect artifact, a person's id replaced by its CSV row.

    Cluster ids (buildings, teams) stay; a participant's id becomes ``row N of
    <csv_name>`` (header = row 1), so the artifact points to the file without
    carrying the id.
    """
    out = []
    for k, rec in enumerate(units.astype("str").to_dict("records")):
        if rec.get("unit_kind", "participant") != "cluster":
            rec["unit_id"] = f"row {k + 2} of {csv_name}"
        out.append(rec)
    return out


def problem_rows(
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


def empty_file_problem(frame: pd.DataFrame, *, rows_are: str) -> pd.DataFrame:
    """The ``has_rows`` problem of a file with a header and no rows; empty when it has rows.

    A header-only export is refused like an empty file, by rule, not recorded as
    an ingest of "0 rows read, 0 stored": it is almost always an export that
    went wrong, and recording it would hide that.  ``rows_are`` names what a
    file's rows hold ("rows", "delivery events"); reported on row 1.
    """
    if len(frame):
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    return pd.DataFrame(
        [
            {
                "source_row": 1,
                "column": "(every column)",
                "rule": "has_rows",
                "value": None,
                "message": f"The file has a header but no {rows_are}: there is nothing to "
                "ingest. Export the file again with its rows.",
            }
        ],
        columns=PROBLEM_COLUMNS,
    )


def combine_problems(found: list[pd.DataFrame]) -> pd.DataFrame:
    found = [f for f in found if len(f)]
    if not found:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    out = (
        pd.concat(found, ignore_index=True)
        .sort_values(["source_row", "rule", "column"], kind="stable")
        .reset_index(drop=True)
    )
    return out.assign(value=out["value"].astype(object).where(out["value"].notna(), None))


def as_file_values(problems: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
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
