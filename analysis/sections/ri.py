"""Randomisation inference of every ITT estimate, over the same re-drawn allocations.

The outcome loop of :func:`analysis.results.results_document` prepares one
model per (outcome, active arm) as it goes (:func:`ri_model`: with several
active arms, that arm's coefficient in the primary's joint model); once every
outcome is estimated, :func:`with_randomisation_inference` re-draws the
allocation in blocks (:func:`analysis.inference.run_randomisation_inference`),
refits every model on each block, and writes the p-values and intervals into
the estimates.  One re-draw serves all the models, and no more than one
block's allocations is ever held (2,000 draws of 1.3M people were 21 GB).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd

from analysis.inference import (
    JointRiModel,
    MapBlocks,
    RiModel,
    prepare_joint_ri,
    prepare_ri,
    ri_blocks,
    run_randomisation_inference,
)
from analysis.results_model import Outcome
from trial_designs.design import TrialDesign
from trial_designs.randomise import draw_allocations

__all__ = ["draws_for_rows", "ri_model", "with_randomisation_inference"]


def draws_for_rows(
    data: pd.DataFrame, design: TrialDesign, n_draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Re-drawn arm codes for every participant row: (n_draws, n_rows), with the design's randomiser.

    The randomiser reads the design's roster fields, but a dataset mapped with
    ``analysis.columns`` (``cluster: building``, ``stratum: local_authority``)
    holds them as ``cluster`` and ``stratum``: those are what define the units
    and strata re-drawn, so they stand in for the roster fields.
    """
    if design.cycles and "cycle" in data and data["cycle"].nunique() > 1:
        # each cycle was randomised on its own, so each is re-drawn on its own
        codes = np.empty((n_draws, len(data)), dtype=np.int64)
        for _name, rows in data.groupby("cycle", sort=True).indices.items():
            codes[:, rows], _ = draws_for_rows(
                data.iloc[rows].drop(columns="cycle"), design, n_draws, rng
            )
        return codes, np.arange(len(data))
    roster = data.rename(columns={"participant_id": "id"})
    if design.unit == "cluster":
        roster[design.cluster_by] = data["cluster"]
    if design.strata and not all(s in data for s in design.strata):
        # one column holding the stratum key partitions the units exactly as the fields do
        roster = roster.assign(**{s: "all" for s in design.strata})
        roster[design.strata[0]] = data["stratum"]
    unit_ids, draws = draw_allocations(roster, design, n_draws=n_draws, rng=rng)
    key = (
        data["cluster"].astype(str)
        if design.unit == "cluster"
        else data["participant_id"].astype(str)
    )
    position = pd.Index(unit_ids).get_indexer(key)
    return draws[:, position], position


def _redraw_codes(
    data: pd.DataFrame, design: TrialDesign, n_draws: int, rng: np.random.Generator
) -> np.ndarray:
    return draws_for_rows(data, design, n_draws, rng)[0]


def ri_model(
    data: pd.DataFrame,
    design: TrialDesign,
    *,
    arm: str,
    treatment: str,
    endline: str,
    covariates: Sequence[str],
    model_columns: Sequence[str],
    strata: str | None,
    arms: Sequence[str] | None = None,
) -> RiModel | JointRiModel:
    """The ITT model of ``arm`` against control, prepared for randomisation inference.

    ``arms`` are the active arms of the primary's model (default: ``arm``
    alone).  With one, its rows are the pair's complete cases (as the model's).
    With several, the model is the primary's joint one: every row it uses, an
    indicator per arm in ``arms`` built from each draw's codes, and the
    statistic is ``arm``'s coefficient, so a row re-drawn into another active
    arm is in that arm, never in control, and the reference distribution is
    the design's.  The intercept and the stratum dummies are absorbed, not made
    columns (see :func:`analysis.inference.prepare_ri`).
    """
    arms = [arm] if arms is None else list(arms)
    if len(arms) > 1:
        used = data[list(model_columns)].notna().all(axis=1).to_numpy()
        subset = data[used]
        return prepare_joint_ri(
            subset[endline].to_numpy(float),
            (subset["arm"].to_numpy()[:, None] == np.array(arms)[None, :]).astype(float),
            subset[list(covariates)].to_numpy(float) if covariates else None,
            subset[strata].to_numpy() if strata else None,
            term=arm,
            arm_index=arms.index(arm),
            arm_codes=[design.arm_names.index(a) for a in arms],
            rows=np.flatnonzero(used),
        )
    pair = data["arm"].isin([design.control_arm, arm]).to_numpy()
    used = pair & data[list(model_columns)].notna().all(axis=1).to_numpy()
    subset = data[used]
    return prepare_ri(
        subset[endline].to_numpy(float),
        subset[treatment].to_numpy(float),
        subset[list(covariates)].to_numpy(float) if covariates else None,
        subset[strata].to_numpy() if strata else None,
        term=arm,
        rows=np.flatnonzero(used),
        arm_code=design.arm_names.index(arm),
    )


def with_randomisation_inference(
    outcomes: list[Outcome],
    models: Sequence[tuple[tuple[int, int], RiModel | JointRiModel]],
    data: pd.DataFrame,
    design: TrialDesign,
    *,
    n_draws: int,
    entropy: Sequence[int],
    map_blocks: MapBlocks | None = None,
) -> list[Outcome]:
    """``outcomes`` with each model's RI p-value and interval written into its estimate.

    ``models`` pairs each model with where its estimate is: (index in
    ``outcomes``, index in that outcome's estimates).  The draws come in blocks
    seeded from ``entropy`` (the design's seed and the RI stream label), so the
    result is the same wherever ``map_blocks`` runs them.
    """
    if not models or not n_draws:
        return outcomes
    inferences = run_randomisation_inference(
        [model for _where, model in models],
        partial(_redraw_codes, data, design),
        ri_blocks(entropy, n_draws, len(data)),
        map_blocks=map_blocks,
    )
    estimates = {i: list(outcome.estimates) for i, outcome in enumerate(outcomes)}
    for ((o, e), _model), inference in zip(models, inferences, strict=True):
        estimates[o][e] = estimates[o][e].model_copy(
            update={
                "ri_p_value": inference.p_value,
                "ri_ci_low": inference.ci_low,
                "ri_ci_high": inference.ci_high,
                "ri_draws": inference.n_draws,
            }
        )
    return [
        outcome.model_copy(update={"estimates": estimates[i]}) for i, outcome in enumerate(outcomes)
    ]
