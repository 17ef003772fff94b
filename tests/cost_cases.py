"""Cost cases the cost tests share: the seed's Schwartz Rounds table, a small ledger, a trial.

Used by tests/analysis/costs/ and tests/trial_designs/test_cost_model.py (tests/ is on the
path through its conftest).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trial_designs.cost_model import CostModel, cost_model_from_mapping

# The seed's Schwartz Rounds table (CASCADE, mean cost per LA, GBP): per component, per LA.
SCHWARTZ_SITES = ("LA1", "LA3", "LA4", "LA5", "LA6")
SCHWARTZ_SEED_UNIT_COSTS = {
    "training": ("training_held", "setup", (716, 673, 1123, 983, 1170)),
    "panel_meeting": ("panel_meeting_held", "running", (166, 253, 267, 289, 203)),
    "round": ("round_held", "running", (742, 678, 1446, 1000, 795)),
    "steering_group": ("steering_group_held", "running", (238, 515, 350, 461, 983)),
}
# The seed's published totals per Round, excluding the initial training.
SCHWARTZ_SEED_TOTALS_PER_ROUND = dict(
    zip(SCHWARTZ_SITES, (1146, 1446, 2063, 1750, 1981), strict=True)
)
SEED_COST_PER_ATTENDEE_PER_ROUND = 20
START = "2020-01-15"


def schwartz_mapping(extra_items: tuple[dict, ...] = ()) -> dict:
    items = [
        {
            "name": name,
            "event_type": event_type,
            "unit": "per_" + event_type.removesuffix("_held"),
            "category": category,
            "kind": "direct",
            "amount": dict(zip(SCHWARTZ_SITES, amounts, strict=True)),
        }
        for name, (event_type, category, amounts) in SCHWARTZ_SEED_UNIT_COSTS.items()
    ]
    return {
        "currency": "GBP",
        "currency_year": 2020,
        "source": "CASCADE evaluation (seed), mean cost per LA",
        "items": items + list(extra_items),
    }


def schwartz_events(rounds_per_site: dict[str, int], attendees: dict[str, float]) -> pd.DataFrame:
    rows = []
    for site, n_rounds in rounds_per_site.items():
        base = {"unit_id": site, "site": site, "organisation": site}
        rows.append({**base, "event_type": "training_held", "occurred_at": "2020-01-10"})
        for r in range(n_rounds):
            day = pd.Timestamp("2020-02-03") + pd.Timedelta(days=30 * r)
            rows.append(
                {
                    **base,
                    "event_type": "panel_meeting_held",
                    "occurred_at": day - pd.Timedelta(days=7),
                }
            )
            rows.append(
                {
                    **base,
                    "event_type": "round_held",
                    "occurred_at": day,
                    "attendees": attendees[site],
                    "hours": 1.0,
                }
            )
            rows.append(
                {
                    **base,
                    "event_type": "steering_group_held",
                    "occurred_at": day + pd.Timedelta(days=5),
                }
            )
    return pd.DataFrame(rows)


def simple_model(rate: float = 0.035) -> CostModel:
    return cost_model_from_mapping(
        {
            "currency_year": 2021,
            "source": "test",
            "discount_rate": rate,
            "items": [
                {"name": "machine", "event_type": "machine_installed", "quantity_from": "quantity",
                 "unit": "per_machine", "category": "setup", "kind": "direct", "amount": 400},
                {"name": "supplies", "event_type": "supplies_restocked", "quantity_from": "quantity",
                 "unit": "per_restock", "category": "running", "kind": "direct", "amount": 55.5},
                {"name": "manager_time", "event_type": "letter_sent", "multiplier": 0.25,
                 "unit": "per_hour", "category": "running", "kind": "staff_time", "amount": 36,
                 "low": 30, "high": 45},
            ],
        }
    )  # fmt: skip


def simple_events() -> pd.DataFrame:
    # start 2020-03-01: the year turns on each 1 March
    rows = [
        ("B1", "Kent", "machine_installed", "2020-02-20", 1),  # before the start: year 0
        ("B2", "Kent", "machine_installed", "2020-03-05", 2),  # year 0
        ("B1", "Kent", "supplies_restocked", "2021-02-28", 1),  # day before the anniversary: year 0
        ("B1", "Kent", "supplies_restocked", "2021-03-01", 3),  # year 1
        ("B2", "Kent", "supplies_restocked", "2023-06-01", 2),  # year 3
        ("P1", "Dudley", "letter_sent", "2022-03-01", np.nan),  # year 2
        ("P2", None, "letter_sent", "2020-04-01", np.nan),  # year 0, no organisation
        ("P3", "Dudley", "invited", "2020-04-01", np.nan),  # not costed
    ]
    frame = pd.DataFrame(
        rows, columns=["unit_id", "organisation", "event_type", "occurred_at", "quantity"]
    )
    return frame.assign(site=frame["unit_id"].where(frame["unit_id"].str.startswith("B")))


def two_arm_trial(rng, n=80, effect=0.8, cost=30.0):
    arm = np.arange(n) % 2 == 1
    rng.shuffle(arm)
    costs = np.where(arm, rng.gamma(2.0, cost / 2, n), rng.gamma(1.0, 2.0, n))
    effects = rng.normal(21, 3.5, n) + effect * arm
    return costs, effects, arm
