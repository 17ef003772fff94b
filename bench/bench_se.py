"""CR2 with Satterthwaite df at N = 100,000 in 500 clusters, beside linearmodels' clustered (CR1).

    .venv/bin/python bench/bench_se.py

Same data, same process, side by side.  Clusters are unequal (20 to 380
people), treatment is cluster-level, and the design has an intercept plus 6
regressors.  Each timing is the median of 5 runs after a warm-up, and each
includes the point estimates.  Peak memory is measured in separate runs with
tracemalloc (numpy reports its buffers to it), so the timings carry no
tracing overhead.  The target for CR2 with df is under 3 s.
"""

from __future__ import annotations

import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pandas as pd
from linearmodels.iv import IV2SLS

from analysis.estimators import ols_fit

N, G, REPEATS = 100_000, 500, 5


def _data(rng: np.random.Generator):
    sizes = rng.integers(20, 381, G)
    sizes = np.round(sizes * N / sizes.sum()).astype(int)
    sizes[-1] += N - sizes.sum()
    clusters = rng.permutation(np.repeat(np.arange(G), sizes))
    treat = (rng.permutation(G) < G // 2).astype(float)[clusters]
    baseline = rng.normal(21, 3.5, N)
    others = rng.normal(size=(N, 4))
    y = (
        8
        + 0.5 * treat
        + 0.6 * baseline
        + others @ [0.1, 0.2, -0.1, 0.3]
        + rng.normal(0, 0.8, G)[clusters]
        + rng.normal(0, 3.4, N)
    )
    x = np.column_stack([np.ones(N), treat, baseline, others])
    terms = ["(Intercept)", "treat", "baseline", "x1", "x2", "x3", "x4"]
    weights = rng.uniform(0.5, 2.0, N)
    return y, x, terms, clusters, weights


def _median_seconds(call: Callable[[], object]) -> float:
    call()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_mib(call: Callable[[], object]) -> float:
    tracemalloc.start()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    y, x, terms, clusters, weights = _data(np.random.default_rng(2024))
    frame = pd.DataFrame(x, columns=terms)
    codes = pd.Series(clusters, name="cluster")

    def ours_cr2():
        return ols_fit(y, x, terms=terms, se_type="CR2", clusters=clusters)

    def ours_cr1():
        return ols_fit(y, x, terms=terms, se_type="CR1", clusters=clusters)

    def ours_cr2_weighted():
        return ols_fit(y, x, terms=terms, se_type="CR2", clusters=clusters, weights=weights)

    def peer_cr1():
        return IV2SLS(y, frame, None, None).fit(cov_type="clustered", clusters=codes, debiased=True)

    # Same numbers before timing anything: CR1 is the one SE both sides compute.
    ours = ours_cr1()
    peer = peer_cr1()
    np.testing.assert_allclose([c.std_error for c in ours.coefficients], peer.std_errors, rtol=1e-9)
    np.testing.assert_allclose([c.estimate for c in ours.coefficients], peer.params, rtol=1e-9)

    rows = [
        ("trialflow CR2 + Satterthwaite df", ours_cr2),
        ("trialflow CR1 (Stata)", ours_cr1),
        ("trialflow weighted CR2 + df", ours_cr2_weighted),
        ("linearmodels clustered (CR1)", peer_cr1),
    ]
    seconds = {name: _median_seconds(call) for name, call in rows}
    peaks = {name: _peak_mib(call) for name, call in rows}
    peer_s = seconds["linearmodels clustered (CR1)"]

    cr2 = ours_cr2()
    print(f"cluster-robust SEs, N = {N:,}, {G} clusters of 20-380, intercept + 6 regressors")
    print(f"  {'':34s} {'median s':>9s} {'vs peer':>8s} {'peak MiB':>9s}")
    for name, _ in rows:
        ratio = seconds[name] / peer_s
        print(f"  {name:34s} {seconds[name]:9.3f} {ratio:7.2f}x {peaks[name]:9.1f}")
    print(
        f"  treat: CR2 SE {cr2['treat'].std_error:.4f} on {cr2['treat'].df:.1f} df; "
        f"CR1 SE {peer.std_errors['treat']:.4f} on {G - 1} df"
    )
    print(
        f"  ratio trialflow CR2 / linearmodels CR1: "
        f"{seconds['trialflow CR2 + Satterthwaite df'] / peer_s:.2f}"
    )
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  process max RSS (whole run): {max_rss:.0f} MiB")


if __name__ == "__main__":
    main()
