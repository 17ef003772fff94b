"""The pairwise CACE of each active arm matches estimatr::iv_robust, and Holm across arms matches
R's p.adjust(method = "holm"), on the committed three-arm dataset (tests/reference/multiarm_*).

Reference values: ``Rscript tests/reference/multiarm_reference.R`` on
``tests/reference/data/multiarm.csv``; this test reads the committed output only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.results import results_document
from tests.designs import DESIGNS
from trial_designs.design import load_design

REFERENCE = DESIGNS.parents[0] / "tests" / "reference"
#: results.json field -> column of output/multiarm_cace.csv
CACE_FIELDS = {
    "estimate": "estimate",
    "std_error": "std_error",
    "df": "df",
    "p_value": "p_value",
    "ci_low": "ci_low",
    "ci_high": "ci_high",
    "first_stage_f": "first_stage_f",
}


def _document(tmp_path, se_type: str):  # noqa: ANN001, ANN202
    spec = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    spec.pop("cycles", None)
    spec["outcomes"] = [o for o in spec["outcomes"] if o["name"] == "feeling_valued"]
    spec["arms"].append({"name": "call", "ratio": 1, "label": "Phone call"})
    spec["randomisation"]["block_sizes"] = [3, 6]
    spec["analysis"].update(subgroups=[], adjust_across_arms="holm")
    if se_type == "CR2":
        spec["analysis"]["cluster_se_by"] = "team"
    path = tmp_path / f"letters_{se_type}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    design = load_design(path)
    data = pd.read_csv(REFERENCE / "data" / "multiarm.csv", dtype={"participant_id": str})
    data["cluster"] = np.nan
    return results_document(data, design, ri_draws=0)


@pytest.mark.parametrize("se_type", ["HC2", "CR2"])
def test_each_arms_cace_and_the_holm_across_arms_match_r(tmp_path, se_type):
    primary = _document(tmp_path, se_type).outcomes[0]
    cace_r = pd.read_csv(REFERENCE / "output" / "multiarm_cace.csv")
    cace_r = cace_r[cace_r["se_type"] == se_type].set_index("arm")
    caces = {e.arm: e for e in primary.estimates if e.estimand == "CACE"}
    assert sorted(caces) == sorted(cace_r.index)
    for arm, estimate in caces.items():
        expected = cace_r.loc[arm]
        assert estimate.se_type == se_type
        assert estimate.n == expected["n"]
        if se_type == "CR2":
            assert estimate.n_clusters == expected["n_clusters"]
        for field, column in CACE_FIELDS.items():
            assert getattr(estimate, field) == pytest.approx(expected[column], rel=1e-8), field
    holm_r = pd.read_csv(REFERENCE / "output" / "multiarm_holm.csv")
    holm_r = holm_r[holm_r["se_type"] == se_type].set_index("arm")
    itts = {e.arm: e for e in primary.estimates if e.estimand == "ITT"}
    for arm, estimate in itts.items():
        assert estimate.p_value == pytest.approx(holm_r.loc[arm, "p_value"], rel=1e-8)
        assert estimate.p_value_holm == pytest.approx(holm_r.loc[arm, "p_value_holm"], rel=1e-8)
    # the missing-data table's complete-case row is the primary's joint model: R's lm_robust
    # on all three arms, not a refit on control and the arm
    complete = {s.arm: s for s in primary.sensitivity if s.method == "complete_case"}
    assert sorted(complete) == sorted(holm_r.index)
    for arm, row in complete.items():
        assert row.p_value == pytest.approx(holm_r.loc[arm, "p_value"], rel=1e-8)
