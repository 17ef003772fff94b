"""Square brackets in data are printed verbatim: rich must never read a value as markup.

A roster cell ``Dudley [/]`` once crashed ``trialflow randomise`` with MarkupError (exit 3)
after the allocation had been stored, and ``Team [a]`` printed as ``Team``.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_outcomes import simulate_outcomes
from trial_designs.simulate_roster import simulate_late_entrants, simulate_roster

pytestmark = pytest.mark.flow


def _flat(output: str) -> str:
    return " ".join(output.split())  # rich wraps long lines and table cells


def test_bracketed_roster_values_and_file_names_print_verbatim(prefect_server, tmp_path):
    design = load_design(DESIGNS / "letters.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(5), n=30)
    roster.loc[0, "staff_id"] = "[/]X1"
    roster.loc[roster["local_authority"] == roster.loc[1, "local_authority"], "local_authority"] = (
        "Dudley [/]"
    )
    roster.loc[2, "team"] = "Team [a]"
    path = tmp_path / "ros[bold]ter.csv"
    roster.to_csv(path, index=False)
    runner = CliRunner()
    done = runner.invoke(app, ["randomise", "letters", "--roster", str(path)])
    assert done.exit_code == 0, done.output
    assert "Dudley [/]" in done.output
    assert "ros[bold]ter" not in done.output  # the list is named by the trial, not the roster
    assert "MarkupError" not in done.output

    late = simulate_late_entrants(design, rng=np.random.default_rng(6), n=2)
    late.iloc[0, late.columns.get_loc("staff_id")] = "[b]N1"
    late.to_csv(tmp_path / "late.csv", index=False)
    enrolled = runner.invoke(app, ["enrol", "letters", "--roster", str(tmp_path / "late.csv")])
    assert enrolled.exit_code == 0, enrolled.output
    assert "[b]N1" in _flat(enrolled.output)

    from flows.store import Store

    files = simulate_outcomes(
        design, Store().participant_arms("letters"), rng=np.random.default_rng(7)
    )
    survey = tmp_path / "surv[bold]x.csv"
    files["survey_endline.csv"].to_csv(survey, index=False)
    ingest = runner.invoke(app, ["outcomes", "ingest", "letters", str(survey)])
    assert ingest.exit_code == 0, ingest.output
    assert "surv[bold]x.csv" in _flat(ingest.output)
    assert "survx.csv" not in _flat(ingest.output)
