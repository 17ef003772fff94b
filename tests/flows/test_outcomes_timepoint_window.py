"""The outcome ingest holds each response to its --timepoint's window and its cohort's cycle.

Before, the ingest checked every survey against one window (recruitment start to
the last cycle's end of follow-up) whatever the timepoint: an endline export
ingested as baseline was stored as baseline, and a spring-cohort answer dated in the
autumn cohort's follow-up was stored as the spring's endline.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from flows.cycles import cycle_randomise_flow
from flows.outcomes import outcomes_ingest_flow
from flows.randomise import randomise_flow
from flows.store import Store
from intake.mapping import survey_fields
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_late_entrants, simulate_roster

LETTERS = str(DESIGNS / "letters.yaml")


def _survey(design, answers: dict[str, dt.date]) -> pd.DataFrame:  # noqa: ANN001
    """A survey export in the design's file columns: every item answered 3, dated as given."""
    columns = survey_fields(design)
    return pd.DataFrame(
        [
            {
                column: pid if field == "participant_id" else day.isoformat()
                if field == "collected_on" else "3"
                for field, column in columns.items()
            }
            for pid, day in answers.items()
        ]
    )  # fmt: skip


@pytest.mark.flow
def test_each_response_is_held_to_its_timepoint_and_its_own_cycle(prefect_server, tmp_path):
    design = load_design(LETTERS)
    spring = simulate_roster(design, rng=np.random.default_rng(1), n=20)
    spring.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow(LETTERS, str(tmp_path / "roster.csv"))
    autumn = simulate_late_entrants(design, n=4, rng=np.random.default_rng(2))
    pd.concat([spring, autumn]).to_csv(tmp_path / "autumn.csv", index=False)
    cycle_randomise_flow(LETTERS, str(tmp_path / "autumn.csv"), 2)
    fu, second = design.follow_up, design.cycles[1]
    s1, s2 = sorted(spring["staff_id"])[:2]
    a1, a2 = sorted(autumn["staff_id"])[:2]

    # endline: each cohort in its own window; the other cohort's window is not theirs
    path = tmp_path / "endline.csv"
    dates = {s1: fu.endline, s2: second.endline, a1: second.endline, a2: fu.endline}
    _survey(design, dates).to_csv(path, index=False)
    result = outcomes_ingest_flow(LETTERS, str(path), "survey", "endline")
    assert (result["rows_stored"], result["rows_quarantined"]) == (2, 2)
    quarantined = Store().quarantined("letters").set_index("value")
    assert quarantined["rule"].tolist() == ["date_in_window"] * 2
    assert quarantined.loc[second.endline.isoformat(), "message"].startswith(
        "A response at endline of cycle 1 (spring_2019) must be dated from 2019-10-15"
    )
    assert quarantined.loc[fu.endline.isoformat(), "message"].startswith(
        "A response at endline of cycle 2 (autumn_2019) must be dated from 2020-04-15"
    )

    # the same endline answers sent as baseline: none is a baseline answer
    baseline = tmp_path / "baseline_resent.csv"
    _survey(design, {s1: fu.endline, a1: second.endline}).to_csv(baseline, index=False)
    result = outcomes_ingest_flow(LETTERS, str(baseline), "survey", "baseline")
    assert (result["rows_stored"], result["rows_quarantined"]) == (0, 2)
    resent = Store().quarantined("letters").query("file_name == 'baseline_resent.csv'")
    assert set(resent["rule"]) == {"date_in_window"}
    assert resent["message"].str.startswith("A response at baseline of cycle").all()
