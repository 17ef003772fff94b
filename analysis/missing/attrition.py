"""Attrition by arm: the table of who was lost, and a test of differential attrition.

Endline attrition in these trials runs at 20-40%; :func:`differential_attrition_test` asks
whether it differs by arm (Pearson's chi-square, or Fisher's exact test for small counts, as
R's ``chisq.test`` and ``fisher.test``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln

from analysis.balance import arm_labels
from common.numbers import json_float
from common.validation import check_choice, require_columns

__all__ = [
    "ATTRITION_TESTS",
    "AttritionTest",
    "attrition_table",
    "differential_attrition_test",
    "response_indicator",
]

#: Tests of differential attrition.
ATTRITION_TESTS: dict[str, str] = {
    "auto": "Fisher's exact test when any expected count is below 5, else Pearson's chi-square",
    "chi-square": "Pearson's chi-square test of arm by response, no continuity correction",
    "fisher": "Fisher's exact test (exact enumeration of the arms x 2 table)",
}

# Cochran's rule: the chi-square approximation is trusted when every expected count is >= 5.
_MIN_EXPECTED = 5.0
# R's fisher.test counts tables whose probability is within this relative margin of the
# observed one as "as extreme", so that floating-point ties are not lost.
_FISHER_RELATIVE_TOLERANCE = 1e-7
# Exact enumeration is abandoned beyond this many tables (memory ~ 16 bytes per table).
_FISHER_MAX_TABLES = 20_000_000


def response_indicator(data: pd.DataFrame, responded: str) -> np.ndarray:
    """The ``responded`` column as booleans; refuses gaps and values other than 0/1."""
    require_columns(data, [responded])
    values = data[responded]
    if values.isna().any():
        raise ValueError(
            f"The response column '{responded}' must have no missing values: every randomised "
            f"individual either responded or not. Got {int(values.isna().sum())} missing."
        )
    numeric = values.to_numpy(dtype=float)
    if not np.isin(numeric, [0.0, 1.0]).all():
        raise ValueError(
            f"The response column '{responded}' must be boolean or 0/1. "
            f"Got values {sorted(set(numeric.tolist()) - {0.0, 1.0})[:5]}."
        )
    return numeric.astype(bool)


def attrition_table(data: pd.DataFrame, *, arm: str, responded: str) -> pd.DataFrame:
    """Randomised, responded and lost to follow-up, per arm.

    Parameters
    ----------
    data : DataFrame
        One row per randomised individual (the ITT denominator).
    arm : str
        Column of arm labels.
    responded : str
        Boolean or 0/1 column: 1 when the outcome was observed.

    Returns
    -------
    DataFrame
        One row per arm in sorted order with columns ``arm``, ``randomised``,
        ``responded``, ``lost`` and ``percent_lost`` (100 lost / randomised).
    """
    labels = arm_labels(data, arm)
    response = response_indicator(data, responded)
    counts = (
        pd.DataFrame({"arm": labels.to_numpy(), "responded": response})
        .groupby("arm", sort=True)["responded"]
        .agg(randomised="size", responded="sum")
        .reset_index()
    )
    counts["randomised"] = counts["randomised"].astype(int)
    counts["responded"] = counts["responded"].astype(int)
    counts["lost"] = counts["randomised"] - counts["responded"]
    counts["percent_lost"] = 100.0 * counts["lost"] / counts["randomised"]
    return counts[["arm", "randomised", "responded", "lost", "percent_lost"]]


@dataclass(frozen=True)
class AttritionTest:
    """Test of whether loss to follow-up differs between arms.

    ``statistic`` and ``df`` are the chi-square statistic and its degrees of freedom,
    or None for Fisher's test; ``min_expected`` is the smallest expected count, which
    decides between the two under ``method="auto"``.
    """

    method: str
    p_value: float
    statistic: float | None
    df: int | None
    min_expected: float
    n: int
    arms: tuple[str, ...]
    responded: tuple[int, ...]
    lost: tuple[int, ...]

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        return {
            "method": self.method,
            "p_value": json_float(self.p_value),
            "statistic": json_float(self.statistic),
            "df": None if self.df is None else int(self.df),
            "min_expected": json_float(self.min_expected),
            "n": int(self.n),
            "arms": [str(a) for a in self.arms],
            "responded": [int(v) for v in self.responded],
            "lost": [int(v) for v in self.lost],
        }


def _log_choose(n: np.ndarray | int, k: np.ndarray | int) -> np.ndarray:
    return (
        gammaln(np.asarray(n) + 1.0)
        - gammaln(np.asarray(k) + 1.0)
        - gammaln(np.asarray(n) - np.asarray(k) + 1.0)
    )


def _fisher_exact_rx2(row_totals: np.ndarray, column: np.ndarray) -> float:
    """Two-sided Fisher p-value for an R x 2 table, by enumerating every table.

    ``column`` holds one column's counts; the table's probability given both margins is
    :math:`\\prod_i \\binom{r_i}{x_i} / \\binom{N}{c}`.  The smaller column is
    enumerated, which gives the same p-value with fewer tables.
    """
    row_totals = np.asarray(row_totals, dtype=np.int64)
    column = np.asarray(column, dtype=np.int64)
    total = int(row_totals.sum())
    if 2 * int(column.sum()) > total:
        column = row_totals - column
    c = int(column.sum())
    log_observed = float(_log_choose(row_totals, column).sum())
    # capacity of the rows after each one, to keep only partial tables that can still reach c
    capacity_after = np.concatenate([np.cumsum(row_totals[::-1])[::-1][1:], [0]])
    sums = np.zeros(1, dtype=np.int64)
    log_p = np.zeros(1)
    for r_i, after in zip(row_totals[:-1], capacity_after[:-1], strict=True):
        x = np.arange(min(int(r_i), c) + 1)
        new_sums = sums[:, None] + x[None, :]
        feasible = (new_sums <= c) & (new_sums + after >= c)
        log_p = (log_p[:, None] + _log_choose(int(r_i), x)[None, :])[feasible]
        sums = new_sums[feasible]
        if sums.size > _FISHER_MAX_TABLES:
            raise ValueError(
                f"Fisher's exact test would enumerate more than {_FISHER_MAX_TABLES:,} tables. "
                "Use method='chi-square' for a table this large."
            )
    log_p = log_p + _log_choose(int(row_totals[-1]), c - sums)
    log_p -= float(_log_choose(total, c))
    log_observed -= float(_log_choose(total, c))
    extreme = log_p <= log_observed + math.log1p(_FISHER_RELATIVE_TOLERANCE)
    return float(min(1.0, np.exp(log_p[extreme]).sum()))


def differential_attrition_test(
    data: pd.DataFrame, *, arm: str, responded: str, method: str = "auto"
) -> AttritionTest:
    """Does loss to follow-up differ between arms?  Chi-square, or Fisher for small counts.

    Parameters
    ----------
    data : DataFrame
        One row per randomised individual.
    arm : str
        Column of arm labels (two or more arms).
    responded : str
        Boolean or 0/1 column: 1 when the outcome was observed.
    method : {"auto", "chi-square", "fisher"}
        See :data:`ATTRITION_TESTS`.

    Returns
    -------
    AttritionTest

    Notes
    -----
    The table is arms x (responded, lost), with expected counts
    :math:`E_{ij} = r_i c_j / N`.  Pearson's statistic is
    :math:`X^2 = \\sum (O_{ij} - E_{ij})^2 / E_{ij}` on (arms - 1) df, without Yates'
    continuity correction (Fisher's test takes over exactly where the correction
    matters).  Fisher's test conditions on both margins and sums the hypergeometric
    probabilities of every table no more probable than the observed one (with R's
    relative tolerance of 1e-7), which is R's ``fisher.test`` two-sided p-value for
    any number of arms.  ``"auto"`` uses Fisher's test when any expected count is
    below 5 (Cochran's rule).  When nobody or everybody responded there is nothing to
    test and the p-value is 1.
    """
    check_choice("method", method, ATTRITION_TESTS)
    counts = attrition_table(data, arm=arm, responded=responded)
    if len(counts) < 2:
        raise ValueError(
            f"The arm column '{arm}' needs at least 2 arms to compare attrition. "
            f"Got {counts['arm'].tolist()} instead."
        )
    table = counts[["responded", "lost"]].to_numpy(dtype=float)
    n = int(table.sum())
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    min_expected = float(expected.min())
    chosen = (
        ("fisher" if min_expected < _MIN_EXPECTED else "chi-square") if method == "auto" else method
    )
    statistic: float | None = None
    df: int | None = None
    if (table.sum(axis=0) == 0).any():
        p_value = 1.0
        if chosen == "chi-square":
            statistic, df = 0.0, len(counts) - 1
    elif chosen == "chi-square":
        statistic = float(((table - expected) ** 2 / expected).sum())
        df = len(counts) - 1
        p_value = float(stats.chi2.sf(statistic, df))
    else:
        p_value = _fisher_exact_rx2(counts["randomised"].to_numpy(), counts["lost"].to_numpy())
    return AttritionTest(
        method=chosen,
        p_value=p_value,
        statistic=statistic,
        df=df,
        min_expected=min_expected,
        n=n,
        arms=tuple(str(a) for a in counts["arm"]),
        responded=tuple(int(v) for v in counts["responded"]),
        lost=tuple(int(v) for v in counts["lost"]),
    )
