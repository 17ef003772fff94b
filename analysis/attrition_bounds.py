"""Bounds on the ITT effect that do not assume outcomes are missing at random.

IPW and multiple imputation (``analysis/missing/``) assume that, given the covariates,
who answers the endline survey is unrelated to their outcome. With 40% of staff lost a
commissioner needs results that do not rest on that. Two kinds of bound are given here:

- :func:`lee_bounds`: Lee's (2009) trimming bounds for a difference in means of a
  continuous outcome. They assume only monotonicity (being offered the intervention never
  makes anyone *less* likely to answer, or never more likely) and trim, in the arm whose
  observed share is higher, the share of respondents who would not have answered under the
  other arm, from the top (lower bound) or from the bottom (upper bound). Confidence
  intervals are Imbens and Manski's (2004), which cover the true effect, not the whole
  identified set, with probability ``level``.
- :func:`worst_best_bounds`: Horowitz and Manski's worst/best-case bounds for a binary
  outcome, which assume nothing at all: every missing outcome is set to 0 or 1, in the
  way that gives the lowest and the highest difference.

Both are pure functions of a frame with one row per randomised person (the outcome missing
where not observed). ``tests/reference/lee_bounds_reference.R`` computes the same figures
independently in R.

References
----------
Lee, D. S. (2009). Training, wages, and sample selection: estimating sharp bounds on
treatment effects. *Review of Economic Studies*, 76(3), 1071-1102.

Imbens, G. W., & Manski, C. F. (2004). Confidence intervals for partially identified
parameters. *Econometrica*, 72(6), 1845-1857.

Horowitz, J. L., & Manski, C. F. (2000). Nonparametric analysis of randomized experiments
with missing covariate and outcome data. *Journal of the American Statistical Association*,
95(449), 77-84.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from common.validation import check_open_unit, require_columns

__all__ = [
    "BOUND_KINDS",
    "Bounds",
    "imbens_manski_interval",
    "lee_bounds",
    "worst_best_bounds",
]

#: The kinds of bound this module computes, as written in results.json.
BOUND_KINDS: dict[str, str] = {
    "lee": "Lee (2009) trimming bounds on the difference in means (monotone response)",
    "worst_best": "Horowitz-Manski worst/best-case bounds (missing binary outcomes set to 0/1)",
}


@dataclass(frozen=True)
class Bounds:
    """An identified set for the ITT difference (treatment minus control) and its CI.

    Attributes
    ----------
    kind : str
        A key of :data:`BOUND_KINDS`.
    lower, upper : float
        The estimated bounds.
    se_lower, se_upper : float
        Their standard errors.
    ci_low, ci_high : float
        The Imbens-Manski confidence interval at ``level``.
    level : float
        Coverage of the interval for the true effect.
    critical_value : float
        The Imbens-Manski critical value (between the one- and two-sided normal quantiles).
    n_treatment, n_control : int
        People randomised to each arm.
    observed_treatment, observed_control : int
        Those with the outcome observed.
    trimmed_arm : str or None
        For Lee bounds, ``"treatment"`` or ``"control"`` (the arm with the higher observed
        share), or ``None`` when the shares are equal and nothing is trimmed.
    trim_share : float
        The share of that arm's respondents trimmed (0 when nothing is trimmed).
    """

    kind: str
    lower: float
    upper: float
    se_lower: float
    se_upper: float
    ci_low: float
    ci_high: float
    level: float
    critical_value: float
    n_treatment: int
    n_control: int
    observed_treatment: int
    observed_control: int
    trimmed_arm: str | None = None
    trim_share: float = 0.0

    def to_dict(self) -> dict:
        """The fields as a plain dict (numbers as Python floats/ints), for results.json."""
        return {
            "kind": self.kind,
            "lower": float(self.lower),
            "upper": float(self.upper),
            "se_lower": float(self.se_lower),
            "se_upper": float(self.se_upper),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "level": float(self.level),
            "critical_value": float(self.critical_value),
            "n_treatment": int(self.n_treatment),
            "n_control": int(self.n_control),
            "observed_treatment": int(self.observed_treatment),
            "observed_control": int(self.observed_control),
            "trimmed_arm": self.trimmed_arm,
            "trim_share": float(self.trim_share),
        }


def imbens_manski_interval(
    lower: float, upper: float, se_lower: float, se_upper: float, *, level: float = 0.95
) -> tuple[float, float, float]:
    """Imbens and Manski's (2004) confidence interval for a partially identified parameter.

    The interval is ``[lower - c * se_lower, upper + c * se_upper]`` where ``c`` solves
    ``Phi(c + (upper - lower) / max(se_lower, se_upper)) - Phi(-c) = level``. It covers the
    true parameter (not the whole identified set) with probability ``level``: ``c`` is the
    two-sided normal quantile (1.96 at 95%) when the bounds meet and falls towards the
    one-sided one (1.645) as the set widens relative to its sampling error.

    Parameters
    ----------
    lower, upper : float
        Estimated bounds, ``lower <= upper``.
    se_lower, se_upper : float
        Their standard errors, not both 0.
    level : float, keyword-only
        Coverage, in (0, 1).

    Returns
    -------
    tuple of float
        ``(ci_low, ci_high, c)``.

    References
    ----------
    Imbens, G. W., & Manski, C. F. (2004). *Econometrica*, 72(6), 1845-1857, eq. (6).
    """
    check_open_unit("level", level)
    values = {"lower": lower, "upper": upper, "se_lower": se_lower, "se_upper": se_upper}
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"The '{name}' must be a finite number. Got {value!r} instead.")
    for name in ("se_lower", "se_upper"):
        if values[name] < 0:
            raise ValueError(f"The '{name}' must be at least 0. Got {values[name]!r} instead.")
    if upper < lower:
        raise ValueError(
            f"The 'upper' bound must be at least the 'lower' bound. Got lower={lower!r}, "
            f"upper={upper!r} instead."
        )
    scale = max(se_lower, se_upper)
    if scale == 0:
        raise ValueError(
            "The 'se_lower' and 'se_upper' must not both be 0: the interval needs a "
            f"sampling error. Got se_lower={se_lower!r}, se_upper={se_upper!r} instead."
        )
    width = (upper - lower) / scale

    def coverage_gap(c: float) -> float:
        return stats.norm.cdf(c + width) - stats.norm.cdf(-c) - level

    # The gap rises with c (its derivative is phi(c + width) + phi(-c) > 0); it is -level
    # at c = -width / 2 and at least 0 at the two-sided quantile, so the root is bracketed.
    high = stats.norm.ppf(0.5 + level / 2)
    c = optimize.brentq(coverage_gap, -width / 2, high, xtol=1e-14, rtol=4 * np.finfo(float).eps)
    return lower - c * se_lower, upper + c * se_upper, float(c)


def _interval(
    lower: float, upper: float, se_lower: float, se_upper: float, level: float
) -> tuple[float, float, float]:
    """Imbens-Manski, except that bounds known without sampling error are their own CI."""
    if se_lower == 0 and se_upper == 0:
        return lower, upper, float(stats.norm.ppf(0.5 + level / 2))
    return imbens_manski_interval(lower, upper, se_lower, se_upper, level=level)


def _split_arms(
    data: pd.DataFrame,
    outcome: str,
    arm: str,
    treatment: object,
    control: object,
    min_observed: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The outcome of each arm (NaN where missing), refusing unusable input by name."""
    require_columns(data, [outcome, arm])
    if treatment == control:
        raise ValueError(
            f"The 'treatment' and 'control' arms must differ. Got {treatment!r} for both."
        )
    if data[arm].isna().any():
        raise ValueError(
            f"The arm column '{arm}' must have no missing values. "
            f"Got {int(data[arm].isna().sum())} missing."
        )
    values = pd.to_numeric(data[outcome], errors="coerce")
    not_numeric = values.isna() & data[outcome].notna()
    if not_numeric.any():
        example = data.loc[not_numeric, outcome].iloc[0]
        raise ValueError(
            f"The outcome '{outcome}' must be numeric or missing. Got {example!r} instead."
        )
    values = values.to_numpy(dtype=float)
    if np.isinf(values).any():
        raise ValueError(f"The outcome '{outcome}' must be finite or missing. Got an infinity.")
    arms = {}
    for role, label in (("treatment", treatment), ("control", control)):
        rows = (data[arm] == label).to_numpy()
        if not rows.any():
            raise ValueError(
                f"The {role} arm {label!r} has no rows in the column '{arm}'. "
                f"Got arms: {', '.join(map(repr, pd.unique(data[arm])))}."
            )
        y = values[rows]
        if np.isnan(y).all():
            raise ValueError(
                f"The {role} arm {label!r} has no observed '{outcome}' "
                f"({rows.sum()} randomised, 0 observed): no bound can be computed."
            )
        if (~np.isnan(y)).sum() < min_observed:
            raise ValueError(
                f"The {role} arm {label!r} has {int((~np.isnan(y)).sum())} observed "
                f"'{outcome}'; at least {min_observed} are needed for a standard error."
            )
        arms[role] = y
    return arms["treatment"], arms["control"]


def _trimmed(y: np.ndarray, keep: tuple[int, int], *, from_top: bool) -> tuple[float, float, float]:
    """Mean and variance of the ``keep`` lowest (or highest) values, and the cut value.

    ``keep = (numerator, denominator)`` is the mass kept, a rational number of respondents;
    the boundary respondent enters with the fractional weight left over. This is the
    trimmed mean as the integral of the empirical quantile function, so ties at the cut
    are handled without depending on their order. The variance is the weighted plug-in
    (divisor = mass kept), as in Lee's sample-analogue estimator. The cut value is the
    boundary respondent's value: the largest value kept (lowest kept when ``from_top``).
    """
    y = np.sort(y)
    if from_top:
        y = y[::-1]
    whole, rest = divmod(keep[0], keep[1])
    mass = keep[0] / keep[1]
    weights = np.zeros(len(y))
    weights[:whole] = 1.0
    if rest:
        weights[whole] = rest / keep[1]
    boundary = whole if rest else whole - 1
    mean = float(np.dot(weights, y) / mass)
    variance = float(np.dot(weights, (y - mean) ** 2) / mass)
    return mean, variance, float(y[boundary])


def lee_bounds(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    treatment: object,
    control: object,
    level: float = 0.95,
) -> Bounds:
    """Lee (2009) trimming bounds for the ITT difference in means, with Imbens-Manski CI.

    Let ``q1`` and ``q0`` be the observed shares in the treatment and control arms. If
    ``q1 > q0``, the treatment arm's respondents include a share ``p = (q1 - q0) / q1`` who
    would not have responded under control; under monotonicity the effect among those who
    respond either way lies between the difference using the treatment respondents' lowest
    ``1 - p`` and the one using their highest ``1 - p``. If ``q0 > q1`` the control arm is
    trimmed the same way (the lower bound uses its highest values). Equal shares trim
    nothing and both bounds equal the difference in observed means.

    Parameters
    ----------
    data : DataFrame
        One row per randomised person; the outcome is missing (NaN) where not observed.
        Rows of other arms are ignored.
    outcome, arm : str, keyword-only
        Column names.
    treatment, control : object, keyword-only
        The two arms' labels in ``arm``.
    level : float, keyword-only
        Coverage of the Imbens-Manski interval, in (0, 1).

    Returns
    -------
    Bounds
        ``kind="lee"``.

    Raises
    ------
    ValueError
        Naming the column, arm or option at fault: an arm with no rows or fewer than 2
        observed outcomes, a non-numeric outcome, a missing arm label, a ``level`` outside (0, 1).

    Notes
    -----
    Standard errors are Lee's analytic ones (Proposition 3): for the trimmed arm,
    ``[s2_t + p (y_cut - m_t)^2] / ((1 - p) n_obs)`` (the trimmed mean's variance with the
    cut estimated) plus ``((y_cut - m_t) / (1 - p))^2 var(p)`` (the trimming share
    estimated), with ``var(p) = (1 - p)^2 [(1 - q0) / (q0 n0) + (1 - q1) / (q1 n1)]``; for
    the other arm ``s2 / n_obs``. Variances are plug-in (divisor n). The analytic form was
    chosen over a bootstrap so the result is deterministic and checkable against an
    independent implementation to rounding error. When the shares are exactly equal no arm
    is trimmed and the ``var(p)`` term is dropped, so the SEs are those of a difference in
    means (Lee's asymptotics assume ``p > 0``; at ``p = 0`` the bound is not differentiable).
    When both SEs are 0 (no spread in the kept outcomes) the interval is the bounds.

    With ties at the cut, the boundary respondent enters the trimmed mean with fractional
    weight (the trimmed mean is the integral of the empirical quantile function over the
    kept share), so exactly ``(1 - p) n_obs`` respondents' mass is kept whatever the ties.

    References
    ----------
    Lee, D. S. (2009). *Review of Economic Studies*, 76(3), 1071-1102.
    Imbens, G. W., & Manski, C. F. (2004). *Econometrica*, 72(6), 1845-1857.
    """
    check_open_unit("level", level)
    y1, y0 = _split_arms(data, outcome, arm, treatment, control, min_observed=2)
    n1, n0 = len(y1), len(y0)
    obs1, obs0 = y1[~np.isnan(y1)], y0[~np.isnan(y0)]
    m1, m0 = len(obs1), len(obs0)
    q1, q0 = m1 / n1, m0 / n0
    var_share = {"treatment": (1 - q1) / (q1 * n1), "control": (1 - q0) / (q0 * n0)}

    # Compare the shares exactly (m1 / n1 vs m0 / n0) so equal retention is never lost to
    # rounding; the kept mass (1 - p) m is a rational number of respondents for the same
    # reason: q_low * n_high = m_low * n_high / n_low.
    if m1 * n0 == m0 * n1:
        mean1, var1, mean0, var0 = obs1.mean(), obs1.var(), obs0.mean(), obs0.var()
        estimate = float(mean1 - mean0)
        se = math.sqrt(var1 / m1 + var0 / m0)
        ci_low, ci_high, c = _interval(estimate, estimate, se, se, level)
        return Bounds("lee", estimate, estimate, se, se, ci_low, ci_high, level, c,
                      n1, n0, m1, m0, None, 0.0)  # fmt: skip

    if m1 * n0 > m0 * n1:
        trimmed_arm, trimmed, other, keep = "treatment", obs1, obs0, (m0 * n1, n0)
        p = 1 - q0 / q1
    else:
        trimmed_arm, trimmed, other, keep = "control", obs0, obs1, (m1 * n0, n1)
        p = 1 - q1 / q0
    var_p = (1 - p) ** 2 * (var_share["treatment"] + var_share["control"])
    kept = keep[0] / keep[1]
    other_mean, other_var = float(other.mean()), float(other.var())

    def side(from_top: bool) -> tuple[float, float]:
        mean, var, cut = _trimmed(trimmed, keep, from_top=from_top)
        variance = (var + p * (cut - mean) ** 2) / kept
        variance += ((cut - mean) / (1 - p)) ** 2 * var_p
        return mean, variance + other_var / len(other)

    low_mean, low_var = side(from_top=False)
    high_mean, high_var = side(from_top=True)
    if trimmed_arm == "treatment":
        lower, se_lower = low_mean - other_mean, math.sqrt(low_var)
        upper, se_upper = high_mean - other_mean, math.sqrt(high_var)
    else:
        # Trimming the control arm: the highest control values give the lower bound.
        lower, se_lower = other_mean - high_mean, math.sqrt(high_var)
        upper, se_upper = other_mean - low_mean, math.sqrt(low_var)
    ci_low, ci_high, c = _interval(lower, upper, se_lower, se_upper, level)
    return Bounds("lee", lower, upper, se_lower, se_upper, ci_low, ci_high, level, c,
                  n1, n0, m1, m0, trimmed_arm, float(p))  # fmt: skip


def worst_best_bounds(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    treatment: object,
    control: object,
    level: float = 0.95,
) -> Bounds:
    """Horowitz-Manski worst/best-case bounds on the ITT difference in a binary outcome.

    The lower bound sets every missing outcome to 0 in the treatment arm and 1 in the
    control arm; the upper bound the reverse. No assumption is made about who is missing,
    so the width is the sum of the two arms' missing shares.

    Parameters
    ----------
    data : DataFrame
        One row per randomised person; the outcome is 0, 1 or missing (NaN).
    outcome, arm : str, keyword-only
        Column names.
    treatment, control : object, keyword-only
        The two arms' labels in ``arm``.
    level : float, keyword-only
        Coverage of the Imbens-Manski interval, in (0, 1).

    Returns
    -------
    Bounds
        ``kind="worst_best"``; each bound's SE is that of a difference of two proportions
        over everyone randomised, ``sqrt(a (1 - a) / n1 + b (1 - b) / n0)``. When both SEs
        are 0 (all proportions 0 or 1) the interval is the bounds themselves.

    Raises
    ------
    ValueError
        As :func:`lee_bounds`, and when an observed outcome is not 0 or 1.

    References
    ----------
    Horowitz, J. L., & Manski, C. F. (2000). *JASA*, 95(449), 77-84.
    Imbens, G. W., & Manski, C. F. (2004). *Econometrica*, 72(6), 1845-1857.
    """
    check_open_unit("level", level)
    y1, y0 = _split_arms(data, outcome, arm, treatment, control)
    for y in (y1, y0):
        seen = y[~np.isnan(y)]
        bad = seen[(seen != 0) & (seen != 1)]
        if len(bad):
            raise ValueError(
                f"The outcome '{outcome}' must be binary (0 or 1, or missing) for "
                f"worst/best-case bounds. Got {float(bad[0])!r} instead."
            )
    n1, n0 = len(y1), len(y0)

    def filled(y: np.ndarray, value: float) -> float:
        return float(np.where(np.isnan(y), value, y).mean())

    lo1, hi1, lo0, hi0 = filled(y1, 0.0), filled(y1, 1.0), filled(y0, 0.0), filled(y0, 1.0)
    lower, upper = lo1 - hi0, hi1 - lo0
    se_lower = math.sqrt(lo1 * (1 - lo1) / n1 + hi0 * (1 - hi0) / n0)
    se_upper = math.sqrt(hi1 * (1 - hi1) / n1 + lo0 * (1 - lo0) / n0)
    ci_low, ci_high, c = _interval(lower, upper, se_lower, se_upper, level)
    m1, m0 = int((~np.isnan(y1)).sum()), int((~np.isnan(y0)).sum())
    return Bounds("worst_best", lower, upper, se_lower, se_upper, ci_low, ci_high, level, c,
                  n1, n0, m1, m0, None, 0.0)  # fmt: skip
