"""trialflow costs: the costs stage on its own, from results.json's costs section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.randomise import read_roster
from flows.status import trial_status
from flows.store import Store, trialflow_home
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow
runner = CliRunner()


def _write_results(document: dict, costs: dict | None) -> Path:
    """A whole results.json (readers check it by the results model) holding these costs.

    ``document`` is the analysis of the simulated letters trial; its costs are replaced.
    """
    path = trialflow_home() / "out" / "letters" / "analysis" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document["costs"] = costs
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_costs_command_writes_the_ledger_and_prints_the_figures(
    prefect_server, tmp_path, letters_costs_section, simulated_results
):
    # randomised, so the stage's run is recorded for status
    design = load_design(DESIGNS / "letters.yaml")
    roster_path = tmp_path / "roster.csv"
    simulate_roster(design, rng=np.random.default_rng(3)).to_csv(roster_path, index=False)
    roster, pii = read_roster.fn(str(roster_path), design)
    Store().record_randomisation(
        design=design, allocation=randomise(roster, design), roster=roster, pii=pii
    )
    costs = letters_costs_section
    _write_results(simulated_results("letters"), costs)
    result = runner.invoke(app, ["costs", "letters"])
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())
    per = costs["per_participant"]["randomised"]
    assert f"£{per:,.2f} per participant randomised" in words
    assert f"EEF cost band {costs['eef_band']}" in words
    folder = trialflow_home() / "out" / "letters" / "costs"
    ledger = pd.read_csv(folder / "ledger.csv")
    assert len(ledger) == len(costs["ledger"])
    assert ledger.columns.tolist() == list(costs["ledger"][0])
    assert ledger.select_dtypes("number").sum().sum() == pytest.approx(
        pd.DataFrame(costs["ledger"]).select_dtypes("number").sum().sum()
    )
    assert f"ledger: {folder / 'ledger.csv'}\n" in result.output  # whole, on one line
    stage = next(s for s in trial_status("letters")["stages"] if s["stage"] == "costs")
    assert stage["status"] == "completed" and "ledger.csv" in stage["result"]


def test_costs_without_results_says_run_analyse_once(prefect_server):
    result = runner.invoke(app, ["costs", "letters"])
    assert result.exit_code == 1
    assert "run the analyse stage first" in result.output
    assert "Traceback" not in result.output
    assert not (trialflow_home() / "out" / "letters" / "costs" / "ledger.csv").exists()


def test_costs_of_a_trial_without_a_cost_model_writes_nothing(prefect_server, simulated_results):
    _write_results(simulated_results("letters"), None)
    result = runner.invoke(app, ["costs", "letters"])
    assert result.exit_code == 0, result.output
    assert "has no costs" in result.output
    assert not (trialflow_home() / "out" / "letters" / "costs" / "ledger.csv").exists()
