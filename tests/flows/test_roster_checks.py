"""Roster checks at randomise: any roster column as strata or cluster, and dates in the future."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.randomise import read_roster
from flows.sources import SourceError
from intake.roster import check_roster
from tests.designs import DESIGNS
from trial_designs.design import TrialDesign

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
