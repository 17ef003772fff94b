"""How the cost per participant moves with each unit cost: tornado data.

Not :mod:`analysis.sections.missing_data`, which is the missing-data sensitivity analysis of the
outcomes: this varies the design's unit costs one at a time.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.costs import wording
from analysis.costs._checks import check_at_least
from analysis.costs.ledger import build_ledger
from common.validation import is_real_number
from trial_designs.cost_model import CostModel

__all__ = ["unit_cost_sensitivity"]


def unit_cost_sensitivity(
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
    check_at_least(n_participants, "n_participants", minimum=1)
    if not is_real_number(vary) or not 0 < vary < 1:
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
            or not all(is_real_number(v) and 0 <= v < math.inf for v in pair)
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
                how = wording.unit_cost_range(low, high)
            elif item.low is not None or item.high is not None:
                low = item.amount if item.low is None else item.low
                high = item.amount if item.high is None else item.high
                how = wording.unit_cost_range(low, high)
            else:
                low, high = item.amount * (1 - vary), item.amount * (1 + vary)
                how = wording.relative_variation(vary)
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
