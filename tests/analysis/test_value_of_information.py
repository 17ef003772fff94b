"""EVPI: by hand, on simulated draws, against the normal closed form, and by property."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.value_of_information import (
    annuity_factor,
    evpi_by_option,
    evpi_from_net_benefit,
    evpi_incremental,
    evpi_table,
)

# Four bootstrap draws of (incremental cost, incremental effect).
COST = np.array([100.0, -50.0, 200.0, 0.0])
EFFECT = np.array([2.0, 1.0, 1.0, -1.0])


def test_by_hand_two_options():
    # wtp 100: INB = 100 e - c = [100, 150, -100, -100]. E[INB] = 50/4 = 12.5 > 0, so adopt.
    # E[max(INB, 0)] = (100 + 150 + 0 + 0)/4 = 62.5. EVPI = 62.5 - 12.5 = 50.
    # wtp 0: INB = -c = [-100, 50, -200, 0]. E[INB] = -62.5 < 0, so keep control (0).
    # E[max(INB, 0)] = 50/4 = 12.5. EVPI = 12.5 - 0 = 12.5.
    got = evpi_incremental(COST, EFFECT, wtp=[100, 0])
    np.testing.assert_allclose(got, [50.0, 12.5], atol=1e-12)


def test_by_hand_three_options():
    # Draws x options: per-draw maxima 10, 20, 5 -> mean 35/3; option means 0, 5/3, 20/3
    # -> best 20/3. EVPI = 35/3 - 20/3 = 5.
    nb = np.array([[0, 10, 5], [0, -10, 20], [0, 5, -5]], dtype=float)
    assert evpi_from_net_benefit(nb) == pytest.approx(5.0, abs=1e-12)
    # The same through costs and effects at wtp 1 (net benefit = effect - cost).
    assert evpi_by_option(np.zeros_like(nb), nb, wtp=1.0)[0] == pytest.approx(5.0, abs=1e-12)


def test_population_by_hand():
    # 1000 staff a year for 3 years at 3.5%: 1/1.035 + 1/1.035^2 + 1/1.035^3 = 2.8016370...
    annuity = sum(1.035**-t for t in (1, 2, 3))
    assert annuity_factor(years=3, discount_rate=0.035) == pytest.approx(annuity, rel=1e-14)
    assert annuity_factor(years=3) == 3.0
    table = evpi_table(
        COST, EFFECT, wtp=[0, 100], population=1000, years=3, discount_rate=0.035,
        research_cost=100_000,
    )  # fmt: skip
    assert list(table.decision) == ["control", "intervention"]
    np.testing.assert_allclose(table.evpi_per_person, [12.5, 50.0], atol=1e-12)
    np.testing.assert_allclose(table.evpi_population, [12.5e3 * annuity, 50e3 * annuity])
    # 35,020 < 100,000 (not worth it); 140,082 > 100,000 (may be worth it).
    assert list(table.research_may_be_worthwhile) == [False, True]
    np.testing.assert_allclose(table.prob_cost_effective, [1 / 4, 2 / 4])
    per_person = evpi_table(COST, EFFECT, wtp=100)
    assert math.isnan(per_person.evpi_population[0])
    assert per_person.research_may_be_worthwhile[0] is None


def test_simulated_draws_match_an_independent_expression():
    rng = np.random.default_rng(15)
    n = 5000
    d_effect = rng.normal(0.4, 1.0, n)
    d_cost = 30 + 25 * d_effect + rng.normal(0, 60, n)  # correlated, as in a bootstrap
    wtp = np.array([0.0, 50.0, 100.0, 400.0])
    got = evpi_incremental(d_cost, d_effect, wtp=wtp)
    expected = []
    for k in wtp:
        # Two options, control as origin: a plain loop over draws, no shared code.
        inb = [k * e - c for c, e in zip(d_cost, d_effect, strict=True)]
        expected.append(sum(max(v, 0.0) for v in inb) / n - max(sum(inb) / n, 0.0))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # The several-options form agrees with the incremental one for two options.
    costs = np.column_stack([np.zeros(n), d_cost])
    effects = np.column_stack([np.zeros(n), d_effect])
    np.testing.assert_allclose(evpi_by_option(costs, effects, wtp=wtp), got, rtol=1e-12)


def test_normal_draws_approach_the_unit_normal_loss_formula():
    # INB ~ N(mu, s^2): EVPI = s phi(mu/s) - |mu| Phi(-|mu|/s) (expected opportunity loss).
    rng = np.random.default_rng(7)
    mu, s = 20.0, 50.0
    inb = rng.normal(mu, s, 400_000)
    exact = s * stats.norm.pdf(mu / s) - abs(mu) * stats.norm.cdf(-abs(mu) / s)
    got = evpi_incremental(-inb, np.zeros_like(inb), wtp=0.0)[0]
    # Monte Carlo error of the mean of max(INB, 0) is about s / sqrt(n) = 0.08.
    assert got == pytest.approx(exact, abs=0.4)


def test_evpi_is_never_negative_and_zero_under_dominance():
    rng = np.random.default_rng(3)
    for _ in range(50):
        nb = rng.normal(size=(rng.integers(1, 40), rng.integers(2, 5))) * 100
        assert evpi_from_net_benefit(nb) >= 0
    # Option 2 beats the others in every draw: nothing to learn.
    nb = rng.normal(size=(200, 3))
    nb[:, 2] = nb.max(axis=1) + rng.uniform(0.1, 5, 200)
    assert evpi_from_net_benefit(nb) == 0.0
    # Cheaper and better in every draw: dominant at every threshold.
    assert (
        evpi_incremental(-rng.uniform(1, 9, 100), rng.uniform(1, 9, 100), wtp=[0, 10]) == 0
    ).all()


def test_a_common_shift_per_draw_does_not_change_evpi():
    rng = np.random.default_rng(4)
    nb = rng.normal(size=(300, 3))
    shifted = nb + rng.normal(size=(300, 1)) * 1000
    assert evpi_from_net_benefit(shifted) == pytest.approx(evpi_from_net_benefit(nb), abs=1e-9)


def test_hostile_inputs_are_named():
    with pytest.raises(ValueError, match=r"'wtp' thresholds must be at least 0\. Got -5\.0"):
        evpi_incremental(COST, EFFECT, wtp=[10, -5])
    with pytest.raises(ValueError, match=r"one value per draw each\. Got 4 and 3 draws"):
        evpi_incremental(COST, EFFECT[:3], wtp=1)
    with pytest.raises(ValueError, match=r"'incremental_cost' must be finite in every draw"):
        evpi_incremental([1.0, np.nan], [1.0, 2.0], wtp=1)
    with pytest.raises(ValueError, match=r"at least 2 options\. Got 1 column"):
        evpi_from_net_benefit(np.ones((5, 1)))
    with pytest.raises(ValueError, match=r"'net_benefit' must be a 2-dimensional array"):
        evpi_from_net_benefit(np.ones(5))
    with pytest.raises(ValueError, match=r"'years' must be an integer of at least 1\. Got 0"):
        annuity_factor(years=0)
    with pytest.raises(ValueError, match=r"'discount_rate' must lie in \[0, 1\)\. Got 3\.5"):
        annuity_factor(years=2, discount_rate=3.5)
    with pytest.raises(ValueError, match=r"'population' must be a positive finite number"):
        evpi_table(COST, EFFECT, wtp=1, population=-10)
    with pytest.raises(ValueError, match=r"'research_cost' must be a finite number of at least"):
        evpi_table(COST, EFFECT, wtp=1, population=10, research_cost=-1)
    with pytest.raises(ValueError, match=r"'costs' and 'effects' must have the same shape"):
        evpi_by_option(np.ones((3, 2)), np.ones((3, 3)), wtp=1)
