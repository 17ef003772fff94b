"""Write the seeded three-arm dataset for the multi-arm CACE and Holm reference (issue 15, 4).

Run from the repository root: ``.venv/bin/python tests/reference/make_multiarm_dataset.py``.
The CSV is committed; ``multiarm_reference.R`` and ``tests/analysis/test_multiarm_reference.py``
read it, never this script.

The golden letters roster (391 staff in four local authorities and their teams), each person
allocated to control, letter or call at random; partial uptake in both active arms (60% and
40%, 3% contamination in control); the effect works through uptake (1.5 and 3 points), and
low baselines answer the endline less often.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROSTER = HERE.parents[0] / "trial_designs" / "golden" / "letters_roster.csv"
UPTAKE = {"control": 0.03, "letter": 0.6, "call": 0.4}
EFFECT = {"control": 0.0, "letter": 1.5, "call": 3.0}


def main() -> None:
    roster = pd.read_csv(ROSTER, dtype=str)
    rng = np.random.default_rng(20261130)
    n = len(roster)
    arm = rng.permutation(np.resize(["control", "letter", "call"], n))
    took_up = (rng.random(n) < pd.Series(arm).map(UPTAKE).to_numpy()).astype(int)
    base = np.round(rng.normal(5.0, 2.0, n), 6)
    # a team effect, so clustering the standard errors by team matters
    teams = roster["team"].astype("category").cat.codes.to_numpy()
    team_effect = rng.normal(0, 0.8, teams.max() + 1)[teams]
    effect = pd.Series(arm).map(EFFECT).to_numpy() * took_up
    y = np.round(0.6 * base + 2.0 + effect + team_effect + rng.normal(0, 2.0, n), 6)
    y[rng.random(n) < np.where(base < 5.0, 0.35, 0.1)] = np.nan
    pd.DataFrame(
        {
            "participant_id": roster["id"],
            "arm": arm,
            "stratum": roster["organisation"],
            "organisation": roster["organisation"],
            "team": roster["team"],
            "role": roster["role"],
            "took_up": took_up,
            "feeling_valued_baseline": base,
            "feeling_valued_endline": y,
        }
    ).to_csv(HERE / "data" / "multiarm.csv", index=False, na_rep="NA")


if __name__ == "__main__":
    main()
