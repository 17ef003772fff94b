"""Follow-up waves (issue 15.1): ANCOVA per wave and the pooled mixed model, as results.json holds them.

Each per-wave row is held to a direct OLS fit of that wave on baseline (estimate and HC2 SE by
hand), the pooled row to repeated_measures_lmm on long data the test builds itself, and the
means to the answers' own means.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.repeated_measures import repeated_measures_lmm
from analysis.results import results_document
from analysis.sections.outcomes import outcome_columns
from analysis.sections.waves import follow_up_timepoints, waves_section
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.sections import Wave

DESIGN = load_design(DESIGNS / "goal_setting.yaml")  # declares the wave 'midpoint'
SWEMWBS = next(o for o in DESIGN.outcomes if o.name == "swemwbs")


def _trial(n: int = 240, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treat = np.repeat([0, 1], n // 2)
    person = rng.normal(0, 2, n)
    frame = pd.DataFrame(
        {
            "participant_id": [f"P{k:04d}" for k in range(n)],
            "arm": np.where(treat == 1, "course", "control"),
            "cluster": [f"T{k % 30}" for k in range(n)],
            "arm[course]": treat.astype(float),
            "swemwbs_baseline": 21 + person + rng.normal(0, 2, n),
        }
    )
    for timepoint, effect in (("midpoint", 0.8), ("endline", 0.4)):
        values = 21 + person + effect * treat + rng.normal(0, 2, n)
        values[rng.random(n) < 0.2] = np.nan  # some do not answer each wave
        frame[f"swemwbs_{timepoint}"] = values
    frame.loc[:9, "swemwbs_baseline"] = np.nan
    return frame


def _section(data: pd.DataFrame, design=DESIGN):  # noqa: ANN001, ANN202
    return waves_section(
        data,
        design,
        SWEMWBS,
        baseline="swemwbs_baseline",
        covariates=["swemwbs_baseline"],
        strata=None,
        se_cluster=None,
        se_type="HC2",
    )


def _ols_hc2(data: pd.DataFrame, column: str) -> tuple[float, float, int]:
    used = data.dropna(subset=[column, "swemwbs_baseline"])
    x = np.column_stack([np.ones(len(used)), used["arm[course]"], used["swemwbs_baseline"]])
    y = used[column].to_numpy()
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    resid = y - x @ beta
    leverage = np.einsum("ij,jk,ik->i", x, bread, x)
    meat = x.T @ (x * (resid**2 / (1 - leverage))[:, None])
    return beta[1], float(np.sqrt((bread @ meat @ bread)[1, 1])), len(used)


def test_each_wave_is_the_ancova_of_that_wave_on_baseline():
    data = _trial()
    section = _section(data)
    assert section.timepoints == ["midpoint", "endline"]
    assert [(e.timepoint, e.primary) for e in section.effects] == [
        ("midpoint", False),
        ("endline", True),
    ]
    for effect in section.effects:
        estimate, se, n = _ols_hc2(data, f"swemwbs_{effect.timepoint}")
        assert effect.estimate == pytest.approx(estimate, abs=1e-10)
        assert effect.std_error == pytest.approx(se, abs=1e-10)
        assert effect.n == n
        assert effect.ci_low < effect.estimate < effect.ci_high


def test_the_pooled_effect_is_the_mixed_model_on_every_answered_wave():
    data = _trial()
    section = _section(data)
    long = data.melt(
        id_vars=["participant_id", "arm", "swemwbs_baseline"],
        value_vars=["swemwbs_midpoint", "swemwbs_endline"],
        var_name="wave",
        value_name="y",
    ).dropna(subset=["y", "swemwbs_baseline"])
    long["wave"] = long["wave"].str.removeprefix("swemwbs_")
    fit = repeated_measures_lmm(
        long,
        outcome="y",
        arm="arm",
        wave="wave",
        participant="participant_id",
        control="control",
        baseline="swemwbs_baseline",
        waves=["midpoint", "endline"],
    )
    pooled = fit.effects[fit.effects["wave"] == "pooled"].iloc[0]
    (row,) = section.pooled
    assert row.arm == "course"
    for ours, theirs in (("estimate", "estimate"), ("std_error", "se"), ("ci_low", "ci_low")):
        assert getattr(row, ours) == pytest.approx(pooled[theirs], abs=1e-12)
    assert row.p_value == pytest.approx(pooled["p"], abs=1e-12)
    assert (section.n_obs, section.n_participants) == (len(long), long["participant_id"].nunique())
    assert section.n_clusters == 0  # individually randomised: no cluster intercept
    # the pooled effect lies between the waves' own (0.8 and 0.4 simulated)
    waves = sorted(e.estimate for e in section.effects)
    assert waves[0] - 0.1 < row.estimate < waves[1] + 0.1


def test_the_means_by_wave_are_the_answers_means_in_design_order():
    data = _trial()
    section = _section(data)
    assert [(m.arm, m.timepoint) for m in section.means] == [
        (arm, t) for arm in ("control", "course") for t in ("baseline", "midpoint", "endline")
    ]
    for mean in section.means:
        answers = data.loc[data["arm"] == mean.arm, f"swemwbs_{mean.timepoint}"].dropna()
        assert (mean.n, mean.mean) == (len(answers), pytest.approx(answers.mean(), abs=1e-12))
        assert mean.ci_low < mean.mean < mean.ci_high


def test_no_section_without_a_declared_wave_or_for_an_hr_outcome():
    data = _trial()
    without = DESIGN.model_copy(
        update={"follow_up": DESIGN.follow_up.model_copy(update={"waves": ()})}
    )
    assert _section(data, without) is None
    absence = next(o for o in DESIGN.outcomes if o.source == "hr")
    assert follow_up_timepoints(DESIGN, absence, data) == []
    # a wave nobody answered leaves one timepoint: nothing to pool
    assert _section(data.assign(swemwbs_midpoint=np.nan)) is None


def test_the_headline_reads_the_pre_declared_timepoint():
    data = _trial()
    assert outcome_columns(SWEMWBS, data) == ("swemwbs_endline", "swemwbs_baseline")
    assert outcome_columns(SWEMWBS, data, timepoint="midpoint") == (
        "swemwbs_midpoint",
        "swemwbs_baseline",
    )
    midpoint = DESIGN.model_copy(
        update={"follow_up": DESIGN.follow_up.model_copy(update={"primary_timepoint": "midpoint"})}
    )
    assert [e.primary for e in _section(data, midpoint).effects] == [True, False]


def test_a_cluster_trial_gives_each_cluster_a_random_intercept():
    schwartz = load_design(DESIGNS / "schwartz_rounds.yaml")
    wave = Wave(name="midpoint", date=schwartz.follow_up.randomisation + pd.Timedelta(days=60))
    design = schwartz.model_copy(
        update={"follow_up": schwartz.follow_up.model_copy(update={"waves": (wave,)})}
    )
    primary = next(o for o in design.outcomes if o.primary)
    active = next(a for a in design.arm_names if a != design.control_arm)
    data = _trial().rename(columns=lambda c: c.replace("swemwbs", primary.name))
    data["arm"] = np.where(data["arm[course]"] == 1, active, design.control_arm)
    data = data.rename(columns={"arm[course]": f"arm[{active}]"})
    section = waves_section(
        data,
        design,
        primary,
        baseline=f"{primary.name}_baseline",
        covariates=[f"{primary.name}_baseline"],
        strata=None,
        se_cluster="cluster",
        se_type="CR2",
    )
    assert section.n_clusters == data["cluster"].nunique()
    long = pd.concat(
        data[["participant_id", "arm", "cluster", f"{primary.name}_baseline"]].assign(
            wave=t, y=data[f"{primary.name}_{t}"]
        )
        for t in ("midpoint", "endline")
    ).dropna()
    fit = repeated_measures_lmm(
        long,
        outcome="y",
        arm="arm",
        wave="wave",
        participant="participant_id",
        control=design.control_arm,
        baseline=f"{primary.name}_baseline",
        cluster="cluster",
        waves=["midpoint", "endline"],
    )
    pooled = fit.effects[fit.effects["wave"] == "pooled"].iloc[0]
    assert section.pooled[0].std_error == pytest.approx(pooled["se"], abs=1e-12)


def test_a_wave_declared_primary_gives_the_headline_and_the_attrition(monkeypatch):
    monkeypatch.setattr("analysis.sections.balance.BALANCE_PERMUTATIONS", 19)
    data = _trial().drop(columns=["arm[course]"])
    data["stratum"] = "Kent"
    data["role"] = np.where(np.arange(len(data)) % 2, "social worker", "team manager")
    analysis = DESIGN.analysis.model_copy(update={"mi_imputations": 2})
    follow_up = DESIGN.follow_up.model_copy(update={"primary_timepoint": "midpoint"})
    design = DESIGN.model_copy(update={"follow_up": follow_up, "analysis": analysis})
    document = results_document(data, design, ri_draws=0)
    (primary,) = [o for o in document.outcomes if o.primary]
    midpoint = next(e for e in primary.waves.effects if e.timepoint == "midpoint")
    assert midpoint.primary
    assert primary.estimates[0].estimate == midpoint.estimate
    assert primary.estimates[0].estimate == pytest.approx(
        _ols_hc2(
            data.assign(**{"arm[course]": (data["arm"] == "course") * 1.0}), "swemwbs_midpoint"
        )[0]
    )
    answered = data.groupby("arm")["swemwbs_midpoint"].count()
    assert {r.arm: r.followed_up for r in document.attrition.by_arm} == answered.to_dict()
