"""The export end to end: a simulated trial ingested through the CLI and flows, then exported."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from analysis.dataset import data_dictionary
from flows.cli import app
from flows.export import write_export
from flows.outcomes import outcomes_ingest_flow
from flows.randomise import randomise_flow
from flows.store import Store
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.instruments import SWEMWBS_METRIC
from trial_designs.simulate_outcomes import simulate_outcomes
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow
REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "export_demo"
ITEMS = [f"swemwbs_{i}" for i in range(1, 8)]


def test_letters_export_has_one_row_each_every_outcome_and_no_pii(prefect_server, tmp_path):
    design = load_design(DESIGNS / "letters.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(8))
    roster.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow("letters", str(tmp_path / "roster.csv"))
    files = simulate_outcomes(
        design, Store().participant_arms("letters"), rng=np.random.default_rng(9)
    )
    # staff type names and addresses into free text; the ingest must drop that column
    endline = files["survey_endline.csv"]
    named = roster.set_index("staff_id").reindex(endline["staff_id"])
    endline["comments"] = (
        "Thanks " + named["first_name"].fillna("") + " " + named["surname"].fillna("")
        + ", " + named["home_address"].fillna("")
    ).to_numpy()  # fmt: skip
    for name, frame in files.items():
        frame.to_csv(tmp_path / name, index=False)
    outcomes_ingest_flow("letters", str(tmp_path / "survey_baseline.csv"), "survey", "baseline")
    outcomes_ingest_flow("letters", str(tmp_path / "survey_endline.csv"), "survey", "endline")
    runner = CliRunner()
    ingest = runner.invoke(
        app, ["outcomes", "ingest", "letters", str(tmp_path / "hr_extract.csv"), "--source", "hr"]
    )
    assert ingest.exit_code == 0, ingest.output
    assert "hr_extract.csv:" in ingest.output and "Validation report:" in ingest.output
    out = tmp_path / "export"
    exported = runner.invoke(app, ["export", "letters", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    paths = {p.name: p for p in out.iterdir()}
    assert set(paths) == {
        "letters_analysis.csv", "letters_analysis.parquet", "letters_analysis.dta",
        "letters_dictionary.csv", "letters_dictionary.md",
        "primary_analysis.R", "primary_analysis.do",
    }  # fmt: skip

    data = pd.read_csv(paths["letters_analysis.csv"])
    assert len(data) == len(roster) == data["participant_id"].nunique()
    assert {"participant_id", "arm", "stratum", "cluster", "organisation", "team", "role",
            "responded_endline", "turnover_endline", "absence_rate_endline"} <= set(data)  # fmt: skip
    for outcome in design.outcomes:
        assert f"{outcome.name}_endline" in data
        assert (f"{outcome.name}_baseline" in data) == (outcome.source == "survey")
    assert data["cluster"].isna().all()
    assert 0.6 < data["responded_endline"].mean() < 0.8
    assert 0.1 < data["turnover_endline"].mean() < 0.2
    parquet = pd.read_parquet(paths["letters_analysis.parquet"])
    pd.testing.assert_frame_equal(
        parquet.reset_index(drop=True), data, check_dtype=False, check_exact=False
    )
    dictionary = pd.read_csv(paths["letters_dictionary.csv"])
    assert dictionary["column"].tolist() == list(data.columns)

    # each stored score is the one the respondent's answers give
    answers = pd.read_csv(tmp_path / "survey_endline.csv")
    once = answers[~answers["staff_id"].duplicated(keep=False)].set_index("staff_id")
    complete = once[ITEMS].apply(pd.to_numeric, errors="coerce").dropna()
    complete = complete[(complete >= 1).all(axis=1) & (complete <= 5).all(axis=1)]
    scored = data.set_index("participant_id")["swemwbs_endline"].reindex(complete.index)
    expected = [SWEMWBS_METRIC[int(s) - 7] for s in complete.sum(axis=1)]
    stored = scored.notna()
    assert stored.mean() > 0.95  # all but the few quarantined (late, badly dated) rows
    np.testing.assert_array_equal(scored[stored], np.asarray(expected)[stored.to_numpy()])

    # no name or address reaches the store's outcome table or any exported file
    secrets = {
        s for column in ("first_name", "surname", "home_address")
        for s in roster[column].astype(str) if len(s) > 3
    }  # fmt: skip
    texts = [paths[n].read_text() for n in ("letters_analysis.csv", "letters_dictionary.csv",
                                            "letters_dictionary.md")]  # fmt: skip
    texts.append(parquet.to_csv())
    for table in ("outcome_values", "survey_responses"):
        texts.append(Store().read(sa.text(f"select * from {table}")).to_csv())
    leaked = [s for s in secrets if any(s in text for text in texts)]
    assert not leaked
    assert any(
        "Thanks" in line for line in (tmp_path / "survey_endline.csv").read_text().splitlines()
    )

    # the labelled exports and the R script that refits results.json (issue 19.1)
    formula = "feeling_valued_endline ~ arm + feeling_valued_baseline + factor(stratum)"
    assert f"`{formula}`" in paths["letters_dictionary.md"].read_text()
    schema = pq.read_schema(paths["letters_analysis.parquet"])
    assert schema.metadata[b"trialflow.primary_model"].decode() == formula
    described = dict(zip(dictionary["column"], dictionary["description"], strict=True))
    assert schema.field("arm").metadata[b"description"].decode() == described["arm"]
    with pd.io.stata.StataReader(paths["letters_analysis.dta"]) as reader:
        stata = reader.read(convert_categoricals=False)
        value_labels, variable_labels = reader.value_labels(), reader.variable_labels()
    assert value_labels["arm"] == {0: "control", 1: "letter"}  # control is the base level
    assert (stata["arm"].map(value_labels["arm"]) == data["arm"]).all()
    organisations = sorted(data["stratum"].unique())
    assert value_labels["stratum"] == dict(enumerate(organisations, start=1))
    assert variable_labels["swemwbs_endline"] == described["swemwbs_endline"]  # 80 or fewer
    assert len(described["absence_rate_endline"]) > 80  # Stata's limit: cut, and marked
    assert variable_labels["absence_rate_endline"] == described["absence_rate_endline"][:77] + "..."
    np.testing.assert_array_equal(stata["swemwbs_endline"], data["swemwbs_endline"])

    analysed = runner.invoke(
        app, ["analyse", "letters", "--ri-draws", "0", "--out", str(tmp_path / "analysis")]
    )
    assert analysed.exit_code == 0, analysed.output
    results = json.loads((tmp_path / "analysis" / "results.json").read_text())
    primary = next(o for o in results["outcomes"] if o["primary"])
    assert set(run_r_script(out)["estimand"]) == {"ITT"}  # no deliveries, so no CACE
    assert max_difference(run_r_script(out), primary["estimates"]) < 1e-6


def run_r_script(folder: Path) -> pd.DataFrame:
    """What ``Rscript primary_analysis.R folder`` prints, as a table."""
    run = subprocess.run(
        ["Rscript", str(folder / "primary_analysis.R"), str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return pd.read_csv(io.StringIO(run.stdout))


def max_difference(r_output: pd.DataFrame, estimates: list[dict]) -> float:
    """The largest absolute gap between R's rows and results.json's estimates, every number."""
    assert len(r_output) == len(estimates)
    gaps = []
    for row in r_output.itertuples():
        match = next(e for e in estimates if (e["estimand"], e["arm"]) == (row.estimand, row.arm))
        assert row.n == match["n"]
        gaps += [abs(getattr(row, k) - match[k]) for k in NUMBERS]
    return max(gaps)


NUMBERS = ("estimate", "std_error", "df", "ci_low", "ci_high", "p_value")


@pytest.mark.parametrize("trial", ["coffee", "goal_setting", "goal_setting_nudges"])
def test_generated_r_script_reproduces_the_committed_demo_results(trial, tmp_path):
    """tests/reference/export_demo/<trial>: the demo trial's export, results.json and R's output.

    The script generated today from the committed dataset must be the committed
    one; where Rscript is installed it is run and must reproduce results.json
    (CR2 clustered by building for coffee; HC2 ITT and CACE for goal-setting)
    to 1e-6; without R the committed output is held to results.json instead.
    """
    folder = REFERENCE / trial
    design = load_design(DESIGNS / f"{trial}.yaml")
    committed = json.loads((folder / "results_primary.json").read_text())
    assert design.design_hash == committed["design_hash"], (
        f"The {trial} design changed: regenerate with "
        "tests/reference/export_demo/make_export_demo.py (see its docstring)."
    )
    data = pd.read_csv(folder / f"{trial}_analysis.csv")
    written = write_export.fn(design, data, data_dictionary(data, design), tmp_path)
    assert tmp_path / "primary_analysis.R" in written
    assert (tmp_path / "primary_analysis.R").read_text() == (
        folder / "primary_analysis.R"
    ).read_text()
    recorded = pd.read_csv(folder / "r_output.csv")
    estimates = committed["estimates"]
    if len(design.arm_names) > 2:
        # each active arm's ITT from one model; results.json's CACE per arm is pairwise, which
        # the scripts do not write (analysis.formula._has_cace): there is no R row to hold it to
        estimates = [e for e in estimates if e["estimand"] == "ITT"]
        assert {e["arm"] for e in estimates} == set(design.arm_names[1:])
    assert max_difference(recorded, estimates) < 1e-6
    if shutil.which("Rscript") is None:
        warnings.warn(
            "Rscript is not installed (make r-deps): the committed R output was checked, "
            "the script was not run.",
            stacklevel=1,
        )
        return
    printed = run_r_script(tmp_path)
    assert max_difference(printed, estimates) < 1e-6
    pd.testing.assert_frame_equal(printed, recorded, rtol=1e-9)
