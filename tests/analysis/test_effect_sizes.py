from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from analysis.effect_sizes import hedges_g, hedges_g_from_estimate, icc_oneway

TREAT = [3.0, 4.0, 5.0, 6.0, 7.0]  # mean 5, variance 2.5
CONTROL = [1.0, 2.0, 3.0, 4.0]  # mean 2.5, variance 5/3


# ---------------------------------------------------------------------------
# Hedges' g
# ---------------------------------------------------------------------------
def test_hedges_g_hand_worked_example():
    # pooled variance (4 * 2.5 + 3 * 5/3) / 7 = 15/7; d = 2.5 / sqrt(15/7);
    # J = 1 - 3/(4*9 - 9) = 8/9; SE = sqrt(9/20 + g^2/18)
    result = hedges_g(TREAT, CONTROL)
    d = 2.5 / math.sqrt(15 / 7)
    g = 8 / 9 * d
    assert result.cohens_d == pytest.approx(d, rel=1e-12)
    assert result.correction_factor == pytest.approx(8 / 9, rel=1e-12)
    assert result.estimate == pytest.approx(g, rel=1e-12)
    assert result.estimate == pytest.approx(1.518067, abs=1e-6)
    se = math.sqrt(9 / 20 + g**2 / 18)
    assert result.std_error == pytest.approx(se, rel=1e-12)
    assert result.ci_low == pytest.approx(g - 1.959964 * se, abs=1e-6)
    assert result.ci_high == pytest.approx(g + 1.959964 * se, abs=1e-6)
    assert (result.n_treat, result.n_control, result.standardiser) == (5, 4, "pooled")


def test_exact_correction_is_the_gamma_form():
    # nu = 7: Gamma(3.5) / (sqrt(3.5) Gamma(3)) with Gamma(3.5) = 1.875 sqrt(pi), Gamma(3) = 2
    exact = hedges_g(TREAT, CONTROL, correction="exact")
    assert exact.correction_factor == pytest.approx(
        1.875 * math.sqrt(math.pi) / (2 * math.sqrt(3.5)), rel=1e-12
    )
    approximate = hedges_g(TREAT, CONTROL)
    assert abs(exact.correction_factor - approximate.correction_factor) < 1e-3
    assert exact.cohens_d == approximate.cohens_d


def test_g_is_invariant_to_affine_rescaling_and_flips_with_arms(rng):
    treat, control = rng.normal(0.3, 1, 40), rng.normal(0, 1, 55)
    base = hedges_g(treat, control)
    rescaled = hedges_g(7 * treat - 3, 7 * control - 3)
    assert rescaled.estimate == pytest.approx(base.estimate, rel=1e-12)
    assert rescaled.std_error == pytest.approx(base.std_error, rel=1e-12)
    flipped = hedges_g(control, treat)
    assert flipped.estimate == pytest.approx(-base.estimate, rel=1e-12)
    assert flipped.std_error == pytest.approx(base.std_error, rel=1e-12)


def test_missing_outcomes_are_dropped():
    assert hedges_g([*TREAT, np.nan], [np.nan, *CONTROL]).estimate == pytest.approx(
        hedges_g(TREAT, CONTROL).estimate
    )


def test_from_estimate_with_pooled_sd_equals_the_raw_version():
    raw = hedges_g(TREAT, CONTROL, confidence=0.9)
    again = hedges_g_from_estimate(
        2.5, n_treat=5, n_control=4, sd_pooled=math.sqrt(15 / 7), confidence=0.9
    )
    assert again == raw


def test_hedges2007_cluster_se_hand_worked():
    # N = 200 (100 + 100), clusters of 10, rho = .1; g = J * 3/10 with J = 1 - 3/791
    # first term 200/10000 * 1.9 = .038
    # second: (198 * .81 + 10 * 180 * .01 + 2 * 180 * .1 * .9) / (2 * 198 * (198 - 1.8))
    #       = 210.78 / 77695.2
    result = hedges_g_from_estimate(
        3.0, n_treat=100, n_control=100, sd_total=10.0, icc=0.1, cluster_size=10
    )
    g = (1 - 3 / 791) * 0.3
    assert result.estimate == pytest.approx(g, rel=1e-12)
    assert result.std_error == pytest.approx(math.sqrt(0.038 + g**2 * 210.78 / 77695.2), rel=1e-12)
    assert result.design_effect == pytest.approx(1.9)
    assert result.se_method == "hedges2007" and result.standardiser == "total"


def test_hedges2007_reduces_to_design_effect_and_to_no_clustering():
    # g = 0: only the first term, the naive variance times the design effect
    zero = hedges_g_from_estimate(
        0.0, n_treat=60, n_control=40, sd_total=2.0, icc=0.2, cluster_size=5
    )
    assert zero.std_error**2 == pytest.approx(100 / 2400 * (1 + 4 * 0.2), rel=1e-12)
    # rho = 0: second term is g^2 / (2 (N - 2))
    flat = hedges_g_from_estimate(
        1.0, n_treat=60, n_control=40, sd_total=2.0, icc=0.0, cluster_size=5
    )
    g = flat.estimate
    assert flat.std_error**2 == pytest.approx(100 / 2400 + g**2 / (2 * 98), rel=1e-12)
    # more clustering, wider interval
    widths = [
        hedges_g_from_estimate(
            1.0, n_treat=60, n_control=40, sd_total=2.0, icc=rho, cluster_size=5
        ).std_error
        for rho in (0.0, 0.05, 0.2, 0.5)
    ]
    assert np.all(np.diff(widths) > 0)


def test_model_standard_error_is_rescaled_and_uses_t():
    result = hedges_g_from_estimate(
        2.0,
        n_treat=190,
        n_control=190,
        sd_total=4.0,
        icc=0.05,
        cluster_size=29,
        estimate_std_error=0.8,
        df=10.5,
    )
    factor = 1 - 3 / (4 * 380 - 9)
    assert result.std_error == pytest.approx(factor * 0.8 / 4, rel=1e-12)
    half_width = stats.t.ppf(0.975, 10.5) * factor * 0.2
    assert result.ci_high - result.estimate == pytest.approx(half_width, rel=1e-10)
    assert result.se_method == "model" and result.df == 10.5


def test_effect_size_to_dict_is_json_safe():
    payload = hedges_g_from_estimate(
        3.0, n_treat=100, n_control=100, sd_total=10.0, icc=0.1, cluster_size=10
    ).to_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert all(type(v) in (float, int, str, type(None)) for v in payload.values())
    assert payload["df"] is None and payload["icc"] == 0.1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sd_pooled": 1.0, "sd_total": 1.0}, "exactly one standardiser"),
        ({}, "exactly one standardiser"),
        ({"sd_pooled": -1.0}, r"'sd_pooled' must be a positive finite number. Got -1.0"),
        ({"sd_pooled": 1.0, "icc": 0.1, "cluster_size": 5}, "standardised by the total SD"),
        ({"sd_total": 1.0, "icc": 0.1}, "'icc' and 'cluster_size' of a cluster design go together"),
        ({"sd_total": 1.0, "icc": 1.2, "cluster_size": 5}, r"'icc' must lie in \[0, 1\). Got 1.2"),
        ({"sd_total": 1.0, "icc": 0.1, "cluster_size": 80}, "at least one cluster per arm"),
        (
            {"sd_total": 1.0, "correction": "hedges"},
            "'correction' 'hedges' is not known. Choose one of: approximate, exact",
        ),
        ({"sd_total": 1.0, "df": 5.0}, "'df' is used only with 'estimate_std_error'"),
        ({"sd_total": 1.0, "confidence": 95}, "'confidence' must be strictly between 0 and 1"),
    ],
)
def test_from_estimate_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        hedges_g_from_estimate(1.0, n_treat=50, n_control=50, **kwargs)


def test_raw_g_needs_two_values_per_arm_and_spread():
    with pytest.raises(ValueError, match="'y_control' needs at least 2 observed values. Got 1"):
        hedges_g(TREAT, [1.0, np.nan])
    with pytest.raises(ValueError, match="pooled SD is 0"):
        hedges_g([2.0, 2.0], [1.0, 1.0])


# ---------------------------------------------------------------------------
# ICC
# ---------------------------------------------------------------------------
HAND_Y = [2, 4, 6, 5, 7, 8, 9, 10, 11]
HAND_CLUSTERS = ["a", "a", "a", "b", "b", "c", "c", "c", "c"]


def test_icc_hand_worked_unbalanced_example():
    # cluster means 4, 6, 9.5; grand mean 62/9; SSW = 8 + 2 + 5 = 15 on 6 df -> MSW = 2.5
    # SSB = 3(26/9)^2 + 2(8/9)^2 + 4(47/18)^2 = 485/9 on 2 df -> MSB = 485/18
    # n0 = (9 - 29/9) / 2 = 26/9; rho = (485/18 - 45/18) / (485/18 + 17/9 * 5/2) = 44/57
    result = icc_oneway(HAND_Y, HAND_CLUSTERS)
    assert result.ms_within == pytest.approx(2.5, rel=1e-12)
    assert result.ms_between == pytest.approx(485 / 18, rel=1e-12)
    assert result.n0 == pytest.approx(26 / 9, rel=1e-12)
    assert result.icc == pytest.approx(44 / 57, rel=1e-12)
    assert result.f_statistic == pytest.approx(97 / 9, rel=1e-12)
    assert (result.df_between, result.df_within, result.n_clusters, result.n) == (2, 6, 3, 9)
    # printed F tables: F_.975(2, 6) = 7.2599, F_.975(6, 2) = 39.331
    f_low, f_high = 97 / 9 / 7.2599, 97 / 9 * 39.331
    assert result.ci_low == pytest.approx((f_low - 1) / (f_low + 26 / 9 - 1), abs=2e-4)
    assert result.ci_high == pytest.approx((f_high - 1) / (f_high + 26 / 9 - 1), abs=2e-4)
    # variance parts: sigma_b^2 = (MSB - MSW) / n0 = (440/18) / (26/9) = 110/13
    assert result.var_between == pytest.approx(110 / 13, rel=1e-12)
    assert result.sd_total == pytest.approx(math.sqrt(110 / 13 + 2.5), rel=1e-12)
    assert result.icc == pytest.approx(result.var_between / result.sd_total**2, rel=1e-12)


def test_icc_is_truncated_at_zero_when_clusters_vary_less_than_chance():
    # cluster means identical, spread within: MSB = 0 < MSW
    result = icc_oneway([1, 3, 1, 3, 1, 3], [1, 1, 2, 2, 3, 3])
    assert result.icc_unbounded < 0
    assert result.icc == 0.0 and result.ci_low == 0.0 and result.var_between == 0.0


def test_icc_balanced_agrees_with_reml(rng):
    clusters = np.repeat(np.arange(15), 8)
    y = rng.normal(0, 0.7, 15)[clusters] + rng.normal(size=clusters.size)
    ours = icc_oneway(y, clusters)
    assert ours.icc_unbounded > 0
    fit = smf.mixedlm("y ~ 1", pd.DataFrame({"y": y, "g": clusters}), groups="g").fit(reml=True)
    between, within = float(fit.cov_re.iloc[0, 0]), float(fit.scale)
    # with equal clusters and a positive estimate the ANOVA and REML estimators coincide
    assert ours.var_between == pytest.approx(between, rel=1e-4)
    assert ours.var_within == pytest.approx(within, rel=1e-4)


def test_icc_interval_covers_at_the_nominal_rate_for_equal_clusters():
    rng = np.random.default_rng(2024)
    rho, reps, k, m = 0.2, 400, 12, 6
    clusters = np.repeat(np.arange(k), m)
    covered = 0
    for _ in range(reps):
        y = rng.normal(0, math.sqrt(rho), k)[clusters] + rng.normal(0, math.sqrt(1 - rho), k * m)
        result = icc_oneway(y, clusters)
        covered += result.ci_low <= rho <= result.ci_high
    # exact for balanced data: within 4 Monte Carlo SEs of 95%
    assert abs(covered / reps - 0.95) < 4 * math.sqrt(0.95 * 0.05 / reps)


def test_icc_with_arm_ignores_the_treatment_effect(rng):
    clusters = np.repeat(np.arange(20), rng.integers(5, 15, 20))
    arm = (clusters % 2).astype(str)
    y = rng.normal(0, 0.4, 20)[clusters] + rng.normal(size=clusters.size)
    shifted = y + 5.0 * (arm == "1")
    within_arms = icc_oneway(y, clusters, arm=arm)
    shifted_result = icc_oneway(shifted, clusters, arm=arm)
    assert shifted_result.icc == pytest.approx(within_arms.icc, rel=1e-9)
    assert shifted_result.ci_low == pytest.approx(within_arms.ci_low, rel=1e-9)
    assert shifted_result.sd_total == pytest.approx(within_arms.sd_total, rel=1e-9)
    # without the arm, a large effect shows up as between-cluster variance
    assert icc_oneway(shifted, clusters).icc > within_arms.icc + 0.5
    assert within_arms.df_between == 18 and within_arms.n_arms == 2


def test_icc_row_order_and_missing_outcomes_do_not_matter(rng):
    clusters = np.repeat(np.arange(10), rng.integers(3, 9, 10))
    y = rng.normal(size=clusters.size) + clusters * 0.1
    order = rng.permutation(clusters.size)
    base = icc_oneway(y, clusters)
    assert icc_oneway(y[order], clusters[order]).icc == pytest.approx(base.icc, rel=1e-12)
    with_gaps = icc_oneway(np.append(y, [np.nan, np.nan]), np.append(clusters, [0, 3]))
    assert with_gaps.icc == pytest.approx(base.icc, rel=1e-12) and with_gaps.n == base.n


def test_icc_errors_and_json():
    with pytest.raises(ValueError, match="Each cluster must sit in one arm"):
        icc_oneway([1, 2, 3, 4], [1, 1, 2, 2], arm=["t", "c", "t", "c"])
    with pytest.raises(ValueError, match="more clusters than arms"):
        icc_oneway([1, 2, 3], [1, 1, 1])
    with pytest.raises(ValueError, match="equal length"):
        icc_oneway([1, 2, 3], [1, 1])
    payload = icc_oneway(HAND_Y, HAND_CLUSTERS).to_dict()
    assert json.loads(json.dumps(payload)) == payload
