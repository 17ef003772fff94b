"""The costs stage's markdown and summary (reports/costs_markdown.py): what finance reads first."""

from __future__ import annotations

from reports.costs_markdown import cost_summary, costs_markdown
from reports.format import MINUS, format_money


def test_the_markdown_states_the_total_band_and_every_figure_in_pounds_and_pence(results):
    costs = results("schwartz_rounds")["costs"]
    text = costs_markdown("Schwartz Rounds", costs)
    lines = text.splitlines()
    assert lines[0] == "## Costs: Schwartz Rounds"
    total = format_money(costs["totals"]["total"], decimals=2)
    assert lines[2].startswith(f"Total {total} ({costs['currency_year']} prices)")
    assert "; EEF cost band **" in lines[2]
    # one table row per figure the section has, each undiscounted then discounted
    per = costs["per_participant"]
    rows = [line for line in lines if line.startswith("| per ")]
    assert len(rows) == sum(1 for key in per if not key.endswith("_discounted"))
    round_cost = format_money(per["per_round"], decimals=2)
    assert (
        f"| per Round (direct running costs) | {round_cost} | "
        f"{format_money(per['per_round_discounted'], decimals=2)} |"
    ) in rows
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_each_icer_comes_with_its_interval_or_says_it_is_not_bounded(results):
    costs = results("schwartz_rounds")["costs"]
    row = costs["cost_effectiveness"][0]
    row.update(icer_ci_low=164.98, icer_ci_high=380.8)  # a bounded interval
    assert "(95% interval £164.98 to £380.80)" in costs_markdown("t", costs)
    row["icer_ci_high"] = None
    assert f"- **{row['effect_label']}**: {row['sentence']} (95% interval not bounded)" in (
        costs_markdown("t", costs)
    )


def test_a_negative_bound_reads_with_a_minus_before_the_pound_sign(results):
    costs = results("schwartz_rounds")["costs"]
    costs["cost_effectiveness"][0].update(icer_ci_low=-13397.0, icer_ci_high=380.8)
    text = costs_markdown("t", costs)
    assert f"(95% interval {MINUS}£13,397.00 to £380.80)" in text
    assert "£-" not in text


def test_a_missing_figure_is_a_dash_and_participants_share_is_said_when_it_differs(
    results,
):
    costs = results("schwartz_rounds")["costs"]
    costs["per_participant"]["took_up_discounted"] = None
    costs["totals"]["participants_total"] = 30000.0
    text = costs_markdown("t", costs)
    took_up = format_money(costs["per_participant"]["took_up"], decimals=2)
    assert f"| per participant who took it up | {took_up} | \u2014 |" in text
    assert "(the trial's participants bear £30,000.00: their share" in text
    costs["totals"]["participants_total"] = costs["totals"]["total"]
    assert "participants bear" not in costs_markdown("t", costs)


def test_the_summary_carries_the_figures_and_the_sentences(results):
    costs = results("schwartz_rounds")["costs"]
    summary = cost_summary(costs)
    assert summary["total"] == costs["totals"]["total"]
    assert summary["per_participant_randomised"] == costs["per_participant"]["randomised"]
    assert summary["eef_band"] == costs["eef_band"]
    assert summary["cost_effectiveness"] == [r["sentence"] for r in costs["cost_effectiveness"]]
    assert len(costs["cost_effectiveness"]) >= 2
    costs["cost_effectiveness"][1]["sentence"] = None  # a row without words is left out
    assert len(cost_summary(costs)["cost_effectiveness"]) == len(costs["cost_effectiveness"]) - 1
