"""Write the datasets that tests/reference/estimatr_reference.R fits.

    .venv/bin/python tests/reference/make_datasets.py

Seeded, so rerunning rewrites the same bytes; rerun the R script afterwards
if a dataset changes.  Shapes mirror the seed trials (see shared/DOMAIN.md):

- ``individual.csv``: letters-like, N = 400 in 3 LAs (strata), a baseline,
  a 2-arm and a 3-arm assignment, response weights, some missing values.
- ``coffee13.csv``: 13 buildings of 20-40 staff, building-level treatment,
  ICC about 0.05, a building-level covariate and within-building weights.
- ``iv.csv``: goal-setting-like, N = 1,315 in 8 LAs and 60 teams, about 20%
  uptake among the assigned and none in control, a module dose, weights.
- ``teams.csv``: staff randomised one by one within 4 LAs (strata) but working
  in 40 teams of 4-30 (team ICC about 0.1), for CR2 clustered by a grouping
  that is not the unit of randomisation (``analysis.cluster_se_by``); about
  60% uptake among the assigned, none in control; some missing values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data"


def individual(rng: np.random.Generator) -> pd.DataFrame:
    n = 400
    stratum = rng.choice(["Bracknell Forest", "Dudley", "Shropshire"], size=n, p=[0.35, 0.3, 0.35])
    treat = np.zeros(n, dtype=int)
    arm3 = np.full(n, "control", dtype=object)
    for level in np.unique(stratum):
        members = rng.permutation(np.flatnonzero(stratum == level))
        treat[members[: len(members) // 2]] = 1
        thirds = np.array_split(members, 3)
        arm3[thirds[1]] = "letter"
        arm3[thirds[2]] = "letter_plus"
    baseline = rng.normal(21, 3.5, n)
    # Heteroscedastic errors so HC0..HC3 differ visibly.
    noise = rng.normal(0, 1.0, n) * (2.5 + 1.0 * treat + 0.1 * (baseline - 21) ** 2)
    y = 8 + 0.6 * treat + 0.6 * baseline + 0.7 * (stratum == "Dudley") + noise
    y = np.where(arm3 == "letter_plus", y + 0.4, y)
    # Inverse-probability-of-response style weights, between 1 and about 3.
    weight = 1.0 / rng.uniform(0.35, 1.0, n)
    y[rng.choice(n, 18, replace=False)] = np.nan
    baseline[rng.choice(n, 7, replace=False)] = np.nan
    return pd.DataFrame(
        {
            "y": y,
            "treat": treat,
            "arm3": arm3,
            "baseline": baseline,
            "stratum": stratum,
            "w": weight,
        }
    )


def coffee(rng: np.random.Generator) -> pd.DataFrame:
    n_buildings = 13
    sizes = rng.integers(20, 41, n_buildings)
    building = np.repeat(np.arange(1, n_buildings + 1), sizes)
    treated = rng.permutation(np.arange(1, n_buildings + 1))[:6]
    treat = np.isin(building, treated).astype(int)
    total_sd = 3.5
    icc = 0.05
    building_effect = rng.normal(0, np.sqrt(icc) * total_sd, n_buildings)[building - 1]
    baseline = rng.normal(21, 3.5, len(building))
    individual_noise = rng.normal(0, np.sqrt(1 - icc) * total_sd, len(building))
    y = 8 + 0.5 * treat + 0.6 * baseline + building_effect + individual_noise
    # A building-level covariate (constant within a cluster) makes H_gg singular-ish.
    building_size = sizes[building - 1].astype(float)
    weight = rng.uniform(0.5, 2.0, len(building))
    return pd.DataFrame(
        {
            "y": y,
            "treat": treat,
            "baseline": baseline,
            "building": building,
            "building_size": building_size,
            "w": weight,
        }
    )


def iv(rng: np.random.Generator) -> pd.DataFrame:
    n = 1315
    team = rng.integers(1, 61, n)
    stratum = np.array([f"LA{1 + (t - 1) % 8}" for t in team])
    assigned = (rng.random(n) < 0.5).astype(int)
    motivated = rng.random(n) < 0.2
    uptake = (assigned * motivated).astype(int)
    dose = np.where(uptake == 1, rng.integers(1, 7, n), 0)
    baseline = rng.normal(21, 3.5, n)
    team_effect = rng.normal(0, 0.8, 61)[team]
    y = (
        8
        + 1.2 * uptake
        + 0.6 * baseline
        + 0.8 * motivated
        + team_effect
        + rng.normal(0, 2.8, n) * (1 + 0.3 * uptake)
    )
    weight = rng.uniform(0.6, 1.8, n)
    return pd.DataFrame(
        {
            "y": y,
            "assigned": assigned,
            "uptake": uptake,
            "dose": dose,
            "baseline": baseline,
            "stratum": stratum,
            "team": team,
            "w": weight,
        }
    )


def teams(rng: np.random.Generator) -> pd.DataFrame:
    n_teams = 40
    sizes = rng.integers(4, 31, n_teams)
    team = np.repeat(np.arange(1, n_teams + 1), sizes)
    n = len(team)
    # Teams sit inside an LA; staff are randomised individually within LAs.
    team_la = np.array(["Bracknell Forest", "Dudley", "Halton", "Shropshire"])[
        rng.integers(0, 4, n_teams)
    ]
    stratum = team_la[team - 1]
    treat = np.zeros(n, dtype=int)
    for level in np.unique(stratum):
        members = rng.permutation(np.flatnonzero(stratum == level))
        treat[members[: len(members) // 2]] = 1
    took_up = treat * (rng.random(n) < 0.6)
    total_sd = 3.5
    icc = 0.1
    team_effect = rng.normal(0, np.sqrt(icc) * total_sd, n_teams)[team - 1]
    baseline = rng.normal(21, 3.5, n) + team_effect
    y = (
        8
        + 0.9 * took_up
        + 0.6 * baseline
        + 0.5 * (stratum == "Dudley")
        + team_effect
        + rng.normal(0, np.sqrt(1 - icc) * total_sd, n)
    )
    y[rng.choice(n, n // 12, replace=False)] = np.nan
    baseline[rng.choice(n, 6, replace=False)] = np.nan
    return pd.DataFrame(
        {
            "id": [f"S{i:04d}" for i in range(1, n + 1)],
            "y": y,
            "treat": treat,
            "took_up": took_up,
            "baseline": baseline,
            "stratum": stratum,
            "team": [f"T{t:02d}" for t in team],
        }
    )


def main() -> None:
    DATA.mkdir(exist_ok=True)
    for name, make, seed in (
        ("individual", individual, 101),
        ("coffee13", coffee, 202),
        ("iv", iv, 303),
        ("teams", teams, 404),
    ):
        frame = make(np.random.default_rng(seed))
        frame.to_csv(DATA / f"{name}.csv", index=False, float_format="%.17g", na_rep="NA")


if __name__ == "__main__":
    main()
