"""Regenerate the golden allocations: run only when ALGORITHM_VERSION is bumped on purpose.

    .venv/bin/python tests/trial_designs/golden/make_golden.py

Writes, per seed trial, the synthetic roster (canonical columns) and the
allocation the design's seed gives it.  test_golden_allocations holds the
current code to these files.
"""

from pathlib import Path

import numpy as np

from trial_designs.design import ALGORITHM_VERSION, load_design
from trial_designs.randomise import randomise
from trial_designs.simulate import simulate_roster

HERE = Path(__file__).resolve().parent
DESIGNS = HERE.parents[2] / "trial_designs"

for name in ["letters", "goal_setting", "coffee", "schwartz_rounds"]:
    design = load_design(DESIGNS / f"{name}.yaml")
    raw = simulate_roster(design, rng=np.random.default_rng(2024))
    roster = raw.rename(columns={v: k for k, v in design.roster.columns.items()})[
        list(design.roster.columns)
    ]
    roster.to_csv(HERE / f"{name}_roster.csv", index=False)
    allocation = randomise(roster, design)
    allocation.units.to_csv(HERE / f"{name}_allocation.csv", index=False)
    (HERE / "ALGORITHM_VERSION").write_text(ALGORITHM_VERSION + "\n")
    print(name, len(allocation.units))
