"""Absorbed stratum fixed effects equal the stratum-dummy model, which R already checks.

``fit_itt``/``fit_cace(absorb_strata=True)`` demean within strata (Frisch-Waugh-Lovell);
``absorb_strata=False`` fits dummy columns (held to estimatr in test_fits.py).  Both are the
same linear map of y, so every reported number agrees to rounding, for every SE type,
weighted or not, with a singleton stratum, a stratum with no one in an arm and a covariate
constant within strata.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from analysis.estimators import fit_cace, fit_itt, ols_fit_absorbed
from analysis.estimators.absorb import ABSORB_STRATA_ABOVE

FIELDS = ["estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high"]
TOLERANCE = 1e-10


def _data(seed: int = 3, n: int = 700, n_strata: int = 30, nested: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stratum = rng.integers(0, n_strata, n)
    stratum[:2] = [n_strata, n_strata + 1]  # two strata of one person each
    arm = rng.integers(0, 3, n)
    arm[stratum == 4] = 0  # a stratum with no one in either active arm
    arm[stratum == 5] = np.where(arm[stratum == 5] == 2, 1, arm[stratum == 5])  # none in arm 2
    # clusters either cut across strata or sit inside them (teams within organisations)
    cluster = stratum * 3 + rng.integers(0, 3, n) if nested else rng.integers(0, 45, n)
    x = rng.normal(size=n)
    size = np.bincount(stratum)[stratum].astype(float)  # constant within each stratum
    uptake = np.where(arm > 0, rng.random(n) < 0.7, rng.random(n) < 0.05).astype(float)
    effect = rng.normal(0, 1, n_strata + 2)[stratum]
    y = 1.0 + 0.8 * uptake + 0.5 * x + 0.02 * size + effect + rng.normal(size=n)
    return pd.DataFrame(
        {
            "y": y,
            "a1": (arm == 1).astype(int),
            "a2": (arm == 2).astype(int),
            "took_up": uptake,
            "x": x,
            "size": size,
            "stratum": [f"S{s:02d}" for s in stratum],
            "cluster": cluster,
            "w": rng.uniform(0.3, 3.0, n),
        }
    )


def _worst_gap(absorbed, dummies) -> float:  # noqa: ANN001
    gap = 0.0
    for mine in absorbed.fit.coefficients:
        theirs = dummies.fit[mine.term]
        for name in FIELDS:
            a, b = getattr(mine, name), getattr(theirs, name)
            gap = max(gap, abs(a - b) / max(1.0, abs(b)))
    return gap


def _both(fit, data, **options):  # noqa: ANN001, ANN202
    return fit(data, absorb_strata=True, **options), fit(data, absorb_strata=False, **options)


@pytest.mark.parametrize("weights", [None, "w"])
@pytest.mark.parametrize("se_type", ["HC0", "HC1", "HC2", "HC3"])
def test_itt_absorbed_equals_dummies_hc(se_type, weights):
    absorbed, dummies = _both(
        fit_itt,
        _data(),
        outcome="y",
        treatment_columns=["a1", "a2"],
        covariates=["x", "size"],
        strata="stratum",
        se_type=se_type,
        weights=weights,
    )
    assert _worst_gap(absorbed, dummies) < TOLERANCE
    assert absorbed.fit.k == dummies.fit.k  # K counts the intercept and every stratum
    assert absorbed.fit.terms == ("a1", "a2", "x")  # no intercept, no stratum terms
    # the covariate constant within strata is dropped; the dummies drop a stratum instead
    assert absorbed.dropped_terms == ("size",)
    assert "size" in dummies.fit.terms and dummies.dropped_terms
    assert all(t.startswith("stratum[") for t in dummies.dropped_terms)
    np.testing.assert_allclose(
        np.array(absorbed.fit.vcov),
        np.array(dummies.fit.vcov)[np.ix_([1, 2, 3], [1, 2, 3])],
        rtol=1e-9,
        atol=1e-14,
    )


@pytest.mark.parametrize("nested", [False, True], ids=["crossed", "nested"])
@pytest.mark.parametrize("weights", [None, "w"])
@pytest.mark.parametrize("se_type", ["CR0", "CR1", "CR2"])
def test_itt_absorbed_equals_dummies_cluster_robust(se_type, weights, nested):
    absorbed, dummies = _both(
        fit_itt,
        _data(nested=nested),
        outcome="y",
        treatment_columns=["a1", "a2"],
        covariates=["x"],
        strata="stratum",
        cluster="cluster",
        se_type=se_type,
        weights=weights,
    )
    assert _worst_gap(absorbed, dummies) < TOLERANCE
    assert (absorbed.fit.k, absorbed.fit.n_clusters) == (dummies.fit.k, dummies.fit.n_clusters)


@pytest.mark.parametrize(
    ("se_type", "weights"),
    [("HC1", None), ("HC2", None), ("HC2", "w"), ("HC3", "w"), ("CR1", None), ("CR2", None)]
    + [("CR2", "w")],
)
def test_cace_absorbed_equals_dummies(se_type, weights):
    absorbed, dummies = _both(
        fit_cace,
        _data(nested=True),
        outcome="y",
        uptake="took_up",
        assignment="a1",
        covariates=["x", "size"],
        strata="stratum",
        cluster="cluster" if se_type.startswith("CR") else None,
        se_type=se_type,
        weights=weights,
    )
    assert _worst_gap(absorbed, dummies) < TOLERANCE
    assert absorbed.fit.terms == ("took_up", "x")
    assert absorbed.fit.k == dummies.fit.k
    assert absorbed.first_stage_f == pytest.approx(dummies.first_stage_f, rel=TOLERANCE)
    assert absorbed.first_stage_df == dummies.first_stage_df
    assert absorbed.dropped_terms == ("size",)


@pytest.mark.parametrize("se_type", ["HC2", "CR2"])
def test_cace_with_two_instruments_absorbed_equals_dummies(se_type):
    absorbed, dummies = _both(
        fit_cace,
        _data(nested=True),
        outcome="y",
        uptake="took_up",
        assignment=["a1", "a2"],
        covariates=["x"],
        strata="stratum",
        cluster="cluster" if se_type == "CR2" else None,
        se_type=se_type,
    )
    assert _worst_gap(absorbed, dummies) < TOLERANCE
    assert absorbed.first_stage_f == pytest.approx(dummies.first_stage_f, rel=TOLERANCE)
    assert absorbed.first_stage_df == dummies.first_stage_df


def test_strata_above_the_threshold_are_absorbed_by_default_and_below_are_dummies():
    many = _data(n_strata=ABSORB_STRATA_ABOVE - 1)  # + the two singletons: one above
    few = _data(n_strata=ABSORB_STRATA_ABOVE - 2)  # at the threshold
    assert many["stratum"].nunique() == ABSORB_STRATA_ABOVE + 1
    assert few["stratum"].nunique() == ABSORB_STRATA_ABOVE
    common = {"outcome": "y", "treatment_columns": ["a1"], "covariates": ["x"]}
    assert fit_itt(many, strata="stratum", **common).fit.terms == ("a1", "x")
    assert fit_itt(few, strata="stratum", **common).fit.terms[:3] == ("(Intercept)", "a1", "x")
    # the count is of the complete cases' strata: the same data short of strata by dropping
    short = many.assign(y=many["y"].where(many["stratum"] != "S00"))
    assert fit_itt(short, strata="stratum", **common).fit.terms[0] == "(Intercept)"


def test_shuffling_rows_changes_nothing_when_absorbed():
    data = _data(nested=True)
    common = {
        "outcome": "y",
        "treatment_columns": ["a1", "a2"],
        "covariates": ["x"],
        "strata": "stratum",
        "cluster": "cluster",
        "se_type": "CR2",
        "absorb_strata": True,
    }
    a = fit_itt(data, **common)
    b = fit_itt(data.sample(frac=1.0, random_state=1), **common)
    assert _worst_gap(a, b) < TOLERANCE


def test_an_arm_constant_within_every_stratum_is_refused_by_name():
    data = _data()
    data["a1"] = (data["stratum"] < "S10").astype(int)  # assignment by stratum
    with pytest.raises(ValueError, match=r"a1 are collinear with the stratum fixed effects"):
        fit_itt(data, outcome="y", treatment_columns=["a1"], strata="stratum", absorb_strata=True)


def test_too_few_rows_for_the_strata_is_refused():
    # 5 rows, 3 strata, an arm and a covariate: K = 3 + 2 columns, no residual df left
    data = pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 5.0, 4.0],
            "a1": [0, 1, 0, 1, 0],
            "x": [0.3, -1.2, 0.5, 2.0, 0.1],
            "stratum": ["A", "A", "B", "B", "C"],
        }
    )
    with pytest.raises(ValueError, match=r"more rows than columns.*absorbed strata"):
        fit_itt(
            data,
            outcome="y",
            treatment_columns=["a1"],
            covariates=["x"],
            strata="stratum",
            absorb_strata=True,
        )


def test_ols_fit_absorbed_checks_its_inputs():
    data = _data()
    y = data["y"].to_numpy()
    with pytest.raises(ValueError, match=r"'strata' and 'data' must have one row per value"):
        ols_fit_absorbed(y, data, data["stratum"][:-1], leading=["a1"])
    missing = data["stratum"].where(data.index != 5)
    with pytest.raises(ValueError, match=r"'strata' must not contain missing labels"):
        ols_fit_absorbed(y, data, missing, leading=["a1"])
    with pytest.raises(ValueError, match=r"'weights' must be finite and positive"):
        ols_fit_absorbed(y, data, data["stratum"], leading=["a1"], weights=-data["w"].to_numpy())


def test_absorbing_never_builds_a_rows_by_strata_matrix():
    # 60,000 rows in 400 strata: the dummy design alone would be 60,000 x 400 x 8 B = 192 MB
    rng = np.random.default_rng(7)
    n, n_strata = 60_000, 400
    data = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "t": rng.integers(0, 2, n),
            "x": rng.normal(size=n),
            "stratum": rng.integers(0, n_strata, n).astype(str),
        }
    )
    tracemalloc.start()
    try:
        fit_itt(data, outcome="y", treatment_columns=["t"], covariates=["x"], strata="stratum")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a handful of n-long columns (y, design, its QR, demeaned copies), well short of n x 400
    assert peak < 40 * n * 8


@pytest.mark.parametrize("se_type", ["HC2", "CR2"])
@pytest.mark.parametrize("nested_level", [False, True], ids=["crossed", "level_of_strata"])
def test_subgroup_interaction_test_absorbed_equals_dummies(monkeypatch, se_type, nested_level):
    from analysis.sections import subgroups

    data = _data(nested=True)
    used = data[data["a2"] == 0].rename(columns={"a1": "treat"})
    # a role-like subgroup, or one whose levels are groups of strata (a region of
    # organisations): its level dummies are then explained by the strata and dropped
    level = (
        used["stratum"].str[1:].astype(int).mod(3).astype(str)
        if nested_level
        else pd.Series(np.resize(["a", "b", "c"], len(used)), index=used.index)
    )
    args = (used, level, "y", "treat", ["x"], "stratum", "cluster" if se_type == "CR2" else None)
    assert used["stratum"].nunique() > ABSORB_STRATA_ABOVE
    absorbed = subgroups._interaction_test(*args, se_type)
    monkeypatch.setattr("analysis.estimators.absorb.ABSORB_STRATA_ABOVE", 10_000)
    dummies = subgroups._interaction_test(*args, se_type)
    assert absorbed["df_num"] == dummies["df_num"] == 2
    for name in ("statistic", "df_denom", "p_value"):
        assert absorbed[name] == pytest.approx(dummies[name], rel=1e-9)


def test_absorb_strata_must_be_true_false_or_none():
    # A hostile review: absorb_strata="false" absorbed (bool("false") is True).
    data = _data()
    for bad in ("false", 0, 1.0):
        with pytest.raises(
            ValueError, match=rf"'absorb_strata' must be True, False or None. Got {bad!r} instead"
        ):
            fit_itt(
                data, outcome="y", treatment_columns=["a1"], strata="stratum", absorb_strata=bad
            )
