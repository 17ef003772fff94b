from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trial_designs.allocate import (
    allocate_blocked,
    allocate_blocked_probabilities,
    allocate_clusters,
    allocate_clusters_probabilities,
    allocate_complete,
    allocate_complete_probabilities,
    sequence_slot,
    stratum_sequence,
)
from trial_designs.constrained import (
    TooTightConstraintError,
    allocate_constrained,
    allocate_constrained_probabilities,
    enumerate_constrained,
)
from trial_designs.design import ALGORITHM_VERSION, load_design
from trial_designs.randomise import draw_allocations, randomise, randomise_probabilities

GOLDEN = Path(__file__).resolve().parent / "golden"
SEED_TRIALS = ["letters", "goal_setting", "coffee", "schwartz_rounds"]


def _roster(name: str) -> pd.DataFrame:
    return pd.read_csv(GOLDEN / f"{name}_roster.csv", dtype=str)


def _assert_floor_ceil(codes: np.ndarray, arms: np.ndarray, ratios) -> None:
    p = np.asarray(ratios) / sum(ratios)
    for s in np.unique(codes):
        n = int((codes == s).sum())
        counts = np.bincount(arms[codes == s], minlength=len(ratios))
        assert counts.sum() == n
        for j, count in enumerate(counts):
            assert np.floor(n * p[j]) <= count <= np.ceil(n * p[j]), (s, n, counts)


# -- arm counts --------------------------------------------------------------------------
@pytest.mark.parametrize("ratios", [(1, 1), (1, 2), (2, 3), (1, 1, 2), (1, 1, 1)])
def test_complete_counts_are_floor_or_ceiling_in_every_stratum(ratios, rng):
    sizes = np.arange(1, 60)
    codes = np.repeat(np.arange(len(sizes)), sizes)
    for _ in range(20):
        _assert_floor_ceil(codes, allocate_complete(codes, ratios=ratios, rng=rng), ratios)


@pytest.mark.parametrize(
    "ratios,blocks", [((1, 1), (2, 4, 6)), ((1, 2), (3, 6)), ((1, 1, 2), (4, 8))]
)
def test_blocked_counts_are_floor_or_ceiling_and_blocks_hold_the_ratio(ratios, blocks):
    sizes = np.arange(1, 40)
    codes = np.repeat(np.arange(len(sizes)), sizes)
    names = [f"s{i}" for i in range(len(sizes))]
    for seed in range(10):
        arms, _ = allocate_blocked(codes, names, ratios=ratios, block_sizes=blocks, seed=seed)
        _assert_floor_ceil(codes, arms, ratios)
    arms, block_index = stratum_sequence(
        ratios=ratios, block_sizes=blocks, seed=3, stratum="x", length=500, n_initial=37
    )
    sizes_seen = set()
    for b in np.unique(block_index)[:-1]:  # the last block may be cut by `length`
        members = arms[block_index == b]
        sizes_seen.add(len(members))
        unit = len(members) // sum(ratios)
        assert np.bincount(members, minlength=len(ratios)).tolist() == [r * unit for r in ratios]
    assert sizes_seen == set(blocks)


def test_cluster_members_share_an_arm(design_path):
    for name in ["coffee", "schwartz_rounds"]:
        design = load_design(design_path(name))
        roster = _roster(name)
        allocation = randomise(roster, design)
        arms = allocation.members.merge(allocation.units, on="unit_id")
        merged = roster.assign(participant_id=roster["id"]).merge(arms, on="participant_id")
        assert merged.groupby(design.cluster_by)["arm"].nunique().max() == 1
        assert len(merged) == len(roster)


# -- reproducibility -------------------------------------------------------------------------
@pytest.mark.parametrize("name", SEED_TRIALS)
def test_row_order_does_not_change_the_allocation(design_path, name):
    design = load_design(design_path(name))
    roster = _roster(name)
    first = randomise(roster, design).units.set_index("unit_id").sort_index()
    shuffled = roster.sample(frac=1, random_state=7).reset_index(drop=True)
    second = randomise(shuffled, design).units.set_index("unit_id").sort_index()
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("name", SEED_TRIALS)
def test_golden_allocation(design_path, name):
    """Same seed, design and algorithm version give the committed allocation."""
    assert (GOLDEN / "ALGORITHM_VERSION").read_text().strip() == ALGORITHM_VERSION
    design = load_design(design_path(name))
    expected = pd.read_csv(
        GOLDEN / f"{name}_allocation.csv", dtype={"unit_id": str, "stratum": str}
    )
    got = randomise(_roster(name), design).units.astype({"stratum": str, "arm": str})
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False)


def test_different_seed_gives_a_different_allocation(design_path):
    design = load_design(design_path("goal_setting"))
    other = design.model_copy(
        update={"randomisation": design.randomisation.model_copy(update={"seed": 1})}
    )
    a = randomise(_roster("goal_setting"), design).units["arm"]
    b = randomise(_roster("goal_setting"), other).units["arm"]
    assert (a != b).mean() > 0.3


# -- probabilities twins, by Monte Carlo over 2,000 seeds ------------------------------------------
def _within_5_mc_se(draws: np.ndarray, prob: np.ndarray, n_arms: int) -> None:
    n_draws = len(draws)
    for j in range(n_arms):
        empirical = (draws == j).mean(axis=0)
        se = np.sqrt(prob[:, j] * (1 - prob[:, j]) / n_draws)
        se = np.maximum(se, 1e-12)
        assert np.all(np.abs(empirical - prob[:, j]) <= 5 * se), (j, empirical, prob[:, j])


@pytest.mark.parametrize("ratios", [(1, 1), (1, 2), (1, 1, 2)])
def test_complete_twin_matches_2000_draws(ratios):
    codes = np.repeat(np.arange(4), [5, 7, 2, 11])
    draws = np.stack(
        [allocate_complete(codes, ratios=ratios, rng=np.random.default_rng(s)) for s in range(2000)]
    )
    _within_5_mc_se(draws, allocate_complete_probabilities(codes, ratios=ratios), len(ratios))


@pytest.mark.parametrize("ratios,blocks", [((1, 1), (2, 4)), ((1, 2), (3, 6))])
def test_blocked_twin_matches_2000_draws(ratios, blocks):
    codes = np.repeat(np.arange(3), [5, 9, 4])
    names = ["a", "b", "c"]
    draws = np.stack(
        [
            allocate_blocked(codes, names, ratios=ratios, block_sizes=blocks, seed=s)[0]
            for s in range(2000)
        ]
    )
    _within_5_mc_se(draws, allocate_blocked_probabilities(codes, ratios=ratios), len(ratios))


def test_cluster_twin_matches_2000_draws():
    codes = np.repeat(np.arange(2), [7, 6])
    draws = np.stack(
        [allocate_clusters(codes, ratios=(1, 2), rng=np.random.default_rng(s)) for s in range(2000)]
    )
    _within_5_mc_se(draws, allocate_clusters_probabilities(codes, ratios=(1, 2)), 2)


def test_constrained_twin_matches_2000_draws():
    sizes = np.array([25, 26, 27, 28, 29, 30, 31, 33, 35, 38, 40, 45, 60], dtype=float)
    accepted = enumerate_constrained(
        np.zeros(13, dtype=int),
        sizes[:, None],
        ratios=(1, 1),
        keep_fraction=0.2,
        max_candidates=20000,
        seed=1,
        cluster_ids=[f"b{i}" for i in range(13)],
    )
    draws = np.stack(
        [allocate_constrained(accepted, rng=np.random.default_rng(s))[0] for s in range(2000)]
    )
    prob = allocate_constrained_probabilities(accepted, 2)
    _within_5_mc_se(draws, prob, 2)
    assert accepted.enumerated and accepted.n_candidates == 3432
    # the accepted allocations are the best balanced, and far better than average
    assert accepted.scores.max() <= accepted.threshold + 1e-12


def test_design_level_twin_and_draws_agree(design_path):
    design = load_design(design_path("letters"))
    roster = _roster("letters")
    ids, draws = draw_allocations(roster, design, n_draws=2000, rng=np.random.default_rng(5))
    prob = randomise_probabilities(roster, design).loc[ids].to_numpy()
    _within_5_mc_se(draws, prob, 2)


# -- constrained randomisation --------------------------------------------------------------
def test_constrained_reports_balance_and_refuses_a_too_tight_constraint(design_path):
    design = load_design(design_path("coffee"))
    allocation = randomise(_roster("coffee"), design)
    assert allocation.n_candidates == 3432 and 0 < allocation.n_accepted < 3432
    assert allocation.balance_score is not None and allocation.balance_score >= 0
    with pytest.raises(
        TooTightConstraintError,
        match=r"^The constraint keeps 2 of 3432 candidate allocations and clusters 'b0' and 'b1' are always in the same arm\. Loosen 'keep_fraction'\.$",
    ):
        enumerate_constrained(
            np.zeros(13, dtype=int),
            2.0 ** np.arange(13)[:, None],  # only an allocation and its mirror tie
            ratios=(1, 1),
            keep_fraction=0.0001,
            max_candidates=20000,
            seed=1,
            cluster_ids=[f"b{i}" for i in range(13)],
        )


# -- the concealed sequence for late entrants ----------------------------------------------
def test_sequence_replays_from_seed_and_counter():
    kwargs = {
        "ratios": (1, 1),
        "block_sizes": (2, 4, 6),
        "seed": 99,
        "stratum": "Dudley",
        "n_initial": 11,
    }
    arms, _ = stratum_sequence(length=40, **kwargs)
    assert [sequence_slot(position=p, **kwargs) for p in range(40)] == arms.tolist()


def test_initial_blocked_allocation_is_the_head_of_the_sequence(design_path):
    design = load_design(design_path("letters"))
    allocation = randomise(_roster("letters"), design).units
    for stratum, group in allocation.groupby("stratum"):
        n = len(group)
        arms, _ = stratum_sequence(
            ratios=design.ratios,
            block_sizes=design.randomisation.block_sizes,
            seed=design.randomisation.seed,
            stratum=stratum,
            length=n,
            n_initial=n,
        )
        ordered = group.sort_values("sequence_position")
        assert ordered["sequence_position"].tolist() == list(range(n))
        assert ordered["arm"].tolist() == [design.arm_names[a] for a in arms]


def test_constraint_where_two_clusters_are_always_together_is_refused():
    # two small and two large clusters: perfect balance always splits the small pair
    sizes = np.array([[1.0], [1.0], [10.0], [10.0]])
    with pytest.raises(
        TooTightConstraintError,
        match=r"^The constraint keeps 4 of 6 candidate allocations and clusters 'b0' and 'b1' are never in the same arm\. Loosen 'keep_fraction'\.$",
    ):
        enumerate_constrained(
            np.zeros(4, dtype=int),
            sizes,
            ratios=(1, 1),
            keep_fraction=0.3,
            max_candidates=100,
            seed=1,
            cluster_ids=["b0", "b1", "b2", "b3"],
        )


def test_blocked_draws_for_inference_have_the_blocked_randomisers_distribution():
    """RI draws permuted blocks as complete randomisation: same arm-count law, same margins."""
    sizes = [7, 8, 12, 13]  # remainders 2n mod 3 of 2, 1, 0 (a whole number of blocks), 2
    codes = np.repeat(np.arange(4), sizes)  # 1:2 ratio, T = 3
    names = ["a", "b", "c", "d"]
    ratios, block_sizes = (1, 2), (3, 6)
    blocked = np.stack(
        [
            allocate_blocked(codes, names, ratios=ratios, block_sizes=block_sizes, seed=s)[0]
            for s in range(3000)
        ]
    )
    rng = np.random.default_rng(8)
    complete = np.stack([allocate_complete(codes, ratios=ratios, rng=rng) for _ in range(3000)])

    def count_law(draws: np.ndarray, stratum: int) -> dict[int, float]:
        counts = (draws[:, codes == stratum] == 1).sum(axis=1)
        values, freq = np.unique(counts, return_counts=True)
        return dict(zip(values.tolist(), (freq / len(draws)).tolist(), strict=True))

    for stratum, n in enumerate(sizes):
        law_blocked, law_complete = count_law(blocked, stratum), count_law(complete, stratum)
        # both give floor or ceil of 2n/3, with the same probabilities (3,000 draws: MC SE < 0.01)
        assert set(law_blocked) == set(law_complete) <= {2 * n // 3, -(-2 * n // 3)}
        for value, share in law_blocked.items():
            assert abs(share - law_complete[value]) < 0.05
    # every unit is in arm 1 two times in three under both
    assert np.abs((blocked == 1).mean(axis=0) - 2 / 3).max() < 0.04
    assert np.abs((complete == 1).mean(axis=0) - 2 / 3).max() < 0.04
