"""The primary model as a formula, the Stata frame and the generated scripts (issue 19.1)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from analysis.exploratory import check_label, exploratory_changes, parse_covariates
from analysis.formula import model_markdown, primary_model
from flows.export import stata_frame
from reports.scripts import r_script, stata_script
from tests.designs import DESIGNS
from trial_designs.design import load_design


def _design(name: str, **analysis):  # noqa: ANN202
    design = load_design(DESIGNS / f"{name}.yaml")
    if analysis:
        design = design.model_copy(update={"analysis": design.analysis.model_copy(update=analysis)})
    return design


def _dataset(design, n: int = 40, rng=None) -> pd.DataFrame:  # noqa: ANN001
    rng = rng or np.random.default_rng(5)
    primary = next(o for o in design.outcomes if o.primary).name
    arms = np.array(design.arm_names)[np.arange(n) % len(design.arm_names)]
    return pd.DataFrame(
        {
            "participant_id": [f"P{i:03d}" for i in range(n)],
            "arm": arms,
            "stratum": np.where(np.arange(n) % 4 < 2, "Dudley", "Shropshire"),
            "cluster": [f"b{i % 6}" for i in range(n)],
            "team": [f"=team {i % 3}" for i in range(n)],  # a formula-like name stays as it is
            "tenure": rng.normal(5, 2, n),
            "took_up": (arms != design.control_arm) & (np.arange(n) % 3 > 0),
            f"{primary}_baseline": rng.normal(20, 3, n),
            f"{primary}_endline": rng.normal(21, 3, n),
        }
    ).assign(took_up=lambda d: d["took_up"].astype(int))


def test_formula_follows_the_design_and_the_data():
    letters = _design("letters", covariates=("tenure", "team"))
    model = primary_model(_dataset(letters), letters)
    assert model.formula == (
        "feeling_valued_endline ~ arm + feeling_valued_baseline + tenure + factor(team)"
        " + factor(stratum)"
    )
    assert model.se_type == "HC2" and model.cluster is None
    assert model.standard_errors == "HC2 (heteroscedasticity-robust, estimatr's default)"
    assert model.iv_formula == (
        "feeling_valued_endline ~ took_up + feeling_valued_baseline + tenure + factor(team)"
        " + factor(stratum) | arm + feeling_valued_baseline + tenure + factor(team)"
        " + factor(stratum)"
    )
    # one stratum in the data: no stratum fixed effects, as analyse_trial
    single = _dataset(letters).assign(stratum="all")
    assert "factor(stratum)" not in primary_model(single, letters).formula
    # no baseline observed: none in the model
    blank = _dataset(letters).assign(feeling_valued_baseline=np.nan)
    assert "feeling_valued_baseline" not in primary_model(blank, letters).formula


def test_cluster_trial_states_cr2_by_building_and_cace_when_uptake_is_partial():
    coffee = _design("coffee")
    model = primary_model(_dataset(coffee), coffee)
    assert model.formula == "swemwbs_endline ~ arm + swemwbs_baseline"
    assert model.standard_errors == (
        "CR2 (Bell-McCaffrey, Satterthwaite df) clustered by building (column 'cluster')"
    )
    assert (
        model.iv_formula == "swemwbs_endline ~ took_up + swemwbs_baseline | arm + swemwbs_baseline"
    )
    full = _dataset(coffee).assign(took_up=lambda d: (d["arm"] != "control").astype(int))
    assert primary_model(full, coffee).iv_formula is None  # 100% uptake: no CACE
    do = stata_script(model, trial_id="coffee", design_hash="h", data_file="coffee_analysis.dta")
    assert "regress swemwbs_endline i.arm swemwbs_baseline, vce(cluster cluster)\n" in do
    assert "ivregress 2sls swemwbs_endline swemwbs_baseline (took_up = 1.arm), " in do
    assert "not trialflow's CR2" in do  # Stata's cluster SEs are CR1: said, not hidden
    markdown = model_markdown(model)
    assert "`swemwbs_endline ~ arm + swemwbs_baseline`" in markdown
    assert "clustered by building" in markdown


def test_cluster_se_by_and_an_unknown_se_type():
    letters = _design("letters", cluster_se_by="team", se_type="CR1")
    model = primary_model(_dataset(letters), letters)
    assert (model.cluster, model.estimatr_se_type) == ("team", "stata")
    script = r_script(model, trial_id="letters", design_hash="h", data_file="x.csv")
    assert 'clusters = team, se_type = "stata"' in script
    assert "vce(cluster team)" in stata_script(
        model, trial_id="letters", design_hash="h", data_file="x.dta"
    )
    odd = _design("letters", se_type="HC9")
    with pytest.raises(ValueError, match=r"The 'se_type' 'HC9' is not known\. Choose one of: HC0"):
        primary_model(_dataset(odd), odd)


def test_stata_frame_codes_text_columns_with_labels_and_leaves_values_alone(tmp_path):
    letters = _design("letters")
    data = _dataset(letters)
    data.loc[3, "stratum"] = None
    dictionary = pd.DataFrame(
        {"column": data.columns, "description": ["x " * 50 if c == "team" else c for c in data]}
    )
    frame, variable_labels, value_labels = stata_frame(data, dictionary, letters)
    assert value_labels["arm"] == {0: "control", 1: "letter"}
    assert value_labels["stratum"] == {1: "Dudley", 2: "Shropshire"}
    assert np.isnan(frame.loc[3, "stratum"])  # missing stays missing (Stata's '.')
    # not neutralised: Stata and R never evaluate a label, so '=team 0' is kept as it is
    assert value_labels["team"] == {1: "=team 0", 2: "=team 1", 3: "=team 2"}
    assert frame["participant_id"].tolist() == data["participant_id"].tolist()
    assert len(variable_labels["team"]) == 80 and variable_labels["team"].endswith("...")
    path = tmp_path / "t.dta"
    frame.to_stata(
        path, write_index=False, version=118, variable_labels=variable_labels,
        value_labels=value_labels,
    )  # fmt: skip
    back = pd.read_stata(path)
    assert back["arm"].tolist() == data["arm"].tolist()
    assert list(back["arm"].cat.categories) == ["control", "letter"]
    if shutil.which("Rscript") is None:
        pytest.fail("Rscript is not installed: run `make r-deps` (the export test needs it).")
    code = (
        "suppressMessages(library(haven)); d <- read_dta(commandArgs(TRUE)[1]);"
        "cat(names(attr(d$arm, 'labels')), attr(d$stratum, 'label'), sep = '|');"
        "cat('|', as.character(as_factor(d$team))[1], sep = '')"
    )
    run = subprocess.run(
        ["Rscript", "-e", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "control|letter|stratum|=team 0"


def test_labels_and_covariates_of_an_exploratory_analysis():
    assert check_label("hc3_team-2") == "hc3_team-2"
    for bad in ["../x", "", "A", "x/y", "a" * 65, "1abc", None]:
        with pytest.raises(ValueError, match="The exploratory label .* is not valid"):
            check_label(bad)
    assert parse_covariates(" team , tenure,") == ("team", "tenure")
    assert parse_covariates("") == ()
    coffee = _design("coffee")
    with pytest.raises(ValueError, match="must differ from the pre-specified one"):
        exploratory_changes(coffee, covariates=[])  # coffee declares none
    with pytest.raises(ValueError, match="must differ from the pre-specified one"):
        exploratory_changes(coffee, covariates=[], se_type="CR2")
    assert exploratory_changes(coffee, se_type="HC2") == {
        "se_type": {"prespecified": "CR2", "exploratory": "HC2"}
    }
