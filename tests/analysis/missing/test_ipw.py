"""analysis.missing.ipw: inverse-probability-of-response weights."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score

from analysis.missing.ipw import ipw_weights


# ---------------------------------------------------------------------------
# IPW
# ---------------------------------------------------------------------------
def _attrition_trial(rng, n=600):
    arm = rng.choice(["control", "course"], n)
    baseline = rng.normal(size=n)
    la = rng.choice(["A", "B", "C"], n)
    logit = 0.8 + 0.9 * baseline - 0.5 * (arm == "course") + 0.4 * (la == "B")
    responded = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"arm": arm, "baseline": baseline, "la": la, "responded": responded})


def test_ipw_is_the_maximum_likelihood_logit(rng):
    data = _attrition_trial(rng)
    result = ipw_weights(data, responded="responded", covariates=["baseline", "la"], arm="arm")
    design = sm.add_constant(
        np.column_stack(
            [data["baseline"], data["la"] == "B", data["la"] == "C", data["arm"] == "course"]
        ).astype(float)
    )
    reference = sm.Logit(data["responded"].astype(float), design).fit(disp=0).predict(design)
    np.testing.assert_allclose(result.propensity.to_numpy(), reference, rtol=1e-6)
    responders = data["responded"].to_numpy()
    np.testing.assert_allclose(result.weights[responders], 1 / reference[responders], rtol=1e-6)
    assert (result.weights[~responders] == 0).all()
    assert result.model_terms == ("baseline", "la=B", "la=C", "arm=course")
    # E(R / p) = 1, so the weights add up to about the number randomised
    assert result.weights.sum() == pytest.approx(len(data), rel=0.05)
    assert 0.6 < result.auc < 0.9


def test_stabilised_weights_are_scaled_by_the_arm_response_rate(rng):
    data = _attrition_trial(rng)
    plain = ipw_weights(data, responded="responded", covariates=["baseline"], arm="arm")
    result = ipw_weights(
        data, responded="responded", covariates=["baseline"], arm="arm", stabilised=True
    )
    rate = data.groupby("arm")["responded"].transform("mean")
    np.testing.assert_allclose(result.weights, plain.weights * rate, rtol=1e-12)
    # so each arm's responders carry about their own number, not the arm's size
    for _label, group in data.groupby("arm"):
        assert result.weights[group.index].sum() == pytest.approx(
            group["responded"].sum(), rel=0.05
        )
    assert result.effective_sample_size < result.n_responded
    assert result.stabilised and not plain.stabilised


def test_trimming_caps_weights_at_the_declared_percentile(rng):
    data = _attrition_trial(rng)
    untrimmed = ipw_weights(data, responded="responded", covariates=["baseline"], arm="arm")
    trimmed = ipw_weights(
        data, responded="responded", covariates=["baseline"], arm="arm", trim_percentile=95
    )
    responders = data["responded"].to_numpy()
    threshold = np.percentile(untrimmed.weights[responders], 95)
    assert trimmed.trim_threshold == pytest.approx(threshold)
    assert trimmed.max_weight == pytest.approx(threshold)
    expected = np.minimum(untrimmed.weights[responders], threshold)
    np.testing.assert_allclose(trimmed.weights[responders], expected)
    assert trimmed.n_trimmed == int((untrimmed.weights[responders] > threshold).sum()) > 0
    assert trimmed.effective_sample_size > untrimmed.effective_sample_size


def test_ipw_corrects_bias_from_covariate_dependent_response():
    rng = np.random.default_rng(31)
    n = 4000
    arm = rng.choice(["control", "course"], n)
    baseline = rng.normal(size=n)
    y = 2.0 * baseline + rng.normal(size=n)  # mean 0 in both arms
    responded = rng.random(n) < 1 / (1 + np.exp(-(0.3 + 1.5 * baseline)))
    data = pd.DataFrame({"arm": arm, "baseline": baseline, "responded": responded})
    result = ipw_weights(data, responded="responded", covariates=["baseline"], arm="arm")
    naive = y[responded].mean()
    weighted = np.average(y[responded], weights=result.weights[responded])
    assert naive > 0.8  # responders have high baselines
    assert abs(weighted) < 0.15


def test_ipw_errors_and_json(rng):
    data = _attrition_trial(rng, n=100)
    with pytest.raises(ValueError, match=r"'trim_percentile' must lie in \(50, 100\]. Got 0.99"):
        ipw_weights(
            data, responded="responded", covariates=["baseline"], arm="arm", trim_percentile=0.99
        )
    with pytest.raises(ValueError, match="both responders and non-responders"):
        ipw_weights(
            data.assign(responded=True), responded="responded", covariates=["baseline"], arm="arm"
        )
    with pytest.raises(
        ValueError, match="have missing values, which covariate_missing='error' refuses"
    ):
        ipw_weights(
            data.assign(baseline=np.where(np.arange(100) < 5, np.nan, data["baseline"])),
            responded="responded",
            covariates=["baseline"],
            arm="arm",
            covariate_missing="error",
        )
    payload = ipw_weights(data, responded="responded", covariates=["baseline"], arm="arm").to_dict()
    assert json.loads(json.dumps(payload)) == payload and "weights" not in payload


# ---------------------------------------------------------------------------
# The response model fitted on distinct (covariates, arm) patterns
# ---------------------------------------------------------------------------
def _organisation_trial(rng, n=4000, arms=("control", "offer", "reminder")):
    organisation = rng.integers(0, 40, n)
    part_time = rng.integers(0, 2, n)
    arm = rng.choice(arms, n)
    logit = 0.4 + rng.normal(0, 0.6, 40)[organisation] + 0.5 * part_time - 0.4 * (arm == "offer")
    return pd.DataFrame(
        {
            "arm": arm,
            "organisation": pd.Series(np.char.add("Org ", organisation.astype(str))).where(
                rng.random(n) > 0.05
            ),
            "part_time": part_time,
            "responded": rng.random(n) < 1 / (1 + np.exp(-logit)),
        }
    )


@pytest.mark.parametrize("options", [{}, {"stabilised": True, "trim_percentile": 99}])
def test_fit_on_patterns_is_the_row_level_fit(rng, options):
    data = _organisation_trial(rng)
    kwargs = {"responded": "responded", "covariates": ["organisation", "part_time"], "arm": "arm"}
    rows = ipw_weights(data, fit_on="rows", **kwargs, **options)
    patterns = ipw_weights(data, fit_on="patterns", **kwargs, **options)
    assert (rows.fitted_on, patterns.fitted_on) == ("rows", "patterns")
    np.testing.assert_allclose(patterns.propensity, rows.propensity, rtol=0, atol=1e-8)
    np.testing.assert_allclose(patterns.weights, rows.weights, rtol=1e-8, atol=0)
    assert patterns.auc == pytest.approx(rows.auc, abs=1e-12)  # the counts-weighted AUC
    assert patterns.effective_sample_size == pytest.approx(rows.effective_sample_size, rel=1e-10)
    assert patterns.model_terms == rows.model_terms and "organisation=missing" in rows.model_terms
    assert (patterns.n_trimmed, patterns.n_responded) == (rows.n_trimmed, rows.n_responded)
    # the AUC of the compressed rows is the row-level AUC because the counts weight it
    unweighted_patterns = data.drop_duplicates(["organisation", "part_time", "arm", "responded"])
    assert len(unweighted_patterns) < len(data) / 5
    assert roc_auc_score(
        unweighted_patterns["responded"], rows.propensity[unweighted_patterns.index]
    ) != pytest.approx(rows.auc, abs=1e-6)


def test_auto_fits_on_patterns_only_for_large_trials_with_few_patterns(rng, monkeypatch):
    data = _organisation_trial(rng, n=2000, arms=("control", "offer"))
    kwargs = {"responded": "responded", "arm": "arm"}
    assert ipw_weights(data, covariates=["organisation"], **kwargs).fitted_on == "rows"
    monkeypatch.setattr("analysis.missing.ipw.PATTERN_FIT_MIN_N", 1_000)
    assert ipw_weights(data, covariates=["organisation"], **kwargs).fitted_on == "patterns"
    continuous = data.assign(score=rng.normal(size=2000))
    assert ipw_weights(continuous, covariates=["score"], **kwargs).fitted_on == "sparse"
    with pytest.raises(
        ValueError,
        match="'fit_on' 'cells' is not known. Choose one of: auto, rows, patterns, sparse",
    ):
        ipw_weights(data, covariates=["organisation"], fit_on="cells", **kwargs)
    with pytest.raises(ValueError, match=r"column\(s\) 'grade' are not in the data"):
        ipw_weights(data, covariates=["grade"], fit_on="patterns", **kwargs)


@pytest.mark.parametrize("options", [{}, {"stabilised": True, "trim_percentile": 99}])
def test_fit_on_sparse_rows_is_the_dense_row_fit(rng, options):
    data = _organisation_trial(rng, n=3000).assign(
        baseline=lambda d: np.where(rng.random(len(d)) < 0.1, np.nan, rng.normal(size=len(d)))
    )
    kwargs = {"responded": "responded", "covariates": ["organisation", "baseline"], "arm": "arm"}
    rows = ipw_weights(data, fit_on="rows", **kwargs, **options)
    sparse = ipw_weights(data, fit_on="sparse", **kwargs, **options)
    assert sparse.fitted_on == "sparse"
    np.testing.assert_allclose(sparse.propensity, rows.propensity, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sparse.weights, rows.weights, rtol=1e-8, atol=0)
    assert sparse.auc == pytest.approx(rows.auc, abs=1e-12)
    assert sparse.effective_sample_size == pytest.approx(rows.effective_sample_size, rel=1e-10)
    assert sparse.model_terms == rows.model_terms and "baseline=missing" in rows.model_terms
