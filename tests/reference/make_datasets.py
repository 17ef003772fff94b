"""Write the datasets the R reference script fits (seeded; rerun only to change them).

.venv/bin/python tests/reference/make_datasets.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "data"


def individual(rng: np.random.Generator) -> pd.DataFrame:
    """A letters-like trial: 400 staff, 3 LAs as strata, baseline, some weights."""
    n = 400
    stratum = rng.choice(["Bracknell Forest", "Dudley", "Shropshire"], size=n, p=[0.35, 0.3, 0.35])
    treat = np.zeros(n, dtype=int)
    for s in np.unique(stratum):
        idx = np.flatnonzero(stratum == s)
        treat[rng.permutation(idx)[: len(idx) // 2]] = 1
    baseline = rng.normal(6, 2, n)
    y = (
        2
        + 0.4 * treat
        + 0.6 * baseline
        + (stratum == "Dudley") * 0.5
        + rng.normal(0, 1.5 + 0.5 * treat, n)
    )
    weight = rng.uniform(0.5, 2.0, n)
    three_arm = np.where(treat == 1, rng.choice(["letter", "letter_plus"], size=n), "control")
    return pd.DataFrame(
        {
            "y": y,
            "treat": treat,
            "baseline": baseline,
            "stratum": stratum,
            "w": weight,
            "arm3": three_arm,
        }
    )


def coffee(rng: np.random.Generator) -> pd.DataFrame:
    """13 buildings of 20-40 staff, building-level treatment, ICC about 0.05."""
    sizes = rng.integers(20, 41, 13)
    building = np.repeat(np.arange(1, 14), sizes)
    treated_buildings = rng.permutation(np.arange(1, 14))[:6]
    treat = np.isin(building, treated_buildings).astype(int)
    cluster_effect = rng.normal(0, np.sqrt(0.05) * 3.5, 13)[building - 1]
    baseline = rng.normal(21, 3.5, len(building))
    y = (
        8
        + 0.5 * treat
        + 0.6 * baseline
        + cluster_effect
        + rng.normal(0, 3.4 * np.sqrt(0.95), len(building))
    )
    return pd.DataFrame({"y": y, "treat": treat, "baseline": baseline, "building": building})


def iv(rng: np.random.Generator) -> pd.DataFrame:
    """Goal-setting-like: assignment, ~20% uptake among the assigned, none in control."""
    n = 1315
    stratum = rng.choice([f"LA{i}" for i in range(1, 9)], size=n)
    assigned = (rng.random(n) < 0.5).astype(int)
    motivated = rng.random(n) < 0.2
    uptake = (assigned * motivated).astype(int)
    baseline = rng.normal(21, 3.5, n)
    y = 8 + 1.2 * uptake + 0.6 * baseline + 0.8 * motivated + rng.normal(0, 2.8, n)
    return pd.DataFrame(
        {"y": y, "assigned": assigned, "uptake": uptake, "baseline": baseline, "stratum": stratum}
    )


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    individual(np.random.default_rng(101)).to_csv(
        OUT / "individual.csv", index=False, float_format="%.17g"
    )
    coffee(np.random.default_rng(202)).to_csv(
        OUT / "coffee13.csv", index=False, float_format="%.17g"
    )
    iv(np.random.default_rng(303)).to_csv(OUT / "iv.csv", index=False, float_format="%.17g")
