"""Randomisation inference, 10,000 draws of the goal-setting ANCOVA (N = 1,315).

    .venv/bin/python bench/bench_ri.py

Side by side on the same draws: trialflow's vectorised Frisch-Waugh-Lovell
coefficients against refitting the ANCOVA with linearmodels for each draw
(200 refits timed, scaled to 10,000).  The draws come from the design's own
randomiser; drawing them is timed separately.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from linearmodels.iv import IV2SLS

from analysis.inference import draw_coefficients, randomisation_inference
from trial_designs.design import load_design
from trial_designs.randomise import draw_allocations, randomise
from trial_designs.simulate_roster import simulate_roster

N_DRAWS = 10_000
N_REFITS = 200


def main() -> None:
    design = load_design("trial_designs/goal_setting.yaml")
    rng = np.random.default_rng(11)
    raw = simulate_roster(design, rng=rng)
    roster = raw.rename(columns={v: k for k, v in design.roster.columns.items()})
    allocation = randomise(roster, design).units.set_index("unit_id")
    data = roster.assign(arm=allocation.loc[roster["id"], "arm"].to_numpy())
    treat = (data["arm"] == "course").to_numpy(float)
    baseline = rng.normal(21, 3.5, len(data))
    y = 0.6 * baseline + 8.4 + 0.3 * treat + rng.normal(0, 2.8, len(data))
    strata = pd.get_dummies(data["organisation"], drop_first=True).to_numpy(float)
    covariates = np.column_stack([np.ones(len(data)), baseline, strata])

    start = time.perf_counter()
    ids, draws = draw_allocations(roster, design, n_draws=N_DRAWS, rng=np.random.default_rng(3))
    draw_s = time.perf_counter() - start
    order = pd.Index(ids).get_indexer(data["id"].astype(str))
    d = (draws[:, order] == design.arm_names.index("course")).astype(float)

    start = time.perf_counter()
    result = randomisation_inference(y, treat, covariates, d, term="course")
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    randomisation_inference(y, treat, covariates, d, term="course", confidence_interval=False)
    ours_p_only = time.perf_counter() - start

    exog = pd.DataFrame(
        covariates[:, 1:], columns=[f"x{i}" for i in range(covariates.shape[1] - 1)]
    )
    exog.insert(0, "const", 1.0)
    start = time.perf_counter()
    refit = []
    for r in range(N_REFITS):
        frame = exog.assign(treat=d[r])
        refit.append(IV2SLS(y, frame, None, None).fit(cov_type="unadjusted").params["treat"])
    refit_s = (time.perf_counter() - start) * N_DRAWS / N_REFITS
    ours_coef = np.divide(*draw_coefficients(y, covariates, d[:N_REFITS]))
    assert np.allclose(ours_coef, refit, rtol=1e-8), "vectorised and refit coefficients differ"

    print(f"randomisation inference, {N_DRAWS:,} draws, N = {len(y):,} (goal-setting ANCOVA)")
    print(f"  drawing allocations with the design's randomiser: {draw_s:.3f} s")
    print(f"  trialflow p-value only:        {ours_p_only:.3f} s")
    print(f"  trialflow p-value + RI CI:     {ours_s:.3f} s")
    print(f"  linearmodels refit per draw:   {refit_s:.1f} s (200 refits timed, scaled)")
    print(f"  speed-up (p-value) vs refit:   {refit_s / ours_p_only:.0f}x")
    print(
        f"  result: estimate {result.estimate:.3f}, RI p = {result.p_value:.4f}, CI [{result.ci_low:.3f}, {result.ci_high:.3f}]"
    )


if __name__ == "__main__":
    main()
