"""Pocock–Simon minimisation: what the rule guarantees, its probabilities twin, replay."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from trial_designs.design import DesignError, TrialDesign, load_design
from trial_designs.minimise import (
    allocate_minimisation,
    factor_levels,
    marginal_imbalance,
    minimisation_probabilities,
    minimisation_sequence_probabilities,
    minimisation_step_probabilities,
    redraw_minimisation,
)
from trial_designs.randomise import draw_allocations, randomise, randomise_probabilities
from trial_designs.strata import canonical_order, stratum_codes

GOLDEN = Path(__file__).resolve().parent / "golden"
DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"


def _levels(n: int, sizes: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [rng.choice([f"f{f}l{j}" for j in range(size)], n) for f, size in enumerate(sizes)]
    ).astype(object)


# -- what the rule guarantees ------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_deterministic_one_factor_keeps_every_level_within_one(seed):
    """p = 1, two arms, one factor: every level's |n_1 - n_0| <= 1 after every assignment.

    Proof: with one factor, G_j is the range of the newcomer's level after adding
    them to arm j.  If the level is balanced (d = 0) either arm gives |d| = 1; if
    |d| = 1 the other arm gives 0 and is the unique minimiser, chosen with p = 1.
    So |d| never reaches 2.  (With two or more factors the bound does not hold
    per level: the newcomer's factors can pull opposite ways and tie.)
    """
    levels = _levels(120, (4,), seed)
    arms = allocate_minimisation(levels, n_arms=2, seed=seed, p=1.0)
    assert marginal_imbalance(levels, arms, n_arms=2).max() <= 1


def _reference_total_imbalance(levels, arms, weights) -> float:
    """Σ_f w_f Σ_levels |n_1 - n_0|, written independently with dictionaries."""
    total = 0.0
    for f, w in enumerate(weights):
        diff: dict[str, int] = {}
        for level, arm in zip(levels[:, f], arms, strict=True):
            diff[level] = diff.get(level, 0) + (1 if arm == 1 else -1)
        total += w * sum(abs(v) for v in diff.values())
    return total


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0), (2.0, 1.0, 0.5)])
def test_deterministic_rule_takes_the_arm_that_adds_least_imbalance(weights):
    """p = 1, two arms, any factors: each assignment changes the weighted total marginal
    imbalance T = Σ_f w_f Σ_l |n_1 - n_0| by the smaller of the two arms' changes, and so
    by at most the weight of the newcomer's levels that were balanced before.

    Proof: with two arms the range is |d|, so G_j is the newcomer's part of T after
    joining j and T changes by G_j minus its part before; minimising G minimises the
    change.  A level with d != 0 moves by ±1 either way and one arm moves it by −1;
    a balanced level adds +1 either way; so min(change) <= Σ_{balanced} w_f.
    """
    levels = _levels(150, (3, 4, 2), 11)
    arms = allocate_minimisation(levels, n_arms=2, seed=3, p=1.0, weights=weights)
    for k in range(1, len(levels)):
        before = _reference_total_imbalance(levels[:k], arms[:k], weights)
        change = {
            j: _reference_total_imbalance(levels[: k + 1], [*arms[:k], j], weights) - before
            for j in (0, 1)
        }
        balanced = sum(
            w
            for f, w in enumerate(weights)
            if _reference_total_imbalance(
                levels[:k][levels[:k, f] == levels[k, f]][:, [f]],
                arms[:k][levels[:k, f] == levels[k, f]],
                [1.0],
            )
            == 0
        )
        chosen = change[int(arms[k])]
        assert chosen == pytest.approx(min(change.values()))
        assert chosen <= balanced + 1e-12


def test_random_element_is_far_more_balanced_than_complete_randomisation():
    """p = 0.8 over 100 seeds: the largest marginal imbalance is a fraction of complete
    randomisation's (same levels, same arrival order)."""
    levels = _levels(100, (3, 4), 5)
    minimised, complete = [], []
    rng = np.random.default_rng(0)
    for seed in range(100):
        arms = allocate_minimisation(levels, n_arms=2, seed=seed, p=0.8)
        minimised.append(marginal_imbalance(levels, arms, n_arms=2)[-1].max())
        coin = rng.integers(0, 2, len(levels))
        complete.append(marginal_imbalance(levels, coin, n_arms=2)[-1].max())
    assert np.mean(minimised) < 0.35 * np.mean(complete)
    assert np.mean(minimised) < 4


# -- the probabilities twin against an independent brute force, and against draws ----------------
def _reference_sequences(levels, n_arms, p, weights, measure) -> dict[tuple[int, ...], float]:
    """Every branch of the rule, written from the definition with plain Python."""
    spread = {
        "range": lambda c: max(c) - min(c),
        "variance": lambda c: sum((x - sum(c) / len(c)) ** 2 for x in c) / len(c),
    }[measure]
    out: dict[tuple[int, ...], float] = {}

    def walk(prefix: tuple[int, ...], prob: float) -> None:
        k = len(prefix)
        if k == len(levels):
            out[prefix] = out.get(prefix, 0.0) + prob
            return
        scores = []
        for j in range(n_arms):
            g = 0.0
            for f, w in enumerate(weights):
                counts = [
                    sum(1 for i in range(k) if levels[i][f] == levels[k][f] and prefix[i] == a)
                    for a in range(n_arms)
                ]
                counts[j] += 1
                g += w * spread(counts)
            scores.append(g)
        best = [j for j in range(n_arms) if scores[j] <= min(scores) + 1e-9]
        for j in range(n_arms):
            pj = sum((p if j == m else (1 - p) / (n_arms - 1)) / len(best) for m in best)
            if pj > 0:
                walk((*prefix, j), prob * pj)

    walk((), 1.0)
    return out


CASES = [
    # (n_arms, p, weights, measure, factor sizes, levels seed)
    (2, 0.8, (1.0, 1.0), "range", (2, 3), 1),
    (2, 0.7, (2.0, 1.0), "variance", (3, 2), 2),
    (3, 0.6, (1.0, 0.5), "range", (2, 2), 3),
]


@pytest.mark.parametrize(("n_arms", "p", "weights", "measure", "sizes", "seed"), CASES)
def test_sequence_probabilities_equal_a_brute_force_reference(
    n_arms, p, weights, measure, sizes, seed
):
    levels = _levels(6, sizes, seed)
    sequences, prob = minimisation_sequence_probabilities(
        levels, n_arms=n_arms, p=p, weights=weights, measure=measure
    )
    reference = _reference_sequences(levels.tolist(), n_arms, p, weights, measure)
    got = {tuple(s): q for s, q in zip(sequences.tolist(), prob, strict=True)}
    assert got.keys() == reference.keys()
    for sequence, q in reference.items():
        assert got[sequence] == pytest.approx(q, abs=1e-12)
    assert prob.sum() == pytest.approx(1.0)
    # equal ratios and a rule symmetric in the arms: every marginal is exactly 1/K
    marginals = minimisation_probabilities(
        levels, n_arms=n_arms, p=p, weights=weights, measure=measure
    )
    np.testing.assert_allclose(marginals, 1 / n_arms, atol=1e-12)


def _within_5_mc_se(sequences, prob, draws) -> None:
    n_draws = len(draws)
    index = {tuple(s): i for i, s in enumerate(sequences.tolist())}
    hits = np.zeros(len(sequences))
    for row in draws.tolist():
        hits[index[tuple(row)]] += 1  # a KeyError: a sequence the twin says is impossible
    freq = hits / n_draws
    se = np.sqrt(prob * (1 - prob) / n_draws)
    assert np.all(np.abs(freq - prob) <= 5 * se + 1e-12), np.abs(freq - prob) / se


def test_allocation_over_2500_seeds_matches_the_twin():
    """The seeded allocator (one stream per arrival position) against the exact twin."""
    n_arms, p, weights, measure, sizes, seed = CASES[0]
    levels = _levels(6, sizes, seed)
    sequences, prob = minimisation_sequence_probabilities(
        levels, n_arms=n_arms, p=p, weights=weights, measure=measure
    )
    draws = np.array(
        [
            allocate_minimisation(
                levels, n_arms=n_arms, seed=s, p=p, weights=weights, measure=measure
            )
            for s in range(2500)
        ]
    )
    _within_5_mc_se(sequences, prob, draws)
    # the probability of each pair being in the same arm, the joint property minimisation shapes
    same = (draws[:, :, None] == draws[:, None, :]).mean(axis=0)
    exact = sum(q * (s[:, None] == s[None, :]) for s, q in zip(sequences, prob, strict=True))
    se = np.sqrt(np.clip(exact * (1 - exact), 1e-12, None) / len(draws))
    assert np.all(np.abs(same - exact) <= 5 * se + 1e-12)


@pytest.mark.parametrize(("n_arms", "p", "weights", "measure", "sizes", "seed"), CASES)
def test_redraws_for_inference_match_the_twin(n_arms, p, weights, measure, sizes, seed):
    levels = _levels(6, sizes, seed)
    sequences, prob = minimisation_sequence_probabilities(
        levels, n_arms=n_arms, p=p, weights=weights, measure=measure
    )
    draws = redraw_minimisation(
        levels,
        n_arms=n_arms,
        n_draws=20000,
        rng=np.random.default_rng(seed),
        p=p,
        weights=weights,
        measure=measure,
    )
    _within_5_mc_se(sequences, prob, draws)


def test_step_probabilities_share_ties_and_the_coin():
    # one factor, the newcomer's level 2:0 -> arm 1 minimises; 1:1 -> all tie
    np.testing.assert_allclose(minimisation_step_probabilities([[2, 0]], p=0.8), [0.2, 0.8])
    np.testing.assert_allclose(minimisation_step_probabilities([[1, 1]], p=0.8), [0.5, 0.5])
    # three arms, two tie at the minimum: each preferred half the time
    np.testing.assert_allclose(minimisation_step_probabilities([[1, 0, 0]], p=0.6), [0.2, 0.4, 0.4])


# -- replay and order ------------------------------------------------------------------------
def test_one_at_a_time_replays_the_batch_and_order_matters():
    levels = _levels(60, (3, 2), 8)
    batch = allocate_minimisation(levels, n_arms=2, seed=99)
    arms: list[int] = []
    for k in range(len(levels)):  # each late entrant enrolled alone, after the ones before
        arms.append(
            int(allocate_minimisation(levels[: k + 1], n_arms=2, seed=99, history_arms=arms)[-1])
        )
    np.testing.assert_array_equal(arms, batch)
    np.testing.assert_array_equal(allocate_minimisation(levels, n_arms=2, seed=99), batch)
    assert (allocate_minimisation(levels, n_arms=2, seed=100) != batch).mean() > 0.2
    # the same people in another arrival order get another allocation (documented: not invariant)
    rng = np.random.default_rng(0)
    shuffled = [rng.permutation(len(levels)) for _ in range(5)]
    assert any(
        (allocate_minimisation(levels[o], n_arms=2, seed=99) != batch[o]).any() for o in shuffled
    )


def test_prefix_does_not_depend_on_who_comes_later():
    levels = _levels(40, (3, 3), 4)
    full = allocate_minimisation(levels, n_arms=3, seed=7, p=0.9)
    head = allocate_minimisation(levels[:25], n_arms=3, seed=7, p=0.9)
    np.testing.assert_array_equal(full[:25], head)


# -- errors at the boundary --------------------------------------------------------------------
def test_bad_options_name_the_option_and_the_value():
    levels = _levels(6, (2,), 1)
    with pytest.raises(
        ValueError,
        match=r"measure 'spread' is not known\. Choose one of: range, variance\. Got 'spread'",
    ):
        allocate_minimisation(levels, n_arms=2, seed=1, measure="spread")
    with pytest.raises(
        ValueError, match=r"'p' of the minimising arm must be between 1/2 and 1\. Got 0\.3"
    ):
        allocate_minimisation(levels, n_arms=2, seed=1, p=0.3)
    with pytest.raises(
        ValueError,
        match=r"'weights' must be one positive number per factor \(1 factor\(s\)\)\. Got \[1\.0, 2\.0\]",
    ):
        allocate_minimisation(levels, n_arms=2, seed=1, weights=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"'n_arms' must be an integer of at least 2\. Got 1"):
        allocate_minimisation(levels, n_arms=1, seed=1)
    with pytest.raises(
        ValueError, match=r"'history_arms' must be arm codes 0\.\.1 .* Got 1 arms \[5\]"
    ):
        allocate_minimisation(levels, n_arms=2, seed=1, history_arms=[5])
    with pytest.raises(ValueError, match=r"at most 1048576 are enumerated\. Got n = 21"):
        minimisation_sequence_probabilities(_levels(21, (2,), 1), n_arms=2)
    with pytest.raises(ValueError, match=r"minimises over 'grade', which is not a column"):
        factor_levels(pd.DataFrame({"id": ["a"]}), ["grade"])


# -- the design: letters declared with minimisation ---------------------------------------------
def _letters(**minimisation) -> dict:
    data = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    data["randomisation"] = {
        "method": "minimisation",
        "seed": 20190401,
        "minimisation": {"factors": ["organisation", "role"], **minimisation},
    }
    return data


def _design(data: dict, tmp_path: Path) -> TrialDesign:
    path = tmp_path / "letters_minimised.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_design(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["arms"][1].update(ratio=2),
            r"supports equal allocation only: every arm's 'ratio' must be the same and "
            r"'n_units' is not allowed\. Got ratio \[1, 2\] instead",
        ),
        (
            lambda d: d["randomisation"]["minimisation"].update(factors=["role"]),
            r"every stratum must be a minimisation factor.*add \['organisation'\].*Got factors \['role'\]",
        ),
        (
            lambda d: d["randomisation"].pop("minimisation"),
            r"method 'minimisation' needs a 'randomisation\.minimisation' block",
        ),
        (
            lambda d: d["randomisation"]["minimisation"].update(factors=["organisation", "grade"]),
            r"'factors' must be roster fields the store keeps for every participant: "
            r"organisation, building, team, role\. Got \['grade'\]",
        ),
        (
            lambda d: d["randomisation"]["minimisation"].update(p=0.4),
            r"'randomisation\.minimisation\.p' must be at least 1/2.*Got 0\.4",
        ),
        (
            lambda d: d["randomisation"]["minimisation"].update(weights={"team": 2}),
            r"'weights' names \['team'\], which are not factors",
        ),
        (
            lambda d: d["randomisation"]["minimisation"].update(weights={"role": 0}),
            r"'weights' must be positive numbers\. Got \{'role': 0",
        ),
        (
            lambda d: d["randomisation"]["minimisation"].update(imbalance="spread"),
            r"'imbalance' must be one of 'range' or 'variance'",
        ),
        (
            lambda d: d["randomisation"].update(method="blocked", block_sizes=[2, 4]),
            r"'randomisation\.minimisation' is read only with method 'minimisation'",
        ),
    ],
)
def test_design_refuses_what_minimisation_cannot_do(tmp_path, change, message):
    data = _letters()
    change(data)
    with pytest.raises(DesignError, match=message):
        _design(data, tmp_path)


def test_minimisation_in_a_cluster_trial_is_refused(tmp_path):
    data = yaml.safe_load((DESIGNS / "coffee.yaml").read_text())
    data["randomisation"] = {
        "method": "minimisation",
        "seed": 1,
        "minimisation": {"factors": ["organisation"]},
    }
    with pytest.raises(
        DesignError,
        match=r"a cluster trial needs method 'cluster' or 'constrained_cluster'\. Got 'minimisation'",
    ):
        _design(data, tmp_path)


def test_letters_minimised_is_the_replay_in_canonical_order_whatever_the_row_order(tmp_path):
    design = _design(_letters(), tmp_path)
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    allocation = randomise(roster, design)
    units = allocation.units
    assert allocation.method == "minimisation"
    assert units["sequence_position"].tolist() == list(range(len(roster)))
    # the arrival order of a roster randomised at once is the canonical (stratum, id) order
    codes, _ = stratum_codes(roster, design.strata)
    order = canonical_order(roster["id"], codes)
    assert units["unit_id"].tolist() == roster["id"].iloc[order].tolist()
    expected = allocate_minimisation(
        factor_levels(roster.iloc[order], ["organisation", "role"]), n_arms=2, seed=20190401
    )
    assert (units["arm"].cat.codes.to_numpy() == expected).all()
    shuffled = roster.sample(frac=1, random_state=7).reset_index(drop=True)
    pd.testing.assert_frame_equal(randomise(shuffled, design).units, units)


def test_golden_minimised_letters_allocation(tmp_path):
    """Same seed, design and algorithm version give the committed allocation
    (tests/trial_designs/golden/make_golden.py wrote it): a change to the rule that moves
    any arm must bump ALGORITHM_VERSION."""
    design = _design(_letters(), tmp_path)
    expected = pd.read_csv(
        GOLDEN / "letters_minimisation_allocation.csv", dtype={"unit_id": str, "stratum": str}
    )
    got = randomise(pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str), design).units
    got = got.astype({"stratum": str, "arm": str})
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False)


def test_letters_minimised_twin_and_inference_draws_agree(tmp_path):
    design = _design(_letters(), tmp_path)
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    twin = randomise_probabilities(roster, design)
    np.testing.assert_allclose(twin.to_numpy(), 0.5)
    ids, draws = draw_allocations(roster, design, n_draws=2000, rng=np.random.default_rng(1))
    assert list(ids) == randomise(roster, design).units["unit_id"].tolist()
    empirical = draws.mean(axis=0)
    assert np.all(np.abs(empirical - 0.5) <= 5 * np.sqrt(0.25 / 2000))
    # the re-draws are minimised too: far better balanced than coin flips
    levels = factor_levels(
        roster.set_index("id").loc[list(ids)].reset_index(), ["organisation", "role"]
    )
    worst = [marginal_imbalance(levels, d, n_arms=2)[-1].max() for d in draws[:50]]
    assert np.mean(worst) < 5


def test_inference_draws_follow_the_arrival_order_given(tmp_path):
    design = _design(_letters(), tmp_path)
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str).head(30)
    arrival = np.random.default_rng(2).permutation(30)
    ids, _draws = draw_allocations(
        roster.assign(arrival=arrival), design, n_draws=3, rng=np.random.default_rng(1)
    )
    assert list(ids) == roster["id"].iloc[np.argsort(arrival)].tolist()


@pytest.mark.parametrize("name", ["letters", "goal_setting", "coffee", "schwartz_rounds"])
def test_packaged_designs_keep_no_minimisation_field_in_their_hash(name):
    design = load_design(DESIGNS / f"{name}.yaml")
    assert "minimisation" not in design.canonical_json()
    assert design.randomisation.minimisation is None


def test_every_sequence_listed_once():
    levels = _levels(5, (2, 2), 9)
    sequences, _ = minimisation_sequence_probabilities(levels, n_arms=2)
    assert len({tuple(s) for s in sequences.tolist()}) == len(sequences)
    assert set(map(tuple, sequences.tolist())) <= set(itertools.product(range(2), repeat=5))


# -- randomisation inference re-runs the minimisation in the arrival order ------------------------
def _minimised_dataset(tmp_path: Path) -> tuple[pd.DataFrame, TrialDesign]:
    design = _design(_letters(), tmp_path)
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    units = randomise(roster, design).units
    data = roster.rename(columns={"id": "participant_id"}).merge(
        units.rename(columns={"unit_id": "participant_id", "sequence_position": "arrival"}),
        on="participant_id",
    )
    data = data.assign(arm=data["arm"].astype(str), stratum=data["stratum"].astype(str))
    rng = np.random.default_rng(5)
    data["feeling_valued_baseline"] = rng.normal(6, 2, len(data))
    data["feeling_valued_endline"] = data["feeling_valued_baseline"] + rng.normal(0, 2, len(data))
    data["cluster"] = np.nan
    data["responded_endline"] = 1
    return data, design


def test_inference_draws_rerun_the_minimisation_in_the_datasets_arrival_order(tmp_path):
    from analysis.sections.ri import draws_for_rows

    data, design = _minimised_dataset(tmp_path)
    data = data.assign(arrival=data["arrival"].to_numpy()[::-1])  # another order, to see it used
    draws, _ = draws_for_rows(data, design, 40, np.random.default_rng(4))
    in_order = data.sort_values("arrival")
    expected = redraw_minimisation(
        factor_levels(in_order, ["organisation", "role"]),
        n_arms=2,
        n_draws=40,
        rng=np.random.default_rng(4),
    )
    position = pd.Index(in_order["participant_id"]).get_indexer(data["participant_id"])
    np.testing.assert_array_equal(draws, expected[:, position])


def test_methods_text_says_the_minimisation_is_rerun_in_arrival_order(tmp_path):
    from analysis.results import analyse_trial

    data, design = _minimised_dataset(tmp_path)
    results = analyse_trial(data, design, ri_draws=100)
    text = results["methods"]["randomisation_inference"]
    assert "re-runs the Pocock-Simon minimisation over organisation, role (p = 0.8" in text
    assert "in the trial's own arrival order" in text
    itt = results["outcomes"][0]["estimates"][0]
    assert 0 <= itt["ri_p_value"] <= 1
    assert not any("'arrival'" in w for w in results["warnings"])
    without = analyse_trial(data.drop(columns="arrival"), design, ri_draws=100)
    assert any("no 'arrival' column" in w for w in without["warnings"])
