"""ITT (ANCOVA) and CACE (2SLS) with the standard errors R's estimatr and clubSandwich give.

The numbers match ``estimatr::lm_robust`` / ``estimatr::iv_robust`` and
``clubSandwich::coef_test(vcov = "CR2", test = "Satterthwaite")`` to about
1e-12 on the datasets in ``tests/reference/``.  That includes weighted fits
and the CR2 (Bell–McCaffrey) covariance with Pustejovsky–Tipton
Satterthwaite degrees of freedom (:mod:`analysis.estimators.covariance`).

Check at the boundary, compute unchecked inside: :func:`ols_fit`,
:func:`fit_itt` and :func:`fit_cace` validate their arguments, and
:func:`~analysis.estimators.covariance.robust_vcov` trusts its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.estimators.absorb import AbsorbedStrata, absorbs, strata_to_absorb
from analysis.estimators.coefficients import CACEResult, ITTResult, RegressionFit, coefficients
from analysis.estimators.covariance import check_se_type, robust_vcov
from analysis.estimators.design_matrix import (
    absorbed_design,
    arm_counts,
    check_indicators,
    design_frame,
)
from common.validation import require_columns

__all__ = ["WEAK_INSTRUMENT_F", "fit_cace", "fit_itt", "ols_fit", "ols_fit_absorbed"]

#: First-stage F below this flags a weak instrument (Staiger and Stock's rule of thumb).
WEAK_INSTRUMENT_F = 10.0


def _check_weights(weights: np.ndarray) -> None:
    if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        bad = weights[~(np.isfinite(weights) & (weights > 0))]
        raise ValueError(
            f"The 'weights' must be finite and positive. Got {bad[:5].tolist()} "
            f"({len(bad)} such values) instead."
        )


def _least_squares(y: np.ndarray, x: np.ndarray, terms: Sequence[str]) -> np.ndarray:
    """Coefficients by Householder QR; refuses a rank-deficient design by name."""
    from scipy import linalg

    q, r = np.linalg.qr(x)
    diagonal = np.abs(np.diag(r))
    norms = np.linalg.norm(x, axis=0)
    collinear = [t for t, d, s in zip(terms, diagonal, norms, strict=True) if d <= 1e-10 * s]
    if collinear:
        raise ValueError(
            "The design matrix must have full column rank: the column(s) "
            f"{', '.join(collinear)} are linear combinations of the columns before them. "
            "Drop them (fit_itt and fit_cace do this for covariates and strata)."
        )
    return linalg.solve_triangular(r, q.T @ y)


# ---------------------------------------------------------------------------
# OLS
# ---------------------------------------------------------------------------
def ols_fit(
    y: np.ndarray,
    X: np.ndarray,
    *,
    terms: Sequence[str],
    se_type: str = "HC2",
    clusters: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> RegressionFit:
    """(Weighted) least squares with estimatr's robust or cluster-robust standard errors.

    Parameters
    ----------
    y : array_like, shape (n,)
    X : array_like, shape (n, k)
        The design, including the intercept column; full column rank.
    terms : sequence of str
        A name for each column of ``X``.
    se_type : str, default "HC2"
        One of :data:`SE_TYPES`: HC0, HC1, HC2, HC3 without clusters; CR0,
        CR1 (Stata's), CR2 with clusters.
    clusters : array_like, shape (n,), optional
        Cluster labels of any hashable type.
    weights : array_like, shape (n,), optional
        Positive analytic (e.g. inverse-probability) weights, as
        ``lm_robust(weights = )``.

    Returns
    -------
    RegressionFit

    Raises
    ------
    ValueError
        For an unknown ``se_type``, a CR type without clusters (or an HC type
        with them), mismatched shapes, non-finite data, non-positive weights,
        fewer than two clusters, or a rank-deficient ``X``.

    Notes
    -----
    ``β = (X'WX)^{-1} X'Wy`` by QR of ``W^{1/2}X``; the covariance and df are
    :func:`robust_vcov`'s.  Estimates equal ``linearmodels`` OLS
    (tests/analysis/estimators/test_fits.py holds the two together).  The 95% CI is
    ``β ± t_{0.975, df} SE`` and the p-value two-sided from ``t(df)``.
    """
    check_se_type(se_type, clusters is not None)
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    terms = [str(t) for t in terms]
    weights, codes, n_clusters = _checked_inputs(y, X, terms, clusters, weights)
    root_w = None if weights is None else np.sqrt(weights / weights.mean())
    if root_w is None:
        params = _least_squares(y, X, terms)
    else:
        params = _least_squares(y * root_w, X * root_w[:, None], terms)
    residuals = y - X @ params
    vcov, df = robust_vcov(X, residuals, se_type=se_type, clusters=codes, weights=weights)
    return RegressionFit(
        coefficients=coefficients(terms, params, vcov, df),
        se_type=se_type,
        n=len(y),
        n_clusters=n_clusters,
        k=X.shape[1],
        vcov=tuple(tuple(float(v) for v in row) for row in vcov),
    )


def _checked_inputs(
    y: np.ndarray,
    X: np.ndarray,
    terms: list[str],
    clusters: np.ndarray | None,
    weights: np.ndarray | None,
    *,
    absorbed_levels: int = 0,
) -> tuple[np.ndarray | None, np.ndarray | None, int | None]:
    """Refuse inputs :func:`ols_fit` cannot fit; the weights as floats and the cluster codes."""
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(
            f"'y' must be a vector with one value per row of 'X'. Got y of shape {y.shape} "
            f"and X of shape {X.shape} instead."
        )
    n, k = X.shape
    if len(terms) != k:
        raise ValueError(f"'terms' must name each of the {k} columns of X. Got {len(terms)} names.")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(X))):
        raise ValueError("'y' and 'X' must be finite: drop missing values first (fit_itt does).")
    if n <= k + absorbed_levels:
        strata = f" and {absorbed_levels} absorbed strata" if absorbed_levels else ""
        raise ValueError(
            f"There must be more rows than columns. Got {n} rows and {k} columns{strata}."
        )
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (n,):
            raise ValueError(f"'weights' must have one value per row ({n}). Got {weights.shape}.")
        _check_weights(weights)
    codes = None
    n_clusters = None
    if clusters is not None:
        clusters = np.asarray(clusters)
        if clusters.shape != (n,):
            raise ValueError(f"'clusters' must have one label per row ({n}). Got {clusters.shape}.")
        codes, uniques = pd.factorize(clusters)
        if np.any(codes < 0):
            raise ValueError("'clusters' must not contain missing labels.")
        n_clusters = len(uniques)
        if n_clusters < 2:
            raise ValueError(f"Cluster-robust SEs need at least 2 clusters. Got {n_clusters}.")
    return weights, codes, n_clusters


def _demeaned_fit(
    y: np.ndarray,
    x: np.ndarray,
    terms: list[str],
    se_type: str,
    clusters: np.ndarray | None,
    weights: np.ndarray | None,
    absorbed: AbsorbedStrata,
) -> RegressionFit:
    """OLS of demeaned ``y`` on demeaned ``x``: the stratum-dummy model's kept coefficients."""
    weights, codes, n_clusters = _checked_inputs(
        y, x, terms, clusters, weights, absorbed_levels=absorbed.n_levels
    )
    params = _weighted_least_squares(y, x, terms, absorbed.weights)
    residuals = y - x @ params
    vcov, df = robust_vcov(
        x, residuals, se_type=se_type, clusters=codes, weights=weights, absorbed=absorbed
    )
    return RegressionFit(
        coefficients=coefficients(terms, params, vcov, df),
        se_type=se_type,
        n=len(y),
        n_clusters=n_clusters,
        k=x.shape[1] + absorbed.n_levels,
        vcov=tuple(tuple(float(v) for v in row) for row in vcov),
    )


def ols_fit_absorbed(
    y: np.ndarray,
    data: pd.DataFrame,
    strata: pd.Series | np.ndarray,
    *,
    leading: Sequence[str],
    covariates: Sequence[str] = (),
    se_type: str = "HC2",
    clusters: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[RegressionFit, list[str]]:
    """:func:`ols_fit` of ``y`` on ``[1, leading, covariates, stratum dummies]``, strata absorbed.

    Parameters
    ----------
    y : array_like, shape (n,)
    data : DataFrame
        Holds the ``leading`` and ``covariates`` columns, one row per value of ``y``.
    strata : array_like, shape (n,)
        Each row's stratum label (compared as text).
    leading : sequence of str
        Columns that must be estimable (the arms): refused, never dropped, when the
        strata and the columns before them explain them.
    covariates : sequence of str
        Further columns; a text column enters as fixed effects (:func:`covariate_frame`).
    se_type, clusters, weights
        As in :func:`ols_fit`.

    Returns
    -------
    (RegressionFit, list of str)
        The fit, whose coefficients are ``leading`` and the kept covariates (no
        intercept, no stratum terms, as ``lm_robust(fixed_effects = ~ stratum)``), and
        the covariate names dropped as collinear with the strata or the columns before.

    Notes
    -----
    Frisch-Waugh-Lovell: ``y`` and every column are demeaned within strata (weighted
    means with weights) and fitted without an intercept
    (:mod:`analysis.estimators.absorb`).  The estimates, residuals, standard errors,
    df, p-values and CIs are those of the model with an intercept and stratum dummies
    (the same linear map of ``y``; the hat matrix adds the strata's part), for every
    SE type including CR2.  ``k`` counts the intercept and every stratum, as that
    model's does (estimatr's ``k`` counts only the coefficients it returns).  No n x
    strata matrix is built.
    """
    check_se_type(se_type, clusters is not None)
    y = np.asarray(y, dtype=float)
    if not isinstance(strata, pd.Series):
        strata = pd.Series(np.asarray(strata))
    if len(strata) != len(y) or len(data) != len(y):
        raise ValueError(
            f"'strata' and 'data' must have one row per value of 'y' ({len(y)}). "
            f"Got {len(strata)} stratum labels and {len(data)} rows instead."
        )
    if strata.isna().any():
        raise ValueError("'strata' must not contain missing labels: drop those rows first.")
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != y.shape:
            raise ValueError(
                f"'weights' must have one value per row ({len(y)}). Got {weights.shape}."
            )
        _check_weights(weights)
    if not np.all(np.isfinite(y)):
        raise ValueError("'y' and 'X' must be finite: drop missing values first (fit_itt does).")
    absorbed = strata_to_absorb(strata, weights)
    x, terms, dropped = absorbed_design(data, leading, covariates, absorbed)
    fit = _demeaned_fit(absorbed.demean(y), x, terms, se_type, clusters, weights, absorbed)
    return fit, dropped


def _complete_cases(data: pd.DataFrame, needed: Sequence[str]) -> pd.DataFrame:
    """The ``needed`` columns' rows with none missing: a copy of those columns, not of ``data``."""
    return data[list(dict.fromkeys(needed))].dropna()


def _weighted_least_squares(
    y: np.ndarray, x: np.ndarray, terms: Sequence[str], scaled_weights: np.ndarray | None
) -> np.ndarray:
    if scaled_weights is None:
        return _least_squares(y, x, terms)
    root_w = np.sqrt(scaled_weights)
    return _least_squares(y * root_w, x * root_w[:, None], terms)


def _resolve_se_type(se_type: str | None, cluster: str | None) -> str:
    chosen = se_type if se_type is not None else ("HC2" if cluster is None else "CR2")
    check_se_type(chosen, cluster is not None)
    return chosen


def fit_itt(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment_columns: Sequence[str],
    covariates: Sequence[str] = (),
    strata: str | None = None,
    cluster: str | None = None,
    se_type: str | None = None,
    weights: str | None = None,
    absorb_strata: bool | None = None,
) -> ITTResult:
    """ITT by ANCOVA: the outcome on arm indicators, covariates and stratum fixed effects.

    Parameters
    ----------
    data : DataFrame
        One row per participant.
    outcome : str
        The outcome column.
    treatment_columns : sequence of str
        0/1 indicator columns, one per active arm; a row of zeros is control.
    covariates : sequence of str
        Covariates, the baseline measure among them; a text column (e.g. team)
        enters as fixed effects (see :func:`covariate_frame`).
    strata : str, optional
        The stratum column; dummy-coded with the first sorted level dropped, or
        absorbed (see ``absorb_strata``).
    cluster : str, optional
        The cluster column (cluster-randomised trials).
    se_type : str, optional
        A key of :data:`SE_TYPES`; default HC2, or CR2 with ``cluster``.
    weights : str, optional
        A column of positive weights (e.g. inverse probability of response).
    absorb_strata : bool, optional
        Absorb the stratum fixed effects (demean within strata) rather than fit
        dummy columns.  By default, when the complete cases have more than
        :data:`~analysis.estimators.absorb.ABSORB_STRATA_ABOVE` stratum levels.

    Returns
    -------
    ITTResult

    Notes
    -----
    Complete cases: rows missing any named column are dropped and counted in
    ``n_dropped``.  The design is ``[1, T_1..T_a, covariates, stratum dummies]``;
    a covariate or dummy that is collinear with the columns before it is
    dropped (listed in ``dropped_terms``), as R's ``lm`` would.  The model is
    ``y = α + Σ τ_a T_a + γ'x + δ_s + ε``, and ``τ_a`` is the ITT effect of arm
    ``a`` against control, with :func:`ols_fit`'s standard errors.

    With the strata absorbed (:func:`ols_fit_absorbed`) the arms' and covariates'
    estimates, SEs (every SE type), df, p-values and CIs, and ``k``, are the dummy
    model's; the fit lists no ``(Intercept)`` and no stratum terms (as
    ``lm_robust(fixed_effects = ~ stratum)``), and a covariate constant within
    strata is the one dropped (the dummy model drops a stratum dummy instead).
    """
    treatment_columns = list(treatment_columns)
    covariates = list(covariates)
    if not treatment_columns:
        raise ValueError("'treatment_columns' must name at least one 0/1 arm indicator. Got none.")
    optional = [c for c in (strata, cluster, weights) if c is not None]
    needed = [outcome, *treatment_columns, *covariates, *optional]
    require_columns(data, needed)
    se_type = _resolve_se_type(se_type, cluster)
    used = _complete_cases(data, needed)
    check_indicators(used, treatment_columns, "treatment")
    y = used[outcome].to_numpy(float)
    clusters = None if cluster is None else used[cluster].to_numpy()
    w = None if weights is None else used[weights].to_numpy(float)
    if strata is not None and absorbs(used[strata], absorb_strata):
        fit, dropped = ols_fit_absorbed(
            y,
            used,
            used[strata],
            leading=treatment_columns,
            covariates=covariates,
            se_type=se_type,
            clusters=clusters,
            weights=w,
        )
    else:
        x, dropped = design_frame(used, treatment_columns, covariates, strata)
        fit = ols_fit(
            y, x.to_numpy(), terms=list(x.columns), se_type=se_type, clusters=clusters, weights=w
        )
    return ITTResult(
        outcome=outcome,
        fit=fit,
        treatment_terms=tuple(treatment_columns),
        n=len(used),
        n_per_arm=arm_counts(used, treatment_columns),
        n_dropped=len(data) - len(used),
        dropped_terms=tuple(dropped),
    )


# ---------------------------------------------------------------------------
# 2SLS
# ---------------------------------------------------------------------------
def _f_sf(statistic: float, df_num: float, df_den: float) -> float:
    """The F distribution's survival function (scipy imported late, see coefficients)."""
    from scipy import stats

    return stats.f.sf(statistic, df_num, df_den)


def _wald_f(params: np.ndarray, vcov: np.ndarray, index: list[int]) -> float:
    from scipy import linalg

    b = params[index]
    v = vcov[np.ix_(index, index)]
    try:
        return float(b @ linalg.cho_solve(linalg.cho_factor(v), b) / len(index))
    except linalg.LinAlgError:
        return math.nan


def _linearmodels_2sls(
    y: np.ndarray,
    exog: pd.DataFrame,
    endog: pd.Series,
    instruments: pd.DataFrame,
    weights: np.ndarray | None,
) -> pd.Series:
    from linearmodels.iv import IV2SLS

    model = IV2SLS(
        pd.Series(y, index=exog.index, name="y"),
        exog,
        endog.to_frame(),
        instruments,
        weights=weights,
    )
    return model.fit(cov_type="unadjusted").params


def fit_cace(
    data: pd.DataFrame,
    *,
    outcome: str,
    uptake: str,
    assignment: str | Sequence[str],
    covariates: Sequence[str] = (),
    strata: str | None = None,
    cluster: str | None = None,
    se_type: str | None = None,
    weights: str | None = None,
    absorb_strata: bool | None = None,
) -> CACEResult:
    """CACE by 2SLS: ``uptake`` (0/1 or a dose) instrumented by random assignment.

    Parameters
    ----------
    data : DataFrame
    outcome : str
    uptake : str
        The endogenous column: took the intervention up (0/1) or a dose.
    assignment : str or sequence of str
        0/1 assignment indicator(s): the excluded instrument(s).
    covariates, strata, cluster, se_type, weights, absorb_strata
        As in :func:`fit_itt`; they enter both stages.

    Returns
    -------
    CACEResult

    Notes
    -----
    First stage ``D = π'Z + γ'x + δ_s + v`` gives ``D̂``; the estimate comes
    from linearmodels' ``IV2SLS``.  Standard errors follow estimatr's
    ``iv_robust``: the sandwich's bread and hat matrix use the second-stage
    design ``X̂ = [D̂, 1, x, dummies]`` and the residuals use the actual
    uptake, ``e = y - [D, 1, x, dummies] β``; df as :func:`robust_vcov`.
    The first-stage F is the Wald statistic ``π̂' V_π^{-1} π̂ / q`` with the
    same SE type, on ``(q, N - K_1)`` df, or ``(q, G - 1)`` with clusters,
    as ``iv_robust(diagnostics = TRUE)`` reports it.  ``weak_instrument``
    is ``F < 10``.

    With the strata absorbed, outcome, uptake, instruments and covariates are
    demeaned within strata (weighted with weights) and both stages fitted on them
    without an intercept; the hat matrix adds the strata's part, so the estimates,
    SEs, df, first-stage F and ``k`` are the dummy model's.  The fit lists the
    uptake and the covariates, as ``iv_robust(fixed_effects = ~ stratum)``.
    """
    instruments = [assignment] if isinstance(assignment, str) else list(assignment)
    covariates = list(covariates)
    if not instruments:
        raise ValueError("'assignment' must name at least one 0/1 assignment column. Got none.")
    optional = [c for c in (strata, cluster, weights) if c is not None]
    needed = [outcome, uptake, *instruments, *covariates, *optional]
    require_columns(data, needed)
    se_type = _resolve_se_type(se_type, cluster)
    used = _complete_cases(data, needed)
    check_indicators(used, instruments, "assignment")
    y = used[outcome].to_numpy(float)
    d = used[uptake].to_numpy(float)
    w = None if weights is None else used[weights].to_numpy(float)
    clusters = None if cluster is None else used[cluster].to_numpy()
    if strata is not None and absorbs(used[strata], absorb_strata):
        absorbed = strata_to_absorb(used[strata], w)
        first_x, first_terms, dropped = absorbed_design(used, instruments, covariates, absorbed)
        first = _demeaned_fit(
            absorbed.demean(d), first_x, first_terms, se_type, clusters, w, absorbed
        )
        y, d = absorbed.demean(y), absorbed.demean(d)
        exog_terms, exog_matrix = first_terms[len(instruments) :], first_x[:, len(instruments) :]
        terms = [uptake, *exog_terms]  # no intercept: absorbed with the strata
    else:
        absorbed = None
        frame, dropped = design_frame(used, instruments, covariates, strata)
        first_x, first_terms = frame.to_numpy(), list(frame.columns)
        first = ols_fit(
            d, first_x, terms=first_terms, se_type=se_type, clusters=clusters, weights=w
        )
        exog = frame.drop(columns=instruments)
        # R's column order: intercept, endogenous, then the exogenous covariates.
        exog_terms, exog_matrix = list(exog.columns), exog.to_numpy()
        terms = [exog_terms[0], uptake, *exog_terms[1:]]
    first_params = np.array([c.estimate for c in first.coefficients])
    index = [first_terms.index(z) for z in instruments]
    f_stat = _wald_f(first_params, np.array(first.vcov), index)
    df_num = float(len(index))
    df_den = float(first.n_clusters - 1) if clusters is not None else float(first.n - first.k)

    fitted = first_x @ first_params
    position = terms.index(uptake)  # the endogenous column's place among the terms
    x_actual = np.column_stack([exog_matrix[:, :position], d, exog_matrix[:, position:]])
    x_fitted = np.column_stack([exog_matrix[:, :position], fitted, exog_matrix[:, position:]])
    del first_x, exog_matrix, fitted
    if absorbed is None:
        params = _linearmodels_2sls(
            y, exog, used[uptake].astype(float), used[instruments].astype(float), w
        )
        beta = params[terms].to_numpy()
    else:
        # 2SLS of the demeaned model: y on the demeaned first stage's fitted uptake
        beta = _weighted_least_squares(y, x_fitted, terms, absorbed.weights)
    residuals = y - x_actual @ beta
    codes = None if clusters is None else pd.factorize(clusters)[0]
    vcov, df = robust_vcov(
        x_fitted, residuals, se_type=se_type, clusters=codes, weights=w, absorbed=absorbed
    )
    fit = RegressionFit(
        coefficients=coefficients(terms, beta, vcov, df),
        se_type=se_type,
        n=len(y),
        n_clusters=first.n_clusters,
        k=len(terms) + (0 if absorbed is None else absorbed.n_levels),
        vcov=tuple(tuple(float(v) for v in row) for row in vcov),
    )
    n_per_arm = arm_counts(used, instruments)
    active = used[instruments].sum(axis=1)
    uptake_per_arm = {"control": float(used.loc[active == 0, uptake].mean())}
    uptake_per_arm.update({z: float(used.loc[used[z] == 1, uptake].mean()) for z in instruments})
    return CACEResult(
        outcome=outcome,
        endogenous=uptake,
        instruments=tuple(instruments),
        fit=fit,
        first_stage_f=f_stat,
        first_stage_df=(df_num, df_den),
        first_stage_p_value=float(_f_sf(f_stat, df_num, df_den)),
        weak_instrument=bool(not f_stat >= WEAK_INSTRUMENT_F),
        n=len(y),
        n_per_arm=n_per_arm,
        uptake_per_arm=uptake_per_arm,
        n_dropped=len(data) - len(used),
        dropped_terms=tuple(dropped),
    )
