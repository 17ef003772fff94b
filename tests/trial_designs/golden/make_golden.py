"""Regenerate the golden allocations: run only when ALGORITHM_VERSION is bumped on purpose.

    .venv/bin/python tests/trial_designs/golden/make_golden.py

Writes, per seed trial, the synthetic roster (canonical columns) and the
allocation the design's seed gives it.  test_golden_allocations holds the
current code to these files.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from trial_designs.design import ALGORITHM_VERSION, TrialDesign, load_design
from trial_designs.randomise import randomise
from trial_designs.simulate_roster import simulate_roster

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

# letters declared with minimisation (issue 16; the packaged letters.yaml stays blocked), on the
# letters roster above: test_minimise.py's _letters() declares the same
minimised = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
minimised["randomisation"] = {
    "method": "minimisation",
    "seed": 20190401,
    "minimisation": {"factors": ["organisation", "role"]},
}
allocation = randomise(
    pd.read_csv(HERE / "letters_roster.csv", dtype=str), TrialDesign.model_validate(minimised)
)
allocation.units.to_csv(HERE / "letters_minimisation_allocation.csv", index=False)
print("letters (minimisation)", len(allocation.units))
