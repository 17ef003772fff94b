"""Randomisation inference, 10,000 draws of the goal-setting ANCOVA (N = 1,315, 8 strata).

    .venv/bin/python bench/bench_ri.py              (add --no-dask to skip the cluster)

Side by side, with the load average printed beside the figures:

1. the blocks as the analysis runs them (:func:`analysis.inference.run_randomisation_inference`:
   each block re-draws its allocations from its own child seed with the design's
   randomiser and refits by Frisch-Waugh-Lovell with the strata absorbed), against
   refitting the ANCOVA with linearmodels for each draw (200 refits timed, scaled
   to 10,000; drawing excluded from both, so the ratio is the refit's);
2. the same blocks, drawing included, in this process and on a 2-worker local Dask
   cluster (``map_blocks``, as ``analyse --dask-address`` runs them): the ratio, and
   whether the two results are the same bits;
3. the same for a tenth of the national trial (bench_national.py's design: 130,000 staff
   in 200 organisations, 500 draws in blocks of 250), where drawing dominates.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from linearmodels.iv import IV2SLS

from analysis.inference import prepare_ri, ri_blocks, ri_statistics, run_randomisation_inference
from trial_designs.design import load_design
from trial_designs.randomise import draw_allocations, randomise
from trial_designs.simulate_roster import simulate_roster

N_DRAWS = 10_000
N_REFITS = 200
ENTROPY = (2026, 0x52493031)


class Redraw:
    """``redraw(n, rng)``: arm codes of ``n`` re-drawn allocations, in the data's row order."""

    def __init__(self, roster: pd.DataFrame, design, order: np.ndarray) -> None:  # noqa: ANN001
        self.roster, self.design, self.order = roster, design, order

    def __call__(self, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        _ids, draws = draw_allocations(self.roster, self.design, n_draws=n_draws, rng=rng)
        return draws[:, self.order]


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-dask", action="store_true", help="Skip the 2-worker cluster.")
    args = parser.parse_args()
    design = load_design("trial_designs/goal_setting.yaml")
    rng = np.random.default_rng(11)
    raw = simulate_roster(design, rng=rng)
    roster = raw.rename(columns={v: k for k, v in design.roster.columns.items()})
    allocation = randomise(roster, design).units.set_index("unit_id")
    data = roster.assign(arm=allocation.loc[roster["id"], "arm"].to_numpy())
    treat = (data["arm"] == "course").to_numpy(float)
    baseline = rng.normal(21, 3.5, len(data))
    y = 0.6 * baseline + 8.4 + 0.3 * treat + rng.normal(0, 2.8, len(data))
    strata = data["organisation"].to_numpy()
    ids, _ = draw_allocations(roster, design, n_draws=1, rng=np.random.default_rng(0))
    redraw = Redraw(roster, design, pd.Index(ids).get_indexer(data["id"].astype(str)))
    course = design.arm_names.index("course")
    model = prepare_ri(y, treat, baseline[:, None], strata, term="course", arm_code=course)
    blocks = ri_blocks(ENTROPY, N_DRAWS, len(data))
    print(
        f"randomisation inference, {N_DRAWS:,} draws in {len(blocks)} blocks, N = {len(y):,} "
        f"(goal-setting ANCOVA, {len(set(strata))} strata absorbed); "
        f"{os.cpu_count()} cores, load average {_load()} at the start",
        flush=True,
    )

    # 1. the refit, drawing excluded from both sides
    codes = np.vstack([redraw(b.n_draws, np.random.default_rng(b.seed)) for b in blocks])
    start = time.perf_counter()
    stats = ri_statistics(model, codes)
    ours_s = time.perf_counter() - start
    exog = pd.get_dummies(pd.Series(strata), drop_first=True, dtype=float)
    exog.insert(0, "baseline", baseline)
    exog.insert(0, "const", 1.0)
    d = (codes[:N_REFITS] == course).astype(float)
    start = time.perf_counter()
    refit = [
        IV2SLS(y, exog.assign(treat=d[r]), None, None).fit(cov_type="unadjusted").params["treat"]
        for r in range(N_REFITS)
    ]
    refit_s = (time.perf_counter() - start) * N_DRAWS / N_REFITS
    assert np.allclose(stats[0, :N_REFITS] / stats[1, :N_REFITS], refit, rtol=1e-8), (
        "block and refit coefficients differ"
    )
    print(f"  FWL refit of {N_DRAWS:,} draws (strata absorbed): {ours_s:.3f} s")
    print(f"  linearmodels refit per draw:    {refit_s:.1f} s (200 refits timed, scaled)")
    print(f"  speed-up vs refit loop:         {refit_s / ours_s:.0f}x")

    # 2. the blocks end to end (drawing included): here, then on 2 workers
    start = time.perf_counter()
    (serial,) = run_randomisation_inference([model], redraw, blocks)
    serial_s = time.perf_counter() - start
    print(f"  serial blocks, drawing included: {serial_s:.2f} s (load {_load()})", flush=True)
    print(
        f"  result: estimate {serial.estimate:.3f}, RI p = {serial.p_value:.4f}, "
        f"CI [{serial.ci_low:.3f}, {serial.ci_high:.3f}]"
    )
    if not args.no_dask:
        _on_two_workers(model, redraw, blocks, serial, serial_s)
    _national_slice(args.no_dask)


def _on_two_workers(model, redraw, blocks, serial, serial_s: float) -> None:  # noqa: ANN001
    from flows.dask_runner import blocks_on, dask_client

    with dask_client(workers=2) as client:
        client.run(lambda: None)  # the workers are up before the clock starts
        start = time.perf_counter()
        (on_cluster,) = run_randomisation_inference(
            [model], redraw, blocks, map_blocks=blocks_on(client)
        )
        dask_s = time.perf_counter() - start
    print(
        f"  2 Dask workers, same blocks:     {dask_s:.2f} s, {serial_s / dask_s:.2f}x serial "
        f"(load {_load()}); identical result: {on_cluster == serial}",
        flush=True,
    )


def _national_slice(no_dask: bool, n_staff: int = 130_000, n_draws: int = 500) -> None:
    """A tenth of bench_national.py's trial: the re-draws, not the refit, are the cost."""
    from bench_national import DESIGN_YAML, N_ORGANISATIONS

    rng = np.random.default_rng(2026)
    weights = rng.pareto(1.5, N_ORGANISATIONS) + 0.2
    organisation = rng.choice(N_ORGANISATIONS, size=n_staff, p=weights / weights.sum())
    roster = pd.DataFrame(
        {
            "id": np.char.add("S", np.char.zfill(np.arange(n_staff).astype(str), 7)),
            "organisation": np.char.add("Org ", np.char.zfill(organisation.astype(str), 3)),
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "national_wellbeing.yaml"
        path.write_text(DESIGN_YAML.format(ri_draws=n_draws))
        design = load_design(path)
    allocation = randomise(roster, design).units.set_index("unit_id")
    treat = (allocation.loc[roster["id"], "arm"].to_numpy() == "offer").astype(float)
    y = 50 + 0.3 * treat + rng.normal(0, 7, n_staff)
    ids, _ = draw_allocations(roster, design, n_draws=1, rng=np.random.default_rng(0))
    redraw = Redraw(roster, design, pd.Index(ids).get_indexer(roster["id"]))
    model = prepare_ri(
        y,
        treat,
        None,
        roster["organisation"].to_numpy(),
        term="offer",
        arm_code=design.arm_names.index("offer"),
    )
    blocks = ri_blocks(ENTROPY, n_draws, n_staff)
    print(
        f"a tenth of the national trial: {n_staff:,} staff in {N_ORGANISATIONS} organisations "
        f"(absorbed), {n_draws} draws in {len(blocks)} blocks",
        flush=True,
    )
    start = time.perf_counter()
    (serial,) = run_randomisation_inference([model], redraw, blocks)
    serial_s = time.perf_counter() - start
    print(f"  serial blocks, drawing included: {serial_s:.2f} s (load {_load()})", flush=True)
    if not no_dask:
        _on_two_workers(model, redraw, blocks, serial, serial_s)


if __name__ == "__main__":
    main()
