"""trial_designs.cost_model: what a design may declare about costs, and the checks on it."""

from __future__ import annotations

import json

import pytest
from cost_cases import (
    SCHWARTZ_SEED_UNIT_COSTS,
    SCHWARTZ_SITES,
    schwartz_mapping,
)

from trial_designs.cost_model import CostModel, UnitCost, cost_model_from_mapping


# ---------------------------------------------------------------------------
# Validation of the cost model
# ---------------------------------------------------------------------------
def _item(**changes) -> dict:
    item = {
        "name": "letter", "event_type": "letter_sent", "unit": "per_letter", "category": "running",
        "kind": "direct", "amount": 1.2, "source": "Royal Mail", "currency_year": 2020,
    }  # fmt: skip
    return {k: v for k, v in {**item, **changes}.items() if v is not None}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ([], r"A cost model must be a mapping .*Got list instead"),
        (
            {"items": [_item()], "rate": 0.03},
            r"key\(s\) rate are not known. Choose from: currency, .*Got rate instead",
        ),
        ({"items": []}, r"needs a non-empty list of 'items'. Got \[\] instead"),
        (
            {"items": [_item(category="annual")]},
            r"'letter': the 'category' 'annual' is not known. Choose one of: setup, running. Got 'annual' instead",
        ),
        (
            {"items": [_item(kind="overhead")]},
            r"the 'kind' 'overhead' is not known. Choose one of: direct, staff_time",
        ),
        (
            {"items": [_item(quantity_from="minutes")]},
            r"the 'quantity_from' 'minutes' is not known. Choose one of: events, quantity, hours, attendees, attendee_hours",
        ),
        (
            {"items": [_item(amount=-3)]},
            r"'letter': 'amount' must be a finite number at least 0. Got -3 instead",
        ),
        (
            {"items": [_item(amount="cheap")]},
            r"'amount' must be a finite number at least 0. Got 'cheap' instead",
        ),
        ({"items": [_item(unit=None)]}, r"The cost item 'letter' needs 'unit'. Got none instead"),
        ({"items": [_item(colour="red")]}, r"'letter': the key\(s\) colour are not known"),
        ({"items": [_item(low=2)]}, r"'low' must not exceed 'amount' \(1.2\). Got 2 instead"),
        ({"items": [_item(high=1)]}, r"'high' must not be below 'amount' \(1.2\). Got 1 instead"),
        ({"items": [_item(multiplier=0)]}, r"'multiplier' must be above 0. Got 0 instead"),
        (
            {"items": [_item(currency_year=20.5)]},
            r"'currency_year' must be a whole year such as 2020. Got 20.5 instead",
        ),
        ({"items": [_item(), _item()]}, r"'letter' is declared twice"),
        (
            {"items": [_item(site="LA1"), _item()]},
            r"either once for all sites or once per site",
        ),
        (
            {"items": [_item(amount={"LA1": 2, "LA2": 3}, low={"LA1": 1})]},
            r"'low' keyed by site must name the same sites as 'amount' \(LA1, LA2\). Got LA1 instead",
        ),
        (
            {"items": [_item(amount={"LA1": 2}, site="LA1")]},
            r"gives 'amount' by site, so it must not also give 'site'",
        ),
        ({"items": [_item(low={"LA1": 1})]}, r"'low' may be keyed by site only when 'amount' is"),
        ({"items": [_item()], "currency": "EUR"}, r"'currency' must be GBP .*Got 'EUR' instead"),
        (
            {"items": [_item()], "discount_rate": 3.5},
            r"'discount_rate' must be a number in \[0, 1\), such as 0.035. Got 3.5 instead",
        ),
    ],
)
def test_cost_model_validation_names_the_field_rule_and_value(mapping, message):
    with pytest.raises(ValueError, match=message):
        cost_model_from_mapping(mapping)


def test_per_site_declarations_of_a_name_must_agree():
    with pytest.raises(
        ValueError, match=r"same 'kind' at every site. Got 'direct' and 'staff_time'"
    ):
        CostModel(
            items=(
                UnitCost(**{**_item(), "site": "LA1"}),
                UnitCost(**{**_item(kind="staff_time"), "site": "LA2"}),
            )
        )


def test_a_valid_mapping_round_trips_through_to_dict():
    model = cost_model_from_mapping(schwartz_mapping())
    assert len(model.items) == 4 * len(SCHWARTZ_SITES)
    assert model.names == tuple(SCHWARTZ_SEED_UNIT_COSTS)
    assert model.discount_rate == 0.035
    out = model.to_dict()
    json.dumps(out, allow_nan=False)
    assert {i["site"] for i in out["items"]} == set(SCHWARTZ_SITES)


def test_the_module_docstring_example_is_a_valid_cost_model():
    import textwrap

    import yaml

    import trial_designs.cost_model

    doc = trial_designs.cost_model.__doc__
    block = doc.split("::\n", 1)[1].split("\nGoal-setting", 1)[0]
    model = cost_model_from_mapping(yaml.safe_load(textwrap.dedent(block))["costs"])
    assert {i.site for i in model.items if i.name == "round"} == set(SCHWARTZ_SITES)
    staff = [i for i in model.items if i.kind == "staff_time"]
    assert [(i.quantity_from, i.low, i.high) for i in staff] == [("attendee_hours", 25, 40)]
