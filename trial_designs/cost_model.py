"""The cost model a design declares: unit costs, their drivers and the discount rate.

What a trial design may say about costs, and the checks on it, live here so that
``trial_designs`` (checking a design's ``costs:`` mapping) and ``analysis.costs``
(costing the delivery log with it) share one vocabulary without ``trial_designs``
importing ``analysis``.  :func:`cost_model_from_mapping` reads and checks the mapping.

Each cost item names the delivery event that drives it and which field of the
event gives its quantity; staff time is an item of kind ``staff_time`` whose
amount is an hourly cost.

The mapping a design carries, for example Schwartz Rounds with unit costs
that differ by site (an ``amount`` keyed by site expands to one
:class:`UnitCost` per site)::

    costs:
      currency: GBP
      currency_year: 2020          # default for every item
      discount_rate: 0.035         # HM Treasury Green Book
      items:
        - name: training
          event_type: training_held
          quantity_from: events     # events | quantity | hours | attendees | attendee_hours
          unit: per_training
          category: setup           # setup | running
          kind: direct              # direct | staff_time
          source: CASCADE evaluation, mean cost per LA
          amount: {LA1: 716, LA3: 673, LA4: 1123, LA5: 983, LA6: 1170}
        - name: panel_meeting
          event_type: panel_meeting_held
          unit: per_meeting
          category: running
          kind: direct
          source: CASCADE evaluation, mean cost per LA
          amount: {LA1: 166, LA3: 253, LA4: 267, LA5: 289, LA6: 203}
        - name: round
          event_type: round_held
          unit: per_round
          category: running
          kind: direct
          source: CASCADE evaluation, mean cost per LA
          amount: {LA1: 742, LA3: 678, LA4: 1446, LA5: 1000, LA6: 795}
        - name: steering_group
          event_type: steering_group_held
          unit: per_meeting
          category: running
          kind: direct
          source: CASCADE evaluation, mean cost per LA
          amount: {LA1: 238, LA3: 515, LA4: 350, LA5: 461, LA6: 983}
        - name: attendee_time
          event_type: round_held
          quantity_from: attendee_hours   # attendees x hours of each Round
          unit: per_hour
          category: running
          kind: staff_time
          source: PSSRU Unit Costs 2020, social worker per working hour
          amount: 31
          low: 25                   # bounds for the one-way sensitivity analysis
          high: 40

Goal-setting's 30 minutes a week is ``event_type: module_started``,
``quantity_from: events``, ``multiplier: 0.5``, ``unit: per_hour``, ``kind:
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from common.numbers import json_float
from common.validation import is_real_number

__all__ = [
    "COST_CATEGORIES",
    "COST_KINDS",
    "GREEN_BOOK_RATE",
    "QUANTITY_SOURCES",
    "CostModel",
    "UnitCost",
    "check_discount_rate",
    "cost_model_from_mapping",
]

#: Whether a cost is paid once to set the intervention up, or for each delivery.
COST_CATEGORIES: dict[str, str] = {
    "setup": "one-off costs of setting the intervention up (training, equipment)",
    "running": "costs of each delivery (Rounds held, letters sent, supplies)",
}

#: What a cost pays for.
COST_KINDS: dict[str, str] = {
    "direct": "money spent on the intervention",
    "staff_time": "the value of staff time it takes, at an hourly cost",
}

#: Which field of an event gives a cost item's quantity (before its multiplier).
QUANTITY_SOURCES: dict[str, str] = {
    "events": "one per event",
    "quantity": "the event's 'quantity' (machines installed, supplies restocked)",
    "hours": "the event's 'hours'",
    "attendees": "the event's 'attendees'",
    "attendee_hours": "the event's 'attendees' times its 'hours' (staff time at a meeting)",
}
#: The Green Book's discount rate for costs (HM Treasury, 3.5% a year).
GREEN_BOOK_RATE = 0.035

_ITEM_KEYS = (
    "name",
    "event_type",
    "quantity_from",
    "multiplier",
    "amount",
    "low",
    "high",
    "unit",
    "category",
    "kind",
    "source",
    "currency_year",
    "site",
)
_MODEL_KEYS = ("currency", "currency_year", "source", "discount_rate", "items")


@dataclass(frozen=True)
class UnitCost:
    """One declared unit cost, and the delivery event that drives its quantity.

    The quantity of a ledger line is ``multiplier`` times the driver named by
    ``quantity_from`` (see :data:`QUANTITY_SOURCES`), summed over the events
    of type ``event_type`` (at ``site``, if given); its cost is that quantity
    times ``amount``.  For ``kind='staff_time'`` the amount is an hourly cost
    and ``low``/``high`` bound it for the sensitivity analysis.
    """

    name: str
    event_type: str
    amount: float
    unit: str
    category: str
    kind: str
    source: str
    currency_year: int
    quantity_from: str = "events"
    multiplier: float = 1.0
    site: str | None = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        label = f"The cost item '{self.name}'" + (f" at site '{self.site}'" if self.site else "")
        for key in ("name", "event_type", "unit", "source"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{label} needs a non-empty text '{key}'. Got {value!r} instead.")
        if self.site is not None and (not isinstance(self.site, str) or not self.site.strip()):
            raise ValueError(
                f"{label}: 'site' must be a non-empty text or absent. Got {self.site!r} instead."
            )
        for key, table in (
            ("category", COST_CATEGORIES),
            ("kind", COST_KINDS),
            ("quantity_from", QUANTITY_SOURCES),
        ):
            value = getattr(self, key)
            if value not in table:
                raise ValueError(
                    f"{label}: the '{key}' {value!r} is not known. "
                    f"Choose one of: {', '.join(table)}. Got {value!r} instead."
                )
        for key in ("amount", "multiplier", "low", "high"):
            value = getattr(self, key)
            if value is None and key in ("low", "high"):
                continue
            if not is_real_number(value) or not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"{label}: '{key}' must be a finite number at least 0. Got {value!r} instead."
                )
        if self.multiplier == 0:
            raise ValueError(f"{label}: 'multiplier' must be above 0. Got 0 instead.")
        if not isinstance(self.currency_year, (int, np.integer)) or isinstance(
            self.currency_year, bool
        ):
            raise ValueError(
                f"{label}: 'currency_year' must be a whole year such as 2020. "
                f"Got {self.currency_year!r} instead."
            )
        if not 1900 <= self.currency_year <= 2200:
            raise ValueError(
                f"{label}: 'currency_year' must be between 1900 and 2200. "
                f"Got {self.currency_year!r} instead."
            )
        if self.low is not None and self.low > self.amount:
            raise ValueError(
                f"{label}: 'low' must not exceed 'amount' ({self.amount:g}). Got {self.low:g} instead."
            )
        if self.high is not None and self.high < self.amount:
            raise ValueError(
                f"{label}: 'high' must not be below 'amount' ({self.amount:g}). Got {self.high:g} instead."
            )

    def to_dict(self) -> dict:
        """JSON-safe dict of the declaration."""
        return {
            "name": self.name,
            "event_type": self.event_type,
            "amount": float(self.amount),
            "unit": self.unit,
            "category": self.category,
            "kind": self.kind,
            "source": self.source,
            "currency_year": int(self.currency_year),
            "quantity_from": self.quantity_from,
            "multiplier": float(self.multiplier),
            "site": self.site,
            "low": json_float(self.low),
            "high": json_float(self.high),
        }


@dataclass(frozen=True)
class CostModel:
    """A trial's declared unit costs (all in ``currency``) and its discount rate.

    An item ``name`` is either declared once without a site (one amount
    everywhere) or once per site; the per-site declarations of a name share
    its event type, quantity source, unit, category and kind.
    """

    items: tuple[UnitCost, ...]
    currency: str = "GBP"
    discount_rate: float = GREEN_BOOK_RATE

    def __post_init__(self) -> None:
        if self.currency != "GBP":
            raise ValueError(
                f"The cost model's 'currency' must be GBP (costs are reported in pounds). "
                f"Got {self.currency!r} instead."
            )
        check_discount_rate(self.discount_rate, "The cost model's 'discount_rate'")
        if not isinstance(self.items, tuple) or not self.items:
            raise ValueError(
                f"The cost model's 'items' must be a non-empty tuple of UnitCost. Got {self.items!r} instead."
            )
        seen: dict[tuple[str, str | None], UnitCost] = {}
        first: dict[str, UnitCost] = {}
        for item in self.items:
            if not isinstance(item, UnitCost):
                raise ValueError(
                    f"Every cost model item must be a UnitCost. Got {type(item).__name__} instead."
                )
            key = (item.name, item.site)
            if key in seen:
                where = f" at site '{item.site}'" if item.site else ""
                raise ValueError(
                    f"The cost item '{item.name}'{where} is declared twice; each name (and site) "
                    f"must be unique. Got a second declaration with amount {item.amount:g}."
                )
            seen[key] = item
            other = first.setdefault(item.name, item)
            if (other.site is None) != (item.site is None):
                raise ValueError(
                    f"The cost item '{item.name}' must be declared either once for all sites or once "
                    f"per site, not both. Got site {other.site!r} and site {item.site!r}."
                )
            for attribute in ("event_type", "quantity_from", "unit", "category", "kind"):
                if getattr(other, attribute) != getattr(item, attribute):
                    raise ValueError(
                        f"The cost item '{item.name}' must have the same '{attribute}' at every site. "
                        f"Got {getattr(other, attribute)!r} and {getattr(item, attribute)!r}."
                    )

    @property
    def names(self) -> tuple[str, ...]:
        """The item names, in declaration order, each once."""
        return tuple(dict.fromkeys(item.name for item in self.items))

    def to_dict(self) -> dict:
        """JSON-safe dict of the model."""
        return {
            "currency": self.currency,
            "discount_rate": float(self.discount_rate),
            "items": [item.to_dict() for item in self.items],
        }


def check_discount_rate(rate: object, what: str) -> None:
    """Refuse a discount ``rate`` outside [0, 1); ``what`` names it in the message."""
    if not is_real_number(rate) or not 0 <= rate < 1:
        raise ValueError(f"{what} must be a number in [0, 1), such as 0.035. Got {rate!r} instead.")


def _site_values(value: object, sites: Sequence[str], name: str, key: str) -> dict:
    """A scalar for every site, or a mapping with exactly the sites of ``amount``."""
    if isinstance(value, Mapping):
        if sorted(map(str, value)) != sorted(sites):
            raise ValueError(
                f"The cost item '{name}': '{key}' keyed by site must name the same sites as 'amount' "
                f"({', '.join(sites)}). Got {', '.join(map(str, value))} instead."
            )
        return {str(k): v for k, v in value.items()}
    return dict.fromkeys(sites, value)


def cost_model_from_mapping(mapping: Mapping) -> CostModel:
    """Read and check a cost model declared as a mapping (a design's ``costs:``).

    Parameters
    ----------
    mapping : Mapping
        ``currency`` (``GBP``), ``currency_year`` and ``source`` (defaults for
        the items), ``discount_rate`` (default 0.035) and ``items``: a list of
        mappings with the fields of :class:`UnitCost`.  An item's ``amount``
        may be a mapping from site to amount, which declares the item once
        per site; ``low`` and ``high`` may then be keyed by site too.  See the
        module docstring for an example.

    Returns
    -------
    CostModel

    Raises
    ------
    ValueError
        Naming the item, the field, the rule and the value received, for an
        unknown key or option, a missing field, or a value out of range.
    """
    if not isinstance(mapping, Mapping):
        raise ValueError(
            f"A cost model must be a mapping with {', '.join(_MODEL_KEYS)}. "
            f"Got {type(mapping).__name__} instead."
        )
    unknown = [str(k) for k in mapping if k not in _MODEL_KEYS]
    if unknown:
        raise ValueError(
            f"The cost model key(s) {', '.join(unknown)} are not known. "
            f"Choose from: {', '.join(_MODEL_KEYS)}. Got {', '.join(unknown)} instead."
        )
    raw_items = mapping.get("items")
    if not isinstance(raw_items, Sequence) or isinstance(raw_items, str) or not raw_items:
        raise ValueError(
            f"The cost model needs a non-empty list of 'items'. Got {raw_items!r} instead."
        )
    defaults = {k: mapping[k] for k in ("currency_year", "source") if k in mapping}
    items: list[UnitCost] = []
    for position, raw in enumerate(raw_items):
        if not isinstance(raw, Mapping):
            raise ValueError(
                f"Cost item {position + 1} must be a mapping of {', '.join(_ITEM_KEYS)}. "
                f"Got {raw!r} instead."
            )
        name = raw.get("name", f"#{position + 1}")
        unknown = [str(k) for k in raw if k not in _ITEM_KEYS]
        if unknown:
            raise ValueError(
                f"The cost item '{name}': the key(s) {', '.join(unknown)} are not known. "
                f"Choose from: {', '.join(_ITEM_KEYS)}. Got {', '.join(unknown)} instead."
            )
        fields = {**defaults, **raw}
        for key in (
            "name",
            "event_type",
            "amount",
            "unit",
            "category",
            "kind",
            "source",
            "currency_year",
        ):
            if key not in fields:
                raise ValueError(f"The cost item '{name}' needs '{key}'. Got none instead.")
        amount = fields.pop("amount")
        if isinstance(amount, Mapping):
            if "site" in fields:
                raise ValueError(
                    f"The cost item '{name}' gives 'amount' by site, so it must not also give 'site'. "
                    f"Got site {fields['site']!r}."
                )
            if not amount:
                raise ValueError(
                    f"The cost item '{name}': 'amount' by site is empty. Got {{}} instead."
                )
            sites = [str(s) for s in amount]
            lows = _site_values(fields.pop("low", None), sites, name, "low")
            highs = _site_values(fields.pop("high", None), sites, name, "high")
            for site, value in amount.items():
                site = str(site)
                items.append(
                    UnitCost(**fields, amount=value, site=site, low=lows[site], high=highs[site])
                )
        else:
            for key in ("low", "high"):
                if isinstance(fields.get(key), Mapping):
                    raise ValueError(
                        f"The cost item '{name}': '{key}' may be keyed by site only when 'amount' is. "
                        f"Got {fields[key]!r} instead."
                    )
            items.append(UnitCost(**fields, amount=amount))
    currency = mapping.get("currency", "GBP")
    rate = mapping.get("discount_rate", GREEN_BOOK_RATE)
    return CostModel(items=tuple(items), currency=currency, discount_rate=rate)
