"""Survey rows for the outcome tests: ``from tests.outcome_files import response, survey_frame``.

Shared by the pure tests (tests/intake) and the flow tests (tests/flows/test_outcomes.py).
A module rather than a conftest fixture because tests call these at import time and in
parametrize lists, where fixtures do not reach.
"""

from __future__ import annotations

import pandas as pd

from tests.designs import DESIGNS
from trial_designs.design import load_design

__all__ = ["COFFEE", "GOALS", "ITEMS", "problem_list", "response", "survey_frame"]

COFFEE = load_design(DESIGNS / "coffee.yaml")
GOALS = load_design(DESIGNS / "goal_setting.yaml")
#: The SWEMWBS items as the canonical survey fields name them.
ITEMS = [f"swemwbs_{i}" for i in range(1, 8)]


def response(pid: str | None, day: str | None = "2020-03-12", answer: int = 3, **cells) -> dict:
    """One survey response: every SWEMWBS item ``answer``, feeling_valued 6; ``cells`` override."""
    return {"participant_id": pid, "collected_on": day, **dict.fromkeys(ITEMS, str(answer)),
            "feeling_valued": "6", **cells}  # fmt: skip


def survey_frame(rows: list[dict]) -> pd.DataFrame:
    """Responses as read from a file: canonical columns, source_row from 2 (the header is 1)."""
    frame = pd.DataFrame(rows, columns=["participant_id", "collected_on", *ITEMS, "feeling_valued"])
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    return frame


def problem_list(problems: pd.DataFrame) -> list[tuple]:
    """(source_row, column, rule) of each problem, in order."""
    return list(problems[["source_row", "column", "rule"]].itertuples(index=False, name=None))
