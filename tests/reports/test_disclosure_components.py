"""Disclosure finds determined counts group by group: the same cells as one null space of all."""

from __future__ import annotations

import random

import numpy as np
import pytest

from reports.disclosure import Relation, _determined


def _whole_null_space(values: dict, unknown: set, relations: list[Relation]) -> set:
    """The reference: one SVD of every usable sum at once (the code before the split)."""
    usable = [r for r in relations if all(values.get(c) is not None for c in r.cells())]
    cells = list(dict.fromkeys(c for r in usable for c in r.cells() if c in unknown))
    index = {c: i for i, c in enumerate(cells)}
    rows = []
    for relation in usable:
        row = np.zeros(len(cells))
        for cell, sign in ((relation.whole, 1.0), *((p, -1.0) for p in relation.parts)):
            if cell in index:
                row[index[cell]] += sign
        if row.any():
            rows.append(row)
    if not rows:
        return set()
    matrix = np.array(rows)
    _, singular, vt = np.linalg.svd(matrix)
    rank = int((singular > 1e-9 * max(matrix.shape) * singular.max()).sum())
    null = vt[rank:]
    return {c for c, i in index.items() if not null.size or np.all(np.abs(null[:, i]) < 1e-9)}


@pytest.mark.parametrize("seed", range(40))
def test_determined_by_groups_equals_one_null_space(seed):
    rng = random.Random(seed)
    n = rng.randint(4, 30)
    keys = list(range(n))
    relations = []
    for _ in range(rng.randint(1, 14)):
        parts = tuple(rng.sample(keys, rng.randint(1, min(5, n - 1))))
        relations.append(Relation(rng.choice([k for k in keys if k not in parts]), parts))
    values = {k: rng.randint(0, 20) for k in keys}
    unknown = set(rng.sample(keys, rng.randint(1, n)))
    expected = _whole_null_space(values, unknown, relations)
    assert _determined(values, unknown, relations) == expected
    for cell in unknown:  # asked about one cell: the same answer for that cell
        assert (cell in _determined(values, unknown, relations, of=cell)) == (cell in expected)


def test_two_unlinked_tables_are_solved_apart():
    # a + b = 10 with b hidden pins b; c + d = e with d and e hidden pins neither
    values = {"w": 10, "a": 7, "b": 3, "e": 9, "c": 4, "d": 5}
    relations = [Relation("w", ("a", "b")), Relation("e", ("c", "d"))]
    assert _determined(values, {"b", "d", "e"}, relations) == {"b"}
    assert _determined(values, {"b", "d", "e"}, relations, of="d") == set()
