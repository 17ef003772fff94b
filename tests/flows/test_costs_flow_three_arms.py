"""trialflow costs and the flow logs of a three-arm trial: every active arm's figures, named."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from flows.analyse import _primary_line
from flows.cli import app
from flows.store import trialflow_home

pytestmark = pytest.mark.flow
runner = CliRunner()
NAME = "goal_setting_nudges"


def _labels(document: dict) -> dict[str, str]:
    return {a["name"]: a["label"] for a in document["trial"]["arms"] if not a["control"]}


def test_costs_command_prints_each_arms_cost_named(prefect_server, simulated_results, caplog):
    document = simulated_results(NAME)
    path = trialflow_home() / "out" / NAME / "analysis" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    with caplog.at_level(logging.INFO):
        result = runner.invoke(app, ["costs", NAME])
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())
    costs = document["costs"]
    blocks = [costs, *costs["other_arms"]]
    labels = _labels(document)
    assert [b["arm"] for b in blocks] == list(labels)
    logged = " ".join(r.getMessage() for r in caplog.records)
    for block in blocks:
        label = labels[block["arm"]]
        per = f"£{block['per_participant']['randomised']:,.2f}"
        assert (
            f"{label}: {per} per participant randomised; EEF cost band {block['eef_band']}."
            in words
        )
        # each arm's sentences start with its label, never "The intervention"
        for row in block["cost_effectiveness"]:
            assert row["sentence"].startswith(f"{label} costs ")
            assert " ".join(row["sentence"].split()) in words
        assert f"{label}: {per} per participant randomised ({block['eef_band']} band)" in logged
    assert "The intervention" not in words
    # the headline gives the trial's total alone, not the first arm's cost as the trial's
    headline = result.output.splitlines()[0]
    assert headline.startswith(f"{NAME}: total £") and "per participant" not in headline


def test_the_analyse_log_line_names_every_arm_with_its_holm_p(simulated_results):
    document = simulated_results(NAME)
    primary = next(o for o in document["outcomes"] if o["primary"])
    line = _primary_line("Nudges", primary, document["trial"]["arms"])
    itts = [e for e in primary["estimates"] if e["estimand"] == "ITT"]
    assert len(itts) == 2
    for itt in itts:
        label = _labels(document)[itt["arm"]]
        assert (
            f"{label} {itt['estimate']:.2f} (95% CI {itt['ci_low']:.2f} to {itt['ci_high']:.2f}; "
            f"p = {itt['p_value']:.3f}; Holm p = {itt['p_value_holm']:.3f}; "
            f"RI p = {itt['ri_p_value']})"
        ) in line
    # two arms: the line as it always was
    letters = next(o for o in simulated_results("letters")["outcomes"] if o["primary"])
    itt = letters["estimates"][0]
    assert _primary_line("Letters", letters, []) == (
        f"Letters: ITT on {letters['label']} = {itt['estimate']:.2f} (95% CI {itt['ci_low']:.2f} "
        f"to {itt['ci_high']:.2f}; p = {itt['p_value']:.3f}; RI p = {itt.get('ri_p_value')})."
    )
