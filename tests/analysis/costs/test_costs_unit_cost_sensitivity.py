"""analysis.costs.unit_cost_sensitivity: tornado data as each unit cost moves."""

from __future__ import annotations

import dataclasses

import pytest
from cost_cases import (
    START,
    schwartz_events,
    schwartz_mapping,
    simple_events,
    simple_model,
)

from analysis.costs import (
    build_ledger,
    unit_cost_sensitivity,
)
from trial_designs.cost_model import cost_model_from_mapping


# ---------------------------------------------------------------------------
# Unit-cost sensitivity (one way: each unit cost moves alone)
# ---------------------------------------------------------------------------
def _rebuilt_per_participant(events, model, name, amount_of, n):
    items = tuple(
        dataclasses.replace(i, amount=amount_of(i), low=None, high=None) if i.name == name else i
        for i in model.items
    )
    ledger = build_ledger(events, dataclasses.replace(model, items=items), start_date=START)
    return ledger["cost_discounted"].sum() / n, ledger["cost"].sum() / n


def test_unit_cost_sensitivity_equals_rebuilding_the_ledger_with_each_cost_moved():
    staff = {
        "name": "attendee_time", "event_type": "round_held", "quantity_from": "attendee_hours",
        "unit": "per_hour", "category": "running", "kind": "staff_time", "amount": 31, "low": 25, "high": 40,
    }  # fmt: skip
    model = cost_model_from_mapping(schwartz_mapping((staff,)))
    # Rounds run past the first anniversary, so discounting matters
    events = schwartz_events({"LA1": 14, "LA5": 16}, {"LA1": 30, "LA5": 25})
    n = 250
    table = unit_cost_sensitivity(events, model, start_date=START, n_participants=n, vary=0.25)
    assert list(table["range"]) == sorted(table["range"], reverse=True)
    assert set(table["parameter"]) == set(model.names)
    for row in table.itertuples():
        if row.parameter == "attendee_time":
            low = _rebuilt_per_participant(events, model, row.parameter, lambda i: 25.0, n)
            high = _rebuilt_per_participant(events, model, row.parameter, lambda i: 40.0, n)
            assert row.variation == "£25.00 to £40.00"
        else:
            low = _rebuilt_per_participant(
                events, model, row.parameter, lambda i: i.amount * 0.75, n
            )
            high = _rebuilt_per_participant(
                events, model, row.parameter, lambda i: i.amount * 1.25, n
            )
            assert row.variation == "±25%"
        assert row.low_per_participant == pytest.approx(low[0], rel=1e-12)
        assert row.high_per_participant == pytest.approx(high[0], rel=1e-12)
        assert row.low_per_participant_undiscounted == pytest.approx(low[1], rel=1e-12)
        assert row.high_per_participant_undiscounted == pytest.approx(high[1], rel=1e-12)
        assert row.low_per_participant < row.base_per_participant < row.high_per_participant
    assert (
        table["base_per_participant"].iloc[0] < table["base_per_participant_undiscounted"].iloc[0]
    )
    # bounds given by the caller replace the declared ones
    wider = unit_cost_sensitivity(
        events, model, start_date=START, n_participants=n, hourly_bounds={"attendee_time": (15, 50)}
    ).set_index("parameter")
    low = _rebuilt_per_participant(events, model, "attendee_time", lambda i: 15.0, n)
    assert wider.loc["attendee_time", "low_per_participant"] == pytest.approx(low[0], rel=1e-12)


def test_unit_cost_sensitivity_checks_hourly_bounds():
    model = simple_model()
    events = simple_events()
    kwargs = {"start_date": "2020-03-01", "n_participants": 10}
    with pytest.raises(
        ValueError,
        match=r"names the item 'nurse_time', which .*Choose from: machine, supplies, manager_time",
    ):
        unit_cost_sensitivity(events, model, hourly_bounds={"nurse_time": (1, 2)}, **kwargs)
    with pytest.raises(ValueError, match=r"is for staff_time items; 'machine' is of kind 'direct'"):
        unit_cost_sensitivity(events, model, hourly_bounds={"machine": (300, 500)}, **kwargs)
    with pytest.raises(
        ValueError, match=r"for 'manager_time' must contain its amount 36. Got \(40, 50\)"
    ):
        unit_cost_sensitivity(events, model, hourly_bounds={"manager_time": (40, 50)}, **kwargs)
    with pytest.raises(ValueError, match=r"'vary' must be a fraction between 0 and 1.*Got 1.5"):
        unit_cost_sensitivity(events, model, vary=1.5, **kwargs)
