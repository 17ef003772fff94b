"""Multiplicity adjustment for secondary outcomes.

The pre-registered primary outcome is reported unadjusted; the secondary outcomes
of a trial form one family whose p-values are Holm-adjusted (Holm 1979), exactly as
R's ``p.adjust(p, method = "holm")`` does, so evaluators can hold the two side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["holm_adjust"]


def holm_adjust(
    p_values: Sequence[float] | np.ndarray | pd.Series | Mapping[str, float],
) -> np.ndarray | pd.Series | dict[str, float]:
    """Holm's step-down adjusted p-values, identical to R's ``p.adjust(method = "holm")``.

    Parameters
    ----------
    p_values : array-like, Series or mapping of name to p-value
        Raw p-values in [0, 1].  Missing values (NaN or None) stay missing and do not
        count towards the size of the family, as in R.

    Returns
    -------
    ndarray, Series or dict
        Adjusted p-values in the input's order and of the input's kind: a Series keeps
        its index, a mapping comes back as a dict with the same keys, anything else
        comes back as a float array.

    Raises
    ------
    ValueError
        If a p-value is outside [0, 1] or the input is not one-dimensional.

    Notes
    -----
    With the :math:`n` non-missing p-values sorted,
    :math:`p_{(1)} \\le \\dots \\le p_{(n)}`, the adjusted value of the :math:`i`-th
    smallest is

    .. math:: \\tilde p_{(i)} = \\min\\Bigl(1, \\max_{j \\le i} (n - j + 1)\\, p_{(j)}\\Bigr).

    The running maximum keeps the adjusted values in the same order as the raw ones
    (a smaller raw p-value never gets a larger adjusted one), and the cap keeps them
    probabilities.  Ties get the same adjusted value whatever order they are sorted in,
    because the running maximum reaches the largest multiple of the tied value first.
    Holm controls the family-wise error rate under any dependence between the tests.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    *Scandinavian Journal of Statistics*, 6, 65-70.
    """
    if isinstance(p_values, Mapping):
        keys = list(p_values)
        adjusted = _holm(np.array([np.nan if p_values[k] is None else p_values[k] for k in keys]))
        return {key: float(value) for key, value in zip(keys, adjusted, strict=True)}
    if isinstance(p_values, pd.Series):
        return pd.Series(
            _holm(p_values.to_numpy(dtype=float, na_value=np.nan)),
            index=p_values.index,
            name=p_values.name,
        )
    raw = np.asarray(p_values, dtype=object)
    if raw.ndim != 1:
        raise ValueError(
            f"The 'p_values' must be one-dimensional. Got an array of shape {raw.shape} instead."
        )
    return _holm(np.array([np.nan if p is None else p for p in raw], dtype=float))


def _holm(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    present = ~np.isnan(p)
    outside = present & ((p < 0) | (p > 1))
    if outside.any():
        raise ValueError(f"The 'p_values' must lie in [0, 1]. Got {p[outside].tolist()} instead.")
    out = np.full(p.shape, np.nan)
    observed = p[present]
    n = observed.size
    if n == 0:
        return out
    order = np.argsort(observed, kind="stable")
    multipliers = n - np.arange(n)
    stepped = np.minimum(1.0, np.maximum.accumulate(multipliers * observed[order]))
    adjusted = np.empty(n)
    adjusted[order] = stepped
    out[present] = adjusted
    return out
