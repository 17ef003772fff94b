"""The "mostly another trial's file" rule: more than half the rows naming no one refuses the file."""

from __future__ import annotations

import numpy as np
import pandas as pd

from intake.ids import foreign_file_problem
from intake.rules import known_flags

KNOWN = pd.Index(["P1", "P2", "P3"], dtype=object)


def _problem(ids: list[str | None]) -> str | None:
    column = pd.Series(ids, dtype=object)
    return foreign_file_problem(
        column, known_flags(column, KNOWN), file_name="f.csv", trial_id="coffee"
    )


def test_more_than_half_unknown_is_refused_naming_file_count_share_and_first_stranger():
    message = _problem(["P1", None, "X9", "X8"])  # a blank id names no one either
    assert message == (
        "f.csv: 3 of 4 rows (75.0%) name no participant of coffee, e.g. 'X9': is this "
        "another trial's file? Nothing was stored."
    )


def test_half_or_fewer_unknown_passes_to_the_row_checks():
    assert _problem(["P1", "P2", "X9", "X8"]) is None
    assert _problem(["P1", "P2", "P3", "X8"]) is None
    assert _problem([]) is None


def test_only_blank_ids_are_named_as_such_and_counts_have_thousands_separators():
    assert "e.g. a blank id:" in _problem([None, None, "P1"])
    many = pd.Series(["P1", *[f"Z{i}" for i in range(1500)]], dtype=object)
    message = foreign_file_problem(
        many, known_flags(many, KNOWN), file_name="big.csv", trial_id="t", noun="unit"
    )
    assert message.startswith("big.csv: 1,500 of 1,501 rows (99.9%) name no unit of t, e.g. 'Z0'")
    assert np.isnan(known_flags(pd.Series([None], dtype=object), KNOWN)).all()
