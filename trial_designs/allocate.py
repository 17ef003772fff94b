"""Complete, permuted-block and cluster allocation: pure functions, each with a
probabilities twin (R randomizr's verbs: ``allocate_complete`` /
``allocate_complete_probabilities``, and so on).

Units come in canonical order (:func:`trial_designs.strata.canonical_order`);
arms are integer codes ``0..k-1`` in the order of the design's ``arms``.
Randomness always comes from an argument (``rng`` or a seed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trial_designs.strata import seeded_stream, stratum_keys

__all__ = [
    "allocate_blocked",
    "allocate_blocked_probabilities",
    "allocate_clusters",
    "allocate_clusters_probabilities",
    "allocate_complete",
    "allocate_complete_probabilities",
    "cluster_table",
    "sequence_slot",
    "stratum_sequence",
]


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
    rng = seeded_stream(seed, "sequence", stratum)
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
        order = seeded_stream(seed, "order", name).permutation(n)
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
