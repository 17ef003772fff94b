"""Text covariates (a team, a site) enter the models as fixed effects, as R's lm(y ~ factor(team))."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

from analysis.estimators import covariate_frame, fit_cace, fit_itt
from analysis.results import analyse_trial
from tests.designs import DESIGNS
from trial_designs.design import TrialDesign


def _teams(n: int = 240, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    team = rng.choice(["T2", "T0", "T10", "T1"], size=n)
    effect = pd.Series({"T0": 0.0, "T1": 1.5, "T10": -1.0, "T2": 0.7})[team].to_numpy()
    treat = rng.permutation(np.repeat([0.0, 1.0], n // 2))
    base = rng.normal(20, 3, n)
    y = 5 + 0.5 * treat + 0.6 * base + effect + rng.normal(0, 1, n)
    took_up = treat * (rng.random(n) < 0.6)
    return pd.DataFrame(
        {"y": y, "treat": treat, "base": base, "team": team, "took_up": took_up.astype(float)}
    )


def _by_hand(data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """[1, treat, base, team dummies]: levels sorted as text, the first dropped."""
    levels = sorted(data["team"].unique())
    dummies = [(data["team"] == level).to_numpy(float) for level in levels[1:]]
    x = np.column_stack([np.ones(len(data)), data["treat"], data["base"], *dummies])
    return x, ["(Intercept)", "treat", "base", *(f"team[{level}]" for level in levels[1:])]


def test_a_text_covariate_is_dummy_coded_as_by_hand():
    data = _teams()
    result = fit_itt(data, outcome="y", treatment_columns=["treat"], covariates=["base", "team"])
    x, terms = _by_hand(data)
    beta, *_ = np.linalg.lstsq(x, data["y"].to_numpy(), rcond=None)
    assert list(result.fit.terms) == terms
    got = np.array([result.fit[t].estimate for t in terms])
    assert np.max(np.abs(got - beta)) < 1e-10
    # and the same fit as numeric dummy columns given by hand, SEs included
    manual = data.assign(**{t: x[:, i] for i, t in enumerate(terms) if t.startswith("team[")})
    dummies = [t for t in terms if t.startswith("team[")]
    same = fit_itt(manual, outcome="y", treatment_columns=["treat"], covariates=["base", *dummies])
    assert abs(same.fit["treat"].std_error - result.fit["treat"].std_error) < 1e-10


def test_level_order_does_not_depend_on_row_order():
    data = _teams()
    shuffled = data.sample(frac=1, random_state=9)
    a = fit_itt(data, outcome="y", treatment_columns=["treat"], covariates=["team"])
    b = fit_itt(shuffled, outcome="y", treatment_columns=["treat"], covariates=["team"])
    assert a.fit.terms == b.fit.terms
    assert abs(a.fit["treat"].estimate - b.fit["treat"].estimate) < 1e-10


def test_covariate_frame_keeps_missing_as_missing():
    data = _teams().head(6).assign(team=["T0", None, "T1", "T0", "T1", "T2"])
    frame = covariate_frame(data, ["base", "team"])
    assert list(frame.columns) == ["base", "team[T1]", "team[T2]"]
    assert frame.loc[1, ["team[T1]", "team[T2]"]].isna().all()
    assert frame.loc[2, "team[T1]"] == 1.0 and frame.loc[2, "team[T2]"] == 0.0


def test_cace_with_a_text_covariate():
    data = _teams()
    result = fit_cace(
        data, outcome="y", uptake="took_up", assignment="treat", covariates=["base", "team"]
    )
    assert np.isfinite(result.effect.estimate) and np.isfinite(result.effect.std_error)


def test_analyse_trial_with_a_team_covariate_runs_every_section():
    spec = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    spec["analysis"] = {"covariates": ["team"], "ri_draws": 50, "subgroups": ["organisation"]}
    design = TrialDesign.model_validate(spec)
    rng = np.random.default_rng(5)
    n = 200
    data = pd.DataFrame(
        {
            "participant_id": [f"P{i:03d}" for i in range(n)],
            "arm": np.where(np.arange(n) % 2, "letter", "control"),
            "organisation": np.repeat(["Dudley", "Shropshire"], n // 2),
            "team": rng.choice(["T0", "T1", "T2"], size=n),
            "role": "Social worker",
        }
    )
    data["stratum"] = data["organisation"]
    data["cluster"] = ""
    base = rng.normal(5, 2, n)
    y = base + 0.5 * (data["arm"] == "letter") + rng.normal(0, 1, n)
    y[rng.random(n) < 0.2] = np.nan
    data["feeling_valued_baseline"] = base
    data["feeling_valued_endline"] = y
    data["responded_endline"] = (~np.isnan(y)).astype(int)
    results = analyse_trial(data, design, ri_draws=50)
    itt = results["outcomes"][0]["estimates"][0]
    expected = fit_itt(
        data.assign(treat=(data["arm"] == "letter").astype(float)).dropna(
            subset=["feeling_valued_endline"]
        ),
        outcome="feeling_valued_endline",
        treatment_columns=["treat"],
        covariates=["feeling_valued_baseline", "team"],
        strata="stratum",
    )
    assert abs(itt["estimate"] - expected.fit["treat"].estimate) < 1e-10
    assert 0 <= itt["ri_p_value"] <= 1
    assert [s["method"] for s in results["outcomes"][0]["sensitivity"]]
