"""The pooled repeated-measures mixed model and arm means by wave, against lme4 and by property.

tests/reference/repeated_measures_reference.R fits the same models with lme4::lmer(REML=TRUE)
and the same means with t.test / estimatr::lm_robust; its output is committed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.repeated_measures import arm_means_by_wave, repeated_measures_lmm

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
DATA = pd.read_csv(REFERENCE / "data" / "repeated_measures.csv")
R = pd.read_csv(REFERENCE / "output" / "repeated_measures.csv", dtype={"value": float})
COLUMNS = {"outcome": "y", "arm": "arm", "wave": "wave", "participant": "participant"}


def fit(dataset, **options):
    data = DATA[DATA.dataset == dataset]
    cluster = "site" if dataset == "cluster" else None
    return repeated_measures_lmm(
        data, **COLUMNS, control="control", baseline="baseline", cluster=cluster, **options
    )


def r_values(dataset, table):
    rows = R[(R.dataset == dataset) & (R.table == table)]
    return rows.pivot(index="name", columns="quantity", values="value")


@pytest.mark.parametrize("dataset", ["individual", "cluster"])
def test_matches_lme4(dataset):
    got = fit(dataset)
    gaps = {}
    coefficients = r_values(dataset, "coefficient")
    assert len(coefficients) == len(got.coefficients)
    for term, row in coefficients.iterrows():
        for quantity in ("estimate", "se"):
            gaps[f"{term} {quantity}"] = abs(got.coefficients.loc[term, quantity] - row[quantity])
    effects = r_values(dataset, "effect")
    assert len(effects) == len(got.effects)
    for row in got.effects.itertuples():
        reference = effects.loc[f"{row.arm}|{row.wave}"]
        gaps[f"{row.arm}|{row.wave} estimate"] = abs(row.estimate - reference["estimate"])
        gaps[f"{row.arm}|{row.wave} se"] = abs(row.se - reference["se"])
    variances = r_values(dataset, "variance").loc["fit"]
    for ours, theirs in (("participant", "participant"), ("cluster", "site"), ("residual",) * 2):
        gaps[f"{ours} variance"] = abs(got.variances[ours] - variances[theirs])
    gaps["REML criterion"] = abs(got.reml_criterion - variances["reml_criterion"])
    worst = max(gaps, key=gaps.get)
    print(f"{dataset}: max |Python - lme4| = {gaps[worst]:.3g} ({worst}) over {len(gaps)} values")
    assert gaps[worst] < 1e-4


@pytest.mark.parametrize("dataset", ["individual", "cluster"])
def test_means_by_wave_match_r(dataset):
    data = DATA[DATA.dataset == dataset]
    cluster = "site" if dataset == "cluster" else None
    got = arm_means_by_wave(data, outcome="y", arm="arm", wave="wave", cluster=cluster)
    reference = r_values(dataset, "mean")
    assert len(got) == len(reference)
    worst = 0.0
    for row in got.itertuples():
        ref = reference.loc[f"{row.arm}|{row.wave}"]
        assert row.n == ref["n"]
        for quantity in ("mean", "se", "ci_low", "ci_high"):
            worst = max(worst, abs(getattr(row, quantity) - ref[quantity]))
    print(f"{dataset} means: max |Python - R| = {worst:.3g}")
    assert worst < 1e-9


def test_pooled_effect_is_the_mean_of_the_wave_effects():
    effects = fit("individual").effects
    for _, group in effects.groupby("arm"):
        waves = group[group.wave != "pooled"]
        pooled = group[group.wave == "pooled"].iloc[0]
        assert pooled.estimate == pytest.approx(waves.estimate.mean(), abs=1e-12)
        # Effects at different waves are positively correlated (shared participant
        # intercept) but not perfectly, so pooling narrows the SE below every wave's.
        assert pooled.se < waves.se.min()
        assert pooled.ci_low < pooled.estimate < pooled.ci_high


def test_reference_wave_and_row_order_do_not_change_the_answer():
    data = DATA[DATA.dataset == "individual"]
    shuffled = data.sample(frac=1.0, random_state=3)
    base = fit("individual").effects.set_index(["arm", "wave"])
    other = repeated_measures_lmm(
        shuffled, **COLUMNS, control="control", baseline="baseline", waves=["w3", "w1", "w2"]
    ).effects.set_index(["arm", "wave"])
    other = other.loc[base.index]
    np.testing.assert_allclose(other.estimate, base.estimate, atol=1e-6)
    np.testing.assert_allclose(other.se, base.se, atol=1e-6)


def test_one_wave_without_participant_variation_is_ancova():
    # With one wave each participant has one row, the participant variance is not separable
    # from the residual, and the fixed effects are those of OLS on arm + baseline.
    data = DATA[(DATA.dataset == "individual") & (DATA.wave == "w2")]
    got = repeated_measures_lmm(data, **COLUMNS, control="control", baseline="baseline")
    X = np.column_stack(
        [np.ones(len(data)), data.arm == "coach", data.arm == "letter", data.baseline]
    ).astype(float)
    beta = np.linalg.lstsq(X, data.y.to_numpy(), rcond=None)[0]
    terms = ["(Intercept)", "armcoach", "armletter", "baseline"]
    np.testing.assert_allclose(got.coefficients.loc[terms, "estimate"], beta, atol=1e-8)


def test_hostile_inputs_are_named():
    data = DATA[DATA.dataset == "individual"].copy()
    with pytest.raises(ValueError, match=r"control arm 'placebo' has no answered rows in 'arm'"):
        repeated_measures_lmm(data, **COLUMNS, control="placebo")
    with pytest.raises(ValueError, match=r"'wave' values \['w3'\] are not among the declared"):
        repeated_measures_lmm(data, **COLUMNS, control="control", waves=["w1", "w2"])
    swapped = data.copy()
    swapped.loc[swapped.index[0], "arm"] = "coach" if data.arm.iloc[0] != "coach" else "letter"
    with pytest.raises(ValueError, match=r"participant 'i\d+' has more than one 'arm'"):
        repeated_measures_lmm(swapped, **COLUMNS, control="control")
    gap = data[~((data.arm == "coach") & (data.wave == "w3"))]
    with pytest.raises(ValueError, match=r"rank-deficient design"):
        repeated_measures_lmm(gap, **COLUMNS, control="control")
    with pytest.raises(ValueError, match=r"column\(s\) 'ward' are not in the data"):
        repeated_measures_lmm(data, **COLUMNS, control="control", cluster="ward")
    with pytest.raises(ValueError, match=r"'level' must lie in \(0, 1\)\. Got 1\.5 instead"):
        arm_means_by_wave(data, outcome="y", arm="arm", wave="wave", level=1.5)


def test_no_participant_variation_is_a_singular_fit_equal_to_ols():
    # Pull each participant's answers away from their own mean: the within-person
    # correlation is negative, REML puts the participant variance on its boundary (0), and
    # with V = sigma^2 I the fixed effects are ordinary least squares.
    rng = np.random.default_rng(2)
    n = 60
    arm = np.resize(["control", "active"], n)
    baseline = rng.normal(20, 3, n)
    data = pd.concat(
        pd.DataFrame(
            {
                "participant": np.arange(n),
                "arm": arm,
                "wave": w,
                "baseline": baseline,
                "y": 5 + 0.5 * baseline + (arm == "active") + rng.normal(0, 3, n),
            }
        )
        for w in (1, 2, 3)
    )
    data["y"] -= 0.9 * data.groupby("participant").y.transform("mean")
    got = repeated_measures_lmm(data, **COLUMNS, control="control", baseline="baseline")
    assert got.singular
    assert got.variances["participant"] < 1e-8
    fitted = repeated_measures_lmm(
        DATA[DATA.dataset == "individual"], **COLUMNS, control="control", baseline="baseline"
    )
    assert not fitted.singular
    active = (data.arm == "active").to_numpy(float)
    w2, w3 = (data.wave == 2).to_numpy(float), (data.wave == 3).to_numpy(float)
    X = np.column_stack(
        [np.ones(len(data)), active, w2, w3, data.baseline, active * w2, active * w3]
    )
    beta = np.linalg.lstsq(X, data.y.to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(got.coefficients.estimate, beta, atol=1e-7)
