"""Roster checks: every problem of a roster before anything is allocated from it."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from intake.ids import exact_ids, id_form_problem, id_keys
from intake.quarantine import PROBLEM_COLUMNS, format_problems
from trial_designs.design import TrialDesign

__all__ = ["RosterError", "check_roster"]

_TRUE = {"yes", "y", "true", "1", "consented"}


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
    keys = id_keys(present["id"])
    known = pd.Series(list(known_ids or ()), dtype=object)
    # a late entrant whose id is stored as written is that participant (enrol says so); one
    # whose id is a stored id only once trimmed, folded and normalised is a clash
    near_stored = pd.Index(keys, dtype=object).isin(
        pd.Index(id_keys(known), dtype=object)
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
