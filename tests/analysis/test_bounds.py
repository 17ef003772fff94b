"""Draws, simulations and replicates are bounded, so a typo cannot run until the machine is killed."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.costs import bootstrap_cost_effect
from analysis.diagnose import DiagnosisSettings, chunk_seeds


@pytest.mark.parametrize("n_sims", [0, -5, 10**12])
def test_simulations_are_bounded(n_sims):
    with pytest.raises(
        ValueError, match=rf"'sims' must be between 1 and 100000\. Got {n_sims} instead"
    ):
        chunk_seeds(1, n_sims, 50)


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError, match=r"'chunk_size' must be at least 1\. Got 0 instead"):
        chunk_seeds(1, 10, 0)


def test_diagnosis_ri_draws_are_bounded():
    with pytest.raises(
        ValueError, match=r"'ri_draws' must be between 0 and 100000\. Got 10000000 instead"
    ):
        DiagnosisSettings(ri_draws=10_000_000)


def test_bootstrap_replicates_are_bounded():
    rng = np.random.default_rng(0)
    arm = np.repeat([0, 1], 20)
    with pytest.raises(
        ValueError,
        match=r"'n_boot' must be at most 100000\. Got 10000000000 instead",
    ):
        bootstrap_cost_effect(rng.random(40), rng.random(40), arm, rng=rng, n_boot=10**10)
