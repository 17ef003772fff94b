"""Exact, vectorised scoring of the wellbeing instruments.

Each instrument is declared once in :data:`INSTRUMENTS` with its items, item
range, score range, direction and missing-item rule.  Scoring assumes checked
input (the ingest checks items against their range first, see
:func:`find_out_of_range`) and records, per row, which missing-data rule it
applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

__all__ = [
    "INSTRUMENTS",
    "SWEMWBS_METRIC",
    "WRQOL_SCORING",
    "InstrumentSpec",
    "find_out_of_range",
    "instrument_spec",
    "load_scoring_file",
    "score_instrument",
]

#: SWEMWBS raw score 7..35 -> metric score (the official Rasch conversion table).
SWEMWBS_METRIC = (
    7.00, 9.51, 11.25, 12.40, 13.33, 14.08, 14.75, 15.32, 15.84, 16.36, 16.88, 17.43, 17.98,
    18.59, 19.25, 19.98, 20.73, 21.54, 22.35, 23.21, 24.11, 25.03, 26.02, 27.03, 28.13, 29.31,
    30.70, 32.55, 35.00,
)  # fmt: skip

WRQOL_SCORING = Path(__file__).resolve().parent / "scoring" / "wrqol.yaml"


@dataclass(frozen=True)
class InstrumentSpec:
    """What an instrument is: for scoring, checks and the data dictionary."""

    name: str
    label: str
    items: tuple[str, ...]
    item_min: float
    item_max: float
    score_min: float
    score_max: float
    higher_is_better: bool
    missing_rule: str


INSTRUMENTS: dict[str, InstrumentSpec] = {
    "swemwbs": InstrumentSpec(
        "swemwbs", "Short Warwick-Edinburgh Mental Wellbeing Scale", tuple(f"swemwbs_{i}" for i in range(1, 8)),
        1, 5, 7.0, 35.0, True,
        "No items may be missing (the developers publish no prorating rule); otherwise the score is missing.",
    ),
    "wrqol": InstrumentSpec(
        "wrqol", "Work-Related Quality of Life scale", tuple(f"wrqol_{i}" for i in range(1, 24)),
        1, 5, 23.0, 115.0, True,
        "Declared rule: prorate the total and each subscale when at most one of its items is missing.",
    ),
    "ons4": InstrumentSpec(
        "ons4", "ONS personal wellbeing (ONS4)",
        ("ons4_life_satisfaction", "ons4_worthwhile", "ons4_happy", "ons4_anxious"),
        0, 10, 0.0, 10.0, True,
        "Each item is its own score; a missing item is a missing score. Anxious: lower is better.",
    ),
    "ghq12": InstrumentSpec(
        "ghq12", "General Health Questionnaire (GHQ-12), Likert scoring", tuple(f"ghq12_{i}" for i in range(1, 13)),
        0, 3, 0.0, 36.0, False,
        "Declared rule: prorate when at most one item is missing (sum × 12/11); otherwise missing.",
    ),
}  # fmt: skip


def instrument_spec(name: str) -> InstrumentSpec:
    """The spec of a named instrument."""
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise ValueError(
            f"The instrument '{name}' is not known. Choose one of: {', '.join(INSTRUMENTS)}. Got '{name}' instead."
        ) from None


def load_scoring_file(path: str | Path = WRQOL_SCORING) -> dict:
    """Load and validate a WRQoL scoring file (item -> subscale map, reversed items)."""
    path = Path(path)
    mapping = yaml.safe_load(path.read_text())
    n_items = int(mapping.get("items", 0))
    seen: dict[int, str] = {}
    for subscale, items in mapping.get("subscales", {}).items():
        for item in items:
            if item in seen:
                raise ValueError(
                    f"{path.name}: item {item} is in subscales '{seen[item]}' and '{subscale}'; each item belongs to one."
                )
            seen[item] = subscale
    missing = sorted(set(range(1, n_items + 1)) - set(seen))
    if missing:
        raise ValueError(
            f"{path.name}: items {missing} are in no subscale. Every item 1..{n_items} must be."
        )
    unknown = sorted(set(mapping.get("reverse", [])) - set(seen))
    if unknown:
        raise ValueError(f"{path.name}: reverse-scored items {unknown} are not items of the scale.")
    return mapping


def find_out_of_range(items: pd.DataFrame, *, instrument: str) -> pd.DataFrame:
    """Cells outside the item range or not whole numbers: (row index, column, value)."""
    spec = instrument_spec(instrument)
    problems = []
    for column in spec.items:
        if column not in items:
            continue
        values = pd.to_numeric(items[column], errors="coerce")
        raw_present = items[column].notna()
        bad = raw_present & (
            values.isna() | (values < spec.item_min) | (values > spec.item_max) | (values % 1 != 0)
        )
        for index in items.index[bad]:
            problems.append({"index": index, "column": column, "value": items.at[index, column]})
    return pd.DataFrame(problems, columns=["index", "column", "value"])


def _rule_text(n_missing: np.ndarray, allowed: int, total: int) -> np.ndarray:
    out = np.where(n_missing == 0, "complete", "")
    out = np.where(
        (n_missing > 0) & (n_missing <= allowed), "prorated(" + n_missing.astype(str) + ")", out
    )
    return np.where(
        n_missing > allowed,
        "missing(" + n_missing.astype(str) + " of " + str(total) + " items)",
        out,
    )


def _prorated_sum(values: np.ndarray, allowed: int) -> tuple[np.ndarray, np.ndarray]:
    n_items = values.shape[1]
    answered = ~np.isnan(values)
    n_missing = n_items - answered.sum(axis=1)
    total = np.nansum(values, axis=1) * n_items / np.maximum(answered.sum(axis=1), 1)
    return np.where(n_missing <= allowed, total, np.nan), n_missing


def score_instrument(
    items: pd.DataFrame, *, instrument: str, scoring: Mapping | None = None
) -> pd.DataFrame:
    """Score one instrument's items (columns named as in its spec) row by row.

    Returns
    -------
    DataFrame
        Score columns aligned with ``items.index``:

        - swemwbs: ``swemwbs_raw`` (7–35), ``swemwbs_metric``, ``swemwbs_rule``;
        - wrqol: ``wrqol_total`` and ``wrqol_<subscale>``, ``wrqol_rule``;
        - ons4: the four items as scores, ``ons4_rule``;
        - ghq12: ``ghq12_total`` (0–36), ``ghq12_rule``.

    Notes
    -----
    The ``*_rule`` column records the missing-data rule applied to the row:
    ``complete``, ``prorated(k)`` or ``missing(k of n items)``.
    """
    spec = instrument_spec(instrument)
    values = (
        items.reindex(columns=list(spec.items))
        .apply(pd.to_numeric, errors="coerce")
        .to_numpy(float, copy=True)
    )
    out = pd.DataFrame(index=items.index)
    if instrument == "swemwbs":
        raw, n_missing = _prorated_sum(values, allowed=0)
        out["swemwbs_raw"] = raw
        table = np.asarray(SWEMWBS_METRIC)
        index = np.where(np.isnan(raw), 0, raw - 7).astype(int)
        out["swemwbs_metric"] = np.where(np.isnan(raw), np.nan, table[np.clip(index, 0, 28)])
        out["swemwbs_rule"] = _rule_text(n_missing, 0, 7)
    elif instrument == "wrqol":
        scoring = scoring or load_scoring_file()
        reverse = [i - 1 for i in scoring.get("reverse", [])]
        values[:, reverse] = (spec.item_min + spec.item_max) - values[:, reverse]
        total, n_missing = _prorated_sum(values, allowed=1)
        out["wrqol_total"] = total
        for subscale, members in scoring["subscales"].items():
            sub, _ = _prorated_sum(
                values[:, [m - 1 for m in members]], allowed=1 if len(members) > 2 else 0
            )
            out[f"wrqol_{subscale}"] = sub
        out["wrqol_rule"] = _rule_text(n_missing, 1, 23)
    elif instrument == "ons4":
        for j, column in enumerate(spec.items):
            out[column] = values[:, j]
        out["ons4_rule"] = _rule_text(np.isnan(values).sum(axis=1), 0, 4)
    else:  # ghq12
        total, n_missing = _prorated_sum(values, allowed=1)
        out["ghq12_total"] = total
        out["ghq12_rule"] = _rule_text(n_missing, 1, 12)
    return out
