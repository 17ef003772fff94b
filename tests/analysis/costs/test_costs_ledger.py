"""analysis.costs.ledger: the seed's Schwartz table, discounting, quantities, site labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cost_cases import (
    SCHWARTZ_SEED_TOTALS_PER_ROUND,
    SCHWARTZ_SEED_UNIT_COSTS,
    SCHWARTZ_SITES,
    SEED_COST_PER_ATTENDEE_PER_ROUND,
    START,
    schwartz_events,
    schwartz_mapping,
    simple_events,
    simple_model,
)

from analysis.costs import (
    build_ledger,
    cost_per_participant,
    summarise_ledger,
)
from trial_designs.cost_model import cost_model_from_mapping


# ---------------------------------------------------------------------------
# The seed's Schwartz table
# ---------------------------------------------------------------------------
def test_schwartz_seed_table_is_reproduced_per_site_and_at_20_pounds_per_attendee():
    rounds = dict(zip(SCHWARTZ_SITES, (3, 4, 5, 6, 4), strict=True))
    # The seed gives the cost per attendee per Round (£20), not the attendance; the
    # attendance that implies it is the site's cost per Round divided by £20, e.g.
    # LA1's 1146 / 20 = 57.3 people per Round on average.
    implied = {
        s: t / SEED_COST_PER_ATTENDEE_PER_ROUND for s, t in SCHWARTZ_SEED_TOTALS_PER_ROUND.items()
    }
    model = cost_model_from_mapping(schwartz_mapping())
    ledger = build_ledger(schwartz_events(rounds, implied), model, start_date=START)
    for k, site in enumerate(SCHWARTZ_SITES):
        by_hand = sum(
            SCHWARTZ_SEED_UNIT_COSTS[c][2][k] for c in ("panel_meeting", "round", "steering_group")
        )
        assert by_hand == SCHWARTZ_SEED_TOTALS_PER_ROUND[site]
        at_site = ledger[ledger["site"] == site]
        # attendance comes from the Rounds logged: the sum of 'attendees' on round_held events
        attendances = float(implied[site] * rounds[site])
        summary = cost_per_participant(
            at_site,
            n_randomised_intervention=80,
            n_took_up=60,
            n_completed=20,
            n_rounds=rounds[site],
            attendances=attendances,
        )
        assert summary.per_round.total.undiscounted == SCHWARTZ_SEED_TOTALS_PER_ROUND[site]
        assert summary.per_round.total.discounted == SCHWARTZ_SEED_TOTALS_PER_ROUND[site]
        assert summary.per_round.direct.undiscounted == SCHWARTZ_SEED_TOTALS_PER_ROUND[site]
        assert summary.setup.total.undiscounted == SCHWARTZ_SEED_UNIT_COSTS["training"][2][k]
        assert summary.per_attendee_per_round.total.undiscounted == pytest.approx(20, rel=1e-12)
    # pooled over the five LAs, at each LA's implied attendance, it is still £20
    total_rounds = sum(rounds.values())
    pooled = cost_per_participant(
        ledger,
        n_randomised_intervention=400,
        n_took_up=300,
        n_completed=100,
        n_rounds=total_rounds,
        attendances=sum(implied[s] * rounds[s] for s in SCHWARTZ_SITES),
    )
    assert pooled.per_attendee_per_round.direct.undiscounted == pytest.approx(20, rel=1e-12)


def test_attendees_staff_time_is_costed_beside_the_seed_direct_costs():
    hourly = 31.0
    attendee_time = {
        "name": "attendee_time",
        "event_type": "round_held",
        "quantity_from": "attendee_hours",
        "unit": "per_hour",
        "category": "running",
        "kind": "staff_time",
        "amount": hourly,
        "low": 25,
        "high": 40,
    }
    model = cost_model_from_mapping(schwartz_mapping((attendee_time,)))
    events = schwartz_events({"LA4": 4}, {"LA4": 40})
    ledger = build_ledger(events, model, start_date=START)
    summary = cost_per_participant(
        ledger,
        n_randomised_intervention=100,
        n_took_up=70,
        n_completed=30,
        n_rounds=4,
        attendances=160,
    )
    assert summary.per_round.direct.undiscounted == SCHWARTZ_SEED_TOTALS_PER_ROUND["LA4"]
    assert summary.per_round.staff_time.undiscounted == 40 * 1.0 * hourly
    assert (
        summary.per_round.total.undiscounted == SCHWARTZ_SEED_TOTALS_PER_ROUND["LA4"] + 40 * hourly
    )
    split = summarise_ledger(ledger)
    assert split.by_kind["staff_time"].undiscounted == 4 * 40 * hourly
    assert split.by_category_and_kind["running/staff_time"].undiscounted == 4 * 40 * hourly


def test_events_at_a_site_without_a_declared_amount_are_refused():
    model = cost_model_from_mapping(schwartz_mapping())
    events = schwartz_events({"LA1": 2, "LA9": 1}, {"LA1": 10, "LA9": 10})
    with pytest.raises(
        ValueError, match=r"'training' has amounts for the sites .*Got events at LA9"
    ):
        build_ledger(events, model, start_date=START)


# ---------------------------------------------------------------------------
# The ledger and discounting
# ---------------------------------------------------------------------------
def test_discounting_matches_hand_computation():
    ledger = build_ledger(simple_events(), simple_model(), start_date="2020-03-01")
    r = 0.035
    by_hand = [
        400 * 1,
        400 * 2,
        55.5 * 1,
        55.5 * 3 / (1 + r),
        55.5 * 2 / (1 + r) ** 3,
        0.25 * 36 / (1 + r) ** 2,
        0.25 * 36,
    ]
    assert ledger["cost"].sum() == pytest.approx(400 * 3 + 55.5 * 6 + 0.5 * 36, rel=1e-14)
    assert ledger["cost_discounted"].sum() == pytest.approx(sum(by_hand), rel=1e-14)
    assert sorted(ledger["year"].unique()) == [0, 1, 2, 3]
    year3 = ledger[ledger["year"] == 3]
    assert year3["discount_factor"].tolist() == pytest.approx([1 / 1.035**3], rel=1e-14)
    year0 = ledger[ledger["year"] == 0]
    assert (year0["cost_discounted"] == year0["cost"]).all()
    # the design's rate is used unless the caller overrides it
    other = build_ledger(simple_events(), simple_model(0.05), start_date="2020-03-01")
    override = build_ledger(
        simple_events(), simple_model(), start_date="2020-03-01", discount_rate=0.05
    )
    assert other["cost_discounted"].sum() == pytest.approx(
        override["cost_discounted"].sum(), rel=1e-14
    )
    assert other["cost_discounted"].sum() < ledger["cost_discounted"].sum()


def test_ledger_does_not_depend_on_the_order_of_events():
    events = simple_events()
    shuffled = events.sample(frac=1, random_state=3).reset_index(drop=True)
    a = build_ledger(events, simple_model(), start_date="2020-03-01")
    b = build_ledger(shuffled, simple_model(), start_date="2020-03-01")
    pd.testing.assert_frame_equal(a, b)


def test_quantity_fields_that_an_item_needs_must_be_present():
    events = simple_events()
    events.loc[1, "quantity"] = np.nan
    with pytest.raises(
        ValueError, match=r"'machine' takes its quantity from quantity .*Got 1 of 2 without"
    ):
        build_ledger(events, simple_model(), start_date="2020-03-01")
    events = simple_events()
    events.loc[3, "occurred_at"] = None
    with pytest.raises(ValueError, match=r"needs a date in 'occurred_at'.*Got 1 without one"):
        build_ledger(events, simple_model(), start_date="2020-03-01")
    with pytest.raises(ValueError, match=r"need the columns event_type, occurred_at or timestamp"):
        build_ledger(events.drop(columns="occurred_at"), simple_model(), start_date="2020-03-01")


def test_numeric_site_labels_match_declared_sites_even_when_read_as_floats():
    mapping = {
        "currency_year": 2020,
        "source": "test",
        "items": [
            {"name": "machine", "event_type": "machine_installed", "unit": "per_machine",
             "category": "setup", "kind": "direct", "amount": {"3": 400, "7": 500}},
        ],
    }  # fmt: skip
    events = pd.DataFrame(
        {
            "event_type": ["machine_installed"] * 3,
            "occurred_at": ["2020-02-01"] * 3,
            "site": [3.0, 7.0, 7.0],
        }
    )
    ledger = build_ledger(events, cost_model_from_mapping(mapping), start_date=START)
    assert dict(zip(ledger["site"], ledger["cost"], strict=True)) == {"3": 400, "7": 1000}
