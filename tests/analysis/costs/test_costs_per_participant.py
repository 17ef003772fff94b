"""analysis.costs.per_participant: cost per participant and the EEF bands."""

from __future__ import annotations

import json
import math

import pytest
from cost_cases import (
    simple_events,
    simple_model,
)

from analysis.costs import (
    build_ledger,
    cost_per_participant,
    eef_cost_band,
)


# ---------------------------------------------------------------------------
# Cost per participant and EEF bands
# ---------------------------------------------------------------------------
def test_cost_per_participant_divides_by_each_denominator_and_is_json_safe():
    ledger = build_ledger(simple_events(), simple_model(), start_date="2020-03-01")
    total = ledger["cost"].sum()
    summary = cost_per_participant(
        ledger, n_randomised_intervention=190, n_took_up=38, n_completed=0
    )
    assert summary.per_randomised.total.undiscounted == pytest.approx(total / 190, rel=1e-14)
    assert summary.per_taker.total.undiscounted == pytest.approx(total / 38, rel=1e-14)
    assert math.isnan(summary.per_completer.total.undiscounted)
    assert summary.per_round is None
    assert summary.eef_band == eef_cost_band(total / 190)
    out = summary.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["per_completer"]["total"]["undiscounted"] is None
    two_years = cost_per_participant(
        ledger, n_randomised_intervention=190, n_took_up=38, n_completed=0, delivery_years=2
    )
    assert two_years.per_participant_per_year == pytest.approx(total / 190 / 2, rel=1e-14)


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0, "very low"),
        (79.99, "very low"),
        (80, "low"),
        (200, "low"),
        (200.01, "moderate"),
        (720, "moderate"),
        (720.01, "high"),
        (1200, "high"),
        (1200.01, "very high"),
        (1e6, "very high"),
    ],
)
def test_eef_bands_at_their_boundaries(value, band):
    assert eef_cost_band(value) == band


def test_eef_band_refuses_negative_or_missing_costs():
    for value in (-1, math.nan, math.inf, "80"):
        with pytest.raises(ValueError, match="must be a finite number at least 0"):
            eef_cost_band(value)


def test_cost_per_participant_checks_its_counts():
    ledger = build_ledger(simple_events(), simple_model(), start_date="2020-03-01")
    with pytest.raises(
        ValueError, match=r"n_completed <= n_took_up <= n_randomised_intervention. Got 5, 4 and 10"
    ):
        cost_per_participant(ledger, n_randomised_intervention=10, n_took_up=4, n_completed=5)
    with pytest.raises(
        ValueError, match=r"'n_randomised_intervention' must be a whole number at least 1. Got 0"
    ):
        cost_per_participant(ledger, n_randomised_intervention=0, n_took_up=0, n_completed=0)
    with pytest.raises(ValueError, match=r"'attendances' needs 'n_rounds'"):
        cost_per_participant(
            ledger, n_randomised_intervention=10, n_took_up=4, n_completed=1, attendances=5
        )


@pytest.mark.parametrize("years", [0, -1.5, float("inf"), float("nan"), True, "2"])
def test_cost_per_participant_needs_a_positive_finite_delivery_period(years):
    ledger = build_ledger(simple_events(), simple_model(), start_date="2020-03-01")
    with pytest.raises(
        ValueError, match=r"The 'delivery_years' must be a positive finite number. Got .* instead"
    ):
        cost_per_participant(
            ledger, n_randomised_intervention=10, n_took_up=4, n_completed=1, delivery_years=years
        )
