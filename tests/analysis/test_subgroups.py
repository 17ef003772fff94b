"""Declared subgroups: level estimates, the interaction test, Holm and tertiles (issue 15.5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml

from analysis.multiplicity import holm_adjust
from analysis.sections.outcomes import treatment_indicator
from analysis.sections.subgroups import (
    check_exploratory_subgroups,
    subgroup_section,
    tertile_cut_points,
)
from tests.designs import DESIGNS
from trial_designs.design import load_design

TREAT = treatment_indicator("letter")


def _design(tmp_path, subgroups):  # noqa: ANN001, ANN202
    data = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    data.pop("cycles", None)
    data["analysis"]["subgroups"] = subgroups
    path = tmp_path / "letters.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_design(path)


def _data(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < 0.5, "letter", "control")
    role = rng.choice(
        ["Social worker", "Senior practitioner", "Team manager"], n, p=[0.6, 0.3, 0.1]
    )
    organisation = rng.choice(["Dudley", "Shropshire"], n)
    baseline = rng.normal(20, 3, n).round(2)
    treat = (arm == "letter").astype(float)
    effect = np.select([role == "Team manager", role == "Senior practitioner"], [1.5, 0.8], 0.2)
    y = 5 + 0.5 * baseline + treat * effect + rng.normal(0, 2, n)
    return pd.DataFrame(
        {
            "participant_id": [f"P{i:04d}" for i in range(n)],
            "arm": arm,
            TREAT: treat,
            "role": role,
            "organisation": organisation,
            "swemwbs_baseline": baseline,
            "feeling_valued_endline": y,
        }
    )


def _section(data, design, **kwargs):  # noqa: ANN001, ANN003, ANN202
    return subgroup_section(
        data,
        design,
        "feeling_valued_endline",
        ["swemwbs_baseline"],
        None,
        None,
        "HC2",
        **kwargs,
    )


def test_the_interaction_p_is_a_direct_fit_of_the_interaction_model(tmp_path):
    data = _data()
    design = _design(tmp_path, ["role"])
    _, (test,) = _section(data, design)
    fit = smf.ols(
        "feeling_valued_endline ~ Q('arm[letter]') * C(role) + swemwbs_baseline", data
    ).fit(cov_type="HC2")
    names = [n for n in fit.params.index if ":" in n]
    restriction = np.zeros((len(names), len(fit.params)))
    for row, name in enumerate(names):
        restriction[row, list(fit.params.index).index(name)] = 1
    wald = fit.wald_test(restriction, use_f=True, scalar=True)
    assert test.df_num == 2 == len(names)
    assert test.df_denom == pytest.approx(fit.df_resid)
    assert test.statistic == pytest.approx(float(wald.statistic), rel=1e-9)
    assert test.p_value == pytest.approx(float(wald.pvalue), rel=1e-9)


def test_each_level_estimate_is_the_model_fitted_to_the_level(tmp_path):
    data = _data()
    design = _design(tmp_path, ["role"])
    estimates, _ = _section(data, design)
    for estimate in estimates:
        level = data[data["role"] == estimate.level]
        fit = smf.ols("feeling_valued_endline ~ Q('arm[letter]') + swemwbs_baseline", level).fit(
            cov_type="HC2"
        )
        assert estimate.estimate == pytest.approx(fit.params["Q('arm[letter]')"], rel=1e-9)
        assert estimate.std_error == pytest.approx(fit.bse["Q('arm[letter]')"], rel=1e-9)
        assert estimate.n == len(level)


def test_holm_across_the_declared_subgroups_is_multiplicity_holm_adjust(tmp_path):
    data = _data()
    derived = {"name": "wellbeing_tertile", "from": "swemwbs_baseline", "tertiles": True}
    design = _design(tmp_path, ["role", "organisation", derived])
    estimates, tests = _section(data, design)
    expected = holm_adjust([t.p_value for t in tests])
    assert [t.p_value_holm for t in tests] == pytest.approx(list(expected))
    for estimate in estimates:
        test = next(t for t in tests if t.variable == estimate.variable)
        assert estimate.interaction_p_value_holm == test.p_value_holm
        assert estimate.interaction_p_value == test.p_value


def test_tertile_cut_points_are_the_pooled_baseline_thirds(tmp_path):
    data = _data()
    derived = {"name": "wellbeing_tertile", "from": "swemwbs_baseline", "tertiles": True}
    _, (test,) = _section(data, _design(tmp_path, [derived]))
    values = data["swemwbs_baseline"].to_numpy()
    low, high = np.sort(values)[[0, -1]]
    assert low < test.cut_points[0] < test.cut_points[1] < high
    # a third of everyone (both arms) at or below each cut point, R's type-7 quantiles
    assert test.cut_points == pytest.approx(list(np.quantile(values, [1 / 3, 2 / 3])))
    assert (values <= test.cut_points[0]).mean() == pytest.approx(1 / 3, abs=0.01)
    assert test.derivation == "tertiles" and test.levels[0].startswith("lowest third")
    assert tertile_cut_points(pd.Series([1.0, 2.0, 3.0, 4.0])) == pytest.approx((2.0, 3.0))


def test_tertiles_of_text_are_refused_by_name():
    with pytest.raises(ValueError, match=r"Tertiles need a numeric column: 'role' holds text"):
        tertile_cut_points(pd.Series(["a", "b", "c"], name="role"))


def test_a_level_with_too_few_people_is_reported_as_skipped_with_the_reason(tmp_path):
    data = _data()
    data.loc[data.index[:6], "role"] = "Director"
    estimates, (test,) = _section(data, _design(tmp_path, ["role"]))
    assert "Director" in test.levels
    assert "Director" not in {e.level for e in estimates}
    (skipped,) = test.skipped
    assert skipped.level == "Director" and skipped.n == 6
    assert skipped.reason == "fewer than 10 participants (6)"


def test_an_exploratory_subgroup_is_marked_and_left_out_of_holm(tmp_path):
    data = _data()
    design = _design(tmp_path, ["role"])
    explored = check_exploratory_subgroups(data, design, ["organisation"])
    estimates, tests = _section(data, design, exploratory=explored)
    declared, extra = tests
    assert declared.prespecified and declared.p_value_holm == pytest.approx(declared.p_value)
    assert not extra.prespecified and extra.p_value_holm is None
    assert {e.prespecified for e in estimates if e.variable == "organisation"} == {False}


def test_an_unknown_or_declared_exploratory_subgroup_is_refused(tmp_path):
    data = _data()
    design = _design(tmp_path, ["role"])
    with pytest.raises(ValueError, match=r"The exploratory subgroup 'rank' is not a column"):
        check_exploratory_subgroups(data, design, ["rank"])
    with pytest.raises(ValueError, match=r"The subgroup 'role' is declared in the design"):
        check_exploratory_subgroups(data, design, ["role"])


def test_a_declared_column_missing_from_the_data_is_reported_not_dropped(tmp_path):
    data = _data().drop(columns="organisation")
    estimates, (_, test) = _section(data, _design(tmp_path, ["role", "organisation"]))
    assert test.p_value is None and test.levels == []
    assert test.note.startswith("The column 'organisation' is not in the analysis data")
    assert {e.variable for e in estimates} == {"role"}


def test_each_active_arm_of_a_three_arm_trial_is_tested_against_control(tmp_path):
    spec = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    spec.pop("cycles", None)
    spec["arms"].append({"name": "call", "ratio": 1, "label": "Phone call"})
    spec["randomisation"]["block_sizes"] = [3, 6]
    spec["analysis"]["subgroups"] = ["role", "organisation"]
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    design = load_design(path)
    data = _data(600, seed=5)
    rng = np.random.default_rng(8)
    data["arm"] = rng.choice(["control", "letter", "call"], len(data))
    data[TREAT] = (data["arm"] == "letter").astype(float)
    data[treatment_indicator("call")] = (data["arm"] == "call").astype(float)
    estimates, tests = _section(data, design)
    assert [(t.variable, t.arm) for t in tests] == [
        ("role", "letter"),
        ("role", "call"),
        ("organisation", "letter"),
        ("organisation", "call"),
    ]
    for arm in ("letter", "call"):
        mine = [t for t in tests if t.arm == arm]
        # Holm within each arm across the declared subgroups (the design declares none across arms)
        assert [t.p_value_holm for t in mine] == pytest.approx(
            list(holm_adjust([t.p_value for t in mine]))
        )
        pair = data[data["arm"].isin(["control", arm])]
        column = treatment_indicator(arm)
        fit = smf.ols(
            f"feeling_valued_endline ~ Q('{column}') * C(role) + swemwbs_baseline", pair
        ).fit(cov_type="HC2")
        names = [n for n in fit.params.index if ":" in n]
        restriction = np.eye(len(fit.params))[[list(fit.params.index).index(n) for n in names]]
        wald = fit.wald_test(restriction, use_f=True, scalar=True)
        role = next(t for t in mine if t.variable == "role")
        assert role.p_value == pytest.approx(float(wald.pvalue), rel=1e-9)
        assert {e.arm for e in estimates if e.variable == "role" and e.arm == arm} == {arm}


def test_with_clustered_standard_errors_the_test_uses_the_clusters(tmp_path):
    data = _data(500, seed=11)
    data["team"] = np.random.default_rng(2).integers(0, 30, len(data))
    design = _design(tmp_path, ["role"])
    _, (test,) = subgroup_section(
        data,
        design,
        "feeling_valued_endline",
        ["swemwbs_baseline"],
        None,
        "team",
        "CR1",
        se_clustered_by="team",
    )
    fit = smf.ols(
        "feeling_valued_endline ~ Q('arm[letter]') * C(role) + swemwbs_baseline", data
    ).fit(cov_type="cluster", cov_kwds={"groups": data["team"].to_numpy()}, use_t=True)
    names = [n for n in fit.params.index if ":" in n]
    restriction = np.eye(len(fit.params))[[list(fit.params.index).index(n) for n in names]]
    wald = fit.wald_test(restriction, use_f=True, scalar=True)
    # Stata's CR1 and G - 1 denominator df, as statsmodels' cluster covariance
    assert (test.se_type, test.se_clustered_by, test.df_denom) == ("CR1", "team", 29)
    assert test.statistic == pytest.approx(float(wald.statistic), rel=1e-9)
    assert test.p_value == pytest.approx(float(wald.pvalue), rel=1e-9)


def test_the_methods_text_describes_the_declared_subgroups_test(tmp_path):
    from analysis.sections.methods import methods_section

    derived = {"name": "wellbeing_tertile", "from": "swemwbs_baseline", "tertiles": True}
    text = methods_section(_design(tmp_path, ["role", derived]), "HC2", 0, None).exploratory
    assert "(role, wellbeing_tertile)" in text and "Holm-adjusted across the declared" in text
    assert "the baseline was measured before randomisation" in text
    plain = methods_section(_design(tmp_path, ["role"]), "HC2", 0, None).exploratory
    assert "Tertiles" not in plain
    assert methods_section(_design(tmp_path, []), "HC2", 0, None).exploratory == (
        "Subgroup estimates are exploratory."
    )


def test_tied_cut_points_leave_an_empty_middle_third_reported_not_dropped(tmp_path):
    data = _data()
    rng = np.random.default_rng(1)
    # a fifth at 18, three fifths at 21.54, a fifth at 25: both thirds fall on 21.54
    draw = rng.random(len(data))
    data["swemwbs_baseline"] = np.select([draw < 0.2, draw < 0.8], [18.0, 21.54], 25.0)
    derived = {"name": "wellbeing_tertile", "from": "swemwbs_baseline", "tertiles": True}
    estimates, (test,) = _section(data, _design(tmp_path, [derived]))
    assert test.cut_points == [21.54, 21.54]
    (skipped,) = test.skipped
    assert (skipped.level, skipped.n, skipped.reason) == (test.levels[1], 0, "no one in the level")
    assert len(estimates) == 2 and test.df_num == 1


def test_a_subgroup_with_one_level_in_the_data_is_not_tested_and_says_why(tmp_path):
    data = _data().assign(role="Social worker")
    _, (test,) = _section(data, _design(tmp_path, ["role"]))
    assert test.p_value is None and test.p_value_holm is None
    assert test.note == "Fewer than 2 levels have data (1), so there is nothing to compare."
