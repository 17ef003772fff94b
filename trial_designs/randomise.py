"""Allocation algorithms: pure functions, each with a probabilities twin.

Every allocation function takes the units in *canonical order* (see
:func:`canonical_order`), so the same seed gives the same allocation whatever
the order of the input rows.  Randomness always comes from an argument
(``rng`` or a seed); nothing here reads global random state.

The verbs follow R's randomizr: ``allocate_complete`` /
``allocate_complete_probabilities``, and so on.  Arms are integer codes
``0..k-1`` in the order of the design's ``arms``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trial_designs.design import ALGORITHM_VERSION, TrialDesign
from trial_designs.minimise import (
    allocate_minimisation,
    factor_levels,
    factor_weights,
    redraw_minimisation,
)

__all__ = [
    "Allocation",
    "ConstrainedSet",
    "TooTightConstraintError",
    "allocate_blocked",
    "allocate_blocked_probabilities",
    "allocate_clusters",
    "allocate_clusters_probabilities",
    "allocate_complete",
    "allocate_complete_probabilities",
    "allocate_constrained",
    "allocate_constrained_probabilities",
    "balance_score",
    "canonical_order",
    "cluster_table",
    "draw_allocations",
    "enumerate_constrained",
    "randomise",
    "randomise_probabilities",
    "sequence_slot",
    "stratum_codes",
    "stratum_keys",
    "stratum_sequence",
]

_NO_STRATUM = "all"


class TooTightConstraintError(ValueError):
    """A covariate constraint that makes the allocation nearly deterministic."""


# ---------------------------------------------------------------------------
# Canonical order and strata
# ---------------------------------------------------------------------------
def stratum_keys(units: pd.DataFrame, strata: Sequence[str]) -> pd.Series:
    """One string key per unit naming its stratum (``"all"`` when there are none)."""
    codes, names = stratum_codes(units, strata)
    return pd.Series(np.asarray(names, dtype=object)[codes], index=units.index, dtype="str")


def stratum_codes(units: pd.DataFrame, strata: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Integer stratum codes ``0..S-1`` and their names, in sorted order of the strata values.

    Strata are ordered by the tuple of their column values, so the order (and
    thus which random numbers each stratum draws) depends only on the values.
    """
    if not strata:
        return np.zeros(len(units), dtype=np.int64), [_NO_STRATUM]
    per_column = [pd.factorize(units[c].astype("str"), sort=True) for c in strata]
    shape = tuple(len(uniques) for _, uniques in per_column)
    combined = np.ravel_multi_index(tuple(codes for codes, _ in per_column), shape)
    if combined.max(initial=0) < 50_000_000:  # dense: O(n) instead of a sort
        seen = np.bincount(combined) > 0
        present = np.flatnonzero(seen)
        codes = (np.cumsum(seen) - 1)[combined]
    else:
        present, codes = np.unique(combined, return_inverse=True)
    parts = np.unravel_index(present, shape)
    names = [
        " | ".join(str(per_column[k][1][parts[k][i]]) for k in range(len(strata)))
        for i in range(len(present))
    ]
    return codes.astype(np.int64), names


def canonical_order(unit_ids: pd.Series, codes: np.ndarray) -> np.ndarray:
    """Positions that sort units by (stratum code, id): independent of input order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    by_id = pc.sort_indices(pa.array(unit_ids.astype("str"))).to_numpy()
    small = codes[by_id].astype(np.uint16) if codes.max(initial=0) < 2**16 else codes[by_id]
    return by_id[np.argsort(small, kind="stable")]  # radix sort for 16-bit codes


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _stream(seed: int, *labels: str | int) -> np.random.Generator:
    """A generator for one named stream of a seed (e.g. one stratum's sequence)."""
    words = [seed] + [_stable_hash(x) if isinstance(x, str) else int(x) for x in labels]
    return np.random.default_rng(np.random.SeedSequence(words))


# ---------------------------------------------------------------------------
# Complete randomisation within strata
# ---------------------------------------------------------------------------
def _floor_ceil_counts(
    sizes: np.ndarray, ratios: Sequence[int], rng: np.random.Generator
) -> np.ndarray:
    """Arm counts per group: each floor or ceiling of n·p, and exactly n·p in expectation.

    Notes
    -----
    With ratio sum ``T``, arm ``j`` gets ``floor(n r_j / T)`` plus one more with
    probability ``((n r_j) mod T) / T``.  The extra units are chosen by
    systematic sampling on the integer scale: a uniform integer ``u`` in
    ``[0, T)`` and points ``u, u+T, ...`` over the cumulative remainders.  Each
    arm's remainder is below ``T`` so it is picked at most once, and exactly
    ``n - Σ floor`` arms are picked.  All arithmetic is integer, so the
    probabilities are exact.
    """
    ratios_arr = np.asarray(ratios, dtype=np.int64)
    total = int(ratios_arr.sum())
    scaled = sizes[:, None].astype(np.int64) * ratios_arr[None, :]
    floors = scaled // total
    remainders = scaled % total
    upper = np.cumsum(remainders, axis=1)
    lower = upper - remainders
    u = rng.integers(0, total, size=len(sizes))[:, None]
    # number of points u + mT in [lower, upper): ceil((upper-u)/T) - ceil((lower-u)/T)
    extra = -((u - upper) // total) + ((u - lower) // total)
    return floors + extra


def allocate_complete(
    stratum_codes: np.ndarray, *, ratios: Sequence[int], rng: np.random.Generator
) -> np.ndarray:
    """Complete randomisation within each stratum.

    Parameters
    ----------
    stratum_codes : ndarray of int, shape (n,)
        Stratum code of each unit, units in canonical order; ``0..S-1``.
    ratios : sequence of int
        Allocation ratio per arm.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int, shape (n,)
        Arm code per unit.  In every stratum arm ``j`` gets ``floor`` or
        ``ceil`` of ``n_s · p_j`` units.
    """
    stratum_codes = np.asarray(stratum_codes)
    n_strata = int(stratum_codes.max()) + 1 if len(stratum_codes) else 0
    sizes = np.bincount(stratum_codes, minlength=n_strata)
    counts = _floor_ceil_counts(sizes, ratios, rng)
    slots = np.repeat(np.tile(np.arange(len(ratios)), n_strata), counts.ravel())
    # a random order of units within each stratum; codes are integers, keys in [0, 1)
    order = np.argsort(stratum_codes + rng.random(len(stratum_codes)))
    arms = np.empty(len(stratum_codes), dtype=np.int64)
    arms[order] = slots
    return arms


def allocate_complete_probabilities(
    stratum_codes: np.ndarray, *, ratios: Sequence[int]
) -> np.ndarray:
    """Each unit's probability of each arm under :func:`allocate_complete`: ``r_j / Σr``."""
    p = np.asarray(ratios, dtype=float) / sum(ratios)
    return np.tile(p, (len(stratum_codes), 1))


# ---------------------------------------------------------------------------
# Permuted blocks: the concealed per-stratum sequence
# ---------------------------------------------------------------------------
def stratum_sequence(
    *,
    ratios: Sequence[int],
    block_sizes: Sequence[int],
    seed: int,
    stratum: str,
    length: int,
    n_initial: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``length`` slots of a stratum's concealed sequence of permuted blocks.

    Parameters
    ----------
    ratios, block_sizes
        From the design; every block size is a multiple of ``sum(ratios)``.
    seed : int
        The design's seed.  The stream is keyed by (seed, stratum), so one
        stratum's sequence does not depend on any other.
    stratum : str
        The stratum key.
    length : int
        How many slots to return.
    n_initial : int, optional
        The number of units allocated at the initial randomisation.  The block
        it ends inside is arranged so that its first slots hold floor/ceil of
        the ratio, which keeps the initial per-stratum counts within floor/ceil
        of ``n·p`` while every block still holds the exact ratio.

    Returns
    -------
    arms, block_index : ndarray
        The arm code and block number of each slot.

    Notes
    -----
    Replaying from (seed, stratum, n_initial) regenerates the same slots, so a
    late entrant's allocation is reproducible from its sequence position.
    Every slot has marginal probability ``r_j / Σr`` of arm ``j``.
    """
    rng = _stream(seed, "sequence", stratum)
    total = sum(ratios)
    arms_out: list[np.ndarray] = []
    blocks_out: list[np.ndarray] = []
    start = 0
    block = 0
    ratios_arr = np.asarray(ratios)
    while start < length:
        size = int(rng.choice(np.asarray(block_sizes)))
        composition = ratios_arr * (size // total)
        slots = np.repeat(np.arange(len(ratios)), composition)
        if n_initial is not None and start < n_initial < start + size:
            k = n_initial - start
            head_counts = _floor_ceil_counts(np.array([k]), ratios, rng)[0]
            head = np.repeat(np.arange(len(ratios)), head_counts)
            tail = np.repeat(np.arange(len(ratios)), composition - head_counts)
            slots = np.concatenate([rng.permutation(head), rng.permutation(tail)])
        else:
            slots = rng.permutation(slots)
        arms_out.append(slots)
        blocks_out.append(np.full(size, block))
        start += size
        block += 1
    if not arms_out:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(arms_out)[:length], np.concatenate(blocks_out)[:length]


def sequence_slot(
    *,
    ratios: Sequence[int],
    block_sizes: Sequence[int],
    seed: int,
    stratum: str,
    position: int,
    n_initial: int | None,
) -> int:
    """The arm at one position of a stratum's concealed sequence."""
    arms, _ = stratum_sequence(
        ratios=ratios,
        block_sizes=block_sizes,
        seed=seed,
        stratum=stratum,
        length=position + 1,
        n_initial=n_initial,
    )
    return int(arms[position])


def allocate_blocked(
    stratum_codes: np.ndarray,
    stratum_names: Sequence[str],
    *,
    ratios: Sequence[int],
    block_sizes: Sequence[int],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Permuted blocks of random size within strata.

    Units (in canonical order) are put in a random order within their stratum
    and take the slots of the stratum's sequence (:func:`stratum_sequence`)
    in turn.

    Returns
    -------
    arms, positions : ndarray
        Arm code and 0-based sequence position of each unit.
    """
    stratum_codes = np.asarray(stratum_codes)
    arms = np.empty(len(stratum_codes), dtype=np.int64)
    positions = np.empty(len(stratum_codes), dtype=np.int64)
    for code, name in enumerate(stratum_names):
        members = np.flatnonzero(stratum_codes == code)
        n = len(members)
        sequence, _ = stratum_sequence(
            ratios=ratios, block_sizes=block_sizes, seed=seed, stratum=name, length=n, n_initial=n
        )
        order = _stream(seed, "order", name).permutation(n)
        arms[members[order]] = sequence
        positions[members[order]] = np.arange(n)
    return arms, positions


def allocate_blocked_probabilities(
    stratum_codes: np.ndarray, *, ratios: Sequence[int]
) -> np.ndarray:
    """Each unit's arm probabilities under :func:`allocate_blocked`: ``r_j / Σr``.

    Notes
    -----
    Within a permuted block every position is exchangeable, so each slot has
    marginal probability ``r_j/Σr``; the floor/ceil head of the final block is
    also unbiased (see :func:`stratum_sequence`).
    """
    return allocate_complete_probabilities(stratum_codes, ratios=ratios)


# ---------------------------------------------------------------------------
# Cluster randomisation
# ---------------------------------------------------------------------------
def cluster_table(
    units: pd.DataFrame, *, cluster: str, strata: Sequence[str], covariates: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per cluster: its stratum key, size and mean covariates, sorted by cluster id.

    Raises
    ------
    ValueError
        If a cluster's members lie in more than one stratum.
    """
    keyed = units.assign(_stratum=stratum_keys(units, strata))
    spread = keyed.groupby(cluster)["_stratum"].nunique()
    split = spread[spread > 1]
    if len(split):
        raise ValueError(
            f"Each cluster must lie inside one stratum. Cluster '{split.index[0]}' spans "
            f"{int(split.iloc[0])} strata."
        )
    grouped = keyed.groupby(cluster, sort=True)
    table = pd.DataFrame(
        {"stratum": grouped["_stratum"].first(), "size": grouped.size().astype(float)}
    )
    for column in covariates:
        if column != "size":
            table[column] = grouped[column].mean()
    table.index = table.index.astype("str")
    table.index.name = "cluster_id"
    return table.sort_index()


def allocate_clusters(
    cluster_stratum_codes: np.ndarray, *, ratios: Sequence[int], rng: np.random.Generator
) -> np.ndarray:
    """Cluster randomisation: complete randomisation of clusters within strata."""
    return allocate_complete(cluster_stratum_codes, ratios=ratios, rng=rng)


def allocate_clusters_probabilities(
    cluster_stratum_codes: np.ndarray, *, ratios: Sequence[int]
) -> np.ndarray:
    """Each cluster's arm probabilities under :func:`allocate_clusters`."""
    return allocate_complete_probabilities(cluster_stratum_codes, ratios=ratios)


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
        rng = _stream(seed, "constrained-candidates")
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


# ---------------------------------------------------------------------------
# The design-level entry points
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Allocation:
    """The result of randomising a roster under a design.

    ``units`` has one row per randomised unit (participant, or cluster in a
    cluster trial): ``unit_id``, ``stratum``, ``arm``, ``sequence_position``.
    ``members`` maps each participant to its unit (itself, or its cluster).
    """

    units: pd.DataFrame
    members: pd.DataFrame
    design_id: str
    design_hash: str
    method: str
    seed: int
    algorithm_version: str
    balance_score: float | None = None
    n_candidates: int | None = None
    n_accepted: int | None = None

    def counts(self) -> pd.DataFrame:
        """Arm counts per stratum (units randomised)."""
        return (
            self.units.groupby(["stratum", "arm"], observed=False)
            .size()
            .unstack(fill_value=0)
            .reset_index()
            .rename_axis(columns=None)
        )


def _prepare(
    units: pd.DataFrame, design: TrialDesign
) -> tuple[pd.DataFrame, np.ndarray, list[str], pd.DataFrame]:
    """Randomised units in canonical order, their stratum codes and names, and the
    participant -> unit map."""
    grouping = [*design.strata, *([design.cluster_by] if design.unit == "cluster" else [])]
    absent = [c for c in dict.fromkeys(grouping) if c not in units.columns]
    if absent:
        raise ValueError(
            f"The design randomises by {', '.join(repr(c) for c in absent)}, which is not a column "
            f"of the roster. Map it in 'roster.columns' or add the column. Got columns "
            f"{[c for c in units.columns if c != 'source_row']} instead."
        )
    if design.unit == "cluster":
        table = cluster_table(
            units,
            cluster=design.cluster_by,
            strata=design.strata,
            covariates=design.randomisation.constraint.covariates
            if design.randomisation.constraint
            else (),
        )
        frame = table.reset_index().rename(columns={"cluster_id": "unit_id"})
        codes, names = pd.factorize(frame["stratum"], sort=True)
        names = list(names)
        members = pd.DataFrame(
            {
                "participant_id": units["id"].astype("str"),
                "unit_id": units[design.cluster_by].astype("str"),
            }
        )
    else:
        codes, names = stratum_codes(units, design.strata)
        frame = pd.DataFrame({"unit_id": units["id"].astype("str")})
        members = pd.DataFrame({"participant_id": frame["unit_id"], "unit_id": frame["unit_id"]})
    order = canonical_order(frame["unit_id"], codes)
    frame = frame.iloc[order].reset_index(drop=True)
    codes = codes[order]
    frame["stratum"] = pd.Categorical.from_codes(codes, categories=names)
    return frame, codes, names, members.sort_values("participant_id").reset_index(drop=True)


def _ratios(design: TrialDesign, frame: pd.DataFrame) -> tuple[int, ...]:
    """The ratios that allocate these units, refusing an allocation that can leave an arm empty.

    With ``n_units`` the ratios are the counts themselves (see
    :meth:`TrialDesign.allocation_ratios`).  A cluster trial needs at least
    one cluster in every arm for every seed: the floor of ``G·r_j/Σr`` over
    the whole trial is at least one.
    """
    n = len(frame)
    word = "clusters" if design.unit == "cluster" else "units"
    if design.unit == "cluster" and n < 2:
        raise ValueError(
            f"A cluster trial needs at least 2 clusters, one per arm at the least. Got {n} "
            f"({', '.join(frame['unit_id'])}) instead."
        )
    ratios = design.allocation_ratios(n)
    if design.unit == "cluster":
        for name, ratio in zip(design.arm_names, ratios, strict=True):
            if n * ratio // sum(ratios) < 1:
                raise ValueError(
                    f"arm '{name}' would get no {word} in some allocations: every arm needs at "
                    f"least one. Got {n} {word} at ratio {':'.join(map(str, ratios))} instead."
                )
    return ratios


def _constrained_set(frame: pd.DataFrame, design: TrialDesign, codes: np.ndarray) -> ConstrainedSet:
    constraint = design.randomisation.constraint
    return enumerate_constrained(
        codes,
        frame[list(constraint.covariates)].to_numpy(dtype=float),
        ratios=_ratios(design, frame),
        keep_fraction=constraint.keep_fraction,
        max_candidates=constraint.max_candidates,
        seed=design.randomisation.seed,
        cluster_ids=frame["unit_id"].tolist(),
    )


def _minimisation_options(design: TrialDesign) -> dict:
    settings = design.randomisation.minimisation
    return {
        "n_arms": len(design.arms),
        "p": settings.p,
        "weights": factor_weights(settings.factors, settings.weights),
        "measure": settings.imbalance,
    }


def _minimisation_levels(
    units: pd.DataFrame, frame: pd.DataFrame, design: TrialDesign
) -> np.ndarray:
    """The factor levels of ``frame``'s units, in ``frame``'s order."""
    levels = factor_levels(units, design.randomisation.minimisation.factors)
    row_of = pd.Index(units["id"].astype("str")).get_indexer(frame["unit_id"])
    return levels[row_of]


def _arrival_order(units: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` in arrival order: by ``units['arrival']`` if given (ties and gaps by the
    canonical order), else the canonical order itself."""
    if "arrival" not in units.columns:
        return frame
    arrival = pd.to_numeric(
        pd.Series(units["arrival"].to_numpy(), index=units["id"].astype("str")), errors="coerce"
    )
    key = arrival.reindex(frame["unit_id"]).to_numpy(dtype=float)
    order = np.lexsort((np.arange(len(frame)), np.nan_to_num(key, nan=np.inf)))
    return frame.iloc[order].reset_index(drop=True)


def randomise(units: pd.DataFrame, design: TrialDesign) -> Allocation:
    """Randomise a checked roster under a design.

    Parameters
    ----------
    units : DataFrame
        The roster with canonical column names (``id``, ``organisation``, ...),
        plus any other strata or cluster column by its own name (``village``).
    design : TrialDesign

    Returns
    -------
    Allocation
        Reproducible from (design seed, design, algorithm version), and the same
        whatever the order of ``units``' rows.
    """
    frame, codes, names, members = _prepare(units, design)
    ratios = _ratios(design, frame)
    seed = design.randomisation.seed
    method = design.randomisation.method
    positions = np.arange(len(frame))
    extra: dict[str, float | int] = {}
    if method == "blocked":
        arms, positions = allocate_blocked(
            codes,
            list(names),
            ratios=ratios,
            block_sizes=design.randomisation.block_sizes,
            seed=seed,
        )
    elif method == "minimisation":
        # arrival order of a roster randomised at once: canonical order (stratum, id), so
        # the allocation is the same whatever the order of the file's rows
        arms = allocate_minimisation(
            _minimisation_levels(units, frame, design), **_minimisation_options(design), seed=seed
        )
    elif method == "constrained_cluster":
        constrained = _constrained_set(frame, design, codes)
        arms, score = allocate_constrained(constrained, rng=_stream(seed, "allocate"))
        extra = {
            "balance_score": score,
            "n_candidates": constrained.n_candidates,
            "n_accepted": len(constrained.accepted),
        }
    else:  # complete, cluster
        arms = allocate_complete(codes, ratios=ratios, rng=_stream(seed, "allocate"))
    if method not in ("blocked", "minimisation"):  # minimisation: the arrival position
        # position within stratum in canonical order: documents the slot each unit took
        positions = np.arange(len(codes)) - np.searchsorted(codes, codes)
    frame = frame.assign(
        arm=pd.Categorical.from_codes(arms, categories=design.arm_names),
        sequence_position=positions,
    )[["unit_id", "stratum", "arm", "sequence_position"]]
    return Allocation(
        units=frame,
        members=members,
        design_id=design.id,
        design_hash=design.design_hash,
        method=method,
        seed=seed,
        algorithm_version=ALGORITHM_VERSION,
        **extra,
    )


def randomise_probabilities(units: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """The probabilities twin of :func:`randomise`: one row per unit, one column per arm."""
    frame, codes, _names, _members = _prepare(units, design)
    ratios = _ratios(design, frame)
    method = design.randomisation.method
    if method == "constrained_cluster":
        prob = allocate_constrained_probabilities(
            _constrained_set(frame, design, codes), len(design.arms)
        )
    elif method == "blocked":
        prob = allocate_blocked_probabilities(codes, ratios=ratios)
    elif method == "minimisation":
        # equal ratios only, and the rule is symmetric in the arms: exactly 1/K for every
        # unit (see trial_designs.minimise; minimisation_probabilities enumerates it)
        prob = allocate_complete_probabilities(codes, ratios=ratios)
    elif method == "cluster":
        prob = allocate_clusters_probabilities(codes, ratios=ratios)
    else:
        prob = allocate_complete_probabilities(codes, ratios=ratios)
    return (
        pd.DataFrame(prob, columns=list(design.arm_names))
        .assign(unit_id=frame["unit_id"])
        .set_index("unit_id")
    )


def draw_allocations(
    units: pd.DataFrame, design: TrialDesign, *, n_draws: int, rng: np.random.Generator
) -> tuple[pd.Index, np.ndarray]:
    """Re-draw the allocation ``n_draws`` times with the design's own randomiser.

    For randomisation inference.  Returns the unit ids (canonical order) and
    an ``(n_draws, n_units)`` array of arm codes.  Blocks, strata, clusters
    and constraints are all honoured.

    Notes
    -----
    Permuted blocks are drawn as complete randomisation within strata: it is
    the same distribution of allocations, at a fraction of the cost.
    :func:`allocate_blocked` gives a stratum's units, in a uniformly random
    order independent of the sequence, the first ``n`` slots of its sequence,
    so the allocation is a uniformly random arrangement of those slots' arm
    counts.  Full blocks hold exactly ``r_j / T`` of each size in arm ``j``,
    and the block the roster ends inside holds floor/ceil counts of
    ``k r_j / T`` for its first ``k`` slots (:func:`_floor_ceil_counts`).
    As ``n - k`` is a multiple of ``T``, ``k r_j mod T = n r_j mod T``, so the
    counts have exactly the distribution :func:`allocate_complete` draws for
    ``n``.  This holds for the units randomised together; late entrants, who
    took later slots of the sequence, are re-drawn as if they had been there
    from the start.

    Minimisation is re-run in the trial's arrival order with fresh random
    numbers (:func:`trial_designs.minimise.redraw_minimisation`): the order is
    ``units['arrival']`` (the store's sequence position) when given, else the
    canonical order the initial randomisation used.
    """
    frame, codes, _names, _members = _prepare(units, design)
    ratios = _ratios(design, frame)
    method = design.randomisation.method
    if method == "minimisation":
        ordered = _arrival_order(units, frame)
        draws = redraw_minimisation(
            _minimisation_levels(units, ordered, design),
            **_minimisation_options(design),
            n_draws=n_draws,
            rng=rng,
        )
        return pd.Index(ordered["unit_id"], name="unit_id"), draws
    if method == "constrained_cluster":
        constrained = _constrained_set(frame, design, codes)
        picks = rng.choice(len(constrained.accepted), size=n_draws, p=constrained.weights)
        draws = constrained.accepted[picks]
    else:
        draws = np.stack([allocate_complete(codes, ratios=ratios, rng=rng) for _ in range(n_draws)])
    return pd.Index(frame["unit_id"], name="unit_id"), draws
