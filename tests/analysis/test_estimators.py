from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.estimators import fit_cace, fit_itt, ols_fit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
from reference_values import load_data, load_reference  # noqa: E402

REFERENCE = load_reference()
FIELDS = ["estimate", "std_error", "df", "ci_low", "ci_high", "p_value"]


def _ours(fit) -> pd.DataFrame:
    return pd.DataFrame([c.to_dict() for c in fit.coefficients]).set_index("term")


def _assert_matches(model: str, ours: pd.DataFrame, rename: dict[str, str]) -> None:
    expected = REFERENCE[REFERENCE["model"] == model].set_index("term")
    assert len(expected) > 0, model
    for r_term, row in expected.iterrows():
        mine = ours.loc[rename.get(r_term, r_term)]
        for field in FIELDS:
            assert mine[field] == pytest.approx(row[field], rel=1e-6, abs=1e-12), (
                model,
                r_term,
                field,
            )


def _individual_x(data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    x = np.column_stack(
        [
            np.ones(len(data)),
            data["treat"],
            data["baseline"],
            data["stratum"] == "Dudley",
            data["stratum"] == "Shropshire",
        ]
    ).astype(float)
    return x, ["(Intercept)", "treat", "baseline", "stratumDudley", "stratumShropshire"]


@pytest.mark.parametrize("se_type", ["HC0", "HC1", "HC2", "HC3"])
def test_hc_matches_estimatr(se_type):
    data = load_data("individual")
    x, terms = _individual_x(data)
    fit = ols_fit(data["y"].to_numpy(), x, terms=terms, se_type=se_type)
    _assert_matches(f"individual_{se_type}", _ours(fit), {})


def test_weighted_hc2_matches_estimatr():
    data = load_data("individual")
    x, terms = _individual_x(data)
    fit = ols_fit(data["y"].to_numpy(), x, terms=terms, se_type="HC2", weights=data["w"].to_numpy())
    _assert_matches("individual_weighted_HC2", _ours(fit), {})


def test_fit_itt_builds_the_ancova_estimatr_fits():
    data = load_data("individual").assign(
        arm=lambda d: np.where(d["treat"] == 1, "letter", "control")
    )
    result = fit_itt(
        data,
        outcome="y",
        arm="arm",
        arms=["control", "letter"],
        control="control",
        covariates=["baseline"],
        strata="stratum",
    )
    rename = {
        "treat": "arm[letter]",
        "stratumDudley": "stratum[stratum]=Dudley",
        "stratumShropshire": "stratum[stratum]=Shropshire",
    }
    _assert_matches("individual_HC2", _ours(result.fit), rename)
    assert result.n_per_arm == data["arm"].value_counts().to_dict()


def test_three_arms_each_against_control():
    data = load_data("individual")
    result = fit_itt(
        data,
        outcome="y",
        arm="arm3",
        arms=["control", "letter", "letter_plus"],
        control="control",
        covariates=["baseline"],
        strata="stratum",
    )
    rename = {
        "arm3letter": "arm[letter]",
        "arm3letter_plus": "arm[letter_plus]",
        "stratumDudley": "stratum[stratum]=Dudley",
        "stratumShropshire": "stratum[stratum]=Shropshire",
    }
    _assert_matches("individual_three_arm_HC2", _ours(result.fit), rename)


@pytest.mark.parametrize(
    "se_type,model",
    [
        ("CR0", "coffee_CR0"),
        ("CR1", "coffee_stata"),
        ("CR2", "coffee_CR2"),
        ("CR2", "coffee_clubSandwich_CR2"),
    ],
)
def test_cluster_robust_matches_estimatr_and_clubsandwich(se_type, model):
    data = load_data("coffee13")
    x = np.column_stack([np.ones(len(data)), data["treat"], data["baseline"]])
    fit = ols_fit(
        data["y"].to_numpy(),
        x,
        terms=["(Intercept)", "treat", "baseline"],
        se_type=se_type,
        clusters=data["building"].to_numpy(),
    )
    _assert_matches(model, _ours(fit), {})
    assert fit.n_clusters == 13


def test_weighted_cr2_is_refused_with_a_reason():
    data = load_data("coffee13")
    x = np.column_stack([np.ones(len(data)), data["treat"], data["baseline"]])
    with pytest.raises(
        ValueError, match=r"^Weighted CR2 is not supported: .* Use se_type='CR1' with weights\.$"
    ):
        ols_fit(
            data["y"].to_numpy(),
            x,
            terms=["a", "b", "c"],
            se_type="CR2",
            clusters=data["building"].to_numpy(),
            weights=np.ones(len(data)),
        )


def test_iv_hc2_matches_iv_robust():
    data = load_data("iv")
    result = fit_cace(
        data,
        outcome="y",
        uptake="uptake",
        assigned="assigned",
        covariates=["baseline"],
        strata="stratum",
    )
    rename = {f"stratumLA{i}": f"stratum[stratum]=LA{i}" for i in range(2, 9)}
    _assert_matches("iv_HC2", _ours(result.fit), rename)
    assert result.first_stage_f > 10 and not result.weak_instrument


def test_iv_cr2_matches_iv_robust():
    data = load_data("iv").assign(cluster=lambda d: d["stratum"].str[2:].astype(int))
    result = fit_cace(
        data,
        outcome="y",
        uptake="uptake",
        assigned="assigned",
        covariates=["baseline"],
        cluster="cluster",
    )
    _assert_matches("iv_CR2", _ours(result.fit), {})


def test_cr2_equals_hc2_with_singleton_clusters():
    data = load_data("individual")
    x, terms = _individual_x(data)
    hc2 = _ours(ols_fit(data["y"].to_numpy(), x, terms=terms, se_type="HC2"))
    cr2 = _ours(
        ols_fit(data["y"].to_numpy(), x, terms=terms, se_type="CR2", clusters=np.arange(len(data)))
    )
    np.testing.assert_allclose(cr2["std_error"], hc2["std_error"], rtol=1e-10)


def test_row_order_does_not_matter():
    data = load_data("coffee13")
    shuffled = data.sample(frac=1, random_state=3)

    def fit(d):
        x = np.column_stack([np.ones(len(d)), d["treat"], d["baseline"]])
        return _ours(
            ols_fit(
                d["y"].to_numpy(),
                x,
                terms=["(Intercept)", "treat", "baseline"],
                se_type="CR2",
                clusters=d["building"].to_numpy(),
            )
        )

    pd.testing.assert_frame_equal(fit(data), fit(shuffled), rtol=1e-10)


def test_unknown_se_type_names_the_choices():
    data = load_data("individual")
    x, terms = _individual_x(data)
    with pytest.raises(
        ValueError,
        match=r"^The 'se_type' 'HC9' is not known\. Choose one of: HC0, HC1, HC2, HC3, CR0, CR1, CR2\. Got 'HC9' instead\.$",
    ):
        ols_fit(data["y"].to_numpy(), x, terms=terms, se_type="HC9")
    with pytest.raises(
        ValueError, match=r"^The 'se_type' 'HC2' ignores clustering in a cluster trial"
    ):
        ols_fit(
            data["y"].to_numpy(), x, terms=terms, se_type="HC2", clusters=np.arange(len(data)) // 10
        )
