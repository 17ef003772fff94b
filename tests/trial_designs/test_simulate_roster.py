"""The roster simulator: seeded, in the design's file layout, sized like the seed trials."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_roster import ROSTER_SIZES, simulate_late_entrants, simulate_roster

ALL = ["letters", "goal_setting", "coffee", "schwartz_rounds"]


def _design(name):
    return load_design(DESIGNS / f"{name}.yaml")


@pytest.mark.parametrize("name", ALL)
def test_a_seed_gives_the_same_roster_and_another_seed_a_different_one(name):
    design = _design(name)
    first = simulate_roster(design, rng=np.random.default_rng(3))
    again = simulate_roster(design, rng=np.random.default_rng(3))
    other = simulate_roster(design, rng=np.random.default_rng(4))
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


@pytest.mark.parametrize("name", ALL)
def test_the_roster_has_the_file_columns_the_design_maps_and_unique_ids(name):
    design = _design(name)
    roster = simulate_roster(design, rng=np.random.default_rng(1))
    mapped = [design.roster.columns[f] for f in design.roster.columns]
    expected = {*mapped, *design.roster.pii_columns.values(), *design.roster.covariates}
    assert set(roster.columns) == expected
    assert len(roster) == ROSTER_SIZES[name]["n"]
    ids = roster[design.roster.columns["id"]]
    assert ids.is_unique and ids.notna().all()


@pytest.mark.parametrize("name", ["coffee", "schwartz_rounds"])
def test_every_declared_cluster_gets_at_least_the_minimum_size(name):
    design = _design(name)
    roster = simulate_roster(design, rng=np.random.default_rng(2))
    column = design.roster_columns[design.cluster_by]
    sizes = roster[column].value_counts()
    assert set(sizes.index) == set(design.clusters)
    assert sizes.min() >= ROSTER_SIZES[name]["min_cluster_size"]


def test_n_overrides_the_seed_trial_size():
    roster = simulate_roster(_design("letters"), rng=np.random.default_rng(0), n=25)
    assert len(roster) == 25


def test_late_entrants_have_new_ids_and_start_on_the_randomisation_date():
    design = _design("goal_setting")
    roster = simulate_roster(design, rng=np.random.default_rng(5))
    late = simulate_late_entrants(design, n=7, rng=np.random.default_rng(6))
    id_col = design.roster.columns["id"]
    assert len(late) == 7 and late[id_col].is_unique
    assert not set(late[id_col]) & set(roster[id_col])
    start = design.roster.columns["start_date"]
    assert (late[start] == design.follow_up.randomisation.isoformat()).all()
    assert list(late.columns) == list(roster.columns)
