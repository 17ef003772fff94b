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

Strata (and the intercept) are absorbed by demeaning within strata instead of
one dummy column each: with ``S`` the stratum indicators and ``X`` the other
covariates, ``M_W = M_S - Q̃ Q̃'`` with ``Q̃`` an orthonormal basis of
``M_S X``, and ``d' M_S d = Σd - Σ_s (Σ_{i∈s} d_i)² / n_s`` for a 0/1 ``d``.
A national trial's 200 organisations then cost a sum per stratum, not 200
columns in every product (:func:`draw_coefficients` is the dummy-column form;
a test shows both give the same coefficients).

The draws run in blocks (:func:`run_randomisation_inference`): each block
re-draws its own allocations from its own child seed, spawned from the
design's seed and the RI stream label, and returns only the three statistics
per draw that the p-value and the CI need.  Memory is one block's draws, not
all of them (2,000 draws of 1.3M people were 21 GB), and the blocks can run
anywhere (``map_blocks``, e.g. a Dask cluster): the number of draws in a block
comes from named constants and the data (:func:`ri_blocks`), never from the
number of workers, so where they ran never changes a bit of the result.

A minimised trial is re-drawn by re-running the minimisation with fresh random
elements in the trial's own arrival order (the analysis dataset's ``arrival``
column): each allocation depended on the people before it, so the order is part
of the design (:func:`trial_designs.minimise.redraw_minimisation`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = [
    "RI_BLOCK_CELLS",
    "RI_MAX_BLOCK_DRAWS",
    "RandomisationInference",
    "RiBlock",
    "JointRiModel",
    "RiModel",
    "draw_coefficients",
    "prepare_joint_ri",
    "prepare_ri",
    "randomisation_inference",
    "ri_block",
    "ri_blocks",
    "run_randomisation_inference",
]

#: Arm codes per block of randomisation inference (draws × rows): 2**25 cells are 256 MiB
#: of int64 codes, so a national trial's 1.3M rows are re-drawn 25 at a time.
RI_BLOCK_CELLS = 2**25
#: At most this many draws per block, so a small trial's 2,000 draws are still 8 blocks
#: that can run side by side.  Changing either constant changes every RI result.
RI_MAX_BLOCK_DRAWS = 250

#: ``map_blocks(function, blocks, shared)``: ``[function(*shared, block) for block in blocks]``,
#: here or elsewhere (see analysis.costs.MapBlocks; flows.dask_runner.blocks_on).
MapBlocks = Callable[[Callable[..., Any], Sequence[Any], Sequence[Any]], list]


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


@dataclass(frozen=True)
class RiModel:
    """One coefficient's refit, prepared once for every block of draws (see :func:`prepare_ri`).

    ``rows`` are the model's rows among the re-drawn ones, ordered by stratum;
    ``starts``/``sizes`` mark each stratum's run of them; ``projected`` holds
    ``[M_W y, M_W t, Q̃]`` in that order; ``observed`` is ``(a, b, c)`` of the
    observed assignment ``t``.
    """

    term: str
    rows: np.ndarray
    arm_code: int
    starts: np.ndarray
    sizes: np.ndarray
    projected: np.ndarray
    observed: np.ndarray


@dataclass(frozen=True)
class RiBlock:
    """A block of draws: how many, and the child seed they are drawn from."""

    seed: np.random.SeedSequence
    n_draws: int


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

    The dummy-column form: strata enter ``covariates`` as columns.  The
    randomisation inference itself absorbs them (:func:`prepare_ri`).

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


def _within(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``values`` (rows ordered by stratum) minus their stratum's mean: ``M_S values``."""
    means = np.add.reduceat(values, starts, axis=0) / sizes.reshape(-1, *[1] * (values.ndim - 1))
    return values - np.repeat(means, sizes, axis=0)


def prepare_ri(
    y: np.ndarray,
    treatment: np.ndarray,
    covariates: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    *,
    term: str,
    rows: np.ndarray | None = None,
    arm_code: float = 1,
) -> RiModel:
    """The part of the refit that no draw changes: residuals and the covariates' basis.

    Parameters
    ----------
    y, treatment : ndarray, shape (m,)
        Outcome and observed 0/1 assignment of the model's rows.
    covariates : ndarray, shape (m, k), optional
        The other regressors, without the intercept or stratum dummies.
    strata : array-like, shape (m,), optional
        Each row's stratum (any labels); the model has one intercept per
        stratum.  None: one intercept.
    rows : ndarray of int, shape (m,), optional
        Where the model's rows are among the re-drawn ones (default: all, in order).
    arm_code : number
        The re-drawn code that means "treated" (the arm's index).
    """
    y = np.asarray(y, dtype=float)
    m = len(y)
    treatment = np.asarray(treatment, dtype=float)
    covariates = np.zeros((m, 0)) if covariates is None else np.asarray(covariates, dtype=float)
    rows = np.arange(m) if rows is None else np.asarray(rows)
    order, starts, sizes = _layout(strata, m)
    y, treatment, covariates, rows = y[order], treatment[order], covariates[order], rows[order]
    resid = _residualiser(covariates, starts, sizes)
    projected = np.column_stack([resid(y), resid(treatment), resid.basis])
    model = RiModel(
        term=term,
        rows=rows,
        arm_code=arm_code,
        starts=starts,
        sizes=sizes,
        projected=projected,
        observed=np.zeros(3),
    )
    return replace(model, observed=_statistics(model, treatment[None, :])[:, 0])


def _layout(strata: np.ndarray | None, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows' order by stratum, and each stratum's start and size in that order."""
    labels = np.zeros(m, dtype=np.int64) if strata is None else np.asarray(strata).astype(str)
    _levels, codes = np.unique(labels, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    sizes = sizes[sizes > 0]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return order, starts, sizes


def _residualiser(covariates: np.ndarray, starts: np.ndarray, sizes: np.ndarray):  # noqa: ANN202
    """``M_W``: within strata, then off the covariates' basis (kept as ``.basis``)."""
    m = len(covariates)
    within = _within(covariates, starts, sizes)
    basis = np.zeros((m, 0))
    if within.shape[1]:
        # an SVD, not an unpivoted QR: the intercept (or any covariate constant within strata)
        # is a zero column after demeaning, and QR's arbitrary vector for it would take a
        # direction out of the columns after it.  Zero means small against the columns' size.
        u, singular, _vt = np.linalg.svd(within, full_matrices=False)
        scale = max(np.sqrt(m), float(np.linalg.norm(covariates, axis=0).max()))
        basis = u[:, singular > scale * 1e-10]

    def resid(v: np.ndarray) -> np.ndarray:
        v = _within(v, starts, sizes)
        return v - basis @ (basis.T @ v)

    resid.basis = basis
    return resid


def _statistics(model: RiModel, d: np.ndarray) -> np.ndarray:
    """``(a, b, c)`` of 0/1 assignments ``d`` (draws × the model's rows, in its order):
    the coefficient is ``a / b`` and ``c = d' M_W t`` is what the test inversion needs.

    The product runs on one BLAS thread: OpenBLAS splits a product differently on two
    threads (this process) than on one (a Dask worker's), and the sums then differ in
    the last bits, which moved the CI's bisection.  One thread everywhere gives the same
    bits on every worker of the same CPU type.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        products = d @ model.projected  # [d'M y, d'M t, d'Q̃]
    per_stratum = np.add.reduceat(d, model.starts, axis=1)
    b = (
        d.sum(axis=1)
        - (per_stratum**2 / model.sizes).sum(axis=1)
        - np.einsum("rk,rk->r", products[:, 2:], products[:, 2:])
    )
    return np.vstack([products[:, 0], b, products[:, 1]])


@dataclass(frozen=True)
class JointRiModel:
    """One arm's coefficient in a model with an indicator per active arm (K > 1), prepared once.

    As :class:`RiModel`, but every draw builds all K indicators from its codes
    (``arm_codes``, in the model's order) and the statistic is the coefficient
    on indicator ``arm_index`` of the joint model: a row re-drawn into another
    active arm is in that arm, not in control.  ``projected`` holds
    ``[M_W y, M_W t_k, Q̃]``; the draws' ``(a, b, c)`` are ``(β_k(y), 1, β_k(t_k))``,
    so the test inversion's ``(a − τ c) / b`` is the joint coefficient of
    ``y − τ t_k`` (the other arms' indicators kept).
    """

    term: str
    rows: np.ndarray
    arm_codes: tuple[int, ...]
    arm_index: int
    starts: np.ndarray
    sizes: np.ndarray
    projected: np.ndarray
    observed: np.ndarray


def prepare_joint_ri(
    y: np.ndarray,
    treatments: np.ndarray,
    covariates: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    *,
    term: str,
    arm_index: int,
    arm_codes: Sequence[int],
    rows: np.ndarray | None = None,
) -> JointRiModel:
    """:func:`prepare_ri` for arm ``arm_index`` of a model with K arm indicators.

    Parameters
    ----------
    y : ndarray, shape (m,)
    treatments : ndarray, shape (m, K)
        The observed 0/1 indicator of every active arm (columns in ``arm_codes`` order).
    covariates, strata, rows
        As for :func:`prepare_ri`.
    arm_index : int
        The column of ``treatments`` whose coefficient is the statistic.
    arm_codes : sequence of int
        The re-drawn code of each column's arm.
    """
    y = np.asarray(y, dtype=float)
    m = len(y)
    treatments = np.asarray(treatments, dtype=float).reshape(m, -1)
    if treatments.shape[1] != len(arm_codes) or not 0 <= arm_index < len(arm_codes):
        raise ValueError(
            "The 'treatments' columns must match the 'arm_codes' one to one and 'arm_index' "
            f"name one of them. Got {treatments.shape[1]} column(s), {len(arm_codes)} code(s) "
            f"and arm_index {arm_index} instead."
        )
    covariates = np.zeros((m, 0)) if covariates is None else np.asarray(covariates, dtype=float)
    rows = np.arange(m) if rows is None else np.asarray(rows)
    order, starts, sizes = _layout(strata, m)
    y, treatments, covariates, rows = y[order], treatments[order], covariates[order], rows[order]
    resid = _residualiser(covariates, starts, sizes)
    projected = np.column_stack([resid(y), resid(treatments[:, arm_index]), resid.basis])
    model = JointRiModel(
        term=term,
        rows=rows,
        arm_codes=tuple(int(c) for c in arm_codes),
        arm_index=int(arm_index),
        starts=starts,
        sizes=sizes,
        projected=projected,
        observed=np.zeros(3),
    )
    observed = [treatments[:, j][None, :] for j in range(treatments.shape[1])]
    return replace(model, observed=_joint_statistics(model, observed)[:, 0])


def _joint_statistics(model: JointRiModel, d: Sequence[np.ndarray]) -> np.ndarray:
    """``(a, 1, c)`` of the K indicators ``d`` (each draws × the model's rows, in its order).

    By FWL the K coefficients of a draw are ``G⁻¹ D' M y`` with
    ``G = D' M D``, ``M = M_S − Q̃ Q̃'``: for disjoint 0/1 columns
    ``D_j' M_S D_l = δ_jl Σ d_j − Σ_s S_sj S_sl / n_s`` (``S`` the per-stratum
    sums).  One K × K solve per draw, vectorised over the block's draws.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        products = [dj @ model.projected for dj in d]  # [d_j'M y, d_j'M t_k, d_j'Q̃]
    per_stratum = [np.add.reduceat(dj, model.starts, axis=1) for dj in d]
    k = len(d)
    gram = np.empty((len(d[0]), k, k))
    for j in range(k):
        for m in range(j, k):
            value = -(per_stratum[j] * per_stratum[m] / model.sizes).sum(axis=1) - np.einsum(
                "rk,rk->r", products[j][:, 2:], products[m][:, 2:]
            )
            if j == m:
                value = value + d[j].sum(axis=1)
            gram[:, j, m] = gram[:, m, j] = value
    right = np.stack(
        [
            np.column_stack([p[:, 0] for p in products]),
            np.column_stack([p[:, 1] for p in products]),
        ],
        axis=-1,
    )  # draws × K × 2: D'M y and D'M t_k
    solved = np.linalg.solve(gram, right)[:, model.arm_index, :]
    return np.vstack([solved[:, 0], np.ones(len(solved)), solved[:, 1]])


def ri_statistics(model: RiModel | JointRiModel, codes: np.ndarray) -> np.ndarray:
    """``(a, b, c)`` of every re-drawn allocation in ``codes`` (draws × re-drawn rows)."""
    codes = np.asarray(codes)[:, model.rows]
    if isinstance(model, JointRiModel):
        return _joint_statistics(model, [(codes == c).astype(float) for c in model.arm_codes])
    return _statistics(model, (codes == model.arm_code).astype(float))


def ri_blocks(entropy: Sequence[int], n_draws: int, n_rows: int) -> list[RiBlock]:
    """The blocks of ``n_draws`` draws of ``n_rows`` rows, each with its own child seed.

    The seeds are ``SeedSequence(entropy).spawn(...)``: block ``i`` draws the
    same allocations wherever and whenever it runs.  A block holds
    ``RI_BLOCK_CELLS // n_rows`` draws, at least 1 and at most
    :data:`RI_MAX_BLOCK_DRAWS`: fixed by the data, not by the workers.
    """
    size = int(min(RI_MAX_BLOCK_DRAWS, max(1, RI_BLOCK_CELLS // max(1, n_rows))))
    counts = [size] * (n_draws // size) + ([n_draws % size] if n_draws % size else [])
    seeds = np.random.SeedSequence(list(entropy)).spawn(len(counts))
    return [RiBlock(seed=s, n_draws=n) for s, n in zip(seeds, counts, strict=True)]


def ri_block(
    redraw: Callable[[int, np.random.Generator], np.ndarray],
    models: Sequence[RiModel | JointRiModel],
    block: RiBlock,
) -> list[np.ndarray]:
    """One block: re-draw its allocations, return ``(a, b, c)`` per model (never the draws).

    ``redraw(n, rng)`` returns the arm codes of ``n`` re-drawn allocations,
    one row per draw, one column per re-drawn row.
    """
    codes = redraw(block.n_draws, np.random.default_rng(block.seed))
    return [ri_statistics(model, codes) for model in models]


def run_randomisation_inference(
    models: Sequence[RiModel | JointRiModel],
    redraw: Callable[[int, np.random.Generator], np.ndarray],
    blocks: Sequence[RiBlock],
    *,
    map_blocks: MapBlocks | None = None,
    alpha: float = 0.05,
    confidence_interval: bool = True,
) -> list[RandomisationInference]:
    """Randomisation inference of every model over the same re-drawn allocations, in blocks.

    Every model is refitted on the same draws (one re-draw per block serves
    them all).  ``map_blocks`` runs the blocks elsewhere (a Dask cluster);
    without it they run here one after another.  The blocks' statistics are
    joined in block order, so the result is the same bits either way.
    """
    if not models:
        return []
    per_block = (map_blocks or _here)(ri_block, list(blocks), (redraw, list(models)))
    return [
        _inference(
            model,
            np.concatenate([block[i] for block in per_block], axis=1),
            alpha=alpha,
            confidence_interval=confidence_interval,
        )
        for i, model in enumerate(models)
    ]


def _here(function: Callable[..., Any], blocks: Sequence[Any], shared: Sequence[Any]) -> list:
    return [function(*shared, block) for block in blocks]


def randomisation_inference(
    y: np.ndarray,
    treatment: np.ndarray,
    covariates: np.ndarray,
    draws: np.ndarray,
    *,
    term: str,
    strata: np.ndarray | None = None,
    alpha: float = 0.05,
    confidence_interval: bool = True,
) -> RandomisationInference:
    """Two-sided randomisation p-value, and a CI by test inversion, over given draws.

    Parameters
    ----------
    y, treatment, covariates
        The analysis sample: outcome, observed 0/1 assignment, other regressors
        (an intercept and stratum dummies among them are harmless: absorbed).
    draws : ndarray, shape (R, n)
        Re-drawn 0/1 assignments from the design's own randomiser, for the same
        units in the same order.
    term : str
        Name of the coefficient, for the result.
    strata : array-like, shape (n,), optional
        Stratum labels, absorbed by demeaning instead of dummy columns.

    Notes
    -----
    The p-value is ``mean(|β_r| ≥ |β_obs|)`` over the draws (as R's ri2).
    Under the constant-effect null ``y_i(1) − y_i(0) = τ``, the adjusted
    outcome is ``y − τ d_obs`` and each draw's coefficient is linear in τ:
    ``(a_r − τ c_r) / b_r`` with ``a_r = d_r' M y``, ``c_r = d_r' M d_obs``.
    The CI is the set of τ not rejected at ``alpha``: found on a grid over
    ±6 standard deviations of the null distribution and refined by bisection.
    """
    model = prepare_ri(y, treatment, covariates, strata, term=term)
    return _inference(
        model,
        ri_statistics(model, np.asarray(draws, dtype=float)),
        alpha=alpha,
        confidence_interval=confidence_interval,
    )


def _inference(
    model: RiModel | JointRiModel, stats: np.ndarray, *, alpha: float, confidence_interval: bool
) -> RandomisationInference:
    """The p-value and CI from the observed and the draws' ``(a, b, c)``."""
    a, b, c = stats
    obs_a, obs_b, obs_c = model.observed
    estimate = float(obs_a / obs_b)
    coef = a / b
    tolerance = 1e-12 * max(1.0, abs(estimate))
    p_value = float(np.mean(np.abs(coef) >= abs(estimate) - tolerance))
    ci_low = ci_high = None
    if confidence_interval:

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
        term=model.term,
        estimate=estimate,
        p_value=p_value,
        n_draws=len(coef),
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
