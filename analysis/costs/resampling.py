"""The cost-effectiveness bootstrap's draws: per arm, resampled units' sums, in blocks.

:func:`replicate_means` draws every replicate's mean cost and effect per arm
(control, then each active arm), in blocks that can run anywhere
(:data:`MapBlocks`, e.g. a Dask cluster) with the same result as here.
:func:`analysis.costs.bootstrap_cost_effect` turns them into increments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CHUNK_ENTRIES",
    "MapBlocks",
    "arm_groups",
    "replicate_block",
    "replicate_means",
    "unit_sums",
]

#: Index matrices of the bootstrap are drawn in chunks of about this many entries, so
#: memory stays near 2 x 8 x CHUNK_ENTRIES bytes whatever the trial's size.
CHUNK_ENTRIES = 4_000_000


def arm_groups(
    arm: np.ndarray, n_arms: int, clusters: np.ndarray | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per arm (control, then each active arm): each row's resampling unit, and the units' rows.

    Units are participants in input order, or clusters in sorted label order.
    """
    groups = []
    for value in range(n_arms):
        rows = np.flatnonzero(arm == value)
        if clusters is None:
            unit_of_row = np.arange(len(rows))
        else:
            _, unit_of_row = np.unique(clusters[rows], return_inverse=True)
        groups.append((rows, unit_of_row))
    return groups


def unit_sums(
    rows: np.ndarray, unit_of_row: np.ndarray, costs: np.ndarray, effects: np.ndarray
) -> np.ndarray:
    """Per resampling unit: the sum of costs, the sum of effects, and the number of participants."""
    n_units = int(unit_of_row.max()) + 1
    return np.column_stack(
        [
            np.bincount(unit_of_row, weights=costs[rows], minlength=n_units),
            np.bincount(unit_of_row, weights=effects[rows], minlength=n_units),
            np.bincount(unit_of_row, minlength=n_units).astype(float),
        ]
    )


#: ``map_blocks(function, blocks, shared)``: ``[function(*shared, block) for block in blocks]``,
#: in block order, wherever the caller chooses to run them (``flows.dask_runner.map_chunks``).
MapBlocks = Callable[[Callable[..., Any], Sequence[Any], Sequence[Any]], list]


def _here(function: Callable[..., Any], blocks: Sequence[Any], shared: Sequence[Any]) -> list:
    return [function(*shared, block) for block in blocks]


def replicate_block(sums: list[np.ndarray], block: tuple[int, object]) -> np.ndarray:
    """(size, arms, 2) replicate means of (cost, effect) per arm, for one block.

    ``block`` is ``(size, seed)``: ``seed`` is an integer (a block of several)
    or a ``numpy.random.Generator`` (the only block, drawn from the caller's
    generator itself).  Per arm, control then each active arm, an index matrix
    ``rng.integers(0, G, size=(size, G))`` of resampled units; ``np.bincount``
    turns it into counts, and one matrix product gives every replicate's sums
    of costs, effects and participants.  Pure: the same block gives the same
    bits in any process.
    """
    size, seed = block
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out = np.empty((size, len(sums), 2))
    for a, unit_sums in enumerate(sums):
        n_units = len(unit_sums)
        draws = rng.integers(0, n_units, size=(size, n_units))
        draws += (np.arange(size) * n_units)[:, None]
        counts = np.bincount(draws.ravel(), minlength=size * n_units).reshape(size, n_units)
        totals = counts @ unit_sums
        out[:, a, :] = totals[:, :2] / totals[:, 2:3]
    return out


def replicate_means(
    sums: list[np.ndarray],
    n_boot: int,
    chunk_size: int,
    rng: np.random.Generator,
    map_blocks: MapBlocks | None = None,
) -> np.ndarray:
    """(n_boot, arms, 2) replicate means, in blocks of ``chunk_size`` replicates.

    One block draws from ``rng`` itself.  Several each draw from a generator of
    their own, seeded by one integer each drawn from ``rng`` up front, so the
    blocks are independent of each other and can run anywhere (``map_blocks``)
    with the same result as here.
    """
    sizes = [min(chunk_size, n_boot - start) for start in range(0, n_boot, chunk_size)]
    if len(sizes) == 1:
        return replicate_block(sums, (n_boot, rng))
    seeds = rng.integers(0, 2**63, size=len(sizes)).tolist()
    blocks = list(zip(sizes, seeds, strict=True))
    return np.concatenate((map_blocks or _here)(replicate_block, blocks, (sums,)))
