"""The missing-data parts of results.json: attrition by arm and the primary's sensitivity analyses (pure).

The primary analysis uses complete cases with baseline adjustment.  Two
sensitivity analyses sit beside it, each fitted with the primary's model and
standard errors:

- inverse-probability weighting (:func:`analysis.missing.ipw_weights`): the
  complete cases weighted by the inverse of a logistic model's probability of
  responding, given baseline covariates and arm;
- multiple imputation (:func:`analysis.missing.multiple_imputation`, m = 20),
  pooled by Rubin's rules (:func:`analysis.missing.rubin_pool`): Barnard-Rubin
  df for individually randomised trials, Rubin's df capped at the CR2 df for
  cluster trials.  The imputation model is :func:`imputation_method`'s: Bayesian
  normal regression with the strata absorbed for large trials or many strata,
  ``IterativeImputer`` over stratum indicators for the small ones it has always
  served.

Both assume the outcomes are missing at random given what they model.  Bounds
that do not (:mod:`analysis.attrition_bounds`) sit in the attrition section:
Lee (2009) trimming bounds for a continuous primary outcome (assuming only
monotone response) and worst/best-case bounds for a binary one, each with an
Imbens-Manski interval, for every active arm against control.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
    "MI_INDICATOR_MAX_ROWS",
    "MI_INDICATOR_MAX_STRATA",
    "MI_ROUNDS",
    "attrition_bounds",
    "attrition_section",
    "imputation_method",
    "missing_data_sensitivity",
]

#: Imputations of the multiple-imputation sensitivity analysis.
MI_IMPUTATIONS = 20
#: Rounds of chained equations per imputation: R mice's default (maxit = 5).
MI_ROUNDS = 5
#: The most strata, and rows, for which the imputation model is IterativeImputer over
#: stratum indicator columns (``chained_bootstrap``); past either, the strata are
#: absorbed (``normal_absorbed``).  Both impute from a normal linear model with the
#: analysis model's terms and draw its parameters (the indicator path through a
#: bootstrap resample, the absorbed one from their exact posterior); the switch is for
#: cost: the indicator path's is of the order of rows x (columns + strata)^2 per round,
#: and at 130,000 rows and 200 strata it took minutes and gigabytes.  Trials under both
#: limits (every demo and seed trial) keep the imputations, and figures, they always had.
MI_INDICATOR_MAX_STRATA = 20
MI_INDICATOR_MAX_ROWS = 50_000

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


def imputation_method(data: pd.DataFrame, *, strata: str | None) -> str:
    """The imputation model :func:`missing_data_sensitivity` uses for ``data``.

    ``"normal_absorbed"`` when ``data`` has more than :data:`MI_INDICATOR_MAX_ROWS` rows
    or ``strata`` more than :data:`MI_INDICATOR_MAX_STRATA` levels (a missing stratum
    counts as one), else ``"chained_bootstrap"``
    (:data:`analysis.missing.IMPUTATION_METHODS`).
    """
    levels = 0 if strata is None else int(data[strata].nunique(dropna=False))
    if len(data) > MI_INDICATOR_MAX_ROWS or levels > MI_INDICATOR_MAX_STRATA:
        return "normal_absorbed"
    return "chained_bootstrap"


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
    indicator and the strata (as indicator columns, or absorbed as fixed effects:
    :func:`imputation_method`), so it is congenial with the analysis model; each
    arm's coefficient is pooled by Rubin's rules on its own.  The imputations are
    made, fitted and dropped one at a time: only each fit's estimates are kept.  It
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
    method = imputation_method(data, strata=strata)
    completed = multiple_imputation(
        data,
        columns=[endline, *covariates, *treatments],
        strata=strata,
        m=m,
        rng=rng,
        max_iter=MI_ROUNDS,
        method=method,
    )
    # each completed copy is fitted and dropped: only (estimate, variance, df) per term stays
    fits = [_terms(fit(copy), treatments) for copy in completed]
    for a, t in zip(arms, treatments, strict=True):
        by_arm[a].append(
            _pooled([f[t] for f in fits], arm=a, cluster=cluster, m=m, n=len(data), method=method)
        )
    return rows(), warnings


def _terms(result, terms: Iterable[str]) -> dict[str, tuple[float, float, float]]:  # noqa: ANN001
    """(estimate, squared standard error, df) of each of ``terms`` in an ITTResult."""
    return {
        t: (result.fit[t].estimate, result.fit[t].std_error ** 2, result.fit[t].df) for t in terms
    }


#: How each imputation model reads in an MI row's detail.
_IMPUTED_WITH = {
    "chained_bootstrap": (
        "with IterativeImputer (sample_posterior, {rounds} rounds of chained equations, each "
        "fitted to a bootstrap resample)"
    ),
    "normal_absorbed": (
        "by Bayesian normal linear regression on arm, covariates and stratum fixed effects "
        "(absorbed), with each imputation's parameters drawn from their posterior (Rubin 1987; "
        "mice's norm; chained equations, {rounds} rounds, when covariates have gaps too)"
    ),
}


def _pooled(  # noqa: ANN202
    fits: list[tuple[float, float, float]],
    *,
    arm: str,
    cluster: str | None,
    m: int,
    n: int,
    method: str,
):
    """The MI row of one term: its (estimate, variance, df) over the imputations, by Rubin's rules."""
    estimates = [f[0] for f in fits]
    variances = [f[1] for f in fits]
    df_complete = fits[0][2]
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
            f"Missing values imputed {m} times {_IMPUTED_WITH[method].format(rounds=MI_ROUNDS)}, "
            f"pooled by Rubin's rules ({df_words}; fraction of missing information {pooled.fmi:.2f})."
        ),
    )
