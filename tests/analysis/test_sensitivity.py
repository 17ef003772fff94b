"""Attrition and the primary's missing-data sensitivity analyses, as results.json carries them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.estimators import fit_itt
from analysis.sections import missing_data

TRUE_EFFECT = 1.0


def attrition_section(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201
    """The attrition section as results.json holds it."""
    return missing_data.attrition_section(*args, **kwargs).to_json_dict()


def missing_data_sensitivity(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201
    """The sensitivity rows as results.json holds them, and the warnings."""
    rows, warnings = missing_data.missing_data_sensitivity(*args, **kwargs)
    return [row.to_json_dict() for row in rows], warnings


def _trial(n: int = 1200, seed: int = 11, mar: bool = True) -> pd.DataFrame:
    """Staff whose effect is larger for seniors, who also respond less when treated.

    With responders over-representing juniors in the treated arm, complete
    cases underestimate the average effect; response depends only on
    observed baseline data, so IPW and MI can put it right.
    """
    rng = np.random.default_rng(seed)
    senior = rng.random(n) < 0.5
    treated = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)])
    baseline = rng.normal(20, 3, n) + 2 * senior
    effect = np.where(senior, 1.6, 0.4)  # averages TRUE_EFFECT
    y = 5 + 0.7 * baseline + effect * treated + rng.normal(0, 1.5, n)
    respond_p = np.where((treated == 1) & senior, 0.35, 0.9) if mar else np.full(n, 0.7)
    y[rng.random(n) > respond_p] = np.nan
    return pd.DataFrame(
        {
            "participant_id": [f"P{i:04d}" for i in range(n)],
            "arm": np.where(treated == 1, "course", "control"),
            "arm[course]": treated,
            "role": np.where(senior, "Senior", "Junior"),
            "y_baseline": baseline,
            "y_endline": y,
        }
    )


def _run(data: pd.DataFrame, seed: int = 3, m: int = 20):
    return missing_data_sensitivity(
        data,
        endline="y_endline",
        treatment="arm[course]",
        arm="course",
        covariates=["y_baseline"],
        response_covariates=["role", "y_baseline"],
        strata=None,
        cluster=None,
        se_type="HC2",
        rng=np.random.default_rng(seed),
        m=m,
    )


def test_attrition_counts_follow_the_endline_and_keep_arm_order():
    data = _trial()
    section = attrition_section(data, endline="y_endline", arm_order=["control", "course"])
    assert [r["arm"] for r in section["by_arm"]] == ["control", "course"]
    for row in section["by_arm"]:
        group = data[data["arm"] == row["arm"]]
        assert row["allocated"] == len(group)
        assert row["followed_up"] == group["y_endline"].notna().sum()
        assert row["lost"] == row["allocated"] - row["followed_up"]
        assert row["lost_pct"] == pytest.approx(100 * row["lost"] / row["allocated"])
    assert section["test"]["method"] == "chi-square"
    assert section["test"]["p_value"] < 1e-6  # seniors in the course arm were lost far more


def test_complete_case_row_is_the_primary_fit():
    data = _trial()
    rows, warnings = _run(data)
    assert [r["method"] for r in rows] == ["complete_case", "ipw", "multiple_imputation"]
    assert warnings == []
    primary = fit_itt(
        data, outcome="y_endline", treatment_columns=["arm[course]"], covariates=["y_baseline"]
    ).fit["arm[course]"]
    assert rows[0]["estimate"] == pytest.approx(primary.estimate, rel=1e-12)
    assert rows[0]["std_error"] == pytest.approx(primary.std_error, rel=1e-12)


def test_ipw_moves_towards_the_truth_when_response_depends_on_observed_data():
    data = _trial()
    rows, _ = _run(data)
    complete, ipw, mi = (r["estimate"] for r in rows)
    # complete cases: the treated responders are mostly juniors, whose effect is 0.4
    assert complete < TRUE_EFFECT - 0.2
    # IPW reweights treated seniors back up; the effect's heterogeneity is by role, which
    # is in the response model, so IPW is consistent here
    assert abs(ipw - TRUE_EFFECT) < abs(complete - TRUE_EFFECT) / 2
    assert rows[1]["ci_low"] < TRUE_EFFECT < rows[1]["ci_high"]
    # MI's imputation model has no role x arm interaction, so it is not expected to
    # remove this bias; it pools all 20 imputations over everyone randomised, and its
    # Barnard-Rubin df never exceeds the complete-data df
    assert rows[2]["n"] == len(data)
    assert "imputed 20 times" in rows[2]["detail"]
    assert np.isfinite(mi) and rows[2]["df"] <= rows[0]["df"]


def test_when_loss_is_completely_at_random_all_three_agree():
    rows, _ = _run(_trial(mar=False))
    estimates = [r["estimate"] for r in rows]
    assert max(estimates) - min(estimates) < 0.1
    for row in rows:
        assert row["ci_low"] < TRUE_EFFECT < row["ci_high"]


def test_mi_is_reproducible_from_its_generator_and_varies_with_it():
    data = _trial(n=400)
    first, _ = _run(data, seed=5, m=5)
    again, _ = _run(data, seed=5, m=5)
    other, _ = _run(data, seed=6, m=5)
    assert first == again
    assert first[2]["estimate"] != other[2]["estimate"]


def test_with_no_one_lost_there_is_only_the_primary_and_a_note():
    data = _trial(n=300)
    data["y_endline"] = data["y_endline"].fillna(20.0)
    rows, warnings = _run(data, m=5)
    assert [r["method"] for r in rows] == ["complete_case"]
    assert warnings == ["Every participant was followed up: no missing-data sensitivity analysis."]


def test_in_a_small_cluster_trial_the_mi_df_is_capped_at_the_cr2_df_not_collapsed():
    rng = np.random.default_rng(21)
    clusters = np.repeat(np.arange(6), 40)
    treated = np.isin(clusters, [0, 2, 4]).astype(float)
    baseline = rng.normal(20, 3, clusters.size) + rng.normal(0, 1, 6)[clusters]
    y = (
        5
        + 0.7 * baseline
        + treated
        + rng.normal(0, 1, 6)[clusters]
        + rng.normal(0, 1.5, clusters.size)
    )
    y[rng.random(clusters.size) < 0.3] = np.nan
    data = pd.DataFrame(
        {
            "participant_id": [f"P{i:04d}" for i in range(clusters.size)],
            "arm": np.where(treated == 1, "course", "control"),
            "arm[course]": treated,
            "cluster": clusters.astype(str),
            "role": "Social worker",
            "y_baseline": baseline,
            "y_endline": y,
        }
    )
    rows, _ = missing_data_sensitivity(
        data,
        endline="y_endline",
        treatment="arm[course]",
        arm="course",
        covariates=["y_baseline"],
        response_covariates=["y_baseline"],
        strata=None,
        cluster="cluster",
        se_type="CR2",
        rng=np.random.default_rng(4),
        m=10,
    )
    complete, ipw, mi = rows
    assert complete["df"] < 5  # Satterthwaite df with 6 clusters
    assert ipw["df"] == pytest.approx(complete["df"], rel=0.5)
    # Barnard-Rubin would give about (df + 1) / (df + 3) x df x (1 - lambda), near half;
    # the cap is the CR2 df of the completed data (all 240 rows), close to the primary's
    cap = float(mi["detail"].split("CR2 df, ")[1].split(";")[0])
    assert mi["df"] <= cap + 0.05 and 0.8 * complete["df"] < mi["df"] < 1.2 * complete["df"]
    assert "capped at the complete-data CR2 df" in mi["detail"]
    from scipy import stats

    half = stats.t.ppf(0.975, mi["df"]) * mi["std_error"]
    assert mi["ci_high"] - mi["ci_low"] == pytest.approx(2 * half)


def _stratified_trial(n: int = 1500, strata: int = 30, seed: int = 31) -> pd.DataFrame:
    """_trial's staff in ``strata`` sites, each site shifting the outcome."""
    data = _trial(n=n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    site = rng.integers(0, strata, n)
    return data.assign(
        site=[f"Site {s:02d}" for s in site],
        y_endline=data["y_endline"] + rng.normal(0, 2, strata)[site],
    )


def _run_stratified(data: pd.DataFrame, m: int = 10):
    return missing_data_sensitivity(
        data,
        endline="y_endline",
        treatment="arm[course]",
        arm="course",
        covariates=["y_baseline"],
        response_covariates=["role", "y_baseline"],
        strata="site",
        cluster=None,
        se_type="HC2",
        rng=np.random.default_rng(7),
        m=m,
    )


def test_the_imputation_model_switches_past_either_limit(monkeypatch):
    limit = missing_data.MI_INDICATOR_MAX_STRATA
    data = _stratified_trial(n=400, strata=limit)
    assert data["site"].nunique() == limit
    assert missing_data.imputation_method(data, strata="site") == "chained_bootstrap"
    assert missing_data.imputation_method(data, strata=None) == "chained_bootstrap"
    # one stratum more, even if it is the missing one, and the strata are absorbed
    more = data.assign(site=data["site"].where(data.index > 0))
    assert missing_data.imputation_method(more, strata="site") == "normal_absorbed"
    monkeypatch.setattr(missing_data, "MI_INDICATOR_MAX_ROWS", len(data) - 1)
    assert missing_data.imputation_method(data, strata=None) == "normal_absorbed"


def test_with_many_strata_mi_absorbs_them_and_agrees_with_the_indicator_path(monkeypatch):
    data = _stratified_trial()
    rows, _ = _run_stratified(data)
    absorbed = rows[2]
    assert absorbed["method"] == "multiple_imputation" and absorbed["n"] == len(data)
    assert "Bayesian normal linear regression" in absorbed["detail"]
    assert "IterativeImputer" not in absorbed["detail"]
    # the same analysis with the 30 strata as indicator columns of IterativeImputer: both
    # impute from a normal linear model with the analysis model's terms, so they agree
    monkeypatch.setattr(missing_data, "MI_INDICATOR_MAX_STRATA", 100)
    rows, _ = _run_stratified(data)
    indicators = rows[2]
    assert "IterativeImputer" in indicators["detail"]
    assert abs(absorbed["estimate"] - indicators["estimate"]) < 0.3 * absorbed["std_error"]
    assert absorbed["std_error"] == pytest.approx(indicators["std_error"], rel=0.15)
    # and the only column with gaps is the outcome, modelled as the analysis models it:
    # the pooled estimate is the complete-case one up to imputation noise
    assert abs(absorbed["estimate"] - rows[0]["estimate"]) < 0.3 * rows[0]["std_error"]


def test_the_methods_text_names_the_imputation_model_used():
    from analysis.sections.methods import methods_section
    from trial_designs.design import load_design

    design = load_design("trial_designs/letters.yaml")
    texts = {
        method: methods_section(design, "HC2", 100, None, imputation=method).missing_data
        for method in ("chained_bootstrap", "normal_absorbed")
    }
    assert "IterativeImputer with posterior draws, m = 20" in texts["chained_bootstrap"]
    assert "Bayesian normal linear regression" not in texts["chained_bootstrap"]
    assert "stratum fixed effects (absorbed)" in texts["normal_absorbed"]
    assert "IterativeImputer" not in texts["normal_absorbed"]
    # the default is the model every trial under the limits has always had
    assert methods_section(design, "HC2", 100, None).missing_data == texts["chained_bootstrap"]


def test_the_analysis_plan_states_the_rule_that_chooses_the_imputation_model():
    # A hostile review: the registered plan said IterativeImputer for every trial, while a
    # trial above 20 strata or 50,000 participants is imputed by normal regression.
    from analysis.sap import build_sap
    from trial_designs.design import load_design

    text = build_sap(load_design("trial_designs/letters.yaml"))["missing_data"]["text"]
    assert (
        "IterativeImputer with posterior draws in a trial of at most 50,000 participants and "
        "20 strata; above either, Bayesian normal linear regression"
    ) in text
