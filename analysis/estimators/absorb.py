"""Stratum fixed effects absorbed by demeaning within strata (Frisch-Waugh-Lovell).

A model ``y = X β + D δ + ε`` with one dummy per stratum in ``D`` (the intercept is their
sum) gives the same ``β``, residuals and sandwich block for ``β`` as ``ỹ = X̃ β + ε``,
where ``ỹ`` and ``X̃`` are ``y`` and ``X`` minus their (weighted) stratum means: both
are the same linear map of ``y``.  So a design with 200 organisations as strata needs no
n x 200 dummy matrix.  :mod:`analysis.estimators.covariance` adds the strata's part of
the hat matrix (``w_i / Σ_{j in s(i)} w_j``) where the small-sample corrections need it.

The fits absorb when the strata have more than :data:`ABSORB_STRATA_ABOVE` levels and keep
dummy columns below (see its comment).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["ABSORB_STRATA_ABOVE", "AbsorbedStrata", "strata_to_absorb", "absorbs"]

#: Strata with more levels than this are absorbed; up to this many enter as dummy columns.
#: The demo designs have at most 8 strata (goal_setting's organisations) and the R
#: references 3 or 4, so their results stay byte-identical (the absorbed fit agrees with
#: the dummy fit to ~1e-13, not to the last bit).  20 dummy columns of a 1M-row design
#: are 160 MB a copy: about the size of the rest of the design, so below this absorbing
#: saves little, and above it the dummies grow to gigabytes (200 organisations: 1.6 GB).
ABSORB_STRATA_ABOVE = 20


@dataclass(frozen=True)
class AbsorbedStrata:
    """Each row's stratum code and the (weighted) size of each stratum.

    ``weights`` are the analytic weights divided by their mean (as estimatr and
    :func:`~analysis.estimators.covariance.robust_vcov` scale them), or ``None``;
    ``totals`` is the sum of those weights in each stratum (its row count unweighted);
    ``singletons`` the rows alone in their stratum.
    """

    codes: np.ndarray
    totals: np.ndarray
    weights: np.ndarray | None = None
    singletons: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))

    @property
    def n_levels(self) -> int:
        return len(self.totals)

    def means(self, values: np.ndarray) -> np.ndarray:
        """Per-stratum (weighted) means of one column."""
        weighted = values if self.weights is None else values * self.weights
        return np.bincount(self.codes, weights=weighted, minlength=self.n_levels) / self.totals

    def demean(self, values: np.ndarray) -> np.ndarray:
        """``values`` minus their stratum means: a vector, or each column of a matrix (new array).

        Column by column, through per-stratum sums (``np.bincount``): never an
        n x strata matrix.
        """
        values = np.asarray(values, dtype=float)
        if values.ndim == 1:
            out = values - self.means(values)[self.codes]
            out[self.singletons] = 0.0
            return out
        out = np.empty_like(values, order="F")
        for j in range(values.shape[1]):
            column = values[:, j]
            out[:, j] = column - self.means(column)[self.codes]
        # a stratum of one row is fitted exactly: its demeaned row is 0, not a rounding
        # error, so its residual is 0 and its leverage exactly 1 (HC2/HC3 then drop it)
        out[self.singletons] = 0.0
        return out

    def leverage(self) -> np.ndarray:
        """The strata's part of each row's leverage: ``w_i / Σ_{j in s(i)} w_j`` (1/n_s unweighted)."""
        own = np.ones(len(self.codes)) if self.weights is None else self.weights
        return own / self.totals[self.codes]


def strata_to_absorb(
    values: pd.Series | np.ndarray, weights: np.ndarray | None = None
) -> AbsorbedStrata:
    """Code the strata (labels compared as text, as the dummy columns are) for absorbing.

    Trusts its inputs: no missing labels, positive finite weights (the fits check).
    """
    labels = values if isinstance(values, pd.Series) else pd.Series(values)
    if labels.dtype == object:  # mixed labels (1 and "1"): compared as text, as the dummies
        labels = labels.astype(str)
    # straight from the column: no array of a million Python strings
    codes, uniques = pd.factorize(labels)
    codes = codes.astype(np.intp, copy=False)
    scaled = None if weights is None else np.asarray(weights, float) / np.mean(weights)
    totals = np.bincount(codes, weights=scaled, minlength=len(uniques)).astype(float)
    sizes = np.bincount(codes, minlength=len(uniques))
    singletons = np.flatnonzero(sizes[codes] == 1)
    return AbsorbedStrata(codes=codes, totals=totals, weights=scaled, singletons=singletons)


def absorbs(values: pd.Series, choice: bool | None) -> bool:
    """Whether to absorb these strata: ``choice``, or above :data:`ABSORB_STRATA_ABOVE` levels."""
    if choice is not None and not isinstance(choice, bool):
        raise ValueError(f"'absorb_strata' must be True, False or None. Got {choice!r} instead.")
    if choice is not None:
        return choice
    return int(pd.Series(values).nunique()) > ABSORB_STRATA_ABOVE
