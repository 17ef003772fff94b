"""A licensee drops the real WRQoL map in without code: the design names the file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml
from prefect.logging import disable_run_logger

from flows.analyse import placeholder_scoring
from flows.outcomes import load_wrqol_scoring
from intake.mapping import survey_fields
from intake.outcomes import source_options
from intake.surveys import score_survey
from trial_designs.design import load_design
from trial_designs.scale_files import WRQOL_SCORING

# another map, as a licensee's file would hold: every item in one subscale, sizes 6,3,6,3,3,2
LICENSED = {
    "GWB": [1, 2, 3, 4, 5, 6],
    "HWI": [7, 8, 9],
    "JCS": [10, 11, 12, 13, 14, 15],
    "CAW": [16, 17, 18],
    "WCS": [19, 20, 21],
    "SAW": [22, 23],
}


def _licensed_design(tmp_path, design_path):
    scale = yaml.safe_load(WRQOL_SCORING.read_text())
    scale.update(placeholder=False, subscales=LICENSED, reverse=[2, 22, 23])
    (tmp_path / "wrqol_licensed.yaml").write_text(yaml.safe_dump(scale, sort_keys=False))
    design = yaml.safe_load(design_path("goal_setting").read_text())
    design["survey"]["options"]["wrqol_scoring"] = "wrqol_licensed.yaml"  # beside the design
    path = tmp_path / "goal_setting.yaml"
    path.write_text(yaml.safe_dump(design, sort_keys=False))
    return load_design(path), str(path)


def _responses(design, n=300) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    items = [f for f in survey_fields(design) if f not in ("participant_id", "collected_on")]
    frame = pd.DataFrame(rng.integers(1, 6, size=(n, len(items))).astype(float), columns=items)
    frame.loc[rng.choice(n, 40, replace=False), "wrqol_5"] = np.nan  # some prorated rows
    return frame.assign(
        participant_id=[f"P{i}" for i in range(n)], collected_on="2020-01-15", source_row=range(n)
    )


def test_a_licensees_wrqol_file_changes_the_scores_and_clears_the_placeholder_flag(
    tmp_path, design_path
):
    packaged = load_design(design_path("goal_setting"))
    licensed, licensed_file = _licensed_design(tmp_path, design_path)
    # results.json flags WRQoL outcomes scoring_placeholder only for the packaged map
    assert placeholder_scoring.fn(packaged, str(design_path("goal_setting"))) == ["wrqol"]
    assert placeholder_scoring.fn(licensed, licensed_file) == []

    with disable_run_logger():  # the packaged map logs a warning, outside any run here
        old_map = load_wrqol_scoring.fn(
            packaged, str(design_path("goal_setting")), source_options(packaged, "survey")
        )
    new_map = load_wrqol_scoring.fn(licensed, licensed_file, source_options(licensed, "survey"))
    assert new_map["subscales"]["GWB"] == (1, 2, 3, 4, 5, 6) and new_map["placeholder"] is False
    frame = _responses(licensed)
    before = score_survey(frame, packaged, wrqol_scoring=old_map).values
    after = score_survey(frame, licensed, wrqol_scoring=new_map).values
    for column in ("wrqol_total", "wrqol_GWB", "wrqol_SAW"):
        assert not np.allclose(before[column], after[column], equal_nan=True), column
    # nothing else moves
    pd.testing.assert_series_equal(before["swemwbs_metric"], after["swemwbs_metric"])
    pd.testing.assert_series_equal(before["cbi_work_score"], after["cbi_work_score"])
