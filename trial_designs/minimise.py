"""Pocock–Simon minimisation with a random element, replayable from the seed and arrival order.

Participants arrive one at a time.  For the newcomer, each arm ``j`` is scored
by the imbalance the trial would have if the newcomer joined ``j``:

.. math:: G_j = \\sum_f w_f\\, D\\big(n_{f,1} + [j=1], \\dots, n_{f,K} + [j=K]\\big)

where ``n_{f,k}`` counts the earlier participants who share the newcomer's
level of factor ``f`` (e.g. the same organisation) and are in arm ``k``, ``w_f``
is the factor's weight (default 1) and ``D`` the imbalance measure: the range
``max − min`` (default) or the population variance of the ``K`` counts.  The
arms with the smallest ``G`` are the minimisers; one of them is picked
uniformly at random (ties are broken at random) and assigned with
probability ``p``; otherwise one of the other ``K − 1`` arms is assigned, each
with probability ``(1 − p)/(K − 1)``.  When every arm ties the rule is
uniform.  This is Pocock & Simon (1975, Biometrics 31:103) with the biased
coin of their rule, marginal balance over the factors.

Only equal allocation ratios are supported (the design refuses others): the
naive ratio-weighted counts of Han, Enas & McEntegart (2009) do not keep the
declared ratio unconditionally (Kuznetsova & Tymofyeyev 2012).  With equal
ratios the rule is symmetric in the arms, so every participant's marginal
probability of each arm is exactly ``1/K`` whatever the factors and order
(swapping two arms' labels maps every random branch onto one of equal
probability); :func:`minimisation_probabilities` shows it by enumeration.

Replay.  Participant ``k`` (0-based position in the arrival order) draws its
random numbers from its own generator, ``SeedSequence([seed, label, k])``, and
its arm depends only on those numbers and the counts of participants
``0..k-1``, whose arms are in turn functions of the same.  So the allocation
of participant ``k`` depends only on the seed, the factor levels of
participants ``0..k`` and their order: a late entrant enrolled on its own,
months later, gets the arm a batch replay of the whole arrival order gives.
The order matters: shuffling the arrival order changes the allocation (by
design; the counts a newcomer sees are those of the people before them).

Randomisation inference re-runs the same rule in the same arrival order with
fresh random numbers (:func:`redraw_minimisation`), all draws at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from trial_designs.design import TrialDesign

__all__ = [
    "IMBALANCE_MEASURES",
    "allocate_minimisation",
    "factor_levels",
    "factor_weights",
    "marginal_imbalance",
    "minimisation_allocator",
    "minimisation_probabilities",
    "minimisation_sequence_probabilities",
    "minimisation_step_probabilities",
    "redraw_minimisation",
]


def _range(counts: np.ndarray) -> np.ndarray:
    return counts.max(axis=-1) - counts.min(axis=-1)


def _variance(counts: np.ndarray) -> np.ndarray:
    return counts.var(axis=-1)


#: Imbalance of one factor level's counts over the arms (last axis).
IMBALANCE_MEASURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "range": _range,
    "variance": _variance,
}

# the label of the per-position streams: a fixed 64-bit word, so streams never collide
# with the other randomisers' (which hash their own labels)
_STREAM_LABEL = int.from_bytes(hashlib.sha256(b"minimisation").digest()[:8], "little")
_TIE_TOLERANCE = 1e-9  # float weights: scores equal up to rounding are ties
_MAX_SEQUENCES = 2**20
_MISSING = ""  # a missing factor value is its own level


# ---------------------------------------------------------------------------
# Checking at the boundary
# ---------------------------------------------------------------------------
def _checked(
    levels: object, n_arms: int, p: float, weights: Sequence[float] | None, measure: str
) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    table = np.asarray(levels, dtype=object)
    if table.ndim == 1:
        table = table[:, None]
    if table.ndim != 2 or table.shape[1] < 1:
        raise ValueError(
            "The 'levels' must be a table of one row per participant and one column per "
            f"factor. Got shape {table.shape} instead."
        )
    if int(n_arms) != n_arms or n_arms < 2:
        raise ValueError(f"The 'n_arms' must be an integer of at least 2. Got {n_arms!r} instead.")
    if not (1 / n_arms <= p <= 1):
        raise ValueError(
            f"The 'p' of the minimising arm must be between 1/{n_arms} and 1. Got {p!r} instead."
        )
    if measure not in IMBALANCE_MEASURES:
        raise ValueError(
            f"The imbalance measure '{measure}' is not known. Choose one of: "
            f"{', '.join(IMBALANCE_MEASURES)}. Got '{measure}' instead."
        )
    w = np.ones(table.shape[1]) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (table.shape[1],) or not np.all(w > 0):
        raise ValueError(
            f"The 'weights' must be one positive number per factor ({table.shape[1]} "
            f"factor(s)). Got {np.atleast_1d(w).tolist()} instead."
        )
    return table, w, IMBALANCE_MEASURES[measure]


def factor_levels(units: pd.DataFrame, factors: Sequence[str]) -> np.ndarray:
    """The factor levels of each unit as text, one column per factor; missing is ``""``.

    The same text whether a value comes from a roster file or back from the
    store, so a replay counts the same levels.
    """
    absent = [f for f in factors if f not in units.columns]
    if absent:
        raise ValueError(
            f"The design minimises over {', '.join(repr(f) for f in absent)}, which is not a "
            f"column of the roster or dataset. Map it in 'roster.columns' (or, for a dataset, "
            f"'analysis.columns'). Got columns "
            f"{[c for c in units.columns if c != 'source_row']} instead."
        )
    out = np.empty((len(units), len(factors)), dtype=object)
    for j, factor in enumerate(factors):
        column = units[factor]
        present = column.notna().to_numpy()
        text = column.astype("str").to_numpy(dtype=object)
        out[:, j] = np.where(present, text, _MISSING)
    return out


def _cells(table: np.ndarray) -> tuple[np.ndarray, int]:
    """Each (factor, level) as one integer cell: ``(n, F)`` cell codes and the number of cells."""
    codes = np.empty(table.shape, dtype=np.int64)
    offset = 0
    for f in range(table.shape[1]):
        # factorize in appearance order: codes only need to be consistent, not sorted
        local, uniques = pd.factorize(pd.Series(table[:, f], dtype=object))
        codes[:, f] = local + offset
        offset += len(uniques)
    return codes, offset


# ---------------------------------------------------------------------------
# One step of the rule
# ---------------------------------------------------------------------------
def _scores(gathered: np.ndarray, weights: np.ndarray, measure) -> np.ndarray:  # noqa: ANN001
    """``G_j`` for every arm: ``gathered`` is ``(R, F, K)`` counts of the newcomer's levels."""
    n_arms = gathered.shape[-1]
    hypothetical = gathered[:, :, None, :] + np.eye(n_arms, dtype=gathered.dtype)  # (R,F,K,K)
    return np.einsum("f,rfk->rk", weights, measure(hypothetical))


def _choose(
    gathered: np.ndarray,
    weights: np.ndarray,
    p: float,
    measure,
    uniforms: np.ndarray,  # noqa: ANN001
) -> np.ndarray:
    """The arm of each of ``R`` newcomers from ``K + 2`` uniforms each.

    ``uniforms[:, :K]`` break ties (the minimiser with the largest key is
    preferred: uniform among the minimisers), ``uniforms[:, K]`` is the biased
    coin and ``uniforms[:, K+1]`` picks among the other arms.
    """
    n_arms = gathered.shape[-1]
    g = _scores(gathered, weights, measure)
    best = g <= g.min(axis=1, keepdims=True) + _TIE_TOLERANCE
    preferred = np.argmax(np.where(best, uniforms[:, :n_arms], -1.0), axis=1)
    shift = 1 + np.minimum((uniforms[:, n_arms + 1] * (n_arms - 1)).astype(np.int64), n_arms - 2)
    return np.where(uniforms[:, n_arms] < p, preferred, (preferred + shift) % n_arms)


def minimisation_step_probabilities(
    counts: np.ndarray,
    *,
    p: float = 0.8,
    weights: Sequence[float] | None = None,
    measure: str = "range",
) -> np.ndarray:
    """Probability of each arm for one newcomer, given the counts of its levels.

    Parameters
    ----------
    counts : ndarray, shape (F, K)
        For each factor, how many earlier participants with the newcomer's
        level are in each arm.

    Returns
    -------
    ndarray, shape (K,)
        ``Σ_{m ∈ M} (1/|M|) · (p at m, (1 − p)/(K − 1) at each other arm)``,
        ``M`` the minimisers.
    """
    counts = np.asarray(counts, dtype=np.int64)
    _table, w, fn = _checked(np.zeros((1, counts.shape[0])), counts.shape[1], p, weights, measure)
    n_arms = counts.shape[1]
    g = _scores(counts[None], w, fn)[0]
    minimisers = np.flatnonzero(g <= g.min() + _TIE_TOLERANCE)
    prob = np.zeros(n_arms)
    for m in minimisers:
        share = np.full(n_arms, (1 - p) / (n_arms - 1))
        share[m] = p
        prob += share / len(minimisers)
    return prob


# ---------------------------------------------------------------------------
# Allocation: one seed, per-position streams
# ---------------------------------------------------------------------------
def _position_uniforms(seed: int, position: int, n_arms: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _STREAM_LABEL, int(position)]))
    return rng.random(n_arms + 2)


def allocate_minimisation(
    levels: object,
    *,
    n_arms: int,
    seed: int,
    p: float = 0.8,
    weights: Sequence[float] | None = None,
    measure: str = "range",
    history_arms: Sequence[int] = (),
) -> np.ndarray:
    """Allocate participants in arrival order by Pocock–Simon minimisation.

    Parameters
    ----------
    levels : array-like, shape (n, F)
        Each participant's level of each factor, rows in arrival order
        (see :func:`factor_levels`).
    n_arms : int
        Number of arms (equal allocation).
    seed : int
        Participant at position ``k`` draws from ``SeedSequence([seed, label, k])``.
    p : float
        Probability of the minimising arm, between ``1/K`` and 1.
    weights : sequence of float, optional
        One positive weight per factor (default 1 each).
    measure : {"range", "variance"}
        See :data:`IMBALANCE_MEASURES`.
    history_arms : sequence of int
        Arms already allocated to the first ``len(history_arms)`` rows (e.g.
        from the store); they are counted, not re-drawn, and returned as given.

    Returns
    -------
    ndarray of int, shape (n,)
        Arm code per row.

    Notes
    -----
    Allocating rows ``0..n-1`` at once, or the first ``m`` and then the rest
    with ``history_arms`` set to the first ``m`` arms, gives the same arms:
    each position's random numbers depend only on (seed, position).
    """
    table, w, fn = _checked(levels, n_arms, p, weights, measure)
    cells, n_cells = _cells(table)
    history = np.asarray(history_arms, dtype=np.int64)
    if len(history) > len(table) or (len(history) and not np.isin(history, range(n_arms)).all()):
        raise ValueError(
            f"The 'history_arms' must be arm codes 0..{n_arms - 1} for at most the {len(table)} "
            f"rows given. Got {len(history)} arms {sorted(set(history.tolist()))} instead."
        )
    counts = np.zeros((1, n_cells, n_arms), dtype=np.int64)
    arms = np.empty(len(table), dtype=np.int64)
    arms[: len(history)] = history
    for k, arm in enumerate(history):
        counts[0, cells[k], arm] += 1
    for k in range(len(history), len(table)):
        u = _position_uniforms(seed, k, n_arms)[None, :]
        arm = int(_choose(counts[:, cells[k], :], w, p, fn, u)[0])
        arms[k] = arm
        counts[0, cells[k], arm] += 1
    return arms


def redraw_minimisation(
    levels: object,
    *,
    n_arms: int,
    n_draws: int,
    rng: np.random.Generator,
    p: float = 0.8,
    weights: Sequence[float] | None = None,
    measure: str = "range",
) -> np.ndarray:
    """``n_draws`` re-runs of the minimisation in the same arrival order, fresh random numbers.

    For randomisation inference: the same rule as :func:`allocate_minimisation`,
    with every draw's random numbers from ``rng``, vectorised over draws.

    Returns
    -------
    ndarray of int, shape (n_draws, n)
    """
    table, w, fn = _checked(levels, n_arms, p, weights, measure)
    cells, n_cells = _cells(table)
    counts = np.zeros((n_draws, n_cells, n_arms), dtype=np.int64)
    draws = np.empty((n_draws, len(table)), dtype=np.int64)
    rows = np.arange(n_draws)
    for k in range(len(table)):
        arm = _choose(counts[:, cells[k], :], w, p, fn, rng.random((n_draws, n_arms + 2)))
        draws[:, k] = arm
        for cell in cells[k]:
            counts[rows, cell, arm] += 1
    return draws


# ---------------------------------------------------------------------------
# The probabilities twin: every random branch, enumerated
# ---------------------------------------------------------------------------
def minimisation_sequence_probabilities(
    levels: object,
    *,
    n_arms: int,
    p: float = 0.8,
    weights: Sequence[float] | None = None,
    measure: str = "range",
) -> tuple[np.ndarray, np.ndarray]:
    """Every allocation sequence the rule can produce, with its exact probability.

    Enumerates the random branches (tie-breaks and the biased coin) of
    :func:`allocate_minimisation` for a small trial: at most ``2**20``
    sequences (``K**n``).

    Returns
    -------
    sequences : ndarray of int, shape (m, n)
    probabilities : ndarray, shape (m,)
        Summing to 1.
    """
    table, w, _fn = _checked(levels, n_arms, p, weights, measure)
    n = len(table)
    if n_arms**n > _MAX_SEQUENCES:
        raise ValueError(
            f"Enumerating minimisation of {n} participants over {n_arms} arms can reach "
            f"{n_arms}**{n} sequences; at most {_MAX_SEQUENCES} are enumerated. Got n = {n} instead."
        )
    cells, n_cells = _cells(table)
    sequences: list[tuple[int, ...]] = []
    probabilities: list[float] = []

    def walk(k: int, counts: np.ndarray, prefix: tuple[int, ...], prob: float) -> None:
        if k == n:
            sequences.append(prefix)
            probabilities.append(prob)
            return
        step = minimisation_step_probabilities(counts[cells[k]], p=p, weights=w, measure=measure)
        for arm in np.flatnonzero(step > 0):
            counts[cells[k], arm] += 1
            walk(k + 1, counts, (*prefix, int(arm)), prob * float(step[arm]))
            counts[cells[k], arm] -= 1

    walk(0, np.zeros((n_cells, n_arms), dtype=np.int64), (), 1.0)
    return np.array(sequences, dtype=np.int64).reshape(len(sequences), n), np.array(probabilities)


def minimisation_probabilities(
    levels: object,
    *,
    n_arms: int,
    p: float = 0.8,
    weights: Sequence[float] | None = None,
    measure: str = "range",
) -> np.ndarray:
    """The probabilities twin of :func:`allocate_minimisation`: each participant's arm probabilities.

    Exact, from :func:`minimisation_sequence_probabilities`.  With equal
    ratios every entry is ``1/K`` (see the module notes); the sequence
    probabilities are where the rule shows.

    Returns
    -------
    ndarray, shape (n, K)
    """
    sequences, prob = minimisation_sequence_probabilities(
        levels, n_arms=n_arms, p=p, weights=weights, measure=measure
    )
    return np.stack([prob @ (sequences == j) for j in range(n_arms)], axis=1)


def marginal_imbalance(levels: object, arms: np.ndarray, *, n_arms: int) -> np.ndarray:
    """The range of arm counts of every (factor, level) after each participant.

    Returns
    -------
    ndarray of int, shape (n, n_cells)
        Row ``k``: for every (factor, level) cell, ``max − min`` of its arm
        counts over participants ``0..k``.
    """
    table = np.asarray(levels, dtype=object)
    table = table[:, None] if table.ndim == 1 else table
    cells, n_cells = _cells(table)
    counts = np.zeros((n_cells, n_arms), dtype=np.int64)
    out = np.empty((len(table), n_cells), dtype=np.int64)
    for k, arm in enumerate(np.asarray(arms, dtype=np.int64)):
        counts[cells[k], arm] += 1
        out[k] = counts.max(axis=1) - counts.min(axis=1)
    return out


def factor_weights(factors: Sequence[str], declared: Mapping[str, float]) -> list[float]:
    """The design's factor weights in factor order (1 where not declared)."""
    return [float(declared.get(f, 1.0)) for f in factors]


def minimisation_allocator(design: TrialDesign) -> Callable[[list[dict], dict], str]:
    """``allocate_next(history, newcomer) -> arm name`` for :func:`flows.enrol.enrol_late_entrants`.

    Replays the rule over everyone allocated so far (``history``: dicts with
    the factor fields and ``arm``, in arrival order, with their stored arms)
    and draws only the newcomer's arm, from the stream of its arrival
    position: the arm a batch replay of the whole arrival order gives.
    """
    settings = design.randomisation.minimisation
    code = {name: j for j, name in enumerate(design.arm_names)}
    weights = factor_weights(settings.factors, settings.weights)

    def allocate_next(history: list[dict], newcomer: dict) -> str:
        rows = pd.DataFrame([*history, newcomer], columns=[*settings.factors, "arm"])
        arms = allocate_minimisation(
            factor_levels(rows, settings.factors),
            n_arms=len(design.arms),
            seed=design.randomisation.seed,
            p=settings.p,
            weights=weights,
            measure=settings.imbalance,
            history_arms=[code[h["arm"]] for h in history],
        )
        return design.arm_names[int(arms[-1])]

    return allocate_next
