"""Several follow-up survey waves: a pooled repeated-measures estimate and arm means by wave.

Per-wave ANCOVA (each wave on baseline) is the existing estimator run once per wave
(``analysis/estimators.py``). This module adds what those separate fits cannot give:

- :func:`repeated_measures_lmm`: a linear mixed model fitted by REML,
  ``outcome ~ arm * wave + baseline + (1 | participant)`` with ``+ (1 | cluster)`` when the
  trial randomised clusters, the arm effect at each wave and the *pooled average effect*
  (the mean of an arm's effects over the waves) with its SE from the fixed-effects
  covariance;
- :func:`arm_means_by_wave`: each arm's observed mean at each wave with a 95% CI, for the
  report's chart.

Why a mixed model and not GEE: both were open (issue 15). The mixed model uses every
answered wave of a person who missed another (valid when missing waves are missing at
random given the answered ones), and its REML fit is defined by one criterion, so it can be
held to lme4 to rounding error: ``tests/reference/repeated_measures_reference.R`` fits the
same models with ``lme4::lmer(REML = TRUE)``. GEE's exchangeable correlation is a moment
estimate whose degrees-of-freedom conventions differ between ``geepack`` and statsmodels.
statsmodels' ``MixedLM`` was tried: its estimates agreed with lme4 to about 4e-6, but its
fixed-effect SEs come from the joint observed-information Hessian and differed from lme4's
(X'V^-1 X)^-1 by up to 5e-4 (0.9157 vs 0.9152 for the cluster trial's arm effect), and
its variance components stopped 2e-5 short in the nested case. So the REML criterion is written out here (the profiled form lme4 minimises), using
closed-form inverses of the random-intercept covariance, and minimised with scipy.

Intervals and p-values use the normal distribution (lmerTest's Satterthwaite degrees of
freedom are not reproduced); with few clusters the report should say so.

References
----------
Bates, D., Maechler, M., Bolker, B., & Walker, S. (2015). Fitting linear mixed-effects models
using lme4. *Journal of Statistical Software*, 67(1), eq. (35) (profiled REML criterion).
Fitzmaurice, G. M., Laird, N. M., & Ware, J. H. (2011). *Applied Longitudinal Analysis*
(2nd ed.), ch. 5 and 8. Wiley.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from common.validation import check_open_unit, require_columns

__all__ = ["RepeatedMeasuresFit", "arm_means_by_wave", "repeated_measures_lmm"]

# lme4's isSingular tolerance on the relative SDs.
_SINGULAR = 1e-4

#: The label of the pooled average effect in :attr:`RepeatedMeasuresFit.effects`.
POOLED = "pooled"


@dataclass(frozen=True)
class RepeatedMeasuresFit:
    """A REML mixed-model fit across follow-up waves.

    Attributes
    ----------
    effects : DataFrame
        One row per (active arm, wave) and one per (active arm, ``"pooled"``): columns
        ``arm, wave, estimate, se, ci_low, ci_high, z, p`` (normal-based).
    coefficients : DataFrame
        The fixed effects, R-style term names (``(Intercept)``, ``arm<label>``,
        ``wave<label>``, ``arm<label>:wave<label>``, the baseline column): ``estimate, se``.
    covariance : DataFrame
        The fixed effects' covariance, ``sigma^2 (X' V^-1 X)^-1``.
    variances : dict
        ``participant``, ``cluster`` (0.0 when not modelled) and ``residual`` variances.
    reml_criterion : float
        -2 x the restricted log-likelihood at the optimum (lme4's ``REMLcrit``).
    n_obs, n_participants, n_clusters : int
        Rows used, participants and clusters (``n_clusters`` 0 when not modelled).
    level : float
        Coverage of the intervals.
    singular : bool
        A modelled random-intercept SD is below 1e-4 of the residual SD (lme4's
        ``isSingular`` rule): the data show no between-participant (or between-cluster)
        variation beyond the residual, and the fit is on the boundary.
    """

    effects: pd.DataFrame
    coefficients: pd.DataFrame
    covariance: pd.DataFrame
    variances: dict
    reml_criterion: float
    n_obs: int
    n_participants: int
    n_clusters: int
    level: float
    singular: bool = False


def _labels(values: pd.Series, declared: Sequence | None, name: str) -> list:
    present = list(pd.unique(values))
    if declared is None:
        return sorted(present, key=str)
    declared = list(declared)
    unknown = [v for v in present if v not in declared]
    if unknown:
        raise ValueError(
            f"The '{name}' values {unknown!r} are not among the declared {name}s "
            f"{declared!r}. Got {present!r} in the data."
        )
    return [v for v in declared if v in present]


def _design(
    frame: pd.DataFrame, arm: str, wave: str, baseline: str | None, arms: list, waves: list
) -> tuple[np.ndarray, list[str]]:
    """Treatment-coded design matrix with R's column names and order."""
    columns = {"(Intercept)": np.ones(len(frame))}
    arm_dummies = {a: (frame[arm] == a).to_numpy(float) for a in arms[1:]}
    wave_dummies = {w: (frame[wave] == w).to_numpy(float) for w in waves[1:]}
    columns |= {f"arm{a}": d for a, d in arm_dummies.items()}
    columns |= {f"wave{w}": d for w, d in wave_dummies.items()}
    if baseline is not None:
        columns[baseline] = frame[baseline].to_numpy(float)
    for w, dw in wave_dummies.items():
        for a, da in arm_dummies.items():
            columns[f"arm{a}:wave{w}"] = da * dw
    return np.column_stack(list(columns.values())), list(columns)


class _Reml:
    """The profiled REML criterion for random intercepts (participants nested in clusters).

    With ``theta = (t_p, t_c)`` the random-intercept SDs relative to the residual SD, the
    covariance of a cluster's rows is ``sigma^2 V``, ``V = A + t_c^2 11'`` and
    ``A = I + t_p^2 (participant blocks of 1s)``. Both inverses have closed forms
    (Sherman-Morrison within each participant, then within each cluster), so every
    quadratic form ``u' V^-1 v`` is a sum over participant and cluster totals.
    """

    def __init__(self, X, y, person, cluster):
        self.X, self.y = X, y
        self.person, self.cluster = person, cluster
        self.n_person = np.bincount(person).astype(float)
        # Each participant's cluster (participants are checked to be nested).
        self.person_cluster = np.zeros(len(self.n_person), dtype=int)
        self.person_cluster[person] = cluster
        self.n_clusters = int(cluster.max()) + 1
        self.Xy = np.column_stack([X, y])
        self.S = np.zeros((len(self.n_person), self.Xy.shape[1]))
        np.add.at(self.S, person, self.Xy)
        self.cross = self.Xy.T @ self.Xy

    def pieces(self, theta):
        tp2, tc2 = theta[0] ** 2, theta[1] ** 2
        inflate = 1 + self.n_person * tp2
        c = tp2 / inflate  # A_i^-1 = I - c_i J
        M = self.cross - (self.S * c[:, None]).T @ self.S
        logdet = np.log(inflate).sum()
        if tc2 > 0:
            # 1' A^-1 u per cluster = sum over its participants of S_i(u) / (1 + n_i t_p^2).
            T = np.zeros((self.n_clusters, self.Xy.shape[1]))
            np.add.at(T, self.person_cluster, self.S / inflate[:, None])
            a = np.bincount(self.person_cluster, self.n_person / inflate, self.n_clusters)
            d = tc2 / (1 + tc2 * a)
            M -= (T * d[:, None]).T @ T
            logdet += np.log1p(tc2 * a).sum()
        p = self.X.shape[1]
        xvx, xvy, yvy = M[:p, :p], M[:p, p], M[p, p]
        chol = np.linalg.cholesky(xvx)
        beta = np.linalg.solve(xvx, xvy)
        r2 = yvy - xvy @ beta
        return logdet, chol, beta, r2, xvx

    def criterion(self, theta):
        logdet, chol, _, r2, _ = self.pieces(theta)
        n, p = self.X.shape
        df = n - p
        return logdet + 2 * np.log(np.diag(chol)).sum() + df * (1 + math.log(2 * math.pi * r2 / df))


def _codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values, sort=True)[0]


def repeated_measures_lmm(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    wave: str,
    participant: str,
    control: object,
    baseline: str | None = None,
    cluster: str | None = None,
    arms: Sequence | None = None,
    waves: Sequence | None = None,
    level: float = 0.95,
) -> RepeatedMeasuresFit:
    """Pooled repeated-measures ITT estimate across follow-up waves (REML mixed model).

    Fits ``outcome ~ arm * wave + baseline + (1 | participant)`` (plus ``(1 | cluster)``
    when ``cluster`` is given) by REML and reports, for each active arm, its effect at each
    wave and the pooled average effect: ``mean over waves of (arm effect at the wave)``,
    a linear contrast of the fixed effects whose SE comes from their covariance.

    Parameters
    ----------
    data : DataFrame
        Long format: one row per participant and follow-up wave answered. Rows with a
        missing outcome or baseline are dropped (the model uses every answered wave).
    outcome, arm, wave, participant : str, keyword-only
        Column names.
    control : object, keyword-only
        The control arm's label (the reference level).
    baseline : str or None, keyword-only
        The baseline measure to adjust for (one value per participant).
    cluster : str or None, keyword-only
        The unit of randomisation when it is a cluster; participants must be nested in it.
    arms, waves : sequence or None, keyword-only
        The order of arms (control included) and of waves (the first is the reference
        level); by default their sorted values. Declared values absent from the data are
        skipped; values in the data that are not declared are refused.
    level : float, keyword-only
        Coverage of the normal-based intervals.

    Returns
    -------
    RepeatedMeasuresFit

    Raises
    ------
    ValueError
        A missing column, an unknown arm or wave, a control arm absent from the data,
        a participant in two clusters or arms, or a design whose fixed effects cannot
        all be estimated (e.g. an arm with no answers at some wave).
    """
    check_open_unit("level", level)
    needed = [outcome, arm, wave, participant]
    needed += [c for c in (baseline, cluster) if c is not None]
    require_columns(data, needed)
    frame = data[needed].copy()
    frame[outcome] = pd.to_numeric(frame[outcome], errors="coerce")
    keep = frame[outcome].notna()
    if baseline is not None:
        frame[baseline] = pd.to_numeric(frame[baseline], errors="coerce")
        keep &= frame[baseline].notna()
    frame = frame[keep].reset_index(drop=True)
    for column in [arm, wave, participant] + ([cluster] if cluster else []):
        if frame[column].isna().any():
            raise ValueError(f"The column '{column}' must have no missing values.")
    arm_order = _labels(frame[arm], arms, "arm")
    if control not in arm_order:
        raise ValueError(
            f"The control arm {control!r} has no answered rows in '{arm}'. Got arms: {arm_order!r}."
        )
    arm_order = [control] + [a for a in arm_order if a != control]
    if len(arm_order) < 2:
        raise ValueError(f"The column '{arm}' needs an active arm besides {control!r}.")
    wave_order = _labels(frame[wave], waves, "wave")
    for column in [arm] + ([cluster] if cluster else []):
        spread = frame.groupby(participant)[column].nunique()
        if (spread > 1).any():
            raise ValueError(
                f"The participant {spread[spread > 1].index[0]!r} has more than one "
                f"'{column}': participants must be nested in it."
            )

    X, names = _design(frame, arm, wave, baseline, arm_order, wave_order)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        counts = frame.groupby([arm, wave]).size().unstack(fill_value=0)
        raise ValueError(
            "The fixed effects arm x wave (+ baseline) cannot all be estimated from these "
            f"rows (rank-deficient design). Answers by arm and wave:\n{counts}"
        )
    person = _codes(frame[participant])
    clusters = _codes(frame[cluster]) if cluster else np.zeros(len(frame), dtype=int)
    reml = _Reml(X, frame[outcome].to_numpy(float), person, clusters)

    # Optimise the relative SDs on [0, inf), as lme4 does, from lme4's start (1, 1).
    start = np.array([1.0, 1.0 if cluster else 0.0])
    bounds = [(0.0, None), (0.0, None) if cluster else (0.0, 0.0)]
    result = optimize.minimize(
        reml.criterion,
        start,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 2000},
    )
    # Polish: L-BFGS-B's finite-difference gradient stalls near 1e-8; Nelder-Mead on a
    # small simplex around it reaches the flat optimum to the precision lme4's bobyqa does.
    theta = result.x
    free = [0, 1] if cluster else [0]
    polish = optimize.minimize(
        lambda t: reml.criterion(_embed(t, free)),
        theta[free],
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-11, "maxiter": 1000},
    )
    if polish.fun <= result.fun:
        theta = np.abs(_embed(polish.x, free))
    _, _, beta, r2, xvx = reml.pieces(theta)
    n, p = X.shape
    sigma2 = r2 / (n - p)
    cov = sigma2 * np.linalg.inv(xvx)
    variances = {
        "participant": float(sigma2 * theta[0] ** 2),
        "cluster": float(sigma2 * theta[1] ** 2) if cluster else 0.0,
        "residual": float(sigma2),
    }

    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for a in arm_order[1:]:
        contrasts = {}
        for w in wave_order:
            vec = np.zeros(p)
            vec[names.index(f"arm{a}")] = 1.0
            if w != wave_order[0]:
                vec[names.index(f"arm{a}:wave{w}")] = 1.0
            contrasts[w] = vec
        contrasts[POOLED] = np.mean(list(contrasts.values()), axis=0)
        for w, vec in contrasts.items():
            estimate = float(vec @ beta)
            se = float(math.sqrt(vec @ cov @ vec))
            rows.append(
                {
                    "arm": a,
                    "wave": w,
                    "estimate": estimate,
                    "se": se,
                    "ci_low": estimate - z * se,
                    "ci_high": estimate + z * se,
                    "z": estimate / se,
                    "p": float(2 * stats.norm.sf(abs(estimate / se))),
                }
            )
    return RepeatedMeasuresFit(
        effects=pd.DataFrame(rows),
        coefficients=pd.DataFrame(
            {"estimate": beta, "se": np.sqrt(np.diag(cov))}, index=pd.Index(names, name="term")
        ),
        covariance=pd.DataFrame(cov, index=names, columns=names),
        variances=variances,
        reml_criterion=float(reml.criterion(theta)),
        n_obs=int(n),
        n_participants=int(person.max()) + 1,
        n_clusters=int(clusters.max()) + 1 if cluster else 0,
        level=level,
        singular=bool((theta[free] < _SINGULAR).any()),
    )


def _embed(values: np.ndarray, free: list[int]) -> np.ndarray:
    theta = np.zeros(2)
    theta[free] = np.abs(values)
    return theta


def arm_means_by_wave(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    wave: str,
    cluster: str | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Each arm's observed mean at each wave with a confidence interval, for a chart.

    Without ``cluster`` the interval is Student's t on the wave's answers:
    ``mean +/- t(n - 1) sd / sqrt(n)``. With ``cluster`` the answers of one cluster are not
    independent, so the SE is the cluster-robust one of a ratio mean,
    ``sqrt(G / (G - 1) * sum_g (Y_g - n_g mean)^2) / n`` over the arm's ``G`` clusters
    answering at that wave (``Y_g`` their total, ``n_g`` their count), with t(G - 1).

    Parameters
    ----------
    data : DataFrame
        Long format, one row per participant and wave; rows with a missing outcome are
        dropped.
    outcome, arm, wave : str, keyword-only
        Column names.
    cluster : str or None, keyword-only
        The randomised cluster, if any.
    level : float, keyword-only
        Coverage of the intervals.

    Returns
    -------
    DataFrame
        ``arm, wave, n, n_clusters, mean, sd, se, ci_low, ci_high``, sorted by arm and wave;
        ``se`` and the interval are NaN where fewer than 2 answers (or clusters) exist.
    """
    check_open_unit("level", level)
    needed = [outcome, arm, wave] + ([cluster] if cluster else [])
    require_columns(data, needed)
    frame = data[needed].copy()
    frame[outcome] = pd.to_numeric(frame[outcome], errors="coerce")
    frame = frame[frame[outcome].notna()]
    rows = []
    for (a, w), group in frame.groupby([arm, wave], sort=True):
        y = group[outcome].to_numpy(float)
        n = len(y)
        mean = float(y.mean())
        sd = float(y.std(ddof=1)) if n > 1 else math.nan
        if cluster:
            totals = group.groupby(cluster)[outcome].agg(["sum", "size"])
            g = len(totals)
            resid = totals["sum"].to_numpy() - totals["size"].to_numpy() * mean
            se = math.sqrt(g / (g - 1) * float(resid @ resid)) / n if g > 1 else math.nan
            df = g - 1
        else:
            g = 0
            se = sd / math.sqrt(n) if n > 1 else math.nan
            df = n - 1
        t = stats.t.ppf(0.5 + level / 2, df) if df > 0 else math.nan
        rows.append(
            {
                "arm": a,
                "wave": w,
                "n": n,
                "n_clusters": g,
                "mean": mean,
                "sd": sd,
                "se": se,
                "ci_low": mean - t * se,
                "ci_high": mean + t * se,
            }
        )
    return pd.DataFrame(rows)
