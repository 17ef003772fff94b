"""The whole pre-specified analysis of the four demo trials, and where its time goes.

    .venv/bin/python bench/bench_analysis.py

The demo's pipelines are run once (into a temporary TRIALFLOW_HOME, without
PDFs) to put simulated data in the store; then each trial's analysis dataset
and delivery log are read and :func:`analysis.results.analyse_trial` is timed
on its own, outside Prefect, as the issue's target asks (under 20 s for the
four trials, Prefect's start-up excluded).  The parts are timed the same way
beside it: the randomisation-inference draws, the balance test, the
missing-data sensitivity analyses and the cost section.  There is no peer tool
that does this whole analysis, so the figures are seconds on this machine;
each part's peer ratio is in bench_ri.py, bench_se.py and bench_bootstrap.py.
"""

from __future__ import annotations

import os
import tempfile
import time

os.environ.setdefault("TRIALFLOW_HOME", tempfile.mkdtemp(prefix="trialflow-bench-analysis-"))

import numpy as np  # noqa: E402

from analysis import results as results_module  # noqa: E402
from analysis.sections.costs import costs_section  # noqa: E402
from analysis.sections.missing_data import missing_data_sensitivity  # noqa: E402
from flows.analyse import load_cost_events  # noqa: E402
from flows.demo import DEMO_TRIALS, demo_flow  # noqa: E402
from flows.export import load_analysis_dataset  # noqa: E402
from flows.store import Store  # noqa: E402
from flows.tasks import embedded_prefect  # noqa: E402
from trial_designs.design import load_design  # noqa: E402
from trial_designs.randomise import draw_allocations  # noqa: E402


def _seconds(run, *args, **kwargs) -> float:  # noqa: ANN001 - any callable
    start = time.perf_counter()
    run(*args, **kwargs)
    return time.perf_counter() - start


def time_trial(name: str, store: Store) -> dict[str, float]:
    """Seconds for the whole analysis of one trial and for its costliest parts."""
    design = load_design(f"trial_designs/{name}.yaml")
    data = load_analysis_dataset(design, store)
    events = load_cost_events(store, design.id)
    ordered = data.sort_values("participant_id").reset_index(drop=True)
    primary = design.primary_outcome.name
    active = next(a for a in design.arm_names if a != design.control_arm)
    pair = ordered[ordered["arm"].isin([design.control_arm, active])].assign(
        treated=lambda d: (d["arm"] == active).astype(float)
    )
    baseline = f"{primary}_baseline"
    cluster = design.unit == "cluster"
    return {
        "N": len(data),
        "whole": _seconds(results_module.analyse_trial, data, design, events=events),
        "RI draws": _seconds(
            draw_allocations,
            ordered.rename(columns={"participant_id": "id"}),
            design,
            n_draws=design.analysis.ri_draws,
            rng=np.random.default_rng(1),
        ),
        "balance": _seconds(results_module._balance, ordered, design, []),  # noqa: SLF001
        "IPW+MI": _seconds(
            missing_data_sensitivity,
            pair,
            endline=f"{primary}_endline",
            treatment="treated",
            arm=active,
            covariates=[baseline] if pair[baseline].notna().any() else [],
            response_covariates=["role"],
            strata=None,
            cluster="cluster" if cluster else None,
            se_type="CR2" if cluster else "HC2",
            rng=np.random.default_rng(2),
        ),
        "costs": _seconds(costs_section, design, events, ordered, rng=np.random.default_rng(3)),
    }


def main() -> None:
    home = os.environ["TRIALFLOW_HOME"]
    os.environ.setdefault("TRIALFLOW_REPORTS_DIR", os.path.join(home, "reports"))
    start = time.perf_counter()
    with embedded_prefect():  # as the CLI runs it
        demo_flow(pdf=False)
    print(
        f"demo pipelines (simulated data into the store, no PDFs): {time.perf_counter() - start:.1f} s"
    )
    store = Store()
    columns = ["whole", "RI draws", "balance", "IPW+MI", "costs"]
    print(f"{'trial':<16}{'N':>6}" + "".join(f"{c:>10}" for c in columns) + "   (seconds)")
    total = 0.0
    for name in DEMO_TRIALS:
        row = time_trial(name, store)
        total += row["whole"]
        print(f"{name:<16}{row['N']:>6}" + "".join(f"{row[c]:>10.2f}" for c in columns))
    print(f"whole analysis of the four demo trials: {total:.1f} s (target under 20 s)")


if __name__ == "__main__":
    main()
