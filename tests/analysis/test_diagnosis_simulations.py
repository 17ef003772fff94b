"""Design diagnosis (analysis.diagnose): seeds, chunking, the simulations and their summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.diagnose import DiagnosisSettings, chunk_seeds, simulate_chunk, summarise_diagnosis
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.sections import MAX_RI_DRAWS, MAX_SIMULATIONS
from trial_designs.simulate_roster import simulate_roster


def _trial(name: str, n: int | None = None):
    """A design and a simulated roster in canonical columns, as the diagnose flow builds them."""
    design = load_design(DESIGNS / f"{name}.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng([5, 7]), n=n)
    return design, roster.rename(columns={v: k for k, v in design.roster.columns.items()})


def test_every_simulation_keeps_its_seed_whatever_the_chunk_size():
    flat = [s for chunk in chunk_seeds(2026, 23, 23) for s in chunk]
    for size in (1, 4, 7, 23, 100):
        chunks = chunk_seeds(2026, 23, size)
        assert [s for chunk in chunks for s in chunk] == flat
        assert all(len(chunk) == size for chunk in chunks[:-1])
        assert 1 <= len(chunks[-1]) <= size
    assert len(set(flat)) == 23  # no two simulations share a seed
    assert flat != [s for chunk in chunk_seeds(2027, 23, 23) for s in chunk]


@pytest.mark.parametrize("name", ["letters", "coffee"])
def test_chunked_simulations_equal_one_run_of_all_of_them(name):
    design, roster = _trial(name, n=120 if name == "letters" else None)
    settings = DiagnosisSettings(effect=0.3, icc=0.05)
    whole = simulate_chunk(roster, design, settings, chunk_seeds(9, 6, 6)[0])
    for size in (1, 4):
        parts = [simulate_chunk(roster, design, settings, c) for c in chunk_seeds(9, 6, size)]
        # seeds compared as Python ints: pandas concatenates a chunk whose seeds fit int64
        # with one whose seeds need uint64 into float64, which rounds them
        assert [int(s) for p in parts for s in p["seed"].tolist()] == whole["seed"].tolist()
        pd.testing.assert_frame_equal(
            pd.concat(parts, ignore_index=True).drop(columns="seed"), whole.drop(columns="seed")
        )


def test_each_simulation_gives_one_row_per_estimator_of_the_design():
    design, roster = _trial("letters", n=120)
    seeds = chunk_seeds(3, 4, 4)[0]
    individual = simulate_chunk(roster, design, DiagnosisSettings(), seeds)
    assert sorted(individual["estimator"].unique()) == ["ITT HC1", "ITT HC2"]
    assert individual.groupby("seed").size().tolist() == [2] * 4
    assert (individual["ci_low"] < individual["estimate"]).all()
    assert (individual["estimate"] < individual["ci_high"]).all()
    # the two estimators share the fit: only the standard error differs
    by_estimator = individual.pivot(index="seed", columns="estimator", values="estimate")
    np.testing.assert_allclose(by_estimator["ITT HC1"], by_estimator["ITT HC2"])

    cluster_design, cluster_roster = _trial("coffee")
    clustered = simulate_chunk(cluster_roster, cluster_design, DiagnosisSettings(), seeds[:1])
    assert sorted(clustered["estimator"]) == ["ITT CR1", "ITT CR2"]


def test_randomisation_inference_adds_a_row_without_a_confidence_interval():
    design, roster = _trial("letters", n=80)
    sims = simulate_chunk(roster, design, DiagnosisSettings(ri_draws=19), chunk_seeds(1, 2, 2)[0])
    ri = sims[sims["estimator"] == "RI"]
    assert len(ri) == 2
    assert ri["ci_low"].isna().all() and ri["ci_high"].isna().all()
    # the p-value is the share of the 19 re-drawn allocations at least as extreme
    np.testing.assert_allclose(ri["p_value"] * 19, np.round(ri["p_value"] * 19), atol=1e-9)
    assert ri["p_value"].between(0, 1).all()
    itt = sims[sims["estimator"] == "ITT HC2"].set_index("seed")["estimate"]
    np.testing.assert_allclose(ri.set_index("seed")["estimate"], itt)


def test_a_large_effect_is_found_and_covered_and_a_null_one_is_rarely_found():
    design, roster = _trial("letters", n=200)
    seeds = chunk_seeds(17, 40, 40)[0]
    strong = summarise_diagnosis(
        simulate_chunk(roster, design, DiagnosisSettings(effect=1.0), seeds), truth=1.0
    ).set_index("estimator")
    assert (strong["power"] == 1.0).all()
    assert (strong["bias"].abs() < 0.1).all()
    assert (strong["coverage"] >= 0.85).all()
    null = summarise_diagnosis(
        simulate_chunk(roster, design, DiagnosisSettings(effect=0.0), seeds), truth=0.0
    ).set_index("estimator")
    assert (null["power"] <= 0.15).all()


def test_the_summary_counts_power_bias_rmse_and_coverage_from_the_rows():
    sims = pd.DataFrame(
        {
            "estimator": ["A", "A", "A", "A", "RI", "RI"],
            "estimate": [0.1, 0.3, 0.2, 0.6, 0.1, 0.3],
            "ci_low": [0.0, 0.25, -0.1, 0.5, np.nan, np.nan],
            "ci_high": [0.3, 0.4, 0.5, 0.7, np.nan, np.nan],
            "p_value": [0.01, 0.2, 0.04, 0.05, 0.5, 0.01],
        }
    )
    summary = summarise_diagnosis(sims, truth=0.2).set_index("estimator")
    a = sims[sims["estimator"] == "A"]
    error = a["estimate"] - 0.2
    assert summary.loc["A", "sims"] == 4
    assert summary.loc["A", "power"] == (a["p_value"] < 0.05).mean()  # 0.05 itself is not < alpha
    assert summary.loc["A", "bias"] == pytest.approx(error.mean())
    assert summary.loc["A", "rmse"] == pytest.approx(np.sqrt((error**2).mean()))
    covered = (a["ci_low"] <= 0.2) & (a["ci_high"] >= 0.2)
    assert summary.loc["A", "coverage"] == covered.mean()
    assert np.isnan(summary.loc["RI", "coverage"])
    assert summarise_diagnosis(sims, truth=0.2, alpha=0.1).loc[0, "power"] == 0.75


@pytest.mark.parametrize(
    ("n_sims", "chunk_size", "message"),
    [
        (0, 10, rf"'sims' must be between 1 and {MAX_SIMULATIONS}\. Got 0 instead"),
        (MAX_SIMULATIONS + 1, 10, rf"Got {MAX_SIMULATIONS + 1} instead"),
        (10, 0, r"'chunk_size' must be at least 1\. Got 0 instead\."),
    ],
)
def test_bad_simulation_counts_are_refused_with_the_value(n_sims, chunk_size, message):
    with pytest.raises(ValueError, match=message):
        chunk_seeds(1, n_sims, chunk_size)


@pytest.mark.parametrize("draws", [-1, MAX_RI_DRAWS + 1])
def test_randomisation_inference_draws_out_of_range_are_refused(draws):
    with pytest.raises(
        ValueError,
        match=rf"'ri_draws' must be between 0 and {MAX_RI_DRAWS}\. Got {draws} instead\.",
    ):
        DiagnosisSettings(ri_draws=draws)
