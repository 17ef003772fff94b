"""The missing-data parts of results.json: attrition by arm and the primary's sensitivity analyses (pure).

The primary analysis uses complete cases with baseline adjustment.  Two
sensitivity analyses sit beside it, each fitted with the primary's model and
standard errors:

- inverse-probability weighting (:func:`analysis.missing.ipw_weights`): the
  complete cases weighted by the inverse of a logistic model's probability of
  responding, given baseline covariates and arm;
- multiple imputation (:func:`analysis.missing.multiple_imputation`,
  ``IterativeImputer(sample_posterior=True)`` fitted to a bootstrap resample
  per imputation, m = 20), pooled by Rubin's rules
  (:func:`analysis.missing.rubin_pool`): Barnard-Rubin df for individually
  randomised trials, Rubin's df capped at the CR2 df for cluster trials.

Both assume the outcomes are missing at random given what they model.  Bounds
that do not (:mod:`analysis.attrition_bounds`) sit in the attrition section:
Lee (2009) trimming bounds for a continuous primary outcome (assuming only
monotone response) and worst/best-case bounds for a binary one, each with an
Imbens-Manski interval, for every active arm against control.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.attrition_bounds import lee_bounds, worst_best_bounds
from analysis.estimators import fit_itt
from analysis.missing import (
    attrition_table,
    differential_attrition_test,
    ipw_weights,
    multiple_imputation,
    rubin_pool,
)
from analysis.results_model import Attrition, AttritionBounds, SensitivityEstimate
from analysis.sections.outcomes import effect_fields

__all__ = [
    "MI_IMPUTATIONS",
    "MI_ROUNDS",
    "attrition_bounds",
    "attrition_section",
    "missing_data_sensitivity",
]

#: Imputations of the multiple-imputation sensitivity analysis.
MI_IMPUTATIONS = 20
#: Rounds of chained equations per imputation: R mice's default (maxit = 5).
MI_ROUNDS = 5

_RESPONDED = "_responded"
_WEIGHT = "_ipw_weight"


def attrition_bounds(
    data: pd.DataFrame,
    *,
    endline: str,
    control: str,
    active: Sequence[str],
    clustered: bool,
) -> list[AttritionBounds]:
    """Bounds on each active arm's ITT effect on ``endline`` that do not assume MAR.

    Lee bounds when the observed outcome takes other values than 0 and 1,
    worst/best-case bounds when it is binary.  None when nobody was lost (the
    bounds are then the observed difference) or when an arm has too few
    responses for a standard error (fewer than 2 for Lee bounds).

    The bounds' standard errors are analytic and treat participants as
    independent: with ``clustered`` (a cluster trial, or SEs clustered by a
    team) each row says so, since its interval is then too narrow.  A cluster
    bootstrap was not used: with five to ten clusters it has few distinct
    resamples, and an arm can vanish from a resample.
    """
    values = data[endline]
    if values.notna().all():
        return []
    observed = values.dropna()
    bound = worst_best_bounds if observed.isin([0, 1]).all() else lee_bounds
    rows = []
    for arm in active:
        try:
            found = bound(data, outcome=endline, arm="arm", treatment=arm, control=control)
        except ValueError:  # an arm without enough responses to bound: nothing to report
            continue
        rows.append(AttritionBounds(arm=arm, **found.to_dict(), se_ignores_clustering=clustered))
    return rows


def attrition_section(
    data: pd.DataFrame,
    *,
    endline: str,
    arm_order: Sequence[str],
    control: str | None = None,
    clustered: bool = False,
) -> Attrition:
    """Allocated, followed up and lost per arm (in ``arm_order``), a test of differential
    attrition and, given the ``control`` arm, bounds on each other arm's effect.

    Follow-up is an observed ``endline`` value, as in the CONSORT boxes, so the
    two sections agree.  The test is chi-square, or Fisher's exact test when an
    expected count is under 5.  The bounds are :func:`attrition_bounds`'s.
    """
    frame = data[["arm"]].assign(**{_RESPONDED: data[endline].notna()})
    table = attrition_table(frame, arm="arm", responded=_RESPONDED).set_index("arm")
    rows = [
        {
            "arm": arm,
            "allocated": int(table.at[arm, "randomised"]),
            "followed_up": int(table.at[arm, "responded"]),
            "lost": int(table.at[arm, "lost"]),
            "lost_pct": float(table.at[arm, "percent_lost"]),
        }
        for arm in arm_order
        if arm in table.index
    ]
    lost = frame[_RESPONDED].eq(False)
    test = None
    if frame["arm"].nunique() > 1 and 0 < lost.sum() < len(frame):
        test = differential_attrition_test(frame, arm="arm", responded=_RESPONDED).to_dict()
    if control is None:
        return Attrition(by_arm=rows, test=test)
    bounds = attrition_bounds(
        data,
        endline=endline,
        control=control,
        active=[a for a in arm_order if a != control],
        clustered=clustered,
    )
    return Attrition(by_arm=rows, bounds=bounds, test=test)


def _estimate(result, term: str) -> dict:  # noqa: ANN001 - an ITTResult
    return {**effect_fields(result.fit[term]), "n": int(result.n)}


def _indicator_columns(data: pd.DataFrame, column: str, prefix: str) -> pd.DataFrame:
    return pd.get_dummies(data[column].astype(str), prefix=prefix, drop_first=True, dtype=float)


def missing_data_sensitivity(
    data: pd.DataFrame,
    *,
    endline: str,
    treatment: str | Sequence[str],
    arm: str | Sequence[str],
    covariates: Sequence[str],
    response_covariates: Sequence[str],
    strata: str | None,
    cluster: str | None,
    se_type: str,
    rng: np.random.Generator,
    m: int = MI_IMPUTATIONS,
) -> tuple[list[SensitivityEstimate], list[str]]:
    r"""The primary ITT under complete cases, IPW and multiple imputation.

    Parameters
    ----------
    data : DataFrame
        One row per randomised participant of every arm the primary model holds.
    endline : str
        The primary outcome's endline column.
    treatment : str or sequence of str
        The 0/1 indicator of each active arm, as in the primary model: with
        several arms, every model here is the primary's joint model (one
        indicator per active arm), so each arm's estimate is of the primary's
        estimand, not of a refit on control and that arm alone.
    arm : str or sequence of str
        The active arms' names, for the rows (one per indicator).
    covariates : sequence of str
        The ITT model's numeric covariates (the baseline first).
    response_covariates : sequence of str
        Baseline characteristics of the response model (text columns are
        dummy-coded, missing values get an indicator).
    strata, cluster, se_type
        As for the primary ITT fit.
    rng : numpy.random.Generator
        Seeds the imputations.
    m : int
        Imputations.

    Returns
    -------
    rows, warnings
        Per arm (in ``arm`` order) one row per method that could be fitted
        (``complete_case`` always), and a sentence for each that could not,
        saying why.

    Notes
    -----
    The response model of the IPW holds every arm's indicator.  The
    imputation model holds the outcome, the ITT covariates, every arm
    indicator and stratum indicators, so it is congenial with the analysis
    model; each arm's coefficient is pooled by Rubin's rules on its own.  It
    is single-level: in cluster trials it does not model the clusters, so the
    MI interval may be somewhat narrow when the ICC is high.  The pooled
    interval is :math:`\bar Q \pm t_{0.975,\nu}\sqrt{T}`.  For cluster trials
    :math:`\nu = \min(\nu_{Rubin}, \nu_{com})`: the Barnard-Rubin factor
    :math:`(\nu_{com}+1)/(\nu_{com}+3)` is derived for :math:`N - K` residual
    df and would halve a Satterthwaite df of 2 again.
    """
    treatments = [treatment] if isinstance(treatment, str) else list(treatment)
    arms = [arm] if isinstance(arm, str) else list(arm)
    if len(arms) != len(treatments) or not treatments:
        raise ValueError(
            "The 'arm' names must match the 'treatment' indicators one to one. "
            f"Got {len(arms)} arm(s) for {len(treatments)} indicator(s) instead."
        )
    by_arm: dict[str, list[SensitivityEstimate]] = {a: [] for a in arms}
    warnings: list[str] = []

    def fit(frame: pd.DataFrame, weights: str | None = None):  # noqa: ANN202 - an ITTResult
        """The primary's model on another version of the data."""
        return fit_itt(
            frame,
            outcome=endline,
            treatment_columns=treatments,
            covariates=covariates,
            strata=strata,
            cluster=cluster,
            se_type=se_type,
            weights=weights,
        )

    def rows() -> list[SensitivityEstimate]:
        return [row for a in arms for row in by_arm[a]]

    complete = fit(data)
    for a, t in zip(arms, treatments, strict=True):
        by_arm[a].append(
            SensitivityEstimate(
                method="complete_case",
                arm=a,
                **_estimate(complete, t),
                detail="The primary analysis: complete cases with baseline adjustment.",
            )
        )
    responded = data[endline].notna()
    if responded.all():
        warnings.append("Every participant was followed up: no missing-data sensitivity analysis.")
        return rows(), warnings
    frame = data.assign(**{_RESPONDED: responded})
    try:
        ipw = ipw_weights(
            frame,
            responded=_RESPONDED,
            covariates=list(response_covariates),
            arm="arm",
            stabilised=True,
        )
        weighted = fit(frame.assign(**{_WEIGHT: ipw.weights.where(responded)}), _WEIGHT)
        for a, t in zip(arms, treatments, strict=True):
            by_arm[a].append(
                SensitivityEstimate(
                    method="ipw",
                    arm=a,
                    **_estimate(weighted, t),
                    detail=(
                        "Complete cases weighted by the inverse of the probability of responding "
                        f"(stabilised; logistic model of response on {', '.join(response_covariates)} and arm; "
                        f"AUC {ipw.auc:.2f}, effective sample size {ipw.effective_sample_size:.0f})."
                    ),
                )
            )
    except ValueError as exc:
        warnings.append(f"The IPW sensitivity analysis was not run: {exc}")
    strata_columns = _indicator_columns(data, strata, "_stratum") if strata else pd.DataFrame()
    imputable = pd.concat([data[[endline, *covariates, *treatments]], strata_columns], axis=1)
    completed = multiple_imputation(
        imputable, columns=list(imputable.columns), m=m, rng=rng, max_iter=MI_ROUNDS
    )
    fits = [fit(copy.assign(**{c: data[c] for c in (strata, cluster) if c})) for copy in completed]
    for a, t in zip(arms, treatments, strict=True):
        by_arm[a].append(_pooled(fits, t, arm=a, cluster=cluster, m=m, n=len(data)))
    return rows(), warnings


def _pooled(fits: list, term: str, *, arm: str, cluster: str | None, m: int, n: int):  # noqa: ANN202
    """The MI row of ``term``: its coefficient over the imputations' fits, by Rubin's rules."""
    estimates = [f.fit[term].estimate for f in fits]
    variances = [f.fit[term].std_error ** 2 for f in fits]
    df_complete = fits[0].fit[term].df
    if cluster is None:
        pooled = rubin_pool(estimates, variances, df_complete=df_complete)
        df, df_words = pooled.df, "Barnard-Rubin df"
    else:
        # Barnard-Rubin's small-sample factor assumes N - K residual df; applied to a
        # Satterthwaite df of 2 (five clusters) it halves the df again.  Rubin's df,
        # capped at the complete-data df, keeps the primary's small-sample correction.
        pooled = rubin_pool(estimates, variances)
        df = min(pooled.df, df_complete)
        df_words = f"Rubin's df capped at the complete-data CR2 df, {df_complete:.1f}"
    half_width = stats.t.ppf(0.975, df) * pooled.std_error
    return SensitivityEstimate(
        method="multiple_imputation",
        arm=arm,
        estimate=pooled.estimate,
        std_error=pooled.std_error,
        df=df,
        ci_low=pooled.estimate - half_width,
        ci_high=pooled.estimate + half_width,
        p_value=float(2 * stats.t.sf(abs(pooled.estimate / pooled.std_error), df)),
        n=int(n),
        detail=(
            f"Missing values imputed {m} times with IterativeImputer (sample_posterior, "
            f"{MI_ROUNDS} rounds of chained equations, each fitted to a bootstrap resample), "
            f"pooled by Rubin's rules ({df_words}; fraction of missing information {pooled.fmi:.2f})."
        ),
    )
