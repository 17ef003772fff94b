"""analysis.adjust_across_arms: Holm across the active arms, declared in the design."""

from __future__ import annotations

import pytest
import yaml

from tests.designs import DESIGNS
from trial_designs.design import DesignError, load_design


def _design(tmp_path, *, third_arm: bool, adjust: str | None):  # noqa: ANN202
    spec = yaml.safe_load((DESIGNS / "goal_setting.yaml").read_text())
    if third_arm:
        spec["arms"].append({"name": "course_reminders", "ratio": 1, "label": "Course, reminders"})
        spec["randomisation"]["block_sizes"] = [3, 6]
    if adjust is not None:
        spec.setdefault("analysis", {})["adjust_across_arms"] = adjust
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_design(path)


def test_holm_across_arms_is_accepted_with_two_active_arms(tmp_path):
    assert _design(tmp_path, third_arm=True, adjust="holm").analysis.adjust_across_arms == "holm"
    assert _design(tmp_path, third_arm=True, adjust=None).analysis.adjust_across_arms == "none"


def test_holm_across_arms_is_refused_with_one_active_arm(tmp_path):
    with pytest.raises(DesignError, match=r"one active arm \('course'\), so there is nothing"):
        _design(tmp_path, third_arm=False, adjust="holm")
    # 'none' is the default, so a two-arm design may say it
    assert _design(tmp_path, third_arm=False, adjust="none").analysis.adjust_across_arms == "none"


def test_an_unknown_adjustment_lists_the_choices(tmp_path):
    with pytest.raises(DesignError, match="'adjust_across_arms' must be one of 'holm' or 'none'"):
        _design(tmp_path, third_arm=True, adjust="bonferroni")


def test_the_field_left_at_its_default_keeps_the_design_hash(tmp_path):
    packaged = load_design(DESIGNS / "goal_setting.yaml")
    said = _design(tmp_path, third_arm=False, adjust="none")
    assert said.design_hash == packaged.design_hash
    assert "adjust_across_arms" not in packaged.canonical_json()
