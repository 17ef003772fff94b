"""Subgroup estimates of the primary outcome in results.json (pure, exploratory)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.estimators import fit_itt, ols_fit
from analysis.estimators.design_matrix import drop_collinear
from analysis.results_model import SubgroupEstimate
from analysis.sections.outcomes import treatment_indicator
from trial_designs.design import TrialDesign

__all__ = ["subgroup_estimates"]


def subgroup_estimates(
    data: pd.DataFrame,
    design: TrialDesign,
    y: str,
    covariates: list[str],
    strata: str | None,
    cluster: str | None,
    se_type: str,
) -> list[SubgroupEstimate]:
    """Pre-specified subgroups: the ITT within each level and the interaction's Wald test.

    Exploratory; only for trials with one active arm.  Levels with fewer than 10
    participants, one arm, or (clustered SEs) under 3 clusters are skipped.
    """
    out = []
    active = [a for a in design.arm_names if a != design.control_arm]
    if len(active) != 1:
        return out
    treat = treatment_indicator(active[0])
    for variable in design.analysis.subgroups:
        if variable not in data:
            continue
        used = data.dropna(subset=[y, *covariates, variable, *([cluster] if cluster else [])])
        levels = sorted(used[variable].astype(str).unique())
        if len(levels) < 2:
            continue
        # interaction model: arm x level, Wald test of the interaction terms
        dummies = pd.get_dummies(used[variable].astype(str), drop_first=True).astype(float)
        x = pd.concat(
            [
                pd.Series(1.0, index=used.index, name="(Intercept)"),
                used[treat],
                used[covariates],
                dummies,
                dummies.mul(used[treat], axis=0).add_prefix("x:"),
            ],
            axis=1,
        )
        if strata:
            x = pd.concat(
                [
                    x,
                    pd.get_dummies(used[strata].astype(str), prefix="s", drop_first=True).astype(
                        float
                    ),
                ],
                axis=1,
            )
        x = x.loc[:, x.std() > 0].assign(**{"(Intercept)": 1.0})
        # a subgroup that is also a stratum or a covariate repeats their dummies: drop the
        # repeats (R's lm order) rather than fail on a rank-deficient design
        x = x[["(Intercept)", *(c for c in x.columns if c != "(Intercept)")]]
        x, _ = drop_collinear(x, protected=["(Intercept)", treat])
        fit = ols_fit(
            used[y].to_numpy(float),
            x.to_numpy(float),
            terms=list(x.columns),
            se_type=se_type,
            clusters=None if cluster is None else used[cluster].to_numpy(),
        )
        idx = [i for i, t in enumerate(fit.terms) if t.startswith("x:")]
        p_interaction = None
        if idx:
            beta = np.array([fit.coefficients[i].estimate for i in idx])
            vcov = np.asarray(fit.vcov)[np.ix_(idx, idx)]
            try:
                wald = float(beta @ np.linalg.solve(vcov, beta)) / len(idx)
                df2 = min(fit.coefficients[i].df for i in idx)
                p_interaction = float(stats.f.sf(wald, len(idx), df2))
            except np.linalg.LinAlgError:
                p_interaction = None
        for level in levels:
            subset = used[used[variable].astype(str) == level]
            if subset[treat].nunique() < 2 or len(subset) < 10:
                continue
            if cluster and subset[cluster].nunique() < 3:
                continue
            result = fit_itt(
                subset,
                outcome=y,
                treatment_columns=[treat],
                covariates=covariates,
                strata=strata if strata and subset[strata].nunique() > 1 else None,
                cluster=cluster,
                se_type=se_type,
            )
            effect = result.fit[treat]
            out.append(
                SubgroupEstimate(
                    variable=variable,
                    level=level,
                    n=int(result.n),
                    estimate=effect.estimate,
                    ci_low=effect.ci_low,
                    ci_high=effect.ci_high,
                    interaction_p_value=p_interaction,
                )
            )
    return out
