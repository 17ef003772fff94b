"""Arms declared with exact counts (n_units) report the allocation they were randomised with.

Such arms leave 'ratio' at its default 1, which `trialflow power` (P = 0.5) and the results
and report ("ratio 1" for each arm) read instead of the 7:6 of 6 coffee buildings out of 13.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from analysis.power import design_allocation, mdes
from analysis.results import analyse_trial
from flows.cli import app
from reports.render import render_trial
from tests.designs import DESIGNS
from trial_designs.design import TrialDesign
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


def _coffee_spec(coffee: dict) -> dict:
    spec = yaml.safe_load((DESIGNS / "coffee.yaml").read_text())
    spec["arms"] = [{"name": "control", "control": True, "label": "No coffee"}, coffee]
    spec["randomisation"]["method"] = "cluster"
    spec["randomisation"].pop("constraint", None)
    return spec


def _letters_spec(control: dict, letter: dict) -> dict:
    spec = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    spec["arms"] = [{"name": "control", "control": True, **control}, {"name": "letter", **letter}]
    spec["strata"] = []
    spec["randomisation"] = {"method": "complete", "seed": 7}
    return spec


def test_power_takes_six_of_thirteen_buildings_from_the_design(tmp_path):
    path = tmp_path / "coffee_exact.yaml"
    path.write_text(yaml.safe_dump(_coffee_spec({"name": "coffee", "n_units": 6})))
    runner = CliRunner()
    args = ["power", str(path), "--n", "377", "--icc", "0.05"]
    printed = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert printed == mdes(n=377, n_clusters=13, icc=0.05, allocation=6 / 13).to_dict()
    text = " ".join(runner.invoke(app, args).output.split())
    assert "│ allocation P │ 0.4615 │ design coffee: coffee 6 : control 7 (n_units" in text
    assert "(46.15% allocated to treatment)" in text
    # twenty buildings of which the design still fixes six
    printed = json.loads(runner.invoke(app, [*args, "--clusters", "20", "--json"]).output)
    assert printed == mdes(n=377, n_clusters=20, icc=0.05, allocation=6 / 20).to_dict()


@pytest.mark.parametrize(
    ("control", "letter", "n", "share"),
    [
        ({"n_units": 200}, {"n_units": 100}, 999, 1 / 3),  # every count declared: n unused
        ({}, {"n_units": 100}, 400, 1 / 4),  # control takes the rest of the 400
        ({"ratio": 1}, {"ratio": 3}, 400, 3 / 4),  # ratios as before
    ],
)
def test_design_allocation_of_an_individual_trial(control, letter, n, share):
    design = TrialDesign.model_validate(_letters_spec(control, letter))
    allocation, source = design_allocation(design, n_units=n)
    assert allocation == pytest.approx(share)
    assert source.startswith("design letters: letter ")


def test_design_allocation_refuses_counts_that_do_not_fit():
    design = TrialDesign.model_validate(_letters_spec({}, {"n_units": 100}))
    with pytest.raises(ValueError, match=r"^arm 'control' would get no participants"):
        design_allocation(design, n_units=100)


def test_results_and_report_give_each_arm_its_count_not_ratio_1():
    design = TrialDesign.model_validate(_coffee_spec({"name": "coffee", "n_units": 6}))
    roster = pd.read_csv(GOLDEN / "coffee_roster.csv", dtype=str)
    allocation = randomise(roster, design)
    arms = allocation.members.merge(allocation.units[["unit_id", "stratum", "arm"]], on="unit_id")
    data = roster.rename(columns={"id": "participant_id"}).merge(arms, on="participant_id")
    data["arm"] = data["arm"].astype(str)
    data["stratum"] = data["stratum"].astype(str)
    data["cluster"] = data["unit_id"]
    rng = np.random.default_rng(2)
    primary = design.primary_outcome.name
    data[f"{primary}_baseline"] = rng.normal(5, 1, len(data))
    data[f"{primary}_endline"] = data[f"{primary}_baseline"] + rng.normal(0, 1, len(data))
    data["responded_endline"] = 1
    results = analyse_trial(data, design, ri_draws=0)
    assert [(a["name"], a["ratio"]) for a in results["trial"]["arms"]] == [
        ("control", 7),
        ("coffee", 6),
    ]
    assert data.groupby("arm")["cluster"].nunique().to_dict() == {"control": 7, "coffee": 6}
    html = " ".join(render_trial(results).split())
    assert "No coffee (ratio 7, control); coffee (ratio 6)" in html


def test_the_analysis_plan_takes_six_of_thirteen_buildings_from_the_design(tmp_path):
    from analysis.sap import build_sap
    from reports.sap import render_sap
    from trial_designs.design import load_design

    path = tmp_path / "coffee_exact.yaml"
    path.write_text(yaml.safe_dump(_coffee_spec({"name": "coffee", "n_units": 6})))
    design = load_design(path)
    plan = build_sap(design, n=377, icc=0.05)
    expected = mdes(n=377, n_clusters=13, icc=0.05, allocation=6 / 13).effect_size
    assert plan["power"]["allocation"] == pytest.approx(6 / 13, rel=1e-12)
    assert plan["power"]["calculations"][0]["mdes"] == pytest.approx(expected, rel=1e-12)
    html = render_sap(plan, sap_hash="0" * 64, registered_at=None)
    assert "(coffee, 6 units)" in html and "(control, the rest, control)" in html
    assert "ratio 1" not in html
