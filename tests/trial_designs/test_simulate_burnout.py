"""The goal-setting trial's burnout outcome: simulated as CBI items, scored from its scale file."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.dataset import outcome_measure
from analysis.instruments import score_instrument
from intake.mapping import survey_fields
from intake.surveys import score_survey
from trial_designs.design import load_design
from trial_designs.scale_files import declared_instrument, read_wrqol_scoring
from trial_designs.simulate_outcomes import SCORE_NORMS, _instrument_items

CBI_ITEMS = [f"cbi_work_{i}" for i in range(1, 8)]


def test_simulated_cbi_items_have_published_like_norms():
    rng = np.random.default_rng(3)
    z = rng.normal(size=40_000)
    items = pd.DataFrame(_instrument_items("cbi_work", z, np.zeros(len(z)), rng, ()))
    assert list(items.columns) == CBI_ITEMS
    assert set(np.unique(items.to_numpy())) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    score = score_instrument(items, instrument=declared_instrument("cbi_work"))["cbi_work_score"]
    mean, sd = SCORE_NORMS["cbi_work"]
    assert abs(score.mean() - mean) < 1.0 and abs(score.std() - sd) < 1.0
    # item 7 is written reversed: its raw answers fall as the others rise
    assert np.corrcoef(items["cbi_work_7"], items["cbi_work_1"])[0, 1] < -0.3


def test_goal_setting_declares_burnout_from_the_cbi_scale_file(design_path):
    design = load_design(design_path("goal_setting"))
    burnout = next(o for o in design.outcomes if o.name == "burnout")
    assert (burnout.instrument, burnout.higher_is_better, burnout.primary) == (
        "cbi_work",
        False,
        False,
    )
    assert outcome_measure(burnout) == "cbi_work_score"
    fields = survey_fields(design)
    assert [fields[c] for c in CBI_ITEMS] == [f"burnout_q{i}" for i in range(1, 8)]
    answers = pd.DataFrame([[3] * 7, [5, 5, 5, None, None, None, 1], [1] * 6 + [None]])
    frame = pd.DataFrame(
        {c: 3 for c in survey_fields(design) if c not in CBI_ITEMS}, index=[0, 1, 2]
    )
    frame[CBI_ITEMS] = answers.to_numpy(dtype=float)
    frame = frame.assign(
        participant_id=["a", "b", "c"], collected_on="2020-01-15", source_row=[1, 2, 3]
    )
    rows = score_survey(frame, design, wrqol_scoring=read_wrqol_scoring())
    assert rows.values["cbi_work_score"].tolist() == [50.0, 100.0, 0.0]
    assert list(rows.rules["cbi_work_score"]) == ["complete", "prorated(3)", "prorated(1)"]
