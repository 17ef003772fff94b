"""The balance check and the IPW response model at national scale: 1.3M staff in 200 organisations.

    .venv/bin/python bench/bench_balance.py                       (a few minutes)
    .venv/bin/python bench/bench_balance.py --peer-rows 50000     (a longer IPW peer run)

Side by side, each case in a fresh process, its peak RSS (``VmHWM``, reset once its
data are built) printed above the RSS the process had then:

1. the global balance test (:func:`analysis.balance.balance_auc`, 100 permutations as
   :data:`analysis.sections.balance.BALANCE_PERMUTATIONS`) at 1.3M rows: a subsample of
   20,000 drawn by arm, fitted on distinct (organisation, arm) patterns.  Its peer is the
   path every trial took before (``max_n=None``: 5-fold cross-validated fits on the rows
   of the dense standardised matrix).  One such 5-fold pass on 1.3M x 199 is minutes,
   and 101 of them hours, so the peer runs at 20,000 rows (the subsample's size) with
   ``--peer-permutations`` permutations (5 unless told), and the new path is timed with
   the same permutations on 20,001 rows, which it subsamples to 20,000: the ratio is at
   the same size (the AUCs differ: the subsample is drawn from the test's stream before
   the fold seed, so the two runs fold and permute differently); the full-size figures
   are the new path's alone.
2. the baseline table (:func:`analysis.balance.baseline_table`) at 1.3M rows, against
   its previous implementation (one comparison of the organisation column per level,
   one arm mask per level and arm), copied here as the peer.
3. the IPW response model (:func:`analysis.missing.ipw.ipw_weights`, stabilised, as the
   missing-data section calls it) at 1.3M rows, fitted on the (organisation, arm)
   patterns; its peer is the row-level fit (``fit_on="rows"``), run at
   ``--peer-rows`` rows (200,000 unless told) with the new path beside it at that size.
   The peer uses today's covariate_matrix, which holds two copies of the matrix at
   its peak where the old one held four, so its memory understates the old path's.

4. the same balance test and IPW model with a continuous baseline beside the
   organisations, so the covariates no longer take a few distinct values: the
   subsample's fits and the large IPW fit are made on sparse rows (indicators scaled,
   not centred), against the dense row fits, at the same sizes as above.

The figures are seconds and megabytes on this machine, with the load average.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

STAFF = 1_300_000
ORGANISATIONS = 200
RESPONSES = 1_000_000
PERMUTATIONS = 100  # analysis.sections.balance.BALANCE_PERMUTATIONS


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _reset_peak() -> None:
    # Linux: writing 5 to clear_refs resets the high-water mark VmHWM to the current RSS,
    # so a case's peak is its own and not the data generation's
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def trial(rows: int) -> pd.DataFrame:
    """``rows`` staff as the national benchmark's: organisations of very different sizes.

    Response varies by organisation and arm, about RESPONSES of every STAFF in all.
    """
    rng = np.random.default_rng(2026)
    weights = rng.pareto(1.5, ORGANISATIONS) + 0.2
    effect = rng.normal(0, 0.5, ORGANISATIONS)
    organisation = rng.choice(ORGANISATIONS, size=rows, p=weights / weights.sum())
    arm = np.where(rng.random(rows) < 0.5, "control", "offer")
    logit = 1.2 + effect[organisation] - 0.1 * (arm == "offer")
    return pd.DataFrame(
        {
            "arm": arm,
            "organisation": np.char.add("Org ", np.char.zfill(organisation.astype(str), 3)),
            "responded": rng.random(rows) < 1 / (1 + np.exp(-logit)),
            # a continuous baseline (a survey score, say): no longer a few patterns
            "baseline": np.random.default_rng(7).normal(24, 4, rows),
        }
    )


def _previous_baseline_table(data: pd.DataFrame) -> list[tuple]:
    """The categorical part of baseline_table as it was: a comparison per level and arm."""
    values, labels = data["organisation"], data["arm"]
    rows = []
    for level in sorted(values.dropna().unique(), key=str):
        indicator = (values == level).astype(float).where(values.notna())
        for arm in ("control", "offer"):
            observed = indicator[labels == arm].dropna()
            rows.append((level, arm, len(observed), float(observed.mean())))
    return rows


def run_case(case: str, rows: int, permutations: int) -> dict:
    """One case in this (fresh) process: seconds, peak RSS, and a check figure."""
    from analysis.balance import balance_auc, baseline_table
    from analysis.missing.ipw import ipw_weights

    data = trial(rows)
    before = _current_mb()
    _reset_peak()
    began = time.perf_counter()
    covariates = ["organisation", "baseline"] if case.endswith("_baseline") else ["organisation"]
    case = case.removesuffix("_baseline")
    if case in ("auc", "auc_rows"):
        found = balance_auc(
            data,
            arm="arm",
            covariates=covariates,
            rng=np.random.default_rng([2026, 0x42414C31]),
            n_permutations=permutations,
            max_n=None if case == "auc_rows" else 20_000,
        )
        check = f"AUC {found.auc:.4f}, p {found.p_value:.2f}, on {found.n:,} of {len(data):,}"
    elif case == "table":
        table = baseline_table(data, arm="arm", covariates=["organisation"])
        check = f"{len(table)} rows, largest |SMD| {table['smd'].abs().max():.4f}"
    elif case == "table_previous":
        table = _previous_baseline_table(data)
        check = f"{len(table)} rows"
    else:
        found = ipw_weights(
            data,
            responded="responded",
            covariates=covariates,
            arm="arm",
            stabilised=True,
            fit_on="rows" if case == "ipw_rows" else "auto",
        )
        check = (
            f"fitted on {found.fitted_on}, AUC {found.auc:.6f}, "
            f"ESS {found.effective_sample_size:.1f}, weights sum {found.weights.sum():.1f}"
        )
    return {
        "seconds": time.perf_counter() - began,
        "peak_mb": _peak_mb(),
        "data_mb": before,
        "check": check,
    }


def _child(case: str, rows: int, permutations: int = PERMUTATIONS) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--case", case, "--rows", str(rows)]
        + ["--permutations", str(permutations)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        return {"failed": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _line(label: str, rows: int, found: dict) -> str:
    if "failed" in found:
        return f"  {label:<44} {rows:>9,} rows   failed: {found['failed']}"
    return (
        f"  {label:<44} {rows:>9,} rows  {found['seconds']:8.2f} s   peak RSS "
        f"{found['peak_mb']:6.0f} MB ({found['peak_mb'] - found['data_mb']:5.0f} above the data)"
        f"   {found['check']}"
    )


def _ratios(new: dict, peer: dict, what: str) -> str:
    if "failed" in new or "failed" in peer:
        return f"  {what}: no ratio (a case failed)"
    extra = [f["peak_mb"] - f["data_mb"] for f in (new, peer)]
    # a ratio of a few MB (allocator noise, freed pages) would say nothing
    memory = (
        f"{extra[1] / extra[0]:.1f}x less memory above the data"
        if min(extra) >= 20
        else f"memory above the data {extra[0]:.0f} MB against the peer's {extra[1]:.0f} MB"
    )
    return f"  {what}: {peer['seconds'] / new['seconds']:.1f}x faster, {memory}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case",
        choices=[
            f"{case}{suffix}"
            for case in ("auc", "auc_rows", "table", "table_previous", "ipw", "ipw_rows")
            for suffix in ("", "_baseline")
        ],
    )
    parser.add_argument("--rows", type=int, default=STAFF, help=argparse.SUPPRESS)
    parser.add_argument("--permutations", type=int, default=PERMUTATIONS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--peer-rows", type=int, default=200_000, help="Rows of the row-level IPW peer."
    )
    parser.add_argument(
        "--peer-permutations",
        type=int,
        default=5,
        help="Permutations of the row-level balance-test peer (each a 5-fold pass).",
    )
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.rows, args.permutations)))
        return
    print(
        f"{STAFF:,} staff in {ORGANISATIONS} organisations, two arms; "
        f"load average {_load()} at the start."
    )
    print("Global balance test (cross-validated AUC, permutation p):")
    full = _child("auc", STAFF)
    print(_line(f"subsample + patterns, {PERMUTATIONS} permutations", STAFF, full), flush=True)
    small = _child("auc", 20_001, args.peer_permutations)
    label = f"subsample + patterns, {args.peer_permutations} permutations"
    print(_line(label, 20_001, small), flush=True)
    peer = _child("auc_rows", 20_000, args.peer_permutations)
    print(_line(f"peer: rows, {args.peer_permutations} permutations", 20_000, peer), flush=True)
    print(_ratios(small, peer, "at 20,000 rows"))
    if "failed" not in peer:
        passes = args.peer_permutations + 1
        print(
            f"  the peer's {passes} passes took {peer['seconds'] / passes:.1f} s each at 20,000 "
            f"rows; {PERMUTATIONS + 1} passes on {STAFF:,} rows would be about "
            f"{(PERMUTATIONS + 1) * peer['seconds'] / passes * STAFF / 20_000 / 3600:.0f} h "
            f"(linear in rows) and a {STAFF * (ORGANISATIONS - 1) * 8 / 1e9:.1f} GB matrix"
        )
    print("Baseline table (200 organisation rows by arm):")
    table = _child("table", STAFF)
    print(_line("one count over (level, arm)", STAFF, table), flush=True)
    previous = _child("table_previous", STAFF)
    print(_line("peer: a comparison per level and arm", STAFF, previous), flush=True)
    print(_ratios(table, previous, f"at {STAFF:,} rows"))
    print("IPW response model (stabilised weights):")
    ipw = _child("ipw", STAFF)
    print(_line("auto (patterns)", STAFF, ipw), flush=True)
    ipw_small = _child("ipw", args.peer_rows)
    print(_line("auto (patterns)", args.peer_rows, ipw_small), flush=True)
    ipw_peer = _child("ipw_rows", args.peer_rows)
    print(_line("peer: rows", args.peer_rows, ipw_peer), flush=True)
    print(_ratios(ipw_small, ipw_peer, f"at {args.peer_rows:,} rows"))
    if not math.isnan(float(ipw_small.get("seconds", math.nan))):
        print(
            f"  the row-level peer at {STAFF:,} rows would hold a "
            f"{STAFF * ORGANISATIONS * 8 / 1e9:.1f} GB design matrix (two at its peak)"
        )
    print("With a continuous baseline beside the organisations (no longer a few patterns):")
    auc = _child("auc_baseline", STAFF)
    print(_line(f"balance: subsample, sparse, {PERMUTATIONS} perms", STAFF, auc), flush=True)
    small = _child("auc_baseline", 20_001, args.peer_permutations)
    label = f"balance: subsample, sparse, {args.peer_permutations} perms"
    print(_line(label, 20_001, small), flush=True)
    peer = _child("auc_rows_baseline", 20_000, args.peer_permutations)
    label = f"peer: balance, dense rows, {args.peer_permutations} perms"
    print(_line(label, 20_000, peer), flush=True)
    print(_ratios(small, peer, "balance at 20,000 rows"))
    ipw = _child("ipw_baseline", STAFF)
    print(_line("IPW: auto (sparse rows)", STAFF, ipw), flush=True)
    ipw_small = _child("ipw_baseline", args.peer_rows)
    print(_line("IPW: auto (sparse rows)", args.peer_rows, ipw_small), flush=True)
    ipw_peer = _child("ipw_rows_baseline", args.peer_rows)
    print(_line("peer: IPW, dense rows", args.peer_rows, ipw_peer), flush=True)
    print(_ratios(ipw_small, ipw_peer, f"IPW at {args.peer_rows:,} rows"))
    print(f"Load average at the end: {_load()}.")


if __name__ == "__main__":
    main()
