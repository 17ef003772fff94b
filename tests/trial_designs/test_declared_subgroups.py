"""Declared subgroups in a design: a column, or tertiles of a baseline column (issue 15.5)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.designs import DESIGNS
from trial_designs.design import DesignError, load_design
from trial_designs.subgroups import Subgroup, subgroup_specs

TERTILE = {"name": "wellbeing_tertile", "from": "swemwbs_baseline", "tertiles": True}


def _load(tmp_path, subgroups):  # noqa: ANN001, ANN202
    data = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    data["analysis"]["subgroups"] = subgroups
    path = tmp_path / "letters.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_design(path)


def test_a_plain_list_keeps_the_hash_of_the_same_list_written_before(tmp_path):
    design = _load(tmp_path, ["role"])
    assert design.analysis.subgroups == ("role",)
    assert '"subgroups":["role"]' in design.canonical_json()


def test_a_tertile_subgroup_is_read_and_normalised(tmp_path):
    design = _load(tmp_path, ["role", TERTILE])
    assert subgroup_specs(design.analysis.subgroups) == (
        Subgroup("role", "role"),
        Subgroup("wellbeing_tertile", "swemwbs_baseline", tertiles=True),
    )


@pytest.mark.parametrize(
    ("subgroups", "message"),
    [
        (
            [{**TERTILE, "from": "swemwbs_endline"}],
            "analysis.subgroups: 'wellbeing_tertile' is derived from 'swemwbs_endline', "
            "measured after randomisation",
        ),
        (
            [{**TERTILE, "from": "swemwbs_basline"}],
            "'swemwbs_basline', which is not a baseline column of the analysis dataset; did "
            "you mean 'swemwbs_baseline'?",
        ),
        ([{**TERTILE, "name": "team"}], "the derived subgroup 'team' has the name of a dataset"),
        (["role", "role"], "analysis.subgroups names each subgroup once. Got 'role' 2 times"),
        ([{**TERTILE, "tertiles": False}], "Got tertiles: false instead"),
        (["rol"], "'rol' is not a column of the analysis dataset; did you mean 'role'?"),
        (
            ["id"],
            "analysis.subgroups: 'id' has one level per person, so each subgroup would hold one "
            "person and nothing could be compared within it. Name a column fixed before "
            "randomisation that groups people (a role, a team, a stratum). Got 'id' instead",
        ),
        (["role", "start_date"], "analysis.subgroups: 'start_date' has one level per person"),
    ],
)
def test_a_wrong_subgroup_is_refused_by_name_rule_and_value(tmp_path, subgroups, message):
    with pytest.raises(DesignError, match=re.escape(message)):
        _load(tmp_path, subgroups)
