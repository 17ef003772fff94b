"""Randomise 1,300,000 staff in ~6,000 strata: trialflow against stochatreat, side by side.

    .venv/bin/python bench/bench_randomise.py

Both run on the same DataFrame in this process.  Printed: each one's best-of-3
wall time, the ratio, how many strata each leaves outside floor/ceil of n·p,
and trialflow's peak traced memory for its run.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd
from stochatreat import stochatreat

from trial_designs.design import TrialDesign
from trial_designs.randomise import randomise

N_STAFF = 1_300_000
N_ORGS = 200  # NHS trusts
N_ROLES = 30  # staff groups: 200 × 30 = 6,000 strata
RATIOS = [(1, 1), (1, 2)]


def make_staff(rng: np.random.Generator) -> pd.DataFrame:
    org = rng.integers(0, N_ORGS, N_STAFF)
    role = rng.integers(0, N_ROLES, N_STAFF)
    return pd.DataFrame(
        {
            "id": pd.Series(np.arange(N_STAFF)).map("E{:07d}".format),
            "organisation": pd.Series(org).map("Trust {:03d}".format),
            "role": pd.Series(role).map("Group {:02d}".format),
        }
    )


def design(ratios: tuple[int, int]) -> TrialDesign:
    return TrialDesign.model_validate(
        {
            "id": "nhs_workforce",
            "title": "NHS-scale benchmark",
            "question": "How fast is allocation?",
            "unit": "individual",
            "strata": ["organisation", "role"],
            "arms": [
                {"name": "control", "ratio": ratios[0], "control": True},
                {"name": "offer", "ratio": ratios[1]},
            ],
            "randomisation": {"method": "complete", "seed": 7},
            "roster": {"columns": {"id": "id", "organisation": "organisation", "role": "role"}},
            "follow_up": {
                "recruitment_start": "2026-01-01",
                "randomisation": "2026-02-01",
                "baseline": "2026-01-15",
                "endline": "2026-08-01",
                "window_start": "2026-02-01",
                "window_end": "2026-09-01",
            },
        }
    )


def misses(strata: pd.Series, treated: pd.Series, p: float) -> int:
    """Strata whose treated count is outside floor/ceil of n·p."""
    g = (
        pd.DataFrame({"s": strata.to_numpy(), "t": treated.to_numpy()})
        .groupby("s")["t"]
        .agg(["size", "sum"])
    )
    return int(((g["sum"] < np.floor(g["size"] * p)) | (g["sum"] > np.ceil(g["size"] * p))).sum())


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def compare(staff: pd.DataFrame, ratios: tuple[int, int]) -> None:
    trial = design(ratios)
    probs = [r / sum(ratios) for r in ratios]
    n_strata = staff.groupby(["organisation", "role"]).ngroups
    ours_s, allocation = best_of(lambda: randomise(staff, trial))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer_s, peer = best_of(
            lambda: stochatreat(
                staff, ["organisation", "role"], treats=2, probs=probs, idx_col="id", random_state=7
            )
        )
    tracemalloc.start()
    randomise(staff, trial)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    units = allocation.units
    ours_miss = misses(units["stratum"].astype(str), units["arm"] == "offer", probs[1])
    merged = staff[["id", "organisation", "role"]].merge(peer, on="id")
    peer_miss = misses(
        merged["organisation"] + "|" + merged["role"], merged["treat"] == 1, probs[1]
    )
    print(f"randomise {len(staff):,} staff in {n_strata:,} strata, ratio {ratios[0]}:{ratios[1]}")
    print(f"  trialflow   {ours_s:6.3f} s   strata outside floor/ceil: {ours_miss} of {n_strata}")
    print(f"  stochatreat {peer_s:6.3f} s   strata outside floor/ceil: {peer_miss} of {n_strata}")
    print(f"  speed-up vs stochatreat: {peer_s / ours_s:.2f}x")
    print(f"  trialflow peak traced memory: {peak / 2**20:.0f} MiB")


def _peak_rss_child(queue) -> None:  # noqa: ANN001
    staff = make_staff(np.random.default_rng(1))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    randomise(staff, design(RATIOS[0]))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((before / 1024, after / 1024))


def peak_rss() -> None:
    """Peak resident memory of a fresh process that builds the roster and randomises it."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_peak_rss_child, args=(queue,))
    child.start()
    before, after = queue.get()
    child.join()
    print(
        f"peak RSS of a fresh process: {before:.0f} MiB after building the roster, {after:.0f} MiB after randomising it"
    )


def main() -> None:
    peak_rss()
    staff = make_staff(np.random.default_rng(1))
    for ratios in RATIOS:
        compare(staff, ratios)


if __name__ == "__main__":
    main()
