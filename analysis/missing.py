"""Missing outcome data: attrition by arm, and the two sensitivity analyses.

Endline attrition in these trials runs at 20-40%.  The primary analysis uses
complete cases with baseline adjustment (valid when response depends only on the
adjusted covariates); the sensitivity analyses relax that in two ways:

- inverse-probability weighting, with a scikit-learn logistic model of response on
  baseline covariates and arm;
- multiple imputation by chained equations with scikit-learn's
  ``IterativeImputer(sample_posterior=True)``, m = 20, pooled by Rubin's rules.

Everything here is pure: randomness comes in as ``rng``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers IterativeImputer)
from sklearn.impute import IterativeImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from analysis.balance import COVARIATE_MISSING, _covariate_matrix, _require_columns

__all__ = [
    "ATTRITION_TESTS",
    "COVARIATE_MISSING",
    "AttritionTest",
    "IPWResult",
    "RubinPooled",
    "attrition_table",
    "differential_attrition_test",
    "ipw_weights",
    "multiple_imputation",
    "rubin_pool",
]

#: Tests of differential attrition.
ATTRITION_TESTS: dict[str, str] = {
    "auto": "Fisher's exact test when any expected count is below 5, else Pearson's chi-square",
    "chi-square": "Pearson's chi-square test of arm by response, no continuity correction",
    "fisher": "Fisher's exact test (exact enumeration of the arms x 2 table)",
}

# Cochran's rule: the chi-square approximation is trusted when every expected count is >= 5.
_MIN_EXPECTED = 5.0
# R's fisher.test counts tables whose probability is within this relative margin of the
# observed one as "as extreme", so that floating-point ties are not lost.
_FISHER_RELATIVE_TOLERANCE = 1e-7
# Exact enumeration is abandoned beyond this many tables (memory ~ 16 bytes per table).
_FISHER_MAX_TABLES = 20_000_000


def _json_float(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _check_choice(name: str, value: str, table: dict[str, str]) -> None:
    if value not in table:
        raise ValueError(
            f"The '{name}' '{value}' is not known. Choose one of: {', '.join(table)}. "
            f"Got '{value}' instead."
        )


def _response_indicator(data: pd.DataFrame, responded: str) -> np.ndarray:
    _require_columns(data, [responded])
    values = data[responded]
    if values.isna().any():
        raise ValueError(
            f"The response column '{responded}' must have no missing values: every randomised "
            f"individual either responded or not. Got {int(values.isna().sum())} missing."
        )
    numeric = values.to_numpy(dtype=float)
    if not np.isin(numeric, [0.0, 1.0]).all():
        raise ValueError(
            f"The response column '{responded}' must be boolean or 0/1. "
            f"Got values {sorted(set(numeric.tolist()) - {0.0, 1.0})[:5]}."
        )
    return numeric.astype(bool)


def _arm_labels(data: pd.DataFrame, arm: str) -> pd.Series:
    _require_columns(data, [arm])
    labels = data[arm]
    if labels.isna().any():
        raise ValueError(
            f"The arm column '{arm}' must have no missing values. Got {int(labels.isna().sum())} missing."
        )
    return labels


# ---------------------------------------------------------------------------
# Attrition
# ---------------------------------------------------------------------------
def attrition_table(data: pd.DataFrame, *, arm: str, responded: str) -> pd.DataFrame:
    """Randomised, responded and lost to follow-up, per arm.

    Parameters
    ----------
    data : DataFrame
        One row per randomised individual (the ITT denominator).
    arm : str
        Column of arm labels.
    responded : str
        Boolean or 0/1 column: 1 when the outcome was observed.

    Returns
    -------
    DataFrame
        One row per arm in sorted order with columns ``arm``, ``randomised``,
        ``responded``, ``lost`` and ``percent_lost`` (100 lost / randomised).
    """
    labels = _arm_labels(data, arm)
    response = _response_indicator(data, responded)
    counts = (
        pd.DataFrame({"arm": labels.to_numpy(), "responded": response})
        .groupby("arm", sort=True)["responded"]
        .agg(randomised="size", responded="sum")
        .reset_index()
    )
    counts["randomised"] = counts["randomised"].astype(int)
    counts["responded"] = counts["responded"].astype(int)
    counts["lost"] = counts["randomised"] - counts["responded"]
    counts["percent_lost"] = 100.0 * counts["lost"] / counts["randomised"]
    return counts[["arm", "randomised", "responded", "lost", "percent_lost"]]


@dataclass(frozen=True)
class AttritionTest:
    """Test of whether loss to follow-up differs between arms.

    ``statistic`` and ``df`` are the chi-square statistic and its degrees of freedom,
    or None for Fisher's test; ``min_expected`` is the smallest expected count, which
    decides between the two under ``method="auto"``.
    """

    method: str
    p_value: float
    statistic: float | None
    df: int | None
    min_expected: float
    n: int
    arms: tuple[str, ...]
    responded: tuple[int, ...]
    lost: tuple[int, ...]

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        return {
            "method": self.method,
            "p_value": _json_float(self.p_value),
            "statistic": _json_float(self.statistic),
            "df": None if self.df is None else int(self.df),
            "min_expected": _json_float(self.min_expected),
            "n": int(self.n),
            "arms": [str(a) for a in self.arms],
            "responded": [int(v) for v in self.responded],
            "lost": [int(v) for v in self.lost],
        }


def _log_choose(n: np.ndarray | int, k: np.ndarray | int) -> np.ndarray:
    return (
        gammaln(np.asarray(n) + 1.0)
        - gammaln(np.asarray(k) + 1.0)
        - gammaln(np.asarray(n) - np.asarray(k) + 1.0)
    )


def _fisher_exact_rx2(row_totals: np.ndarray, column: np.ndarray) -> float:
    """Two-sided Fisher p-value for an R x 2 table, by enumerating every table.

    ``column`` holds one column's counts; the table's probability given both margins is
    :math:`\\prod_i \\binom{r_i}{x_i} / \\binom{N}{c}`.  The smaller column is
    enumerated, which gives the same p-value with fewer tables.
    """
    row_totals = np.asarray(row_totals, dtype=np.int64)
    column = np.asarray(column, dtype=np.int64)
    total = int(row_totals.sum())
    if 2 * int(column.sum()) > total:
        column = row_totals - column
    c = int(column.sum())
    log_observed = float(_log_choose(row_totals, column).sum())
    # capacity of the rows after each one, to keep only partial tables that can still reach c
    capacity_after = np.concatenate([np.cumsum(row_totals[::-1])[::-1][1:], [0]])
    sums = np.zeros(1, dtype=np.int64)
    log_p = np.zeros(1)
    for r_i, after in zip(row_totals[:-1], capacity_after[:-1], strict=True):
        x = np.arange(min(int(r_i), c) + 1)
        new_sums = sums[:, None] + x[None, :]
        feasible = (new_sums <= c) & (new_sums + after >= c)
        log_p = (log_p[:, None] + _log_choose(int(r_i), x)[None, :])[feasible]
        sums = new_sums[feasible]
        if sums.size > _FISHER_MAX_TABLES:
            raise ValueError(
                f"Fisher's exact test would enumerate more than {_FISHER_MAX_TABLES:,} tables. "
                "Use method='chi-square' for a table this large."
            )
    log_p = log_p + _log_choose(int(row_totals[-1]), c - sums)
    log_p -= float(_log_choose(total, c))
    log_observed -= float(_log_choose(total, c))
    extreme = log_p <= log_observed + math.log1p(_FISHER_RELATIVE_TOLERANCE)
    return float(min(1.0, np.exp(log_p[extreme]).sum()))


def differential_attrition_test(
    data: pd.DataFrame, *, arm: str, responded: str, method: str = "auto"
) -> AttritionTest:
    """Does loss to follow-up differ between arms?  Chi-square, or Fisher for small counts.

    Parameters
    ----------
    data : DataFrame
        One row per randomised individual.
    arm : str
        Column of arm labels (two or more arms).
    responded : str
        Boolean or 0/1 column: 1 when the outcome was observed.
    method : {"auto", "chi-square", "fisher"}
        See :data:`ATTRITION_TESTS`.

    Returns
    -------
    AttritionTest

    Notes
    -----
    The table is arms x (responded, lost), with expected counts
    :math:`E_{ij} = r_i c_j / N`.  Pearson's statistic is
    :math:`X^2 = \\sum (O_{ij} - E_{ij})^2 / E_{ij}` on (arms - 1) df, without Yates'
    continuity correction (Fisher's test takes over exactly where the correction
    matters).  Fisher's test conditions on both margins and sums the hypergeometric
    probabilities of every table no more probable than the observed one (with R's
    relative tolerance of 1e-7), which is R's ``fisher.test`` two-sided p-value for
    any number of arms.  ``"auto"`` uses Fisher's test when any expected count is
    below 5 (Cochran's rule).  When nobody or everybody responded there is nothing to
    test and the p-value is 1.
    """
    _check_choice("method", method, ATTRITION_TESTS)
    counts = attrition_table(data, arm=arm, responded=responded)
    if len(counts) < 2:
        raise ValueError(
            f"The arm column '{arm}' needs at least 2 arms to compare attrition. "
            f"Got {counts['arm'].tolist()} instead."
        )
    table = counts[["responded", "lost"]].to_numpy(dtype=float)
    n = int(table.sum())
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    min_expected = float(expected.min())
    chosen = (
        ("fisher" if min_expected < _MIN_EXPECTED else "chi-square") if method == "auto" else method
    )
    statistic: float | None = None
    df: int | None = None
    if (table.sum(axis=0) == 0).any():
        p_value = 1.0
        if chosen == "chi-square":
            statistic, df = 0.0, len(counts) - 1
    elif chosen == "chi-square":
        statistic = float(((table - expected) ** 2 / expected).sum())
        df = len(counts) - 1
        p_value = float(stats.chi2.sf(statistic, df))
    else:
        p_value = _fisher_exact_rx2(counts["randomised"].to_numpy(), counts["lost"].to_numpy())
    return AttritionTest(
        method=chosen,
        p_value=p_value,
        statistic=statistic,
        df=df,
        min_expected=min_expected,
        n=n,
        arms=tuple(str(a) for a in counts["arm"]),
        responded=tuple(int(v) for v in counts["responded"]),
        lost=tuple(int(v) for v in counts["lost"]),
    )


# ---------------------------------------------------------------------------
# Inverse-probability weighting
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class IPWResult:
    """Inverse-probability-of-response weights and the response model behind them.

    ``weights`` (index of the input data) is 0 for non-responders, so it can be passed
    straight to a weighted fit of the complete cases.  ``propensity`` is the fitted
    probability of response for everyone.  ``auc`` is the response model's in-sample
    AUC: near 0.5, response is unrelated to the covariates and IPW changes little.
    """

    weights: pd.Series = field(repr=False, compare=False)
    propensity: pd.Series = field(repr=False, compare=False)
    auc: float
    n: int
    n_responded: int
    stabilised: bool
    trim_percentile: float | None
    trim_threshold: float | None
    n_trimmed: int
    min_weight: float
    max_weight: float
    effective_sample_size: float
    model_terms: tuple[str, ...]

    def to_dict(self) -> dict:
        """JSON-safe summary (the per-row weights are left out)."""
        return {
            "auc": _json_float(self.auc),
            "n": int(self.n),
            "n_responded": int(self.n_responded),
            "stabilised": bool(self.stabilised),
            "trim_percentile": _json_float(self.trim_percentile),
            "trim_threshold": _json_float(self.trim_threshold),
            "n_trimmed": int(self.n_trimmed),
            "min_weight": _json_float(self.min_weight),
            "max_weight": _json_float(self.max_weight),
            "effective_sample_size": _json_float(self.effective_sample_size),
            "model_terms": list(self.model_terms),
        }


def ipw_weights(
    data: pd.DataFrame,
    *,
    responded: str,
    covariates: Sequence[str],
    arm: str,
    stabilised: bool = False,
    trim_percentile: float | None = None,
    covariate_missing: str = "indicator",
) -> IPWResult:
    """Inverse-probability-of-response weights from a logistic model of response.

    Parameters
    ----------
    data : DataFrame
        One row per randomised individual.
    responded : str
        Boolean or 0/1 column: 1 when the outcome was observed.
    covariates : sequence of str
        Baseline covariates of the response model.  Text columns are dummy-coded;
        missing values follow ``covariate_missing`` (see :data:`COVARIATE_MISSING`).
    arm : str
        Column of arm labels; arm always enters the model, so response may differ by
        arm.
    stabilised : bool
        Multiply each weight by the observed response rate in its arm, so that the
        weights of each arm's responders sum to about their number.
    trim_percentile : float, optional
        Declared percentile (in (50, 100]) of the responders' weights above which
        weights are set to that percentile.  None leaves the weights as they are.
    covariate_missing : {"indicator", "error"}
        How missing covariate values are handled.

    Returns
    -------
    IPWResult

    Notes
    -----
    The response model is an unpenalised logistic regression (scikit-learn,
    ``C=inf``, Newton-Cholesky solver) of :math:`R_i` on the standardised covariates
    and arm indicators, i.e. the maximum-likelihood fit, giving :math:`\\hat p_i`.
    Responders get

    .. math:: w_i = \\frac{1}{\\hat p_i}\\quad\\text{or, stabilised,}\\quad
              w_i = \\frac{\\hat P(R = 1 \\mid \\text{arm}_i)}{\\hat p_i},

    non-responders get 0.  Trimming at percentile :math:`q` replaces
    :math:`w_i` by :math:`\\min(w_i, w_{(q)})`, with :math:`w_{(q)}` the q-th
    percentile of responders' weights (linear interpolation).  The effective sample
    size is Kish's :math:`(\\sum w_i)^2 / \\sum w_i^2` over responders.
    """
    response = _response_indicator(data, responded)
    labels = _arm_labels(data, arm)
    if trim_percentile is not None and not (
        isinstance(trim_percentile, numbers.Real) and 50 < trim_percentile <= 100
    ):
        raise ValueError(
            f"The 'trim_percentile' must lie in (50, 100]. Got {trim_percentile!r} instead."
        )
    n_responded = int(response.sum())
    if n_responded in (0, len(response)):
        raise ValueError(
            f"The response column '{responded}' must contain both responders and non-responders "
            f"to model response. Got {n_responded} responders out of {len(response)}."
        )
    x, names = _covariate_matrix(data, covariates, missing=covariate_missing)
    arm_dummies = pd.get_dummies(labels.astype(str), drop_first=True, dtype=float)
    arm_columns = arm_dummies.to_numpy()
    arm_columns = (arm_columns - arm_columns.mean(axis=0)) / np.where(
        arm_columns.std(axis=0) > 0, arm_columns.std(axis=0), 1.0
    )
    design = np.column_stack([x, arm_columns])
    terms = (*names, *(f"{arm}={level}" for level in arm_dummies.columns))
    model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10, max_iter=200)
    with warnings.catch_warnings():
        # separation shows up as fitted probabilities of 0 or 1, which are refused below
        warnings.simplefilter("ignore", ConvergenceWarning)
        propensity = model.fit(design, response).predict_proba(design)[:, 1]
    if (propensity[response] <= 0).any():
        raise ValueError(
            "The response model predicts a probability of 0 for a responder (perfect separation). "
            "Use fewer or coarser covariates."
        )
    weights = np.zeros(len(response))
    weights[response] = 1.0 / propensity[response]
    if stabilised:
        rate = pd.Series(response).groupby(labels.to_numpy()).transform("mean").to_numpy()
        weights[response] *= rate[response]
    threshold = None
    n_trimmed = 0
    if trim_percentile is not None:
        threshold = float(np.percentile(weights[response], trim_percentile))
        n_trimmed = int((weights[response] > threshold).sum())
        weights[response] = np.minimum(weights[response], threshold)
    responder_weights = weights[response]
    return IPWResult(
        weights=pd.Series(weights, index=data.index, name="ipw_weight"),
        propensity=pd.Series(propensity, index=data.index, name="response_probability"),
        auc=float(roc_auc_score(response, propensity)),
        n=len(response),
        n_responded=n_responded,
        stabilised=bool(stabilised),
        trim_percentile=None if trim_percentile is None else float(trim_percentile),
        trim_threshold=threshold,
        n_trimmed=n_trimmed,
        min_weight=float(responder_weights.min()),
        max_weight=float(responder_weights.max()),
        effective_sample_size=float(responder_weights.sum() ** 2 / (responder_weights**2).sum()),
        model_terms=terms,
    )


# ---------------------------------------------------------------------------
# Multiple imputation
# ---------------------------------------------------------------------------
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
    _require_columns(data, columns)
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


# ---------------------------------------------------------------------------
# Rubin's rules
# ---------------------------------------------------------------------------
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
                out[name] = _json_float(value)
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
