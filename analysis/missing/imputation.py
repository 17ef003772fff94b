"""Multiple imputation, and Rubin's rules to pool over the imputations.

The second sensitivity analysis for missing outcomes, m = 20 imputations pooled by
Rubin's rules, by one of two imputation models (:data:`IMPUTATION_METHODS`):

- ``chained_bootstrap``: scikit-learn's ``IterativeImputer(sample_posterior=True)``
  fitted to a bootstrap resample per imputation, strata as indicator columns;
- ``normal_absorbed``: Bayesian normal linear regression (Rubin 1987; R mice's
  ``norm``) with the strata's fixed effects absorbed, chained over the incomplete
  columns when there are several.  Its cost grows with rows x columns, not with rows x
  strata, which is what a national trial of 200 organisations needs.

The imputations are made one at a time (an iterator), so a caller that fits each and
keeps its estimates holds one completed copy, not m.  Randomness comes in as ``rng``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, stats
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers IterativeImputer)
from sklearn.impute import IterativeImputer

from common.numbers import json_float
from common.validation import check_choice, require_columns

__all__ = ["IMPUTATION_METHODS", "RubinPooled", "multiple_imputation", "rubin_pool"]

#: The imputation models :func:`multiple_imputation` knows, and what each is.
IMPUTATION_METHODS = {
    "chained_bootstrap": (
        "IterativeImputer (Bayesian ridge, posterior draws) fitted to a bootstrap resample "
        "per imputation, strata as indicator columns"
    ),
    "normal_absorbed": (
        "Bayesian normal linear regression with parameter draws (Rubin 1987; mice's norm), "
        "the strata's fixed effects absorbed"
    ),
}
#: A predictor whose within-stratum sum of squares is below this share of its total sum
#: of squares is collinear with the strata (or the predictors before it) and is left out.
_COLLINEAR = 1e-9


def multiple_imputation(
    data: pd.DataFrame,
    *,
    columns: Sequence[str],
    m: int = 20,
    rng: np.random.Generator,
    max_iter: int = 10,
    strata: str | None = None,
    method: str = "chained_bootstrap",
) -> Iterator[pd.DataFrame]:
    """m completed versions of ``data``, made one at a time, with posterior draws.

    Parameters
    ----------
    data : DataFrame
        One row per randomised individual.
    columns : sequence of str
        Numeric columns of the imputation model.  Their missing values are imputed;
        every column listed is a predictor of the others.  Include the outcome, its
        baseline, the covariates of the analysis model and arm indicators, so that the
        imputations respect the analysis (congeniality).
    m : int
        Number of completed datasets.
    rng : numpy.random.Generator
        Source of each imputation's seed (all m are drawn before the first is made).
    max_iter : int
        Rounds of chained equations per imputation (when more than one column is
        incomplete on the ``normal_absorbed`` path; always on ``chained_bootstrap``).
    strata : str, optional
        A column whose levels each get their own intercept in every imputation model
        (the analysis model's stratum fixed effects); a missing value is a level.
    method : {"chained_bootstrap", "normal_absorbed"}
        The imputation model (:data:`IMPUTATION_METHODS`); see Notes.

    Returns
    -------
    iterator of DataFrame
        m versions of ``data`` (same index and columns), made as they are asked for:
        ``columns`` with gaps come back as float with their gaps filled (on the
        ``chained_bootstrap`` path every one of ``columns`` comes back as float); other
        columns are ``data``'s own, not copied (pandas' copy-on-write).  Arguments are
        checked, and the m seeds drawn from ``rng``, when this is called.

    Notes
    -----
    **chained_bootstrap.**  Each copy is ``IterativeImputer(sample_posterior=True,
    max_iter=max_iter, random_state=s_k)`` fitted to a bootstrap resample of the rows
    and then applied to the data, with the seeds :math:`s_k` drawn from ``rng``; the
    strata enter as indicator columns (the first level left out).  Every round
    regresses each incomplete column on all others by Bayesian ridge regression and
    imputes by a draw from the predictive distribution.  Those draws alone hold the
    regression parameters fixed at one fit, which makes the imputations improper: the
    between-imputation variance misses the parameters' uncertainty and Rubin's rules
    understate the pooled variance.  Fitting each imputation's models to its own
    bootstrap resample draws the parameters too (the bootstrap approximation to
    proper imputation, Little & Rubin 2019, 10.2.3).  Its cost per round is of the
    order of rows x (columns + strata)^2, and each resample is a dense copy of rows x
    (columns + strata): 1.6 GB at a million rows and 200 strata.

    **normal_absorbed.**  Each incomplete column :math:`y` is imputed by Bayesian
    linear regression on the other columns :math:`X` plus one intercept
    :math:`\\delta_s` per stratum, under the flat prior
    :math:`p(\\beta, \\delta, \\sigma^2) \\propto \\sigma^{-2}` (Rubin 1987, p. 167;
    van Buuren 2018, Algorithm 3.1, R mice's ``norm``), with the strata absorbed.
    On the rows where :math:`y` is observed, with :math:`\\tilde X, \\tilde y` the
    deviations from their stratum means (Frisch-Waugh-Lovell):

    .. math:: \\hat\\beta = (\\tilde X'\\tilde X)^{-1}\\tilde X'\\tilde y,\\quad
              \\dot\\sigma^2 = \\frac{\\lVert\\tilde y - \\tilde X\\hat\\beta\\rVert^2}
              {\\chi^2_{n_{obs} - S - k}},\\quad
              \\dot\\beta \\sim N(\\hat\\beta, \\dot\\sigma^2(\\tilde X'\\tilde X)^{-1})

    .. math:: \\dot\\delta_s \\sim N(\\bar y_s - \\bar x_s'\\dot\\beta,\\ \\dot\\sigma^2/n_s),
              \\qquad y_{mis} = x'\\dot\\beta + \\dot\\delta_s + \\dot\\sigma\\varepsilon

    That is the exact joint posterior: under a flat prior the posterior of the
    stratum intercepts given :math:`\\beta` factorises into independent normals.  Every
    step is O(rows x columns); no rows x strata matrix is built.  Predictors collinear
    with the strata (or with earlier predictors) are left out, as mice does.  A
    stratum with no observed :math:`y` gets the observed strata's mean drawn intercept
    (weighted by their counts); a model with stratum fixed effects absorbs any choice.
    When only one column is incomplete (the outcome, as usual) its model is fitted once
    and each imputation draws :math:`(\\dot\\sigma, \\dot\\beta, \\dot\\delta)` afresh, so
    the imputations are proper.  When several are, each imputation starts from random
    draws of each column's observed values and runs ``max_iter`` rounds of chained
    equations (fully conditional specification, van Buuren 2018, Algorithm 4.3), each
    column regressed on the current values of all others.

    Binary columns get continuous draws, which is fine for the linear
    (risk-difference) models used here.

    References
    ----------
    Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley.
    van Buuren, S. (2018). *Flexible Imputation of Missing Data*, 2nd ed. CRC Press.
    Little, R. J. A. and Rubin, D. B. (2019). *Statistical Analysis with Missing Data*,
    3rd ed. Wiley.
    """
    check_choice("method", method, IMPUTATION_METHODS)
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 2:
        raise ValueError(
            f"The number of imputations 'm' must be an integer of at least 2. Got {m!r} instead."
        )
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"The 'max_iter' must be a positive integer. Got {max_iter!r} instead.")
    if len(columns) == 0:
        raise ValueError("The 'columns' must name at least one column. Got none.")
    columns = list(columns)
    require_columns(data, columns if strata is None else [*columns, strata])
    text = [
        c
        for c in columns
        if not (pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]))
    ]
    if text:
        raise ValueError(
            f"The imputation columns {text} are not numeric. Code them as indicators first."
        )
    empty = [c for c in columns if data[c].isna().all()]
    if empty:
        raise ValueError(f"The imputation columns {empty} have no observed values to impute from.")
    values = data[columns].to_numpy(dtype=float, na_value=np.nan)
    infinite = [c for c, bad in zip(columns, np.isinf(values).any(axis=0), strict=True) if bad]
    if infinite:
        raise ValueError(
            f"The imputation columns {infinite} hold infinite values. Replace them with "
            "missing values (NaN) to have them imputed, or with finite ones."
        )
    seeds = rng.integers(0, 2**31 - 1, size=int(m))
    if method == "chained_bootstrap":
        if strata is not None:
            indicators = pd.get_dummies(
                data[strata].astype(str), prefix="_stratum", drop_first=True, dtype=float
            )
            values = np.column_stack([values, indicators.to_numpy()])
        return _chained_bootstrap(data, columns, values, seeds, int(max_iter))
    codes, levels = (
        (np.zeros(len(data), dtype=np.intp), 1) if strata is None else _stratum_codes(data[strata])
    )
    missing = np.isnan(values)
    incomplete = np.flatnonzero(missing.any(axis=0))
    if incomplete.size == 1:
        # the predictors are complete: one fit serves every imputation, which differ by
        # their posterior draws of the parameters and the noise (fitted now, so an
        # impossible model is refused here, not at the first imputation)
        fit = _within_fit(
            values, codes, levels, int(incomplete[0]), ~missing[:, incomplete[0]], columns
        )
        return _normal_absorbed_once(data, columns, values, codes, fit, seeds)
    for j in incomplete:
        _check_residual_df(~missing[:, j], codes, levels, values.shape[1] - 1, columns[j])
    return _normal_absorbed_chained(data, columns, values, codes, levels, seeds, int(max_iter))


def _chained_bootstrap(
    data: pd.DataFrame, columns: list[str], values: np.ndarray, seeds: np.ndarray, max_iter: int
) -> Iterator[pd.DataFrame]:
    """The ``chained_bootstrap`` imputations, one per seed (see :func:`multiple_imputation`)."""
    incomplete = np.isnan(values).any(axis=0)
    for seed in seeds:
        sample = _bootstrap_sample(values, np.random.default_rng(int(seed)))
        imputer = IterativeImputer(
            sample_posterior=True,
            max_iter=max_iter,
            random_state=int(seed),
            # complete columns have nothing to impute, so fitting a model for each (the
            # default) only multiplies the cost; but a column with gaps in the data must
            # get its model even if the resample happens to hold none of them
            skip_complete=bool((np.isnan(sample).any(axis=0) == incomplete).all()),
        )
        filled = imputer.fit(sample).transform(values)
        yield data.assign(**{column: filled[:, j] for j, column in enumerate(columns)})


def _bootstrap_sample(values: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """Rows resampled with replacement, redrawn while a column has no observed value."""
    for _ in range(100):
        sample = values[generator.integers(0, len(values), len(values))]
        if not np.isnan(sample).all(axis=0).any():
            return sample
    raise ValueError(
        "A column of the imputation model has too few observed values to resample. "
        f"Got {int((~np.isnan(values)).sum(axis=0).min())} observed values in its sparsest column."
    )


def _stratum_codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """0-based codes of the strata (a missing value is a level of its own) and their number."""
    codes, levels = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.intp, copy=False), len(levels)


def _check_residual_df(
    observed: np.ndarray, codes: np.ndarray, levels: int, predictors: int, column: str
) -> None:
    """Refuse a model of ``column`` with fewer observed values than parameters."""
    count = np.bincount(codes[observed], minlength=levels)
    df = int(observed.sum() - (count > 0).sum() - predictors)
    if df < 1:
        raise ValueError(
            f"The imputation model of '{column}' has no residual degrees of freedom: "
            f"{int(observed.sum())} observed values for {int((count > 0).sum())} stratum "
            f"intercept(s) and {predictors} predictor(s). Use fewer strata or predictors. "
            f"Got {df} residual degrees of freedom instead."
        )


@dataclass(frozen=True)
class _WithinFit:
    """Least squares of one column on the others with an intercept per stratum.

    ``kept`` marks the predictors used (the others are collinear with the strata or
    with earlier predictors); ``root`` is the upper Cholesky factor of their
    within-stratum cross-product; ``df`` the residual degrees of freedom; the means
    and counts are per stratum, over the rows where the column is observed.
    """

    kept: np.ndarray
    beta: np.ndarray
    root: np.ndarray
    rss: float
    df: int
    y_mean: np.ndarray
    x_mean: np.ndarray
    count: np.ndarray


def _within_fit(
    values: np.ndarray,
    codes: np.ndarray,
    levels: int,
    target: int,
    rows: np.ndarray,
    columns: Sequence[str],
) -> _WithinFit:
    """Regress column ``target`` on the others over ``rows``, strata absorbed (O(rows x columns))."""
    y = values[rows, target]
    x = np.delete(values[rows], target, axis=1)
    group = codes[rows]
    count = np.bincount(group, minlength=levels).astype(float)
    per = np.where(count > 0, count, 1.0)
    y_mean = np.bincount(group, weights=y, minlength=levels) / per
    x_mean = np.empty((levels, x.shape[1]))
    for j in range(x.shape[1]):
        x_mean[:, j] = np.bincount(group, weights=x[:, j], minlength=levels) / per
    x_dev = x - x_mean[group]
    y_dev = y - y_mean[group]
    gram = x_dev.T @ x_dev
    total = ((x - x.mean(axis=0)) ** 2).sum(axis=0)
    kept = np.zeros(x.shape[1], dtype=bool)
    for j in range(x.shape[1]):
        # the part of predictor j that the strata and the predictors kept so far leave
        k = np.flatnonzero(kept)
        left = gram[j, j] - (
            gram[j, k] @ np.linalg.solve(gram[np.ix_(k, k)], gram[k, j]) if k.size else 0.0
        )
        kept[j] = total[j] > 0 and left > _COLLINEAR * total[j]
    _check_residual_df(rows, codes, levels, int(kept.sum()), columns[target])
    df = int(rows.sum() - (count > 0).sum() - kept.sum())
    gram = gram[np.ix_(kept, kept)]
    root = linalg.cholesky(gram, lower=False) if kept.any() else np.empty((0, 0))
    beta = linalg.cho_solve((root, False), x_dev[:, kept].T @ y_dev) if kept.any() else np.empty(0)
    residual = y_dev - x_dev[:, kept] @ beta
    return _WithinFit(
        kept=kept,
        beta=beta,
        root=root,
        rss=float(residual @ residual),
        df=df,
        y_mean=y_mean,
        x_mean=x_mean[:, kept],
        count=count,
    )


def _draw_parameters(
    fit: _WithinFit, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float]:
    """One draw of (beta, stratum intercepts, sigma) from the flat-prior posterior."""
    sigma = math.sqrt(fit.rss / generator.chisquare(fit.df))
    # R'R = X~'X~, so R^{-1} z has covariance (X~'X~)^{-1}
    beta = fit.beta + sigma * linalg.solve_triangular(
        fit.root, generator.standard_normal(fit.beta.size), lower=False
    )
    seen = fit.count > 0
    noise = generator.standard_normal(fit.count.size) / np.sqrt(np.where(seen, fit.count, 1.0))
    intercept = fit.y_mean - fit.x_mean @ beta + sigma * noise
    intercept[~seen] = np.average(intercept[seen], weights=fit.count[seen])
    return beta, intercept, sigma


def _predictive_draws(
    fit: _WithinFit, x: np.ndarray, group: np.ndarray, generator: np.random.Generator
) -> np.ndarray:
    """Imputations for rows with predictors ``x`` in strata ``group``, from one posterior draw."""
    beta, intercept, sigma = _draw_parameters(fit, generator)
    return x[:, fit.kept] @ beta + intercept[group] + sigma * generator.standard_normal(len(group))


def _normal_absorbed_once(
    data: pd.DataFrame,
    columns: list[str],
    values: np.ndarray,
    codes: np.ndarray,
    fit: _WithinFit,
    seeds: np.ndarray,
) -> Iterator[pd.DataFrame]:
    """``normal_absorbed`` with one incomplete column: ``fit`` is its model, fitted once."""
    target = int(np.flatnonzero(np.isnan(values).any(axis=0))[0])
    gaps = np.isnan(values[:, target])
    x, group = np.delete(values[gaps], target, axis=1), codes[gaps]
    for seed in seeds:
        column = values[:, target].copy()
        column[gaps] = _predictive_draws(fit, x, group, np.random.default_rng(int(seed)))
        yield data.assign(**{columns[target]: column})


def _normal_absorbed_chained(
    data: pd.DataFrame,
    columns: list[str],
    values: np.ndarray,
    codes: np.ndarray,
    levels: int,
    seeds: np.ndarray,
    max_iter: int,
) -> Iterator[pd.DataFrame]:
    """``normal_absorbed`` with no or several incomplete columns: chained equations."""
    missing = np.isnan(values)
    incomplete = np.flatnonzero(missing.any(axis=0))
    for seed in seeds:
        generator = np.random.default_rng(int(seed))
        filled = values.copy()
        for j in incomplete:  # start from random draws of each column's observed values
            gaps = missing[:, j]
            filled[gaps, j] = generator.choice(values[~gaps, j], size=int(gaps.sum()))
        for _ in range(max_iter if incomplete.size else 0):
            for j in incomplete:
                gaps = missing[:, j]
                fit = _within_fit(filled, codes, levels, j, ~gaps, columns)
                x = np.delete(filled[gaps], j, axis=1)
                filled[gaps, j] = _predictive_draws(fit, x, codes[gaps], generator)
        yield data.assign(**{columns[j]: filled[:, j] for j in incomplete})


@dataclass(frozen=True)
class RubinPooled:
    """An estimate pooled over m imputations by Rubin's rules.

    ``within_variance`` is :math:`\\bar W`, ``between_variance`` :math:`B` and
    ``total_variance`` :math:`T`; ``riv`` is the relative increase in variance due to
    missing data, ``lambda_`` the proportion of :math:`T` due to it, and ``fmi`` the
    fraction of missing information (as R's mice reports it).  ``df_method`` says
    whether ``df`` is Barnard-Rubin or Rubin's (1987) classic; an infinite df means a
    normal reference distribution.
    """

    estimate: float
    std_error: float
    df: float
    df_method: str
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    confidence: float
    m: int
    within_variance: float
    between_variance: float
    total_variance: float
    riv: float
    lambda_: float
    fmi: float
    df_complete: float | None

    def to_dict(self) -> dict:
        """JSON-safe dict: infinite df and NaN become None."""
        out: dict = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, str):
                out[name] = value
            elif name == "m":
                out[name] = int(value)
            else:
                out[name] = json_float(value)
        return out


def rubin_pool(
    estimates: Sequence[float] | np.ndarray,
    variances: Sequence[float] | np.ndarray,
    *,
    df_complete: float | None = None,
    confidence: float = 0.95,
) -> RubinPooled:
    """Pool one estimate over m imputations by Rubin's rules.

    Parameters
    ----------
    estimates : array-like
        The estimate from each completed dataset (m >= 2).
    variances : array-like
        Its squared standard error from each completed dataset.
    df_complete : float, optional
        Residual degrees of freedom the analysis would have without missing data (e.g.
        N - K, or the CR2 df).  When given, the Barnard-Rubin small-sample df is used;
        otherwise Rubin's (1987) classic df.
    confidence : float
        Confidence level of the interval.

    Returns
    -------
    RubinPooled

    Notes
    -----
    .. math:: \\bar Q = \\frac{1}{m}\\sum_k \\hat Q_k,\\quad
              \\bar W = \\frac{1}{m}\\sum_k U_k,\\quad
              B = \\frac{1}{m-1}\\sum_k (\\hat Q_k - \\bar Q)^2,\\quad
              T = \\bar W + (1 + 1/m) B

    .. math:: r = \\frac{(1 + 1/m) B}{\\bar W},\\quad
              \\lambda = \\frac{(1 + 1/m) B}{T},\\quad
              \\nu_{old} = \\frac{m - 1}{\\lambda^2}

    With :math:`\\nu_{com}` = ``df_complete`` (Barnard & Rubin 1999):

    .. math:: \\nu_{obs} = \\frac{\\nu_{com} + 1}{\\nu_{com} + 3}\\,\\nu_{com}(1 - \\lambda),\\qquad
              \\nu = \\frac{\\nu_{old}\\,\\nu_{obs}}{\\nu_{old} + \\nu_{obs}},

    else :math:`\\nu = \\nu_{old}`.  When :math:`B = 0`, :math:`\\nu_{old}` is infinite
    and :math:`\\nu` is its limit (:math:`\\nu_{obs}`, or infinite).  The fraction of
    missing information is :math:`(r + 2/(\\nu + 3))/(r + 1)`, as in R's mice.  The
    test statistic :math:`\\bar Q / \\sqrt T` is referred to :math:`t_\\nu`, and the
    interval is :math:`\\bar Q \\pm t_{\\nu, 1-\\alpha/2}\\sqrt T`.

    References
    ----------
    Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley.
    Barnard, J. and Rubin, D. B. (1999). Small-sample degrees of freedom with multiple
    imputation. *Biometrika*, 86, 948-955.
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim != 1 or u.shape != q.shape:
        raise ValueError(
            "The 'estimates' and 'variances' must be one-dimensional and of equal length. "
            f"Got shapes {q.shape} and {u.shape} instead."
        )
    m = q.size
    if m < 2:
        raise ValueError(f"Rubin's rules need at least 2 imputations. Got {m} instead.")
    if not np.isfinite(q).all():
        raise ValueError("The 'estimates' must all be finite. Got a missing or infinite value.")
    if not (np.isfinite(u).all() and (u >= 0).all()):
        raise ValueError("The 'variances' must all be finite and non-negative.")
    if df_complete is not None and not (
        isinstance(df_complete, numbers.Real)
        and df_complete > 0
        and not isinstance(df_complete, bool)
    ):
        raise ValueError(
            f"The 'df_complete' must be a positive number. Got {df_complete!r} instead."
        )
    if not (isinstance(confidence, numbers.Real) and 0 < confidence < 1):
        raise ValueError(
            f"The 'confidence' must be strictly between 0 and 1. Got {confidence!r} instead."
        )

    q_bar = float(q.mean())
    w_bar = float(u.mean())
    b = float(q.var(ddof=1))
    inflation = (1 + 1 / m) * b
    t = w_bar + inflation
    if t <= 0:
        raise ValueError(
            "The pooled variance is 0: every estimate and variance is the same and zero."
        )
    riv = inflation / w_bar if w_bar > 0 else math.inf
    lam = inflation / t
    df_old = (m - 1) / lam**2 if lam > 0 else math.inf
    if df_complete is None:
        df, df_method = df_old, "rubin-1987"
    else:
        df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
        df = df_obs if math.isinf(df_old) else df_old * df_obs / (df_old + df_obs)
        df_method = "barnard-rubin"
    fmi = (riv + 2 / (df + 3)) / (riv + 1) if math.isfinite(riv) else 1.0
    reference = stats.norm() if math.isinf(df) else stats.t(df)
    se = math.sqrt(t)
    statistic = q_bar / se
    half_width = float(reference.ppf(0.5 + confidence / 2)) * se
    return RubinPooled(
        estimate=q_bar,
        std_error=se,
        df=float(df),
        df_method=df_method,
        statistic=statistic,
        p_value=float(2 * reference.sf(abs(statistic))),
        ci_low=q_bar - half_width,
        ci_high=q_bar + half_width,
        confidence=float(confidence),
        m=m,
        within_variance=w_bar,
        between_variance=b,
        total_variance=t,
        riv=riv,
        lambda_=lam,
        fmi=fmi,
        df_complete=None if df_complete is None else float(df_complete),
    )
