"""A late entrant's declared roster covariates are stored as a randomised cohort's are.

Before, `trialflow enrol` stored late entrants with no covariates_json, so the
analysis dataset had a blank covariate (e.g. fte) for every late entrant even
when their roster row gave it.
"""

from __future__ import annotations

import numpy as np
import pytest

from flows.export import load_analysis_dataset
from flows.randomise import enrol_flow, randomise_flow
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_late_entrants, simulate_roster


@pytest.mark.flow
def test_a_late_entrants_roster_covariates_reach_the_analysis_dataset(prefect_server, tmp_path):
    text = (DESIGNS / "letters.yaml").read_text()
    assert "\ninterventions:" in text
    path = tmp_path / "letters.yaml"
    path.write_text(text.replace("\ninterventions:", "\n  covariates: [fte]\ninterventions:", 1))
    design = load_design(path)
    assert design.roster.covariates == ("fte",)
    roster = simulate_roster(design, rng=np.random.default_rng(1), n=30)
    roster.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow(str(path), str(tmp_path / "roster.csv"))
    late = simulate_late_entrants(design, n=3, rng=np.random.default_rng(2))
    late.loc[0, "fte"] = None  # a blank covariate stays blank
    late.to_csv(tmp_path / "late.csv", index=False)
    assert {r["status"] for r in enrol_flow(str(path), str(tmp_path / "late.csv"))["enrolled"]} == {
        "allocated"
    }

    data = load_analysis_dataset(design).set_index("participant_id")
    given = late.set_index("staff_id")["fte"].astype(float)
    got = data.loc[given.index, "fte"].astype(float)
    assert got.isna().tolist() == [True, False, False]
    assert got.dropna().tolist() == given.dropna().tolist()
    # the randomised cohort's, as before
    first = roster.set_index("staff_id")["fte"].astype(float)
    assert data.loc[first.index, "fte"].astype(float).tolist() == first.tolist()
