"""Costs: a ledger from delivery events, cost per participant, and cost-effectiveness.

A trial's cost model is declared in its design (the ``costs:`` mapping) and
read with :func:`cost_model_from_mapping`.  Each cost item names the delivery
event that drives it and which field of the event gives its quantity; staff
time is an item of kind ``staff_time`` whose amount is an hourly cost.
:func:`build_ledger` turns the delivery log into costed, discounted ledger
lines; :func:`summarise_ledger` and :func:`cost_per_participant` report them;
:func:`head_count_shares` gives the share of each event's cost the trial's
participants bear when a session is open to others too (a Round open to all
the authority's staff), for ``build_ledger(share_column=...)``;
:func:`bootstrap_cost_effect` gives the incremental cost-effectiveness with
bootstrap uncertainty; :func:`one_way_sensitivity` gives tornado data.

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
staff_time``; a manager's 15 minutes per letter is ``event_type:
letter_sent`` with ``multiplier: 0.25``.

Check at the boundary, compute unchecked inside: the public functions check
their arguments; the private helpers trust them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trial_designs.design import MAX_BOOTSTRAP_REPLICATES

__all__ = [
    "COST_CATEGORIES",
    "COST_KINDS",
    "EEF_COST_BANDS",
    "QUANTITY_SOURCES",
    "BootstrapResult",
    "CostBreakdown",
    "CostFigure",
    "CostModel",
    "CostSummary",
    "LedgerSummary",
    "UnitCost",
    "bootstrap_cost_effect",
    "build_ledger",
    "cost_model_from_mapping",
    "cost_per_participant",
    "eef_cost_band",
    "head_count_shares",
    "one_way_sensitivity",
    "summarise_ledger",
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

#: EEF cost rating per participant per year: (band, upper bound in GBP, bound inclusive).
EEF_COST_BANDS: tuple[tuple[str, float, bool], ...] = (
    ("very low", 80.0, False),
    ("low", 200.0, True),
    ("moderate", 720.0, True),
    ("high", 1200.0, True),
    ("very high", math.inf, True),
)

#: The Green Book's discount rate for costs (HM Treasury, 3.5% a year).
GREEN_BOOK_RATE = 0.035

_EVENT_FIELDS = {"quantity": ("quantity",), "hours": ("hours",), "attendees": ("attendees",)}
_EVENT_FIELDS["attendee_hours"] = ("attendees", "hours")
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
_TIME_COLUMNS = ("occurred_at", "timestamp")
_UNASSIGNED = "unassigned"
_LEDGER_COLUMNS = (
    "item",
    "site",
    "organisation",
    "event_type",
    "category",
    "kind",
    "unit",
    "year",
    "quantity",
    "unit_cost",
    "cost",
    "discount_factor",
    "cost_discounted",
    "currency_year",
    "source",
)
# Index matrices of the bootstrap are drawn in chunks of about this many entries, so
# memory stays near 2 x 8 x _CHUNK_ENTRIES bytes whatever the trial's size.
_CHUNK_ENTRIES = 4_000_000


def _json_float(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


# ---------------------------------------------------------------------------
# The cost model
# ---------------------------------------------------------------------------
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
            if not _is_number(value) or not math.isfinite(value) or value < 0:
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
            "low": _json_float(self.low),
            "high": _json_float(self.high),
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
        _check_rate(self.discount_rate, "The cost model's 'discount_rate'")
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


def _check_rate(rate: object, what: str) -> None:
    if not _is_number(rate) or not 0 <= rate < 1:
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


# ---------------------------------------------------------------------------
# The ledger
# ---------------------------------------------------------------------------
def _years_since(when: pd.Series, start: pd.Timestamp) -> np.ndarray:
    """Whole years elapsed since ``start`` (anniversaries), 0 for anything before it."""
    month_day = when.dt.month.to_numpy() * 100 + when.dt.day.to_numpy()
    before_anniversary = month_day < start.month * 100 + start.day
    years = when.dt.year.to_numpy() - start.year - before_anniversary.astype(int)
    return np.maximum(years, 0)


def _as_timestamp(value: object, what: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{what} must be a date such as 2020-01-15. Got {value!r} instead."
        ) from error
    if pd.isna(stamp):
        raise ValueError(f"{what} must be a date such as 2020-01-15. Got {value!r} instead.")
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp


def _prepare_events(
    events: pd.DataFrame,
    *,
    start: pd.Timestamp,
    rate: float,
    time_column: str | None,
    site_column: str,
    organisation_column: str,
    share_column: str | None = None,
) -> pd.DataFrame:
    if not isinstance(events, pd.DataFrame):
        raise ValueError(
            f"'events' must be a DataFrame of delivery events. Got {type(events).__name__} instead."
        )
    if time_column is None:
        time_column = next((c for c in _TIME_COLUMNS if c in events), None)
    if time_column is None or time_column not in events or "event_type" not in events:
        needed = ["event_type", time_column or " or ".join(_TIME_COLUMNS)]
        raise ValueError(
            f"The delivery events need the columns {', '.join(needed)}. "
            f"Got columns {', '.join(map(str, events.columns))} instead."
        )
    when = pd.to_datetime(events[time_column], errors="coerce", format="mixed")
    if when.dt.tz is not None:
        when = when.dt.tz_localize(None)
    if when.isna().any():
        bad = events.loc[when.isna(), time_column].head(3).tolist()
        raise ValueError(
            f"Every delivery event needs a date in '{time_column}' to be discounted. "
            f"Got {int(when.isna().sum())} without one (e.g. {bad}) instead."
        )
    years = _years_since(when, start)
    frame = pd.DataFrame(
        {
            "event_type": events["event_type"].astype(str).to_numpy(),
            "site": events[site_column].to_numpy(object) if site_column in events else None,
            "organisation": events[organisation_column].to_numpy(object)
            if organisation_column in events
            else None,
            "year": years,
            "discount_factor": (1.0 + rate) ** -years.astype(float),
        }
    )
    for column in ("quantity", "hours", "attendees"):
        frame[column] = (
            pd.to_numeric(events[column], errors="coerce").to_numpy(float)
            if column in events
            else np.nan
        )
    for column in ("site", "organisation"):
        frame[column] = frame[column].map(_label)
    frame["share"] = 1.0
    if share_column is not None:
        if share_column not in events:
            raise ValueError(
                f"The 'share_column' {share_column!r} is not a column of the delivery events. "
                f"Got columns {', '.join(map(str, events.columns))} instead."
            )
        share = pd.to_numeric(events[share_column], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(share) | (share < 0) | (share > 1)
        if bad.any():
            raise ValueError(
                f"Each event's '{share_column}' (the participants' share of its cost) must be a "
                f"number from 0 to 1. Got {int(bad.sum())} outside it "
                f"(e.g. {events.loc[bad, share_column].head(3).tolist()}) instead."
            )
        frame["share"] = share
    return frame


def _label(value: object) -> str | None:
    """A site or organisation as text; 3.0 (an integer label read with missing values) as '3'."""
    if pd.isna(value):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _driver(events: pd.DataFrame, item: UnitCost) -> np.ndarray:
    """Each event's quantity of ``item`` before its multiplier; raises on missing fields."""
    if item.quantity_from == "events":
        return np.ones(len(events))
    fields = _EVENT_FIELDS[item.quantity_from]
    values = events[list(fields)].to_numpy(float)
    missing = np.isnan(values).any(axis=1)
    if missing.any():
        raise ValueError(
            f"The cost item '{item.name}' takes its quantity from {' x '.join(fields)} of "
            f"'{item.event_type}' events, so every such event needs {' and '.join(fields)}. "
            f"Got {int(missing.sum())} of {len(events)} without. Fill them in the delivery log, "
            f"or count events instead (quantity_from: events)."
        )
    if (values < 0).any():
        raise ValueError(
            f"The cost item '{item.name}': {' and '.join(fields)} of '{item.event_type}' events "
            f"must be at least 0. Got {float(values.min()):g} instead."
        )
    return values.prod(axis=1)


def _empty_ledger() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in _LEDGER_COLUMNS})


def _item_lines(driven: pd.DataFrame, declared: list[UnitCost], site_column: str) -> pd.DataFrame:
    """Ledger lines of one item name from the events that drive it."""
    item = declared[0]
    quantity = item.multiplier * _driver(driven, item) * driven["share"].to_numpy(float)
    by_site = {d.site: d for d in declared}
    if item.site is None:
        declaration = driven["site"].map(lambda _: item)
    else:
        unknown = sorted(set(driven["site"].map(str)) - set(by_site))
        if unknown:
            raise ValueError(
                f"The cost item '{item.name}' has amounts for the sites {', '.join(sorted(by_site))}, "
                f"but '{item.event_type}' events happened at {', '.join(unknown)} "
                f"(the '{site_column}' column). Declare an amount for every site. "
                f"Got events at {', '.join(unknown)} instead."
            )
        declaration = driven["site"].map(by_site)
    keys = ["site", "organisation", "year", "discount_factor"]
    lines = (
        driven[keys]
        .assign(quantity=quantity, _site_key=declaration.map(lambda d: d.site or ""))
        .groupby([*keys, "_site_key"], dropna=False, sort=True)["quantity"]
        .sum()
        .reset_index()
    )
    of_line = lines["_site_key"].map({(d.site or ""): d for d in declared})
    lines = lines.assign(
        item=item.name,
        event_type=item.event_type,
        category=item.category,
        kind=item.kind,
        unit=item.unit,
        unit_cost=of_line.map(lambda d: float(d.amount)),
        currency_year=of_line.map(lambda d: int(d.currency_year)),
        source=of_line.map(lambda d: d.source),
    )
    lines["cost"] = lines["quantity"] * lines["unit_cost"]
    lines["cost_discounted"] = lines["cost"] * lines["discount_factor"]
    return lines[list(_LEDGER_COLUMNS)]


def build_ledger(
    events: pd.DataFrame,
    cost_model: CostModel,
    *,
    start_date: dt.date | str | pd.Timestamp,
    discount_rate: float | None = None,
    time_column: str | None = None,
    site_column: str = "site",
    organisation_column: str = "organisation",
    share_column: str | None = None,
) -> pd.DataFrame:
    """Cost the delivery log: one line per item, site, organisation and year.

    Parameters
    ----------
    events : DataFrame
        Delivery events: ``event_type``, a date (``time_column``), and as the
        cost items need them ``quantity``, ``hours`` and ``attendees``;
        optionally the site (``site_column``, e.g. the cluster or LA) and
        ``organisation_column``, either of which may be missing or NaN.
        Event types no item names are not costed.
    cost_model : CostModel
    start_date : date
        The start of year 0 for discounting (e.g. the randomisation date).
    discount_rate : float, optional
        Annual rate; the cost model's (default 0.035) when not given.
    time_column : str, optional
        Defaults to ``occurred_at`` or, failing that, ``timestamp``.
    site_column, organisation_column : str
        Where the events carry the site that site-specific unit costs match,
        and the organisation costs are reported by.
    share_column : str, optional
        A column of the events giving, from 0 to 1, the share of each event's
        cost borne by the trial's participants (see :func:`head_count_shares`).
        Each event's quantity is multiplied by it, so the ledger is then the
        participants' share of the cost, not the whole cost of delivery.

    Returns
    -------
    DataFrame
        Columns item, site, organisation, event_type, category, kind, unit,
        year, quantity, unit_cost, cost, discount_factor, cost_discounted,
        currency_year, source.  Missing sites and organisations are None.

    Raises
    ------
    ValueError
        When a needed column is missing, an event has no date, an event that
        drives a site-specific item happened at a site with no declared
        amount, or a quantity field is missing for an item that needs it.

    Notes
    -----
    An item's quantity on a line is :math:`q = m \\sum_e d_e`, the multiplier
    :math:`m` times the driver :math:`d_e` of each of the line's events (1 per
    event, or its quantity, hours, attendees or attendees × hours).  Its cost
    is :math:`q a` for unit amount :math:`a`.  With ``share_column`` each
    event's driver is weighted by its share :math:`w_e`:
    :math:`q = m \\sum_e w_e d_e`.

    Discounting follows the HM Treasury Green Book: a cost in year :math:`t`
    after ``start_date`` is worth :math:`(1 + r)^{-t}` of its face value,
    where :math:`t` counts whole years elapsed (the year turns on each
    anniversary of ``start_date``).  Year 0 (the first year) is not
    discounted; events before ``start_date`` (set-up done in advance) count
    in year 0.  No inflation is applied: each line keeps its item's
    currency year.
    """
    if not isinstance(cost_model, CostModel):
        raise ValueError(
            f"'cost_model' must be a CostModel (see cost_model_from_mapping). "
            f"Got {type(cost_model).__name__} instead."
        )
    rate = cost_model.discount_rate if discount_rate is None else discount_rate
    _check_rate(rate, "The 'discount_rate'")
    start = _as_timestamp(start_date, "The 'start_date'")
    frame = _prepare_events(
        events,
        start=start,
        rate=rate,
        time_column=time_column,
        site_column=site_column,
        organisation_column=organisation_column,
        share_column=share_column,
    )
    parts = []
    for name in cost_model.names:
        declared = [item for item in cost_model.items if item.name == name]
        driven = frame[frame["event_type"] == declared[0].event_type]
        if not driven.empty:
            parts.append(_item_lines(driven, declared, site_column))
    if not parts:
        return _empty_ledger()
    ledger = pd.concat(parts, ignore_index=True)
    ledger["year"] = ledger["year"].astype(int)
    for column in ("site", "organisation"):
        ledger[column] = ledger[column].astype(object).where(ledger[column].notna(), None)
    return ledger


def head_count_shares(
    events: pd.DataFrame,
    *,
    session_event: str,
    attendance_event: str,
    session_column: str = "round_id",
    head_count_column: str = "attendees",
    unit_column: str = "unit_id",
    site_column: str = "site",
) -> pd.Series:
    """The share of each event's cost that the trial's participants bear, by head count.

    A session open to people outside the trial (a Schwartz Round open to all
    the authority's staff) serves everyone in the room, so its cost is shared
    over its head count, and the trial's participants bear their share of it:
    those logged as attending over the head count.  Staff time costed as
    head count x hours then comes to the participants' own time only.

    Parameters
    ----------
    events : DataFrame
        The delivery events of the participants' arm: ``event_type``,
        ``unit_column`` (who or what the event is for), and where known
        ``site_column``, ``session_column`` (the session an event belongs
        to: held, attended, a panel meeting before it) and
        ``head_count_column`` (everyone in the room, on session events).
        Attendance events must be the trial participants' only.
    session_event, attendance_event : str
        The event type of a session held, and of a participant attending one.

    Returns
    -------
    Series
        From 0 to 1, aligned with ``events``: pass it to :func:`build_ledger`
        as ``share_column``.  All 1 when no session has a head count.

    Raises
    ------
    ValueError
        When a needed column is missing, the two event types are the same, or
        a head count is negative or infinite.

    Notes
    -----
    For a session :math:`s` with head count :math:`H_s` and :math:`P_s`
    distinct participants logged at it, the room is :math:`N_s = \\max(H_s,
    P_s)` (where :math:`H_s` is missing, :math:`P_s`; where the session's
    id is missing too, the site's unmatched attendances spread evenly over
    such sessions), and the participants' share is :math:`P_s / N_s`.  Every
    event of the session (held, and any other event carrying its id, such as
    the panel meeting before it) takes that share.  An attendance is the
    participant's own: share 1.  Any other event at a site that held
    sessions (set-up such as training, which serves all the site's
    sessions, or an event whose session is not known) takes the site's
    share :math:`\\sum_s P_s / \\sum_s N_s`, with :math:`\\sum_s P_s` counting
    every attendance logged at the site; so does a session whose room is 0.
    Events at a site that held no session, and a site whose rooms are all
    empty, take share 1.
    """
    if not isinstance(events, pd.DataFrame):
        raise ValueError(
            f"'events' must be a DataFrame of delivery events. Got {type(events).__name__} instead."
        )
    missing = [c for c in ("event_type", unit_column) if c not in events]
    if missing:
        raise ValueError(
            f"The delivery events need the columns {', '.join(missing)} to share costs by head "
            f"count. Got columns {', '.join(map(str, events.columns))} instead."
        )
    if session_event == attendance_event:
        raise ValueError(
            "'session_event' and 'attendance_event' must differ: a session's head count is "
            f"shared by the attendances logged at it. Got {session_event!r} for both."
        )
    share = pd.Series(1.0, index=events.index, name="share")
    kind = events["event_type"].astype(str).to_numpy()
    is_session = kind == session_event
    is_attendance = kind == attendance_event

    def column(name: str) -> pd.Series:
        if name in events:
            return events[name].map(_label).astype(object)
        return pd.Series(None, index=events.index, dtype=object)

    head = (
        pd.to_numeric(events[head_count_column], errors="coerce").to_numpy(float)
        if head_count_column in events
        else np.full(len(events), np.nan)
    )
    counted = is_session & ~np.isnan(head)
    if not counted.any():
        return share
    bad = counted & (~np.isfinite(head) | (head < 0))
    if bad.any():
        raise ValueError(
            f"A session's '{head_count_column}' (its head count) must be a finite number at "
            f"least 0. Got {head[bad][:3].tolist()} on '{session_event}' events instead."
        )
    site = column(site_column).where(column(site_column).notna(), "").to_numpy(object)
    session = column(session_column).to_numpy(object)
    known = pd.notna(session)
    # participants logged at each session, each once
    at = pd.DataFrame(
        {
            "site": site[is_attendance],
            "session": session[is_attendance],
            "unit": events[unit_column].astype(str).to_numpy()[is_attendance],
        }
    )
    matched = at[at["session"].notna()].drop_duplicates()
    logged = matched.groupby(["site", "session"]).size()
    trial_at_site = (
        pd.concat([matched, at[at["session"].isna()]]).groupby("site").size()
        if len(at)
        else pd.Series(dtype=float)
    )
    held = pd.DataFrame(
        {
            "site": site[is_session],
            "session": session[is_session],
            "head": head[is_session],
            "known": known[is_session],
        }
    )
    keys = list(zip(held["site"], held["session"], strict=True))
    held["logged"] = [
        float(logged.get(key, 0)) if ok else np.nan
        for key, ok in zip(keys, held["known"], strict=True)
    ]
    # where no head count was recorded the room is at least the participants logged at it
    room = np.where(np.isnan(held["head"]), held["logged"], np.fmax(held["head"], held["logged"]))
    held["room"] = room
    # a session with neither a head count nor an id: the site's attendances not matched to a
    # session with an id, spread evenly over such sessions
    blind = held["room"].isna()
    if blind.any():
        matched_at_site = held.groupby("site")["logged"].sum()
        blind_at_site = blind.groupby(held["site"]).sum()
        spare = (trial_at_site.reindex(blind_at_site.index).fillna(0) - matched_at_site).clip(
            lower=0
        )
        held.loc[blind, "room"] = (held.loc[blind, "site"].map(spare / blind_at_site)).to_numpy()
    room_at_site = held.groupby("site")["room"].sum()
    trial = trial_at_site.reindex(room_at_site.index).fillna(0.0)
    room_at_site = np.fmax(room_at_site, trial)
    site_share = (trial / room_at_site).where(room_at_site > 0, 1.0)
    # every event at a site that held sessions starts at the site's share
    in_site = pd.Series(site).map(site_share).to_numpy(float)
    values = np.where(np.isnan(in_site), 1.0, in_site)
    # events of a session with a room take the session's share
    with_room = held[held["known"] & (held["room"] > 0)]
    session_share = dict(
        zip(
            zip(with_room["site"], with_room["session"], strict=True),
            (with_room["logged"] / with_room["room"]).to_numpy(float),
            strict=True,
        )
    )
    if session_share:
        of_session = np.array(
            [
                session_share.get((s, r), np.nan) if ok else np.nan
                for s, r, ok in zip(site, session, known, strict=True)
            ],
            dtype=float,
        )
        values = np.where(np.isnan(of_session), values, of_session)
    values[is_attendance] = 1.0
    share[:] = values
    return share


# ---------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CostFigure:
    """An amount in GBP, undiscounted and discounted (NaN where undefined)."""

    undiscounted: float
    discounted: float

    def to_dict(self) -> dict:
        """JSON-safe dict; NaN becomes None."""
        return {
            "undiscounted": _json_float(self.undiscounted),
            "discounted": _json_float(self.discounted),
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


def _check_ledger(ledger: pd.DataFrame) -> None:
    if not isinstance(ledger, pd.DataFrame):
        raise ValueError(
            f"'ledger' must be the DataFrame build_ledger returns. Got {type(ledger).__name__} instead."
        )
    missing = [c for c in ("category", "kind", "cost", "cost_discounted") if c not in ledger]
    if missing:
        raise ValueError(
            f"The ledger needs the columns {', '.join(missing)} (as build_ledger returns). "
            f"Got columns {', '.join(map(str, ledger.columns))} instead."
        )


def _figure(rows: pd.DataFrame) -> CostFigure:
    return CostFigure(float(rows["cost"].sum()), float(rows["cost_discounted"].sum()))


def _figures_by(ledger: pd.DataFrame, column: str | list[str], levels: Sequence = ()) -> dict:
    keys = ledger[column]
    if isinstance(column, list):
        keys = keys.astype(str).agg("/".join, axis=1)
    keys = keys.map(
        lambda v: _UNASSIGNED if v is None or (isinstance(v, float) and math.isnan(v)) else v
    )
    found = {level: _figure(ledger[keys == level]) for level in levels}
    for level in sorted(set(keys) - set(found), key=str):
        found[level] = _figure(ledger[keys == level])
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
    _check_ledger(ledger)
    both = [f"{c}/{k}" for c in COST_CATEGORIES for k in COST_KINDS]
    with_key = ledger.assign(
        _both=ledger["category"].astype(str) + "/" + ledger["kind"].astype(str)
    )
    return LedgerSummary(
        total=_figure(ledger),
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


# ---------------------------------------------------------------------------
# Cost per participant
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CostSummary:
    """Costs per participant (randomised, took up, completed) and per Round.

    Every figure is a :class:`CostBreakdown` (total, direct, staff time), each
    undiscounted beside discounted.  ``total``, ``setup`` and ``running`` are
    the whole cost of delivery; ``participants`` is the trial participants'
    share of it (the same unless sessions were open to others), which the
    per-participant figures divide.  ``per_round`` and
    ``per_attendee_per_round`` use the whole running cost (set-up such as
    training excluded, as in the CASCADE table), everyone's staff time
    included, and are None unless Rounds were counted.  Figures with a zero
    denominator are NaN (None in JSON).
    """

    total: CostBreakdown
    setup: CostBreakdown
    running: CostBreakdown
    participants: CostBreakdown
    per_randomised: CostBreakdown
    per_taker: CostBreakdown
    per_completer: CostBreakdown
    per_round: CostBreakdown | None
    per_attendee_per_round: CostBreakdown | None
    n_randomised_intervention: int
    n_took_up: int
    n_completed: int
    n_rounds: int | None
    attendances: float | None
    delivery_years: float
    per_participant_per_year: float
    eef_band: str
    currency_years: tuple[int, ...]

    def to_dict(self) -> dict:
        """JSON-safe dict of every figure and denominator."""
        optional = {
            "per_round": self.per_round,
            "per_attendee_per_round": self.per_attendee_per_round,
        }
        return {
            "total": self.total.to_dict(),
            "setup": self.setup.to_dict(),
            "running": self.running.to_dict(),
            "participants": self.participants.to_dict(),
            "per_randomised": self.per_randomised.to_dict(),
            "per_taker": self.per_taker.to_dict(),
            "per_completer": self.per_completer.to_dict(),
            **{k: None if v is None else v.to_dict() for k, v in optional.items()},
            "n_randomised_intervention": int(self.n_randomised_intervention),
            "n_took_up": int(self.n_took_up),
            "n_completed": int(self.n_completed),
            "n_rounds": None if self.n_rounds is None else int(self.n_rounds),
            "attendances": _json_float(self.attendances),
            "delivery_years": float(self.delivery_years),
            "per_participant_per_year": _json_float(self.per_participant_per_year),
            "eef_band": self.eef_band,
            "currency_years": [int(y) for y in self.currency_years],
        }


def _breakdown(ledger: pd.DataFrame) -> CostBreakdown:
    return CostBreakdown(
        total=_figure(ledger),
        direct=_figure(ledger[ledger["kind"] == "direct"]),
        staff_time=_figure(ledger[ledger["kind"] == "staff_time"]),
    )


def _divide(breakdown: CostBreakdown, denominator: float) -> CostBreakdown:
    def per(figure: CostFigure) -> CostFigure:
        if denominator == 0:
            return CostFigure(math.nan, math.nan)
        return CostFigure(figure.undiscounted / denominator, figure.discounted / denominator)

    return CostBreakdown(per(breakdown.total), per(breakdown.direct), per(breakdown.staff_time))


def _check_count(value: object, name: str, *, minimum: int = 0, whole: bool = True) -> None:
    ok = _is_number(value) and math.isfinite(value) and value >= minimum
    if whole:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"'{name}' must be {kind} at least {minimum}. Got {value!r} instead.")


def cost_per_participant(
    ledger: pd.DataFrame,
    *,
    n_randomised_intervention: int,
    n_took_up: int,
    n_completed: int,
    n_rounds: int | None = None,
    attendances: float | None = None,
    delivery_years: float = 1.0,
    participants_ledger: pd.DataFrame | None = None,
) -> CostSummary:
    """Cost per participant randomised, per taker and per completer; per Round.

    Parameters
    ----------
    ledger : DataFrame
        As :func:`build_ledger` returns, for the intervention arm.
    n_randomised_intervention : int
        Participants randomised to the intervention (at least 1).
    n_took_up, n_completed : int
        Of those, how many took it up and how many completed it
        (``n_completed <= n_took_up <= n_randomised_intervention``).
    n_rounds : int, optional
        Rounds (sessions) held, for Schwartz Rounds.
    attendances : float, optional
        Person-attendances over all those Rounds: ``n_rounds`` times the
        mean attendance per Round.  Needs ``n_rounds``.
    delivery_years : float
        Years the costs were spent over, for the EEF band per year.
    participants_ledger : DataFrame, optional
        The trial participants' share of ``ledger`` (:func:`build_ledger`
        with ``share_column`` from :func:`head_count_shares`), when sessions
        are open to people outside the trial.  The per-participant figures
        divide it; by default they divide ``ledger``.

    Returns
    -------
    CostSummary

    Notes
    -----
    With :math:`C` the participants' total cost (``participants_ledger``, or
    ``ledger``), the figures are :math:`C/n_r`, :math:`C/n_t` and
    :math:`C/n_c`.  A session open to others costs the participants only
    their share of its head count (staff time: only their own), so people
    outside the trial do not raise the cost per participant.  With :math:`C_{run}` the running cost
    (set-up excluded), :math:`R` Rounds and :math:`A` attendances, the cost
    per Round is :math:`C_{run}/R` and per attendee per Round
    :math:`C_{run}/A = (C_{run}/R) / (A/R)`: the cost of a Round divided by
    its mean attendance.

    The EEF band is that of :math:`C/(n_r Y)`, the undiscounted cost per
    participant randomised per year of delivery :math:`Y`: EEF's cost
    ratings compare the money a setting pays, not its present value.
    """
    _check_ledger(ledger)
    _check_count(n_randomised_intervention, "n_randomised_intervention", minimum=1)
    _check_count(n_took_up, "n_took_up")
    _check_count(n_completed, "n_completed")
    if not n_completed <= n_took_up <= n_randomised_intervention:
        raise ValueError(
            "The counts must satisfy n_completed <= n_took_up <= n_randomised_intervention. "
            f"Got {n_completed}, {n_took_up} and {n_randomised_intervention} instead."
        )
    if n_rounds is not None:
        _check_count(n_rounds, "n_rounds")
    if attendances is not None:
        if n_rounds is None:
            raise ValueError(
                f"'attendances' needs 'n_rounds'. Got attendances {attendances!r} and no n_rounds."
            )
        _check_count(attendances, "attendances", whole=False)
    if not _is_number(delivery_years) or not 0 < delivery_years < math.inf:
        raise ValueError(
            f"'delivery_years' must be a number above 0. Got {delivery_years!r} instead."
        )
    total = _breakdown(ledger)
    running = _breakdown(ledger[ledger["category"] == "running"])
    if participants_ledger is None:
        participants = total
    else:
        _check_ledger(participants_ledger)
        participants = _breakdown(participants_ledger)
    per_randomised = _divide(participants, n_randomised_intervention)
    per_year = per_randomised.total.undiscounted / delivery_years
    return CostSummary(
        total=total,
        setup=_breakdown(ledger[ledger["category"] == "setup"]),
        running=running,
        participants=participants,
        per_randomised=per_randomised,
        per_taker=_divide(participants, n_took_up),
        per_completer=_divide(participants, n_completed),
        per_round=None if n_rounds is None else _divide(running, n_rounds),
        per_attendee_per_round=None if attendances is None else _divide(running, attendances),
        n_randomised_intervention=int(n_randomised_intervention),
        n_took_up=int(n_took_up),
        n_completed=int(n_completed),
        n_rounds=None if n_rounds is None else int(n_rounds),
        attendances=None if attendances is None else float(attendances),
        delivery_years=float(delivery_years),
        per_participant_per_year=per_year,
        eef_band=eef_cost_band(per_year),
        currency_years=tuple(sorted({int(y) for y in ledger["currency_year"]}))
        if "currency_year" in ledger
        else (),
    )


def eef_cost_band(cost_per_participant_per_year: float) -> str:
    """The EEF cost rating of a cost per participant per year (GBP).

    Parameters
    ----------
    cost_per_participant_per_year : float
        At least 0.

    Returns
    -------
    str
        ``"very low"`` (under £80), ``"low"`` (£80 to £200), ``"moderate"``
        (up to £720), ``"high"`` (up to £1,200) or ``"very high"`` (over
        £1,200); see :data:`EEF_COST_BANDS`.
    """
    value = cost_per_participant_per_year
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"The cost per participant per year must be a finite number at least 0. Got {value!r} instead."
        )
    for band, upper, inclusive in EEF_COST_BANDS:
        if value < upper or (inclusive and value == upper):
            return band
    raise AssertionError("unreachable: the last band is unbounded")


# ---------------------------------------------------------------------------
# Cost-effectiveness: the bootstrap
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BootstrapResult:
    """Incremental cost and effect per participant, the ICER, and their uncertainty.

    Effects are *gains*: the intervention-minus-control difference in mean
    outcome when higher is better, its negative otherwise (so for turnover
    the effect is cases avoided per participant).  ``icer_ci_low`` and
    ``icer_ci_high`` are NaN when the effect's CI includes zero
    (``icer_ci_note`` says why) and ±inf when a bound is unbounded.
    ``replicate_costs`` and ``replicate_effects`` hold every replicate
    (not serialised); ``plane`` is the first ``len(plane)`` of them, a
    random subsample since replicates are independent.
    """

    outcome_label: str
    effect_unit: str
    higher_is_better: bool
    n_boot: int
    ci_level: float
    n_per_arm: dict[str, int]
    n_clusters_per_arm: dict[str, int] | None
    incremental_cost: float
    incremental_cost_ci: tuple[float, float]
    incremental_cost_se: float
    incremental_effect: float
    incremental_effect_ci: tuple[float, float]
    incremental_effect_se: float
    icer: float
    icer_ci_low: float
    icer_ci_high: float
    icer_ci_note: str
    quadrant_shares: dict[str, float]
    verdict: str
    sentence: str
    plane: tuple[tuple[float, float], ...]
    ceac: tuple[tuple[float, float], ...]
    replicate_costs: np.ndarray = field(repr=False, compare=False)
    replicate_effects: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict:
        """JSON-safe dict; plane points as {effect, cost}, the CEAC as {wtp, probability}."""
        defined = not math.isnan(self.icer_ci_low)
        return {
            "outcome_label": self.outcome_label,
            "effect_unit": self.effect_unit,
            "higher_is_better": bool(self.higher_is_better),
            "n_boot": int(self.n_boot),
            "ci_level": float(self.ci_level),
            "n_per_arm": {k: int(v) for k, v in self.n_per_arm.items()},
            "n_clusters_per_arm": None
            if self.n_clusters_per_arm is None
            else {k: int(v) for k, v in self.n_clusters_per_arm.items()},
            "point": {
                "cost": _json_float(self.incremental_cost),
                "effect": _json_float(self.incremental_effect),
            },
            "incremental_cost": {
                "estimate": _json_float(self.incremental_cost),
                "se": _json_float(self.incremental_cost_se),
                "ci_low": _json_float(self.incremental_cost_ci[0]),
                "ci_high": _json_float(self.incremental_cost_ci[1]),
            },
            "incremental_effect": {
                "estimate": _json_float(self.incremental_effect),
                "se": _json_float(self.incremental_effect_se),
                "ci_low": _json_float(self.incremental_effect_ci[0]),
                "ci_high": _json_float(self.incremental_effect_ci[1]),
            },
            "icer": {
                "estimate": _json_float(self.icer),
                "ci_low": _json_float(self.icer_ci_low),
                "ci_high": _json_float(self.icer_ci_high),
                "ci_defined": bool(defined),
                "ci_low_unbounded": self.icer_ci_low == -math.inf,
                "ci_high_unbounded": self.icer_ci_high == math.inf,
                "note": self.icer_ci_note,
            },
            "quadrant_shares": {k: float(v) for k, v in self.quadrant_shares.items()},
            "verdict": self.verdict,
            "sentence": self.sentence,
            "plane": [{"effect": float(e), "cost": float(c)} for e, c in self.plane],
            "ceac": [{"wtp": float(w), "probability": float(p)} for w, p in self.ceac],
        }


def _arm_groups(
    arm: np.ndarray, clusters: np.ndarray | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per arm (control, then intervention): each row's resampling unit, and the units' rows.

    Units are participants in input order, or clusters in sorted label order.
    """
    groups = []
    for value in (False, True):
        rows = np.flatnonzero(arm == value)
        if clusters is None:
            unit_of_row = np.arange(len(rows))
        else:
            _, unit_of_row = np.unique(clusters[rows], return_inverse=True)
        groups.append((rows, unit_of_row))
    return groups


def _unit_sums(
    rows: np.ndarray, unit_of_row: np.ndarray, costs: np.ndarray, effects: np.ndarray
) -> np.ndarray:
    """Per resampling unit: the sum of costs, the sum of effects, and the number of participants."""
    n_units = int(unit_of_row.max()) + 1
    return np.column_stack(
        [
            np.bincount(unit_of_row, weights=costs[rows], minlength=n_units),
            np.bincount(unit_of_row, weights=effects[rows], minlength=n_units),
            np.bincount(unit_of_row, minlength=n_units).astype(float),
        ]
    )


def _replicate_means(
    sums: list[np.ndarray], n_boot: int, chunk_size: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_boot, 2 arms, 2) replicate means of (cost, effect) per arm.

    Each chunk draws, for the control arm and then the intervention arm, an
    index matrix ``rng.integers(0, G, size=(chunk, G))`` of resampled units;
    ``np.bincount`` turns it into counts, and one matrix product gives every
    replicate's sums of costs, effects and participants.
    """
    out = np.empty((n_boot, 2, 2))
    for start in range(0, n_boot, chunk_size):
        size = min(chunk_size, n_boot - start)
        for a, unit_sums in enumerate(sums):
            n_units = len(unit_sums)
            draws = rng.integers(0, n_units, size=(size, n_units))
            draws += (np.arange(size) * n_units)[:, None]
            counts = np.bincount(draws.ravel(), minlength=size * n_units).reshape(size, n_units)
            totals = counts @ unit_sums
            out[start : start + size, a, :] = totals[:, :2] / totals[:, 2:3]
    return out


def _quantiles(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def _icer_interval(
    delta_c: np.ndarray, delta_e: np.ndarray, level: float, side: float
) -> tuple[float, float]:
    """Percentile interval of the ICER, ordering replicates by angle on the plane.

    ``side`` (+1 or -1) is the sign of the effect the CI is on.  The angle
    of :math:`(s\\Delta e, s\\Delta c)` runs from :math:`-\\pi` to
    :math:`\\pi`, cut on the far side of zero effect, and
    :math:`\\tan` of it is the ICER.  The bounds interpolate linearly
    between the ICERs of adjacent order statistics (NumPy's default), so
    when every replicate has an effect of the same sign this is exactly
    the percentile interval of the ratios.  A bound whose order statistic
    lies beyond zero effect is unbounded (±inf).
    """
    angle = np.sort(np.arctan2(side * delta_c, side * delta_e))
    tail = (1 - level) / 2
    bounds = []
    for q, infinite in ((tail, -math.inf), (1 - tail, math.inf)):
        position = (len(angle) - 1) * q
        lo, hi = math.floor(position), math.ceil(position)
        ends = angle[[lo, hi]]
        if (np.abs(ends) >= math.pi / 2).any():
            bounds.append(infinite)
            continue
        ratios = np.tan(ends)
        bounds.append(float(ratios[0] + (position - lo) * (ratios[1] - ratios[0])))
    return bounds[0], bounds[1]


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten at or above ``value``."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _default_wtp(
    delta_c: np.ndarray, delta_e: np.ndarray, point_c: float, point_e: float
) -> np.ndarray:
    cost_scale = abs(point_c) + 2 * float(np.std(delta_c))
    effect_scale = max(abs(point_e), float(np.std(delta_e)))
    if cost_scale == 0 or effect_scale == 0:
        return np.linspace(0.0, 1000.0, 101)
    return np.linspace(0.0, _nice_ceiling(3 * cost_scale / effect_scale), 101)


def _money(value: float) -> str:
    return f"£{abs(value):,.2f}"


def _amount(value: float) -> str:
    return f"{abs(value):,.3g}" if abs(value) < 1 else f"{abs(value):,.2f}"


def _verdict(
    delta_c: float,
    delta_e: float,
    *,
    outcome_label: str,
    effect_unit: str,
    higher_is_better: bool,
) -> tuple[str, str]:
    better, worse = ("improves", "worsens") if higher_is_better else ("reduces", "increases")
    gained, lost = ("gained", "lost") if higher_is_better else ("avoided", "added")
    units = effect_unit if _amount(delta_e) in ("1", "1.00") else f"{effect_unit}s"
    cost_words = (
        "costs the same per participant"
        if delta_c == 0
        else f"costs {_money(delta_c)} {'more' if delta_c > 0 else 'less'} per participant"
    )
    if delta_e == 0:
        return (
            "no difference",
            f"The intervention {cost_words} and does not change {outcome_label}.",
        )
    effect_words = (
        f"{better if delta_e > 0 else worse} {outcome_label} by {_amount(delta_e)} {units}"
    )
    ratio = _money(delta_c / delta_e)
    if delta_c <= 0 < delta_e:
        return "dominant", f"The intervention is dominant: it {cost_words} and {effect_words}."
    if delta_e < 0 <= delta_c:
        return "dominated", f"The intervention is dominated: it {cost_words} and {effect_words}."
    if delta_e > 0:
        return "trade-off", (
            f"The intervention {cost_words} and {effect_words}: {ratio} per {effect_unit} {gained}."
        )
    return "trade-off", (
        f"The intervention {cost_words} and {effect_words}: {ratio} saved per {effect_unit} {lost}."
    )


def bootstrap_cost_effect(
    costs: Sequence[float] | np.ndarray,
    effects: Sequence[float] | np.ndarray,
    arm: Sequence | np.ndarray,
    *,
    rng: np.random.Generator,
    clusters: Sequence | np.ndarray | None = None,
    n_boot: int = 5000,
    higher_is_better: bool = True,
    ci_level: float = 0.95,
    wtp: Sequence[float] | np.ndarray | None = None,
    n_plane_points: int = 1000,
    outcome_label: str = "the outcome",
    effect_unit: str = "point",
    chunk_size: int | None = None,
) -> BootstrapResult:
    """Non-parametric bootstrap of participant-level (cost, effect) pairs.

    Parameters
    ----------
    costs, effects : array-like of float
        Each participant's cost and outcome (no missing values).
    arm : array-like of bool or 0/1
        1 (True) for the intervention arm, 0 for control.
    rng : numpy.random.Generator
    clusters : array-like, optional
        Each participant's cluster, for cluster trials: whole clusters are
        resampled within their arm.  Each cluster must lie in one arm.
    n_boot : int
        Replicates (at least 100).
    higher_is_better : bool
        False for outcomes such as turnover: the effect is then the
        reduction (cases avoided per participant).
    ci_level : float
        Of every percentile interval.
    wtp : array-like of float, optional
        Willingness-to-pay values (GBP per unit of effect) for the CEAC; by
        default 101 values from 0 to a round number near three times the
        cost scale over the effect scale.
    n_plane_points : int
        How many replicate pairs the plane data keeps.
    outcome_label, effect_unit : str
        Words for the verdict, e.g. ``"SWEMWBS"`` and ``"point"`` or
        ``"turnover"`` and ``"case"`` (pluralised with an s).
    chunk_size : int, optional
        Replicates drawn at once; by default as many as keep each index
        matrix near 4 million entries.

    Returns
    -------
    BootstrapResult

    Notes
    -----
    With :math:`\\bar c_a, \\bar e_a` the mean cost and outcome in arm
    :math:`a`, the increments are :math:`\\Delta c = \\bar c_1 - \\bar c_0`
    and :math:`\\Delta e = s(\\bar e_1 - \\bar e_0)`, :math:`s = \\pm 1` by
    ``higher_is_better``, and the ICER is :math:`\\Delta c / \\Delta e`.

    Each replicate resamples, within each arm separately (a stratified
    bootstrap, so arm sizes are kept), the arm's :math:`G_a` units with
    replacement: participants, or whole clusters.  With :math:`k_{bg}` the
    number of times unit :math:`g` is drawn in replicate :math:`b` and
    :math:`S_g` its sums of costs, effects and participants, the replicate
    means are ratios of :math:`K S` (a matrix product); for clusters this
    is the mean over every participant of the resampled clusters.  Draws
    are made in chunks: per chunk, control then intervention, the index
    matrix ``rng.integers(0, G_a, size=(chunk, G_a))``, with units in
    input order (participants) or sorted label order (clusters).

    CIs are percentile intervals.  The ICER's is reported only when the
    effect's CI excludes zero: otherwise replicates of the ratio change
    sign through infinity and no interval is meaningful.  It orders the
    replicates by their angle on the cost-effectiveness plane, which is
    the order of their ICERs when all effects share a sign, and stays
    coherent when a few replicates cross zero effect.

    The CEAC at willingness to pay :math:`\\lambda` is the share of
    replicates with net monetary benefit :math:`\\lambda \\Delta e -
    \\Delta c > 0`.  The verdict uses the point estimates: dominant
    (:math:`\\Delta c \\le 0 < \\Delta e`), dominated
    (:math:`\\Delta e < 0 \\le \\Delta c`), no difference when
    :math:`\\Delta e = 0`, otherwise a trade-off.
    """
    c = np.asarray(costs, dtype=float)
    e = np.asarray(effects, dtype=float)
    a = np.asarray(arm)
    if c.ndim != 1 or e.shape != c.shape or a.shape != c.shape:
        raise ValueError(
            "'costs', 'effects' and 'arm' must be 1-D and the same length. "
            f"Got lengths {c.shape}, {e.shape} and {a.shape} instead."
        )
    for name, values in (("costs", c), ("effects", e)):
        if not np.isfinite(values).all():
            raise ValueError(
                f"'{name}' must have no missing or infinite values (drop incomplete participants first). "
                f"Got {int((~np.isfinite(values)).sum())} instead."
            )
    if a.dtype != bool:
        if not np.isin(a, (0, 1)).all():
            raise ValueError(
                f"'arm' must be 0/1 or bool (1 = intervention). Got values {sorted(set(a.tolist()))[:5]} instead."
            )
        a = a.astype(int) == 1
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ValueError(f"'n_boot' must be a whole number at least 100. Got {n_boot!r} instead.")
    if n_boot > MAX_BOOTSTRAP_REPLICATES:
        raise ValueError(
            f"'n_boot' must be at most {MAX_BOOTSTRAP_REPLICATES}. Got {n_boot!r} instead."
        )
    if not _is_number(ci_level) or not 0 < ci_level < 1:
        raise ValueError(
            f"'ci_level' must be between 0 and 1, such as 0.95. Got {ci_level!r} instead."
        )
    if not isinstance(n_plane_points, (int, np.integer)) or n_plane_points < 1:
        raise ValueError(
            f"'n_plane_points' must be a whole number at least 1. Got {n_plane_points!r} instead."
        )
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"'rng' must be a numpy.random.Generator. Got {type(rng).__name__} instead."
        )
    g = None
    if clusters is not None:
        g = np.asarray(clusters)
        if g.shape != c.shape:
            raise ValueError(
                f"'clusters' must have one label per participant ({len(c)}). Got {len(g)} instead."
            )
        if pd.isna(g).any():
            raise ValueError(
                f"'clusters' must have no missing labels. Got {int(pd.isna(g).sum())} instead."
            )
        g = g.astype(str)
        straddling = sorted(set(g[a]) & set(g[~a]))
        if straddling:
            raise ValueError(
                "Each cluster must lie in one arm for a cluster bootstrap. "
                f"Got clusters in both arms: {', '.join(straddling[:5])}."
            )
    groups = _arm_groups(a, g)
    names = ("control", "intervention")
    minimum = 2
    for name, (rows, unit_of_row) in zip(names, groups, strict=True):
        n_units = 0 if len(rows) == 0 else int(unit_of_row.max()) + 1
        if n_units < minimum:
            what = "clusters" if g is not None else "participants"
            raise ValueError(
                f"The {name} arm needs at least {minimum} {what} to bootstrap. Got {n_units} instead."
            )
    sums = [_unit_sums(rows, unit_of_row, c, e) for rows, unit_of_row in groups]
    largest = max(len(s) for s in sums)
    if chunk_size is None:
        chunk_size = max(1, min(n_boot, _CHUNK_ENTRIES // largest))
    elif not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(
            f"'chunk_size' must be a whole number at least 1. Got {chunk_size!r} instead."
        )

    sign = 1.0 if higher_is_better else -1.0
    means = _replicate_means(sums, int(n_boot), int(chunk_size), rng)
    delta_c = means[:, 1, 0] - means[:, 0, 0]
    delta_e = sign * (means[:, 1, 1] - means[:, 0, 1])
    point_c = float(c[a].mean() - c[~a].mean())
    point_e = float(sign * (e[a].mean() - e[~a].mean()))
    icer = point_c / point_e if point_e != 0 else math.nan

    effect_ci = _quantiles(delta_e, ci_level)
    if effect_ci[0] > 0 or effect_ci[1] < 0:
        side = 1.0 if effect_ci[0] > 0 else -1.0
        icer_low, icer_high = _icer_interval(delta_c, delta_e, ci_level, side)
        note = (
            f"Percentile {100 * ci_level:g}% interval of the bootstrap ICERs, ordered by angle on the plane"
            + (
                "; a bound is unbounded because replicates reach zero effect."
                if math.isinf(icer_low) or math.isinf(icer_high)
                else "."
            )
        )
    else:
        icer_low = icer_high = math.nan
        note = (
            f"Undefined: the {100 * ci_level:g}% CI of the effect ({effect_ci[0]:.3g} to {effect_ci[1]:.3g}) "
            "includes zero, so the ICER's replicates pass through infinity. See the plane and the CEAC."
        )

    grid = (
        _default_wtp(delta_c, delta_e, point_c, point_e) if wtp is None else np.asarray(wtp, float)
    )
    if grid.ndim != 1 or not len(grid) or not np.isfinite(grid).all():
        raise ValueError(
            f"'wtp' must be a non-empty 1-D array of finite values. Got {wtp!r} instead."
        )
    probability = ((grid[:, None] * delta_e[None, :] - delta_c[None, :]) > 0).mean(axis=1)

    quadrants = {
        "dearer_and_better": float(np.mean((delta_c > 0) & (delta_e > 0))),
        "cheaper_and_better": float(np.mean((delta_c <= 0) & (delta_e > 0))),
        "dearer_and_worse": float(np.mean((delta_c > 0) & (delta_e <= 0))),
        "cheaper_and_worse": float(np.mean((delta_c <= 0) & (delta_e <= 0))),
    }
    verdict, sentence = _verdict(
        point_c,
        point_e,
        outcome_label=outcome_label,
        effect_unit=effect_unit,
        higher_is_better=higher_is_better,
    )
    keep = min(int(n_plane_points), int(n_boot))
    delta_c.setflags(write=False)
    delta_e.setflags(write=False)
    return BootstrapResult(
        outcome_label=outcome_label,
        effect_unit=effect_unit,
        higher_is_better=bool(higher_is_better),
        n_boot=int(n_boot),
        ci_level=float(ci_level),
        n_per_arm={name: len(rows) for name, (rows, _) in zip(names, groups, strict=True)},
        n_clusters_per_arm=None
        if g is None
        else {name: len(s) for name, s in zip(names, sums, strict=True)},
        incremental_cost=point_c,
        incremental_cost_ci=_quantiles(delta_c, ci_level),
        incremental_cost_se=float(np.std(delta_c, ddof=1)),
        incremental_effect=point_e,
        incremental_effect_ci=effect_ci,
        incremental_effect_se=float(np.std(delta_e, ddof=1)),
        icer=icer,
        icer_ci_low=icer_low,
        icer_ci_high=icer_high,
        icer_ci_note=note,
        quadrant_shares=quadrants,
        verdict=verdict,
        sentence=sentence,
        plane=tuple(zip(delta_e[:keep].tolist(), delta_c[:keep].tolist(), strict=True)),
        ceac=tuple(zip(grid.tolist(), probability.tolist(), strict=True)),
        replicate_costs=delta_c,
        replicate_effects=delta_e,
    )


# ---------------------------------------------------------------------------
# One-way sensitivity
# ---------------------------------------------------------------------------
def one_way_sensitivity(
    events: pd.DataFrame,
    cost_model: CostModel,
    *,
    start_date: dt.date | str | pd.Timestamp,
    n_participants: int,
    vary: float = 0.25,
    hourly_bounds: Mapping[str, tuple[float, float]] | None = None,
    discount_rate: float | None = None,
    time_column: str | None = None,
    site_column: str = "site",
    organisation_column: str = "organisation",
    share_column: str | None = None,
) -> pd.DataFrame:
    """Tornado data: cost per participant as each unit cost moves alone.

    Parameters
    ----------
    events, cost_model, start_date, discount_rate, time_column, site_column, organisation_column
        As for :func:`build_ledger`.
    share_column : str, optional
        As for :func:`build_ledger`: the participants' share of each event, so
        the tornado moves the cost per participant the summary reports.
    n_participants : int
        The denominator, usually those randomised to the intervention.
    vary : float
        Each unit cost moves to (1 - vary) and (1 + vary) times its amount,
        unless it declares ``low``/``high`` bounds (staff hourly costs).
    hourly_bounds : mapping, optional
        Item name -> (low, high), replacing the declared bounds of that
        ``staff_time`` item.

    Returns
    -------
    DataFrame
        One row per item name (all its sites move together), sorted by the
        width of the range: parameter, kind, category, variation, then cost
        per participant at the base, low and high values and the range,
        discounted, and the same undiscounted (``*_undiscounted``).

    Notes
    -----
    Cost is linear in each unit amount, so moving item :math:`i` from
    :math:`a_{is}` to :math:`a'_{is}` at each site :math:`s` changes the
    total by :math:`\\sum_s (a'_{is} - a_{is}) Q_{is}`, where :math:`Q_{is}`
    is the item's (discounted) quantity at the site.  The ledger is built
    once.
    """
    _check_count(n_participants, "n_participants", minimum=1)
    if not _is_number(vary) or not 0 < vary < 1:
        raise ValueError(
            f"'vary' must be a fraction between 0 and 1, such as 0.25. Got {vary!r} instead."
        )
    if not isinstance(cost_model, CostModel):
        raise ValueError(
            f"'cost_model' must be a CostModel. Got {type(cost_model).__name__} instead."
        )
    bounds = dict(hourly_bounds or {})
    for name, pair in bounds.items():
        declared = [i for i in cost_model.items if i.name == name]
        if not declared:
            raise ValueError(
                f"'hourly_bounds' names the item '{name}', which the cost model does not declare. "
                f"Choose from: {', '.join(cost_model.names)}. Got '{name}' instead."
            )
        if declared[0].kind != "staff_time":
            raise ValueError(
                f"'hourly_bounds' is for staff_time items; '{name}' is of kind '{declared[0].kind}'. "
                f"Got '{name}' instead."
            )
        if (
            len(pair) != 2
            or not all(_is_number(v) and 0 <= v < math.inf for v in pair)
            or pair[0] > pair[1]
        ):
            raise ValueError(
                f"'hourly_bounds' for '{name}' must be (low, high) with 0 <= low <= high. Got {pair!r} instead."
            )
        for item in declared:
            if not pair[0] <= item.amount <= pair[1]:
                raise ValueError(
                    f"'hourly_bounds' for '{name}' must contain its amount {item.amount:g}. Got {pair!r} instead."
                )
    ledger = build_ledger(
        events,
        cost_model,
        start_date=start_date,
        discount_rate=discount_rate,
        time_column=time_column,
        site_column=site_column,
        organisation_column=organisation_column,
        share_column=share_column,
    )
    base = np.array([ledger["cost_discounted"].sum(), ledger["cost"].sum()], dtype=float)
    rows = []
    for name in cost_model.names:
        declared = [i for i in cost_model.items if i.name == name]
        lines = ledger[ledger["item"] == name]
        change_low = np.zeros(2)
        change_high = np.zeros(2)
        described = []
        for item in declared:
            if name in bounds:
                low, high = bounds[name]
                how = f"£{low:,.2f} to £{high:,.2f}"
            elif item.low is not None or item.high is not None:
                low = item.amount if item.low is None else item.low
                high = item.amount if item.high is None else item.high
                how = f"£{low:,.2f} to £{high:,.2f}"
            else:
                low, high = item.amount * (1 - vary), item.amount * (1 + vary)
                how = f"±{100 * vary:g}%"
            described.append(how)
            at = lines if item.site is None else lines[lines["site"] == item.site]
            quantities = np.array(
                [
                    (at["quantity"] * at["discount_factor"]).sum(),
                    at["quantity"].sum(),
                ],
                dtype=float,
            )
            change_low += (low - item.amount) * quantities
            change_high += (high - item.amount) * quantities
        distinct = list(dict.fromkeys(described))
        variation = distinct[0] if len(distinct) == 1 else "declared bounds by site"
        at_low = (base + change_low) / n_participants
        at_high = (base + change_high) / n_participants
        rows.append(
            {
                "parameter": name,
                "kind": declared[0].kind,
                "category": declared[0].category,
                "variation": variation,
                "base_per_participant": base[0] / n_participants,
                "low_per_participant": at_low[0],
                "high_per_participant": at_high[0],
                "range": at_high[0] - at_low[0],
                "base_per_participant_undiscounted": base[1] / n_participants,
                "low_per_participant_undiscounted": at_low[1],
                "high_per_participant_undiscounted": at_high[1],
                "range_undiscounted": at_high[1] - at_low[1],
            }
        )
    table = pd.DataFrame(rows)
    return table.sort_values(
        ["range", "parameter"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
