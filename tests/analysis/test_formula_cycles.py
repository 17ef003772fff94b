"""The exported primary model of a design with learning cycles: cycle fixed effects, as analysed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from analysis.formula import primary_model
from analysis.results import analyse_trial
from analysis.sections.methods import methods_section
from reports.scripts import r_script, stata_script
from tests.designs import DESIGNS
from trial_designs.design import load_design

LETTERS = load_design(DESIGNS / "letters.yaml")


def _two_cycles(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for name, n, shift in (("spring_2019", 160, 0.0), ("autumn_2019", 120, -1.5)):
        arm = rng.permutation(np.repeat(["control", "letter"], n // 2))
        base = rng.normal(6, 2, n)
        frames.append(
            pd.DataFrame(
                {
                    "participant_id": [f"{name}-{i:03d}" for i in range(n)],
                    "arm": arm,
                    "stratum": rng.choice(["Dudley", "Shropshire"], n),
                    "cycle": name,
                    "feeling_valued_baseline": base,
                    # the autumn cohort starts lower and has fewer letter-takers in it: without
                    # cycle fixed effects the arm's estimate moves
                    "feeling_valued_endline": 0.5 * base
                    + 0.4 * (arm == "letter")
                    + shift
                    + rng.normal(0, 1.5, n),
                }
            )
        )
    data = pd.concat(frames, ignore_index=True)
    # unbalance the arms across cycles so the fixed effects matter to the estimate
    drop = data.index[(data["cycle"] == "autumn_2019") & (data["arm"] == "letter")][:30]
    return data.drop(index=drop).reset_index(drop=True)


def test_the_letters_primary_model_names_the_cycle_and_refits_results_json():
    data = _two_cycles()
    model = primary_model(data, LETTERS)
    assert "cycle" in model.factors
    assert "factor(cycle)" in model.formula
    assert "i.cycle" in stata_script(model, trial_id="letters", design_hash="h", data_file="d.dta")
    assert 'cycle = "character"' in r_script(
        model, trial_id="letters", design_hash="h", data_file="d.csv"
    )
    results = analyse_trial(data, LETTERS, ri_draws=0)
    primary = next(o for o in results["outcomes"] if o["primary"])
    itt = next(e for e in primary["estimates"] if e["estimand"] == "ITT")
    exported = data.assign(arm=pd.Categorical(data["arm"], categories=list(model.arms)))
    python = model.formula.replace("factor(", "C(")  # R's factor() is patsy's C()
    fit = smf.ols(python, data=exported).fit()
    assert abs(fit.params["arm[T.letter]"] - itt["estimate"]) < 1e-8
    # without the cycle the estimate is not results.json's: the test can tell
    alone = smf.ols(python.replace(" + C(cycle)", ""), data=exported).fit()
    assert abs(alone.params["arm[T.letter]"] - itt["estimate"]) > 1e-3


def test_the_methods_say_cycle_fixed_effects_only_for_designs_with_cycles():
    with_cycles = methods_section(LETTERS, "HC2", 0, None).itt
    assert "cycle fixed effects" in with_cycles
    without = LETTERS.model_copy(update={"cycles": ()})
    assert "cycle" not in methods_section(without, "HC2", 0, None).itt
