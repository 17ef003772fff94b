"""Simulation-based design diagnosis, as R's DeclareDesign does it (pure).

Each simulation draws potential outcomes with a known effect, re-randomises
with the design's own randomiser, and estimates the effect with the trial's
estimator and with the alternatives evaluators ask about.  Summaries give
power, bias, RMSE and 95% CI coverage per estimator.

Simulations are independent given their seeds, so they can run in chunks
anywhere (threads, processes, a Dask cluster) and give identical results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.estimators import ols_fit
from analysis.inference import randomisation_inference
from trial_designs.design import TrialDesign
from trial_designs.randomise import draw_allocations
from trial_designs.sections import MAX_RI_DRAWS, MAX_SIMULATIONS
from trial_designs.strata import stratum_codes

__all__ = ["DiagnosisSettings", "chunk_seeds", "simulate_chunk", "summarise_diagnosis"]


@dataclass(frozen=True)
class DiagnosisSettings:
    """The data-generating process: effect size and structure, in SD units of the outcome."""

    effect: float = 0.2
    icc: float = 0.05
    baseline_r: float = 0.6
    ri_draws: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.ri_draws <= MAX_RI_DRAWS:
            raise ValueError(
                f"'ri_draws' must be between 0 and {MAX_RI_DRAWS}. Got {self.ri_draws} instead."
            )


def chunk_seeds(seed: int, n_sims: int, chunk_size: int) -> list[list[int]]:
    """Seeds for every simulation, split into chunks; simulation i always gets the same seed.

    Raises
    ------
    ValueError
        If ``n_sims`` is not between 1 and :data:`~trial_designs.sections.MAX_SIMULATIONS`
        (one seed each is allocated up front), or ``chunk_size`` is below 1.
    """
    if not 1 <= n_sims <= MAX_SIMULATIONS:
        raise ValueError(
            f"'sims' must be between 1 and {MAX_SIMULATIONS}. Got {n_sims} instead: power to "
            "within 0.3 percentage points needs about 100000, and each simulation refits the trial."
        )
    if chunk_size < 1:
        raise ValueError(f"'chunk_size' must be at least 1. Got {chunk_size} instead.")
    seeds = np.random.SeedSequence(seed).generate_state(n_sims, dtype=np.uint64).tolist()
    return [seeds[i : i + chunk_size] for i in range(0, n_sims, chunk_size)]


def _one(
    roster: pd.DataFrame, design: TrialDesign, settings: DiagnosisSettings, seed: int
) -> list[dict]:
    rng = np.random.default_rng(seed)
    n = len(roster)
    ids, draws = draw_allocations(roster, design, n_draws=1 + settings.ri_draws, rng=rng)
    cluster_key = (
        roster[design.cluster_by].astype(str)
        if design.unit == "cluster"
        else roster["id"].astype(str)
    )
    position = pd.Index(ids).get_indexer(cluster_key)
    treat = (draws[0, position] != design.arm_names.index(design.control_arm)).astype(float)
    groups = pd.factorize(
        cluster_key if design.unit == "cluster" else roster.get("team", cluster_key)
    )[0]
    u = rng.normal(0, np.sqrt(settings.icc), groups.max() + 1)[groups]
    baseline = rng.normal(size=n)
    noise_sd = np.sqrt(max(1 - settings.icc - settings.baseline_r**2 * (1 - settings.icc), 1e-6))
    y = (
        u
        + settings.baseline_r * np.sqrt(1 - settings.icc) * baseline
        + rng.normal(0, noise_sd, n)
        + settings.effect * treat
    )
    codes, _ = stratum_codes(roster, design.strata)
    parts = [np.ones(n), treat, baseline]
    strata = (
        [(codes == s).astype(float) for s in range(1, codes.max() + 1)] if design.strata else []
    )
    x = np.column_stack(parts + strata)
    terms = ["(Intercept)", "treat", "baseline"] + [f"s{i}" for i in range(len(strata))]
    out = []
    estimators = (
        [("CR2", "CR2"), ("CR1", "CR1")]
        if design.unit == "cluster"
        else [("HC2", "HC2"), ("HC1", "HC1")]
    )
    clusters = cluster_key.to_numpy() if design.unit == "cluster" else None
    for name, se_type in estimators:
        coef = ols_fit(y, x, terms=terms, se_type=se_type, clusters=clusters)["treat"]
        out.append(
            {
                "seed": seed,
                "estimator": f"ITT {name}",
                "estimate": coef.estimate,
                "ci_low": coef.ci_low,
                "ci_high": coef.ci_high,
                "p_value": coef.p_value,
            }
        )
    if settings.ri_draws:
        redraws = (draws[1:, position] != design.arm_names.index(design.control_arm)).astype(float)
        ri = randomisation_inference(
            y,
            treat,
            np.column_stack([np.ones(n), baseline, *strata]),
            redraws,
            term="treat",
            confidence_interval=False,
        )
        out.append(
            {
                "seed": seed,
                "estimator": "RI",
                "estimate": ri.estimate,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "p_value": ri.p_value,
            }
        )
    return out


def simulate_chunk(
    roster: pd.DataFrame, design: TrialDesign, settings: DiagnosisSettings, seeds: list[int]
) -> pd.DataFrame:
    """Run the simulations of one chunk; one row per (simulation, estimator)."""
    return pd.DataFrame(
        [row for seed in seeds for row in _one(roster, design, settings, int(seed))]
    )


def summarise_diagnosis(sims: pd.DataFrame, *, truth: float, alpha: float = 0.05) -> pd.DataFrame:
    """Power, bias, RMSE and CI coverage per estimator (coverage only where a CI exists)."""
    rows = []
    for name, group in sims.groupby("estimator", sort=True):
        error = group["estimate"] - truth
        has_ci = group["ci_low"].notna()
        covered = (group.loc[has_ci, "ci_low"] <= truth) & (truth <= group.loc[has_ci, "ci_high"])
        rows.append(
            {
                "estimator": name,
                "sims": len(group),
                "power": float((group["p_value"] < alpha).mean()),
                "bias": float(error.mean()),
                "rmse": float(np.sqrt((error**2).mean())),
                "coverage": float(covered.mean()) if has_ci.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)
