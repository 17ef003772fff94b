"""Checks at the boundary: every problem becomes a row naming row, column, rule and value."""

from __future__ import annotations

import datetime as dt
import itertools
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trial_designs.design import TrialDesign

__all__ = [
    "PROBLEM_COLUMNS",
    "Rule",
    "RosterError",
    "check_roster",
    "exact_ids",
    "format_problems",
    "id_form_problem",
    "id_key",
    "quarantine_log",
    "quarantine_summary",
    "units_for_artifact",
    "quarantine_markdown",
    "run_rules",
]

PROBLEM_COLUMNS = ["source_row", "column", "rule", "value", "message"]

_TRUE = {"yes", "y", "true", "1", "consented"}
_FALSE = {"no", "n", "false", "0", "withdrawn", "declined"}


class RosterError(ValueError):
    """A roster with problems; nothing was allocated from it."""

    def __init__(self, file_name: str, problems: pd.DataFrame) -> None:
        self.problems = problems
        #: Every problem with its value, for the person at the command line.
        self.report = format_problems(file_name, problems)
        # str() is what Prefect logs and sends to its API when the flow fails, where anyone
        # with the UI reads it: rows, columns and rules, never a value (a staff id, say).
        super().__init__(format_problems(file_name, problems, values=False))

    def __reduce__(self) -> tuple:
        # Prefect pickles a failed flow's exception into its result storage whatever the
        # persistence settings (flow_engine.handle_exception writes it): only the id-free
        # message and the rows, columns and rules travel, never a value or the report.
        where = self.problems[[c for c in ("source_row", "column", "rule") if c in self.problems]]
        return (_rebuilt_roster_error, (str(self), where.to_dict("list")))


def _rebuilt_roster_error(message: str, where: dict) -> RosterError:
    """A RosterError read back from a pickle: its message, and problems without values."""
    error = RosterError.__new__(RosterError)
    ValueError.__init__(error, message)
    error.problems = pd.DataFrame(where)
    error.report = message
    return error


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


def _problem(
    rows: pd.DataFrame, column: str, file_column: str, rule: str, message: str
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_row": rows["source_row"].astype(int),
            "column": file_column,
            "rule": rule,
            "value": rows[column].astype("object").where(rows[column].notna(), None)
            if column in rows
            else None,
            "message": message,
        }
    )


# ---------------------------------------------------------------------------
# participant ids: one exact rule for the roster and every reader that matches ids
# ---------------------------------------------------------------------------
def id_key(value: object) -> str:
    """The form under which two ids read as one to a person: NFKC, case folded, trimmed.

    ``'P10'``, ``'P10 '``, ``'p10'`` and a fullwidth ``'Ｐ10'`` share a key, as do
    ``'Café'`` in NFC and NFD.  The key is never used to *match* ids (matching is
    exact, see :func:`exact_ids`); it finds ids that must not both exist.
    """
    folded = unicodedata.normalize("NFKC", str(value)).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def id_form_problem(value: object) -> str | None:
    """Why an id as written cannot be a participant's id, or None when it can.

    Spaces around an id and control or invisible format characters (a tab, a
    zero-width space, a byte-order mark) cannot be seen in a spreadsheet, so
    an id carrying them is refused rather than silently trimmed.
    """
    text = str(value)
    if text != text.strip():
        return (
            "This staff id has spaces (or tabs) before or after it, which nobody can see in a "
            "spreadsheet; remove them."
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        return (
            "This staff id holds a control or invisible character (a tab, a zero-width space, "
            "a byte-order mark); retype it."
        )
    return None


def exact_ids(values: pd.Series) -> pd.Series:
    """Id cells exactly as written, missing (None) where blank: the one way readers read ids.

    Every reader that matches a file's ids to the trial's participants (the
    roster, the letters' feedback sheet, survey and HR files, delivery logs)
    reads them through this function and then matches *exactly*: nothing is
    trimmed, so ``'P10 '`` never reaches ``'P10'``; it is an unknown id,
    quarantined with its reason.  Only a cell of nothing but spaces counts as
    blank.
    """

    raw = values.to_numpy(dtype=object, na_value=None)
    text = pd.Series(raw, dtype="string")  # vectorised: a roster may hold a million ids
    blank = (text.isna() | (text.str.strip() == "")).to_numpy(dtype=bool, na_value=True)
    out = np.asarray(text.to_numpy(dtype=object, na_value=None), dtype=object)
    out[blank] = None
    return pd.Series(out, index=values.index, dtype=object, name=values.name)


def _id_keys(ids: pd.Series) -> pd.Series:
    """:func:`id_key` of every id, vectorised for printable ASCII (a million ids in a second)."""
    text = ids.astype("string")
    keys = text.str.lower().str.strip()  # NFKC leaves printable ASCII as it is
    other = text.str.contains(r"[^\x20-\x7e]", regex=True).fillna(False).to_numpy(dtype=bool)
    if other.any():
        keys[other] = [id_key(v) for v in text[other]]
    return keys.astype(object)


def _id_problems(
    roster: pd.DataFrame, file_column: str, known_ids: set[str] | None
) -> list[pd.DataFrame]:
    """Rules ``id_no_surrounding_space`` and ``id_distinct_when_normalised`` (see check_roster)."""
    ids = exact_ids(roster["id"])
    present = roster.assign(id=ids)[ids.notna()]
    found = []
    text = present["id"].astype("string")
    # only ids that are not plain printable ASCII, or have spaces at an end, can fail the form
    suspect = (text.str.contains(r"[^\x21-\x7e]", regex=True) & (text != "")).to_numpy(
        dtype=bool, na_value=False
    )
    form = pd.Series(None, index=present.index, dtype=object)
    form[suspect] = [id_form_problem(v) for v in present["id"][suspect]]
    bad = present[form.notna()]
    if len(bad):
        found.append(
            _problem(bad, "id", file_column, "id_no_surrounding_space", "").assign(
                message=form[form.notna()].to_numpy()
            )
        )
    keys = _id_keys(present["id"])
    known = pd.Series(list(known_ids or ()), dtype=object)
    # a late entrant whose id is stored as written is that participant (enrol says so); one
    # whose id is a stored id only once trimmed, folded and normalised is a clash
    near_stored = pd.Index(keys, dtype=object).isin(
        pd.Index(_id_keys(known), dtype=object)
    ) & ~pd.Index(present["id"], dtype=object).isin(pd.Index(known, dtype=object))
    # only ids whose key is shared (in the roster or with a stored id) can clash
    shared = keys.duplicated(keep=False).to_numpy() | near_stored
    rows_of: dict[str, list[tuple[int, str, bool]]] = {}
    for key, row, value, stored in zip(
        keys[shared],
        present["source_row"][shared],
        present["id"][shared],
        near_stored[shared],
        strict=True,
    ):
        rows_of.setdefault(key, []).append((int(row), value, bool(stored)))
    messages: dict[int, str] = {}
    for entries in rows_of.values():
        for row, value, stored in entries:
            # rows, never values: this message reaches Prefect's log (RosterError's str)
            others = [f"the id on row {r}" for r, v, _ in entries if v != value]
            if stored:
                others.append("the id of a participant already in the trial")
            if others:
                messages[row] = (
                    f"This staff id is the same as {' and '.join(others)} once spaces, letter "
                    "case and Unicode forms are ignored: a person reads them as one id, so one "
                    "person's letters or answers could reach the other. Make each id distinct, "
                    "or write the same person's id the same way."
                )
    clash = present[present["source_row"].astype(int).isin(messages)]
    if len(clash):
        found.append(
            _problem(clash, "id", file_column, "id_distinct_when_normalised", "").assign(
                message=[messages[int(r)] for r in clash["source_row"]]
            )
        )
    return found


def check_roster(
    roster: pd.DataFrame,
    design: TrialDesign,
    *,
    known_clusters: set[str] | None = None,
    known_ids: set[str] | None = None,
    today: dt.date | None = None,
) -> pd.DataFrame:
    """Check a roster (canonical column names) against a design.

    Rules: ``required_id`` (an id), ``unique_id`` (no duplicate ids),
    ``required_stratum`` (every strata and cluster column has a value),
    ``known_cluster`` (cluster trials: the cluster is one of the design's
    ``clusters``, or ``known_clusters`` when given), ``consented`` (consent
    is yes), ``valid_date`` (start dates parse), ``start_date_not_future`` (no
    start date after ``today``, by default the date the check runs: someone
    who has not started cannot be randomised, and a year like 2205 is a typo),
    ``has_rows`` (at least one staff row under the header; reported on row 1),
    ``id_no_surrounding_space`` (no spaces, tabs, control or invisible
    characters around or in an id, see :func:`id_form_problem`) and
    ``id_distinct_when_normalised`` (no two ids, nor an id and one of
    ``known_ids`` (the participants already stored, for late entrants), that
    differ only by spaces, letter case or Unicode form; both rows are named).

    Returns
    -------
    DataFrame
        One row per problem with :data:`PROBLEM_COLUMNS`; empty when the roster is good.
    """
    cols = design.roster_columns  # canonical fields, plus strata/cluster columns by their name
    if roster.empty:
        # nobody to allocate: refused here, by rule, not by the store's NOT NULL constraint
        return pd.DataFrame(
            [
                {
                    "source_row": 1,
                    "column": "(every column)",
                    "rule": "has_rows",
                    "value": None,
                    "message": "The roster has a header but no staff rows: there is nobody to "
                    "randomise. Add one row per member of staff under the header.",
                }
            ],
            columns=PROBLEM_COLUMNS,
        )
    found: list[pd.DataFrame] = []
    ids = roster["id"]
    missing_id = roster[ids.isna() | (ids.astype("str").str.strip() == "")]
    found.append(
        _problem(missing_id, "id", cols["id"], "required_id", "Every row needs a staff id.")
    )
    dup = roster[ids.notna() & ids.duplicated(keep=False)]
    found.append(
        _problem(dup, "id", cols["id"], "unique_id", "This staff id appears on more than one row.")
    )
    found += _id_problems(roster, cols["id"], known_ids)
    needed = list(design.strata) + ([design.cluster_by] if design.cluster_by else [])
    for needed_field in needed:
        empty = roster[
            roster[needed_field].isna() | (roster[needed_field].astype("str").str.strip() == "")
        ]
        found.append(
            _problem(
                empty,
                needed_field,
                cols[needed_field],
                "required_stratum",
                f"'{needed_field}' is needed to randomise.",
            )
        )
    if design.unit == "cluster":
        allowed = known_clusters if known_clusters is not None else set(design.clusters)
        if allowed:
            unknown = roster[
                roster[design.cluster_by].notna()
                & ~roster[design.cluster_by].astype("str").isin(allowed)
            ]
            found.append(
                _problem(
                    unknown,
                    design.cluster_by,
                    cols[design.cluster_by],
                    "known_cluster",
                    f"Not one of the trial's {len(allowed)} {design.cluster_by}s.",
                )
            )
    if "consent" in roster:
        consent = roster["consent"].astype("str").str.strip().str.lower()
        bad = roster[~consent.isin(_TRUE)]
        found.append(
            _problem(
                bad,
                "consent",
                cols["consent"],
                "consented",
                "Only staff who consented can be randomised; remove this row or record consent.",
            )
        )
    if "start_date" in roster:
        parsed = pd.to_datetime(roster["start_date"], errors="coerce", format="ISO8601")
        bad = roster[roster["start_date"].notna() & parsed.isna()]
        found.append(
            _problem(bad, "start_date", cols["start_date"], "valid_date", "Dates are YYYY-MM-DD.")
        )
        today = today or dt.date.today()
        future = roster[parsed.notna() & (parsed > pd.Timestamp(today))]
        found.append(
            _problem(
                future,
                "start_date",
                cols["start_date"],
                "start_date_not_future",
                f"A start date after today ({today.isoformat()}): only staff already in post can "
                "be randomised; correct the date or enrol them once they start.",
            )
        )
    found = [f for f in found if len(f)]
    if not found:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    return (
        pd.concat(found, ignore_index=True)
        .sort_values(["source_row", "rule"], kind="stable")
        .reset_index(drop=True)
    )


# ---------------------------------------------------------------------------
# great-expectations: declarative row rules for ingested files
# ---------------------------------------------------------------------------
_EXPECTATIONS = {
    "between": "ExpectColumnValuesToBeBetween",
    "in_set": "ExpectColumnValuesToBeInSet",
    "not_null": "ExpectColumnValuesToNotBeNull",
    "unique": "ExpectColumnValuesToBeUnique",
    "regex": "ExpectColumnValuesToMatchRegex",
}


@dataclass(frozen=True)
class Rule:
    """One named row rule, run as a great-expectations expectation.

    ``kind`` is one of ``between``, ``in_set``, ``not_null``, ``unique``,
    ``regex``; ``kwargs`` are the expectation's own (``min_value``,
    ``value_set``, ...).  ``file_column`` is the column's name in the file,
    for messages.
    """

    name: str
    column: str
    kind: str
    message: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    file_column: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _EXPECTATIONS:
            raise ValueError(
                f"The rule kind '{self.kind}' is not known. Choose one of: {', '.join(_EXPECTATIONS)}. "
                f"Got '{self.kind}' instead."
            )


_suite_counter = itertools.count()


def run_rules(frame: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    """Validate ``frame`` with great-expectations; one problem row per failing cell.

    ``frame`` must have a ``source_row`` column; it names the failing rows.
    An expectation that *raises* is an error in trialflow, not in the data,
    so it is re-raised rather than reported as a failure.
    """
    if frame.empty or not rules:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    import great_expectations as gx  # late: the import costs seconds and ~150 MB
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = f"trialflow-{next(_suite_counter)}"
    batch = (
        context.data_sources.add_or_update_pandas(name)
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("all")
    )
    # results come back in GX's order, not ours: tag each expectation with its rule's index
    expectations = [
        getattr(gxe, _EXPECTATIONS[r.kind])(column=r.column, meta={"trialflow_rule": i}, **r.kwargs)
        for i, r in enumerate(rules)
    ]
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    result = validation.run(
        batch_parameters={"dataframe": frame},
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": ["source_row"],
        },
    )
    found = []
    for outcome in result.results:
        rule = rules[int(outcome.expectation_config.meta["trialflow_rule"])]
        info = outcome.exception_info or {}
        raised = (
            info.get("raised_exception")
            if "raised_exception" in info
            else any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())
        )
        if raised:
            raise RuntimeError(
                f"The check '{rule.name}' on column '{rule.column}' failed to run: {info}"
            )
        if outcome.success:
            continue
        for item in outcome.result.get("unexpected_index_list") or []:
            value = item.get(rule.column)
            found.append(
                {
                    "source_row": int(item["source_row"]),
                    "column": rule.file_column or rule.column,
                    "rule": rule.name,
                    "value": None
                    if pd.isna(value)
                    else (value.item() if hasattr(value, "item") else value),
                    "message": rule.message,
                }
            )
    return pd.DataFrame(found, columns=PROBLEM_COLUMNS)
