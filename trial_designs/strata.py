"""Strata, the canonical order of units, and the named random streams of a seed (pure).

Every allocation function takes the units in *canonical order*
(:func:`canonical_order`: by stratum, then id), so the same seed gives the same
allocation whatever the order of the input rows; and each part of an
allocation draws from its own stream of the design's seed
(:func:`seeded_stream`), so one stratum's sequence does not depend on another's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["canonical_order", "seeded_stream", "stratum_codes", "stratum_keys"]

_NO_STRATUM = "all"


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


def seeded_stream(seed: int, *labels: str | int) -> np.random.Generator:
    """A generator for one named stream of a seed (e.g. one stratum's sequence)."""
    words = [seed] + [_stable_hash(x) if isinstance(x, str) else int(x) for x in labels]
    return np.random.default_rng(np.random.SeedSequence(words))
