"""Commands that run the trial's pipeline or a stage of it: run, demo, diagnose, analyse,
report, sap and costs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from flows.cli.base import console, fail
from reports.format import format_money
from trial_designs.design import DesignError
from trial_designs.sections import MAX_RI_DRAWS, MAX_SIMULATIONS

__all__ = ["analyse", "costs", "demo", "diagnose", "report", "run", "sap"]


def run(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    drop: Path = typer.Option(
        None, "--drop", help="The trial's drop folder (default .trialflow/drop/<trial>)."
    ),
) -> None:
    """Run a trial's pipeline: every stage in order, each skipping what is already done."""
    from flows.pipeline import pipeline_flow

    try:
        done = pipeline_flow(str(design), str(drop) if drop else None)
    except (DesignError, FileNotFoundError, LookupError, ValueError) as exc:
        fail(str(exc))
    for stage, outcome in done["stages"].items():
        console.print(
            f"{stage} ({done['seconds'][stage]} s): {_stage_text(stage, outcome)}",
            highlight=False,
        )


def _stage_text(stage: str, outcome: object) -> str:
    """What a pipeline stage did as one readable line (it printed raw Python dicts)."""
    if stage == "costs" and isinstance(outcome, dict) and "summary" in outcome:
        files = "; ".join(f"{name}: {path}" for name, path in outcome["files"].items())
        return " ".join([*_costs_lines(outcome), *([files] if files else [])])
    if stage == "report" and isinstance(outcome, dict):
        return "; ".join(
            f"{trial}: " + "  ".join(p for p in paths.values() if p)
            if isinstance(paths, dict)
            else f"{trial}: {paths}"
            for trial, paths in outcome.items()
        )
    if isinstance(outcome, dict):
        return "; ".join(f"{key}: {_stage_text('', value)}" for key, value in outcome.items())
    if isinstance(outcome, (list, tuple)):
        return "; ".join(_stage_text("", item) for item in outcome) or "nothing to do"
    return "nothing to do" if outcome is None else str(outcome)


def _costs_lines(result: dict) -> list[str]:
    """The cost summary of ``costs_flow``: the headline, then each cost-effectiveness sentence."""
    summary = result.get("summary")
    if not summary:
        return [
            f"{result['trial']}: results.json has no costs (the design declares no cost model, "
            "or no deliveries were logged); nothing written."
        ]
    total = (
        f"{result['trial']}: total {format_money(summary['total'], decimals=2)} "
        f"({summary['currency_year']} prices)"
    )
    if summary.get("by_arm"):
        # several active arms: each costs its own, and its sentences name it; the first
        # arm's figures alone would pass for the trial's
        return [
            f"{total}.",
            *(
                line
                for arm in summary["by_arm"]
                for line in (
                    f"{arm.get('label') or arm['arm']}: {_per_and_band(arm)}",
                    *arm["cost_effectiveness"],
                )
            ),
        ]
    return [f"{total}; {_per_and_band(summary)}", *summary["cost_effectiveness"]]


def _per_and_band(figures: dict) -> str:
    """'£8.48 per participant randomised; EEF cost band very low.' (the first part if known)."""
    per = figures["per_participant_randomised"]
    return (
        f"{format_money(per, decimals=2)} per participant randomised; " if per is not None else ""
    ) + f"EEF cost band {figures['eef_band']}."


def demo() -> None:
    """Simulate the four seed trials and a three-arm demo design, and run each pipeline end to end (the main job)."""
    import time

    from flows.workers import demo_pool, demo_processes

    start = time.perf_counter()
    # Start what takes long before importing the flows, so they overlap: Prefect's
    # temporary server (its own process: database, migrations) and the worker processes
    # (each imports the statistics libraries); this process imports the flows meanwhile.
    server = _start_temporary_server()
    with demo_pool(demo_processes(5)):  # the five demo trials, one worker per core
        from flows.demo import demo_flow

        if server is not None:
            server.join()
        result = demo_flow()
    table = Table(
        title="trialflow demo: the four seed trials and a three-arm design (simulated data)"
    )
    for column in result["summary"][0]:
        table.add_column(column)
    for row in result["summary"]:
        table.add_row(*[str(v) for v in row.values()])
    console.print(table)
    console.print("Reports (open the HTML in a browser; the PDF is the same report):")
    for trial, paths in result["reports"].items():
        console.print(
            f"  {trial}: {paths['html']}" + (f"  {paths['pdf']}" if paths.get("pdf") else "")
        )
    if result["portfolio"]:
        console.print(f"  portfolio: {result['portfolio']['html']}")
    timings = ", ".join(f"{k} {v} s" for k, v in result["seconds"].items())
    processes = result.get("processes", 1)
    console.print(
        f"Wall time {time.perf_counter() - start:.1f} s: Prefect start-up "
        f"{result['entered_at'] - start:.1f} s; {timings}"
        + (f" (summed over the trials, {processes} at a time)." if processes > 1 else "."),
        highlight=False,
    )


def _start_temporary_server():  # noqa: ANN202 - a thread or None
    """Start Prefect's temporary server in a thread now, unless a server is configured.

    Flows would start the same server (a singleton) on their first run; started
    here, its start-up runs beside this process's imports.  Join the thread
    before the first flow runs.
    """
    import os
    import threading

    if os.environ.get("PREFECT_API_URL"):
        return None
    from prefect.server.api.server import SubprocessASGIServer

    def start() -> None:
        try:
            SubprocessASGIServer().start()
        except Exception:  # noqa: BLE001 - the first flow run starts it again and reports why
            return

    thread = threading.Thread(target=start, name="temporary-prefect-server", daemon=True)
    thread.start()
    return thread


def diagnose(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    sims: int = typer.Option(1000, "--sims", help="Number of simulations."),
    effect: float = typer.Option(0.2, "--effect", help="True effect in SD units."),
    icc: float = typer.Option(0.05, "--icc", help="Intra-cluster correlation of the outcome."),
    chunk_size: int = typer.Option(
        None,
        "--chunk-size",
        help="Simulations sent to a worker at once (default 50; on Dask, 2 chunks per "
        "worker). The results do not depend on it.",
    ),
    dask_address: str = typer.Option(
        None,
        "--dask-address",
        help="Run on an existing Dask scheduler, e.g. tcp://host:8786 "
        "(default: $TRIALFLOW_DASK_ADDRESS, see flows/settings.py). Same results as here.",
    ),
    dask_workers: int = typer.Option(
        0, "--dask-workers", help="Start a local Dask cluster with this many worker processes."
    ),
) -> None:
    """Simulation-based design diagnosis: power, bias, RMSE and coverage of each estimator."""
    if not 1 <= sims <= MAX_SIMULATIONS:
        # before the flow and its temporary Prefect server (~38 s): chunk_seeds says
        # the same, but only once the flow has started
        fail(
            f"'sims' must be between 1 and {MAX_SIMULATIONS}. Got {sims} instead: power to "
            "within 0.3 percentage points needs about 100000, and each simulation refits the trial."
        )
    from flows.diagnose import run_diagnosis
    from flows.settings import get_settings

    try:
        summary = run_diagnosis(
            str(design),
            dask_address=dask_address or get_settings().dask_address,
            dask_workers=dask_workers,
            sims=sims,
            effect=effect,
            icc=icc,
            chunk_size=chunk_size,
        )
    except (DesignError, ValueError) as exc:
        fail(str(exc))
    table = Table(title=f"Diagnosis of {design}: {sims} simulations, true effect {effect} SD")
    for column in ("estimator", "power", "bias", "rmse", "coverage"):
        table.add_column(column)
    for row in summary:
        table.add_row(
            row["estimator"],
            *[
                ("" if row[c] is None or row[c] != row[c] else f"{row[c]:.3f}")
                for c in ("power", "bias", "rmse", "coverage")
            ],
        )
    console.print(table)


def analyse(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    data: Path = typer.Option(
        None,
        "--data",
        help="An analysis dataset (CSV/XLSX) instead of the store; columns per the design's analysis.columns.",
    ),
    out: Path = typer.Option(
        None, "--out", help="Folder for results.json (default .trialflow/out/<trial>/analysis)."
    ),
    ri_draws: int = typer.Option(
        None, "--ri-draws", help="Randomisation-inference draws (default: the design's)."
    ),
    covariates: str = typer.Option(
        None,
        "--covariates",
        help="Exploratory: adjust for these columns (comma-separated; '' for none) instead of "
        "the design's. Needs --label.",
    ),
    se_type: str = typer.Option(
        None,
        "--se-type",
        help="Exploratory: this standard-error type (HC0-HC3, CR0-CR2) instead of the "
        "design's. Needs --label.",
    ),
    label: str = typer.Option(
        None,
        "--label",
        help="Name of an exploratory analysis: written to exploratory/NAME/results.json, "
        "marked exploratory; the pre-specified results.json is never overwritten.",
    ),
    subgroups: str = typer.Option(
        None,
        "--subgroups",
        help="Exploratory: also analyse these dataset columns as subgroups (comma-separated), "
        "labelled exploratory and not Holm-adjusted. Needs --label.",
    ),
    dask_address: str = typer.Option(
        None,
        "--dask-address",
        help="Run the randomisation inference's blocks of draws and the cost-effectiveness "
        "bootstrap's replicate blocks on an existing Dask scheduler, e.g. tcp://host:8786 "
        "(default: $TRIALFLOW_DASK_ADDRESS). Same results.",
    ),
    dask_workers: int = typer.Option(
        0, "--dask-workers", help="Start a local Dask cluster with this many worker processes."
    ),
) -> None:
    """Run the pre-specified analysis and write results.json (schema: analysis/results.schema.json).

    With --covariates/--se-type/--subgroups and --label, run an exploratory reanalysis instead.
    """
    if ri_draws is not None and not 0 <= ri_draws <= MAX_RI_DRAWS:
        # before the flow and its temporary Prefect server (~38 s); analyse_flow says the same
        fail(f"'--ri-draws' must be between 0 and {MAX_RI_DRAWS}. Got {ri_draws} instead.")
    from analysis.exploratory import parse_covariates, parse_subgroups
    from flows.analyse import analyse_flow
    from flows.dask_runner import dask_client
    from flows.settings import get_settings

    try:
        with dask_client(dask_address or get_settings().dask_address, dask_workers):
            result = analyse_flow(
                str(design),
                str(data) if data else None,
                str(out) if out else None,
                ri_draws,
                covariates=None if covariates is None else list(parse_covariates(covariates)),
                se_type=se_type,
                label=label,
                subgroups=None if subgroups is None else list(parse_subgroups(subgroups)),
            )
    except (DesignError, LookupError, ValueError) as exc:
        fail(str(exc))
    if label is not None:
        console.print(
            f"EXPLORATORY analysis '{label}' (not the pre-specified one):", highlight=False
        )
    console.print(f"wrote {result['results']}")


def report(
    design: str = typer.Argument(
        None, help="Design YAML, packaged design or trial id; omit to report every trial."
    ),
    portfolio: bool = typer.Option(
        False, "--portfolio", help="Also write the portfolio report across all trials."
    ),
    results_dir: Path = typer.Option(
        None,
        "--results",
        help="Folder holding <trial>/analysis/results.json (default .trialflow/out).",
    ),
    out: Path = typer.Option(
        None, "--out", help="Folder for the reports (default <TRIALFLOW_HOME>/reports)."
    ),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Write a PDF beside each HTML file."),
    label: str = typer.Option(
        None,
        "--label",
        help="Report the trial's exploratory analysis NAME (from `analyse --label NAME`) into "
        "<out>/exploratory/NAME/, marked exploratory on every page.",
    ),
) -> None:
    """Render the HTML and PDF reports from results.json (per trial, and --portfolio)."""
    from flows.report import report_flow

    try:
        result = report_flow(
            design,
            portfolio,
            str(results_dir) if results_dir else None,
            str(out) if out else None,
            pdf,
            label=label,
        )
    except (DesignError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    for trial, paths in result["reports"].items():
        console.print(f"{trial}: {result['headlines'][trial]}", highlight=False)
        console.print(f"  {'  '.join(paths.values())}", highlight=False)
    if result["portfolio"]:
        console.print(f"portfolio: {'  '.join(result['portfolio'].values())}", highlight=False)


def sap(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    n: int = typer.Option(
        None,
        "--n",
        help="Individuals for the MDES (default: those randomised, control + first arm).",
    ),
    icc: float = typer.Option(
        None, "--icc", help="ICC for a cluster trial's MDES (default: shown at 0.01, 0.05, 0.10)."
    ),
    late: bool = typer.Option(
        False, "--late", help="Register after outcome data are stored (needs --reason)."
    ),
    reason: str = typer.Option(None, "--reason", help="Why the plan is registered late."),
    out: Path = typer.Option(
        None, "--out", help="Folder for sap.html/.pdf/.json (default .trialflow/out/<trial>/sap)."
    ),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Write sap.pdf beside sap.html."),
) -> None:
    """Render the statistical analysis plan (HTML, PDF) and register its hash in the audit log."""
    from flows.sap import sap_flow

    try:
        done = sap_flow(str(design), n, icc, late, reason, str(out) if out else None, pdf)
    except (DesignError, LookupError, ValueError) as exc:
        fail(str(exc))
    state = "registered" if done["new"] else "was already registered (no new audit row)"
    console.print(
        f"{done['trial']}: analysis plan {done['sap_hash'][:12]} {state} on "
        f"{done['registered_at']} UTC{' (late)' if done['late'] else ''}; the audit log holds "
        "its hash.",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    for path in done["files"].values():
        console.print(f"  {path}", highlight=False, markup=False)


def costs(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
) -> None:
    """Run the costs stage alone: the ledger and sensitivity as CSV, and the cost summary.

    Reads the costs section of results.json, so run `trialflow analyse` first.
    """
    from flows.costs import costs_flow

    try:
        result = costs_flow(str(design))
    except (DesignError, FileNotFoundError, LookupError, ValueError) as exc:
        fail(str(exc))
    headline, *sentences = _costs_lines(result)
    console.print(headline, highlight=False)
    if not result.get("summary"):
        return
    for sentence in sentences:
        console.print(f"  {sentence}", highlight=False)
    for name, path in result["files"].items():
        # a path wrapped over two lines cannot be copied
        console.print(f"{name}: {path}", highlight=False, markup=False, soft_wrap=True)
