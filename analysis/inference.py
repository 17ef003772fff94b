"""Randomisation inference that re-runs the trial's own randomisation.

The allocation is re-drawn many times with the design's randomiser (blocks,
strata, clusters and constraints included; see
:func:`trial_designs.randomise.draw_allocations`) and the ANCOVA coefficient
is recomputed for every draw.  Refitting per draw is wasteful: by
Frisch–Waugh–Lovell the coefficient on a treatment indicator ``d`` given
covariates ``W`` is

.. math:: \\hat\\beta(d) = \\frac{d' M_W y}{d' M_W d},\\qquad M_W = I - Q Q'

with ``Q`` an orthonormal basis of ``W``.  So with all draws stacked in a
matrix ``D`` (draws × units), every coefficient comes from two matrix
products, ``D (M_W y)`` and ``D Q``, after one QR of ``W``.

The statistic is the coefficient, not a t-ratio, so it does not depend on how
the standard errors are made.  When an individually randomised trial clusters
its SEs by a grouping (``analysis.cluster_se_by: team``), the draws are still
of individuals within strata, because that is how the trial was randomised;
the team only changes the model-based SE, never the reference distribution.

A minimised trial is re-drawn by re-running the minimisation with fresh random
elements in the trial's own arrival order (the analysis dataset's ``arrival``
column): each allocation depended on the people before it, so the order is part
of the design (:func:`trial_designs.minimise.redraw_minimisation`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["RandomisationInference", "draw_coefficients", "randomisation_inference"]


@dataclass(frozen=True)
class RandomisationInference:
    """Randomisation-inference result for one treatment coefficient.

    ``p_value`` is two-sided for the sharp null of no effect for anyone;
    ``ci_low``/``ci_high`` invert the test under a constant additive effect.
    """

    term: str
    estimate: float
    p_value: float
    n_draws: int
    ci_low: float | None
    ci_high: float | None
    statistic: str = "ancova_coefficient"

    def to_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def _basis(covariates: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of ``covariates`` (rank-revealing)."""
    q, r = np.linalg.qr(covariates)
    diag = np.abs(np.diag(r))
    keep = diag > diag.max() * 1e-10
    return q[:, keep]


def draw_coefficients(
    y: np.ndarray, covariates: np.ndarray, draws: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The ANCOVA coefficient of every draw's treatment indicator, vectorised.

    Parameters
    ----------
    y : ndarray, shape (n,)
    covariates : ndarray, shape (n, k)
        Everything in the model except the treatment: intercept, baseline,
        stratum dummies, covariates.
    draws : ndarray, shape (R, n)
        0/1 treatment indicators, one row per draw.

    Returns
    -------
    numerator, denominator : ndarray, shape (R,)
        The coefficient of draw ``r`` is ``numerator[r] / denominator[r]``;
        both are returned because the test inversion needs them apart.
    """
    q = _basis(np.asarray(covariates, dtype=float))
    y = np.asarray(y, dtype=float)
    y_resid = y - q @ (q.T @ y)
    d = np.asarray(draws, dtype=float)
    numerator = d @ y_resid
    projected = d @ q
    denominator = d.sum(axis=1) - np.einsum("rk,rk->r", projected, projected)  # d'd = Σd for 0/1
    return numerator, denominator


def randomisation_inference(
    y: np.ndarray,
    treatment: np.ndarray,
    covariates: np.ndarray,
    draws: np.ndarray,
    *,
    term: str,
    alpha: float = 0.05,
    confidence_interval: bool = True,
) -> RandomisationInference:
    """Two-sided randomisation p-value, and a CI by test inversion.

    Parameters
    ----------
    y, treatment, covariates
        The analysis sample: outcome, observed 0/1 assignment, other regressors.
    draws : ndarray, shape (R, n)
        Re-drawn 0/1 assignments from the design's own randomiser, for the same
        units in the same order.
    term : str
        Name of the coefficient, for the result.

    Notes
    -----
    The p-value is ``mean(|β_r| ≥ |β_obs|)`` over the draws (as R's ri2).
    Under the constant-effect null ``y_i(1) − y_i(0) = τ``, the adjusted
    outcome is ``y − τ d_obs`` and each draw's coefficient is linear in τ:
    ``(a_r − τ c_r) / b_r`` with ``a_r = d_r' M y``, ``c_r = d_r' M d_obs``.
    The CI is the set of τ not rejected at ``alpha``: found on a grid over
    ±6 standard deviations of the null distribution and refined by bisection.
    """
    treatment = np.asarray(treatment, dtype=float)
    stacked = np.vstack([treatment[None, :], np.asarray(draws, dtype=float)])
    numerator, denominator = draw_coefficients(y, covariates, stacked)
    cross, _ = draw_coefficients(treatment, covariates, stacked)  # d_r' M d_obs
    estimate = float(numerator[0] / denominator[0])
    coef = numerator[1:] / denominator[1:]
    tolerance = 1e-12 * max(1.0, abs(estimate))
    p_value = float(np.mean(np.abs(coef) >= abs(estimate) - tolerance))
    ci_low = ci_high = None
    if confidence_interval:
        a, b, c = numerator[1:], denominator[1:], cross[1:]
        obs_a, obs_b, obs_c = numerator[0], denominator[0], cross[0]

        def p_at(tau: np.ndarray) -> np.ndarray:
            tau = np.atleast_1d(tau)
            observed = np.abs((obs_a - tau * obs_c) / obs_b)
            stats = np.abs((a[:, None] - tau[None, :] * c[:, None]) / b[:, None])
            return np.mean(stats >= observed[None, :] - tolerance, axis=0)

        spread = float(np.std(coef)) or 1.0
        grid = estimate + spread * np.linspace(-6, 6, 481)
        accepted = grid[p_at(grid) > alpha]
        if len(accepted):
            ci_low = _bisect(
                p_at,
                alpha,
                inside=float(accepted.min()),
                outside=float(accepted.min()) - spread * 0.025,
            )
            ci_high = _bisect(
                p_at,
                alpha,
                inside=float(accepted.max()),
                outside=float(accepted.max()) + spread * 0.025,
            )
    return RandomisationInference(
        term=term,
        estimate=estimate,
        p_value=p_value,
        n_draws=int(len(coef)),
        ci_low=ci_low,
        ci_high=ci_high,
    )


def _bisect(p_at, alpha: float, *, inside: float, outside: float, steps: int = 40) -> float:  # noqa: ANN001
    for _ in range(steps):
        middle = (inside + outside) / 2
        if p_at(np.array([middle]))[0] > alpha:
            inside = middle
        else:
            outside = middle
    return inside
