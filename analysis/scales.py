"""Pure, vectorised scoring of a declared scale (:class:`trial_designs.scale_spec.ScaleSpec`).

The scale-file model and its checks live in :mod:`trial_designs.scale_spec`; the
YAML is read by :mod:`trial_designs.scale_files`.  :func:`score_scale` scores
range-checked responses by the scale's method (see the model's docstring).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trial_designs.scale_spec import ScaleSpec

__all__ = ["score_scale"]


# ---------------------------------------------------------------------- scoring


def _rule_labels(n_items: int, max_missing: int) -> list[str]:
    labels = ["complete"]
    for k in range(1, n_items + 1):
        labels.append(
            f"prorated({k})" if k <= max_missing else f"missing({k} item{'s' if k > 1 else ''})"
        )
    return labels


def _combine(values: np.ndarray, method: str, least: int) -> np.ndarray:
    """Row scores of ``values`` (rows x items, NaN = unanswered) by ``method``."""
    n_items = values.shape[1]
    missing = np.isnan(values)
    n_missing = missing.sum(axis=1)
    answered = n_items - n_missing
    total = np.where(missing, 0.0, values).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "mean":
            score = total / answered
        else:  # sum and prorated_sum: a complete row is its plain sum
            score = np.where(n_missing == 0, total, total * n_items / answered)
    return np.where(answered >= least, score, np.nan)


def score_scale(
    responses: pd.DataFrame, spec: ScaleSpec, *, prefix: str | None = None
) -> pd.DataFrame:
    """Score a declared scale, row by row, vectorised (pure; input assumed range-checked).

    Parameters
    ----------
    responses : DataFrame
        Holds the item columns ``<prefix>_<id>``; other columns are ignored;
        unanswered items are missing.
    spec : ScaleSpec
        The scale, from :func:`parse_scale`.
    prefix : str, optional
        Column prefix of items and scores; defaults to the scale's name.

    Returns
    -------
    DataFrame
        Aligned with ``responses.index``: a float column ``<prefix>_<score>``
        per score in ``spec.scores`` and a categorical ``<prefix>_rule``
        (``complete``, ``prorated(k)`` or ``missing(k items)``, counting the
        row's unanswered items against the scale's allowance).

    Raises
    ------
    ValueError
        If an item column is absent.
    """
    base = prefix or spec.name
    columns = [f"{base}_{i}" for i in spec.item_ids]
    absent = [c for c in columns if c not in responses.columns]
    if absent:
        raise ValueError(
            f"The {spec.name} item column(s) {absent} are not in the responses. "
            f"Expected all of {columns}."
        )
    values = responses[columns].to_numpy(dtype=float, na_value=np.nan, copy=True)
    lo, hi = spec.response["min"], spec.response["max"]
    reverse = [spec.item_ids.index(i) for i in spec.reversed_items]
    values[:, reverse] = (lo + hi) - values[:, reverse]
    if spec.values is not None:
        lookup = np.full(hi - lo + 2, np.nan)  # the last slot takes unanswered items
        for response, value in spec.values.items():
            lookup[response - lo] = value
        position = np.where(np.isnan(values), hi - lo + 1, values - lo).astype(np.intp)
        values = lookup[position]
    n_items = values.shape[1]
    n_missing = np.isnan(values).sum(axis=1)
    method = spec.scoring.method
    scores: dict[str, np.ndarray] = {}
    if method == "each_item":
        scores = dict(zip(spec.item_ids, values.T, strict=True))
    else:
        least = spec.scoring.min_answered or n_items
        raw = _combine(values, method, least)
        scores[spec.scoring.score] = raw
        if spec.conversion is not None:
            table = spec.conversion.table
            first = min(table)
            converted = np.asarray([*(table[k] for k in sorted(table)), np.nan])
            position = np.where(np.isnan(raw), len(table), raw - first).astype(np.intp)
            scores[spec.conversion.score] = converted[position]
        allowance = n_items - least
        for name, sub in spec.subscales.items():
            k = len(sub.items)
            sub_least = sub.min_answered or max(k - allowance, min(2, k))
            index = np.asarray([spec.item_ids.index(i) for i in sub.items], dtype=np.intp)
            scores[name] = _combine(values[:, index], method, sub_least)
    out = pd.DataFrame(
        {f"{base}_{s}": np.asarray(v, dtype=float) for s, v in scores.items()},
        index=responses.index,
    )
    out[f"{base}_rule"] = pd.Categorical.from_codes(
        n_missing.astype(np.int8), categories=_rule_labels(n_items, spec.max_missing)
    )
    return out
