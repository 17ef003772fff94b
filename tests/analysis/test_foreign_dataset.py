"""Datasets from elsewhere (``trialflow analyse --data``): mapped columns, and what is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.dataset import foreign_dataset
from analysis.results import analyse_trial
from tests.designs import DESIGNS
from trial_designs.design import TrialDesign, load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


def _design(name: str, **analysis) -> TrialDesign:
    data = yaml.safe_load((DESIGNS / f"{name}.yaml").read_text())
    data.setdefault("analysis", {}).update(analysis)
    return TrialDesign.model_validate(data)


def _export(name: str, seed: int = 1) -> pd.DataFrame:
    """An export as ``trialflow export`` writes it: text columns, outcomes as numbers."""
    design = load_design(DESIGNS / f"{name}.yaml")
    roster = pd.read_csv(GOLDEN / f"{name}_roster.csv", dtype=str)
    allocation = randomise(roster, design)
    arms = allocation.members.merge(allocation.units[["unit_id", "stratum", "arm"]], on="unit_id")
    data = roster.rename(columns={"id": "participant_id"}).merge(arms, on="participant_id")
    data["arm"] = data["arm"].astype(str)
    data["stratum"] = data["stratum"].astype(str)
    data["cluster"] = data["unit_id"] if design.unit == "cluster" else ""
    rng = np.random.default_rng(seed)
    base = rng.normal(20, 3, len(data))
    treated = (data["arm"] != design.control_arm).to_numpy()
    data["started_course"] = (treated & (rng.random(len(data)) < 0.4)).astype(int)
    for outcome in design.outcomes:
        data[f"{outcome.name}_baseline"] = base if outcome.source == "survey" else np.nan
        data[f"{outcome.name}_endline"] = (
            0.6 * base + 8 + 0.5 * treated + rng.normal(0, 2, len(data))
        )
    return data.drop(columns=["unit_id", "start_date", "consent"])


def _ri(results: dict) -> float:
    return results["outcomes"][0]["estimates"][0]["ri_p_value"]


def test_a_missing_outcome_column_names_the_file_the_column_and_the_outcome():
    design = load_design(DESIGNS / "letters.yaml")
    data = _export("letters").rename(columns={"feeling_valued_endline": "feeling_valued"})
    with pytest.raises(
        ValueError,
        match=r"mine\.csv: the column 'feeling_valued_endline' of outcome 'feeling_valued' is "
        r"missing.*did you mean 'feeling_valued'\?",
    ):
        foreign_dataset(data, design, file_name="mine.csv")


def test_arm_labels_that_are_not_the_designs_arms_are_refused():
    design = load_design(DESIGNS / "letters.yaml")
    data = _export("letters").assign(arm=lambda d: (d["arm"] == "letter").astype(int).astype(str))
    with pytest.raises(
        ValueError, match=r"mine\.csv: column 'arm' holds '0', '1'.*control, letter"
    ):
        foreign_dataset(data, design, file_name="mine.csv")


def test_the_documented_uptake_key_gives_the_cace_and_the_received_box():
    design = _design("letters", columns={"uptake": "started_course"})
    data = foreign_dataset(_export("letters"), design, file_name="mine.csv")
    results = analyse_trial(data, design, ri_draws=0)
    estimands = [e["estimand"] for e in results["outcomes"][0]["estimates"]]
    assert estimands == ["ITT", "CACE"]
    received = results["consort"]["individuals"]["letter"]["received"]
    assert received == int(data.loc[data["arm"] == "letter", "took_up"].sum()) > 0


def test_cluster_mapped_from_building_uses_the_right_column_for_ri():
    plain = _export("coffee")
    design = load_design(DESIGNS / "coffee.yaml")
    expected = _ri(
        analyse_trial(foreign_dataset(plain, design, file_name="a.csv"), design, ri_draws=60)
    )
    mapped_design = _design("coffee", columns={"cluster": "building"})
    mapped = plain.drop(columns="cluster")
    got = analyse_trial(
        foreign_dataset(mapped, mapped_design, file_name="b.csv"), mapped_design, ri_draws=60
    )
    assert _ri(got) == expected
    assert got["outcomes"][0]["estimates"][0]["n_clusters"] == 13


def test_stratum_mapped_from_another_column_uses_it_for_ri():
    plain = _export("letters")
    design = load_design(DESIGNS / "letters.yaml")
    expected = _ri(
        analyse_trial(foreign_dataset(plain, design, file_name="a.csv"), design, ri_draws=60)
    )
    mapped_design = _design("letters", columns={"stratum": "local_authority"})
    mapped = plain.drop(columns="stratum").rename(columns={"organisation": "local_authority"})
    got = analyse_trial(
        foreign_dataset(mapped, mapped_design, file_name="b.csv"), mapped_design, ri_draws=60
    )
    assert _ri(got) == expected


def test_ri_draws_are_bounded_at_analyse():
    design = load_design(DESIGNS / "letters.yaml")
    data = foreign_dataset(_export("letters"), design, file_name="a.csv")
    with pytest.raises(
        ValueError, match=r"'ri_draws' must be between 0 and 100000.*Got 1000000000000 instead"
    ):
        analyse_trial(data, design, ri_draws=10**12)
