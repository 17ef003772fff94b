"""Per-arm randomisation inference and missing-data sensitivity of a three-arm trial are of the
primary's estimand: the arm's coefficient in the joint model (an indicator per active arm).

Before, each arm's RI refitted control + that arm and counted a row re-drawn into the third arm
as control (treated share about 1/3, not 1/2: a reference distribution that is not the
design's), and the missing-data table's "complete cases (primary analysis)" row was that pair's
refit (+0.39, n 331 on the demo) beside the primary's joint +0.37 (n 502).
"""

from __future__ import annotations

import pickle
from functools import partial

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.estimators import fit_itt
from analysis.inference import (
    JointRiModel,
    RiModel,
    prepare_joint_ri,
    ri_blocks,
    ri_statistics,
    run_randomisation_inference,
)
from analysis.results import results_document
from analysis.sections.missing_data import missing_data_sensitivity
from analysis.sections.ri import _redraw_codes, draws_for_rows, ri_model
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise

GOLDEN = DESIGNS.parents[0] / "tests" / "trial_designs" / "golden"
ACTIVE = ("letter", "call")
OUTCOME, BASELINE = "feeling_valued_endline", "feeling_valued_baseline"


@pytest.fixture(scope="module")
def trial(tmp_path_factory):  # noqa: ANN001, ANN201
    """A three-arm letters trial (golden roster), effects in both arms, MAR attrition."""
    spec = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    spec.pop("cycles", None)
    spec["analysis"]["subgroups"] = []
    spec["outcomes"] = [o for o in spec["outcomes"] if o["name"] == "feeling_valued"]
    spec["arms"].append({"name": "call", "ratio": 1, "label": "Phone call"})
    spec["randomisation"]["block_sizes"] = [3, 6]
    path = tmp_path_factory.mktemp("joint") / "letters.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    design = load_design(path)
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    allocation = randomise(roster, design)
    arms = allocation.members.merge(allocation.units[["unit_id", "stratum", "arm"]], on="unit_id")
    data = roster.rename(columns={"id": "participant_id"}).merge(arms, on="participant_id")
    data["arm"] = data["arm"].astype(str)
    data["stratum"] = data["stratum"].astype(str)
    data["cluster"] = np.nan
    rng = np.random.default_rng(7)
    n = len(data)
    base = rng.normal(5.0, 2.0, n)
    effect = data["arm"].map({"control": 0.0, "letter": 0.8, "call": 1.6}).to_numpy()
    y = 0.6 * base + 2.0 + effect + rng.normal(0, 2.0, n)
    y[rng.random(n) < np.where(base < 5.0, 0.35, 0.1)] = np.nan
    data[BASELINE], data[OUTCOME] = base, y
    data["took_up"] = (data["arm"] != "control").astype(float)
    data["responded_endline"] = data[OUTCOME].notna().astype(int)
    # as results_document prepares them: one order, each active arm's 0/1 column
    data = data.sort_values("participant_id", kind="stable").reset_index(drop=True)
    for arm in ACTIVE:
        data[f"arm[{arm}]"] = (data["arm"] == arm).astype(float)
    return design, data


def _joint(frame: pd.DataFrame):  # noqa: ANN202
    return fit_itt(
        frame,
        outcome=OUTCOME,
        treatment_columns=[f"arm[{a}]" for a in ACTIVE],
        covariates=[BASELINE],
        strata="stratum",
        se_type="HC2",
    )


def _models(design, data):  # noqa: ANN001, ANN202
    return [
        ri_model(
            data,
            design,
            arm=arm,
            treatment=f"arm[{arm}]",
            endline=OUTCOME,
            covariates=[BASELINE],
            model_columns=[OUTCOME, BASELINE],
            strata="stratum",
            arms=ACTIVE,
        )
        for arm in ACTIVE
    ]


def _lstsq(frame: pd.DataFrame, indicators: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The K arm coefficients of y on the indicators, baseline and stratum dummies (numpy)."""
    strata = pd.get_dummies(frame["stratum"], dtype=float).to_numpy()
    x = np.column_stack([indicators, frame[BASELINE].to_numpy(float), strata])
    return np.linalg.lstsq(x, y, rcond=None)[0][: indicators.shape[1]]


def test_the_complete_case_row_is_the_primary_itt_for_every_arm(trial):
    design, data = trial
    document = results_document(
        data.drop(columns=[f"arm[{a}]" for a in ACTIVE]), design, ri_draws=0
    )
    primary = document.outcomes[0]
    itts = {e.arm: e for e in primary.estimates if e.estimand == "ITT"}
    joint = _joint(data)
    for arm in ACTIVE:
        complete = next(
            s for s in primary.sensitivity if s.arm == arm and s.method == "complete_case"
        )
        itt = itts[arm]
        assert (complete.estimate, complete.std_error, complete.p_value, complete.n) == (
            itt.estimate,
            itt.std_error,
            itt.p_value,
            itt.n,
        )
        assert complete.n == joint.n == int(data[OUTCOME].notna().sum())
        assert complete.estimate == pytest.approx(joint.fit[f"arm[{arm}]"].estimate, rel=1e-12)
    # every arm has its IPW and MI rows, fitted on every arm's rows (n of MI: everyone)
    assert [(s.arm, s.method) for s in primary.sensitivity] == [
        (arm, m) for arm in ACTIVE for m in ("complete_case", "ipw", "multiple_imputation")
    ]
    mi = [s for s in primary.sensitivity if s.method == "multiple_imputation"]
    assert [s.n for s in mi] == [len(data)] * 2


def test_each_arms_ri_statistic_is_its_joint_coefficient_on_every_redrawn_allocation(trial):
    design, data = trial
    models = _models(design, data)
    assert all(isinstance(m, JointRiModel) for m in models)
    used = data[OUTCOME].notna().to_numpy()
    frame = data[used].reset_index(drop=True)
    y = frame[OUTCOME].to_numpy(float)
    observed = _joint(data)
    codes, _ = draws_for_rows(data, design, 6, np.random.default_rng(3))
    codes_used = codes[:, used]
    for k, (arm, model) in enumerate(zip(ACTIVE, models, strict=True)):
        a, b, c = ri_statistics(model, codes)
        assert model.observed[0] / model.observed[1] == pytest.approx(
            observed.fit[f"arm[{arm}]"].estimate, rel=1e-9
        )
        tau = 0.7
        for r in range(len(codes)):
            indicators = np.column_stack(
                [codes_used[r] == design.arm_names.index(x) for x in ACTIVE]
            ).astype(float)
            assert a[r] / b[r] == pytest.approx(_lstsq(frame, indicators, y)[k], rel=1e-8)
            # the test inversion: the joint coefficient of y - tau * t_k, other arms kept
            shifted = y - tau * frame[f"arm[{arm}]"].to_numpy(float)
            assert (a[r] - tau * c[r]) / b[r] == pytest.approx(
                _lstsq(frame, indicators, shifted)[k], rel=1e-8
            )


def test_the_redrawn_allocations_have_the_designs_arms_and_a_global_null_is_centred(trial):
    design, data = trial
    codes, _ = draws_for_rows(data, design, 200, np.random.default_rng(11))
    observed = data["arm"].map({a: i for i, a in enumerate(design.arm_names)}).to_numpy()
    observed_counts = np.bincount(observed, minlength=3)
    counts = np.stack([np.bincount(row, minlength=3) for row in codes])
    # each re-drawn allocation is a three-arm allocation of the design (blocks of 3 and 6
    # within strata: each arm within one incomplete block per stratum of its observed count)
    n_strata = data["stratum"].nunique()
    assert (np.abs(counts - observed_counts) <= 2 * n_strata).all()
    assert counts.sum(axis=1).tolist() == [len(data)] * len(codes)
    # a pair model's "treated" share was about 1/3 of its rows; the joint model's indicator
    # of each arm is its arm's share of all rows, and control is only code 0
    share = counts[:, 1:] / len(data)
    assert share.mean() == pytest.approx(1 / 3, abs=0.02)
    # under a global null (no arm does anything) each arm's re-drawn coefficient is centred
    null = data.assign(
        **{OUTCOME: data[BASELINE] + np.random.default_rng(5).normal(0, 1, len(data))}
    )
    for model in _models(design, null):
        a, b, _c = ri_statistics(model, codes)
        coef = a / b
        assert abs(coef.mean()) < 3 * coef.std() / np.sqrt(len(coef))


def test_a_two_arm_model_is_unchanged(trial):
    design, data = trial
    model = ri_model(
        data,
        design,
        arm="letter",
        treatment="arm[letter]",
        endline=OUTCOME,
        covariates=[BASELINE],
        model_columns=[OUTCOME, BASELINE],
        strata="stratum",
    )
    assert isinstance(model, RiModel)
    assert set(data.loc[model.rows, "arm"]) == {"control", "letter"}


def test_joint_ri_is_the_same_bits_when_its_blocks_run_elsewhere(trial):
    design, data = trial
    models = _models(design, data)
    redraw = partial(_redraw_codes, data, design)
    blocks = ri_blocks([design.randomisation.seed, 99], 30, len(data))

    def elsewhere(function, blocks, shared):  # noqa: ANN001, ANN202
        # pickled there and back (as a Dask worker gets them), the last block first
        shared = pickle.loads(pickle.dumps(shared))
        done = {i: function(*shared, b) for i, b in reversed(list(enumerate(blocks)))}
        return [done[i] for i in range(len(blocks))]

    here = run_randomisation_inference(models, redraw, blocks)
    there = run_randomisation_inference(models, redraw, blocks, map_blocks=elsewhere)
    assert [r.to_dict() for r in here] == [r.to_dict() for r in there]
    joint = _joint(data)
    for arm, inference in zip(ACTIVE, here, strict=True):
        # centred on the primary's joint estimate, not on a pair refit
        assert inference.estimate == pytest.approx(joint.fit[f"arm[{arm}]"].estimate, rel=1e-9)
        assert inference.ci_low < inference.estimate < inference.ci_high


def test_mismatched_arms_and_indicators_are_refused(trial):
    _design, data = trial
    with pytest.raises(ValueError, match=r"'arm' names must match .* Got 1 arm\(s\) for 2"):
        missing_data_sensitivity(
            data,
            endline=OUTCOME,
            treatment=[f"arm[{a}]" for a in ACTIVE],
            arm="letter",
            covariates=[BASELINE],
            response_covariates=[BASELINE],
            strata="stratum",
            cluster=None,
            se_type="HC2",
            rng=np.random.default_rng(0),
        )
    with pytest.raises(ValueError, match=r"Got 2 column\(s\), 2 code\(s\) and arm_index 2"):
        prepare_joint_ri(
            data[BASELINE].to_numpy(float),
            data[[f"arm[{a}]" for a in ACTIVE]].to_numpy(float),
            term="call",
            arm_index=2,
            arm_codes=[1, 2],
        )
