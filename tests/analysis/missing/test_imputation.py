"""analysis.missing.imputation: the two imputation models and Rubin's rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from analysis.missing import imputation
from analysis.missing.imputation import multiple_imputation, rubin_pool


# ---------------------------------------------------------------------------
# Multiple imputation
# ---------------------------------------------------------------------------
def _incomplete(rng, n=300):
    baseline = rng.normal(20, 3, n)
    treated = rng.integers(0, 2, n).astype(float)
    endline = 5 + 0.8 * baseline + 1.0 * treated + rng.normal(0, 2, n)
    endline[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "treated": treated,
            "baseline": baseline,
            "endline": endline,
            "la": "A",
        }
    )


def test_imputation_fills_only_the_gaps_and_is_reproducible():
    data = _incomplete(np.random.default_rng(5))
    columns = ["treated", "baseline", "endline"]
    first = list(multiple_imputation(data, columns=columns, m=4, rng=np.random.default_rng(1)))
    again = list(multiple_imputation(data, columns=columns, m=4, rng=np.random.default_rng(1)))
    assert len(first) == 4
    observed = data["endline"].notna()
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(a, b)
        assert a["endline"].notna().all()
        np.testing.assert_array_equal(a.loc[observed, "endline"], data.loc[observed, "endline"])
        pd.testing.assert_frame_equal(a[["id", "la", "baseline"]], data[["id", "la", "baseline"]])
    # posterior draws: the copies differ where values were missing
    assert not np.allclose(first[0].loc[~observed, "endline"], first[1].loc[~observed, "endline"])
    assert data["endline"].isna().any()  # the input is not modified


@pytest.mark.parametrize("method", sorted(imputation.IMPUTATION_METHODS))
def test_imputation_and_rubin_recover_the_effect(method):
    data = _incomplete(np.random.default_rng(6), n=400)
    completed = multiple_imputation(
        data,
        columns=["treated", "baseline", "endline"],
        m=10,
        rng=np.random.default_rng(2),
        method=method,
    )
    estimates, variances = [], []
    for frame in completed:
        fit = sm.OLS(frame["endline"], sm.add_constant(frame[["treated", "baseline"]])).fit()
        estimates.append(fit.params["treated"])
        variances.append(fit.bse["treated"] ** 2)
    pooled = rubin_pool(estimates, variances, df_complete=400 - 3)
    assert pooled.between_variance > 0 and 0 < pooled.fmi < 0.6
    # only the outcome is missing, completely at random: imputation from the same model
    # reproduces the complete-case estimate up to imputation noise, with no smaller SE
    complete_case = data.dropna()
    cc_fit = sm.OLS(
        complete_case["endline"], sm.add_constant(complete_case[["treated", "baseline"]])
    ).fit()
    assert abs(pooled.estimate - cc_fit.params["treated"]) < 0.5 * cc_fit.bse["treated"]
    assert 0.85 * cc_fit.bse["treated"] < pooled.std_error < 1.5 * cc_fit.bse["treated"]
    assert pooled.m == 10 and pooled.df < 397


def test_imputation_argument_checks(rng):
    data = _incomplete(rng, n=30)
    with pytest.raises(ValueError, match="'m' must be an integer of at least 2. Got 1"):
        multiple_imputation(data, columns=["endline", "baseline"], m=1, rng=rng)
    with pytest.raises(ValueError, match=r"imputation columns \['la'\] are not numeric"):
        multiple_imputation(data, columns=["endline", "la"], rng=rng)
    with pytest.raises(ValueError, match=r"column\(s\) 'wrqol' are not in the data"):
        multiple_imputation(data, columns=["wrqol"], rng=rng)
    with pytest.raises(ValueError, match="no observed values"):
        multiple_imputation(data.assign(endline=np.nan), columns=["endline", "baseline"], rng=rng)
    with pytest.raises(ValueError, match=r"imputation columns \['baseline'\] hold infinite values"):
        multiple_imputation(data.assign(baseline=np.inf), columns=["endline", "baseline"], rng=rng)
    with pytest.raises(ValueError, match="'method' 'mice' is not known. Choose one of: chained_"):
        multiple_imputation(data, columns=["endline", "baseline"], rng=rng, method="mice")
    with pytest.raises(ValueError, match=r"column\(s\) 'site' are not in the data"):
        multiple_imputation(data, columns=["endline"], rng=rng, strata="site")


# ---------------------------------------------------------------------------
# normal_absorbed: Bayesian normal regression with the strata absorbed
# ---------------------------------------------------------------------------
TAU = 0.5


def _stratified(rng, n=120, strata=6, p_respond=-0.4):
    """y on arm, x and a stratum effect; y missing at random given x and arm."""
    stratum = rng.integers(0, strata, n)
    x = rng.normal(size=n)
    arm = (rng.random(n) < 0.5).astype(float)
    y = 0.4 * stratum + 0.8 * x + TAU * arm + rng.normal(size=n)
    respond = 1 / (1 + np.exp(-(p_respond + 1.2 * x - 0.8 * arm)))
    y[rng.random(n) > respond] = np.nan
    return pd.DataFrame({"y": y, "x": x, "arm": arm, "stratum": stratum})


def _dummy_ols(frame, strata):
    """The arm's coefficient, its classical variance and df, with a dummy per stratum."""
    design = np.column_stack([frame["arm"], frame["x"], np.eye(strata)[frame["stratum"]]])
    outcome = frame["y"].to_numpy()
    coef, *_ = np.linalg.lstsq(design, outcome, rcond=None)
    residual = outcome - design @ coef
    df = len(outcome) - design.shape[1]
    return coef[0], np.linalg.inv(design.T @ design)[0, 0] * (residual @ residual) / df, df


def test_within_fit_equals_dummy_variable_ols():
    rng = np.random.default_rng(4)
    data = _stratified(rng, n=3000, strata=40)
    # a predictor constant within strata is collinear with them: it must be left out
    data["level"] = data["stratum"] * 0.3 + 1.0
    columns = ["y", "arm", "x", "level"]
    values = data[columns].to_numpy(dtype=float)
    codes, levels = imputation._stratum_codes(data["stratum"])
    observed = data["y"].notna().to_numpy()
    fit = imputation._within_fit(values, codes, levels, 0, observed, columns)

    rows = data[observed]
    dummies = np.eye(levels)[codes[observed]]
    design = np.column_stack([rows["arm"], rows["x"], dummies])
    coef, *_ = np.linalg.lstsq(design, rows["y"].to_numpy(), rcond=None)
    residual = rows["y"].to_numpy() - design @ coef
    assert fit.kept.tolist() == [True, True, False]
    np.testing.assert_allclose(fit.beta, coef[:2], rtol=0, atol=1e-10)
    # the stratum intercepts and the residual sum of squares are the dummies' too
    intercepts = fit.y_mean - fit.x_mean @ fit.beta
    np.testing.assert_allclose(intercepts, coef[2:], rtol=0, atol=1e-10)
    assert fit.rss == pytest.approx(residual @ residual, rel=1e-10)
    assert fit.df == observed.sum() - levels - 2
    # the posterior precision factor is the within cross-product's: R'R = X~'X~
    within = design[:, :2] - dummies @ np.linalg.lstsq(dummies, design[:, :2], rcond=None)[0]
    np.testing.assert_allclose(fit.root.T @ fit.root, within.T @ within, rtol=1e-10)


def _coverage(reps, seed=0, m=5):
    """Bias, its Monte Carlo SE and the Rubin 95% interval's coverage of TAU."""
    rng = np.random.default_rng(seed)
    estimates, covered = [], 0
    for _ in range(reps):
        data = _stratified(rng)
        fits = [
            _dummy_ols(frame, 6)
            for frame in multiple_imputation(
                data,
                columns=["y", "x", "arm"],
                strata="stratum",
                m=m,
                rng=rng,
                method="normal_absorbed",
            )
        ]
        pooled = rubin_pool([f[0] for f in fits], [f[1] for f in fits], df_complete=fits[0][2])
        estimates.append(pooled.estimate)
        covered += pooled.ci_low <= TAU <= pooled.ci_high
    estimates = np.asarray(estimates)
    return estimates.mean() - TAU, estimates.std(ddof=1) / np.sqrt(reps), covered / reps


REPS = 300


def test_normal_absorbed_is_unbiased_and_covers_at_the_nominal_rate():
    # 300 simulated trials, ~55% of outcomes missing at random given x and arm.  Over 2,000
    # trials (seed 7) this imputation covers 94.9%; the Monte Carlo SE of a 300-trial
    # coverage is 1.3 points, so 91% is 3 SEs below the nominal 95%
    bias, mc_se, coverage = _coverage(REPS)
    assert abs(bias) < 3 * mc_se
    assert 0.91 <= coverage <= 0.985


def test_an_improper_imputation_fails_the_coverage_check(monkeypatch):
    # the same simulation with the parameters held at their estimates (no posterior draw):
    # the between-imputation variance misses their uncertainty and the interval is too
    # narrow (84% over 1,000 trials), so the check above can fail
    def point_estimates(fit, generator):
        intercept = fit.y_mean - fit.x_mean @ fit.beta
        return fit.beta, intercept, np.sqrt(fit.rss / fit.df)

    monkeypatch.setattr(imputation, "_draw_parameters", point_estimates)
    bias, mc_se, coverage = _coverage(REPS)
    assert abs(bias) < 3 * mc_se  # still unbiased: only the variance is wrong
    assert coverage < 0.91


def test_normal_absorbed_fills_only_the_gaps_and_is_reproducible():
    data = _stratified(np.random.default_rng(8), n=400, strata=30).assign(label="x")
    data.loc[3, "stratum"] = np.nan  # a missing stratum is a level of its own
    kwargs = {"columns": ["y", "x", "arm"], "strata": "stratum", "m": 3}
    kwargs["method"] = "normal_absorbed"
    first = list(multiple_imputation(data, rng=np.random.default_rng(1), **kwargs))
    again = list(multiple_imputation(data, rng=np.random.default_rng(1), **kwargs))
    other = list(multiple_imputation(data, rng=np.random.default_rng(2), **kwargs))
    gaps = data["y"].isna()
    for a, b, c in zip(first, again, other, strict=True):
        pd.testing.assert_frame_equal(a, b)
        assert a["y"].notna().all() and not np.allclose(a.loc[gaps, "y"], c.loc[gaps, "y"])
        pd.testing.assert_series_equal(a.loc[~gaps, "y"], data.loc[~gaps, "y"])
        pd.testing.assert_frame_equal(a.drop(columns="y"), data.drop(columns="y"))
    assert not np.allclose(first[0].loc[gaps, "y"], first[1].loc[gaps, "y"])
    assert gaps.any() and data["y"].isna().equals(gaps)  # the input is not modified


def test_a_stratum_without_observed_outcomes_leaves_the_within_contrasts_alone():
    # stratum 5 has no observed y: its intercept is the others' mean, and the imputed
    # arm contrast within it is still drawn from the arm's posterior
    data = _stratified(np.random.default_rng(9), n=2000, strata=6, p_respond=3.0)
    data.loc[data["stratum"] == 5, "y"] = np.nan
    frame = next(
        multiple_imputation(
            data,
            columns=["y", "x", "arm"],
            strata="stratum",
            m=2,
            rng=np.random.default_rng(3),
            method="normal_absorbed",
        )
    )
    lost = frame[data["stratum"] == 5]
    fit = sm.OLS(lost["y"], sm.add_constant(lost[["arm", "x"]])).fit()
    assert abs(fit.params["arm"] - TAU) < 4 * fit.bse["arm"]


def test_chained_normal_absorbed_imputes_incomplete_covariates_too():
    # x (a covariate) has gaps as well as y: chained equations, each column on the others
    # and the strata; the pooled effect is unbiased over simulated trials
    rng = np.random.default_rng(12)
    estimates, covered = [], 0
    for _ in range(60):
        data = _stratified(rng, n=300, strata=6, p_respond=0.5)
        data.loc[rng.random(len(data)) < 0.2, "x"] = np.nan
        fits = [
            _dummy_ols(frame, 6)
            for frame in multiple_imputation(
                data,
                columns=["y", "x", "arm"],
                strata="stratum",
                m=5,
                rng=rng,
                max_iter=5,
                method="normal_absorbed",
            )
        ]
        assert fits and all(np.isfinite(f[0]) for f in fits)
        pooled = rubin_pool([f[0] for f in fits], [f[1] for f in fits], df_complete=fits[0][2])
        estimates.append(pooled.estimate)
        covered += pooled.ci_low <= TAU <= pooled.ci_high
    assert abs(np.mean(estimates) - TAU) < 3 * np.std(estimates, ddof=1) / np.sqrt(60)
    assert covered / 60 >= 0.85


def test_the_two_imputation_models_agree_with_complete_cases():
    # both are proper imputations from a normal linear model with the analysis model's
    # terms; with only the outcome missing, such imputations reproduce the complete-case
    # estimate and (up to the finite m) its standard error
    data = _stratified(np.random.default_rng(11), n=1500, strata=5, p_respond=0.5)
    complete, complete_variance, _ = _dummy_ols(data.dropna(), 5)
    pooled = {}
    for method in imputation.IMPUTATION_METHODS:
        fits = [
            _dummy_ols(frame, 5)
            for frame in multiple_imputation(
                data,
                columns=["y", "x", "arm"],
                strata="stratum",
                m=40,
                rng=np.random.default_rng(5),
                max_iter=5,
                method=method,
            )
        ]
        pooled[method] = rubin_pool([f[0] for f in fits], [f[1] for f in fits])
    chained, normal = pooled["chained_bootstrap"], pooled["normal_absorbed"]
    assert abs(chained.estimate - normal.estimate) < 0.3 * normal.std_error
    assert normal.std_error == pytest.approx(chained.std_error, rel=0.15)
    assert abs(normal.estimate - complete) < 0.2 * normal.std_error
    assert normal.std_error == pytest.approx(np.sqrt(complete_variance), rel=0.1)


def test_normal_absorbed_with_the_strata_as_the_only_predictors():
    # no other column: each gap is drawn around its own stratum's level
    rng = np.random.default_rng(13)
    level = np.repeat([0.0, 100.0, -50.0], 40)
    data = pd.DataFrame({"y": level + rng.normal(size=120), "stratum": np.repeat([1, 2, 3], 40)})
    data.loc[rng.random(120) < 0.3, "y"] = np.nan
    gaps = data["y"].isna()
    for frame in multiple_imputation(
        data, columns=["y"], strata="stratum", m=3, rng=rng, method="normal_absorbed"
    ):
        assert np.abs(frame.loc[gaps, "y"] - level[gaps]).max() < 5


def test_normal_absorbed_refuses_a_model_without_residual_df():
    # one observed outcome per stratum: the intercepts use up every observed value
    data = pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, np.nan, np.nan, np.nan],
            "x": [0.5, 0.1, 0.9, 0.3, 0.2, 0.4],
            "stratum": ["a", "b", "c", "a", "b", "c"],
        }
    )
    rng = np.random.default_rng(0)
    match = r"imputation model of 'y' has no residual degrees of freedom: 3 observed values for 3"
    with pytest.raises(ValueError, match=match):
        multiple_imputation(
            data, columns=["y", "x"], strata="stratum", rng=rng, method="normal_absorbed"
        )
    # the same refusal with a covariate incomplete too (chained equations)
    with pytest.raises(ValueError, match=match):
        multiple_imputation(
            data.assign(x=[0.5, np.nan, 0.9, 0.3, 0.2, 0.4]),
            columns=["y", "x"],
            strata="stratum",
            rng=rng,
            method="normal_absorbed",
        )


# ---------------------------------------------------------------------------
# Rubin's rules
# ---------------------------------------------------------------------------
ESTIMATES = [1.0, 1.2, 0.8, 1.1, 0.9]
VARIANCES = [0.04, 0.05, 0.045, 0.05, 0.04]


def test_rubin_hand_worked_classic_df():
    # Qbar = 1; deviations 0 .2 -.2 .1 -.1 -> B = .1/4 = .025; Wbar = .225/5 = .045
    # T = .045 + 1.2 * .025 = .075; r = .03/.045 = 2/3; lambda = .03/.075 = .4
    # df_old = 4 / .16 = 25; fmi = (2/3 + 2/28) / (5/3) = 31/70
    pooled = rubin_pool(ESTIMATES, VARIANCES)
    assert pooled.estimate == pytest.approx(1.0, rel=1e-12)
    assert pooled.between_variance == pytest.approx(0.025, rel=1e-12)
    assert pooled.within_variance == pytest.approx(0.045, rel=1e-12)
    assert pooled.total_variance == pytest.approx(0.075, rel=1e-12)
    assert pooled.riv == pytest.approx(2 / 3, rel=1e-12)
    assert pooled.lambda_ == pytest.approx(0.4, rel=1e-12)
    assert pooled.df == pytest.approx(25.0, rel=1e-12) and pooled.df_method == "rubin-1987"
    assert pooled.fmi == pytest.approx(31 / 70, rel=1e-12)
    assert pooled.std_error == pytest.approx(math.sqrt(0.075), rel=1e-12)
    # t_.975(25) = 2.0595 from printed tables
    assert pooled.ci_high - pooled.estimate == pytest.approx(2.0595 * math.sqrt(0.075), abs=1e-4)
    assert pooled.p_value == pytest.approx(2 * stats.t.sf(1 / math.sqrt(0.075), 25), rel=1e-10)


def test_rubin_barnard_rubin_df_hand_worked():
    # df_com = 50: df_obs = (51/53) * 50 * .6 = 1530/53; df = 25 df_obs / (25 + df_obs) = 38250/2855
    pooled = rubin_pool(ESTIMATES, VARIANCES, df_complete=50)
    assert pooled.df == pytest.approx(38250 / 2855, rel=1e-12)
    assert pooled.df_method == "barnard-rubin"
    assert pooled.df < rubin_pool(ESTIMATES, VARIANCES).df
    # with a huge complete-data df, Barnard-Rubin approaches the classic df
    assert rubin_pool(ESTIMATES, VARIANCES, df_complete=1e12).df == pytest.approx(25.0, rel=1e-6)


def test_rubin_without_between_variance():
    pooled = rubin_pool([2.0, 2.0, 2.0], [0.1, 0.1, 0.1])
    assert pooled.total_variance == pytest.approx(0.1) and pooled.lambda_ == 0.0
    assert math.isinf(pooled.df)
    assert pooled.ci_high - 2.0 == pytest.approx(stats.norm.ppf(0.975) * math.sqrt(0.1))
    assert pooled.to_dict()["df"] is None
    # with a complete-data df, the df is the limit df_obs = (df_com + 1)/(df_com + 3) df_com
    assert rubin_pool([2.0, 2.0, 2.0], [0.1, 0.1, 0.1], df_complete=20).df == pytest.approx(
        21 / 23 * 20
    )


def test_rubin_is_invariant_to_the_order_of_imputations(rng):
    q, u = rng.normal(size=8), rng.uniform(0.1, 0.3, 8)
    order = rng.permutation(8)
    assert rubin_pool(q[order], u[order], df_complete=30) == rubin_pool(q, u, df_complete=30)


def test_rubin_errors_and_json():
    with pytest.raises(ValueError, match="at least 2 imputations. Got 1"):
        rubin_pool([1.0], [0.1])
    with pytest.raises(ValueError, match="equal length"):
        rubin_pool([1.0, 2.0], [0.1])
    with pytest.raises(ValueError, match="'variances' must all be finite and non-negative"):
        rubin_pool([1.0, 2.0], [0.1, -0.1])
    with pytest.raises(ValueError, match="'df_complete' must be a positive number. Got 0"):
        rubin_pool([1.0, 2.0], [0.1, 0.1], df_complete=0)
    payload = rubin_pool(ESTIMATES, VARIANCES, df_complete=50).to_dict()
    assert json.loads(json.dumps(payload)) == payload and payload["m"] == 5


def test_chained_normal_absorbed_counts_observed_values_not_gaps():
    # A hostile review: a covariate with 2 gaps among 2,000 rows was refused for "2 observed
    # values", because the residual-df check was handed the gaps instead of the observed rows.
    rng = np.random.default_rng(0)
    n = 2000
    data = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "a": rng.integers(0, 2, n).astype(float),
            "x": rng.normal(size=n),
            "stratum": rng.integers(0, 30, n),
        }
    )
    data.loc[rng.random(n) < 0.3, "y"] = np.nan
    data.loc[[5, 9], "x"] = np.nan
    imputations = list(
        multiple_imputation(
            data,
            columns=["y", "a", "x"],
            strata="stratum",
            m=3,
            rng=np.random.default_rng(1),
            method="normal_absorbed",
        )
    )
    assert len(imputations) == 3
    assert all(not frame[["y", "x"]].isna().any().any() for frame in imputations)
