from __future__ import annotations

import numpy as np
import statsmodels.api as sm

from analysis.inference import draw_coefficients, randomisation_inference


def _data(rng, n=120, effect=0.0):
    strata = rng.integers(0, 3, n)
    baseline = rng.normal(size=n)
    treat = (rng.permutation(n) < n // 2).astype(float)
    y = 1 + effect * treat + 0.8 * baseline + 0.3 * strata + rng.normal(size=n)
    covariates = np.column_stack([np.ones(n), baseline, strata == 1, strata == 2]).astype(float)
    draws = np.stack([(rng.permutation(n) < n // 2).astype(float) for _ in range(300)])
    return y, treat, covariates, draws


def test_vectorised_coefficients_equal_a_refit_per_draw(rng):
    y, _treat, covariates, draws = _data(rng)
    num, den = draw_coefficients(y, covariates, draws)
    for r in range(0, 300, 37):
        fit = sm.OLS(y, np.column_stack([draws[r], covariates])).fit()
        assert np.isclose(num[r] / den[r], fit.params[0], rtol=1e-10, atol=1e-12)


def test_collinear_covariates_are_handled(rng):
    y, _treat, covariates, draws = _data(rng)
    doubled = np.column_stack([covariates, covariates[:, 1] * 2])
    a = np.divide(*draw_coefficients(y, covariates, draws))
    b = np.divide(*draw_coefficients(y, doubled, draws))
    np.testing.assert_allclose(a, b, rtol=1e-9)


def test_p_value_counts_draws_at_least_as_extreme(rng):
    y, treat, covariates, draws = _data(rng, effect=0.0)
    result = randomisation_inference(
        y, treat, covariates, draws, term="arm", confidence_interval=False
    )
    coef = np.divide(*draw_coefficients(y, covariates, draws))
    assert result.p_value == np.mean(np.abs(coef) >= abs(result.estimate) - 1e-12)
    assert result.n_draws == 300


def test_strong_effect_is_rejected_and_ci_covers_the_truth(rng):
    y, treat, covariates, draws = _data(rng, effect=1.5)
    result = randomisation_inference(y, treat, covariates, draws, term="arm")
    assert result.p_value == 0.0
    assert result.ci_low < 1.5 < result.ci_high
    assert result.ci_low < result.estimate < result.ci_high


def test_ci_endpoints_are_where_the_test_starts_rejecting(rng):
    y, treat, covariates, draws = _data(rng, effect=0.5)
    result = randomisation_inference(y, treat, covariates, draws, term="arm")
    for tau, should_reject in [
        (result.ci_low, False),
        (result.ci_high, False),
        (result.ci_low - 0.02, True),
        (result.ci_high + 0.02, True),
    ]:
        shifted = randomisation_inference(
            y - tau * treat, treat, covariates, draws, term="arm", confidence_interval=False
        )
        assert (shifted.p_value <= 0.05) == should_reject, (tau, shifted.p_value)
