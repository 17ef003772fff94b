"""Every active arm of a three-arm trial gets its CACE, its missing-data sensitivity rows and,
where the design declares it, Holm across the arms on the primary (issue 15, section 4).

Before, ``cace_estimate`` returned None whenever there was more than one active arm, the IPW and
MI rows were computed for the first active arm only, and nothing adjusted the primary's p-values
across arms.
"""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.estimators import fit_cace, fit_itt
from analysis.multiplicity import holm_adjust
from analysis.results import _MI_SEED_LABEL, results_document
from analysis.results_model import SCHEMA_PATH
from analysis.sap import build_sap
from analysis.sections.balance import baseline_characteristics
from analysis.sections.missing_data import missing_data_sensitivity
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise

GOLDEN = DESIGNS.parents[0] / "tests" / "trial_designs" / "golden"
ACTIVE = ("letter", "call")
#: Share of each arm who take the intervention up (control: none).
UPTAKE = {"control": 0.0, "letter": 0.6, "call": 0.4}
#: The effect of taking it up, per arm.
EFFECT = {"control": 0.0, "letter": 1.5, "call": 3.0}


def _design(tmp_path, *, arms: int = 3, adjust: str | None = None):  # noqa: ANN001, ANN202
    spec = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    spec.pop("cycles", None)  # one cohort: the cycles section is tested on its own
    spec["analysis"]["subgroups"] = []  # subgroups are tested on their own
    spec["outcomes"] = [o for o in spec["outcomes"] if o["name"] in ("feeling_valued", "swemwbs")]
    if arms == 3:
        spec["arms"].append({"name": "call", "ratio": 1, "label": "Phone call"})
        spec["randomisation"]["block_sizes"] = [3, 6]  # multiples of the three arms' ratios
    if adjust is not None:
        spec["analysis"]["adjust_across_arms"] = adjust
    path = tmp_path / "letters.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_design(path)


def _data(design) -> pd.DataFrame:  # noqa: ANN001
    """The golden letters roster randomised, with partial uptake in every active arm, an effect
    of uptake, and endline answers missing more often for low baselines (missing at random)."""
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    allocation = randomise(roster, design)
    arms = allocation.members.merge(allocation.units[["unit_id", "stratum", "arm"]], on="unit_id")
    data = roster.rename(columns={"id": "participant_id"}).merge(arms, on="participant_id")
    data["arm"] = data["arm"].astype(str)
    data["stratum"] = data["stratum"].astype(str)
    data["cluster"] = np.nan
    rng = np.random.default_rng(20261130)
    n = len(data)
    took_up = (rng.random(n) < data["arm"].map(UPTAKE).to_numpy()).astype(float)
    data["took_up"] = took_up
    effect = data["arm"].map(EFFECT).to_numpy() * took_up
    for name, mean, sd in (("feeling_valued", 5.0, 2.0), ("swemwbs", 22.0, 3.0)):
        base = rng.normal(mean, sd, n)
        y = 0.6 * base + 0.4 * mean + effect + rng.normal(0, sd, n)
        lost = rng.random(n) < np.where(base < mean, 0.35, 0.1)
        y[lost] = np.nan
        data[f"{name}_baseline"] = base
        data[f"{name}_endline"] = y
    data["responded_endline"] = data["feeling_valued_endline"].notna().astype(int)
    return data


def _results(design, data):  # noqa: ANN001, ANN202
    document = results_document(data, design, ri_draws=0)
    jsonschema.validate(document.to_json_dict(), json.loads(SCHEMA_PATH.read_text()))
    return document


def _prepared(data: pd.DataFrame, design) -> pd.DataFrame:  # noqa: ANN001
    """The rows as results_document orders them, with each active arm's 0/1 column."""
    data = data.sort_values("participant_id", kind="stable").reset_index(drop=True)
    for arm in design.arm_names[1:]:
        data[f"arm[{arm}]"] = (data["arm"] == arm).astype(float)
    return data


def _pair(data: pd.DataFrame, arm: str) -> pd.DataFrame:
    return data[data["arm"].isin(["control", arm])]


@pytest.fixture(scope="module")
def three_arms(tmp_path_factory):  # noqa: ANN001, ANN201
    """A three-arm trial declaring Holm across arms: its design, data and results (built once)."""
    design = _design(tmp_path_factory.mktemp("three"), adjust="holm")
    data = _data(design)
    return design, data, _results(design, data)


def test_each_active_arm_gets_its_own_pairwise_cace(three_arms):
    design, data, document = three_arms
    primary = document.outcomes[0]
    caces = [e for e in primary.estimates if e.estimand == "CACE"]
    assert [e.arm for e in caces] == list(ACTIVE)
    prepared = _prepared(data, design)
    for cace in caces:
        pair = _pair(prepared, cace.arm)
        # independently: 2SLS by hand on the control and this arm only (uptake on
        # assignment, then the outcome on fitted uptake), same covariates and strata
        used = pair.dropna(subset=["feeling_valued_endline", "feeling_valued_baseline"])
        strata = pd.get_dummies(used["stratum"], drop_first=True, dtype=float).to_numpy()
        exog = np.column_stack([np.ones(len(used)), used["feeling_valued_baseline"], strata])
        z = np.column_stack([used[f"arm[{cace.arm}]"], exog])
        fitted = z @ np.linalg.lstsq(z, used["took_up"].to_numpy(), rcond=None)[0]
        second = np.column_stack([fitted, exog])
        by_hand = np.linalg.lstsq(second, used["feeling_valued_endline"].to_numpy(), rcond=None)
        assert cace.estimate == pytest.approx(by_hand[0][0], rel=1e-9)
        fitted_here = fit_cace(
            pair,
            outcome="feeling_valued_endline",
            uptake="took_up",
            assignment=f"arm[{cace.arm}]",
            covariates=["feeling_valued_baseline"],
            strata="stratum",
            se_type="HC2",
        )
        assert cace.std_error == pytest.approx(fitted_here.effect.std_error, rel=1e-12)
        assert cace.n == len(used)
        # the model has the control arm's and this arm's participants, no one of the other arm
        other = next(a for a in ACTIVE if a != cace.arm)
        assert cace.n_per_arm[other] == 0
        assert cace.n_per_arm[cace.arm] == int((used["arm"] == cace.arm).sum())
        # a pairwise CACE is not the trial's ITT rescaled by the pooled uptake
        itt = next(e for e in primary.estimates if e.estimand == "ITT" and e.arm == cace.arm)
        assert abs(cace.estimate) > abs(itt.estimate)


def test_an_arm_with_full_uptake_has_no_cace_and_the_other_keeps_its_own(tmp_path):
    design = _design(tmp_path)
    data = _data(design)
    data.loc[data["arm"] == "call", "took_up"] = 1.0  # everyone offered the call took it
    document = _results(design, data)
    for outcome in document.outcomes:
        assert [e.arm for e in outcome.estimates if e.estimand == "CACE"] == ["letter"]
    # without the declaration the primary's p-values are not adjusted across the arms
    assert all(e.p_value_holm is None for e in document.outcomes[0].estimates)
    assert "not adjusted across the 2 active arms" in document.methods.multiplicity


def test_each_active_arm_gets_its_complete_case_ipw_and_mi_rows(three_arms):
    design, data, document = three_arms
    primary = document.outcomes[0]
    assert [(s.arm, s.method) for s in primary.sensitivity] == [
        (arm, method)
        for arm in ACTIVE
        for method in ("complete_case", "ipw", "multiple_imputation")
    ]
    prepared = _prepared(data, design)
    # the primary's joint model (an indicator per active arm) on every arm's participants,
    # one imputation stream for all arms: the two-arm trials' [seed, MI]
    expected, _ = missing_data_sensitivity(
        prepared,
        endline="feeling_valued_endline",
        treatment=[f"arm[{arm}]" for arm in ACTIVE],
        arm=list(ACTIVE),
        covariates=["feeling_valued_baseline"],
        response_covariates=baseline_characteristics(prepared, design, "feeling_valued_baseline"),
        strata="stratum",
        cluster=None,
        se_type="HC2",
        rng=np.random.default_rng([design.randomisation.seed, _MI_SEED_LABEL]),
    )
    assert [s.model_dump() for s in primary.sensitivity] == [s.model_dump() for s in expected]
    complete = fit_itt(
        prepared,
        outcome="feeling_valued_endline",
        treatment_columns=[f"arm[{arm}]" for arm in ACTIVE],
        covariates=["feeling_valued_baseline"],
        strata="stratum",
        se_type="HC2",
    )
    itts = {e.arm: e for e in primary.estimates if e.estimand == "ITT"}
    for arm in ACTIVE:
        mine = [s for s in primary.sensitivity if s.arm == arm]
        assert mine[0].estimate == pytest.approx(complete.fit[f"arm[{arm}]"].estimate, rel=1e-12)
        # the row labelled the primary analysis is the primary ITT, to the bit
        assert (mine[0].estimate, mine[0].std_error, mine[0].n) == (
            itts[arm].estimate,
            itts[arm].std_error,
            itts[arm].n,
        )
    letter_mi, call_mi = (s for s in primary.sensitivity if s.method == "multiple_imputation")
    assert letter_mi.estimate != call_mi.estimate


def test_holm_across_arms_adjusts_the_primary_when_the_design_declares_it(three_arms):
    *_, document = three_arms
    primary, secondary = document.outcomes
    itts = [e for e in primary.estimates if e.estimand == "ITT"]
    assert [e.arm for e in itts] == list(ACTIVE)
    expected = holm_adjust([e.p_value for e in itts])
    assert [e.p_value_holm for e in itts] == pytest.approx(list(expected), rel=1e-15)
    assert all(e.p_value_holm is None for e in primary.estimates if e.estimand == "CACE")
    # the secondary family is (secondary outcomes x active arms), as without the declaration
    secondary_itts = [e for e in secondary.estimates if e.estimand == "ITT"]
    assert [e.p_value_holm for e in secondary_itts] == pytest.approx(
        list(holm_adjust([e.p_value for e in secondary_itts])), rel=1e-15
    )
    assert "Holm-adjusted across the 2 active arms" in document.methods.multiplicity
    assert "(1 outcome x 2 arms = 2 tests)" in document.methods.multiplicity


def test_a_two_arm_trial_keeps_its_single_cace_and_its_mi_stream(tmp_path):
    design = _design(tmp_path, arms=2)
    data = _data(design)
    document = _results(design, data)
    primary = document.outcomes[0]
    prepared = _prepared(data, design)
    (cace,) = [e for e in primary.estimates if e.estimand == "CACE"]
    whole = fit_cace(
        prepared,
        outcome="feeling_valued_endline",
        uptake="took_up",
        assignment="arm[letter]",
        covariates=["feeling_valued_baseline"],
        strata="stratum",
        se_type="HC2",
    )
    assert (cace.estimate, cace.std_error) == (whole.effect.estimate, whole.effect.std_error)
    expected, _ = missing_data_sensitivity(
        prepared,
        endline="feeling_valued_endline",
        treatment="arm[letter]",
        arm="letter",
        covariates=["feeling_valued_baseline"],
        response_covariates=baseline_characteristics(prepared, design, "feeling_valued_baseline"),
        strata="stratum",
        cluster=None,
        se_type="HC2",
        rng=np.random.default_rng([design.randomisation.seed, _MI_SEED_LABEL]),
    )
    assert [s.model_dump() for s in primary.sensitivity] == [s.model_dump() for s in expected]
    assert document.methods.multiplicity == (
        "The primary outcome is unadjusted; secondary outcomes carry Holm-adjusted p-values."
    )


def test_the_plan_declares_holm_across_arms_and_a_cace_per_arm(three_arms):
    design, *_ = three_arms
    plan = build_sap(design)
    assert plan["multiplicity"]["primary"] == "Holm across the active arms"
    assert "Holm-adjusted across the 2 active arms" in plan["multiplicity"]["text"]
    (cace,) = [e for e in plan["estimands"] if e["name"] == "CACE"]
    assert "each active arm whose uptake is partial" in cace["text"]


def test_multiple_imputation_uses_the_declared_number_of_imputations(tmp_path):
    # before, analysis.mi_imputations reached the plan ("m = 3") but the analysis always
    # imputed 20 times and its methods text said m = 20
    packaged = _design(tmp_path, arms=2)
    design = packaged.model_copy(
        update={"analysis": packaged.analysis.model_copy(update={"mi_imputations": 3})}
    )
    document = _results(design, _data(design))
    (mi,) = [s for s in document.outcomes[0].sensitivity if s.method == "multiple_imputation"]
    assert mi.detail.startswith("Missing values imputed 3 times")
    assert "m = 3," in document.methods.missing_data
    assert "m = 3," in build_sap(design)["missing_data"]["text"]
