"""analysis.covariates: the standardised covariate matrix and its distinct rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.covariates import (
    covariate_matrix,
    covariate_patterns,
    sparse_covariate_matrix,
    weighted_covariate_matrix,
)


def _small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30.0, 40.0, 50.0, 60.0, 35.0, 45.0, 55.0, np.nan],
            "la": [
                "Dudley",
                "Dudley",
                "Shropshire",
                "Bracknell",
                "Dudley",
                "Bracknell",
                np.nan,
                "Shropshire",
            ],
        }
    )


def test_covariate_matrix_fills_missing_with_indicators_and_standardises():
    x, names = covariate_matrix(_small(), ["age", "la"])
    assert names == ["age", "age=missing", "la=Dudley", "la=Shropshire", "la=missing"]
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(x.std(axis=0), 1, rtol=1e-12)
    with pytest.raises(ValueError, match=r"covariates \['age', 'la'\] have missing values"):
        covariate_matrix(_small(), ["age", "la"], missing="error")
    with pytest.raises(
        ValueError, match="'covariate_missing' 'drop' is not known. Choose one of: indicator, error"
    ):
        covariate_matrix(_small(), ["age"], missing="drop")


def test_covariate_patterns_counts_missing_as_a_value_and_gives_up_past_the_limit():
    data = pd.DataFrame({"a": ["x", "y", "x", None, "x", None], "b": [1, 1, 1, 2, 2, 2]})
    pattern, first = covariate_patterns(data, ["a", "b"])
    assert pattern.tolist() == [0, 1, 0, 2, 3, 2] and first.tolist() == [0, 1, 3, 4]
    assert covariate_patterns(data, ["a", "b"], max_patterns=3) is None


def test_weighted_covariate_matrix_of_patterns_is_the_row_matrix(rng):
    data = pd.DataFrame(
        {
            "organisation": rng.choice([f"Org {i:03d}" for i in range(30)], 500),
            "age": pd.Series(rng.integers(20, 23, 500).astype(float)).where(rng.random(500) > 0.2),
        }
    )
    columns = ["organisation", "age"]
    x, names = covariate_matrix(data, columns)
    pattern, first = covariate_patterns(data, columns)
    weighted, weighted_names = weighted_covariate_matrix(
        data.iloc[first], columns, weights=np.bincount(pattern)
    )
    assert weighted_names == names and "age=missing" in names
    np.testing.assert_allclose(weighted[pattern], x, atol=1e-12)


def test_categorical_indicators_are_the_levels_after_the_first_and_errors_name_the_problem():
    data = pd.DataFrame({"site": ["b", "a", None, "c", "a"], "age": [1.0, 2.0, 3.0, 4.0, 5.0]})
    x, names = covariate_matrix(data, ["site"])
    assert names == ["site=b", "site=c", "site=missing"]
    raw = x * 0.4 + 0.2  # each indicator is one 1 in five: mean 0.2, SD 0.4
    np.testing.assert_allclose(
        raw, [[1, 0, 0], [0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 0]], atol=1e-12
    )
    with pytest.raises(ValueError, match="'covariates' must name at least one column. Got none"):
        covariate_matrix(data, [])
    with pytest.raises(ValueError, match=r"column\(s\) 'grade' are not in the data"):
        weighted_covariate_matrix(data, ["grade"], weights=np.ones(5))


def test_sparse_covariate_matrix_is_the_dense_one_uncentred(rng):
    n = 400
    data = pd.DataFrame(
        {
            "site": pd.Series(rng.choice(["a", "b", "c"], n)).where(rng.random(n) > 0.1),
            "age": np.where(rng.random(n) < 0.2, np.nan, rng.normal(40, 9, n)),
            "constant": 1.0,
            "never": np.nan,
        }
    )
    columns = ["site", "age", "constant", "never"]
    dense, names = covariate_matrix(data, columns)
    sparse, sparse_names = sparse_covariate_matrix(data, columns)
    assert sparse_names == names == ["site=b", "site=c", "site=missing", "age", "age=missing"]
    shift = sparse.toarray() - dense  # a constant per column: the centring left out
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-12)
    # the indicators keep their zeros: only the rows at a level or missing are stored
    at_level = data["site"].isin(["b", "c"]) | data["site"].isna()
    assert sparse.nnz == at_level.sum() + n + np.isnan(data["age"]).sum()
