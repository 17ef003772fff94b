"""Model matrices from DataFrames: covariates, stratum dummies and R's collinearity drop.

The fits (:mod:`analysis.estimators.fits`) build ``[1, arms, covariates, stratum dummies]``
here, dropping a column the columns before it explain, as R's ``lm`` does, or, with many
strata, ``[arms, covariates]`` demeaned within strata (:func:`absorbed_design`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.estimators.absorb import AbsorbedStrata

__all__ = [
    "absorbed_design",
    "arm_counts",
    "check_indicators",
    "covariate_frame",
    "design_frame",
    "drop_collinear",
]

# A column is collinear with the ones before it when the part of it that they do not
# explain is below this fraction of its norm (R's lm uses the same tolerance).
_COLLINEARITY_TOLERANCE = 1e-7


def _stratum_dummies(values: pd.Series, name: str) -> pd.DataFrame:
    labels = values.astype(str)
    levels = sorted(labels.unique())
    return pd.DataFrame(
        {f"{name}[{level}]": (labels == level).to_numpy(float) for level in levels[1:]},
        index=values.index,
    )


def covariate_frame(data: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Covariates as numeric model columns: numbers as they are, text as fixed effects.

    Parameters
    ----------
    data : DataFrame
    covariates : sequence of str
        Column names.  A column that is not numeric (or boolean) is categorical.

    Returns
    -------
    DataFrame
        Same index as ``data``.  A numeric covariate keeps its name; a
        categorical one becomes ``name[level]`` 0/1 columns for every level
        after the first, levels sorted as text (R's ``factor`` default
        treatment contrasts), so the order never depends on the rows.  A row
        missing the category is missing in each of its dummies, so complete-case
        analyses drop it as they would the text column.
    """
    parts = []
    for name in covariates:
        values = data[name]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            parts.append(values.astype(float).rename(name))
            continue
        present = values.notna()
        labels = values[present].astype(str)
        levels = sorted(labels.unique())
        for level in levels[1:]:
            column = pd.Series(np.nan, index=data.index, name=f"{name}[{level}]")
            column[present] = (labels == level).to_numpy(float)
            parts.append(column)
    if not parts:
        return pd.DataFrame(index=data.index)
    return pd.concat(parts, axis=1)


#: Columns projected together against the kept columns of the blocks before them.
_BLOCK_COLUMNS = 32


def _collinear_columns(matrix: np.ndarray, lengths: np.ndarray | None = None) -> list[bool]:
    """For each column, whether the columns kept before it already explain it.

    A column is kept when its distance from the span of the kept columns is more than
    ``_COLLINEARITY_TOLERANCE`` of its own length.  Each flag is computed against the kept
    columns only, so a design with more columns than rows (a small subgroup with a team
    covariate) or an all-zero column (a team absent from a subgroup) never shifts or hides
    a later column, as reading the diagonal of an unpivoted QR did.

    Gram-Schmidt in blocks: each block of :data:`_BLOCK_COLUMNS` columns is projected off
    the kept columns of the blocks before it in two matrix products (twice, as one pass
    of classical Gram-Schmidt loses orthogonality in floating point), then column by
    column off the block's own kept columns.  The same distances as projecting each
    column off every kept column in turn, which read all of them for every column: with
    200 organisation dummies and a million rows that was minutes per model.

    ``lengths`` replaces the columns' own lengths in the tolerance: a demeaned column is
    measured against its length before demeaning (see :func:`absorbed_design`).
    """
    n_rows, n_cols = matrix.shape
    # Fortran order: a kept column, and the first `kept` of them, are contiguous
    basis = np.empty((n_rows, min(n_rows, n_cols)), order="F")
    kept = 0
    flags = []
    for start in range(0, n_cols, _BLOCK_COLUMNS):
        block = np.array(matrix[:, start : start + _BLOCK_COLUMNS], dtype=float, order="F")
        block_lengths = (
            np.linalg.norm(block, axis=0)
            if lengths is None
            else lengths[start : start + _BLOCK_COLUMNS]
        )
        before = kept
        if before:
            for _ in range(2):
                block -= basis[:, :before] @ (basis[:, :before].T @ block)
        for j in range(block.shape[1]):
            residual = block[:, j].copy()
            for _ in range(2):
                residual -= basis[:, before:kept] @ (basis[:, before:kept].T @ residual)
            distance = np.linalg.norm(residual)
            bad = kept == basis.shape[1] or distance <= _COLLINEARITY_TOLERANCE * max(
                block_lengths[j], 1e-300
            )
            flags.append(bool(bad))
            if not bad:
                basis[:, kept] = residual / distance
                kept += 1
    return flags


def drop_collinear(frame: pd.DataFrame, protected: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Drop each column that the columns before it explain (R's lm order), never a protected one."""
    collinear = _collinear_columns(frame.to_numpy(float))
    dropped = [c for c, bad in zip(frame.columns, collinear, strict=True) if bad]
    clash = [c for c in dropped if c in protected]
    if clash:
        raise ValueError(
            f"The column(s) {', '.join(clash)} are collinear with the intercept or the columns "
            "before them, so their effect cannot be estimated. Check the assignment and strata."
        )
    return frame.drop(columns=dropped), dropped


def design_frame(
    data: pd.DataFrame,
    leading: Sequence[str],
    covariates: Sequence[str],
    strata: str | None,
) -> tuple[pd.DataFrame, list[str]]:
    """``[1, leading, covariates, stratum dummies]`` with collinear columns dropped.

    Returns the design and the names dropped; a ``leading`` column (an arm or an
    instrument) is never dropped: :func:`drop_collinear` refuses instead.
    """
    parts = [pd.DataFrame({"(Intercept)": np.ones(len(data))}, index=data.index)]
    parts.append(data[list(leading)].astype(float))
    parts.append(covariate_frame(data, covariates))  # text covariates as fixed effects
    if strata is not None:
        parts.append(_stratum_dummies(data[strata], strata))
    return drop_collinear(pd.concat(parts, axis=1), protected=["(Intercept)", *leading])


def absorbed_design(
    data: pd.DataFrame,
    leading: Sequence[str],
    covariates: Sequence[str],
    strata: AbsorbedStrata,
) -> tuple[np.ndarray, list[str], list[str]]:
    """``[leading, covariates]`` demeaned within the absorbed strata, collinear columns dropped.

    Returns the demeaned design (no intercept, no stratum columns), its column names
    and the names dropped.  A column is dropped when the strata and the kept columns
    before it explain it, to :data:`_COLLINEARITY_TOLERANCE` of its length before
    demeaning: the test :func:`design_frame` makes with the strata's columns first.  So a
    covariate constant within strata is dropped (the dummy design keeps it and drops a
    stratum dummy instead; the arms' estimates and SEs are the same either way).  A
    ``leading`` column is never dropped: it is refused by name instead.
    """
    names = [*leading]
    columns = [data[c].to_numpy(float) for c in leading]
    extra = covariate_frame(data, covariates)  # text covariates as fixed effects
    names += [str(c) for c in extra.columns]
    columns += [extra[c].to_numpy(float) for c in extra.columns]
    raw = np.column_stack(columns) if columns else np.empty((len(data), 0))
    del extra, columns
    lengths = np.linalg.norm(raw, axis=0)
    demeaned = strata.demean(raw)
    del raw
    collinear = _collinear_columns(demeaned, lengths=lengths)
    dropped = [c for c, bad in zip(names, collinear, strict=True) if bad]
    clash = [c for c in dropped if c in leading]
    if clash:
        raise ValueError(
            f"The column(s) {', '.join(clash)} are collinear with the stratum fixed effects or "
            "the columns before them (e.g. constant within every stratum), so their effect "
            "cannot be estimated. Check the assignment and strata."
        )
    keep = [j for j, bad in enumerate(collinear) if not bad]
    if len(keep) < len(names):
        demeaned = np.asfortranarray(demeaned[:, keep])
    return demeaned, [names[j] for j in keep], dropped


def check_indicators(data: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Refuse a ``what`` column (treatment, assignment) that is not 0/1, or rows in two arms."""
    for column in columns:
        values = data[column]
        if not values.isin([0, 1]).all():
            odd = sorted(set(values[~values.isin([0, 1])].tolist()), key=str)[:5]
            raise ValueError(
                f"The {what} column '{column}' must hold 0/1 indicators. Got {odd} instead."
            )
    if len(columns) > 1 and (data[list(columns)].sum(axis=1) > 1).any():
        raise ValueError(
            f"Each row must be in at most one active arm, but some rows have 1 in more than one "
            f"of {', '.join(columns)}."
        )


def arm_counts(data: pd.DataFrame, columns: Sequence[str]) -> dict[str, int]:
    """Rows per arm: ``"control"`` (no indicator set) and each indicator column by name."""
    active = data[list(columns)].sum(axis=1)
    counts = {"control": int((active == 0).sum())}
    counts.update({c: int((data[c] == 1).sum()) for c in columns})
    return counts
