"""design_diff and the amendment rules: pure, over canonical design documents."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.design_diff import (
    ABSENT,
    ALLOCATION_FIELDS,
    Change,
    allocation_changes,
    design_diff,
    format_changes,
)

TODAY = dt.date(2019, 6, 1)  # letters: randomised 2019-04-01, endline 2019-10-15


def _doc(name: str = "letters") -> dict:
    return json.loads(load_design(DESIGNS / f"{name}.yaml").canonical_json())


def test_identical_designs_have_no_changes():
    assert design_diff(_doc(), _doc()) == []


def test_a_changed_seed_is_named_by_its_dotted_path_with_old_and_new_values():
    new = _doc()
    new["randomisation"]["seed"] = 777
    (change,) = design_diff(_doc(), new)
    assert change.line() == "randomisation.seed: 20190401 -> 777"


def test_named_list_items_are_matched_by_name_and_order_changes_are_reported():
    new = _doc()
    new["arms"] = list(reversed(new["arms"]))
    new["arms"][0]["ratio"] = 2
    lines = [c.line() for c in design_diff(_doc(), new)]
    assert lines == [
        'arms (names in order): ["control", "letter"] -> ["letter", "control"]',
        "arms[letter].ratio: 1 -> 2",
    ]


def test_added_and_removed_fields_show_as_absent():
    old, new = _doc(), _doc()
    del new["analysis"]["subgroups"]
    new["costs"]["note"] = "x"
    changes = {c.path: c for c in design_diff(old, new)}
    assert changes["analysis.subgroups"].new is ABSENT
    assert changes["costs.note"].old is ABSENT
    assert changes["costs.note"].line() == 'costs.note: (absent) -> "x"'


def _edit(path: str, value):  # noqa: ANN001, ANN202
    new = _doc()
    node = new
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key] if not key.isdigit() else node[int(key)]
    node[leaf if not leaf.isdigit() else int(leaf)] = value
    return design_diff(_doc(), new)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("randomisation.seed", 777),
        ("randomisation.method", "complete"),
        ("randomisation.block_sizes", [2, 4]),
        ("randomisation.constraint", {"covariates": ["x"]}),
        ("arms.1.ratio", 2),
        ("arms.1.name", "gratitude"),
        ("arms.0.control", False),
        ("strata", ["organisation", "role"]),
        ("unit", "cluster"),
        ("cluster_by", "team"),
        ("clusters", ["A", "B"]),
        ("id", "letters2"),
    ],
)
def test_every_field_that_decides_allocations_is_refused(path, value):
    changes = _edit(path, value)
    refused = allocation_changes(changes, today=TODAY)
    assert changes and [c for c, _ in refused] == changes
    root = path.split(".")[0]
    assert root in ALLOCATION_FIELDS
    assert all(f"'{root}' is fixed once randomised" in why for _, why in refused)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("outcomes.0.label", "Feeling valued at work (0-10)"),
        ("arms.1.label", "Letter of thanks"),
        ("costs.items.0.amount", 1.55),
        ("interventions.0.options.signatories.Dudley.name", "Dr A N Other"),
        ("follow_up.endline", "2019-11-01"),  # moved while still in the future
        ("analysis.ri_draws", 5000),
        ("title", "Letters of gratitude"),
    ],
)
def test_wording_costs_signatories_and_future_dates_may_be_amended(path, value):
    changes = _edit(path, value)
    assert changes and allocation_changes(changes, today=TODAY) == []


def test_a_date_that_has_passed_cannot_be_moved():
    changes = _edit("follow_up.baseline", "2019-03-20")
    ((change, why),) = allocation_changes(changes, today=TODAY)
    assert change.path == "follow_up.baseline"
    assert "2019-03-15, 2019-03-20" in why and "on or before today (2019-06-01)" in why


def test_format_changes_caps_the_list():
    changes = [Change(f"f{i}", i, i + 1) for i in range(25)]
    text = format_changes(changes, limit=3)
    assert text.splitlines() == [
        "  f0: 0 -> 1",
        "  f1: 1 -> 2",
        "  f2: 2 -> 3",
        "  ... and 22 more",
    ]


@pytest.mark.parametrize(
    ("path", "value", "role"),
    [
        ("roster.columns.organisation", "region", "stratum"),
        ("roster.columns.id", "payroll_no", "participant id"),
    ],
)
def test_the_roster_column_behind_an_allocation_field_is_refused(path, value, role):
    old = _doc()
    changes = _edit(path, value)
    refused = allocation_changes(changes, today=TODAY, old=old, new=old)
    assert [c.path for c, _ in refused] == [path]
    assert f"holds the {role}" in refused[0][1]
    # the roster column of a field no allocation depends on may move
    assert allocation_changes(_edit("roster.columns.role", "job"), today=TODAY, old=old) == []
