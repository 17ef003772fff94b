"""Absorbed stratum fixed effects against estimatr's ``fixed_effects = ~ stratum``.

The committed output of ``Rscript tests/reference/strata_fe_reference.R`` on
``tests/reference/data/strata_fe.csv`` (41 organisations as strata, more than
ABSORB_STRATA_ABOVE, so the fits absorb them by default); R is not needed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.estimators import fit_cace, fit_itt
from analysis.estimators.absorb import ABSORB_STRATA_ABOVE

REFERENCE = Path(__file__).resolve().parents[2] / "reference"
DATA = pd.read_csv(REFERENCE / "data" / "strata_fe.csv", na_values=["NA"])
COEFFICIENTS = pd.read_csv(REFERENCE / "output" / "strata_fe_coefficients.csv")
MODELS = pd.read_csv(REFERENCE / "output" / "strata_fe_models.csv").set_index("model")
COLUMNS = ["estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high"]
SE_TYPE = {"stata": "CR1"}  # estimatr's name -> trialflow's


def _fit(model: str):  # noqa: ANN202 - an ITTResult or a CACEResult
    se_type = SE_TYPE.get(MODELS.loc[model, "se_type"], MODELS.loc[model, "se_type"])
    common = {
        "covariates": ["org_size", "baseline"] if "constant" in model else ["baseline"],
        "strata": "stratum",
        "se_type": se_type,
        "cluster": "team" if se_type.startswith("CR") else None,
        "weights": "w" if "weighted" in model else None,
    }
    if model.startswith("iv_"):
        return fit_cace(DATA, outcome="y", uptake="took_up", assignment="treat", **common)
    return fit_itt(DATA, outcome="y", treatment_columns=["treat"], **common)


def test_the_dataset_has_more_strata_than_the_threshold():
    assert DATA["stratum"].nunique() > ABSORB_STRATA_ABOVE


@pytest.mark.parametrize("model", [m for m in MODELS.index if not m.startswith("first_")], ids=str)
def test_matches_estimatr_fixed_effects(model):
    result = _fit(model)
    ours = pd.DataFrame([c.to_dict() for c in result.fit.coefficients]).set_index("term")
    theirs = COEFFICIENTS[COEFFICIENTS["model"] == model].set_index("term")
    # a covariate constant within strata: estimatr's NA row, our dropped term
    not_estimable = theirs.index[theirs["estimate"].isna()]
    assert list(not_estimable) == list(result.dropped_terms)
    theirs = theirs.drop(index=not_estimable)
    # estimatr lists no intercept and no stratum terms with fixed_effects: nor do we
    assert list(ours.index) == list(theirs.index)
    np.testing.assert_allclose(ours[COLUMNS], theirs[COLUMNS], rtol=1e-8, atol=1e-12)
    assert result.n == MODELS.loc[model, "n"]
    if not pd.isna(MODELS.loc[model, "n_clusters"]):
        assert result.fit.n_clusters == MODELS.loc[model, "n_clusters"]


@pytest.mark.parametrize("se_type", ["HC1", "HC2", "HC3", "CR2"])
def test_first_stage_f_is_the_absorbed_first_stage_wald(se_type):
    # iv_robust gives no diagnostics with fixed effects; the first stage's lm_robust with
    # fixed effects does: one instrument, so F is its t statistic squared
    result = fit_cace(
        DATA,
        outcome="y",
        uptake="took_up",
        assignment="treat",
        covariates=["baseline"],
        strata="stratum",
        se_type=se_type,
        cluster="team" if se_type == "CR2" else None,
    )
    first = COEFFICIENTS[COEFFICIENTS["model"] == f"first_{se_type}"].set_index("term")
    assert result.first_stage_f == pytest.approx(first.loc["treat", "statistic"] ** 2, rel=1e-8)
