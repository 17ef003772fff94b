"""Outcome values in the store: survey responses one row each, HR measures one value a row.

Why one row per response (issue 18.3)
-------------------------------------
A survey response of one SWEMWBS is nine values (seven items, two scores).
Stored as nine long rows of ``outcome_values`` (trial, participant, timepoint,
measure, value, ...), 1M responses were 9M rows, each with its own entry in
the key's index: the store stage took 27.05 s of a 34.43 s ingest and the file
grew by 1,710 MB, and a bare ``sqlite3`` executemany of the same long rows took
29.49 s, so no tuning of that layout could meet the target of 30 s for the
whole ingest.  Measured on this machine (load about 1) for 1M responses:

- long rows, as before: 27.05 s, 1,710 MB;
- one row per response, the values as one JSON object in a TEXT column
  (chosen): 1.9 s to encode, 2.9 s to insert into a rowid table, 4.3 s to read
  back and decode all of them;
- the same as a WITHOUT ROWID table: 4.7 s to insert, 9.2 s to read back;
- one wide row with a REAL column per measure: 2.65 s, 143 MB, but its columns
  would be the design's measures, so the schema would change with every
  design and need a migration per instrument; rejected;
- a columnar file beside the store (Parquet): not inside the store's
  transaction, so an ingest would no longer be atomic; rejected.

With it, ``bench/bench_outcomes.py`` (1M responses, load 10.5 falling to 8.4
on 2 cores) printed: the whole ingest 21.72 s (target < 30 s: met; 34.43 s
with long rows on a quiet machine), of which the store stage 8.42 s wall and
6.07 s CPU against 42.54 s and 25.43 s for a plain executemany of the same
values as long rows; the database file 722 MB against 1,710 MB; peak RSS
1,263 MB.

JSON numbers are written with Python's ``repr`` of the double and read with
``json.loads``, which round-trip exactly, so every value reads back equal to
the bit (not SQLite's own JSON functions, which print 15 digits).  A missing
answer is JSON ``null``, as it was a NULL row.  The key (trial, participant,
timepoint, part) keeps one response per person and timepoint; ``part`` > 0
holds only measures a later file added to a stored response (a design
amended to add an instrument), so each value is still stored once, as
``INSERT OR IGNORE`` of long rows did.  The table is append-only (triggers
refuse UPDATE and DELETE, on SQLite and PostgreSQL).

HR measures stay long in ``outcome_values``: five values per person, written
once per extract, and their readers, counts and conflicts work unchanged.

Every reader of outcome values goes through :func:`outcome_values_long` (the
long frame the analysis always read) or :func:`outcome_value_counts`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa

from flows.store.schema import outcome_values, survey_responses
from intake.outcome_rows import OutcomeRows

__all__ = [
    "LONG_COLUMNS",
    "RESPONSE_COLUMNS",
    "new_measures",
    "outcome_value_counts",
    "outcome_values_long",
    "response_tuples",
]

#: The columns of a survey response row, in table order (:func:`response_tuples`).
RESPONSE_COLUMNS = [c.name for c in survey_responses.columns]

#: The long frame of outcome values every reader gets, one row per value.
LONG_COLUMNS = [
    "participant_id",
    "timepoint",
    "measure",
    "value",
    "rule",
    "collected_on",
    "source_file",
    "source_row",
    "part",
]


def _number(value: float) -> str:
    # repr is the shortest text that reads back as the same double; NaN is a missing answer
    return repr(value) if value == value else "null"


def _encode_rows(
    measures: list[str], values: np.ndarray, rules: list[np.ndarray | None]
) -> tuple[list[str], list[str | None]]:
    """values_json and rules_json of every row (all its measures), without a dict per row."""
    template = "{" + ",".join(json.dumps(m).replace("%", "%%") + ":%s" for m in measures) + "}"
    columns = [[_number(v) for v in values[:, j].tolist()] for j in range(len(measures))]
    values_json = [template % row for row in zip(*columns, strict=True)] if measures else []
    ruled = [(m, r) for m, r in zip(measures, rules, strict=True) if r is not None]
    if not ruled:
        return values_json, [None] * len(values)
    cache: dict[tuple, str | None] = {}

    def encode(key: tuple) -> str | None:
        found = {m: r for (m, _), r in zip(ruled, key, strict=True) if r is not None}
        return json.dumps(found, ensure_ascii=False) if found else None

    rules_json = []
    for key in zip(*[r.tolist() for _, r in ruled], strict=True):
        if key not in cache:  # a handful of distinct rule combinations in a whole file
            cache[key] = encode(key)
        rules_json.append(cache[key])
    return values_json, rules_json


def response_tuples(
    rows: OutcomeRows,
    *,
    trial_id: str,
    timepoint: str,
    source_file: str,
    parts: np.ndarray | None = None,
    keep: np.ndarray | None = None,
    chunk: int = 50_000,
) -> Iterator[tuple]:
    """Survey response rows in :data:`RESPONSE_COLUMNS` order, by participant (the key's order).

    ``parts`` gives each row's part (default 0); ``keep`` (rows x measures,
    boolean) the measures to write in each row, the others being stored
    already (default: all).  Dates go as ISO text, missing values as NULL.
    """
    n, measures = len(rows), rows.measures
    order = np.argsort(rows.keys["participant_id"].to_numpy(object), kind="stable")
    ids = rows.keys["participant_id"].to_numpy(object)[order]
    dates = rows.keys["collected_on"].to_numpy(object)[order]
    source_rows = rows.keys["source_row"].to_numpy(np.int64)[order]
    values = rows.values.to_numpy(float)[order]
    rules = [None if rows.rules.get(m) is None else rows.rules[m][order] for m in measures]
    parts = np.zeros(n, np.int64) if parts is None else np.asarray(parts, np.int64)[order]
    keep = None if keep is None or np.asarray(keep).all() else np.asarray(keep, bool)[order]
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        if keep is None:
            values_json, rules_json = _encode_rows(
                measures, values[part], [None if r is None else r[part] for r in rules]
            )
            counts = [len(measures)] * len(values_json)
        else:  # only some measures of some rows: rare (an amended design), one dict a row
            values_json, rules_json, counts = [], [], []
            for i in range(start, min(start + chunk, n)):
                wanted = np.flatnonzero(keep[i])
                values_json.append(
                    json.dumps(
                        {
                            measures[j]: None
                            if values[i, j] != values[i, j]
                            else float(values[i, j])
                            for j in wanted
                        }
                    )
                )
                ruled = {
                    measures[j]: rules[j][i]
                    for j in wanted
                    if rules[j] is not None and rules[j][i] is not None
                }
                rules_json.append(json.dumps(ruled, ensure_ascii=False) if ruled else None)
                counts.append(len(wanted))
        k = len(values_json)
        yield from zip(
            [trial_id] * k,
            ids[part].tolist(),
            [timepoint] * k,
            parts[part].tolist(),
            dates[part].tolist(),
            [source_file] * k,
            source_rows[part].tolist(),
            counts,
            values_json,
            rules_json,
            strict=True,
        )


def new_measures(rows: OutcomeRows, stored: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which of each row's measures are not stored yet, and the part each row is stored as.

    ``stored`` is :func:`outcome_values_long` at the rows' timepoint.  Returns
    ``keep`` (rows x measures, boolean) and ``parts`` (0, or one past the
    participant's last stored part).
    """
    n, m = len(rows), len(rows.measures)
    if stored.empty or not n:
        return np.ones((n, m), bool), np.zeros(n, np.int64)
    ids = rows.keys["participant_id"].to_numpy(object)
    pairs = pd.MultiIndex.from_arrays(
        [np.repeat(ids, m), np.tile(np.asarray(rows.measures, dtype=object), n)]
    )
    have = pd.MultiIndex.from_frame(stored[["participant_id", "measure"]])
    keep = ~pairs.isin(have).reshape(n, m)
    last = pd.to_numeric(stored["part"], errors="coerce").groupby(stored["participant_id"]).max()
    parts = pd.Series(ids).map(last + 1).fillna(0).to_numpy(np.int64)
    return keep, parts


def _survey_long(found: list) -> dict[str, list]:
    """Rows of survey_responses (the selected columns of :func:`outcome_values_long`) as long lists."""
    out: dict[str, list] = {c: [] for c in LONG_COLUMNS}
    for pid, timepoint, part, collected, file, row, values_json, rules_json in found:
        values = json.loads(values_json)
        rules = json.loads(rules_json) if rules_json else {}
        k = len(values)
        out["participant_id"] += [pid] * k
        out["timepoint"] += [timepoint] * k
        out["measure"] += list(values)
        out["value"] += [np.nan if v is None else float(v) for v in values.values()]
        out["rule"] += [rules.get(measure) for measure in values]
        out["collected_on"] += [collected] * k
        out["source_file"] += [file] * k
        out["source_row"] += [row] * k
        out["part"] += [part] * k
    return out


def outcome_values_long(
    conn: sa.Connection,
    trial_id: str,
    *,
    timepoint: str | None = None,
    measures: list[str] | None = None,
) -> pd.DataFrame:
    """Every stored outcome value of a trial, one row a value (:data:`LONG_COLUMNS`).

    Survey responses are unpacked (``part`` is their part; HR rows have NaN);
    values read back exactly as written, a missing one as NaN.  Optionally
    only one ``timepoint`` and the given ``measures``.  Survey values come
    first, by participant, timepoint and part (a response's measures in their
    stored order), then HR values; readers must not depend on the order (a
    sort of 9M rows would cost more than the read).
    """
    r, o = survey_responses.c, outcome_values.c
    query = sa.select(
        r.participant_id,
        r.timepoint,
        r.part,
        r.collected_on,
        r.source_file,
        r.source_row,
        r.values_json,
        r.rules_json,
    ).where(r.trial_id == trial_id)
    if timepoint is not None:
        query = query.where(r.timepoint == timepoint)
    survey = _survey_long(conn.execute(query.order_by(r.participant_id, r.timepoint, r.part)).all())
    hr_query = sa.select(
        o.participant_id,
        o.timepoint,
        o.measure,
        o.value,
        o.rule,
        o.collected_on,
        o.source_file,
        o.source_row,
    ).where(o.trial_id == trial_id)
    if timepoint is not None:
        hr_query = hr_query.where(o.timepoint == timepoint)
    if measures is not None:
        hr_query = hr_query.where(o.measure.in_(measures))
    for row in conn.execute(hr_query):
        for column, value in zip(LONG_COLUMNS[:-1], row, strict=True):
            survey[column].append(np.nan if column == "value" and value is None else value)
        survey["part"].append(np.nan)
    frame = pd.DataFrame(
        {
            **{c: pd.Series(survey[c], dtype=object) for c in LONG_COLUMNS},
            "value": np.asarray(survey["value"], dtype=float),
        },
        columns=LONG_COLUMNS,
    )
    if measures is not None:
        frame = frame[frame["measure"].isin(measures)].reset_index(drop=True)
    return frame


def outcome_value_counts(
    conn: sa.Connection, trial_id: str, *, except_timepoint: str | None = None
) -> pd.DataFrame:
    """Per timepoint: participants with a value and values stored (NULLs included).

    Columns timepoint, participants, values; the values of a response are
    counted one by one, as long rows were.
    """
    r, o = survey_responses.c, outcome_values.c
    survey = sa.select(r.timepoint, r.participant_id, r.n_values.label("n")).where(
        r.trial_id == trial_id
    )
    hr = sa.select(o.timepoint, o.participant_id, sa.literal(1, sa.Integer).label("n")).where(
        o.trial_id == trial_id
    )
    if except_timepoint is not None:
        survey = survey.where(r.timepoint != except_timepoint)
        hr = hr.where(o.timepoint != except_timepoint)
    both = sa.union_all(survey, hr).subquery()
    found = conn.execute(
        sa.select(
            both.c.timepoint,
            sa.func.count(sa.distinct(both.c.participant_id)).label("participants"),
            sa.func.sum(both.c.n).label("values"),
        )
        .group_by(both.c.timepoint)
        .order_by(both.c.timepoint)
    ).all()
    return pd.DataFrame(
        [(t, int(p), int(v)) for t, p, v in found], columns=["timepoint", "participants", "values"]
    )
