"""A declared follow-up wave's simulated survey (issue 15.1): drawn last, dated in its window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_outcomes import simulate_outcomes

DESIGN = load_design(DESIGNS / "goal_setting.yaml")  # declares the wave 'midpoint'


def _people(n: int = 400) -> pd.DataFrame:
    ids = [f"P{i:06d}" for i in range(n)]
    return pd.DataFrame(
        {
            "participant_id": ids,
            "unit_id": ids,
            "arm": np.asarray(DESIGN.arm_names, dtype=object)[np.arange(n) % 2],
            "organisation": "Kent",
            "team": [f"T{i % 20}" for i in range(n)],
        }
    )


def test_the_wave_is_drawn_after_every_other_file_so_those_do_not_change():
    without = DESIGN.model_copy(
        update={"follow_up": DESIGN.follow_up.model_copy(update={"waves": ()})}
    )
    before = simulate_outcomes(without, _people(), rng=np.random.default_rng(5))
    after = simulate_outcomes(DESIGN, _people(), rng=np.random.default_rng(5))
    assert list(after) == [*before, "survey_midpoint.csv"]
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame)


def test_the_wave_survey_has_the_survey_layout_and_is_dated_from_the_wave():
    files = simulate_outcomes(DESIGN, _people(), rng=np.random.default_rng(5))
    wave, endline = files["survey_midpoint.csv"], files["survey_endline.csv"]
    assert list(wave.columns) == list(endline.columns)
    dates = pd.to_datetime(wave["date_completed"], errors="coerce", format="ISO8601").dropna()
    # most answers fall in the four weeks from the wave's date (the bad rows are the exception)
    window = dates.between("2019-11-01", "2019-11-29")
    assert window.mean() > 0.95
    # fewer have left by the mid-point, so more answer than at endline
    assert wave["respondent_id"].nunique() > endline["respondent_id"].nunique()
