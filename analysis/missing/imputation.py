"""Multiple imputation by chained equations, and Rubin's rules to pool over the imputations.

The second sensitivity analysis for missing outcomes: scikit-learn's
``IterativeImputer(sample_posterior=True)``, m = 20, pooled by Rubin's rules.  Randomness
comes in as ``rng``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers IterativeImputer)
from sklearn.impute import IterativeImputer

from common.numbers import json_float
from common.validation import require_columns

__all__ = ["RubinPooled", "multiple_imputation", "rubin_pool"]


def multiple_imputation(
    data: pd.DataFrame,
    *,
    columns: Sequence[str],
    m: int = 20,
    rng: np.random.Generator,
    max_iter: int = 10,
) -> list[pd.DataFrame]:
    """m completed copies of ``data`` by chained equations with posterior draws.

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
        Source of each imputation's seed.
    max_iter : int
        Rounds of chained equations per imputation.

    Returns
    -------
    list of DataFrame
        m copies of ``data`` (same index and columns); ``columns`` are float with their
        gaps filled, all other columns are untouched.

    Notes
    -----
    Each copy is ``IterativeImputer(sample_posterior=True, max_iter=max_iter,
    random_state=s_k)`` fitted to a bootstrap resample of the rows and then applied
    to the data, with the seeds :math:`s_k` drawn from ``rng``.  Every round regresses
    each incomplete column on all others by Bayesian ridge regression and imputes by
    a draw from the predictive distribution.  Those draws alone hold the regression
    parameters fixed at one fit, which makes the imputations improper: the
    between-imputation variance misses the parameters' uncertainty and Rubin's
    rules understate the pooled variance.  Fitting each imputation's models to its
    own bootstrap resample draws the parameters too (the bootstrap approximation to
    proper imputation, Little & Rubin 2019, 10.2.3), so the m copies differ by
    the uncertainty Rubin's rules (:func:`rubin_pool`) need.  Binary columns get
    continuous draws, which is fine for the linear (risk-difference) models used here.
    """
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 2:
        raise ValueError(
            f"The number of imputations 'm' must be an integer of at least 2. Got {m!r} instead."
        )
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"The 'max_iter' must be a positive integer. Got {max_iter!r} instead.")
    if len(columns) == 0:
        raise ValueError("The 'columns' must name at least one column. Got none.")
    require_columns(data, columns)
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
    values = data[list(columns)].to_numpy(dtype=float, na_value=np.nan)
    incomplete = np.isnan(values).any(axis=0)
    seeds = rng.integers(0, 2**31 - 1, size=int(m))
    completed = []
    for seed in seeds:
        sample = _bootstrap_sample(values, np.random.default_rng(int(seed)))
        imputer = IterativeImputer(
            sample_posterior=True,
            max_iter=int(max_iter),
            random_state=int(seed),
            # complete columns have nothing to impute, so fitting a model for each (the
            # default) only multiplies the cost; but a column with gaps in the data must
            # get its model even if the resample happens to hold none of them
            skip_complete=bool((np.isnan(sample).any(axis=0) == incomplete).all()),
        )
        filled = imputer.fit(sample).transform(values)
        copy = data.copy()
        for j, column in enumerate(columns):
            copy[column] = filled[:, j]
        completed.append(copy)
    return completed


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
