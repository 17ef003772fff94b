"""New outcome values against the stored ones (intake.outcome_rows): pure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from intake.outcome_rows import OutcomeRows, separate_stored
from tests.outcome_files import problem_list

# ---------------------------------------------------------------- stored values (pure)


def _rows(values: dict[str, list[float]], source_rows=(2, 3)) -> OutcomeRows:
    keys = pd.DataFrame(
        {
            "participant_id": ["A", "B"],
            "collected_on": "2020-03-12",
            "source_row": list(source_rows),
        }
    )
    return OutcomeRows(
        keys, pd.DataFrame(values), {"swemwbs_metric": np.array(["complete"] * 2, dtype=object)}
    )


def test_stored_values_are_skipped_when_equal_and_quarantined_when_different():
    stored = pd.DataFrame(
        {
            "participant_id": ["A", "A", "B"],
            "measure": ["swemwbs_1", "swemwbs_metric", "swemwbs_1"],
            "value": [3.0, 21.54, 2.0],
            "source_file": "first.csv",
            "source_row": [7, 7, 8],
        }
    )
    rows = _rows({"swemwbs_1": [3.0, 4.0], "swemwbs_metric": [21.54, 22.35]})
    kept, conflicts, already = separate_stored(rows, stored, file_columns={"swemwbs_1": "q1"})
    assert already == 1 and len(kept) == 0
    assert problem_list(conflicts) == [(3, "q1", "conflicts_with_stored")]
    assert conflicts["message"].item() == (
        "Already stored as 2 (from first.csv row 8); stored values are not overwritten."
    )
    # a row with a value not stored yet, and none that differs, is kept
    fresh = _rows({"swemwbs_1": [3.0, 2.0], "swemwbs_metric": [21.54, 19.25]})
    kept, conflicts, already = separate_stored(fresh, stored, file_columns={})
    assert already == 1 and kept.keys["participant_id"].tolist() == ["B"] and conflicts.empty
