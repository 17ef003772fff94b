"""trialflow analyse --label X --subgroups role on a trial that declares none (issue 15.5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.flow
DATASET = Path(__file__).resolve().parents[1] / "reference" / "export_demo" / "coffee"


def test_an_undeclared_subgroup_runs_only_as_exploratory_and_is_marked(prefect_server, tmp_path):
    runner = CliRunner()
    data = shutil.copy(DATASET / "coffee_analysis.csv", tmp_path / "coffee.csv")
    folder = tmp_path / "coffee" / "analysis"
    base = ["analyse", "coffee", "--data", str(data), "--ri-draws", "0", "--out", str(folder)]

    refused = runner.invoke(app, [*base, "--subgroups", "role"])
    assert refused.exit_code == 1
    assert "--subgroups change the pre-specified analysis, so they need '--label NAME'" in (
        " ".join(refused.output.split())
    )
    unknown = runner.invoke(app, [*base, "--label", "x", "--subgroups", "shoe_size"])
    assert unknown.exit_code == 1
    assert "The exploratory subgroup 'shoe_size' is not a column of the analysis data" in (
        " ".join(unknown.output.split())
    )
    assert not folder.exists()

    done = runner.invoke(app, [*base, "--label", "by_role", "--subgroups", "role"])
    assert done.exit_code == 0, done.output
    results = json.loads((folder / "exploratory" / "by_role" / "results.json").read_text())
    primary = next(o for o in results["outcomes"] if o["primary"])
    (test,) = primary["subgroup_tests"]
    assert (test["variable"], test["prespecified"], test["p_value_holm"]) == ("role", False, None)
    # the coffee trial's SEs: CR2 clustered by building, as its primary estimate
    assert (test["se_type"], test["se_clustered_by"]) == ("CR2", "building")
    assert 0 <= test["p_value"] <= 1
    assert {s["prespecified"] for s in primary["subgroups"]} == {False}
    assert results["exploratory"]["changes"]["subgroups"] == {
        "prespecified": [],
        "exploratory": ["role"],
    }
