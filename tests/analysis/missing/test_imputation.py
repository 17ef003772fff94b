"""analysis.missing.imputation: chained-equation imputation and Rubin's rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

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
    with pytest.raises(ValueError, match=r"column\(s\) 'wrqol' are not in the data"):
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
