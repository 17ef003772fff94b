"""Roster checks at randomise: any roster column as strata or cluster, and dates in the future."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.checks import check_roster
from flows.randomise import read_roster
from flows.sources import SourceError
from trial_designs.design import TrialDesign, load_design

DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"
GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


def _village_design() -> TrialDesign:
    data = yaml.safe_load((DESIGNS / "coffee.yaml").read_text())
    data.update(cluster_by="village", clusters=["North", "South", "East", "West"])
    data["randomisation"] = {"method": "cluster", "seed": 2}
    return TrialDesign.model_validate(data)


def test_a_village_column_is_read_and_checked(tmp_path):
    roster = pd.read_csv(GOLDEN / "coffee_roster.csv", dtype=str).head(40)
    roster = roster.rename(columns={"id": "staff_id", "organisation": "local_authority"})
    roster = roster.rename(columns={"building": "office"})
    roster["village"] = ["North", "South", "East", "West"] * 10
    roster.loc[3, "village"] = None
    path = tmp_path / "roster.csv"
    roster.to_csv(path, index=False)
    design = _village_design()
    table, _pii = read_roster.fn(str(path), design)
    assert table["village"].iloc[0] == "North"
    problems = check_roster(table, design)
    assert problems[["source_row", "column", "rule"]].values.tolist() == [
        [5, "village", "required_stratum"]
    ]
    roster.drop(columns="village").to_csv(path, index=False)
    with pytest.raises(SourceError, match=r"'village' \(for village\)"):
        read_roster.fn(str(path), design)


def test_a_start_date_in_the_future_is_refused():
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(5)
    roster["source_row"] = range(2, 7)
    roster.loc[1, "start_date"] = "2205-01-10"
    roster.loc[2, "start_date"] = "2026-12-01"
    problems = check_roster(roster, design, today=dt.date(2026, 11, 30))
    assert problems[["source_row", "rule", "value"]].values.tolist() == [
        [3, "start_date_not_future", "2205-01-10"],
        [4, "start_date_not_future", "2026-12-01"],
    ]
    assert "after today (2026-11-30)" in problems["message"].iloc[0]
    assert check_roster(roster, design, today=dt.date(2205, 1, 10)).empty
