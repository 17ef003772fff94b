"""An ingest's --timepoint must be one the design declares (issue 15.1)."""

from __future__ import annotations

import pytest

from intake.outcomes import check_declared_timepoint
from tests.designs import DESIGNS
from trial_designs.design import load_design


def test_the_declared_timepoints_are_taken_and_any_other_is_refused_naming_them():
    design = load_design(DESIGNS / "goal_setting.yaml")
    for timepoint in ("baseline", "midpoint", "endline"):
        check_declared_timepoint(design, timepoint)
    with pytest.raises(ValueError) as err:
        check_declared_timepoint(design, "wave_2")
    assert str(err.value) == (
        "The timepoint 'wave_2' is not declared by design 'goal_setting'. Choose one of: "
        "baseline, midpoint, endline (a follow-up wave is declared under follow_up.waves, with "
        "its name and date). Got 'wave_2' instead."
    )
