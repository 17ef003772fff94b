"""Cost-effectiveness: incremental cost and effect per participant, the ICER, and a bootstrap.

:func:`bootstrap_cost_effect` returns numbers and a coded verdict
(:data:`COST_EFFECT_VERDICTS`); the words results.json carries about them come from
:mod:`analysis.costs.wording`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.costs import wording
from analysis.costs.resampling import (
    CHUNK_ENTRIES,
    MapBlocks,
    arm_groups,
    replicate_means,
    unit_sums,
)
from common.numbers import json_float
from common.validation import check_count, is_real_number
from trial_designs.sections import MAX_BOOTSTRAP_REPLICATES

__all__ = [
    "COST_EFFECT_VERDICTS",
    "BootstrapResult",
    "bootstrap_cost_effect",
    "bootstrap_cost_effect_by_arm",
    "cost_effect_verdict",
]

#: The verdict on the point estimates: where they fall on the cost-effectiveness plane.
COST_EFFECT_VERDICTS: dict[str, str] = {
    "dominant": "costs no more and achieves more",
    "dominated": "costs no less and achieves less",
    "trade-off": "costs more and achieves more, or saves money and achieves less",
    "no difference": "achieves the same",
}


@dataclass(frozen=True)
class BootstrapResult:
    """Incremental cost and effect per participant, the ICER, and their uncertainty.

    Effects are *gains*: the intervention-minus-control difference in mean
    outcome when higher is better, its negative otherwise (so for turnover
    the effect is cases avoided per participant).  ``icer_ci_low`` and
    ``icer_ci_high`` are NaN when the effect's CI includes zero
    (:attr:`icer_ci_note` says why) and ±inf when a bound is unbounded.
    ``verdict`` is one of :data:`COST_EFFECT_VERDICTS`; :attr:`sentence` says it in words.
    ``replicate_costs`` and ``replicate_effects`` hold every replicate
    (not serialised); ``plane`` is the first ``len(plane)`` of them, a
    random subsample since replicates are independent.
    """

    outcome_label: str
    effect_unit: str
    higher_is_better: bool
    n_boot: int
    ci_level: float
    n_per_arm: dict[str, int]
    n_clusters_per_arm: dict[str, int] | None
    incremental_cost: float
    incremental_cost_ci: tuple[float, float]
    incremental_cost_se: float
    incremental_effect: float
    incremental_effect_ci: tuple[float, float]
    incremental_effect_se: float
    icer: float
    icer_ci_low: float
    icer_ci_high: float
    quadrant_shares: dict[str, float]
    verdict: str
    plane: tuple[tuple[float, float], ...]
    ceac: tuple[tuple[float, float], ...]
    replicate_costs: np.ndarray = field(repr=False, compare=False)
    replicate_effects: np.ndarray = field(repr=False, compare=False)

    @property
    def icer_ci_note(self) -> str:
        """How the ICER's interval was found, or why it is undefined."""
        return wording.icer_interval_note(
            ci_level=self.ci_level,
            effect_ci=self.incremental_effect_ci,
            icer_ci=(self.icer_ci_low, self.icer_ci_high),
        )

    @property
    def sentence(self) -> str:
        """The point estimates and the verdict in one sentence (results.json's ``sentence``)."""
        return self.sentence_about("The intervention")

    def sentence_about(self, subject: str) -> str:
        """:attr:`sentence` with ``subject`` priced: an arm's label when several arms are."""
        return wording.cost_effect_sentence(
            self.incremental_cost,
            self.incremental_effect,
            verdict=self.verdict,
            outcome_label=self.outcome_label,
            effect_unit=self.effect_unit,
            higher_is_better=self.higher_is_better,
            subject=subject,
        )

    def to_dict(self) -> dict:
        """JSON-safe dict; plane points as {effect, cost}, the CEAC as {wtp, probability}."""
        defined = not math.isnan(self.icer_ci_low)
        return {
            "outcome_label": self.outcome_label,
            "effect_unit": self.effect_unit,
            "higher_is_better": bool(self.higher_is_better),
            "n_boot": int(self.n_boot),
            "ci_level": float(self.ci_level),
            "n_per_arm": {k: int(v) for k, v in self.n_per_arm.items()},
            "n_clusters_per_arm": None
            if self.n_clusters_per_arm is None
            else {k: int(v) for k, v in self.n_clusters_per_arm.items()},
            "point": {
                "cost": json_float(self.incremental_cost),
                "effect": json_float(self.incremental_effect),
            },
            "incremental_cost": {
                "estimate": json_float(self.incremental_cost),
                "se": json_float(self.incremental_cost_se),
                "ci_low": json_float(self.incremental_cost_ci[0]),
                "ci_high": json_float(self.incremental_cost_ci[1]),
            },
            "incremental_effect": {
                "estimate": json_float(self.incremental_effect),
                "se": json_float(self.incremental_effect_se),
                "ci_low": json_float(self.incremental_effect_ci[0]),
                "ci_high": json_float(self.incremental_effect_ci[1]),
            },
            "icer": {
                "estimate": json_float(self.icer),
                "ci_low": json_float(self.icer_ci_low),
                "ci_high": json_float(self.icer_ci_high),
                "ci_defined": bool(defined),
                "ci_low_unbounded": self.icer_ci_low == -math.inf,
                "ci_high_unbounded": self.icer_ci_high == math.inf,
                "note": self.icer_ci_note,
            },
            "quadrant_shares": {k: float(v) for k, v in self.quadrant_shares.items()},
            "verdict": self.verdict,
            "sentence": self.sentence,
            "plane": [{"effect": float(e), "cost": float(c)} for e, c in self.plane],
            "ceac": [{"wtp": float(w), "probability": float(p)} for w, p in self.ceac],
        }


def _quantiles(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def _icer_interval(
    delta_c: np.ndarray, delta_e: np.ndarray, level: float, side: float
) -> tuple[float, float]:
    """Percentile interval of the ICER, ordering replicates by angle on the plane.

    ``side`` (+1 or -1) is the sign of the effect the CI is on.  The angle
    of :math:`(s\\Delta e, s\\Delta c)` runs from :math:`-\\pi` to
    :math:`\\pi`, cut on the far side of zero effect, and
    :math:`\\tan` of it is the ICER.  The bounds interpolate linearly
    between the ICERs of adjacent order statistics (NumPy's default), so
    when every replicate has an effect of the same sign this is exactly
    the percentile interval of the ratios.  A bound whose order statistic
    lies beyond zero effect is unbounded (±inf).
    """
    angle = np.sort(np.arctan2(side * delta_c, side * delta_e))
    tail = (1 - level) / 2
    bounds = []
    for q, infinite in ((tail, -math.inf), (1 - tail, math.inf)):
        position = (len(angle) - 1) * q
        lo, hi = math.floor(position), math.ceil(position)
        ends = angle[[lo, hi]]
        if (np.abs(ends) >= math.pi / 2).any():
            bounds.append(infinite)
            continue
        ratios = np.tan(ends)
        bounds.append(float(ratios[0] + (position - lo) * (ratios[1] - ratios[0])))
    return bounds[0], bounds[1]


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten at or above ``value``."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _default_wtp(
    delta_c: np.ndarray, delta_e: np.ndarray, point_c: float, point_e: float
) -> np.ndarray:
    cost_scale = abs(point_c) + 2 * float(np.std(delta_c))
    effect_scale = max(abs(point_e), float(np.std(delta_e)))
    if cost_scale == 0 or effect_scale == 0:
        return np.linspace(0.0, 1000.0, 101)
    return np.linspace(0.0, _nice_ceiling(3 * cost_scale / effect_scale), 101)


def cost_effect_verdict(incremental_cost: float, incremental_effect: float) -> str:
    """Where the point estimates fall on the cost-effectiveness plane.

    Parameters
    ----------
    incremental_cost, incremental_effect : float
        Per participant; the effect as a gain (positive is better).

    Returns
    -------
    str
        One of :data:`COST_EFFECT_VERDICTS`: ``"no difference"`` when the effect is 0,
        ``"dominant"`` when :math:`\\Delta c \\le 0 < \\Delta e`, ``"dominated"`` when
        :math:`\\Delta e < 0 \\le \\Delta c`, otherwise ``"trade-off"``.
    """
    if incremental_effect == 0:
        return "no difference"
    if incremental_cost <= 0 < incremental_effect:
        return "dominant"
    if incremental_effect < 0 <= incremental_cost:
        return "dominated"
    return "trade-off"


def bootstrap_cost_effect(
    costs: Sequence[float] | np.ndarray,
    effects: Sequence[float] | np.ndarray,
    arm: Sequence | np.ndarray,
    *,
    rng: np.random.Generator,
    clusters: Sequence | np.ndarray | None = None,
    n_boot: int = 5000,
    higher_is_better: bool = True,
    ci_level: float = 0.95,
    wtp: Sequence[float] | np.ndarray | None = None,
    n_plane_points: int = 1000,
    outcome_label: str = "the outcome",
    effect_unit: str = "point",
    chunk_size: int | None = None,
    map_blocks: MapBlocks | None = None,
) -> BootstrapResult:
    """Non-parametric bootstrap of participant-level (cost, effect) pairs.

    Parameters
    ----------
    costs, effects : array-like of float
        Each participant's cost and outcome (no missing values).
    arm : array-like of bool or 0/1
        1 (True) for the intervention arm, 0 for control.
    rng : numpy.random.Generator
    clusters : array-like, optional
        Each participant's cluster, for cluster trials: whole clusters are
        resampled within their arm.  Each cluster must lie in one arm.
    n_boot : int
        Replicates (at least 100).
    higher_is_better : bool
        False for outcomes such as turnover: the effect is then the
        reduction (cases avoided per participant).
    ci_level : float
        Of every percentile interval.
    wtp : array-like of float, optional
        Willingness-to-pay values (GBP per unit of effect) for the CEAC; by
        default 101 values from 0 to a round number near three times the
        cost scale over the effect scale.
    n_plane_points : int
        How many replicate pairs the plane data keeps.
    outcome_label, effect_unit : str
        Words for the verdict, e.g. ``"SWEMWBS"`` and ``"point"`` or
        ``"turnover"`` and ``"case"`` (pluralised with an s).
    chunk_size : int, optional
        Replicates drawn at once (a block); by default as many as keep each
        index matrix near 4 million entries.
    map_blocks : callable, optional
        ``map_blocks(function, blocks, shared)`` returns
        ``[function(*shared, block) for block in blocks]`` in block order; the
        caller decides where the blocks run (e.g. a Dask cluster).  The result
        is the same wherever they ran.  By default, here, one after another.

    Returns
    -------
    BootstrapResult

    Notes
    -----
    With :math:`\\bar c_a, \\bar e_a` the mean cost and outcome in arm
    :math:`a`, the increments are :math:`\\Delta c = \\bar c_1 - \\bar c_0`
    and :math:`\\Delta e = s(\\bar e_1 - \\bar e_0)`, :math:`s = \\pm 1` by
    ``higher_is_better``, and the ICER is :math:`\\Delta c / \\Delta e`.

    Each replicate resamples, within each arm separately (a stratified
    bootstrap, so arm sizes are kept), the arm's :math:`G_a` units with
    replacement: participants, or whole clusters.  With :math:`k_{bg}` the
    number of times unit :math:`g` is drawn in replicate :math:`b` and
    :math:`S_g` its sums of costs, effects and participants, the replicate
    means are ratios of :math:`K S` (a matrix product); for clusters this
    is the mean over every participant of the resampled clusters.  Draws
    are made in blocks of ``chunk_size``: per block, control then
    intervention, the index matrix ``rng.integers(0, G_a, size=(block, G_a))``,
    with units in input order (participants) or sorted label order
    (clusters).  A single block draws from ``rng``; several draw from
    generators of their own, seeded by integers drawn from ``rng`` first
    (one per block), so that they can run in parallel with the same result.

    CIs are percentile intervals.  The ICER's is reported only when the
    effect's CI excludes zero: otherwise replicates of the ratio change
    sign through infinity and no interval is meaningful.  It orders the
    replicates by their angle on the cost-effectiveness plane, which is
    the order of their ICERs when all effects share a sign, and stays
    coherent when a few replicates cross zero effect.

    The CEAC at willingness to pay :math:`\\lambda` is the share of
    replicates with net monetary benefit :math:`\\lambda \\Delta e -
    \\Delta c > 0`.  The verdict uses the point estimates: dominant
    (:math:`\\Delta c \\le 0 < \\Delta e`), dominated
    (:math:`\\Delta e < 0 \\le \\Delta c`), no difference when
    :math:`\\Delta e = 0`, otherwise a trade-off.
    """
    a = np.asarray(arm)
    if a.dtype != bool and not np.isin(a, (0, 1)).all():
        raise ValueError(
            f"'arm' must be 0/1 or bool (1 = intervention). Got values {sorted(set(a.ravel().tolist()))[:5]} instead."
        )
    return bootstrap_cost_effect_by_arm(
        costs,
        effects,
        a.astype(int),
        rng=rng,
        clusters=clusters,
        n_boot=n_boot,
        higher_is_better=higher_is_better,
        ci_level=ci_level,
        wtp=wtp,
        n_plane_points=n_plane_points,
        outcome_label=outcome_label,
        effect_unit=effect_unit,
        chunk_size=chunk_size,
        map_blocks=map_blocks,
    )[0]


def bootstrap_cost_effect_by_arm(
    costs: Sequence[float] | np.ndarray,
    effects: Sequence[float] | np.ndarray,
    arm: Sequence[int] | np.ndarray,
    *,
    rng: np.random.Generator,
    clusters: Sequence | np.ndarray | None = None,
    n_boot: int = 5000,
    higher_is_better: bool = True,
    ci_level: float = 0.95,
    wtp: Sequence[float] | np.ndarray | None = None,
    n_plane_points: int = 1000,
    outcome_label: str = "the outcome",
    effect_unit: str = "point",
    chunk_size: int | None = None,
    map_blocks: MapBlocks | None = None,
) -> list[BootstrapResult]:
    """One joint bootstrap of every active arm against control (a multi-arm trial).

    As :func:`bootstrap_cost_effect`, whose parameters these are, but ``arm``
    holds integer codes: 0 for control, 1 to K for the K active arms.  Each
    replicate resamples every arm (stratified by arm; whole clusters within
    their arm), so replicate ``b`` of every arm's result comes from the same
    resample and the draws can be compared across arms (EVPI over all
    options).  Arms are drawn in code order, so with K = 1 this is exactly
    :func:`bootstrap_cost_effect`, and the first active arm's draws do not
    depend on later arms when the blocks (``chunk_size``) are the same.

    Returns
    -------
    list of BootstrapResult
        One per active arm, in code order; each one's ``n_per_arm`` (and
        ``n_clusters_per_arm``) names its two arms ``control`` and ``intervention``.
    """
    c = np.asarray(costs, dtype=float)
    e = np.asarray(effects, dtype=float)
    a = np.asarray(arm)
    if c.ndim != 1 or e.shape != c.shape or a.shape != c.shape:
        raise ValueError(
            "'costs', 'effects' and 'arm' must be 1-D and the same length. "
            f"Got lengths {c.shape}, {e.shape} and {a.shape} instead."
        )
    for name, values in (("costs", c), ("effects", e)):
        if not np.isfinite(values).all():
            raise ValueError(
                f"'{name}' must have no missing or infinite values (drop incomplete participants first). "
                f"Got {int((~np.isfinite(values)).sum())} instead."
            )
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer) or (a.size and a.min() < 0):
        raise ValueError(
            "'arm' must be integer codes, 0 for control and 1 to K for the active arms. "
            f"Got values {sorted(set(a.tolist()), key=str)[:5]} instead."
        )
    n_arms = max(2, int(a.max()) + 1 if a.size else 2)
    check_count("n_boot", n_boot, 100)
    if n_boot > MAX_BOOTSTRAP_REPLICATES:
        raise ValueError(
            f"'n_boot' must be at most {MAX_BOOTSTRAP_REPLICATES}. Got {n_boot!r} instead."
        )
    if not is_real_number(ci_level) or not 0 < ci_level < 1:
        raise ValueError(
            f"'ci_level' must be between 0 and 1, such as 0.95. Got {ci_level!r} instead."
        )
    check_count("n_plane_points", n_plane_points, 1)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"'rng' must be a numpy.random.Generator. Got {type(rng).__name__} instead."
        )
    g = None
    if clusters is not None:
        g = np.asarray(clusters)
        if g.shape != c.shape:
            raise ValueError(
                f"'clusters' must have one label per participant ({len(c)}). Got {len(g)} instead."
            )
        if pd.isna(g).any():
            raise ValueError(
                f"'clusters' must have no missing labels. Got {int(pd.isna(g).sum())} instead."
            )
        g = g.astype(str)
        arms_of = pd.Series(a).groupby(g).nunique()
        straddling = sorted(arms_of.index[arms_of > 1])
        if straddling:
            raise ValueError(
                "Each cluster must lie in one arm for a cluster bootstrap. Got clusters in "
                f"{'both arms' if n_arms == 2 else 'more than one arm'}: {', '.join(straddling[:5])}."
            )
    groups = arm_groups(a, n_arms, g)
    names = (
        ("control", "intervention")
        if n_arms == 2
        else ("control", *(f"active arm {k}" for k in range(1, n_arms)))
    )
    minimum = 2
    for name, (rows, unit_of_row) in zip(names, groups, strict=True):
        n_units = 0 if len(rows) == 0 else int(unit_of_row.max()) + 1
        if n_units < minimum:
            what = "clusters" if g is not None else "participants"
            raise ValueError(
                f"The {name} arm needs at least {minimum} {what} to bootstrap. Got {n_units} instead."
            )
    sums = [unit_sums(rows, unit_of_row, c, e) for rows, unit_of_row in groups]
    largest = max(len(s) for s in sums)
    if chunk_size is None:
        chunk_size = max(1, min(n_boot, CHUNK_ENTRIES // largest))
    else:
        check_count("chunk_size", chunk_size, 1)
    if wtp is not None:
        grid = np.asarray(wtp, float)
        if grid.ndim != 1 or not len(grid) or not np.isfinite(grid).all():
            raise ValueError(
                f"'wtp' must be a non-empty 1-D array of finite values. Got {wtp!r} instead."
            )
    means = replicate_means(sums, int(n_boot), int(chunk_size), rng, map_blocks)
    settings = {
        "outcome_label": outcome_label,
        "effect_unit": effect_unit,
        "higher_is_better": bool(higher_is_better),
        "n_boot": int(n_boot),
        "ci_level": float(ci_level),
    }
    return [
        _one_arm(
            means[:, [0, k], :],
            c[a == 0],
            e[a == 0],
            c[a == k],
            e[a == k],
            n_clusters=None if g is None else (len(sums[0]), len(sums[k])),
            wtp=wtp,
            n_plane_points=int(n_plane_points),
            **settings,
        )
        for k in range(1, n_arms)
    ]


def _one_arm(
    means: np.ndarray,
    control_costs: np.ndarray,
    control_effects: np.ndarray,
    costs: np.ndarray,
    effects: np.ndarray,
    *,
    n_clusters: tuple[int, int] | None,
    wtp: Sequence[float] | np.ndarray | None,
    n_plane_points: int,
    outcome_label: str,
    effect_unit: str,
    higher_is_better: bool,
    n_boot: int,
    ci_level: float,
) -> BootstrapResult:
    """One active arm against control from the joint replicate means ``(n_boot, 2, 2)``."""
    sign = 1.0 if higher_is_better else -1.0
    delta_c = means[:, 1, 0] - means[:, 0, 0]
    delta_e = sign * (means[:, 1, 1] - means[:, 0, 1])
    point_c = float(costs.mean() - control_costs.mean())
    point_e = float(sign * (effects.mean() - control_effects.mean()))
    icer = point_c / point_e if point_e != 0 else math.nan

    effect_ci = _quantiles(delta_e, ci_level)
    if effect_ci[0] > 0 or effect_ci[1] < 0:
        side = 1.0 if effect_ci[0] > 0 else -1.0
        icer_low, icer_high = _icer_interval(delta_c, delta_e, ci_level, side)
    else:
        icer_low = icer_high = math.nan

    grid = (
        _default_wtp(delta_c, delta_e, point_c, point_e) if wtp is None else np.asarray(wtp, float)
    )
    probability = ((grid[:, None] * delta_e[None, :] - delta_c[None, :]) > 0).mean(axis=1)

    quadrants = {
        "dearer_and_better": float(np.mean((delta_c > 0) & (delta_e > 0))),
        "cheaper_and_better": float(np.mean((delta_c <= 0) & (delta_e > 0))),
        "dearer_and_worse": float(np.mean((delta_c > 0) & (delta_e <= 0))),
        "cheaper_and_worse": float(np.mean((delta_c <= 0) & (delta_e <= 0))),
    }
    keep = min(n_plane_points, n_boot)
    delta_c.setflags(write=False)
    delta_e.setflags(write=False)
    names = ("control", "intervention")
    return BootstrapResult(
        outcome_label=outcome_label,
        effect_unit=effect_unit,
        higher_is_better=higher_is_better,
        n_boot=n_boot,
        ci_level=ci_level,
        n_per_arm=dict(zip(names, (len(control_costs), len(costs)), strict=True)),
        n_clusters_per_arm=None
        if n_clusters is None
        else dict(zip(names, n_clusters, strict=True)),
        incremental_cost=point_c,
        incremental_cost_ci=_quantiles(delta_c, ci_level),
        incremental_cost_se=float(np.std(delta_c, ddof=1)),
        incremental_effect=point_e,
        incremental_effect_ci=effect_ci,
        incremental_effect_se=float(np.std(delta_e, ddof=1)),
        icer=icer,
        icer_ci_low=icer_low,
        icer_ci_high=icer_high,
        quadrant_shares=quadrants,
        verdict=cost_effect_verdict(point_c, point_e),
        plane=tuple(zip(delta_e[:keep].tolist(), delta_c[:keep].tolist(), strict=True)),
        ceac=tuple(zip(grid.tolist(), probability.tolist(), strict=True)),
        replicate_costs=delta_c,
        replicate_effects=delta_e,
    )
