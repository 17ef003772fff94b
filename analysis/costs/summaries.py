"""Summaries of a cost ledger: its total, and its split by category, kind, site, item, year."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from analysis.costs._checks import check_ledger
from common.numbers import json_float
from trial_designs.cost_model import COST_CATEGORIES, COST_KINDS

__all__ = [
    "UNASSIGNED",
    "CostBreakdown",
    "CostFigure",
    "LedgerSummary",
    "ledger_figure",
    "summarise_ledger",
]

#: The level under which ledger lines with no site or organisation are summed.
UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class CostFigure:
    """An amount in GBP, undiscounted and discounted (NaN where undefined)."""

    undiscounted: float
    discounted: float

    def to_dict(self) -> dict:
        """JSON-safe dict; NaN becomes None."""
        return {
            "undiscounted": json_float(self.undiscounted),
            "discounted": json_float(self.discounted),
        }


@dataclass(frozen=True)
class CostBreakdown:
    """A cost figure in total and split into direct costs and staff time."""

    total: CostFigure
    direct: CostFigure
    staff_time: CostFigure

    def to_dict(self) -> dict:
        """JSON-safe dict of the three figures."""
        return {
            "total": self.total.to_dict(),
            "direct": self.direct.to_dict(),
            "staff_time": self.staff_time.to_dict(),
        }


@dataclass(frozen=True)
class LedgerSummary:
    """The ledger's total, and its split by each dimension.

    Each ``by_*`` maps a level (``setup``, ``staff_time``, a site, ...) to
    its :class:`CostFigure`; ``by_category_and_kind`` keys are like
    ``"running/staff_time"``.  Lines with no site or organisation are under
    ``"unassigned"``.  Categories and kinds always list every level.
    """

    total: CostFigure
    by_category: dict[str, CostFigure]
    by_kind: dict[str, CostFigure]
    by_category_and_kind: dict[str, CostFigure]
    by_organisation: dict[str, CostFigure]
    by_site: dict[str, CostFigure]
    by_item: dict[str, CostFigure]
    by_year: dict[int, CostFigure]
    currency_years: tuple[int, ...]

    def to_dict(self) -> dict:
        """JSON-safe dict (year keys as strings)."""

        def table(figures: Mapping) -> dict:
            return {str(level): figure.to_dict() for level, figure in figures.items()}

        return {
            "total": self.total.to_dict(),
            "by_category": table(self.by_category),
            "by_kind": table(self.by_kind),
            "by_category_and_kind": table(self.by_category_and_kind),
            "by_organisation": table(self.by_organisation),
            "by_site": table(self.by_site),
            "by_item": table(self.by_item),
            "by_year": table(self.by_year),
            "currency_years": [int(y) for y in self.currency_years],
        }


def ledger_figure(rows: pd.DataFrame) -> CostFigure:
    """The undiscounted and discounted cost of some ledger lines."""
    return CostFigure(float(rows["cost"].sum()), float(rows["cost_discounted"].sum()))


def _figures_by(ledger: pd.DataFrame, column: str | list[str], levels: Sequence = ()) -> dict:
    keys = ledger[column]
    if isinstance(column, list):
        keys = keys.astype(str).agg("/".join, axis=1)
    keys = keys.map(
        lambda v: UNASSIGNED if v is None or (isinstance(v, float) and math.isnan(v)) else v
    )
    found = {level: ledger_figure(ledger[keys == level]) for level in levels}
    for level in sorted(set(keys) - set(found), key=str):
        found[level] = ledger_figure(ledger[keys == level])
    return found


def summarise_ledger(ledger: pd.DataFrame) -> LedgerSummary:
    """Total the ledger, split by category, kind, organisation, site, item and year.

    Parameters
    ----------
    ledger : DataFrame
        As :func:`build_ledger` returns.

    Returns
    -------
    LedgerSummary
        Undiscounted and discounted figures for every split.

    Notes
    -----
    Each split is a partition of the ledger's lines, so each split's figures
    sum to the total.
    """
    check_ledger(ledger)
    both = [f"{c}/{k}" for c in COST_CATEGORIES for k in COST_KINDS]
    with_key = ledger.assign(
        _both=ledger["category"].astype(str) + "/" + ledger["kind"].astype(str)
    )
    return LedgerSummary(
        total=ledger_figure(ledger),
        by_category=_figures_by(ledger, "category", tuple(COST_CATEGORIES)),
        by_kind=_figures_by(ledger, "kind", tuple(COST_KINDS)),
        by_category_and_kind=_figures_by(with_key, "_both", both),
        by_organisation=_figures_by(ledger, "organisation") if "organisation" in ledger else {},
        by_site=_figures_by(ledger, "site") if "site" in ledger else {},
        by_item=_figures_by(ledger, "item") if "item" in ledger else {},
        by_year={int(k): v for k, v in _figures_by(ledger, "year").items()}
        if "year" in ledger
        else {},
        currency_years=tuple(sorted({int(y) for y in ledger["currency_year"]}))
        if "currency_year" in ledger
        else (),
    )
