"""HC2 ITT on 1M rows in 200 strata: strata absorbed, strata as dummies, linearmodels' AbsorbingLS.

    .venv/bin/python bench/bench_itt_strata.py                 (about 2 minutes, ~8 GB at peak)
    .venv/bin/python bench/bench_itt_strata.py --rows 200000   (quicker)

The national benchmark (bench_national.py: 200 organisations as strata, 1M responses) was
OOM-killed in its analysis; a dense 1M x 200 stratum-dummy design was one cause.  This
fits the primary ITT model ``y ~ treat + baseline + stratum`` three ways, each in a fresh
process on the same seeded data:

* ``absorbed``: ``fit_itt(..., absorb_strata=True)``, HC2 (the default above
  ``ABSORB_STRATA_ABOVE`` strata): demeaned within strata, no dummy columns;
* ``dummies``: ``fit_itt(..., absorb_strata=False)``, HC2: the path before issue 18's change;
* ``AbsorbingLS``: linearmodels' absorbing regression, the peer, ``cov_type="robust"`` with
  ``debiased=True`` (HC1: linearmodels has no HC2), from the same DataFrame.

Each prints wall time and peak memory: the process's RSS high-water mark (``ru_maxrss``)
less its RSS once the data are built, so it is the fit's own.  Ratios are against
``absorbed``.  The estimates of the three agree (printed), and the absorbed and dummy
fits' SEs agree; AbsorbingLS's SE is HC1, so it differs slightly.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("absorbed", "dummies", "AbsorbingLS")


def _data(rows: int, strata: int) -> pd.DataFrame:
    rng = np.random.default_rng(18)
    # organisations of very different sizes, as NHS trusts are (as bench_national.py)
    sizes = rng.pareto(1.5, strata) + 0.2
    stratum = rng.choice(strata, size=rows, p=sizes / sizes.sum())
    effect = rng.normal(0, 2.0, strata)[stratum]
    treat = rng.integers(0, 2, rows)
    baseline = rng.normal(24.0, 4.0, rows)
    y = 6.0 + 0.3 * treat + 0.7 * baseline + effect + rng.normal(0, 4.0, rows)
    return pd.DataFrame(
        {
            "y": y,
            "treat": treat,
            "baseline": baseline,
            "organisation": np.char.add("Org ", stratum.astype(str)),
        }
    )


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _fit(method: str, data: pd.DataFrame) -> tuple[float, float]:
    if method == "AbsorbingLS":
        from linearmodels.iv.absorbing import AbsorbingLS

        model = AbsorbingLS(
            data["y"],
            data[["treat", "baseline"]].astype(float),
            absorb=pd.DataFrame({"organisation": data["organisation"].astype("category")}),
        )
        result = model.fit(cov_type="robust", debiased=True)
        return float(result.params["treat"]), float(result.std_errors["treat"])
    from analysis.estimators import fit_itt

    result = fit_itt(
        data,
        outcome="y",
        treatment_columns=["treat"],
        covariates=["baseline"],
        strata="organisation",
        se_type="HC2",
        absorb_strata=method == "absorbed",
    )
    effect = result.fit["treat"]
    return effect.estimate, effect.std_error


def _one(method: str, rows: int, strata: int) -> None:
    # imports first, untimed (scipy.stats alone takes seconds on a loaded machine)
    import linearmodels.iv.absorbing  # noqa: F401
    import scipy.linalg  # noqa: F401
    import scipy.stats  # noqa: F401

    import analysis.estimators  # noqa: F401

    data = _data(rows, strata)
    before = _rss_mb()
    start = time.perf_counter()
    estimate, std_error = _fit(method, data)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak - before,
                "data_mb": before,
                "estimate": estimate,
                "std_error": std_error,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--strata", type=int, default=200)
    parser.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one, args.rows, args.strata)
        return
    print(
        f"HC2 ITT, y ~ treat + baseline + stratum: {args.rows:,} rows, {args.strata} strata; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    results = {}
    for method in METHODS:
        run = subprocess.run(
            [sys.executable, __file__, "--one", method, "--rows", str(args.rows)]
            + ["--strata", str(args.strata)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if run.returncode != 0:
            print(f"{method:12s} failed (exit {run.returncode}): {run.stderr.strip()[-300:]}")
            continue
        results[method] = json.loads(run.stdout.strip().splitlines()[-1])
    base = results.get("absorbed")
    print(f"{'':12s} {'seconds':>9s} {'peak MB':>9s} {'x time':>8s} {'x memory':>9s}  estimate, SE")
    for method, r in results.items():
        ratios = (
            f"{r['seconds'] / base['seconds']:8.1f} {r['peak_mb'] / max(base['peak_mb'], 1):9.1f}"
            if base
            else f"{'':8s} {'':9s}"
        )
        print(
            f"{method:12s} {r['seconds']:9.2f} {r['peak_mb']:9.0f} {ratios}  "
            f"{r['estimate']:.10f}, {r['std_error']:.10f}"
        )
    print("peak MB: the fit's RSS high-water mark above the process's RSS with the data built")
    if base and "dummies" in results:
        gap = abs(results["dummies"]["std_error"] - base["std_error"]) / base["std_error"]
        print(f"absorbed vs dummies: SE relative gap {gap:.1e} (the same HC2)")


if __name__ == "__main__":
    main()
