"""An arm with no endline response: the other arms are estimated and the lost one is named.

Before, ``analyse_trial`` stopped with "The column(s) arm[letter] are collinear with the
intercept" when a survey never reached an arm, so no results.json was written at all.
"""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import yaml

from analysis.results import analyse_trial
from analysis.results_model import SCHEMA_PATH
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise

GOLDEN = DESIGNS.parents[0] / "tests" / "trial_designs" / "golden"


def _design(tmp_path, extra_arm: bool):  # noqa: ANN001, ANN202
    data = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    data.pop("cycles", None)  # one cohort: the cycles section is tested on its own
    if extra_arm:
        data["arms"].append({"name": "call", "ratio": 1, "label": "Phone call"})
        data["randomisation"]["block_sizes"] = [3, 6]  # multiples of the three arms' ratios
    path = tmp_path / "letters.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_design(path)


def _data(design, lost: str | None) -> pd.DataFrame:  # noqa: ANN001
    """The golden letters roster randomised, with an outcome; everyone in ``lost`` lost."""
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    allocation = randomise(roster, design)
    arms = allocation.members.merge(allocation.units[["unit_id", "stratum", "arm"]], on="unit_id")
    data = roster.rename(columns={"id": "participant_id"}).merge(arms, on="participant_id")
    data["arm"] = data["arm"].astype(str)
    data["stratum"] = data["stratum"].astype(str)
    data["cluster"] = np.nan
    rng = np.random.default_rng(5)
    base = rng.normal(20, 3, len(data))
    y = 0.6 * base + 8 + 2.0 * (data["arm"] == "call") + rng.normal(0, 2.5, len(data))
    y[rng.random(len(data)) < 0.2] = np.nan
    if lost is not None:
        y[(data["arm"] == lost).to_numpy()] = np.nan
    data["feeling_valued_baseline"] = base
    data["feeling_valued_endline"] = y
    data["responded_endline"] = (~np.isnan(y)).astype(int)
    return data


def _valid(results: dict) -> dict:
    jsonschema.validate(results, json.loads(SCHEMA_PATH.read_text()))
    return results


def test_a_two_arm_trial_with_its_active_arm_lost_writes_results_naming_it(tmp_path):
    design = _design(tmp_path, extra_arm=False)
    data = _data(design, lost="letter")
    allocated = int((data["arm"] == "letter").sum())
    results = _valid(analyse_trial(data, design, ri_draws=50))
    primary = results["outcomes"][0]
    assert primary["name"] == "feeling_valued" and primary["estimates"] == []
    reason = (
        f"No one in the 'letter' arm has a 'feeling_valued_endline' value (0 of {allocated} "
        "allocated), so its effect on 'feeling_valued' cannot be estimated."
    )
    assert primary["not_estimated"] == [
        {"arm": "letter", "column": "feeling_valued_endline", "reason": reason}
    ]
    assert reason in results["warnings"]
    # the models that need both arms are not run on one
    assert primary["sensitivity"] == [] and primary["subgroups"] == []
    box = results["consort"]["individuals"]["letter"]
    assert box["lost"] == box["allocated"] == allocated and box["analysed"] == 0


def test_a_lost_arm_of_three_leaves_the_other_estimated_as_without_it(tmp_path):
    design = _design(tmp_path, extra_arm=True)
    data = _data(design, lost="letter")
    results = _valid(analyse_trial(data, design, ri_draws=50))
    primary = results["outcomes"][0]
    (call,) = [e for e in primary["estimates"] if e["estimand"] == "ITT"]
    assert call["arm"] == "call" and call["ci_low"] < 2.0 < call["ci_high"]
    assert [n["arm"] for n in primary["not_estimated"]] == ["letter"]
    # the call arm's estimate is the one the model gives with the lost arm's rows left out:
    # they have no outcome, so no row of the model changes
    assert call["n"] == int(data["feeling_valued_endline"].notna().sum())
    assert call["n_per_arm"]["letter"] == 0


def test_a_lost_control_arm_leaves_nothing_to_compare_and_says_so(tmp_path):
    design = _design(tmp_path, extra_arm=True)
    results = _valid(analyse_trial(_data(design, lost="control"), design, ri_draws=0))
    primary = results["outcomes"][0]
    assert primary["estimates"] == []
    assert [n["arm"] for n in primary["not_estimated"]] == ["letter", "call"]
    assert all(
        "control arm 'control'" in n["reason"] and "nothing to compare it with" in n["reason"]
        for n in primary["not_estimated"]
    )


def test_every_arm_followed_up_lists_nothing_not_estimated(tmp_path):
    design = _design(tmp_path, extra_arm=True)
    primary = analyse_trial(_data(design, lost=None), design, ri_draws=0)["outcomes"][0]
    assert "not_estimated" not in primary
    assert sorted(e["arm"] for e in primary["estimates"] if e["estimand"] == "ITT") == [
        "call",
        "letter",
    ]
