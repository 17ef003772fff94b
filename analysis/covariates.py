"""Baseline covariates as numbers: the standardised design matrix and its distinct rows.

Shared by the balance classifier (:mod:`analysis.balance`) and the response model
behind inverse-probability weights (:mod:`analysis.missing.ipw`).  At national scale
(1.3M staff, 200 organisations) the matrix is 2 GB a copy, so it is built in place,
and models whose covariates take few distinct values can be fitted on those values
(:func:`covariate_patterns`, :func:`weighted_covariate_matrix`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from common.validation import check_choice, require_columns

__all__ = [
    "COVARIATE_MISSING",
    "LEVEL_SEPARATOR",
    "covariate_matrix",
    "covariate_patterns",
    "is_numeric_column",
    "sparse_covariate_matrix",
    "weighted_covariate_matrix",
]

#: How a missing baseline covariate enters a model of arm or of response.
COVARIATE_MISSING: dict[str, str] = {
    "indicator": "fill with the column mean and add a missing-value indicator (White & Thompson 2005)",
    "error": "refuse covariates with missing values",
}

# Categorical covariates are expanded level by level under this separator, e.g. "la=Dudley".
LEVEL_SEPARATOR = "="


def is_numeric_column(values: pd.Series) -> bool:
    """True for numeric and boolean columns; anything else is categorical."""
    return pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)


def _plan(
    data: pd.DataFrame, covariates: Sequence[str], missing: str
) -> tuple[list[tuple[str, pd.Series, np.ndarray, list]], list[str]]:
    """Checks, then per covariate (kind, values, missing mask, sorted levels) and the column names."""
    check_choice("covariate_missing", missing, COVARIATE_MISSING)
    if len(covariates) == 0:
        raise ValueError("The 'covariates' must name at least one column. Got none.")
    require_columns(data, covariates)
    if missing == "error":
        gaps = [c for c in covariates if data[c].isna().any()]
        if gaps:
            raise ValueError(
                f"The covariates {gaps} have missing values, which covariate_missing='error' refuses."
            )
    plan: list[tuple[str, pd.Series, np.ndarray, list]] = []
    names: list[str] = []
    for name in covariates:
        values = data[name]
        absent = values.isna().to_numpy()
        if is_numeric_column(values):
            plan.append(("numeric", values, absent, []))
            names.append(name)
        else:
            levels = sorted(values.dropna().unique(), key=str)
            plan.append(("levels", values, absent, levels))
            names.extend(f"{name}{LEVEL_SEPARATOR}{level}" for level in levels[1:])
        if absent.any():
            names.append(f"{name}{LEVEL_SEPARATOR}missing")
    return plan, names


def _level_of_row(values: pd.Series, levels: list) -> tuple[np.ndarray, np.ndarray]:
    """(rows, index of their level among levels[1:]) for the rows not at the first level.

    One hashing pass, not one comparison per level (200 levels x 1.3M rows).
    """
    codes, uniques = pd.factorize(values)
    position = {level: i for i, level in enumerate(levels)}
    target = np.array([position[u] - 1 for u in uniques], dtype=np.intp)
    where = np.flatnonzero(codes >= 0)
    level_of_row = target[codes[where]]
    later = level_of_row >= 0
    return where[later], level_of_row[later]


def covariate_matrix(
    data: pd.DataFrame, covariates: Sequence[str], *, missing: str = "indicator"
) -> tuple[np.ndarray, list[str]]:
    """Numeric design matrix (no intercept) of baseline covariates, standardised.

    The model matrix of the balance classifier (:func:`analysis.balance.balance_auc`) and of the response
    model behind inverse-probability weights (:func:`analysis.missing.ipw.ipw_weights`).

    Parameters
    ----------
    data : DataFrame
    covariates : sequence of str
        Column names, at least one.  A column that is not numeric (or boolean) is categorical.
    missing : str, default "indicator"
        A key of :data:`COVARIATE_MISSING`: how a missing value enters the matrix.

    Returns
    -------
    matrix : ndarray, shape (n, p)
        Categorical columns become indicators of every level but the first (sorted, as
        ``name=level``); with ``missing="indicator"`` a column with gaps is filled with its
        mean and gains a ``name=missing`` indicator.  Columns are centred and scaled so
        that penalised and iterative fits behave the same whatever the units; a column
        that does not vary is dropped.
    names : list of str
        The name of each column of ``matrix``.

    Raises
    ------
    ValueError
        For an unknown ``missing``, no covariates, a covariate not in ``data``, or (with
        ``missing="error"``) a covariate with missing values.
    """
    return weighted_covariate_matrix(data, covariates, missing=missing)


def weighted_covariate_matrix(
    data: pd.DataFrame,
    covariates: Sequence[str],
    *,
    missing: str = "indicator",
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str]]:
    """:func:`covariate_matrix` of rows that stand for ``weights`` identical rows each.

    With integer ``weights`` (counts of distinct covariate patterns, see
    :func:`covariate_patterns`) the fill values, means and SDs are those of the
    expanded data, so each row equals (to rounding) the row :func:`covariate_matrix`
    gives every participant of that pattern.  ``weights=None`` is :func:`covariate_matrix`.
    """
    plan, names = _plan(data, covariates, missing)
    # one preallocated matrix filled column by column: stacking a list of columns held
    # two full copies at once (2 GB each at 1.3M x 200)
    matrix = np.zeros((len(data), len(names)))
    column = 0
    for kind, values, absent, levels in plan:
        if kind == "numeric":
            numeric = values.to_numpy(dtype=float, na_value=np.nan)
            if not (~absent).any():
                fill = 0.0
            elif weights is None:
                fill = np.nanmean(numeric)
            else:
                fill = np.average(numeric[~absent], weights=weights[~absent])
            matrix[:, column] = np.where(absent, fill, numeric)
            column += 1
        else:
            rows, level = _level_of_row(values, levels)
            matrix[rows, column + level] = 1.0
            column += len(levels) - 1
        if absent.any():
            matrix[:, column] = absent
            column += 1
    if weights is None:
        spread = matrix.std(axis=0)
    else:
        centre = np.average(matrix, axis=0, weights=weights)
        spread = np.sqrt(np.average((matrix - centre) ** 2, axis=0, weights=weights))
    varying = spread > 0
    # the selection is a column-major copy, and its column means (summed pairwise) are the
    # numbers every earlier version computed, to the last bit: keep that, but standardise
    # it in place and let the row-major matrix go, so two copies are the peak, not four
    kept = matrix[:, varying]
    del matrix
    centre = kept.mean(axis=0) if weights is None else np.average(kept, axis=0, weights=weights)
    kept -= centre
    kept /= spread[varying]
    return kept, [n for n, keep in zip(names, varying, strict=True) if keep]


def covariate_patterns(
    data: pd.DataFrame, columns: Sequence[str], *, max_patterns: int | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct rows of ``data[columns]`` (missing values as a value of their own).

    Returns
    -------
    (codes, first) or None
        ``codes[i]`` numbers row ``i``'s pattern 0, 1, ... in order of first appearance
        and ``first[k]`` is the first row of pattern ``k``; None as soon as there are
        more than ``max_patterns`` patterns (a continuous column, say), so the caller
        falls back to the rows without paying for a full count.
    """
    codes = np.zeros(len(data), dtype=np.int64)
    count = 1
    for name in columns:
        column_codes, uniques = pd.factorize(data[name], use_na_sentinel=False)
        # combine and renumber at each step, so the combined code never overflows
        codes, combined = pd.factorize(codes * len(uniques) + column_codes)
        count = len(combined)
        if max_patterns is not None and count > max_patterns:
            return None
    # codes number patterns in order of first appearance, so sorted codes are 0..count-1
    first = np.unique(codes, return_index=True)[1]
    return codes, first


def sparse_covariate_matrix(
    data: pd.DataFrame, covariates: Sequence[str], *, missing: str = "indicator"
) -> tuple[sparse.csr_array, list[str]]:
    """:func:`covariate_matrix` as a sparse matrix: the same columns, indicators not centred.

    Every column is divided by the same SD as in :func:`covariate_matrix`, but the 0/1
    indicators (levels and missing values) are not centred, so they stay sparse:
    1.3M staff in 200 organisations hold 1.3M non-zeros, not 260M.  Numeric columns are
    centred and scaled as there (they are dense either way).  Each column differs from
    :func:`covariate_matrix`'s by a constant, which a model with an unpenalised
    intercept absorbs: a logistic fit, penalised (L2 on the slopes only) or not, gives
    the same slopes and the same fitted probabilities.

    Returns
    -------
    matrix : scipy.sparse.csr_array, shape (n, p)
    names : list of str
        As :func:`covariate_matrix` names them (columns that do not vary are dropped).
    """
    plan, names = _plan(data, covariates, missing)
    n = len(data)
    rows: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    values: list[np.ndarray] = []
    varying: list[bool] = []

    column = 0
    for kind, series, absent, levels in plan:
        if kind == "numeric":
            numeric = series.to_numpy(dtype=float, na_value=np.nan)
            filled = np.where(absent, np.nanmean(numeric) if (~absent).any() else 0.0, numeric)
            spread = filled.std()
            rows.append(np.arange(n))
            columns.append(np.full(n, column))
            values.append((filled - filled.mean()) / spread if spread > 0 else np.zeros(n))
            varying.append(bool(spread > 0))
            column += 1
        else:
            where, level = _level_of_row(series, levels)
            count = np.bincount(level, minlength=len(levels) - 1).astype(float)
            rows.append(where)
            columns.append(column + level)
            spread = np.sqrt(count / n * (1 - count / n))
            values.append(1.0 / spread[level])
            varying.extend((spread > 0).tolist())
            column += len(levels) - 1
        if absent.any():
            share = absent.mean()
            spread = np.sqrt(share * (1 - share))
            rows.append(np.flatnonzero(absent))
            columns.append(np.full(int(absent.sum()), column))
            values.append(np.full(int(absent.sum()), 1.0 / spread if spread > 0 else 0.0))
            varying.append(bool(spread > 0))
            column += 1
    matrix = sparse.csr_array(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
        shape=(n, len(names)),
    )
    keep = np.flatnonzero(varying)
    if keep.size < len(names):
        matrix = matrix[:, keep]
    return matrix, [names[k] for k in keep]
