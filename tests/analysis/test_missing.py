from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from analysis.missing import (
    _fisher_exact_rx2,
    attrition_table,
    differential_attrition_test,
    ipw_weights,
    multiple_imputation,
    rubin_pool,
)


def _arms(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """A dataset with the given (responded, lost) counts per arm."""
    rows = []
    for arm, (responded, lost) in counts.items():
        rows += [(arm, True)] * responded + [(arm, False)] * lost
    return pd.DataFrame(rows, columns=["arm", "responded"])


# ---------------------------------------------------------------------------
# Attrition
# ---------------------------------------------------------------------------
def test_attrition_table_counts_and_percentages():
    table = attrition_table(
        _arms({"letter": (60, 40), "control": (80, 20)}), arm="arm", responded="responded"
    )
    assert table["arm"].tolist() == ["control", "letter"]
    assert table["randomised"].tolist() == [100, 100]
    assert table["responded"].tolist() == [80, 60]
    assert table["lost"].tolist() == [20, 40]
    assert table["percent_lost"].tolist() == [20.0, 40.0]


def test_chi_square_hand_worked():
    # expected lost 30 and responded 70 in each arm:
    # X2 = 2 (10^2 / 30) + 2 (10^2 / 70) = 20/3 + 20/7 = 200/21 on 1 df
    result = differential_attrition_test(
        _arms({"control": (80, 20), "letter": (60, 40)}), arm="arm", responded="responded"
    )
    assert result.method == "chi-square" and result.df == 1
    assert result.statistic == pytest.approx(200 / 21, rel=1e-12)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(100 / 21)), rel=1e-10)
    assert result.min_expected == pytest.approx(30.0)
    assert result.lost == (20, 40) and result.arms == ("control", "letter")


def test_fisher_hand_worked_two_by_two():
    # rows of 4, 4 lost in all: P(x lost in arm 1) = C(4,x) C(4,4-x) / 70 = 1 16 36 16 1 (/70);
    # observed x = 3, so p = (1 + 16 + 16 + 1) / 70 (R: fisher.test gives 0.4857)
    result = differential_attrition_test(
        _arms({"a": (1, 3), "b": (3, 1)}), arm="arm", responded="responded"
    )
    assert result.method == "fisher" and result.statistic is None
    assert result.p_value == pytest.approx(34 / 70, rel=1e-12)


def test_fisher_agrees_with_scipy_on_two_by_two(rng):
    for _ in range(20):
        table = rng.integers(0, 12, size=(2, 2))
        if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
            continue
        ours = _fisher_exact_rx2(table.sum(axis=1), table[:, 1])
        assert ours == pytest.approx(stats.fisher_exact(table).pvalue, rel=1e-9)


def test_fisher_for_three_arms_agrees_with_brute_force():
    rows, lost = np.array([7, 5, 9]), np.array([3, 0, 1])
    c, total = lost.sum(), rows.sum()

    def probability(x):
        return math.prod(
            math.comb(int(r), int(k)) for r, k in zip(rows, x, strict=True)
        ) / math.comb(int(total), int(c))

    tables = [x for x in itertools.product(*(range(r + 1) for r in rows)) if sum(x) == c]
    observed = probability(lost)
    brute = sum(p for x in tables if (p := probability(x)) <= observed * (1 + 1e-7))
    assert sum(probability(x) for x in tables) == pytest.approx(1.0)
    assert _fisher_exact_rx2(rows, lost) == pytest.approx(brute, rel=1e-10)
    data = _arms({"a": (4, 3), "b": (5, 0), "c": (8, 1)})
    assert differential_attrition_test(
        data, arm="arm", responded="responded"
    ).p_value == pytest.approx(brute)


def test_no_attrition_at_all_gives_p_one():
    result = differential_attrition_test(
        _arms({"a": (30, 0), "b": (40, 0)}), arm="arm", responded="responded"
    )
    assert result.p_value == 1.0 and result.method == "fisher"
    forced = differential_attrition_test(
        _arms({"a": (30, 0), "b": (40, 0)}), arm="arm", responded="responded", method="chi-square"
    )
    assert forced.p_value == 1.0 and forced.statistic == 0.0


def test_attrition_errors_and_json():
    data = _arms({"a": (30, 5), "b": (40, 7)})
    with pytest.raises(
        ValueError, match="'method' 'g-test' is not known. Choose one of: auto, chi-square, fisher"
    ):
        differential_attrition_test(data, arm="arm", responded="responded", method="g-test")
    with pytest.raises(ValueError, match="must be boolean or 0/1. Got values \\[2.0\\]"):
        attrition_table(data.assign(responded=2), arm="arm", responded="responded")
    with pytest.raises(ValueError, match="'responded' must have no missing values"):
        attrition_table(data.assign(responded=np.nan), arm="arm", responded="responded")
    with pytest.raises(ValueError, match="at least 2 arms"):
        differential_attrition_test(data.assign(arm="a"), arm="arm", responded="responded")
    payload = differential_attrition_test(data, arm="arm", responded="responded").to_dict()
    assert json.loads(json.dumps(payload)) == payload


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
    first = multiple_imputation(data, columns=columns, m=4, rng=np.random.default_rng(1))
    again = multiple_imputation(data, columns=columns, m=4, rng=np.random.default_rng(1))
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


def test_imputation_and_rubin_recover_the_effect():
    data = _incomplete(np.random.default_rng(6), n=400)
    completed = multiple_imputation(
        data, columns=["treated", "baseline", "endline"], m=10, rng=np.random.default_rng(2)
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
    with pytest.raises(ValueError, match=r"columns \['wrqol'\] are not in the data"):
        multiple_imputation(data, columns=["wrqol"], rng=rng)
    with pytest.raises(ValueError, match="no observed values"):
        multiple_imputation(data.assign(endline=np.nan), columns=["endline", "baseline"], rng=rng)


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
