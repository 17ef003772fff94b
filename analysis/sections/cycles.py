"""The learning cycles section of results.json (pure): per-cycle ITT, pooled, and their difference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.estimators import fit_itt, ols_fit, ols_fit_absorbed
from analysis.estimators.absorb import absorbs
from analysis.estimators.design_matrix import design_frame
from analysis.results_model.cycles import CycleAmendment, CycleEffect, CycleHeterogeneity, Cycles
from analysis.sections.outcomes import treatment_indicator
from trial_designs.design import TrialDesign

__all__ = ["cycles_section", "interaction_wald"]


def interaction_wald(fit, terms: Sequence[str]) -> CycleHeterogeneity:  # noqa: ANN001 - RegressionFit
    """The joint Wald F test that ``terms`` are all 0, with the fit's own covariance.

    Notes
    -----
    ``F = b' V^-1 b / q`` over the ``q`` terms, referred to F(q, min df), the
    smallest of the terms' degrees of freedom (as the subgroups' interaction
    test does), so a CR2 fit's small-sample df carry over.
    """
    index = [fit.terms.index(t) for t in terms if t in fit.terms]
    if not index:
        return CycleHeterogeneity(statistic=None, df_num=0, df_denom=None, p_value=None)
    beta = np.array([fit.coefficients[i].estimate for i in index])
    vcov = np.asarray(fit.vcov)[np.ix_(index, index)]
    df2 = float(min(fit.coefficients[i].df for i in index))
    try:
        statistic = float(beta @ np.linalg.solve(vcov, beta)) / len(index)
    except np.linalg.LinAlgError:
        return CycleHeterogeneity(statistic=None, df_num=len(index), df_denom=df2, p_value=None)
    return CycleHeterogeneity(
        statistic=statistic,
        df_num=len(index),
        df_denom=df2,
        p_value=float(stats.f.sf(statistic, len(index), df2)),
    )


def _effect(result, treat: str, name: str, number: int, day: str | None, arms: dict) -> CycleEffect:  # noqa: ANN001
    effect = result.fit[treat]
    return CycleEffect(
        cycle=name,
        number=number,
        randomised_on=day,
        n=int(result.n),
        n_per_arm={arms.get(k, k): int(v) for k, v in result.n_per_arm.items()},
        estimate=effect.estimate,
        std_error=effect.std_error,
        ci_low=effect.ci_low,
        ci_high=effect.ci_high,
        p_value=effect.p_value,
    )


def cycles_section(
    data: pd.DataFrame,
    design: TrialDesign,
    *,
    outcome: str,
    covariates: Sequence[str],
    strata: str | None,
    cluster: str | None,
    se_type: str,
    records: Mapping | None = None,
) -> Cycles | None:
    """The primary outcome cycle by cycle, pooled with cycle fixed effects, and their difference.

    Parameters
    ----------
    data : DataFrame
        The analysis dataset with treatment indicators and a ``cycle`` column
        (the cycle's name; :func:`analysis.dataset.analysis_dataset` writes it
        for a design with cycles).
    design : TrialDesign
        Declares the cycles (in order) and the arms; the first active arm is
        compared with control.
    outcome : str
        The primary's endline column.
    covariates : sequence of str
        The primary's model covariates (its baseline, declared covariates), without
        the cycle dummies: they are added here.
    strata, cluster, se_type
        As the primary's model uses them.
    records : mapping, optional
        From the store: ``randomised_at`` (cycle number -> ISO time of its
        randomisation) and ``amendments`` (dicts with recorded_at, reason,
        changes), so the amendments recorded between cycles can be listed.

    Returns
    -------
    Cycles or None
        None for a design without cycles or data without a cycle column.

    Notes
    -----
    Each cycle's ITT is the primary's ANCOVA fitted to that cycle's
    participants.  The pooled model adds cycle fixed effects (one dummy per
    cycle after the first); the heterogeneity test adds arm x cycle terms to it
    and tests them jointly (:func:`interaction_wald`).
    """
    if not design.cycles or "cycle" not in data:
        return None
    active = [a for a in design.arm_names if a != design.control_arm]
    treat = treatment_indicator(active[0])
    # fit_itt counts arms as "control" and the indicator's name: report the design's arm names
    arms = {treat: active[0], "control": design.control_arm}
    data = data[data["arm"].isin([design.control_arm, active[0]])]
    used = data.dropna(subset=[outcome, *covariates, *([cluster] if cluster else [])])
    names = [c.name for c in design.cycles]
    present = [n for n in names if (used["cycle"] == n).any()]
    by_cycle = []
    for number, cycle in enumerate(design.cycles, start=1):
        subset = used[used["cycle"] == cycle.name]
        if subset.empty or subset[treat].nunique() < 2:
            continue
        result = fit_itt(
            subset,
            outcome=outcome,
            treatment_columns=[treat],
            covariates=covariates,
            strata=strata if strata and subset[strata].nunique() > 1 else None,
            cluster=cluster,
            se_type=se_type,
        )
        by_cycle.append(
            _effect(result, treat, cycle.name, number, cycle.randomisation.isoformat(), arms)
        )
    pooled = heterogeneity = None
    if len(by_cycle) >= 2:
        # cycle dummies after the first declared cycle, and their products with the arm
        dummies = {f"cycle[{n}]": (used["cycle"] == n).astype(float) for n in present[1:]}
        products = {
            f"{treat}:cycle[{n}]": d * used[treat]
            for n, d in zip(present[1:], dummies.values(), strict=True)
        }
        frame = used.assign(**dummies, **products)
        common = {
            "outcome": outcome,
            "covariates": [*covariates, *dummies],
            "strata": strata,
            "cluster": cluster,
            "se_type": se_type,
        }
        result = fit_itt(frame, treatment_columns=[treat], **common)
        pooled = _effect(result, treat, "pooled", 0, None, arms)
        # fit_itt takes one indicator per arm, so the interacted design is built here
        y = frame[outcome].to_numpy(float)
        clusters = None if cluster is None else frame[cluster].to_numpy()
        if strata is not None and absorbs(frame[strata], None):
            # many strata, absorbed as fit_itt absorbs them: the same interaction terms
            interacted, _ = ols_fit_absorbed(
                y,
                frame,
                frame[strata].astype(str),  # a missing label is a level, as in the dummies
                leading=[treat, *products],
                covariates=common["covariates"],
                se_type=se_type,
                clusters=clusters,
            )
        else:
            x, _ = design_frame(frame, [treat, *products], common["covariates"], strata)
            interacted = ols_fit(
                y, x.to_numpy(), terms=list(x.columns), se_type=se_type, clusters=clusters
            )
        heterogeneity = interaction_wald(interacted, list(products))
    return Cycles(
        outcome=outcome.removesuffix("_endline"),
        arm=active[0],
        se_type=se_type,
        by_cycle=by_cycle,
        pooled=pooled,
        heterogeneity=heterogeneity,
        amendments=_amendments_between(records or {}),
        # without the store's records an empty list would claim no amendment was recorded
        **({} if records is not None else {"amendments_looked_up": False}),
    )


def _amendments_between(records: Mapping) -> list[CycleAmendment]:
    """Amendments recorded after cycle 1's randomisation and before the last cycle randomised."""
    randomised = {int(k): str(v) for k, v in (records.get("randomised_at") or {}).items()}
    if not randomised:
        return []
    out = []
    for row in records.get("amendments") or ():
        at = str(row["recorded_at"])
        before = [n for n, when in randomised.items() if when <= at]
        if not before or max(before) >= max(randomised):
            continue  # before the trial began, or after its last cycle: not between cycles
        out.append(
            CycleAmendment(
                after_cycle=max(before),
                recorded_at=at,
                reason=str(row["reason"]),
                changes=[str(c) for c in row.get("changes") or ()],
            )
        )
    return out
