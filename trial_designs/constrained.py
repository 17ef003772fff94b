"""Covariate-constrained cluster randomisation (pure), with its probabilities twin.

The allocations that balance the clusters' covariates best are enumerated (or
sampled), the best-balanced fraction is kept, and one is drawn at random;
:func:`allocate_constrained_probabilities` gives each cluster's exact
probabilities over the kept set.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trial_designs.allocate import allocate_clusters
from trial_designs.strata import seeded_stream

__all__ = [
    "ConstrainedSet",
    "TooTightConstraintError",
    "allocate_constrained",
    "allocate_constrained_probabilities",
    "balance_score",
    "enumerate_constrained",
]


class TooTightConstraintError(ValueError):
    """A covariate constraint that makes the allocation nearly deterministic."""


# ---------------------------------------------------------------------------
# Covariate-constrained cluster randomisation
# ---------------------------------------------------------------------------
def balance_score(candidates: np.ndarray, covariates: np.ndarray, n_arms: int) -> np.ndarray:
    """Balance score of each candidate allocation: lower is better.

    Notes
    -----
    ``B = Σ_c Σ_{j≥1} ((x̄_{cj} − x̄_{c0}) / s_c)²``: the squared standardised
    difference in the cluster-level mean of each covariate ``c`` between each
    active arm ``j`` and the control arm 0, with ``s_c`` the SD of ``c`` over
    clusters.  Computed for all candidates at once as matrix products.
    """
    sd = covariates.std(axis=0, ddof=1)
    sd[sd == 0] = 1.0
    z = (covariates - covariates.mean(axis=0)) / sd
    score = np.zeros(len(candidates))
    counts = [(candidates == j).sum(axis=1) for j in range(n_arms)]
    means = [((candidates == j).astype(float) @ z) / counts[j][:, None] for j in range(n_arms)]
    for j in range(1, n_arms):
        score += ((means[j] - means[0]) ** 2).sum(axis=1)
    return score


def _stratum_options(n: int, ratios: Sequence[int]) -> list[tuple[tuple[int, ...], float]]:
    """Every assignment of n clusters with floor/ceil counts, with its probability."""
    k = len(ratios)
    total = sum(ratios)
    floors = [n * r // total for r in ratios]
    rem = [n * r % total for r in ratios]
    extra_needed = n - sum(floors)
    options: list[tuple[tuple[int, ...], float]] = []
    # probability of each set of arms receiving the extra units (systematic sampling)
    for extra_set in itertools.combinations(range(k), extra_needed):
        counts = [floors[j] + (j in extra_set) for j in range(k)]
        p_counts = _systematic_set_probability(rem, total, set(extra_set))
        if p_counts == 0:
            continue
        n_ways = math.factorial(n) / math.prod(math.factorial(c) for c in counts)
        for assignment in _assignments_with_counts(n, counts):
            options.append((assignment, p_counts / n_ways))
    return options


def _systematic_set_probability(rem: list[int], total: int, chosen: set[int]) -> float:
    upper = np.cumsum(rem)
    lower = upper - np.asarray(rem)
    hits = 0
    for u in range(total):
        picked = {
            j for j in range(len(rem)) if -((u - upper[j]) // total) + ((u - lower[j]) // total)
        }
        hits += picked == chosen
    return hits / total


def _assignments_with_counts(n: int, counts: list[int]):
    if len(counts) == 1:
        yield (0,) * n
        return
    positions = range(n)
    for first in itertools.combinations(positions, counts[0]):
        rest = [i for i in positions if i not in first]
        for tail in _assignments_with_counts(len(rest), counts[1:]):
            assignment = [0] * n
            for i, a in zip(rest, tail, strict=True):
                assignment[i] = a + 1
            yield tuple(assignment)


@dataclass(frozen=True)
class ConstrainedSet:
    """The accepted allocations of a covariate-constrained design."""

    accepted: np.ndarray = field(repr=False)  # (m, G) arm codes
    weights: np.ndarray = field(repr=False)  # (m,) probability of each accepted allocation
    scores: np.ndarray = field(repr=False)  # (m,) balance score of each accepted allocation
    n_candidates: int
    enumerated: bool
    threshold: float


def enumerate_constrained(
    cluster_stratum_codes: np.ndarray,
    covariates: np.ndarray,
    *,
    ratios: Sequence[int],
    keep_fraction: float,
    max_candidates: int,
    seed: int,
    cluster_ids: Sequence[str],
) -> ConstrainedSet:
    """Candidate allocations, scored, with the best-balanced fraction kept.

    Candidates are every allocation the cluster randomiser can produce when
    there are at most ``max_candidates`` (each weighted by its probability),
    else ``max_candidates`` draws from it (equally weighted).  Ties at the
    threshold are all kept, so the accepted set does not depend on order.

    Raises
    ------
    TooTightConstraintError
        If some pair of clusters is always, or never, in the same arm among the
        accepted allocations, or some cluster's arm is fixed.
    """
    codes = np.asarray(cluster_stratum_codes)
    n_strata = int(codes.max()) + 1
    members = [np.flatnonzero(codes == s) for s in range(n_strata)]
    n_arms = len(ratios)
    per_stratum_count = [
        len(_stratum_options(len(m), ratios)) if len(m) <= 16 else math.inf for m in members
    ]
    total_count = math.prod(per_stratum_count)
    if total_count <= max_candidates:
        per_stratum = [_stratum_options(len(m), ratios) for m in members]
        rows, weights = [], []
        for combo in itertools.product(*per_stratum):
            row = np.empty(len(codes), dtype=np.int64)
            weight = 1.0
            for m, (assignment, w) in zip(members, combo, strict=True):
                row[m] = assignment
                weight *= w
            rows.append(row)
            weights.append(weight)
        candidates = np.array(rows)
        cand_weights = np.array(weights)
        enumerated = True
    else:
        rng = seeded_stream(seed, "constrained-candidates")
        candidates = np.array(
            [allocate_clusters(codes, ratios=ratios, rng=rng) for _ in range(max_candidates)]
        )
        cand_weights = np.ones(len(candidates))
        enumerated = False
    scores = balance_score(candidates, np.asarray(covariates, dtype=float), n_arms)
    # keep the best fraction by probability mass; ties at the cut are all kept
    order = np.argsort(scores, kind="stable")
    mass = np.cumsum(cand_weights[order]) / cand_weights.sum()
    cut = order[min(np.searchsorted(mass, keep_fraction - 1e-12), len(order) - 1)]
    threshold = float(scores[cut])
    keep = scores <= threshold + 1e-12
    accepted = candidates[keep]
    weights = cand_weights[keep] / cand_weights[keep].sum()
    _refuse_too_tight(
        accepted, weights, n_arms, list(cluster_ids), int(keep.sum()), len(candidates)
    )
    return ConstrainedSet(
        accepted=accepted,
        weights=weights,
        scores=scores[keep],
        n_candidates=len(candidates),
        enumerated=enumerated,
        threshold=threshold,
    )


def _refuse_too_tight(
    accepted: np.ndarray, weights: np.ndarray, n_arms: int, ids: list[str], kept: int, total: int
) -> None:
    onehot = np.stack([(accepted == j).astype(float) for j in range(n_arms)], axis=2)
    prob = np.einsum("m,mgj->gj", weights, onehot)
    fixed = np.flatnonzero(np.isclose(prob, 1.0).any(axis=1))
    if len(fixed):
        raise TooTightConstraintError(
            f"The constraint keeps {kept} of {total} candidate allocations and cluster "
            f"'{ids[fixed[0]]}' is always in the same arm. Loosen 'keep_fraction'."
        )
    together = np.einsum("m,mgj,mhj->gh", weights, onehot, onehot)
    g = len(ids)
    for i in range(g):
        for j in range(i + 1, g):
            if together[i, j] > 1 - 1e-12 or together[i, j] < 1e-12:
                word = "always" if together[i, j] > 0.5 else "never"
                raise TooTightConstraintError(
                    f"The constraint keeps {kept} of {total} candidate allocations and clusters "
                    f"'{ids[i]}' and '{ids[j]}' are {word} in the same arm. Loosen 'keep_fraction'."
                )


def allocate_constrained(
    constrained: ConstrainedSet, *, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Draw one accepted allocation; returns (arm codes per cluster, its balance score)."""
    pick = rng.choice(len(constrained.accepted), p=constrained.weights)
    return constrained.accepted[pick].copy(), float(constrained.scores[pick])


def allocate_constrained_probabilities(constrained: ConstrainedSet, n_arms: int) -> np.ndarray:
    """Each cluster's arm probabilities: the weighted share of accepted allocations."""
    return np.stack(
        [constrained.weights @ (constrained.accepted == j) for j in range(n_arms)], axis=1
    )
