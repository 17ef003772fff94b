from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from analysis.balance import (
    _arm_stratified_subsample,
    _cross_validated_auc,
    balance_auc,
    baseline_table,
)
from analysis.covariates import covariate_matrix, covariate_patterns


def _small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "arm": ["control"] * 4 + ["letter"] * 4,
            "age": [30.0, 40.0, 50.0, 60.0, 35.0, 45.0, 55.0, np.nan],
            "female": [1, 0, 1, 1, 1, 1, 0, 0],
            "la": [
                "Dudley",
                "Dudley",
                "Shropshire",
                "Bracknell",
                "Dudley",
                "Bracknell",
                np.nan,
                "Shropshire",
            ],
        }
    )


def _row(table: pd.DataFrame, covariate: str, arm: str) -> pd.Series:
    return table.set_index(["covariate", "arm"]).loc[(covariate, arm)]


def test_baseline_table_hand_worked():
    table = baseline_table(_small(), arm="arm", covariates=["age", "female", "la"])
    # age: control 30..60 mean 45, var 500/3; letter 35, 45, 55 mean 45, var 100
    age_c, age_t = _row(table, "age", "control"), _row(table, "age", "letter")
    assert (age_c["mean"], age_c["sd"]) == (45.0, pytest.approx(math.sqrt(500 / 3)))
    assert (age_t["n"], age_t["n_missing"], age_t["sd"]) == (3, 1, 10.0)
    assert age_t["smd"] == 0.0 and math.isnan(age_c["smd"])
    # female: control 3/4, letter 2/4; SMD = (.5 - .75) / sqrt((.25 + .1875) / 2)
    female_t = _row(table, "female", "letter")
    assert female_t["kind"] == "binary" and female_t["percent"] == 50.0
    assert female_t["smd"] == pytest.approx(-0.25 / math.sqrt(0.4375 / 2), rel=1e-12)
    # la is expanded per level; the missing level is not counted as a level
    assert [c for c in table["covariate"].unique() if c.startswith("la=")] == [
        "la=Bracknell",
        "la=Dudley",
        "la=Shropshire",
    ]
    dudley_t = _row(table, "la=Dudley", "letter")
    assert (dudley_t["n"], dudley_t["n_missing"], dudley_t["mean"]) == (3, 1, pytest.approx(1 / 3))
    assert list(table["arm"].unique()) == ["control", "letter"]


def test_smd_follows_the_average_variance_formula_and_ignores_units(rng):
    n = 300
    data = pd.DataFrame(
        {
            "arm": rng.choice(["waiting_list", "rounds", "other"], n),
            "score": rng.normal(20, 4, n),
        }
    )
    table = baseline_table(data, arm="arm", covariates=["score"], control="waiting_list")
    assert list(table["arm"]) == ["waiting_list", "other", "rounds"]
    control = data.loc[data["arm"] == "waiting_list", "score"]
    rounds = data.loc[data["arm"] == "rounds", "score"]
    expected = (rounds.mean() - control.mean()) / math.sqrt((rounds.var() + control.var()) / 2)
    assert _row(table, "score", "rounds")["smd"] == pytest.approx(expected, rel=1e-12)
    rescaled = baseline_table(
        data.assign(score=data["score"] * 10 + 3),
        arm="arm",
        covariates=["score"],
        control="waiting_list",
    )
    np.testing.assert_allclose(rescaled["smd"], table["smd"], rtol=1e-12)
    shuffled = baseline_table(
        data.sample(frac=1, random_state=3), arm="arm", covariates=["score"], control="waiting_list"
    )
    np.testing.assert_allclose(shuffled["smd"], table["smd"], rtol=1e-12)


def test_declared_binary_and_forced_continuous():
    data = _small()
    as_continuous = baseline_table(data, arm="arm", covariates=["female"], binary=[])
    assert _row(as_continuous, "female", "letter")["kind"] == "continuous"
    with pytest.raises(
        ValueError, match="'age' is declared binary but takes values other than 0 and 1"
    ):
        baseline_table(data, arm="arm", covariates=["age"], binary=["age"])
    with pytest.raises(
        ValueError, match=r"'binary' columns \['sex'\] are not among the covariates"
    ):
        baseline_table(data, arm="arm", covariates=["age"], binary=["sex"])


def test_baseline_table_errors_name_the_problem():
    with pytest.raises(
        ValueError, match="'control' arm 'control' is not in the arm column 'group'"
    ):
        baseline_table(
            pd.DataFrame({"group": ["a", "b"], "x": [1.0, 2.0]}), arm="group", covariates=["x"]
        )
    with pytest.raises(ValueError, match=r"column\(s\) 'height' are not in the data"):
        baseline_table(_small(), arm="arm", covariates=["height"])
    with pytest.raises(ValueError, match="'arm' must have no missing values"):
        baseline_table(_small().assign(arm=["control", None] * 4), arm="arm", covariates=["age"])


def _trial(rng, n=240, shift=0.0, arms=("control", "treatment")):
    arm = rng.choice(arms, n)
    treated = (arm != arms[0]).astype(float)
    return pd.DataFrame(
        {
            "arm": arm,
            "baseline": rng.normal(size=n) + shift * treated,
            "age": rng.normal(40, 10, n),
            "la": rng.choice(["A", "B", "C"], n),
        }
    )


def test_loop_equals_cross_val_predict(rng):
    data = _trial(rng)
    x, _ = covariate_matrix(data, ["baseline", "age", "la"])
    codes = (data["arm"] == "treatment").to_numpy(dtype=int)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=11)
    reference = cross_val_predict(
        LogisticRegression(solver="newton-cholesky"), x, codes, cv=folds, method="predict_proba"
    )
    assert _cross_validated_auc(x, codes, 2, 5, 11) == pytest.approx(
        roc_auc_score(codes, reference[:, 1]), rel=1e-12
    )


def test_balanced_trial_gives_chance_auc_and_large_p_value():
    result = balance_auc(
        _trial(np.random.default_rng(7)),
        arm="arm",
        covariates=["baseline", "age", "la"],
        rng=np.random.default_rng(1),
        n_permutations=60,
    )
    assert abs(result.auc - 0.5) < 0.1
    assert result.p_value > 0.05
    assert 1 / 61 <= result.p_value <= 1
    assert result.n == 240 and result.n_arms == 2 and result.n_permutations == 60


def test_imbalanced_trial_is_detected():
    result = balance_auc(
        _trial(np.random.default_rng(8), shift=0.8),
        arm="arm",
        covariates=["baseline", "age"],
        rng=np.random.default_rng(2),
        n_permutations=60,
    )
    assert result.auc > 0.65
    assert result.p_value == pytest.approx(1 / 61)  # no permutation comes close
    assert result.null_q95 < result.auc


def test_three_arms_and_reproducibility():
    data = _trial(np.random.default_rng(9), n=270, shift=0.8, arms=("control", "a", "b"))
    first = balance_auc(
        data,
        arm="arm",
        covariates=["baseline", "age"],
        rng=np.random.default_rng(3),
        n_permutations=30,
    )
    again = balance_auc(
        data,
        arm="arm",
        covariates=["baseline", "age"],
        rng=np.random.default_rng(3),
        n_permutations=30,
    )
    assert first == again
    assert first.n_arms == 3 and first.auc > 0.55 and first.p_value < 0.1
    payload = first.to_dict()
    assert payload["covariates"] == ["baseline", "age"] and isinstance(payload["auc"], float)


def test_balance_auc_argument_checks(rng):
    data = _trial(rng, n=40)
    with pytest.raises(ValueError, match="'n_permutations' must be a positive integer. Got 0"):
        balance_auc(data, arm="arm", covariates=["age"], rng=rng, n_permutations=0)
    with pytest.raises(ValueError, match="'cv' must be an integer of at least 2. Got 1"):
        balance_auc(data, arm="arm", covariates=["age"], rng=rng, cv=1)
    tiny = data.assign(arm=["control"] * 38 + ["treatment"] * 2)
    with pytest.raises(ValueError, match="at least cv = 5 rows for stratified folds. Got 2"):
        balance_auc(tiny, arm="arm", covariates=["age"], rng=rng)
    with pytest.raises(ValueError, match="needs at least 2 arms"):
        balance_auc(data.assign(arm="control"), arm="arm", covariates=["age"], rng=rng)


# ---------------------------------------------------------------------------
# Large trials: the subsample rule, the pattern fits, the table at national size
# ---------------------------------------------------------------------------
def _organisations(rng, n, arms=("control", "offer"), p=(0.6, 0.4)):
    return pd.DataFrame(
        {
            "arm": rng.choice(arms, n, p=p),
            "organisation": rng.choice([f"Org {i:03d}" for i in range(30)], n),
        }
    )


def test_subsample_keeps_each_arms_share_to_the_nearest_participant(rng):
    codes = rng.permutation(np.repeat([0, 1, 2], [5_001, 2_999, 2_000]))
    rows = _arm_stratified_subsample(codes, 997, np.random.default_rng(4), 5)
    assert rows.size == 997 and (np.diff(rows) > 0).all()  # distinct rows, in data order
    counts = np.bincount(codes[rows], minlength=3)
    shares = 997 * np.array([5_001, 2_999, 2_000]) / 10_000  # 498.6, 299.0, 199.4
    assert (counts >= np.floor(shares)).all() and (counts <= np.ceil(shares)).all()
    assert counts.tolist() == [499, 299, 199]  # the one left over goes to the largest remainder
    np.testing.assert_array_equal(
        rows, _arm_stratified_subsample(codes, 997, np.random.default_rng(4), 5)
    )
    assert not np.array_equal(
        rows, _arm_stratified_subsample(codes, 997, np.random.default_rng(5), 5)
    )


def test_a_trial_above_max_n_is_tested_on_a_reproducible_subsample_and_says_so(rng):
    data = _organisations(rng, 1_000).assign(baseline=rng.normal(size=1_000))
    first = balance_auc(
        data,
        arm="arm",
        covariates=["organisation", "baseline"],
        rng=np.random.default_rng(6),
        n_permutations=9,
        max_n=300,
    )
    again = balance_auc(
        data,
        arm="arm",
        covariates=["organisation", "baseline"],
        rng=np.random.default_rng(6),
        n_permutations=9,
        max_n=300,
    )
    assert first == again
    assert (first.n, first.n_total) == (300, 1_000)
    detail = first.to_dict()
    assert (detail["n"], detail["n_total"]) == (300, 1_000)
    assert "random subsample of 300 of the 1,000" in detail["subsample"]
    # it is the statistic of the subsample the rule draws from the same stream, tested
    # whole (its sparse fits are the dense fits: to the same tolerance, the same AUCs)
    stream = np.random.default_rng(6)
    codes = pd.factorize(data["arm"], sort=True)[0]
    rows = _arm_stratified_subsample(codes, 300, stream, 5)
    x, _ = covariate_matrix(data.iloc[rows], ["organisation", "baseline"])
    seed = int(stream.integers(0, 2**31 - 1))
    dense = [_cross_validated_auc(x, codes[rows], 2, 5, seed, tol=1e-10)]
    dense += [
        _cross_validated_auc(x, stream.permutation(codes[rows]), 2, 5, seed, tol=1e-10)
        for _ in range(9)
    ]
    assert first.auc == pytest.approx(dense[0], abs=1e-9)
    assert first.null_mean == pytest.approx(np.mean(dense[1:]), abs=1e-9)
    assert first.p_value == (1 + sum(d >= dense[0] for d in dense[1:])) / 10


def test_a_trial_at_or_below_max_n_is_tested_whole_as_before(rng):
    data = _trial(rng, n=200)
    kwargs = {"arm": "arm", "covariates": ["baseline", "la"], "n_permutations": 9}
    capped = balance_auc(data, rng=np.random.default_rng(2), max_n=200, **kwargs)
    uncapped = balance_auc(data, rng=np.random.default_rng(2), max_n=None, **kwargs)
    assert capped == uncapped and capped.n == capped.n_total == 200
    assert "n_total" not in capped.to_dict() and "subsample" not in capped.to_dict()


@pytest.mark.parametrize("arms", [("control", "offer"), ("control", "offer", "reminder")])
def test_fits_on_distinct_patterns_give_the_row_level_auc(rng, arms):
    data = _organisations(rng, 3_000, arms=arms, p=None).assign(part_time=rng.integers(0, 2, 3_000))
    x, _ = covariate_matrix(data, ["organisation", "part_time"])
    pattern, first = covariate_patterns(data, ["organisation", "part_time"])
    assert first.size <= 60 and (x[first][pattern] == x).all()
    codes = pd.factorize(data["arm"], sort=True)[0]
    for permuted in (codes, rng.permutation(codes)):
        rows = _cross_validated_auc(x, permuted, len(arms), 5, 7, tol=1e-10)
        patterns = _cross_validated_auc(x, permuted, len(arms), 5, 7, (pattern, x[first]), tol=1e-8)
        assert patterns == pytest.approx(rows, abs=1e-12)


def test_max_n_must_be_an_integer_of_at_least_2(rng):
    data = _trial(rng, n=40)
    for bad in (1, 2.5, True, "20000"):
        with pytest.raises(ValueError, match=r"'max_n' must be an integer of at least 2, or None"):
            balance_auc(data, arm="arm", covariates=["age"], rng=rng, max_n=bad)


def test_a_small_arm_keeps_enough_rows_in_the_subsample_for_the_folds(rng):
    # A hostile review: arms of 2,490 / 2,490 / 20 with max_n = 1,000 gave the small arm
    # its share, 4 rows, and refused the test (cv = 5) that the whole trial could run.
    uneven = pd.DataFrame(
        {
            "arm": ["a"] * 2490 + ["b"] * 2490 + ["c"] * 20,
            "age": rng.normal(40, 10, 5000),
        }
    )
    codes = pd.factorize(uneven["arm"], sort=True)[0]
    rows = _arm_stratified_subsample(codes, 1000, np.random.default_rng(3), 5)
    assert np.bincount(codes[rows]).tolist() == [498, 498, 5]
    result = balance_auc(
        uneven, arm="arm", covariates=["age"], rng=rng, max_n=1000, n_permutations=3
    )
    assert result.n == 1001
    assert "random subsample of 1,001 of the 5,000" in result.to_dict()["subsample"]
    # an arm with fewer rows than the folds need is still refused, as for a whole trial
    tiny = pd.DataFrame({"arm": ["control"] * 100 + ["treatment"] * 4, "age": range(104)})
    with pytest.raises(ValueError, match="Got 4 in the smallest arm of the subsample"):
        balance_auc(tiny, arm="arm", covariates=["age"], rng=rng, max_n=20, cv=5)


def test_baseline_table_of_a_national_trial_counts_every_level(rng):
    n = 1_300_000
    organisation = rng.integers(0, 200, n)
    arm = np.where(rng.random(n) < 0.5, "control", "offer")
    data = pd.DataFrame({"arm": arm, "organisation": np.char.add("Org ", organisation.astype(str))})
    table = baseline_table(data, arm="arm", covariates=["organisation"])
    assert len(table) == 400 and table["covariate"].nunique() == 200
    row = _row(table, "organisation=Org 7", "offer")
    in_offer = arm == "offer"
    assert row["n"] == in_offer.sum() and row["n_missing"] == 0
    assert row["mean"] == ((organisation == 7) & in_offer).sum() / in_offer.sum()
    assert table.groupby("arm")["mean"].sum().to_numpy() == pytest.approx([1.0, 1.0], rel=1e-12)
