"""Exact arm counts (n_units), strata and clusters from any roster column, and rosters that
cannot be randomised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.designs import DESIGNS
from trial_designs.design import TrialDesign
from trial_designs.randomise import draw_allocations, randomise, randomise_probabilities

GOLDEN = Path(__file__).resolve().parent / "golden"


def _coffee(seed: int, method: str = "cluster", **changes) -> TrialDesign:
    data = yaml.safe_load((DESIGNS / "coffee.yaml").read_text())
    data["arms"] = [
        {"name": "control", "control": True},
        {"name": "coffee", "n_units": 6},
    ]
    data["randomisation"]["seed"] = seed
    data["randomisation"]["method"] = method
    if method == "cluster":
        data["randomisation"].pop("constraint")
    data.update(changes)
    return TrialDesign.model_validate(data)


def _roster() -> pd.DataFrame:
    return pd.read_csv(GOLDEN / "coffee_roster.csv", dtype=str)


@pytest.mark.parametrize("method", ["cluster", "constrained_cluster"])
def test_exactly_six_of_thirteen_buildings_for_every_seed(method):
    roster = _roster()
    for seed in range(40):
        units = randomise(roster, _coffee(seed, method)).units
        counts = units["arm"].value_counts()
        assert (counts["coffee"], counts["control"]) == (6, 7), seed


def test_exactly_six_probabilities_twin_and_redraws():
    roster = _roster()
    design = _coffee(11)
    prob = randomise_probabilities(roster, design)
    assert np.allclose(prob["coffee"], 6 / 13) and np.allclose(prob["control"], 7 / 13)
    _ids, draws = draw_allocations(roster, design, n_draws=500, rng=np.random.default_rng(1))
    assert ((draws == 1).sum(axis=1) == 6).all()
    # each building's empirical rate is within 5 Monte Carlo SE of 6/13
    rate = (draws == 1).mean(axis=0)
    se = np.sqrt(6 / 13 * 7 / 13 / 500)
    assert np.all(np.abs(rate - 6 / 13) < 5 * se)


def test_constrained_probabilities_twin_with_exact_counts():
    design = _coffee(5, "constrained_cluster")
    prob = randomise_probabilities(_roster(), design)
    assert np.isclose(prob["coffee"].sum(), 6.0)


def test_individual_trial_with_exact_count():
    data = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    data["strata"] = []
    data["arms"] = [{"name": "control", "control": True}, {"name": "letter", "n_units": 30}]
    data["randomisation"] = {"method": "complete", "seed": 4}
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(101)
    for seed in range(20):
        data["randomisation"]["seed"] = seed
        units = randomise(roster, TrialDesign.model_validate(data)).units
        assert (units["arm"] == "letter").sum() == 30


def test_exact_counts_that_do_not_fit_the_roster_are_refused():
    design = _coffee(1, clusters=[])
    roster = _roster()
    few = roster[roster["building"].isin(["Ashford", "Dover", "Margate", "Dartford"])]
    with pytest.raises(ValueError, match="arm 'control' would get no clusters"):
        randomise(few, design)


def test_village_clusters_and_district_strata():
    rng = np.random.default_rng(0)
    villages = [f"V{i:02d}" for i in range(12)]
    roster = pd.DataFrame(
        {
            "id": [f"P{i:03d}" for i in range(120)],
            "village": np.repeat(villages, 10),
            "district": np.repeat(["North", "South"], 60),
            "consent": "yes",
        }
    ).sample(frac=1, random_state=int(rng.integers(100)))
    data = yaml.safe_load((DESIGNS / "coffee.yaml").read_text())
    data.update(cluster_by="village", strata=["district"], clusters=villages)
    data["randomisation"] = {"method": "cluster", "seed": 9}
    data["roster"]["columns"] = {"id": "staff_id", "consent": "consent"}
    design = TrialDesign.model_validate(data)
    allocation = randomise(roster, design)
    assert sorted(allocation.units["unit_id"]) == villages
    per_district = allocation.units.groupby("stratum", observed=True)["arm"].value_counts()
    assert (per_district == 3).all()
    # the same allocation whatever the row order
    again = randomise(roster.sample(frac=1, random_state=1), design)
    assert allocation.units.equals(again.units)
    with pytest.raises(ValueError, match="'village'.*not a column of the roster"):
        randomise(roster.drop(columns="village"), design)


def test_a_roster_with_one_cluster_is_refused():
    design = _coffee(
        1, clusters=[], arms=[{"name": "control", "control": True}, {"name": "coffee"}]
    )
    one = _roster().query("building == 'Ashford'")
    with pytest.raises(ValueError, match="needs at least 2 clusters.*Got 1 \\(Ashford\\)"):
        randomise(one, design)
