"""An outcome source's options (intake.outcomes), checked by name."""

from __future__ import annotations

import pandas as pd
import pytest

from intake.outcomes import source_options
from tests.designs import DESIGNS
from trial_designs.design import load_design

COFFEE = load_design(DESIGNS / "coffee.yaml")
GOALS = load_design(DESIGNS / "goal_setting.yaml")
ITEMS = [f"swemwbs_{i}" for i in range(1, 8)]


def _response(pid: str | None, day: str | None = "2020-03-12", answer: int = 3, **cells) -> dict:
    return {"participant_id": pid, "collected_on": day, **dict.fromkeys(ITEMS, str(answer)),
            "feeling_valued": "6", **cells}  # fmt: skip


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["participant_id", "collected_on", *ITEMS, "feeling_valued"])
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    return frame


def _problem_list(problems: pd.DataFrame) -> list[tuple]:
    return list(problems[["source_row", "column", "rule"]].itertuples(index=False, name=None))


@pytest.mark.parametrize(
    ("source", "options", "message"),
    [
        ("hr", {"day_basis": "hours"}, r"'day_basis' of design 'coffee' is not known\. Choose one of: working, calendar\. Got 'hours' instead\."),
        ("hr", {"holidays": ["Christmas"]}, r"must be dates \(YYYY-MM-DD\)\. Got 'Christmas' instead\."),
        ("hr", {"record_types": {"staff": "S", "absence": "S"}}, r"must give two distinct codes"),
        ("survey", {"duplicates": "first"}, r"unknown option\(s\) \['duplicates'\]\. Choose from: wrqol_scoring\."),
    ],
)  # fmt: skip
def test_source_options_are_checked_by_name(source, options, message):
    spec = getattr(COFFEE, source).model_copy(update={"options": options})
    design = COFFEE.model_copy(update={source: spec})
    with pytest.raises(ValueError, match=message):
        source_options(design, source)
