"""Each outcome's entry of results.json: ITT and CACE estimates, effect sizes and summaries (pure).

:func:`effect_fields` is the one place an estimator's coefficient becomes the
estimate, standard error, df, interval and p-value results.json reports; the ITT,
CACE and missing-data sensitivity rows all take them from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.effect_sizes import hedges_g_from_estimate, icc_oneway
from analysis.estimators import fit_cace
from analysis.multiplicity import holm_adjust
from analysis.results_model import ArmSummary, Estimate, Outcome
from trial_designs.design import TrialDesign
from trial_designs.sections import Outcome as DeclaredOutcome

__all__ = [
    "arm_summaries",
    "arm_pair",
    "cace_estimates",
    "effect_fields",
    "effect_size",
    "holm_secondary",
    "is_binary",
    "n_per_arm",
    "outcome_columns",
    "outcome_icc",
    "treatment_indicator",
]


def treatment_indicator(arm: str) -> str:
    """The name of the 0/1 column that marks an active arm."""
    return f"arm[{arm}]"


def effect_fields(effect) -> dict:  # noqa: ANN001 - an estimators Coefficient
    """estimate, std_error, df, ci_low, ci_high and p_value of one fitted coefficient."""
    return {
        "estimate": effect.estimate,
        "std_error": effect.std_error,
        "df": effect.df,
        "ci_low": effect.ci_low,
        "ci_high": effect.ci_high,
        "p_value": effect.p_value,
    }


def outcome_columns(
    outcome: DeclaredOutcome, data: pd.DataFrame, *, timepoint: str = "endline"
) -> tuple[str, str | None]:
    """The outcome's column at ``timepoint`` (the headline's), and its baseline column when
    that has any value."""
    endline = f"{outcome.name}_{timepoint}"
    baseline = f"{outcome.name}_baseline"
    has_baseline = baseline in data and data[baseline].notna().sum() > 0
    return endline, baseline if has_baseline else None


def is_binary(values: pd.Series) -> bool:
    """True when every observed value is 0 or 1."""
    observed = values.dropna().unique()
    return len(observed) > 0 and set(np.unique(observed)) <= {0.0, 1.0}


def arm_summaries(
    data: pd.DataFrame, design: TrialDesign, endline: str, baseline: str | None
) -> list[ArmSummary]:
    """The raw endline mean and SD (and baseline mean) per arm, in the design's order."""
    rows = []
    for arm in design.arm_names:
        group = data[data["arm"] == arm]
        values = group[endline].dropna()
        rows.append(
            ArmSummary(
                arm=arm,
                n=int(len(values)),
                mean=float(values.mean()) if len(values) else None,
                sd=float(values.std(ddof=1)) if len(values) > 1 else None,
                baseline_mean=float(group[baseline].mean())
                if baseline and group[baseline].notna().any()
                else None,
            )
        )
    return rows


def outcome_icc(data: pd.DataFrame, endline: str):  # noqa: ANN201 - an effect_sizes ICC
    """ICC of the endline outcome within clusters, arms taken out first (None under 3 clusters)."""
    used = data.dropna(subset=[endline])
    if used["cluster"].nunique() < 3:
        return None
    return icc_oneway(used[endline], used["cluster"].astype(str), arm=used["arm"])


def effect_size(  # noqa: ANN001
    data, design, endline, arm, effect, n_per_arm, icc, *, clustered_se: bool = False
) -> dict:
    """Hedges' g of an ITT coefficient: pooled SD (individual trials) or total SD (cluster trials, EEF).

    With SEs clustered by a grouping (``analysis.cluster_se_by``) the interval of g is
    the model's clustered CI rescaled, not the independent-observations formula.
    """
    n_treat, n_control = n_per_arm.get(arm, 0), n_per_arm.get(design.control_arm, 0)
    if min(n_treat, n_control) < 2:
        return {"hedges_g": None, "hedges_g_ci_low": None, "hedges_g_ci_high": None}
    if icc is not None:
        g = hedges_g_from_estimate(
            effect.estimate,
            n_treat=n_treat,
            n_control=n_control,
            sd_total=icc.sd_total,
            estimate_std_error=effect.std_error,
            df=effect.df,
        )
    else:
        sds = data.groupby("arm")[endline].agg(["std", "count"]).loc[[arm, design.control_arm]]
        pooled = float(
            np.sqrt(((sds["count"] - 1) * sds["std"] ** 2).sum() / (sds["count"].sum() - 2))
        )
        g = hedges_g_from_estimate(
            effect.estimate,
            n_treat=n_treat,
            n_control=n_control,
            sd_pooled=pooled,
            **({"estimate_std_error": effect.std_error, "df": effect.df} if clustered_se else {}),
        )
    return {"hedges_g": g.estimate, "hedges_g_ci_low": g.ci_low, "hedges_g_ci_high": g.ci_high}


def holm_secondary(outcomes: list[Outcome], *, primary_across_arms: bool = False) -> list[Outcome]:
    """Every estimate with its Holm-adjusted p-value across the secondary outcomes' ITT estimates.

    The secondary family is every ITT estimate of every secondary outcome, each
    active arm's against control included, so with several arms it holds
    (secondary outcomes x active arms) tests.  The primary outcome stays unadjusted
    (its p_value_holm is null) unless ``primary_across_arms`` (the design's
    ``analysis.adjust_across_arms: holm``): then its ITT estimates, one per active
    arm estimated, are a family of their own.  CACE estimates are never adjusted.
    """

    def itt_p_values(primary: bool) -> dict[str, float]:
        return {
            f"{i}:{j}": e.p_value
            for i, o in enumerate(outcomes)
            if o.primary == primary
            for j, e in enumerate(o.estimates)
            if e.estimand == "ITT"
        }

    family = itt_p_values(primary=False)
    adjusted = holm_adjust(family) if family else {}
    across_arms = itt_p_values(primary=True) if primary_across_arms else {}
    if across_arms:
        adjusted.update(holm_adjust(across_arms))
    return [
        o.model_copy(
            update={
                "estimates": [
                    e.model_copy(update={"p_value_holm": adjusted.get(f"{i}:{j}")})
                    for j, e in enumerate(o.estimates)
                ]
            }
        )
        for i, o in enumerate(outcomes)
    ]


def n_per_arm(data: pd.DataFrame, design: TrialDesign, model_columns: Sequence[str]) -> dict:
    """Participants per arm complete on the model's columns."""
    complete = data[list(model_columns)].notna().all(axis=1)
    return {a: int(((data["arm"] == a) & complete).sum()) for a in design.arm_names}


def arm_pair(data: pd.DataFrame, design: TrialDesign, arm: str) -> pd.DataFrame:
    """The control arm's and ``arm``'s rows, in ``data``'s order: one arm's pairwise analyses.

    In a two-arm trial this is every row, so a pairwise analysis is the trial's own.
    """
    return data[data["arm"].isin([design.control_arm, arm])]


def cace_estimates(  # noqa: ANN001
    data, design, endline, covariates, strata, cluster, se_type, active, se_clustered_by
) -> list[Estimate]:
    """The CACE of each active arm whose uptake is partial: assignment instruments uptake.

    Each arm is compared with control on the two arms' participants only
    (pairwise IV: assignment to the arm instruments taking it up), so another
    arm's uptake or outcomes never enter an arm's CACE; with one active arm this
    is the whole trial.  An arm gets no CACE when its uptake is 0 or at least
    95%, or when control took the intervention up as often as the arm did.
    """
    if "took_up" not in data:
        return []
    rows = []
    for arm in active:
        pair = arm_pair(data, design, arm)
        treated = pair["arm"] == arm
        rate = pair.loc[treated, "took_up"].mean()
        if not (0 < rate < 0.95) or pair.loc[~treated, "took_up"].mean() >= rate:
            continue
        result = fit_cace(
            pair,
            outcome=endline,
            uptake="took_up",
            assignment=treatment_indicator(arm),
            covariates=covariates,
            strata=strata,
            cluster=cluster,
            se_type=se_type,
        )
        used = [endline, *covariates, *([cluster] if cluster else [])]
        rows.append(
            Estimate(
                estimand="CACE",
                arm=arm,
                **effect_fields(result.effect),
                se_type=se_type,
                se_clustered_by=se_clustered_by,
                n=int(result.n),
                n_per_arm=n_per_arm(pair, design, used),
                n_clusters=result.fit.n_clusters,
                first_stage_f=result.first_stage_f,
                weak_instrument=result.weak_instrument,
            )
        )
    return rows
