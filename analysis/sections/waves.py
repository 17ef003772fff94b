"""A survey outcome at several follow-up waves: ANCOVA per wave and a pooled mixed model (pure).

Each follow-up timepoint (the design's named waves, then endline) is analysed as the
endline is: the ITT by ANCOVA of that wave's answers on baseline and the design's
covariates (:func:`analysis.estimators.fit_itt`). The pooled effect is the arm's mean
effect over those timepoints from one REML linear mixed model
(:func:`analysis.repeated_measures.repeated_measures_lmm`): arm x wave terms, baseline, a
random intercept per participant and, in cluster-randomised trials, per cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.estimators import fit_itt
from analysis.repeated_measures import POOLED, arm_means_by_wave, repeated_measures_lmm
from analysis.results_model.waves import OutcomeWaves, PooledWaveEffect, WaveEffect, WaveMean
from analysis.sections.outcomes import effect_fields, treatment_indicator
from trial_designs.design import TrialDesign
from trial_designs.sections import Outcome as DeclaredOutcome

__all__ = ["follow_up_timepoints", "headline_timepoint", "waves_long", "waves_section"]


def headline_timepoint(design: TrialDesign, outcome: DeclaredOutcome) -> str:
    """The timepoint of the outcome's headline estimate (its ``estimates``) and its attrition.

    The design's pre-declared ``follow_up.primary_timepoint`` for survey outcomes; HR
    outcomes cover the whole follow-up window and are read at endline.
    """
    return design.follow_up.primary_timepoint if outcome.source == "survey" else "endline"


def follow_up_timepoints(
    design: TrialDesign, outcome: DeclaredOutcome, data: pd.DataFrame
) -> list[str]:
    """The declared follow-up timepoints (waves, then endline) the outcome has answers at.

    Empty unless the design declares a wave and the outcome is a survey outcome: HR
    outcomes are measured over the whole window, not at waves.
    """
    if not design.follow_up.waves or outcome.source != "survey":
        return []
    return [
        t
        for t in design.follow_up.timepoints[1:]
        if f"{outcome.name}_{t}" in data and data[f"{outcome.name}_{t}"].notna().any()
    ]


def waves_long(
    data: pd.DataFrame, name: str, timepoints: Sequence[str], baseline: str | None
) -> pd.DataFrame:
    """One row per participant and follow-up timepoint answered: the mixed model's data.

    Columns participant_id, arm, cluster, wave, value and (with a baseline) baseline;
    a participant without a baseline answer is left out, as in the per-wave ANCOVA.
    """
    keep = ["participant_id", "arm", "cluster", *([baseline] if baseline else [])]
    parts = [
        data[keep].assign(wave=t, value=data[f"{name}_{t}"].to_numpy(float)) for t in timepoints
    ]
    long = pd.concat(parts, ignore_index=True).rename(
        columns={baseline: "baseline"} if baseline else {}
    )
    return long.dropna(subset=["value", *(["baseline"] if baseline else [])]).reset_index(drop=True)


def waves_section(
    data: pd.DataFrame,
    design: TrialDesign,
    outcome: DeclaredOutcome,
    *,
    baseline: str | None,
    covariates: Sequence[str],
    strata: str | None,
    se_cluster: str | None,
    se_type: str,
) -> OutcomeWaves | None:
    """Per-wave ANCOVA and the pooled mixed-model effect; None with fewer than two timepoints.

    ``covariates`` are the ANCOVA's (the baseline first, then the design's); ``strata``,
    ``se_cluster`` and ``se_type`` are the outcome's ITT options, so the endline row
    equals the outcome's own ITT estimate.
    """
    timepoints = follow_up_timepoints(design, outcome, data)
    if len(timepoints) < 2:
        return None
    active = [a for a in design.arm_names if a != design.control_arm]
    primary = design.follow_up.primary_timepoint
    effects = []
    for timepoint in timepoints:
        result = fit_itt(
            data,
            outcome=f"{outcome.name}_{timepoint}",
            treatment_columns=[treatment_indicator(a) for a in active],
            covariates=list(covariates),
            strata=strata,
            cluster=se_cluster,
            se_type=se_type,
        )
        effects.extend(
            WaveEffect(
                arm=arm,
                timepoint=timepoint,
                primary=timepoint == primary,
                **effect_fields(result.fit[treatment_indicator(arm)]),
                n=int(result.n),
            )
            for arm in active
        )
    cluster = "cluster" if design.unit == "cluster" else None
    long = waves_long(data, outcome.name, timepoints, baseline)
    fit = repeated_measures_lmm(
        long,
        outcome="value",
        arm="arm",
        wave="wave",
        participant="participant_id",
        control=design.control_arm,
        baseline="baseline" if baseline else None,
        cluster=cluster,
        arms=design.arm_names,
        waves=timepoints,
    )
    pooled = fit.effects[fit.effects["wave"] == POOLED]
    answered = [
        data[["participant_id", "arm", "cluster"]].assign(wave=t, value=data[f"{outcome.name}_{t}"])
        for t in ([baseline.removeprefix(f"{outcome.name}_")] if baseline else []) + timepoints
    ]
    means = arm_means_by_wave(
        pd.concat(answered, ignore_index=True),
        outcome="value",
        arm="arm",
        wave="wave",
        cluster=cluster,
    )
    order = {t: k for k, t in enumerate(["baseline", *timepoints])}
    arm_order = {a: k for k, a in enumerate(design.arm_names)}
    means = means.sort_values(
        ["arm", "wave"], key=lambda s: s.map(arm_order if s.name == "arm" else order)
    )
    return OutcomeWaves(
        timepoints=timepoints,
        primary_timepoint=primary,
        effects=effects,
        pooled=[
            PooledWaveEffect(
                arm=str(row.arm),
                estimate=row.estimate,
                std_error=row.se,
                ci_low=row.ci_low,
                ci_high=row.ci_high,
                z=row.z,
                p_value=row.p,
            )
            for row in pooled.itertuples()
        ],
        means=[
            WaveMean(
                arm=str(row.arm),
                timepoint=str(row.wave),
                n=int(row.n),
                mean=row.mean,
                ci_low=None if np.isnan(row.ci_low) else row.ci_low,
                ci_high=None if np.isnan(row.ci_high) else row.ci_high,
            )
            for row in means.itertuples()
        ],
        n_obs=fit.n_obs,
        n_participants=fit.n_participants,
        n_clusters=fit.n_clusters,
        singular=fit.singular,
    )
