"""Survey responses stored one row each (flows.store.responses), on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from flows.store import Store, survey_responses
from flows.store.responses import (
    RESPONSE_COLUMNS,
    new_measures,
    outcome_value_counts,
    outcome_values_long,
    response_tuples,
)
from intake.outcome_rows import OutcomeRows

pytestmark = pytest.mark.usefixtures("store_backend")

#: doubles that a 15-digit text form (SQLite's own JSON) would not give back
AWKWARD = [0.1 + 0.2, 1 / 3, 23.456789012345678, 5e-324, -0.0, 1e300]


def _rows(ids: list[str], values: dict[str, list], rules: dict | None = None) -> OutcomeRows:
    keys = pd.DataFrame(
        {
            "participant_id": pd.Series(ids, dtype=object),
            "collected_on": pd.Series(["2026-09-01"] * len(ids), dtype=object),
            "source_row": np.arange(len(ids)) + 2,
        }
    )
    return OutcomeRows(keys, pd.DataFrame(values, dtype=float), rules or {})


def _store(rows: OutcomeRows, **kwargs) -> int:
    store = Store()
    with store.transaction() as conn:
        return store.insert_new_many(
            conn,
            survey_responses,
            RESPONSE_COLUMNS,
            response_tuples(rows, trial_id="t", timepoint="endline", source_file="f.csv", **kwargs),
        )


def _long() -> pd.DataFrame:
    with Store().engine.connect() as conn:
        return outcome_values_long(conn, "t")


def test_every_value_reads_back_equal_to_the_bit_with_its_rule_date_and_row():
    n = len(AWKWARD)
    ids = [f"P{i}" for i in range(n)][::-1]  # not in key order: stored in key order anyway
    rules = {"score": np.array(["complete", "prorated(1)"] * (n // 2), dtype=object)}
    rows = _rows(ids, {"item": [np.nan, *AWKWARD[1:]], "score": AWKWARD}, rules)
    assert _store(rows) == n
    got = _long().set_index(["participant_id", "measure"])
    assert len(got) == 2 * n
    for i, pid in enumerate(ids):
        item, score = got.loc[(pid, "item")], got.loc[(pid, "score")]
        want = rows.values.iloc[i]
        assert (math.isnan(item["value"]) and math.isnan(want["item"])) or (
            item["value"] == want["item"]
            and math.copysign(1, item["value"]) == math.copysign(1, want["item"])
        )
        assert score["value"] == want["score"] and str(score["value"]) == str(want["score"])
        assert score["rule"] == rules["score"][i] and item["rule"] is None
        assert score["source_row"] == i + 2 and str(score["collected_on"]) == "2026-09-01"
        assert score["source_file"] == "f.csv" and score["part"] == 0
    # a missing answer is a value stored (as NULL was): counted, as the long rows were
    with Store().engine.connect() as conn:
        counts = outcome_value_counts(conn, "t")
    assert counts.to_dict("records") == [
        {"timepoint": "endline", "participants": n, "values": 2 * n}
    ]


def test_the_same_responses_again_add_nothing():
    rows = _rows(["A", "B"], {"item": [1.0, 2.0]})
    assert _store(rows) == 2
    assert _store(rows) == 0
    assert len(_long()) == 2


def test_measures_a_later_file_adds_are_stored_once_as_a_further_part():
    # an amended design added an instrument: the stored answers stay, the new ones are added
    assert _store(_rows(["A", "B"], {"item": [1.0, 2.0]})) == 2
    later = _rows(["A", "C"], {"item": [1.0, 3.0], "extra": [4.0, np.nan]})
    stored = _long()
    keep, parts = new_measures(later, stored)
    assert keep.tolist() == [[False, True], [True, True]] and parts.tolist() == [1, 0]
    assert _store(later, keep=keep, parts=parts) == 2
    got = _long().sort_values(["participant_id", "measure"])
    assert got[["participant_id", "measure", "part"]].values.tolist() == [
        ["A", "extra", 1],
        ["A", "item", 0],
        ["B", "item", 0],
        ["C", "extra", 0],
        ["C", "item", 0],
    ]
    values = got["value"].tolist()
    assert values[:3] == [4.0, 1.0, 2.0] and math.isnan(values[3]) and values[4] == 3.0
    assert not got.duplicated(["participant_id", "measure"]).any()


@pytest.mark.parametrize("statement", ["UPDATE survey_responses SET values_json = '{}'",
                                       "DELETE FROM survey_responses"])  # fmt: skip
def test_a_stored_response_cannot_be_changed_or_deleted(statement):
    _store(_rows(["A"], {"item": [1.0]}))
    store = Store()
    with (
        pytest.raises(sa.exc.DBAPIError, match="survey_responses is append-only"),
        store.engine.begin() as conn,
    ):
        conn.exec_driver_sql(statement)
    assert _long()["value"].tolist() == [1.0]


def test_a_measure_name_with_quotes_or_percent_signs_reads_back():
    # the JSON object is built from a template: a name must not break it or be read as a format
    odd = ['say "hi"', "100% sure", "naïve\\path"]
    rows = _rows(["A", "B"], {m: [1.5, np.nan] for m in odd}, {odd[1]: np.array(["x", None])})
    assert _store(rows) == 2
    got = _long().set_index(["participant_id", "measure"])
    assert sorted(got.loc["A"].index) == sorted(odd)
    assert got.loc[("A", odd[0]), "value"] == 1.5 and math.isnan(got.loc[("B", odd[2]), "value"])
    assert got.loc[("A", odd[1]), "rule"] == "x" and got.loc[("B", odd[1]), "rule"] is None
