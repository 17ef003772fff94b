"""Named follow-up waves and the pre-declared primary timepoint (issue 15.1): refused by name and rule."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from tests.designs import DESIGNS
from trial_designs.design import DesignError, load_design
from trial_designs.design_diff import allocation_changes, design_diff


def _load(tmp_path: Path, **follow_up) -> object:
    data = yaml.safe_load((DESIGNS / "goal_setting.yaml").read_text())
    data = copy.deepcopy(data)
    data["follow_up"].update(follow_up)
    path = tmp_path / "goal_setting.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_design(path)


def test_declared_waves_order_the_timepoints_by_date_and_primary_defaults_to_endline(tmp_path):
    design = _load(
        tmp_path,
        waves=[{"name": "late", "date": "2019-12-01"}, {"name": "early", "date": "2019-10-01"}],
    )
    assert design.follow_up.timepoints == ("baseline", "early", "late", "endline")
    assert design.follow_up.primary_timepoint == "endline"
    assert _load(tmp_path, waves=[]).follow_up.timepoints == ("baseline", "endline")


def test_primary_timepoint_is_part_of_the_hash_only_when_it_is_not_endline(tmp_path):
    wave = [{"name": "midpoint", "date": "2019-11-01"}]
    default = _load(tmp_path, waves=wave)
    assert _load(tmp_path, waves=wave, primary_timepoint="endline").design_hash == (
        default.design_hash
    )
    midpoint = _load(tmp_path, waves=wave, primary_timepoint="midpoint")
    assert midpoint.follow_up.primary_timepoint == "midpoint"
    assert midpoint.design_hash != default.design_hash


@pytest.mark.parametrize(
    ("follow_up", "message"),
    [
        (
            {"waves": ["2019-11-01"]},
            "goal_setting.yaml: follow_up: 'waves' each wave needs a name and a date ({name: "
            "midpoint, date: 2019-11-01}): the name is the --timepoint its survey is ingested "
            "as. Got 2019-11-01 instead.",
        ),
        (
            {"waves": [{"name": "endline", "date": "2019-11-01"}]},
            "goal_setting.yaml: 'follow_up' each wave's name must differ from baseline, endline "
            "and the other waves' (it names the wave's dataset columns). Got ['endline'] instead.",
        ),
        (
            {
                "waves": [
                    {"name": "mid", "date": "2019-11-01"},
                    {"name": "mid", "date": "2019-12-01"},
                ]
            },
            "goal_setting.yaml: 'follow_up' each wave's name must differ from baseline, endline "
            "and the other waves' (it names the wave's dataset columns). Got ['mid', 'mid'] "
            "instead.",
        ),
        (
            {"waves": [{"name": "late", "date": "2020-02-01"}]},
            "goal_setting.yaml: 'follow_up' wave 'late' must fall after randomisation "
            "(2019-09-02) and before endline (2020-01-15). Got 2020-02-01 instead.",
        ),
        (
            {"primary_timepoint": "midline"},
            "goal_setting.yaml: 'follow_up' primary_timepoint must be endline or a declared "
            "wave. Choose one of: endline, midpoint. Got 'midline' instead.",
        ),
    ],
)
def test_a_wave_or_primary_timepoint_that_cannot_be_analysed_is_refused(
    tmp_path, follow_up, message
):
    with pytest.raises(DesignError) as err:
        _load(tmp_path, **follow_up)
    assert str(err.value) == message


def _wave_moved(day: str) -> list:
    old = json.loads(load_design(DESIGNS / "goal_setting.yaml").canonical_json())
    new = copy.deepcopy(old)
    new["follow_up"]["waves"][0]["date"] = day
    return design_diff(old, new)


def test_a_wave_date_may_move_while_ahead_and_not_once_passed():
    changes = _wave_moved("2019-11-08")
    assert [c.path for c in changes] == ["follow_up.waves[midpoint].date"]
    assert allocation_changes(changes, today=dt.date(2019, 10, 1)) == []
    ((_, why),) = allocation_changes(changes, today=dt.date(2019, 12, 1))
    assert "2019-11-01" in why and "on or before today (2019-12-01)" in why


def test_a_wave_declared_after_its_date_has_passed_is_refused():
    old = json.loads(load_design(DESIGNS / "goal_setting.yaml").canonical_json())
    new = copy.deepcopy(old)
    new["follow_up"]["waves"].append({"name": "late", "date": "2019-12-01"})
    refused = allocation_changes(design_diff(old, new), today=dt.date(2019, 12, 10))
    assert [c.path for c, _ in refused] == ["follow_up.waves[late]"]
