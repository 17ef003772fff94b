"""Standardised effect sizes (Hedges' g) and the intra-cluster correlation.

Conventions, chosen so that trialflow's effect sizes sit beside EEF and What Works
Clearinghouse reports:

- Hedges' g is Cohen's d times the small-sample factor
  :math:`J = 1 - 3/(4(n_T + n_C) - 9)` by default (Hedges 1981's approximation, used
  by the WWC, the EEF and R's ``esc``); the exact gamma form is available as
  ``correction="exact"``.  The two differ by less than 0.001 once n > 10.
- Individually randomised trials standardise by the pooled within-arm SD.
- Cluster trials standardise by the total (unconditional) SD, within-cluster plus
  between-cluster variance (the EEF convention), and widen the standard error by
  Hedges (2007)'s variance for :math:`d_T`, whose leading term is the naive variance
  times the design effect :math:`1 + (n - 1)\\rho`.
- The ICC is the one-way ANOVA estimator with the unbalanced-design cluster size
  :math:`n_0`, truncated at 0, with the F-based (Searle) interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from common.numbers import json_value
from common.validation import check_choice, check_count, check_positive_finite

__all__ = [
    "CORRECTIONS",
    "EffectSize",
    "ICCResult",
    "hedges_g",
    "hedges_g_from_estimate",
    "icc_oneway",
]

#: Small-sample corrections for Hedges' g: what each one computes.
CORRECTIONS: dict[str, str] = {
    "approximate": "J = 1 - 3 / (4 (n_T + n_C) - 9) (Hedges 1981; WWC, EEF, R esc)",
    "exact": "J = Gamma(v/2) / (sqrt(v/2) Gamma((v-1)/2)), v = n_T + n_C - 2 (Hedges 1981)",
}


@dataclass(frozen=True)
class EffectSize:
    """Hedges' g with its standard error and confidence interval.

    ``cohens_d`` is the uncorrected standardised difference and ``correction_factor``
    the J that turns it into g.  ``se_method`` says where the SE came from:
    ``"hedges"`` (the individual-trial formula), ``"hedges2007"`` (cluster design) or
    ``"model"`` (the model's own SE of the estimate, rescaled).
    """

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    confidence: float
    cohens_d: float
    correction_factor: float
    correction: str
    mean_difference: float
    standardiser: str
    standardiser_sd: float
    n_treat: int
    n_control: int
    se_method: str
    design_effect: float
    icc: float | None = None
    cluster_size: float | None = None
    df: float | None = None

    def to_dict(self) -> dict:
        """JSON-safe dict: plain floats and ints, NaN and infinities as None."""
        return {name: json_value(value) for name, value in asdict(self).items()}


@dataclass(frozen=True)
class ICCResult:
    """One-way ANOVA intra-cluster correlation, its F-based interval and variance parts.

    ``icc`` is truncated at 0; ``icc_unbounded`` is the raw ANOVA estimate, which is
    negative when clusters vary less than chance alone would make them.
    ``var_between`` (truncated at 0) plus ``var_within`` is the total variance, and
    ``sd_total`` its square root: the standardiser for a cluster trial's Hedges' g.
    """

    icc: float
    icc_unbounded: float
    ci_low: float
    ci_high: float
    confidence: float
    n: int
    n_clusters: int
    n_arms: int
    n0: float
    ms_between: float
    ms_within: float
    df_between: int
    df_within: int
    f_statistic: float
    p_value: float
    var_between: float
    var_within: float
    sd_total: float

    def to_dict(self) -> dict:
        """JSON-safe dict: plain floats and ints, NaN and infinities as None."""
        return {name: json_value(value) for name, value in asdict(self).items()}


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
def _check_confidence(confidence: float) -> None:
    if not (isinstance(confidence, int | float) and 0 < confidence < 1):
        raise ValueError(
            f"The 'confidence' must be strictly between 0 and 1. Got {confidence!r} instead."
        )


# ---------------------------------------------------------------------------
# Hedges' g
# ---------------------------------------------------------------------------
def _correction_factor(df: float, correction: str) -> float:
    if correction == "exact":
        return math.exp(
            special.gammaln(df / 2) - 0.5 * math.log(df / 2) - special.gammaln((df - 1) / 2)
        )
    return 1.0 - 3.0 / (4.0 * df - 1.0)


def _hedges2007_variance(
    g: float, n_treat: int, n_control: int, icc: float, cluster_size: float
) -> float:
    total = n_treat + n_control
    first = total / (n_treat * n_control) * (1 + (cluster_size - 1) * icc)
    numerator = (
        (total - 2) * (1 - icc) ** 2
        + cluster_size * (total - 2 * cluster_size) * icc**2
        + 2 * (total - 2 * cluster_size) * icc * (1 - icc)
    )
    denominator = 2 * (total - 2) * ((total - 2) - 2 * (cluster_size - 1) * icc)
    return first + g**2 * numerator / denominator


def hedges_g_from_estimate(
    estimate: float,
    *,
    n_treat: int,
    n_control: int,
    sd_pooled: float | None = None,
    sd_total: float | None = None,
    icc: float | None = None,
    cluster_size: float | None = None,
    estimate_std_error: float | None = None,
    df: float | None = None,
    confidence: float = 0.95,
    correction: str = "approximate",
) -> EffectSize:
    """Hedges' g from an estimated difference (e.g. an ANCOVA coefficient) and an SD.

    Parameters
    ----------
    estimate : float
        The treatment effect on the outcome's own scale (treatment minus control).
    n_treat, n_control : int
        Individuals analysed in each arm (at least 2 each).
    sd_pooled : float, optional
        Pooled within-arm SD of the outcome: the standardiser for individually
        randomised trials.
    sd_total : float, optional
        Total (unconditional) SD, between- plus within-cluster: the standardiser for
        cluster trials (EEF convention); :attr:`ICCResult.sd_total` is one.  Give
        exactly one of ``sd_pooled`` and ``sd_total``.
    icc, cluster_size : float, optional
        Intra-cluster correlation and (average) cluster size of a cluster trial.  Given
        together, and only with ``sd_total``, they switch the SE to Hedges (2007).
        For unequal clusters pass Hedges' (2007, eq. 19) average cluster size or the
        mean size.
    estimate_std_error : float, optional
        The model's own SE of ``estimate`` (e.g. CR2).  When given, the SE of g is this
        SE rescaled, :math:`J\\,SE/s`, instead of a formula.
    df : float, optional
        Degrees of freedom for the interval when ``estimate_std_error`` is given;
        without it the interval uses the normal quantile.
    confidence : float
        Confidence level of the interval.
    correction : {"approximate", "exact"}
        The small-sample factor J; see :data:`CORRECTIONS`.

    Returns
    -------
    EffectSize

    Notes
    -----
    With :math:`N = n_T + n_C`, :math:`s` the standardiser and
    :math:`d = \\hat\\Delta / s`, the estimate is :math:`g = J d` where

    .. math:: J = 1 - \\frac{3}{4N - 9} \\;(\\text{approximate}),\\qquad
              J = \\frac{\\Gamma(\\nu/2)}{\\sqrt{\\nu/2}\\,\\Gamma((\\nu-1)/2)},\\;
              \\nu = N - 2 \\;(\\text{exact}).

    Standard error, by the first rule that applies:

    1. ``estimate_std_error`` given: :math:`SE(g) = J\\,SE(\\hat\\Delta)/s`, with a
       t(df) or normal interval.  This carries the model's precision (covariate
       adjustment, CR2) into the effect-size interval.
    2. ``icc`` and ``cluster_size`` given: Hedges (2007, eq. 16) for :math:`d_T`,

       .. math:: V(g) = \\frac{N}{n_T n_C}\\{1 + (n-1)\\rho\\} + g^2\\,
                 \\frac{(N-2)(1-\\rho)^2 + n(N-2n)\\rho^2 + 2(N-2n)\\rho(1-\\rho)}
                      {2(N-2)\\{(N-2) - 2(n-1)\\rho\\}}

       The first term is the naive variance times the design effect.  With
       :math:`\\rho = 0` the second term is :math:`g^2/\\{2(N-2)\\}`, slightly larger
       than rule 3's :math:`g^2/(2N)`.  Hedges' eq. 15 factor
       :math:`\\sqrt{1 - 2(n-1)\\rho/(N-2)}` is *not* applied to g: it corrects a
       total SD computed by ignoring clusters, whereas ``sd_total`` is expected to be
       a variance-components estimate (as :func:`icc_oneway` gives).
    3. Otherwise the standard large-sample formula (Hedges & Olkin 1985):
       :math:`SE(g) = \\sqrt{N/(n_T n_C) + g^2/(2N)}`.

    Rules 2 and 3 use the normal quantile: :math:`g \\pm z_{1-\\alpha/2} SE(g)`.

    References
    ----------
    Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect size and
    related estimators. *Journal of Educational Statistics*, 6, 107-128.
    Hedges, L. V. (2007). Effect sizes in cluster-randomized designs. *Journal of
    Educational and Behavioral Statistics*, 32, 341-370.
    """
    check_choice("correction", correction, CORRECTIONS)
    _check_confidence(confidence)
    check_count("n_treat", n_treat, 2)
    check_count("n_control", n_control, 2)
    if not (
        isinstance(estimate, int | float | np.floating | np.integer) and math.isfinite(estimate)
    ):
        raise ValueError(f"The 'estimate' must be a finite number. Got {estimate!r} instead.")
    if (sd_pooled is None) == (sd_total is None):
        raise ValueError(
            "Give exactly one standardiser: 'sd_pooled' (individual trials) or 'sd_total' "
            f"(cluster trials). Got sd_pooled={sd_pooled!r} and sd_total={sd_total!r} instead."
        )
    standardiser = "pooled" if sd_pooled is not None else "total"
    sd = sd_pooled if sd_pooled is not None else sd_total
    check_positive_finite(f"sd_{standardiser}", sd)
    if (icc is None) != (cluster_size is None):
        raise ValueError(
            "The 'icc' and 'cluster_size' of a cluster design go together. "
            f"Got icc={icc!r} and cluster_size={cluster_size!r} instead."
        )
    total = n_treat + n_control
    clustered = icc is not None
    if clustered:
        if standardiser != "total":
            raise ValueError(
                "A cluster trial's effect size is standardised by the total SD (EEF convention): "
                f"pass 'sd_total' with 'icc'. Got sd_pooled={sd_pooled!r} instead."
            )
        if not (isinstance(icc, int | float | np.floating) and 0 <= icc < 1):
            raise ValueError(f"The 'icc' must lie in [0, 1). Got {icc!r} instead.")
        if not (
            isinstance(cluster_size, int | float | np.floating | np.integer) and cluster_size >= 1
        ):
            raise ValueError(
                f"The 'cluster_size' must be at least 1. Got {cluster_size!r} instead."
            )
        if (total - 2) - 2 * (cluster_size - 1) * icc <= 0 or cluster_size > total / 2:
            raise ValueError(
                "Hedges (2007) needs at least one cluster per arm: the 'cluster_size' must be at "
                f"most half of the {total} individuals. Got {cluster_size!r} instead."
            )
    if estimate_std_error is not None:
        check_positive_finite("estimate_std_error", estimate_std_error)
    if df is not None:
        if estimate_std_error is None:
            raise ValueError(
                f"The 'df' is used only with 'estimate_std_error'. Got df={df!r} without it instead."
            )
        check_positive_finite("df", df)

    factor = _correction_factor(total - 2, correction)
    cohens_d = estimate / sd
    g = factor * cohens_d
    if estimate_std_error is not None:
        se_method = "model"
        std_error = factor * estimate_std_error / sd
        quantile = (
            stats.t.ppf(0.5 + confidence / 2, df)
            if df is not None
            else stats.norm.ppf(0.5 + confidence / 2)
        )
    else:
        se_method = "hedges2007" if clustered else "hedges"
        variance = (
            _hedges2007_variance(g, n_treat, n_control, icc, cluster_size)
            if clustered
            else total / (n_treat * n_control) + g**2 / (2 * total)
        )
        std_error = math.sqrt(variance)
        quantile = stats.norm.ppf(0.5 + confidence / 2)
    return EffectSize(
        estimate=float(g),
        std_error=float(std_error),
        ci_low=float(g - quantile * std_error),
        ci_high=float(g + quantile * std_error),
        confidence=float(confidence),
        cohens_d=float(cohens_d),
        correction_factor=float(factor),
        correction=correction,
        mean_difference=float(estimate),
        standardiser=standardiser,
        standardiser_sd=float(sd),
        n_treat=int(n_treat),
        n_control=int(n_control),
        se_method=se_method,
        design_effect=float(1 + (cluster_size - 1) * icc) if clustered else 1.0,
        icc=float(icc) if clustered else None,
        cluster_size=float(cluster_size) if clustered else None,
        df=float(df) if df is not None else None,
    )


def _finite_values(name: str, values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"The '{name}' must be one-dimensional. Got shape {array.shape} instead.")
    return array[np.isfinite(array)]


def hedges_g(
    y_treat: Sequence[float] | np.ndarray | pd.Series,
    y_control: Sequence[float] | np.ndarray | pd.Series,
    *,
    confidence: float = 0.95,
    correction: str = "approximate",
) -> EffectSize:
    """Hedges' g of two independent samples, standardised by the pooled SD.

    Parameters
    ----------
    y_treat, y_control : array-like
        Outcomes in the treatment and the control arm.  Missing values are dropped
        (complete cases); each arm needs at least 2 observed values.
    confidence : float
        Confidence level of the interval.
    correction : {"approximate", "exact"}
        The small-sample factor J; see :data:`CORRECTIONS`.

    Returns
    -------
    EffectSize

    Notes
    -----
    .. math:: s_p = \\sqrt{\\frac{(n_T - 1)s_T^2 + (n_C - 1)s_C^2}{n_T + n_C - 2}},\\qquad
              g = J\\,\\frac{\\bar y_T - \\bar y_C}{s_p}

    with J and the standard error as in :func:`hedges_g_from_estimate` (rule 3):
    :math:`SE(g) = \\sqrt{(n_T + n_C)/(n_T n_C) + g^2/(2(n_T + n_C))}`, normal interval.
    For a cluster trial use :func:`hedges_g_from_estimate` with ``sd_total``.
    """
    treat = _finite_values("y_treat", y_treat)
    control = _finite_values("y_control", y_control)
    for name, values in (("y_treat", treat), ("y_control", control)):
        if values.size < 2:
            raise ValueError(
                f"The '{name}' needs at least 2 observed values. Got {values.size} instead."
            )
    n_treat, n_control = treat.size, control.size
    pooled_variance = (
        (n_treat - 1) * treat.var(ddof=1) + (n_control - 1) * control.var(ddof=1)
    ) / (n_treat + n_control - 2)
    if pooled_variance <= 0:
        raise ValueError(
            "The pooled SD is 0: every outcome within each arm is the same, so g is undefined."
        )
    return hedges_g_from_estimate(
        float(treat.mean() - control.mean()),
        n_treat=n_treat,
        n_control=n_control,
        sd_pooled=math.sqrt(pooled_variance),
        confidence=confidence,
        correction=correction,
    )


# ---------------------------------------------------------------------------
# ICC
# ---------------------------------------------------------------------------
def icc_oneway(
    y: Sequence[float] | np.ndarray | pd.Series,
    clusters: Sequence[object] | np.ndarray | pd.Series,
    *,
    arm: Sequence[object] | np.ndarray | pd.Series | None = None,
    confidence: float = 0.95,
) -> ICCResult:
    """Intra-cluster correlation by one-way ANOVA, for unbalanced clusters, with a CI.

    Parameters
    ----------
    y : array-like
        Outcome per individual.  Rows with a missing outcome are dropped.
    clusters : array-like
        Cluster label per individual (same length as ``y``; no missing labels).
    arm : array-like, optional
        Arm per individual.  When given, clusters are nested in arms and the arm means
        are taken out first, so a treatment effect is not counted as between-cluster
        variance.  Every cluster must then sit in one arm.
    confidence : float
        Confidence level of the interval.

    Returns
    -------
    ICCResult

    Notes
    -----
    With :math:`k` clusters of sizes :math:`n_i`, :math:`N = \\sum n_i`, and :math:`a`
    arms (:math:`a = 1` without ``arm``) of sizes :math:`N_a`:

    .. math:: MSB = \\frac{\\sum_i n_i (\\bar y_i - \\bar y_{a(i)})^2}{k - a},\\qquad
              MSW = \\frac{\\sum_i \\sum_j (y_{ij} - \\bar y_i)^2}{N - k},

    .. math:: n_0 = \\frac{N - \\sum_a \\sum_{i \\in a} n_i^2 / N_a}{k - a},\\qquad
              \\hat\\rho = \\frac{MSB - MSW}{MSB + (n_0 - 1) MSW},

    so that :math:`E(MSB) = \\sigma^2_w + n_0 \\sigma^2_b`; :math:`n_0` is the common
    size when clusters are equal.  The reported ``icc`` is :math:`\\max(0, \\hat\\rho)`;
    the variance parts are :math:`\\hat\\sigma^2_w = MSW` and
    :math:`\\hat\\sigma^2_b = \\max(0, (MSB - MSW)/n_0)`.

    The interval inverts the F test (Searle 1971): with :math:`F = MSB/MSW`,
    :math:`F_L = F / F_{1-\\alpha/2}(k-a, N-k)` and
    :math:`F_U = F / F_{\\alpha/2}(k-a, N-k)`,

    .. math:: \\left[\\frac{F_L - 1}{F_L + n_0 - 1},\\;\\frac{F_U - 1}{F_U + n_0 - 1}\\right],

    each end truncated to [0, 1].  It is exact for equal clusters and an approximation
    (through :math:`n_0`) for unequal ones.  ``p_value`` is the F test of no
    between-cluster variance.

    References
    ----------
    Searle, S. R. (1971). *Linear Models*. Wiley, section 9.7.
    Donner, A. (1986). A review of inference procedures for the intraclass correlation
    coefficient in the one-way random effects model. *International Statistical
    Review*, 54, 67-82.
    """
    _check_confidence(confidence)
    values = np.asarray(y, dtype=float)
    labels = pd.Series(np.asarray(clusters, dtype=object))
    if values.ndim != 1 or labels.size != values.size:
        raise ValueError(
            f"The 'y' and 'clusters' must be one-dimensional and of equal length. "
            f"Got {values.size} outcomes and {labels.size} cluster labels instead."
        )
    if labels.isna().any():
        raise ValueError(
            f"The 'clusters' must have no missing labels. Got {int(labels.isna().sum())} missing."
        )
    arms = pd.Series(
        np.zeros(values.size, dtype=int) if arm is None else np.asarray(arm, dtype=object)
    )
    if arms.size != values.size or arms.isna().any():
        raise ValueError(
            f"The 'arm' must have one non-missing label per outcome. Got {arms.size} labels "
            f"({int(arms.isna().sum())} missing) for {values.size} outcomes instead."
        )
    keep = np.isfinite(values)
    values = values[keep]
    cluster_codes, cluster_labels = pd.factorize(labels[keep], sort=False)
    arm_codes, _ = pd.factorize(arms[keep], sort=False)
    n, n_clusters = values.size, cluster_labels.size
    # a cluster is nested in one arm when its smallest and largest arm code agree
    lowest_arm = np.full(n_clusters, np.iinfo(np.int64).max)
    highest_arm = np.full(n_clusters, -1)
    np.minimum.at(lowest_arm, cluster_codes, arm_codes)
    np.maximum.at(highest_arm, cluster_codes, arm_codes)
    crossing = lowest_arm != highest_arm
    if crossing.any():
        raise ValueError(
            "Each cluster must sit in one arm for the nested ICC. "
            f"Got clusters in several arms: {list(cluster_labels[crossing][:5])}."
        )
    cluster_arm = lowest_arm
    n_arms = np.unique(cluster_arm).size
    df_between, df_within = n_clusters - n_arms, n - n_clusters
    if df_between < 1 or df_within < 1:
        raise ValueError(
            "The ICC needs more clusters than arms and more individuals than clusters. "
            f"Got {n} individuals in {n_clusters} clusters and {n_arms} arm(s) instead."
        )
    cluster_size = np.bincount(cluster_codes, minlength=n_clusters).astype(float)
    cluster_mean = np.bincount(cluster_codes, weights=values, minlength=n_clusters) / cluster_size
    ss_within = float(((values - cluster_mean[cluster_codes]) ** 2).sum())
    arm_size = np.bincount(cluster_arm, weights=cluster_size)[cluster_arm]
    arm_mean = np.bincount(cluster_arm, weights=cluster_size * cluster_mean)[cluster_arm] / arm_size
    ss_between = float((cluster_size * (cluster_mean - arm_mean) ** 2).sum())
    ms_between, ms_within = ss_between / df_between, ss_within / df_within
    n0 = float((n - (cluster_size**2 / arm_size).sum()) / df_between)

    with np.errstate(divide="ignore", invalid="ignore"):
        f_statistic = ms_between / ms_within if ms_within > 0 else math.inf
        icc_unbounded = (
            (ms_between - ms_within) / (ms_between + (n0 - 1) * ms_within)
            if ms_between + (n0 - 1) * ms_within > 0
            else math.nan
        )
    alpha = 1 - confidence
    f_low = f_statistic / stats.f.ppf(1 - alpha / 2, df_between, df_within)
    f_high = f_statistic / stats.f.ppf(alpha / 2, df_between, df_within)

    def bound(f_value: float) -> float:
        if math.isinf(f_value):
            return 1.0
        return float(np.clip((f_value - 1) / (f_value + n0 - 1), 0.0, 1.0))

    var_between = max(0.0, (ms_between - ms_within) / n0)
    return ICCResult(
        icc=max(0.0, icc_unbounded) if math.isfinite(icc_unbounded) else math.nan,
        icc_unbounded=float(icc_unbounded),
        ci_low=bound(f_low),
        ci_high=bound(f_high),
        confidence=float(confidence),
        n=int(n),
        n_clusters=int(n_clusters),
        n_arms=int(n_arms),
        n0=n0,
        ms_between=float(ms_between),
        ms_within=float(ms_within),
        df_between=int(df_between),
        df_within=int(df_within),
        f_statistic=float(f_statistic),
        p_value=float(stats.f.sf(f_statistic, df_between, df_within)),
        var_between=float(var_between),
        var_within=float(ms_within),
        sd_total=math.sqrt(var_between + ms_within),
    )
