"""Write the seeded datasets for the issue-15 R references (attrition bounds, repeated measures).

Run from the repository root: ``.venv/bin/python tests/reference/make_issue15_datasets.py``.
The CSVs are committed; the tests and the R scripts read them, never this script.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data"


def _arm(rng, label, n, n_observed, draw):
    """``n`` outcomes of one arm with exactly ``n_observed`` observed, lower values lost more."""
    y = draw(rng, n)
    # Response depends on the outcome (not at random): low scorers answer less often.
    score = rng.normal(size=n) + 0.8 * (y - y.mean()) / (y.std() + 1e-12)
    observed = np.zeros(n, dtype=bool)
    observed[np.argsort(-score)[:n_observed]] = True
    return pd.DataFrame({"arm": label, "y": np.where(observed, y, np.nan)})


def _swemwbs(shift):
    # Whole-number scale scores 7..35: many ties at any trimming quantile.
    return lambda rng, n: np.clip(np.round(rng.normal(23 + shift, 4, n)), 7, 35)


def _continuous(shift):
    return lambda rng, n: np.round(rng.normal(50 + shift, 10, n), 4)


def _few_values(shift):
    return lambda rng, n: rng.choice([0.0, 1.0, 2.0], n, p=[0.3 - shift, 0.4, 0.3 + shift])


def _binary(shift):
    return lambda rng, n: (rng.random(n) < 0.4 + shift).astype(float)


def attrition(seed: int = 20261130) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    specs = {
        # dataset: (treatment n, observed, control n, observed, outcome generator, effect)
        "treatment_trimmed": (180, 135, 170, 102, _swemwbs, 1.5),
        "control_trimmed": (150, 82, 160, 112, _continuous, 3.0),
        "equal_retention": (100, 60, 50, 30, _continuous, 2.0),
        "heavy_ties": (120, 101, 131, 78, _few_values, 0.1),
        "binary": (140, 91, 150, 120, _binary, 0.1),
    }
    frames = []
    for name, (n1, m1, n0, m0, gen, effect) in specs.items():
        arms = pd.concat(
            [_arm(rng, "active", n1, m1, gen(effect)), _arm(rng, "control", n0, m0, gen(0.0))]
        )
        frames.append(arms.assign(dataset=name))
    return pd.concat(frames, ignore_index=True)[["dataset", "arm", "y"]]


def repeated_measures(seed: int = 151) -> pd.DataFrame:
    """Long survey waves: one row per (participant, follow-up wave) answered.

    ``individual``: 240 staff randomised one by one to three arms, three follow-up waves.
    ``cluster``: 14 sites randomised to two arms, 10-25 staff each, two follow-up waves.
    Wave effects, arm-by-wave effects, participant (and site) random intercepts, a baseline
    score that predicts follow-up, and about 15% of wave responses missing.
    """
    rng = np.random.default_rng(seed)
    frames = []
    designs = {
        "individual": (None, ["control", "letter", "coach"], ["w1", "w2", "w3"]),
        "cluster": (14, ["control", "active"], ["w1", "w2"]),
    }
    for name, (n_sites, arms, waves) in designs.items():
        if n_sites is None:
            n = 240
            site = np.full(n, "none")
            arm = rng.permutation(np.resize(arms, n))
            site_effect = np.zeros(n)
        else:
            sizes = rng.integers(10, 26, n_sites)
            site_arm = rng.permutation(np.resize(arms, n_sites))
            site = np.repeat([f"s{i:02d}" for i in range(n_sites)], sizes)
            arm = np.repeat(site_arm, sizes)
            site_effect = np.repeat(rng.normal(0, 1.2, n_sites), sizes)
            n = len(site)
        baseline = np.round(rng.normal(23, 4, n), 2)
        person = rng.normal(0, 2.5, n)
        effect = {"control": 0.0, "letter": 0.8, "coach": 1.5, "active": 1.2}
        for w, wave in enumerate(waves):
            y = (
                8
                + 0.6 * baseline
                + 0.5 * w
                + np.array([effect[a] for a in arm]) * (1 + 0.3 * w)
                + site_effect
                + person
                + rng.normal(0, 3, n)
            )
            answered = rng.random(n) > 0.15
            frames.append(
                pd.DataFrame(
                    {
                        "dataset": name,
                        "participant": [f"{name[0]}{i:03d}" for i in range(n)],
                        "site": site,
                        "arm": arm,
                        "wave": wave,
                        "baseline": baseline,
                        "y": np.round(y, 3),
                    }
                )[answered]
            )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    DATA.mkdir(exist_ok=True)
    attrition().to_csv(DATA / "attrition.csv", index=False, float_format="%.10g")
    repeated_measures().to_csv(DATA / "repeated_measures.csv", index=False, float_format="%.10g")


if __name__ == "__main__":
    main()
