"""analysis.costs.effectiveness: the cost-effectiveness bootstrap, ICER interval and verdicts."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from cost_cases import (
    two_arm_trial,
)

from analysis.costs import (
    bootstrap_cost_effect,
)


# ---------------------------------------------------------------------------
# The bootstrap
# ---------------------------------------------------------------------------
def _slow_replicates(costs, effects, arm, clusters, n_boot, chunk, seed, sign=1.0):
    """A per-replicate loop over the same index draws as the documented protocol."""
    rng = np.random.default_rng(seed)
    members = []
    for value in (False, True):
        rows = np.flatnonzero(arm == value)
        if clusters is None:
            members.append([np.array([r]) for r in rows])
        else:
            labels = sorted(set(clusters[rows]))
            members.append([rows[clusters[rows] == label] for label in labels])
    draws = [[], []]
    sizes = [min(chunk, n_boot - start) for start in range(0, n_boot, chunk)]
    # one block draws from the generator; several from one generator each, seeded from it
    block_rngs = (
        [rng]
        if len(sizes) == 1
        else [np.random.default_rng(s) for s in rng.integers(0, 2**63, size=len(sizes))]
    )
    for size, block_rng in zip(sizes, block_rngs, strict=True):
        for a in (0, 1):
            draws[a].append(block_rng.integers(0, len(members[a]), size=(size, len(members[a]))))
    draws = [np.vstack(d) for d in draws]
    delta_c, delta_e = np.empty(n_boot), np.empty(n_boot)
    for b in range(n_boot):
        means = []
        for a in (0, 1):
            rows = np.concatenate([members[a][g] for g in draws[a][b]])
            means.append((costs[rows].mean(), effects[rows].mean()))
        delta_c[b] = means[1][0] - means[0][0]
        delta_e[b] = sign * (means[1][1] - means[0][1])
    return delta_c, delta_e


@pytest.mark.parametrize("chunk", [200, 64])
def test_bootstrap_equals_a_per_replicate_loop_on_the_same_draws(rng, chunk):
    costs, effects, arm = two_arm_trial(rng)
    result = bootstrap_cost_effect(
        costs, effects, arm, rng=np.random.default_rng(7), n_boot=200, chunk_size=chunk
    )
    slow_c, slow_e = _slow_replicates(costs, effects, arm, None, 200, chunk, seed=7)
    np.testing.assert_allclose(result.replicate_costs, slow_c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.replicate_effects, slow_e, rtol=1e-12, atol=1e-12)
    assert result.incremental_cost == pytest.approx(
        costs[arm].mean() - costs[~arm].mean(), rel=1e-14
    )


def test_cluster_bootstrap_equals_a_per_replicate_loop_on_the_same_draws(rng):
    costs, effects, arm = two_arm_trial(rng, n=120)
    # clusters nested in arms, of unequal sizes, labelled out of order
    clusters = np.where(arm, "t", "c") + (rng.integers(0, 7, 120) ** 2).astype(str)
    result = bootstrap_cost_effect(
        costs, effects, arm, clusters=clusters, rng=np.random.default_rng(9), n_boot=150,
        higher_is_better=False, chunk_size=150,
    )  # fmt: skip
    slow_c, slow_e = _slow_replicates(costs, effects, arm, clusters, 150, 150, seed=9, sign=-1.0)
    np.testing.assert_allclose(result.replicate_costs, slow_c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.replicate_effects, slow_e, rtol=1e-12, atol=1e-12)
    assert result.n_clusters_per_arm == {
        "control": len(set(clusters[~arm])),
        "intervention": len(set(clusters[arm])),
    }


def test_cluster_bootstrap_keeps_clusters_intact():
    # control: three clusters worth nothing; intervention: three clusters of sizes 2, 3, 5
    # whose members share a value.  A replicate resampling whole clusters can only give
    # a mean of whole clusters; resampling people gives others.
    sizes, values = (2, 3, 5), (1.0, 10.0, 100.0)
    effects = np.concatenate(
        [np.zeros(9), *[np.full(s, v) for s, v in zip(sizes, values, strict=True)]]
    )
    arm = np.r_[np.zeros(9, bool), np.ones(10, bool)]
    clusters = np.r_[np.repeat(["c1", "c2", "c3"], 3), np.repeat(["t1", "t2", "t3"], sizes)]
    possible = set()
    for counts in itertools.product(range(4), repeat=3):
        if sum(counts) == 3:
            weights = np.array(counts) * np.array(sizes)
            possible.add(round(float(weights @ values / weights.sum()), 9))
    kept = bootstrap_cost_effect(
        np.zeros(19), effects, arm, clusters=clusters, rng=np.random.default_rng(1), n_boot=500
    )
    assert {round(v, 9) for v in kept.replicate_effects} <= possible
    assert len({round(v, 9) for v in kept.replicate_effects}) > 3
    broken = bootstrap_cost_effect(
        np.zeros(19), effects, arm, rng=np.random.default_rng(1), n_boot=500
    )
    assert not {round(v, 9) for v in broken.replicate_effects} <= possible


def test_icer_interval_is_the_ratio_percentile_when_every_replicate_gains(rng):
    costs, effects, arm = two_arm_trial(rng, n=400, effect=3.0)
    result = bootstrap_cost_effect(costs, effects, arm, rng=rng, n_boot=1000)
    assert (result.replicate_effects > 0).all()
    ratios = result.replicate_costs / result.replicate_effects
    low, high = np.quantile(ratios, [0.025, 0.975])
    assert result.icer_ci_low == pytest.approx(low, rel=1e-10)
    assert result.icer_ci_high == pytest.approx(high, rel=1e-10)
    assert result.icer == pytest.approx(
        result.incremental_cost / result.incremental_effect, rel=1e-14
    )
    assert result.to_dict()["icer"]["ci_defined"] is True


def test_icer_interval_is_undefined_when_the_effect_interval_includes_zero(rng):
    costs, effects, arm = two_arm_trial(rng, n=60, effect=0.0)
    result = bootstrap_cost_effect(costs, effects, arm, rng=rng, n_boot=2000, n_plane_points=300)
    low, high = result.incremental_effect_ci
    assert low < 0 < high
    assert math.isnan(result.icer_ci_low) and math.isnan(result.icer_ci_high)
    out = result.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["icer"]["ci_low"] is None and out["icer"]["ci_defined"] is False
    assert out["icer"]["note"].startswith("Undefined")
    # the joint replicates are reported for the plane all the same
    assert len(out["plane"]) == 300
    assert out["plane"][0] == {
        "effect": result.replicate_effects[0],
        "cost": result.replicate_costs[0],
    }


def test_ceac_is_the_share_of_replicates_with_positive_net_benefit(rng):
    costs, effects, arm = two_arm_trial(rng, n=100, effect=1.0)
    wtp = np.array([0.0, 5.0, 20.0, 80.0, 1000.0])
    result = bootstrap_cost_effect(costs, effects, arm, rng=rng, n_boot=400, wtp=wtp)
    for w, probability in result.ceac:
        expected = np.mean(w * result.replicate_effects - result.replicate_costs > 0)
        assert probability == expected
    assert result.ceac[0][1] == np.mean(result.replicate_costs < 0)
    assert sum(result.quadrant_shares.values()) == pytest.approx(1.0)


def test_bootstrap_is_reproducible_from_its_generator(rng):
    costs, effects, arm = two_arm_trial(rng)
    a = bootstrap_cost_effect(costs, effects, arm, rng=np.random.default_rng(4), n_boot=300)
    b = bootstrap_cost_effect(costs, effects, arm, rng=np.random.default_rng(4), n_boot=300)
    assert a.to_dict() == b.to_dict()


def _two_arms(control: tuple, intervention: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (c0, e0), (c1, e1) = control, intervention
    costs = np.array([*c0, *c1], float)
    effects = np.array([*e0, *e1], float)
    arm = np.array([0] * len(c0) + [1] * len(c1))
    return costs, effects, arm


@pytest.mark.parametrize(
    ("control", "intervention", "higher", "verdict", "sentence"),
    [
        (
            ((0, 0), (20, 22)),
            ((40, 60), (22, 24)),
            True,
            "trade-off",
            "The intervention costs £50.00 more per participant and improves SWEMWBS by 2.00 points: "
            "£25.00 per point gained.",
        ),
        (
            ((100, 100), (20, 22)),
            ((40, 60), (22, 24)),
            True,
            "dominant",
            "The intervention is dominant: it costs £50.00 less per participant and improves SWEMWBS by 2.00 points.",
        ),
        (
            ((0, 0), (22, 24)),
            ((40, 60), (20, 22)),
            True,
            "dominated",
            "The intervention is dominated: it costs £50.00 more per participant and worsens SWEMWBS by 2.00 points.",
        ),
        (
            ((100, 100), (22, 24)),
            ((40, 60), (20, 22)),
            True,
            "trade-off",
            "The intervention costs £50.00 less per participant and worsens SWEMWBS by 2.00 points: "
            "£25.00 saved per point lost.",
        ),
        (
            ((0, 0, 0, 0, 0), (1, 0, 0, 0, 0)),
            ((5, 5, 5, 5, 5), (0, 0, 0, 0, 0)),
            False,
            "trade-off",
            "The intervention costs £5.00 more per participant and reduces turnover by 0.2 cases: "
            "£25.00 per case avoided.",
        ),
    ],
)
def test_dominance_verdicts_in_words(control, intervention, higher, verdict, sentence):
    costs, effects, arm = _two_arms(control, intervention)
    label, unit = ("SWEMWBS", "point") if higher else ("turnover", "case")
    result = bootstrap_cost_effect(
        costs, effects, arm, rng=np.random.default_rng(0), n_boot=200,
        higher_is_better=higher, outcome_label=label, effect_unit=unit,
    )  # fmt: skip
    assert result.verdict == verdict
    assert result.sentence == sentence


def test_bootstrap_validation_messages(rng):
    costs, effects, arm = two_arm_trial(rng, n=20)
    with pytest.raises(ValueError, match=r"'arm' must be 0/1 or bool .*Got values \[1, 2\]"):
        bootstrap_cost_effect(costs, effects, arm.astype(int) + 1, rng=rng)
    with pytest.raises(
        ValueError, match=r"'n_boot' must be an integer of at least 100. Got 10 instead"
    ):
        bootstrap_cost_effect(costs, effects, arm, rng=rng, n_boot=10)
    with pytest.raises(ValueError, match=r"'effects' must have no missing.*Got 1 instead"):
        bootstrap_cost_effect(costs, np.r_[effects[:-1], np.nan], arm, rng=rng)
    with pytest.raises(
        ValueError, match=r"Each cluster must lie in one arm.*Got clusters in both arms: k"
    ):
        bootstrap_cost_effect(costs, effects, arm, rng=rng, clusters=np.array(["k"] * 20))
    clusters = np.where(arm, "t", "c")
    with pytest.raises(
        ValueError, match=r"The control arm needs at least 2 clusters to bootstrap. Got 1"
    ):
        bootstrap_cost_effect(costs, effects, arm, rng=rng, clusters=clusters)
    with pytest.raises(ValueError, match=r"'rng' must be a numpy.random.Generator. Got int"):
        bootstrap_cost_effect(costs, effects, arm, rng=42)


def test_icer_bound_is_unbounded_when_its_order_statistic_crosses_zero_effect():
    from analysis.costs.effectiveness import _icer_interval

    # 96% of replicates gain at ICERs 1..96; 4% are dearer and worse (beyond zero effect)
    delta_e = np.r_[np.ones(96), -np.ones(4)]
    delta_c = np.r_[np.arange(1.0, 97.0), np.full(4, 5.0)]
    low, high = _icer_interval(delta_c, delta_e, 0.95, 1.0)
    assert high == math.inf
    # linear interpolation at position 99 x 0.025 of the sorted ICERs 1, 2, 3, ...
    assert low == pytest.approx(1 + 99 * 0.025, rel=1e-12)
    # mirrored replicates with the effect CI on the negative side give the same interval
    assert _icer_interval(-delta_c, -delta_e, 0.95, -1.0) == (low, high)


@pytest.mark.parametrize("name", ["n_plane_points", "chunk_size"])
@pytest.mark.parametrize("value", [0, 2.5, True])
def test_bootstrap_counts_must_be_integers_of_at_least_one(rng, name, value):
    costs, effects, arm = two_arm_trial(rng, n=20)
    with pytest.raises(
        ValueError, match=rf"The '{name}' must be an integer of at least 1. Got {value!r} instead"
    ):
        bootstrap_cost_effect(costs, effects, arm, rng=rng, n_boot=100, **{name: value})
