"""The portfolio compares every active arm of a multi-arm trial, not only its first."""

from __future__ import annotations

from reports.format import format_ci, format_effect
from reports.portfolio import portfolio_answer, portfolio_view

LABELS = ("Course offered by email", "Course plus manager reminders")


def test_each_active_arm_has_its_row_its_point_and_its_place_in_the_answer(simulated_results):
    three = simulated_results("goal_setting_nudges")
    view = portfolio_view([simulated_results("letters"), three])
    title = three["trial"]["title"]
    assert [r["title"] for r in view["rows"]] == ["Letters of appreciation", title]
    assert [r["title"] for r in view["table_rows"]] == [
        "Letters of appreciation",
        *(f"{title}: {label}" for label in LABELS),
    ]
    primary = next(o for o in three["outcomes"] if o["primary"])
    itts = [e for e in primary["estimates"] if e["estimand"] == "ITT"]
    costs = [three["costs"], *three["costs"]["other_arms"]]
    for row, itt, cost in zip(view["table_rows"][1:], itts, costs, strict=True):
        assert row["primary_effect"] == format_effect(itt["estimate"], primary)
        assert row["primary_ci"] == format_ci(itt["ci_low"], itt["ci_high"], primary)
        assert row["cost"] == cost["per_participant"]["randomised"]
    assert all(f"{title}: {label}" in view["chart"].description for label in LABELS)
    answer = " ".join(portfolio_answer([three]))
    assert all(f"{title}: {label}" in answer for label in LABELS)
