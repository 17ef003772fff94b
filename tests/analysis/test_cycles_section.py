"""The learning cycles section: each cycle's ITT, pooled with cycle fixed effects, and the
arm x cycle Wald test, held against statsmodels' HC2 fit of the same models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import yaml

from analysis.sections.cycles import cycles_section
from analysis.sections.outcomes import treatment_indicator
from tests.designs import DESIGNS
from trial_designs.design import TrialDesign

DESIGN = TrialDesign.model_validate(yaml.safe_load((DESIGNS / "letters.yaml").read_text()))
TREAT = treatment_indicator("letter")


def _data(effects: tuple[float, float], seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for name, effect, n in zip(("spring_2019", "autumn_2019"), effects, (240, 160), strict=True):
        arm = rng.permutation(np.repeat(["control", "letter"], n // 2))
        base = rng.normal(6, 2, n)
        frames.append(
            pd.DataFrame(
                {
                    "participant_id": [f"{name}-{i}" for i in range(n)],
                    "arm": arm,
                    "stratum": rng.choice(["Dudley", "Shropshire"], n),
                    "cycle": name,
                    "feeling_valued_baseline": base,
                    # the autumn cohort also starts lower: the cycle's own fixed effect
                    "feeling_valued_endline": 0.5 * base
                    + effect * (arm == "letter")
                    - (name == "autumn_2019")
                    + rng.normal(0, 1.5, n),
                }
            )
        )
    data = pd.concat(frames, ignore_index=True)
    data[TREAT] = (data["arm"] == "letter").astype(float)
    return data


def _section(data, **records):
    return cycles_section(
        data,
        DESIGN,
        outcome="feeling_valued_endline",
        covariates=["feeling_valued_baseline"],
        strata="stratum",
        cluster=None,
        se_type="HC2",
        records=records or None,
    )


def _statsmodels(data: pd.DataFrame, interaction: bool):
    x = pd.DataFrame(
        {
            "const": 1.0,
            "treat": data[TREAT],
            "baseline": data["feeling_valued_baseline"],
            "shropshire": (data["stratum"] == "Shropshire").astype(float),
            "autumn": (data["cycle"] == "autumn_2019").astype(float),
        }
    )
    if interaction:
        x["treat_autumn"] = x["treat"] * x["autumn"]
    if x["autumn"].nunique() == 1:  # one cycle alone: its dummy is the constant
        x = x.drop(columns="autumn")
    return sm.OLS(data["feeling_valued_endline"], x).fit(cov_type="HC2", use_t=True)


def test_each_cycle_the_pooled_effect_and_the_interaction_match_statsmodels():
    data = _data((1.0, 3.0))
    section = _section(data)
    assert [c.cycle for c in section.by_cycle] == ["spring_2019", "autumn_2019"]
    assert [c.n for c in section.by_cycle] == [240, 160]
    assert section.by_cycle[1].n_per_arm == {"control": 80, "letter": 80}
    assert section.by_cycle[1].randomised_on == "2019-10-01"
    pooled = _statsmodels(data, interaction=False)
    assert section.pooled.estimate == pytest.approx(pooled.params["treat"], abs=1e-10)
    assert section.pooled.std_error == pytest.approx(pooled.bse["treat"], abs=1e-10)
    interacted = _statsmodels(data, interaction=True)
    # one interaction term: the Wald F is its t squared, on n - k df
    t = interacted.tvalues["treat_autumn"]
    assert section.heterogeneity.statistic == pytest.approx(t**2, rel=1e-9)
    assert section.heterogeneity.df_num == 1
    assert section.heterogeneity.df_denom == len(data) - 6
    assert section.heterogeneity.p_value == pytest.approx(interacted.pvalues["treat_autumn"])
    # an effect three times as large in the autumn is found; the same effect is not
    assert section.heterogeneity.p_value < 0.001
    same = [_section(_data((2.0, 2.0), seed=s)).heterogeneity.p_value for s in range(10)]
    assert sum(p < 0.05 for p in same) <= 2
    # each cycle's own estimate is its cohort's ANCOVA
    autumn = data[data["cycle"] == "autumn_2019"]
    own = _statsmodels(autumn, interaction=False).params["treat"]
    assert section.by_cycle[1].estimate == pytest.approx(own, abs=1e-10)


def test_one_cycle_analysed_has_no_pooled_row_nor_test():
    data = _data((1.0, 3.0))
    section = _section(data[data["cycle"] == "spring_2019"])
    assert len(section.by_cycle) == 1
    assert section.pooled is None and section.heterogeneity is None


def test_amendments_between_cycles_are_listed_and_others_are_not():
    records = {
        "randomised_at": {1: "2026-01-01T09:00:00", 2: "2026-03-01T09:00:00"},
        "amendments": [
            {"recorded_at": "2025-12-01T00:00:00", "reason": "before", "changes": ["a: 1 -> 2"]},
            {"recorded_at": "2026-02-01T00:00:00", "reason": "wording", "changes": ["t: x -> y"]},
            {"recorded_at": "2026-04-01T00:00:00", "reason": "after", "changes": []},
        ],
    }
    section = _section(_data((1.0, 1.0)), **records)
    assert [(a.after_cycle, a.reason, a.changes) for a in section.amendments] == [
        (1, "wording", ["t: x -> y"])
    ]


def test_without_the_stores_records_the_section_says_amendments_were_not_looked_up():
    # `analyse --data` has no store: an empty list must not read as "none was recorded"
    unread = _section(_data((1.0, 1.0))).model_dump(exclude_unset=True)
    assert unread["amendments"] == [] and unread["amendments_looked_up"] is False
    read = _section(_data((1.0, 1.0)), randomised_at={1: "2019-04-01"}, amendments=[])
    assert "amendments_looked_up" not in read.model_dump(exclude_unset=True)


def test_the_heterogeneity_test_with_many_strata_absorbs_them_and_equals_the_dummy_model(
    monkeypatch,
):
    # A national trial's 200 organisations made the interacted model a dense n x 200 design.
    import analysis.estimators.absorb as absorb
    from analysis.estimators import design_matrix

    data = _data((0.4, 1.2), seed=4)
    data["stratum"] = [f"Org {i % 30}" for i in range(len(data))]

    def no_dummies(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("30 strata must be absorbed, not dummy-coded")

    with monkeypatch.context() as patched:
        patched.setattr(design_matrix, "_stratum_dummies", no_dummies)
        absorbed = _section(data).heterogeneity
    monkeypatch.setattr(absorb, "ABSORB_STRATA_ABOVE", 1000)
    dummies = _section(data).heterogeneity
    assert absorbed.p_value == pytest.approx(dummies.p_value, rel=1e-9)
    assert absorbed.statistic == pytest.approx(dummies.statistic, rel=1e-9)
