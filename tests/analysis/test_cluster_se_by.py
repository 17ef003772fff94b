"""Individually randomised trials with standard errors clustered by a grouping (analysis.cluster_se_by).

Staff randomised one by one within LAs but working in teams: the ITT and CACE
must match ``estimatr::lm_robust(clusters = team, se_type = "CR2")`` and
``iv_robust`` (tests/reference/estimatr_reference.R, models ``teams_*``) through
the whole path a user takes: a design file naming ``cluster_se_by``, an
analysis dataset file read as ``trialflow analyse --data`` reads it, and the
results.json written.  Randomisation inference keeps re-drawing individuals
within strata.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.results import analyse_trial
from analysis.results_model import dump_results
from flows.analyse import load_data, write_results
from trial_designs.design import DesignError, TrialDesign, load_design
from trial_designs.randomise import draw_allocations

_PARSER = Path(__file__).resolve().parents[1] / "reference" / "reference_values.py"
_spec = importlib.util.spec_from_file_location("trialflow_reference_values", _PARSER)
reference_values = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = reference_values
_spec.loader.exec_module(reference_values)

REFERENCE = reference_values.load_reference_models()
DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"
RTOL = 1e-6  # the bar; the estimators agree with R to about 1e-11
FIELDS = ("estimate", "std_error", "df", "ci_low", "ci_high", "p_value")


def _design_mapping(**analysis) -> dict:
    """goal_setting.yaml (individual, strata by organisation, SWEMWBS) with these analysis options."""
    mapping = yaml.safe_load((DESIGNS / "goal_setting.yaml").read_text())
    mapping["analysis"] = {**mapping["analysis"], **analysis}
    # the data hold the primary outcome only (a --data file must hold every declared outcome)
    mapping["outcomes"] = [o for o in mapping["outcomes"] if o.get("primary")]
    return mapping


def _design_file(tmp_path: Path, **analysis) -> Path:
    path = tmp_path / "design.yaml"
    mapping = _design_mapping(**analysis)
    # the scoring file is referenced relative to the design
    options = mapping["survey"]["options"]
    options["wrqol_scoring"] = str((DESIGNS / options["wrqol_scoring"]).resolve())
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    return path


def _teams_file(tmp_path: Path, grouping: str = "team") -> Path:
    """tests/reference/data/teams.csv as an analysis dataset file (the shape `export` writes)."""
    raw = reference_values.load_dataset("teams")
    frame = pd.DataFrame(
        {
            "participant_id": raw["id"],
            "arm": np.where(raw["treat"] == 1, "course", "control"),
            "stratum": raw["stratum"],
            "organisation": raw["stratum"],
            grouping: raw["team"],
            "role": np.where(np.arange(len(raw)) % 3 == 0, "team_manager", "social_worker"),
            "took_up": raw["took_up"],
            "swemwbs_baseline": raw["baseline"],
            "swemwbs_endline": raw["y"],
        }
    )
    path = tmp_path / "teams_dataset.csv"
    frame.to_csv(path, index=False, float_format="%.17g")
    return path


def _analyse(tmp_path: Path, grouping: str = "team", ri_draws: int = 200, **analysis) -> dict:
    design = load_design(_design_file(tmp_path, cluster_se_by=grouping, **analysis))
    frame, events, extras = load_data.fn(design, str(_teams_file(tmp_path, grouping)))
    results = analyse_trial(frame, design, ri_draws=ri_draws, events=events, extras=extras)
    written = write_results.fn(design, results, str(tmp_path / "out"))  # validates the schema
    return json.loads(written.read_text())


@pytest.fixture(scope="module")
def clustered(tmp_path_factory) -> dict:
    """results.json of the teams data clustered by team (CR2, 200 RI draws), shared: each
    analysis runs the balance permutations and imputations, seconds apiece."""
    return _analyse(tmp_path_factory.mktemp("clustered"), "team", ri_draws=200)


def _r(model: str, term: str) -> dict:
    row = REFERENCE[model].coefficients.loc[term]
    return {f: float(row[f]) for f in FIELDS}


@pytest.mark.parametrize("grouping", ["team", "village"])
def test_results_json_matches_r_lm_robust_and_iv_robust_clustered_by_team(
    tmp_path, clustered, grouping
):
    # "village": any column of the data can be the grouping, not only a roster field
    results = clustered if grouping == "team" else _analyse(tmp_path, grouping, ri_draws=0)
    primary = results["outcomes"][0]
    itt, cace = primary["estimates"]
    assert (itt["estimand"], cace["estimand"]) == ("ITT", "CACE")
    for ours, model, term in ((itt, "teams_CR2", "treat"), (cace, "teams_iv_CR2", "took_up")):
        expected = _r(model, term)
        for field in FIELDS:
            assert ours[field] == pytest.approx(expected[field], rel=RTOL, abs=0), (model, field)
        # clubSandwich's Satterthwaite test on lm / AER::ivreg gives the same numbers
        club = _r(model.replace("_CR2", "_clubSandwich_CR2"), term)
        assert ours["df"] == pytest.approx(club["df"], rel=RTOL)
        assert ours["se_type"] == "CR2"
        assert ours["se_clustered_by"] == grouping
        assert ours["n_clusters"] == REFERENCE[model].n_clusters == 40
        assert ours["n"] == REFERENCE[model].n
    assert results["trial"]["cluster_se_by"] == grouping
    assert results["trial"]["unit"] == "individual"
    text = results["methods"]["standard_errors"]
    assert f"Standard errors clustered by {grouping} (CR2)" in text
    # the clustering is really applied: R's HC2 SE without clusters is 12% larger here
    # (treatment varies within teams, so team effects partly cancel out of the contrast)
    assert abs(itt["std_error"] / _r("teams_HC2", "treat")["std_error"] - 1) > 0.05


def test_cr1_is_available_and_matches_estimatr_stata(tmp_path):
    itt = _analyse(tmp_path, ri_draws=0, se_type="CR1")["outcomes"][0]["estimates"][0]
    expected = _r("teams_stata", "treat")
    for field in FIELDS:
        assert itt[field] == pytest.approx(expected[field], rel=RTOL, abs=0), field
    assert itt["se_type"] == "CR1"


def test_randomisation_inference_redraws_individuals_within_strata(tmp_path):
    design = TrialDesign.model_validate(_design_mapping(cluster_se_by="team"))
    raw = reference_values.load_dataset("teams")
    roster = pd.DataFrame({"id": raw["id"], "organisation": raw["stratum"], "team": raw["team"]})
    units, draws = draw_allocations(roster, design, n_draws=50, rng=np.random.default_rng(1))
    assert sorted(units) == sorted(raw["id"])  # one unit per participant, not per team
    stratum = raw.set_index("id").loc[list(units), "stratum"].to_numpy()
    team = raw.set_index("id").loc[list(units), "team"].to_numpy()
    for level in np.unique(stratum):
        size = int((stratum == level).sum())
        treated = (draws[:, stratum == level] == 1).sum(axis=1)
        assert set(treated) <= {size // 2, (size + 1) // 2}  # complete randomisation per stratum
    # members of a team are split between arms in almost every draw
    split = [len(set(draws[d, team == "T01"])) == 2 for d in range(len(draws))]
    assert np.mean(split) > 0.9


def test_clustering_changes_the_se_but_not_the_randomisation_inference(tmp_path, clustered):
    clustered = clustered["outcomes"][0]["estimates"][0]
    design = load_design(_design_file(tmp_path))
    frame, _, extras = load_data.fn(design, str(_teams_file(tmp_path)))
    plain = analyse_trial(frame, design, ri_draws=200, extras=extras)["outcomes"][0]["estimates"][0]
    assert plain["se_type"] == "HC2" and plain["se_clustered_by"] is None
    assert plain["n_clusters"] is None
    assert plain["std_error"] == pytest.approx(_r("teams_HC2", "treat")["std_error"], rel=RTOL)
    assert clustered["estimate"] == pytest.approx(plain["estimate"], rel=1e-12)
    # same draws of the individual design, same coefficient statistic
    assert clustered["ri_p_value"] == plain["ri_p_value"]
    assert clustered["ri_draws"] == plain["ri_draws"] == 200


def test_results_are_byte_stable_under_row_order(tmp_path, clustered):
    design = load_design(_design_file(tmp_path, cluster_se_by="team"))
    frame, _, extras = load_data.fn(design, str(_teams_file(tmp_path)))
    shuffled = frame.sample(frac=1.0, random_state=5)
    again = json.loads(dump_results(analyse_trial(shuffled, design, ri_draws=200, extras=extras)))
    assert again == clustered


def test_participants_without_a_team_are_counted_and_warned_about(tmp_path):
    design = load_design(_design_file(tmp_path, cluster_se_by="team"))
    frame, _, extras = load_data.fn(design, str(_teams_file(tmp_path)))
    complete = frame.dropna(subset=["swemwbs_endline", "swemwbs_baseline"])
    frame.loc[complete.index[:7], "team"] = np.nan
    results = analyse_trial(frame, design, ri_draws=50, extras=extras)
    itt = results["outcomes"][0]["estimates"][0]
    assert itt["n"] == REFERENCE["teams_CR2"].n - 7
    assert sum(itt["n_per_arm"].values()) == itt["n"]
    assert sum(b["analysed"] for b in results["consort"]["individuals"].values()) == itt["n"]
    assert any("7 participant(s) have no 'team'" in w for w in results["warnings"])


def test_a_cluster_se_by_column_missing_from_the_data_is_named(tmp_path):
    design = load_design(_design_file(tmp_path, cluster_se_by="village"))
    frame, _, extras = load_data.fn(design, str(_teams_file(tmp_path, "team")))
    with pytest.raises(ValueError, match=r"'analysis.cluster_se_by' names the column 'village'"):
        analyse_trial(frame, design, ri_draws=0, extras=extras)


# ---------------------------------------------------------------------------
# validate
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("se_type", ["CR0", "CR1", "CR2"])
def test_a_cluster_robust_se_type_without_cluster_se_by_is_a_validate_error(tmp_path, se_type):
    # before cluster_se_by this validated and then failed at analyse with
    # "needs clusters. Got clusters=None instead"
    path = _design_file(tmp_path, se_type=se_type)
    with pytest.raises(
        DesignError,
        match=rf"'analysis.se_type' '{se_type}' is cluster-robust.*"
        r"Add 'analysis.cluster_se_by: <column>' \(e.g. team\)",
    ):
        load_design(path)


def test_cluster_se_by_with_an_hc_se_type_is_a_validate_error(tmp_path):
    path = _design_file(tmp_path, se_type="HC2", cluster_se_by="team")
    with pytest.raises(
        DesignError, match=r"'analysis.se_type' must be cluster-robust: one of CR0, CR1, CR2"
    ):
        load_design(path)


def test_cluster_se_by_in_a_cluster_trial_is_a_validate_error():
    mapping = yaml.safe_load((DESIGNS / "coffee.yaml").read_text())
    mapping["analysis"] = {**mapping.get("analysis", {}), "cluster_se_by": "team"}
    with pytest.raises(ValueError, match=r"already clustered by its unit of randomisation"):
        TrialDesign.model_validate(mapping)


def test_cluster_se_by_defaults_se_type_to_cr2_and_is_in_the_design_schema():
    design = TrialDesign.model_validate(_design_mapping(cluster_se_by="team"))
    assert design.analysis.cluster_se_by == "team"
    schema = json.loads((DESIGNS / "design.schema.json").read_text())
    analysis = schema["$defs"]["Analysis"]["properties"]
    assert "cluster_se_by" in analysis
    assert "CR2" in analysis["cluster_se_by"]["description"]


def test_the_report_methods_say_standard_errors_clustered_by_team(clustered):
    from reports.render import render_trial

    html = render_trial(clustered)
    assert "Standard errors clustered by team (CR2)" in html
    assert "ITT: CR2, clustered by team (40 clusters)" in html
    assert "CACE: CR2, clustered by team (40 clusters)" in html


def test_the_data_dictionary_says_what_standard_errors_are_clustered_by():
    from analysis.dataset import data_dictionary

    frame = pd.DataFrame(columns=["participant_id", "cluster", "team"])
    with_team = TrialDesign.model_validate(_design_mapping(cluster_se_by="team"))
    without = TrialDesign.model_validate(_design_mapping())
    entry = data_dictionary(frame, with_team).set_index("column")["description"]["cluster"]
    assert "Standard errors are clustered by 'team'" in entry
    entry = data_dictionary(frame, without).set_index("column")["description"]["cluster"]
    assert "clustered" not in entry


def test_methods_text_for_cr1_names_its_small_sample_factor_and_df():
    from analysis.sections.methods import standard_errors_text

    design = TrialDesign.model_validate(_design_mapping(cluster_se_by="team", se_type="CR1"))
    text = standard_errors_text(design, "CR1", "team")
    assert text.startswith("Standard errors clustered by team (CR1)")
    assert "df = G - 1" in text


def test_an_empty_cluster_se_by_column_is_named_not_fitted(tmp_path):
    # e.g. a roster that never mapped 'team': every participant would be dropped
    design = load_design(_design_file(tmp_path, cluster_se_by="team"))
    frame, _, extras = load_data.fn(design, str(_teams_file(tmp_path)))
    frame["team"] = np.nan
    with pytest.raises(ValueError, match=r"'team' named by 'analysis.cluster_se_by' has no values"):
        analyse_trial(frame, design, ri_draws=0, extras=extras)


def test_a_roster_covariate_is_a_grouping_too_through_the_store_dataset():
    # the store path: participants and long values -> analysis_dataset -> analyse_trial,
    # clustering by a declared roster covariate ('village') rather than a roster field
    from analysis.dataset import analysis_dataset

    mapping = _design_mapping(cluster_se_by="village")
    mapping["roster"]["covariates"] = ["village"]
    design = TrialDesign.model_validate(mapping)
    raw = reference_values.load_dataset("teams")
    participants = pd.DataFrame(
        {
            "participant_id": raw["id"],
            "unit_id": raw["id"],
            "stratum": raw["stratum"],
            "arm": np.where(raw["treat"] == 1, "course", "control"),
            "organisation": raw["stratum"],
            "building": "B1",
            "team": "all in one",  # the roster's team is not the grouping here
            "role": "social_worker",
            "covariates_json": [json.dumps({"village": t}) for t in raw["team"]],
        }
    )
    values = pd.concat(
        [
            pd.DataFrame(
                {"participant_id": raw["id"], "timepoint": timepoint, "measure": "swemwbs_metric"}
            ).assign(value=raw[column].to_numpy())
            for timepoint, column in (("baseline", "baseline"), ("endline", "y"))
        ]
    ).dropna(subset=["value"])
    data = analysis_dataset(participants, values, design)
    itt = analyse_trial(data, design, ri_draws=0)["outcomes"][0]["estimates"][0]
    expected = _r("teams_CR2", "treat")
    for field in FIELDS:
        assert itt[field] == pytest.approx(expected[field], rel=RTOL, abs=0), field
    assert (itt["se_clustered_by"], itt["n_clusters"]) == ("village", 40)


def test_hedges_g_interval_is_the_clustered_interval_rescaled(clustered):
    itt = clustered["outcomes"][0]["estimates"][0]
    # g = J d / s and its interval J (CI) / s: the same t(df) and clustered SE as the effect
    scale = itt["hedges_g"] / itt["estimate"]
    assert itt["hedges_g_ci_low"] == pytest.approx(itt["ci_low"] * scale, rel=1e-9)
    assert itt["hedges_g_ci_high"] == pytest.approx(itt["ci_high"] * scale, rel=1e-9)
