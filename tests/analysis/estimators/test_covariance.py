"""analysis.estimators.covariance against the definitions: CR2 with N x N matrices, HC0 by hand.

The blockwise CR2 never forms an N x N matrix; these tests build them (small N only) and hold
the two together, weighted and not.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from analysis.estimators import robust_vcov


def _cr2_by_full_matrices(x, e, clusters, w):
    """CR2 and its df straight from the definitions, with N x N matrices (small N only)."""
    n, k = x.shape
    weight = np.diag(w)
    bread = np.linalg.inv(x.T @ weight @ x)
    residual_maker = np.eye(n) - x @ bread @ x.T @ weight
    target = residual_maker @ residual_maker.T
    groups = [np.flatnonzero(clusters == g) for g in np.unique(clusters)]
    adjust = {}
    for g, rows in enumerate(groups):
        values, vectors = np.linalg.eigh(target[np.ix_(rows, rows)])
        inv_sqrt = np.where(values > 1e-12, 1 / np.sqrt(np.clip(values, 1e-300, None)), 0.0)
        adjust[g] = (vectors * inv_sqrt) @ vectors.T
    meat = np.zeros((k, k))
    for g, rows in enumerate(groups):
        s = x[rows].T @ weight[np.ix_(rows, rows)] @ adjust[g] @ e[rows]
        meat += np.outer(s, s)
    vcov = bread @ meat @ bread
    df = np.empty(k)
    for j in range(k):
        g_matrix = np.zeros((n, len(groups)))
        for g, rows in enumerate(groups):
            p = adjust[g] @ weight[np.ix_(rows, rows)] @ x[rows] @ bread[:, j]
            # c'V c = sum_g (p_g' e_g)^2 with e = (I - H) eps, so column g is (I - H)[g, :]' p_g.
            g_matrix[:, g] = residual_maker[rows, :].T @ p
        omega = g_matrix.T @ g_matrix
        df[j] = np.trace(omega) ** 2 / np.sum(omega**2)
    return vcov, df


@pytest.mark.parametrize("weighted", [False, True])
def test_blockwise_cr2_equals_the_full_matrix_definition_on_unbalanced_clusters(rng, weighted):
    sizes = [1, 2, 3, 5, 8, 13, 1, 21, 4, 2]  # singletons and clusters smaller than k
    clusters = np.repeat(np.arange(len(sizes)), sizes)
    n = len(clusters)
    x = np.column_stack(
        [np.ones(n), np.isin(clusters, [1, 3, 5, 7]), rng.normal(size=n), rng.normal(size=n)]
    ).astype(float)
    e = rng.normal(size=n) * (1 + x[:, 2] ** 2)
    w = rng.uniform(0.3, 3.0, n) if weighted else np.ones(n)
    expected_vcov, expected_df = _cr2_by_full_matrices(x, e, clusters, w)
    vcov, df = robust_vcov(x, e, se_type="CR2", clusters=clusters, weights=w if weighted else None)
    np.testing.assert_allclose(vcov, expected_vcov, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(df, expected_df, rtol=1e-9)


def test_helpers_agree_with_scipy_on_a_tiny_problem():
    # A sanity anchor independent of R: HC0 on a 4-row problem by hand.
    x = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    y = np.array([1.0, 3.0, 2.0, 5.0])
    beta, *_ = linalg.lstsq(x, y)
    e = y - x @ beta
    bread = np.linalg.inv(x.T @ x)
    expected = bread @ (x.T * e**2) @ x @ bread
    vcov, df = robust_vcov(x, e, se_type="HC0")
    np.testing.assert_allclose(vcov, expected, rtol=1e-12)
    assert df.tolist() == [2.0, 2.0]
