"""Multiple imputation at national scale: 1M rows in 200 strata, 30% of outcomes missing, m = 20.

    .venv/bin/python bench/bench_mi.py                      (a few minutes)
    .venv/bin/python bench/bench_mi.py --peer-rows 50000    (the peer at 50,000 rows: 7 minutes)

Side by side, each case in a fresh process: its seconds, and its peak resident memory
while imputing above what the process held once its data were built (Linux's VmHWM,
reset through ``/proc/self/clear_refs`` after the data are built):

1. ``normal_absorbed`` (:func:`analysis.missing.multiple_imputation`: Bayesian normal
   regression with the 200 strata absorbed, the imputations made one at a time) at the
   full 1M rows, and at the peer's size;
2. the peer: the imputation the analysis ran before, as it ran it: IterativeImputer
   (sample_posterior, 5 rounds) on a bootstrap resample per imputation, over the outcome,
   arm, baseline and 199 stratum indicator columns, keeping all 20 completed frames.  At
   1M rows one such frame is 1.6 GB and the 20 of them 32 GB (the national benchmark's
   OOM), so the peer runs on the first ``--peer-rows`` rows (10,000 unless told; 50,000
   took 7 minutes) and the ratio is taken at that size.

Each completed dataset is consumed by taking the imputed outcome's mean in each arm (the
refit of the analysis model is the estimators' business, timed by bench_national.py).
The figures are seconds and megabytes on this machine, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

ROWS = 1_000_000
STRATA = 200
MISSING = 0.30
M = 20
ROUNDS = 5  # analysis.sections.missing_data.MI_ROUNDS


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field} line")


def _reset_peak() -> None:
    """Start the peak (VmHWM) again from the current RSS (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


def trial(rows: int) -> pd.DataFrame:
    """A national trial's analysis frame: organisations of very different sizes, MAR loss."""
    rng = np.random.default_rng(2026)
    weights = rng.pareto(1.5, STRATA) + 0.2
    organisation = rng.choice(STRATA, size=ROWS, p=weights / weights.sum())[:rows]
    arm = rng.integers(0, 2, ROWS).astype(float)[:rows]
    baseline = rng.normal(24, 4, ROWS)[:rows]
    effect = rng.normal(0, 1.5, STRATA)[organisation]
    endline = 8 + 0.6 * baseline + 0.5 * arm + effect + rng.normal(0, 3, ROWS)[:rows]
    # response depends on baseline and arm (missing at random), about 30% lost
    logit = np.log(MISSING / (1 - MISSING)) - 0.15 * (baseline - 24) + 0.2 * (arm - 0.5)
    endline[rng.random(ROWS)[:rows] < 1 / (1 + np.exp(-logit))] = np.nan
    return pd.DataFrame(
        {
            "staff_id": np.arange(rows),
            "organisation": np.char.add("Org ", organisation.astype(str)),
            "arm[offer]": arm,
            "swemwbs_baseline": baseline,
            "swemwbs_endline": endline,
        }
    )


def run_case(case: str, rows: int) -> dict:
    """One case in this (fresh) process: seconds, peak RSS, and a check figure."""
    from analysis.missing import multiple_imputation

    data = trial(rows)
    columns = ["swemwbs_endline", "swemwbs_baseline", "arm[offer]"]
    before = _status_mb("VmRSS")
    _reset_peak()
    rng = np.random.default_rng([2026, 0x4D49])
    began = time.perf_counter()
    if case == "normal_absorbed":
        completed = multiple_imputation(
            data,
            columns=columns,
            strata="organisation",
            m=M,
            rng=rng,
            max_iter=ROUNDS,
            method="normal_absorbed",
        )
        frames = None
    else:
        # as analysis.sections.missing_data ran it before: indicator columns beside the
        # model's, every completed copy of that frame kept until all 20 were fitted
        indicators = pd.get_dummies(
            data["organisation"].astype(str), prefix="_stratum", drop_first=True, dtype=float
        )
        imputable = pd.concat([data[columns], indicators], axis=1)
        frames = list(
            multiple_imputation(
                imputable,
                columns=list(imputable.columns),
                m=M,
                rng=rng,
                max_iter=ROUNDS,
                method="chained_bootstrap",
            )
        )
        completed = iter(frames)
    contrasts = []
    for frame in completed:
        means = frame.groupby("arm[offer]")["swemwbs_endline"].mean()
        contrasts.append(float(means.loc[1.0] - means.loc[0.0]))
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "peak_mb": _status_mb("VmHWM"),
        "data_mb": before,
        "contrast": float(np.mean(contrasts)),
        "between_sd": float(np.std(contrasts, ddof=1)),
    }


def _child(case: str, rows: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--case", case, "--rows", str(rows)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        return {"failed": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _line(label: str, rows: int, found: dict) -> str:
    if "failed" in found:
        return f"  {label:<34} {rows:>9,} rows   failed: {found['failed']}"
    return (
        f"  {label:<34} {rows:>9,} rows  {found['seconds']:8.2f} s   peak RSS "
        f"{found['peak_mb']:7.0f} MiB (data built: {found['data_mb']:5.0f} MiB)   "
        f"arm contrast {found['contrast']:+.3f} (between-imputation SD {found['between_sd']:.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["normal_absorbed", "chained_bootstrap"])
    parser.add_argument("--rows", type=int, default=ROWS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--peer-rows",
        type=int,
        default=10_000,
        help="Rows of the IterativeImputer peer (its memory grows as rows x 200 x 20).",
    )
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.rows)))
        return
    print(
        f"Multiple imputation, {STRATA} strata, {MISSING:.0%} of outcomes missing, m = {M}; "
        f"load average {_load()} at the start."
    )
    full = _child("normal_absorbed", ROWS)
    print(_line("normal_absorbed (strata absorbed)", ROWS, full), flush=True)
    small = _child("normal_absorbed", args.peer_rows)
    print(_line("normal_absorbed (strata absorbed)", args.peer_rows, small), flush=True)
    peer = _child("chained_bootstrap", args.peer_rows)
    print(_line("peer: IterativeImputer, indicators", args.peer_rows, peer), flush=True)
    if not any("failed" in f for f in (small, peer, full)):

        def extra(found: dict) -> float:
            return found["peak_mb"] - found["data_mb"]

        print(
            f"At {args.peer_rows:,} rows: {peer['seconds'] / small['seconds']:.0f}x faster, "
            f"{extra(peer) / max(extra(small), 1):.0f}x less memory above the data "
            f"({extra(small):.0f} MiB against {extra(peer):.0f} MiB). "
            f"At {ROWS:,} rows the absorbed imputations take {full['seconds']:.1f} s and "
            f"{extra(full):.0f} MiB above the data; the peer's 20 kept frames alone would be "
            f"{M * ROWS * (STRATA + 2) * 8 / 1e9:.0f} GB."
        )
    print(f"Load average at the end: {_load()}.")


if __name__ == "__main__":
    main()
