"""The cost ledger: the delivery log costed with the design's unit costs, and discounted.

:func:`build_ledger` gives one line per item, site, organisation and year.  The cost model
itself (what a design declares) is :mod:`trial_designs.cost_model`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from analysis.costs._checks import text_label
from trial_designs.cost_model import CostModel, UnitCost, check_discount_rate

__all__ = ["LEDGER_COLUMNS", "build_ledger"]

_EVENT_FIELDS = {"quantity": ("quantity",), "hours": ("hours",), "attendees": ("attendees",)}
_EVENT_FIELDS["attendee_hours"] = ("attendees", "hours")
_TIME_COLUMNS = ("occurred_at", "timestamp")
#: The columns of a ledger, in order.
LEDGER_COLUMNS = (
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
        frame[column] = frame[column].map(text_label)
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
    return pd.DataFrame({column: pd.Series(dtype=object) for column in LEDGER_COLUMNS})


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
    return lines[list(LEDGER_COLUMNS)]


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
    check_discount_rate(rate, "The 'discount_rate'")
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
