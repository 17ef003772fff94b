"""Outcome values ready to store, and how they meet the values stored already."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from intake.quarantine import PROBLEM_COLUMNS, combine_problems

__all__ = ["CONFLICT_RULE", "OUTCOME_COLUMNS", "OutcomeRows", "separate_stored"]

#: The columns of a stored outcome value, in the store's table order (:meth:`OutcomeRows.tuples`).
OUTCOME_COLUMNS = [
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

#: What happens when a file holds a value that is already stored.
CONFLICT_RULE = (
    "Stored values are never overwritten. A row identical to what is already stored (an "
    "overlapping export) is skipped as already stored; a row whose values differ from the "
    "stored ones is quarantined with rule conflicts_with_stored, and the stored value stays. "
    "A genuine correction is a decision for the trial's data manager, not a re-sent file."
)


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
    return rows.subset(keep), combine_problems([conflicts]), len(complete)
