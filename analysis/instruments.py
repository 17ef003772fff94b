"""Exact, vectorised scoring of the wellbeing instruments (pure).

The instruments themselves are declared in :mod:`trial_designs.instruments`
(:data:`~trial_designs.instruments.INSTRUMENTS`, :func:`~trial_designs.instruments.single_item_spec`).

Check at the boundary, compute unchecked inside: :func:`find_out_of_range`
lists every item cell that is not a whole number in the item range, for the
ingest to quarantine; :func:`score_instrument` assumes those rows are gone and
records, per row, which missing-item rule it applied.  An instrument built
from a scale file is scored by :func:`analysis.scales.score_scale`; WRQoL is
scored with the licensed map passed in as a mapping
(:func:`trial_designs.scale_files.read_wrqol_scoring` reads it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.scales import score_scale
from trial_designs.instruments import (
    INSTRUMENTS,
    SWEMWBS_METRIC,
    InstrumentSpec,
    instrument_spec,
    item_column,
    validate_wrqol_scoring,
)

__all__ = ["find_out_of_range", "score_instrument"]


def _resolve(instrument: str | InstrumentSpec) -> InstrumentSpec:
    return instrument if isinstance(instrument, InstrumentSpec) else instrument_spec(instrument)


# ---------------------------------------------------------------- range check


def _item_frame(items: pd.DataFrame, spec: InstrumentSpec, prefix: str | None) -> list[str]:
    columns = list(spec.item_columns(prefix))
    absent = [c for c in columns if c not in items.columns]
    if absent:
        raise ValueError(
            f"The {spec.name} item column(s) {absent} are not in the items frame. "
            f"Expected all of {columns}."
        )
    return columns


def find_out_of_range(
    items: pd.DataFrame, *, instrument: str | InstrumentSpec, prefix: str | None = None
) -> pd.DataFrame:
    """Item cells that are not whole numbers in the item range, for quarantine.

    Missing cells are not problems: the missing-item rule deals with them.

    Parameters
    ----------
    items : DataFrame
        Holds the instrument's item columns (``<prefix>_<suffix>``).
    instrument : str or InstrumentSpec
        A name in :data:`INSTRUMENTS`, or a spec from :func:`single_item_spec`.
    prefix : str, optional
        Column prefix; defaults to the instrument's name.

    Returns
    -------
    DataFrame
        One row per bad cell, ordered by row then item: ``index`` (the row's
        label), ``column``, ``value`` (as received), ``rule``
        (``item_in_range``) and ``message``.
    """
    spec = _resolve(instrument)
    columns = _item_frame(items, spec, prefix)
    message = (
        f"{spec.label} items are whole numbers from {spec.item_min} to {spec.item_max}; "
        "leave unanswered items empty."
    )
    bad_cells = []
    for j, column in enumerate(columns):
        raw = items[column]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        present = raw.notna().to_numpy()
        with np.errstate(invalid="ignore"):
            bad = present & ~(
                (values >= spec.item_min) & (values <= spec.item_max) & (np.floor(values) == values)
            )
        rows = np.flatnonzero(bad)
        bad_cells.append((rows, np.full(len(rows), j)))
    rows = np.concatenate([r for r, _ in bad_cells])
    cols = np.concatenate([c for _, c in bad_cells])
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    return pd.DataFrame(
        {
            "index": items.index[rows],
            "column": np.asarray(columns, dtype=object)[cols],
            "value": [items[columns[c]].iat[r] for r, c in zip(rows, cols, strict=True)],
            "rule": "item_in_range",
            "message": message,
        },
        columns=["index", "column", "value", "rule", "message"],
    )


# ---------------------------------------------------------------- scoring


def _rule_labels(n_items: int, max_missing: int) -> list[str]:
    labels = ["complete"]
    for k in range(1, n_items + 1):
        if k <= max_missing:
            labels.append(f"prorated({k})")
        else:
            labels.append(f"missing({k} item{'s' if k > 1 else ''})")
    return labels


def _rule_column(n_missing: np.ndarray, n_items: int, max_missing: int) -> pd.Categorical:
    # A categorical built from integer codes: millions of rows without building a string each.
    return pd.Categorical.from_codes(
        n_missing.astype(np.int8), categories=_rule_labels(n_items, max_missing)
    )


def _prorated_sum(values: np.ndarray, max_missing: int) -> tuple[np.ndarray, np.ndarray]:
    """Row sums prorated to all items when at most ``max_missing`` are missing, else NaN."""
    n_items = values.shape[1]
    missing = np.isnan(values)
    n_missing = missing.sum(axis=1)
    answered = n_items - n_missing
    total = np.where(missing, 0.0, values).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prorated = np.where(n_missing == 0, total, total * n_items / answered)
    return np.where(n_missing <= max_missing, prorated, np.nan), n_missing


def _score_swemwbs(values: np.ndarray, spec: InstrumentSpec, scoring: Mapping | None):
    raw, n_missing = _prorated_sum(values, spec.max_missing)
    metric = np.asarray((*SWEMWBS_METRIC, np.nan))
    # raw is a whole number 7..35 on checked input; a missing raw indexes the trailing NaN
    position = np.where(np.isnan(raw), len(SWEMWBS_METRIC), raw - 7).astype(np.intp)
    return {"raw": raw, "metric": metric[position]}, n_missing


def _score_wrqol(values: np.ndarray, spec: InstrumentSpec, scoring: Mapping | None):
    if scoring is None:
        raise ValueError(
            "WRQoL scoring needs its licensed item map: pass scoring=read_wrqol_scoring(path). "
            "Got scoring=None instead."
        )
    scoring = validate_wrqol_scoring(scoring)
    reverse = np.asarray(scoring["reverse"], dtype=np.intp) - 1
    values[:, reverse] = (spec.item_min + spec.item_max) - values[:, reverse]
    total, n_missing = _prorated_sum(values, spec.max_missing)
    scores = {"total": total}
    for subscale, members in scoring["subscales"].items():
        # prorating a two-item subscale from one answer would report a single item as a scale
        allowed = spec.max_missing if len(members) >= 3 else 0
        scores[subscale], _ = _prorated_sum(values[:, np.asarray(members, np.intp) - 1], allowed)
    return scores, n_missing


def _score_ghq12(values: np.ndarray, spec: InstrumentSpec, scoring: Mapping | None):
    total, n_missing = _prorated_sum(values, spec.max_missing)
    return {"total": total}, n_missing


_SCORERS = {"swemwbs": _score_swemwbs, "wrqol": _score_wrqol, "ghq12": _score_ghq12}


def score_instrument(
    items: pd.DataFrame,
    *,
    instrument: str | InstrumentSpec,
    prefix: str | None = None,
    scoring: Mapping | None = None,
) -> pd.DataFrame:
    """Score one instrument's items, row by row, vectorised.

    Input is assumed checked (:func:`find_out_of_range` finds nothing): no
    range checks are made here.

    Parameters
    ----------
    items : DataFrame
        Holds the item columns ``<prefix>_<suffix>``; other columns are ignored.
        Unanswered items are missing (NaN/None).
    instrument : str or InstrumentSpec
        ``swemwbs``, ``wrqol``, ``ons4``, ``ghq12``, or a spec from
        :func:`single_item_spec`.
    prefix : str, optional
        Column prefix of items and scores; defaults to the instrument's name
        (e.g. ``prefix="swemwbs_endline"`` reads ``swemwbs_endline_1``.. and
        returns ``swemwbs_endline_metric``).
    scoring : Mapping, optional
        WRQoL only, and required for it: the item-to-subscale map and
        reverse-scored items, as returned by
        :func:`trial_designs.scale_files.read_wrqol_scoring`.

    Returns
    -------
    DataFrame
        Aligned with ``items.index``; float scores and a categorical
        ``<prefix>_rule`` (``complete``, ``prorated(k)`` or ``missing(k items)``):

        - swemwbs: ``_raw`` (7-35), ``_metric`` (Rasch table);
        - wrqol: ``_total`` (23-115) and ``_GWB``.. ``_SAW``;
        - ons4: ``_life_satisfaction``, ``_worthwhile``, ``_happy``, ``_anxious``;
        - ghq12: ``_total`` (0-36);
        - single item: the item itself, under ``<prefix>``.

    Notes
    -----
    With :math:`x_{ij}` the answered items of row :math:`i`, :math:`a_i` their
    number and :math:`k` the instrument's item count, a prorated score is

    .. math:: S_i = \\frac{k}{a_i} \\sum_j x_{ij}, \\qquad k - a_i \\le m,

    and missing otherwise, where :math:`m` is the rule's allowance (0 for
    SWEMWBS, 1 for GHQ-12 and the WRQoL total). SWEMWBS metric is
    ``SWEMWBS_METRIC[raw - 7]``. A reverse-scored WRQoL item counts as
    :math:`6 - x`.
    """
    spec = _resolve(instrument)
    base = prefix or spec.name
    columns = _item_frame(items, spec, prefix)
    if spec.scale is not None:  # a declared scale file
        return score_scale(items, spec.scale, prefix=base)
    values = items[columns].to_numpy(dtype=float, na_value=np.nan, copy=True)
    if spec.missing_rule_name == "each_item_its_own_score":  # ons4 and single items
        scores, n_missing = dict(zip(spec.scores, values.T, strict=True)), np.isnan(values).sum(1)
    elif spec.name in _SCORERS and spec == INSTRUMENTS[spec.name]:
        scores, n_missing = _SCORERS[spec.name](values, spec, scoring)
    else:
        raise ValueError(
            f"The instrument spec '{spec.name}' has no scoring. Use a name in INSTRUMENTS "
            f"({', '.join(INSTRUMENTS)}) or single_item_spec(...). Got {spec!r} instead."
        )
    out = pd.DataFrame(
        {item_column(base, s): np.asarray(v, dtype=float) for s, v in scores.items()},
        index=items.index,
    )
    out[f"{base}_rule"] = _rule_column(n_missing, values.shape[1], spec.max_missing)
    return out
