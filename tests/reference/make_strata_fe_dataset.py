"""Write the seeded dataset for the absorbed stratum fixed effects reference (issue 18).

Run from the repository root: ``.venv/bin/python tests/reference/make_strata_fe_dataset.py``.
The CSV is committed; ``strata_fe_reference.R`` and
``tests/analysis/estimators/test_absorb_reference.py`` read it, never this script.

900 staff in 40 organisations of very different sizes (more than
``analysis.estimators.absorb.ABSORB_STRATA_ABOVE``, so the fits absorb them), one of them
a single person; randomised within organisation, one organisation has no one in the active
arm; 120 teams nested in the organisations, with a team effect; ~65% uptake in the active
arm and 5% in control; an effect through uptake; a covariate constant within organisations
(``org_size``); inverse-probability-like weights; some outcomes missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
N = 900
N_ORGANISATIONS = 40
N_TEAMS = 120


def main() -> None:
    rng = np.random.default_rng(20261201)
    sizes = rng.pareto(1.5, N_ORGANISATIONS) + 0.3
    organisation = rng.choice(N_ORGANISATIONS, size=N, p=sizes / sizes.sum())
    organisation[0] = N_ORGANISATIONS  # an organisation of one person
    names = np.array([f"Org {i:02d}" for i in range(N_ORGANISATIONS + 1)])
    # teams nested in organisations: a team number within the organisation
    team = np.array([f"{names[o]} T{rng.integers(0, 3)}" for o in organisation])
    treat = (rng.random(N) < 0.5).astype(int)
    treat[organisation == 3] = 0  # one organisation with no one in the active arm
    took_up = np.where(treat == 1, rng.random(N) < 0.65, rng.random(N) < 0.05).astype(int)
    baseline = np.round(rng.normal(24.0, 4.0, N), 6)
    org_effect = rng.normal(0, 1.5, N_ORGANISATIONS + 1)[organisation]
    team_codes = pd.factorize(team)[0]
    team_effect = rng.normal(0, 0.8, team_codes.max() + 1)[team_codes]
    y = 6.0 + 0.7 * baseline + 1.2 * took_up + org_effect + team_effect + rng.normal(0, 2.5, N)
    y = np.round(y, 6)
    y[rng.random(N) < 0.08] = np.nan
    if np.isnan(y[0]):
        y[0] = 25.0  # the singleton stratum keeps its one outcome
    org_size = np.bincount(organisation)[organisation].astype(float)
    w = np.round(1.0 / rng.uniform(0.4, 0.95, N), 6)
    pd.DataFrame(
        {
            "id": [f"S{i:04d}" for i in range(1, N + 1)],
            "y": y,
            "treat": treat,
            "took_up": took_up,
            "baseline": baseline,
            "org_size": org_size,
            "stratum": names[organisation],
            "team": team,
            "w": w,
        }
    ).to_csv(HERE / "data" / "strata_fe.csv", index=False, na_rep="NA")


if __name__ == "__main__":
    main()
