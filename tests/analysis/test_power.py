from __future__ import annotations

import json
import math

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from analysis.power import mdes, power_for_effect

Z_975, Z_80 = 1.959964, 0.841621  # normal quantiles from printed tables


def test_individual_mdes_with_normal_multiplier_is_the_textbook_0_28():
    # n = 400, P = .5: SE = sqrt(1 / (.25 * 400)) = .1; M = 1.96 + .84 = 2.80
    result = mdes(n=400, distribution="normal")
    assert result.standard_error == pytest.approx(0.1, rel=1e-12)
    assert result.multiplier == pytest.approx(Z_975 + Z_80, abs=1e-6)
    assert result.effect_size == pytest.approx(0.2802, abs=1e-4)
    assert result.design == "individual" and result.df is None and result.design_effect == 1.0


def test_t_multipliers_match_printed_t_tables():
    # t_.975 and t_.80 quantiles from printed tables: df 10: 2.228 + .879; df 20: 2.086 + .860;
    # df 30: 2.042 + .854 (Bloom's multipliers 3.11, 2.95, 2.90)
    for df, table in ((10, 2.228 + 0.879), (20, 2.086 + 0.860), (30, 2.042 + 0.854)):
        assert mdes(n=df + 2).multiplier == pytest.approx(table, abs=2e-3)
    # and at large df the t multiplier approaches the normal one from above
    assert mdes(n=400).multiplier == pytest.approx(Z_975 + Z_80, abs=0.01)
    assert mdes(n=400).multiplier > mdes(n=400, distribution="normal").multiplier


def test_cluster_mdes_hand_worked():
    # 12 clusters of 20, rho = .1: design effect 1 + 19 * .1 = 2.9; SE = sqrt(2.9 / (.25 * 240));
    # df = 12 - 2 = 10, M = 2.228 + .879
    result = mdes(n=240, n_clusters=12, icc=0.1)
    assert result.design == "cluster" and result.cluster_size == 20 and result.df == 10
    assert result.design_effect == pytest.approx(2.9)
    assert result.standard_error == pytest.approx(math.sqrt(2.9 / 60), rel=1e-12)
    assert result.effect_size == pytest.approx((2.228 + 0.879) * math.sqrt(2.9 / 60), rel=1e-3)
    # the same design given by cluster size instead of cluster count
    assert mdes(n=240, cluster_size=20, icc=0.1) == result


def test_cluster_form_equals_blooms_two_level_formula():
    # Bloom (2006): rho (1 - R2) / (P(1-P) J) + (1 - rho)(1 - R2) / (P(1-P) J m)
    J, m, rho, r2, p = 40, 20, 0.2, 0.3, 0.4
    result = mdes(n=J * m, n_clusters=J, icc=rho, r2=r2, allocation=p, distribution="normal")
    two_level = rho * (1 - r2) / (p * (1 - p) * J) + (1 - rho) * (1 - r2) / (p * (1 - p) * J * m)
    assert result.standard_error == pytest.approx(math.sqrt(two_level), rel=1e-12)


def test_power_is_the_exact_inverse_of_mdes():
    for kwargs in (
        {"n": 391},
        {"n": 1315, "r2": 0.4, "allocation": 0.3},
        {"n": 380, "n_clusters": 13, "icc": 0.05, "n_covariates": 1},
        {"n": 500, "alternative": "one-sided", "distribution": "normal"},
    ):
        for target in (0.5, 0.8, 0.9):
            effect = mdes(power=target, **kwargs).effect_size
            assert power_for_effect(effect, **kwargs).power == pytest.approx(target, abs=1e-10)
            assert power_for_effect(-effect, **kwargs).power == pytest.approx(target, abs=1e-10)


def test_normal_power_agrees_with_statsmodels():
    # statsmodels counts both tails; at power .5 and above the far tail is below 1e-3
    for effect in (0.2, 0.3, 0.45):
        ours = power_for_effect(effect, n=400, distribution="normal").power
        theirs = NormalIndPower().power(effect_size=effect, nobs1=200, alpha=0.05, ratio=1.0)
        assert ours == pytest.approx(theirs, abs=1e-3)
        assert ours <= theirs


def test_t_power_is_close_to_the_noncentral_t():
    for effect in (0.25, 0.4):
        ours = power_for_effect(effect, n=300).power
        exact = TTestIndPower().power(effect_size=effect, nobs1=150, alpha=0.05, ratio=1.0)
        assert ours == pytest.approx(exact, abs=3e-3)


def test_mdes_moves_the_way_design_choices_should():
    base = {"n": 380, "n_clusters": 13, "icc": 0.05}

    def es(**changes):
        return mdes(**{**base, **changes}).effect_size

    assert np.all(np.diff([es(n=n) for n in (200, 380, 800, 2000)]) < 0)
    assert np.all(np.diff([es(n_clusters=j) for j in (5, 13, 40, 190)]) < 0)
    assert np.all(np.diff([es(icc=rho) for rho in (0.0, 0.02, 0.1, 0.3)]) > 0)
    assert np.all(np.diff([es(r2=r2) for r2 in (0.0, 0.2, 0.5, 0.8)]) < 0)
    assert np.all(np.diff([es(power=p) for p in (0.5, 0.7, 0.8, 0.95)]) > 0)
    assert np.all(np.diff([es(alpha=a) for a in (0.01, 0.05, 0.1)]) < 0)
    assert es(allocation=0.5) < es(allocation=0.3) == pytest.approx(es(allocation=0.7))
    assert es(alternative="one-sided") < es()
    # the same 380 people as an individual trial need no design effect and have more df
    assert mdes(n=380).effect_size < es(icc=0.0)


def test_power_rises_with_effect_and_sample_size():
    powers = [power_for_effect(d, n=391).power for d in (0.0, 0.1, 0.2, 0.3, 0.5)]
    assert np.all(np.diff(powers) > 0) and powers[-1] > 0.99
    assert powers[0] < 0.05  # only the direction of the effect counts
    assert power_for_effect(0.3, n=200).power < power_for_effect(0.3, n=800).power


def test_to_dict_is_json_safe():
    payload = mdes(n=380, n_clusters=13, icc=0.05).to_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert payload["solved_for"] == "mdes" and payload["n_clusters"] == 13.0
    assert power_for_effect(0.0, n=100).to_dict()["effect_size"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "'n' must be a positive number of individuals. Got 0"),
        ({"n": 2}, "at least 3 \\+ n_covariates individuals"),
        ({"n": 100, "n_clusters": 2}, "at least 3 \\+ n_covariates clusters"),
        ({"n": 100, "alpha": 1.5}, r"'alpha' must lie in \(0, 1\). Got 1.5"),
        ({"n": 100, "icc": -0.1}, r"'icc' must lie in \[0, 1\)"),
        ({"n": 100, "allocation": 1.0}, r"'allocation' must lie in \(0, 1\)"),
        ({"n": 100, "cluster_size": 0.5}, "'cluster_size' must be at least 1"),
        (
            {"n": 100, "n_clusters": 10, "cluster_size": 8},
            "must equal n / n_clusters = 100 / 10 = 10",
        ),
        ({"n": 100, "n_clusters": 200}, "cannot exceed the 100 individuals"),
        (
            {"n": 100, "distribution": "z"},
            "'distribution' 'z' is not known. Choose one of: t, normal",
        ),
        ({"n": 100, "alternative": "greater"}, "Choose one of: two-sided, one-sided"),
        ({"n": 100, "n_covariates": -1}, "'n_covariates' must be a non-negative integer"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mdes(**kwargs)
    with pytest.raises(ValueError, match=message):
        power_for_effect(0.3, **kwargs)


def test_power_and_effect_size_are_checked():
    with pytest.raises(ValueError, match=r"'power' must lie in \(0, 1\). Got 80"):
        mdes(n=100, power=80)
    with pytest.raises(ValueError, match="'effect_size' must be a finite number"):
        power_for_effect(math.nan, n=100)
