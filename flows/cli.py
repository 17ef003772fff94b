"""The ``trialflow`` command line.  Every command that does work runs a Prefect flow.

Commands that run no flow (``--help``, ``validate``, ``power``, ``schema``,
``status``, ``server``) import no Prefect, so they answer in about a second;
every heavy import happens inside the command that needs it.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table
from rich.text import Text

import flows  # noqa: F401 - sets Prefect defaults before Prefect is imported
from flows.common import resolve_design_path
from trial_designs.design import (
    MAX_RI_DRAWS,
    MAX_SIMULATIONS,
    DesignError,
    design_json_schema,
    load_design,
)

if TYPE_CHECKING:
    from analysis.power import PowerCalculation
    from trial_designs.design import TrialDesign

#: Exit codes, one meaning each (listed in ``trialflow --help``).
EXIT_REJECTED = 1  # the input (design, file, value) was refused; the message says what to fix
EXIT_USAGE = 2  # unknown command or option, missing argument (typer's own code)
EXIT_INTERNAL = 3  # an unexpected error: not the input's fault; the traceback is in the log
EXIT_INTERRUPTED = 130  # Ctrl-C outside a command; inside one, typer prints "Aborted!" (exit 1)

#: Commands that run no Prefect flow: they skip Prefect's set-up entirely.
LIGHT_COMMANDS = frozenset({"validate", "power", "schema", "status", "server", "audit"})

app = typer.Typer(
    help="trialflow: run and evaluate randomised trials of staff-wellbeing interventions.\n\n"
    "Exit codes: 0 done; 1 the input was refused (a design, file or value; the error line "
    "says what to fix and nothing was stored); 2 usage error (unknown command or option); "
    "3 internal error (the traceback is in <TRIALFLOW_HOME>/logs/trialflow.log).\n\n"
    "Flow commands write Prefect's log to <TRIALFLOW_HOME>/logs/trialflow.log (--verbose also "
    "shows it) and use the server of `trialflow server start` when one runs, else a temporary one.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
#: Markup off: every value printed (ids, organisations, teams, file names, labels) is data and
#: shows verbatim, so a roster cell 'Dudley [/]' is text, not a closing tag (MarkupError) and
#: 'Team [a]' keeps its '[a]'. Styled words are Text objects (see _bold).
console = Console(markup=False)
#: Errors go to stderr, so output piped into a file stays clean.
err_console = Console(stderr=True)


def _bold(text: object, style: str = "bold") -> Text:
    """``text`` styled, taken literally (no markup), for the markup-free console."""
    return Text(str(text), style=style)


def _fail(message: str, code: int = EXIT_REJECTED) -> None:
    """Print one ``error:`` line (the message verbatim: no markup) and exit with ``code``."""
    # soft_wrap: one line however long, so it can be grepped and copied whole
    err_console.print(
        f"[bold red]error:[/] {rich_escape(message)}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(code=code)


@app.callback()
def _setup(
    ctx: typer.Context,
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Also show Prefect's log on the console (stderr)."
    ),
) -> None:
    """Before a flow command: reuse a running server, and no heartbeats (see embedded_prefect)."""
    if verbose:
        from flows.logs import echo_to_stderr

        echo_to_stderr()
    if ctx.invoked_subcommand in LIGHT_COMMANDS or {"--help", "-h"} & set(sys.argv[1:]):
        return
    import numpy as np

    from flows.common import embedded_prefect
    from flows.logs import quiet_temporary_server
    from flows.server import running_api_url

    np.seterr(all="ignore")  # numeric edge cases are handled where they arise, not printed
    url = running_api_url()
    if url and not _api_url_set():
        import os

        os.environ["PREFECT_API_URL"] = url
    if not verbose:
        quiet_temporary_server()
    ctx.with_resource(embedded_prefect(heartbeats=False))


def _api_url_set() -> bool:
    """An explicit PREFECT_API_URL wins; once Prefect is imported its settings are fixed."""
    import os

    return bool(os.environ.get("PREFECT_API_URL")) or "prefect" in sys.modules


@app.command()
def randomise(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    roster: Path = typer.Option(..., "--roster", help="Staff roster (CSV or XLSX)."),
    force: bool = typer.Option(
        False, "--force", help="Randomise again although allocations exist."
    ),
    reason: str = typer.Option(
        None, "--reason", help="Why a forced re-randomisation is needed (logged)."
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Check the roster and show the arm counts per stratum; store and write nothing.",
    ),
) -> None:
    """Randomise a roster under a design, store the allocation and write the coordinator's list."""
    from flows.checks import RosterError
    from flows.randomise import preview_randomisation, randomise_flow
    from flows.sources import SourceError
    from flows.store import AlreadyRandomisedError

    try:
        if dry_run:
            result = preview_randomisation(str(design), str(roster))
        else:
            result = randomise_flow(str(design), str(roster), force=force, reason=reason)
    except (DesignError, RosterError, SourceError, AlreadyRandomisedError, ValueError) as exc:
        _fail(getattr(exc, "report", str(exc)))  # a roster's problems with their values
    if dry_run:
        title = f"{result['trial']}: {result['units']} units would be randomised (dry run)"
    else:
        title = f"{result['trial']}: {result['units']} units randomised (round {result['round']})"
    table = Table(title=title)
    counts = result["counts"]
    for column in counts[0]:
        table.add_column(str(column))
    for row in counts:
        table.add_row(*[str(v) for v in row.values()])
    console.print(table)
    if dry_run:
        console.print("Dry run: the roster passed every check; nothing was stored or written.")
        if result["already_randomised"] is not None:
            console.print(
                f"Note: {result['trial']} is already randomised (round "
                f"{result['already_randomised']}); a real run is refused without "
                '--force --reason "...".',
                highlight=False,
                markup=False,
            )
        return
    console.print(f"Coordinator's allocation list: {result['allocation_list']}", soft_wrap=True)
    if result.get("design_changes"):
        console.print(
            "Re-randomised under a changed design (recorded in the audit log's "
            "'re-randomised' row):\n" + "\n".join(f"  {c}" for c in result["design_changes"]),
            highlight=False,
            markup=False,
        )
    if result.get("superseded"):
        console.print(
            f"{result['superseded']} earlier participant(s) are not in this roster: kept on "
            f"record (with their names) and their round {result['round'] - 1} allocation marked "
            f"superseded. `trialflow enrol {result['trial']} --roster ...` allocates them in "
            f"round {result['round']}.",
            highlight=False,
            markup=False,
        )


@app.command()
def enrol(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    roster: Path = typer.Option(
        ..., "--roster", help="New staff (CSV or XLSX), same columns as the roster."
    ),
) -> None:
    """Allocate late entrants (new starters, new buildings) from the concealed sequence."""
    from flows.checks import RosterError
    from flows.randomise import enrol_flow
    from flows.sources import SourceError

    try:
        result = enrol_flow(str(design), str(roster))
    except (DesignError, RosterError, SourceError, LookupError) as exc:
        _fail(getattr(exc, "report", str(exc)))  # a roster's problems with their values
    table = Table(title=f"{result['trial']}: late entrants")
    for column in ("participant_id", "unit_id", "arm", "status"):
        table.add_column(column)
    for row in result["enrolled"]:
        table.add_row(*[str(row[c]) for c in ("participant_id", "unit_id", "arm", "status")])
    console.print(table)
    console.print(
        f"Coordinator's allocation list (every allocated participant): {result['allocation_list']}",
        soft_wrap=True,
    )


@app.command()
def simulate(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    out: Path = typer.Option(..., "--out", help="Folder to write the synthetic files into."),
    seed: int = typer.Option(
        1, "--seed", help="Seed for the synthetic data (not the trial's seed)."
    ),
) -> None:
    """Write a realistic synthetic roster (and, where available, trial data) for a design."""
    from flows.simulate import simulate_flow

    try:
        written = simulate_flow(str(design), str(out), seed)
    except DesignError as exc:
        _fail(str(exc))
    for path in written:
        console.print(f"wrote {path}")


@app.command("schema")
def schema(out: Path = typer.Option(Path("trial_designs/design.schema.json"), "--out")) -> None:
    """Export the JSON Schema of design files (for editor autocompletion)."""
    from flows.safe_io import write_text

    write_text(out, json.dumps(design_json_schema(), indent=2, sort_keys=True) + "\n")
    console.print(f"wrote {out}")


@app.command()
def validate(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
) -> None:
    """Check a design file and print its hash."""
    try:
        trial = load_design(resolve_design_path(design))
    except DesignError as exc:
        _fail(str(exc))
    console.print(f"{trial.id}: valid; design hash {trial.design_hash}")


@app.command()
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
        _fail(str(exc))
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
    per = summary["per_participant_randomised"]
    return [
        f"{result['trial']}: total £{summary['total']:,.2f} ({summary['currency_year']} prices); "
        + (f"£{per:,.2f} per participant randomised; " if per is not None else "")
        + f"EEF cost band {summary['eef_band']}.",
        *summary["cost_effectiveness"],
    ]


@app.command()
def demo() -> None:
    """Simulate the four seed trials and run each pipeline end to end (the main job)."""
    import time

    from flows.workers import demo_pool, demo_processes

    start = time.perf_counter()
    # Start what takes long before importing the flows, so they overlap: Prefect's
    # temporary server (its own process: database, migrations) and the worker processes
    # (each imports the statistics libraries); this process imports the flows meanwhile.
    server = _start_temporary_server()
    with demo_pool(demo_processes(4)):  # the four seed trials, one worker per core
        from flows.demo import demo_flow

        if server is not None:
            server.join()
        result = demo_flow()
    table = Table(title="trialflow demo: the four seed trials (simulated data)")
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


# == delivery and uptake commands (deliveries, letters, uptake) ==========================
deliveries_app = typer.Typer(help="Ingest intervention delivery logs.", no_args_is_help=True)
app.add_typer(deliveries_app, name="deliveries")


@deliveries_app.command("ingest")
def deliveries_ingest(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    file: Path = typer.Argument(..., help="Delivery-log export (CSV or XLSX)."),
) -> None:
    """Check and store a delivery log; bad rows go to quarantine, re-ingesting adds nothing."""
    from flows.deliveries import deliveries_ingest_flow
    from flows.sources import SourceError

    try:
        result = deliveries_ingest_flow(str(design), str(file))
    except (DesignError, SourceError, LookupError, ValueError) as exc:
        _fail(str(exc))
    console.print(result["summary"], highlight=False)
    if result.get("quarantine_report"):
        console.print(f"Quarantined rows and reasons: {result['quarantine_report']}")
    if result.get("contaminated_units"):
        console.print(
            Text.assemble(
                _bold(f"{result['contaminated_units']} control-arm unit(s)"),
                " received the intervention; their events are flagged as contaminated.",
            )
        )


@app.command()
def letters(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    feedback: Path = typer.Option(
        ...,
        "--feedback",
        help="Manager feedback CSV: participant_id, feedback_1, feedback_2 "
        "(optional signatory, signatory_title).",
    ),
    date: str = typer.Option(
        None, "--date", help="Date printed on the letters, YYYY-MM-DD (default today)."
    ),
) -> None:
    """Render a letter of appreciation (HTML and PDF) per letter-arm participant, with a print manifest."""
    from flows.letters import letters_flow
    from flows.sources import SourceError

    try:
        result = letters_flow(str(design), str(feedback), date)
    except (DesignError, SourceError, LookupError, ValueError) as exc:
        _fail(str(exc))
    console.print(f"{result['letters']} letter(s) written to {result['folder']}")
    console.print(f"Print manifest: {result['manifest']}")
    if result["problems"]:
        table = Table(title=f"{len(result['problems'])} row(s) without a letter")
        for column in ("participant_id", "rule", "message"):
            table.add_column(column)
        for row in result["problems"]:
            table.add_row(row["participant_id"], row["rule"], row["message"])
        console.print(table)


@app.command()
def uptake(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    drop: Path = typer.Option(
        None, "--drop", help="Also ingest new logs from this drop folder's deliveries/ first."
    ),
) -> None:
    """Compute the uptake funnel from the delivery logs and write the coordinator's dashboard."""
    from flows.sources import SourceError
    from flows.uptake import uptake_flow

    try:
        result = uptake_flow(str(design), str(drop) if drop else None)
    except (DesignError, SourceError, LookupError, ValueError) as exc:
        _fail(str(exc))
    table = Table(title=f"{result['trial']}: uptake from {result['events']} delivery events")
    for column in ("arm", "allocated", "offered", "started", "completed"):
        table.add_column(column)
    for row in result["funnel"]:
        pct = {
            k: "–" if row[f"{k}_pct"] is None else f"{row[f'{k}_pct']:.1f}%"
            for k in ("offered", "started", "completed")
        }
        table.add_row(
            row["arm"],
            str(row["allocated"]),
            *[f"{row[k]} ({pct[k]})" for k in ("offered", "started", "completed")],
        )
    console.print(table)
    console.print(f"Dashboard: {result['dashboard']}")


# == outcome commands (outcomes, export) =================================================
outcomes_app = typer.Typer(
    help="Ingest outcome data: surveys and HR extracts.", no_args_is_help=True
)
app.add_typer(outcomes_app, name="outcomes")


@outcomes_app.command("ingest")
def outcomes_ingest(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    file: Path = typer.Argument(..., help="Survey export or HR extract (CSV or XLSX)."),
    source: str = typer.Option(
        "survey",
        "--source",
        help="survey (one row per response) or hr (staff rows and absence episodes, one file).",
    ),
    timepoint: str = typer.Option(
        "endline", "--timepoint", help="baseline, endline, or a wave name such as wave_2."
    ),
) -> None:
    """Check, score and store a survey or HR file; bad rows go to quarantine.

    Writes a validation report listing each quarantined row and what to fix.
    The same file ingested again changes nothing; values already stored are
    never overwritten.
    """
    from flows.outcomes import outcomes_ingest_flow
    from flows.sources import SourceError

    try:
        result = outcomes_ingest_flow(str(design), str(file), source, timepoint)
    except (DesignError, SourceError, LookupError, ValueError) as exc:
        _fail(str(exc))
    console.print(result["summary"])
    if result.get("validation_report"):
        console.print(f"Validation report: {result['validation_report']}")


@app.command()
def export(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Folder for the analysis dataset, data dictionary and R/Stata scripts.",
    ),
) -> None:
    """Write the analysis dataset (CSV, Parquet, labelled Stata .dta), its data dictionary
    (with the pre-specified model as a formula) and primary_analysis.R / .do, which refit
    the primary ITT and CACE (R with estimatr reproduces results.json)."""
    from flows.export import export_flow

    try:
        written = export_flow(str(design), str(out))
    except (DesignError, LookupError, ValueError) as exc:
        _fail(str(exc))
    for path in written:
        console.print(f"wrote {path}")


# == analysis, cost and report commands ===================================================
@app.command()
def power(
    ctx: typer.Context,
    design: str = typer.Argument(
        None,
        help="Optional design YAML or packaged design id: unit, clusters and allocation default to it.",
    ),
    n: int = typer.Option(
        ..., "--n", help="Individuals analysed, in the control arm and the arm compared with it."
    ),
    clusters: int = typer.Option(
        None, "--clusters", help="Number of clusters J (default: the design's listed clusters)."
    ),
    cluster_size: float = typer.Option(
        None, "--cluster-size", help="Average cluster size m, instead of --clusters (J = n / m)."
    ),
    icc: float = typer.Option(
        None, "--icc", help="Intra-cluster correlation of the outcome; required for cluster trials."
    ),
    r2: float = typer.Option(
        0.0, "--r2", help="Share of outcome variance explained by baseline covariates (R²)."
    ),
    n_covariates: int = typer.Option(
        0,
        "--covariates",
        help="Covariates that cost degrees of freedom (cluster-level in cluster trials).",
    ),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of the planned test."),
    target_power: float = typer.Option(
        None, "--power", help="Target power when solving for the MDES (default 0.8)."
    ),
    effect_size: float = typer.Option(
        None, "--effect-size", help="A true effect in SD units: report the power to detect it."
    ),
    allocation: float = typer.Option(
        None,
        "--allocation",
        help="Share allocated to treatment, P (default: from the design's arm ratios, else 0.5).",
    ),
    distribution: str = typer.Option(
        "t", "--distribution", help="t (df from the design) or normal (large-sample)."
    ),
    alternative: str = typer.Option("two-sided", "--alternative", help="two-sided or one-sided."),
    as_json: bool = typer.Option(False, "--json", help="Print the calculation as JSON."),
) -> None:
    """Minimum detectable effect size (MDES), or the power to detect --effect-size (Bloom 2006)."""
    from analysis.power import design_allocation, mdes, power_for_effect

    if target_power is not None and effect_size is not None:
        _fail(
            "Give --power to solve for the MDES or --effect-size to solve for power, not both. "
            f"Got --power {target_power:g} and --effect-size {effect_size:g} instead."
        )
    # typer vendors its own click, so the ParameterSource enum is compared by name
    source = {
        name: "default" if ctx.get_parameter_source(name).name == "DEFAULT" else "option"
        for name in ("n", "r2", "n_covariates", "alpha", "distribution", "alternative")
    }
    trial = None
    if design is not None:
        try:
            trial = load_design(resolve_design_path(design))
        except DesignError as exc:
            _fail(str(exc))
    if allocation is not None:
        source["allocation"] = "option"
    elif trial is not None:
        # the design's actual allocation: arms with exact counts (n_units) leave 'ratio' at 1
        try:
            allocation, source["allocation"] = design_allocation(
                trial, n_units=clusters if trial.unit == "cluster" else n
            )
        except ValueError as exc:
            _fail(str(exc))
    else:
        allocation, source["allocation"] = 0.5, "default"
    if clusters is not None or cluster_size is not None:
        source["n_clusters"] = "option" if clusters is not None else "n / m"
        source["cluster_size"] = "option" if cluster_size is not None else "n / J"
    elif trial is not None and trial.unit == "cluster":
        if not trial.clusters:
            _fail(
                f"Design '{trial.id}' is a cluster trial that lists no clusters: give --clusters "
                "or --cluster-size. Got neither instead."
            )
        clusters = len(trial.clusters)
        source["n_clusters"] = f"design {trial.id}: {clusters} {trial.cluster_by}s listed"
        source["cluster_size"] = "n / J"
    is_cluster = clusters is not None or (cluster_size is not None and cluster_size != 1)
    if icc is None:
        if is_cluster:
            _fail(
                "A cluster trial's power depends on the intra-cluster correlation: give --icc "
                "(e.g. the primary outcome's ICC from an earlier trial). Got none instead."
            )
        icc = 0.0
    source["icc"] = "option" if is_cluster else "not used: individual randomisation"
    source["unit"] = (
        f"design {trial.id}"
        if trial is not None and trial.unit == ("cluster" if is_cluster else "individual")
        else ("--clusters / --cluster-size" if is_cluster else "default")
    )
    arguments = {
        "n": n,
        "alpha": alpha,
        "allocation": allocation,
        "r2": r2,
        "icc": icc,
        "cluster_size": 1 if cluster_size is None else cluster_size,
        "n_clusters": clusters,
        "n_covariates": n_covariates,
        "distribution": distribution,
        "alternative": alternative,
    }
    try:
        if effect_size is None:
            source["power"] = "option" if target_power is not None else "default"
            result = mdes(power=0.8 if target_power is None else target_power, **arguments)
        else:
            source["effect_size"] = "option"
            result = power_for_effect(effect_size, **arguments)
    except ValueError as exc:
        _fail(str(exc))

    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console.print(_power_table(result, source, trial), highlight=False)
    console.print(_power_sentence(result), highlight=False)


def _percent(share: float) -> str:
    return f"{share * 100:.4g}%"


def _power_table(
    result: PowerCalculation, source: dict[str, str], trial: TrialDesign | None
) -> Table:
    """The inputs, the intermediate quantities and the answer, each with where it came from."""
    is_cluster = result.design == "cluster"
    solving_mdes = result.solved_for == "mdes"
    title = "MDES" if solving_mdes else f"Power to detect d = {result.effect_size:g}"
    table = Table(title=f"{title}{f' for {trial.id}' if trial else ''} ({result.design} trial)")
    for column in ("quantity", "value", "from"):
        table.add_column(column)
    rows = [
        ("unit randomised", result.design, source["unit"]),
        ("n (individuals)", f"{result.n:g}", source["n"]),
    ]
    if is_cluster:
        rows += [
            ("clusters J", f"{result.n_clusters:.4g}", source["n_clusters"]),
            ("cluster size m", f"{result.cluster_size:.4g}", source["cluster_size"]),
            ("ICC", f"{result.icc:g}", source["icc"]),
        ]
    rows += [
        ("allocation P", f"{result.allocation:.4g}", source["allocation"]),
        ("R²", f"{result.r2:g}", source["r2"]),
        ("covariates q", str(result.n_covariates), source["n_covariates"]),
        ("alpha", f"{result.alpha:g}", source["alpha"]),
        ("test", result.alternative, source["alternative"]),
    ]
    if solving_mdes:
        rows.append(("power", _percent(result.power), source["power"]))
    else:
        rows.append(("effect size d", f"{result.effect_size:g}", source["effect_size"]))
    df = "∞ (normal)" if result.df is None else f"{result.df:g}"
    multiplier = result.to_dict()["multiplier"]
    rows += [
        ("design effect", f"{result.design_effect:.4g}", "1 + (m - 1) ICC"),
        (
            "df",
            df,
            "normal approximation"
            if result.df is None
            else ("J - 2 - q" if is_cluster else "n - 2 - q"),
        ),
        (
            "multiplier M",
            "–" if multiplier is None else f"{multiplier:.4f}",
            f"{result.distribution} quantiles ({source['distribution']})",
        ),
        ("SE (SD units)", f"{result.standard_error:.4f}", "√((1-R²) deff / (P(1-P) n))"),
    ]
    if solving_mdes:
        rows.append(("MDES d", _bold(f"{result.effect_size:.3f}"), "M × SE"))
    else:
        rows.append(("power", _bold(f"{result.power:.1%}"), "F(d / SE - critical)"))
    for row in rows:
        table.add_row(*row)
    return table


def _power_sentence(result: PowerCalculation) -> str:
    """The calculation in one plain sentence for a protocol or a funder."""
    if result.design == "cluster":
        clusters, size = result.n_clusters, result.cluster_size
        clusters = f"{clusters:g}" if clusters.is_integer() else f"~{clusters:.3g}"
        size = f"{size:g}" if size.is_integer() else f"~{size:.0f}"
        lead = f"With {clusters} clusters of {size} staff, ICC {result.icc:g} and R² {result.r2:g}"
    else:
        lead = f"With {result.n:g} staff and R² {result.r2:g}"
    if not math.isclose(result.allocation, 0.5):
        lead += f" ({_percent(result.allocation)} allocated to treatment)"
    test = f"at {_percent(result.alpha)} {result.alternative}"
    if result.solved_for == "mdes":
        return (
            f"{lead}, the smallest effect this trial can detect with {_percent(result.power)} "
            f"power {test} is d = {result.effect_size:.2f}."
        )
    return (
        f"{lead}, this trial has {result.power:.0%} power to detect "
        f"d = {result.effect_size:g} {test}."
    )


@app.command()
def diagnose(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    sims: int = typer.Option(1000, "--sims", help="Number of simulations."),
    effect: float = typer.Option(0.2, "--effect", help="True effect in SD units."),
    icc: float = typer.Option(0.05, "--icc", help="Intra-cluster correlation of the outcome."),
    chunk_size: int = typer.Option(50, "--chunk-size", help="Simulations per task."),
    dask_address: str = typer.Option(
        None,
        "--dask-address",
        help="Run on an existing Dask scheduler, e.g. tcp://host:8786 "
        "(default: $TRIALFLOW_DASK_ADDRESS, see flows/settings.py).",
    ),
    dask_workers: int = typer.Option(
        0, "--dask-workers", help="Start a local Dask cluster with this many worker processes."
    ),
) -> None:
    """Simulation-based design diagnosis: power, bias, RMSE and coverage of each estimator."""
    if not 1 <= sims <= MAX_SIMULATIONS:
        # before the flow and its temporary Prefect server (~38 s): chunk_seeds says
        # the same, but only once the flow has started
        _fail(
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
        _fail(str(exc))
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


@app.command()
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
) -> None:
    """Run the pre-specified analysis and write results.json (schema: analysis/results.schema.json).

    With --covariates/--se-type and --label, run an exploratory reanalysis instead.
    """
    if ri_draws is not None and not 0 <= ri_draws <= MAX_RI_DRAWS:
        # before the flow and its temporary Prefect server (~38 s); analyse_flow says the same
        _fail(f"'--ri-draws' must be between 0 and {MAX_RI_DRAWS}. Got {ri_draws} instead.")
    from analysis.exploratory import parse_covariates
    from flows.analyse import analyse_flow

    try:
        result = analyse_flow(
            str(design),
            str(data) if data else None,
            str(out) if out else None,
            ri_draws,
            covariates=None if covariates is None else list(parse_covariates(covariates)),
            se_type=se_type,
            label=label,
        )
    except (DesignError, LookupError, ValueError) as exc:
        _fail(str(exc))
    if label is not None:
        console.print(
            f"EXPLORATORY analysis '{label}' (not the pre-specified one):", highlight=False
        )
    console.print(f"wrote {result['results']}")


@app.command()
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
        _fail(str(exc))
    for trial, paths in result["reports"].items():
        console.print(f"{trial}: {result['headlines'][trial]}", highlight=False)
        console.print(f"  {'  '.join(paths.values())}", highlight=False)
    if result["portfolio"]:
        console.print(f"portfolio: {'  '.join(result['portfolio'].values())}", highlight=False)


@app.command()
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
        _fail(str(exc))
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


# == coordinator commands (status, withdraw, costs) =======================================
@app.command()
def status(
    trial: str = typer.Argument(..., help="The trial id (as in the store), e.g. letters."),
    drop: Path = typer.Option(
        None, "--drop", help="The trial's drop folder (default <TRIALFLOW_HOME>/drop/<trial>)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Where a trial stands: arms, each stage's last run, files waiting, quarantine, what needs attention.

    Reads the store directly (no Prefect flow), so it answers in about a second.
    """
    from flows.status import UnknownTrialError, trial_status

    try:
        summary = trial_status(_trial_id(trial), drop=str(drop) if drop else None)
    except UnknownTrialError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    _print_status(summary)


@app.command()
def withdraw(
    trial: str = typer.Argument(..., help="The trial id (as in the store), e.g. letters."),
    participant: str = typer.Argument(..., help="The participant's id, as in the roster."),
    reason: str = typer.Option(
        ..., "--reason", help="Why the participant withdrew (goes into the audit log)."
    ),
    on: str = typer.Option(
        None,
        "--on",
        help="The day they withdrew, YYYY-MM-DD, if earlier than today: deliveries after it "
        "are quarantined.",
    ),
) -> None:
    """Withdraw a participant: no more letters or deliveries; they stay in the ITT analysis and CONSORT."""
    from flows.withdraw import withdraw_participant

    try:
        done = withdraw_participant(_trial_id(trial), participant, reason=reason, effective=on)
    except (LookupError, ValueError) as exc:  # AlreadyWithdrawnError is a ValueError
        _fail(str(exc))
    console.print(
        f"{done['participant_id']} withdrawn from {done['trial_id']} (arm {done['arm']}) by "
        f"{done['who']}; logged in the audit log. They stay in the ITT analysis and the CONSORT "
        "counts; no more letters or deliveries go to them.",
        highlight=False,
        markup=False,
    )


@app.command()
def amend(
    trial: str = typer.Argument(..., help="The trial id (as in the store), e.g. letters."),
    design: str = typer.Option(..., "--design", help="The amended design YAML."),
    reason: str = typer.Option(..., "--reason", help="Why the design changes (audit log)."),
) -> None:
    """Record a deliberate design change; refused if it would change how units were allocated."""
    from flows.integrity import amend_flow

    try:
        done = amend_flow(trial, str(design), reason)
    except (DesignError, LookupError) as exc:
        _fail(str(exc))
    console.print(
        f"{done['trial']}: design {done['old_hash'][:12]} -> {done['new_hash'][:12]}, amended by "
        f"{done['who']} at {done['at']} UTC; recorded in the amendments table and the audit log.",
        highlight=False,
        markup=False,
    )
    for line in done["changes"]:
        console.print(f"  {line}", highlight=False, markup=False)


audit_app = typer.Typer(help="Check the audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    trial: str = typer.Argument(None, help="Count this trial's rows (the whole chain is checked)."),
) -> None:
    """Walk the audit log's hash chain; name every edited, inserted or deleted row (exit 1)."""
    from flows.audit import verify_audit_chain
    from flows.store import Store

    if trial is not None:
        store = Store()
        if store.trial(trial) is None and not len(store.audit(trial)):
            _fail(
                f"The trial '{trial}' is not known: unknown trial (no trial and no audit rows "
                "by that id in the store)."
            )
    check = verify_audit_chain(None, trial)
    scope = f"{check.trial_rows} rows of trial '{trial}' among " if trial else ""
    if check.ok:
        console.print(
            f"Audit chain intact: {scope}{check.rows} rows verified; head hash {check.head_hash}. "
            "Keep the head hash elsewhere to detect a rewrite of the whole chain.",
            highlight=False,
            markup=False,
        )
        return
    for problem in check.problems:
        console.print(f"  {problem.line()}", highlight=False, markup=False)
    _fail(
        f"The audit chain is broken: {len(check.problems)} problem(s) in {check.rows} rows "
        "(listed above)."
    )


@app.command()
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
        _fail(str(exc))
    headline, *sentences = _costs_lines(result)
    console.print(headline, highlight=False)
    if not result.get("summary"):
        return
    for sentence in sentences:
        console.print(f"  {sentence}", highlight=False)
    for name, path in result["files"].items():
        # a path wrapped over two lines cannot be copied
        console.print(f"{name}: {path}", highlight=False, markup=False, soft_wrap=True)


def _trial_id(trial: str) -> str:
    """A trial id as given, or the id inside a design file given instead."""
    if trial.endswith((".yaml", ".yml")):
        try:
            return load_design(Path(trial)).id
        except DesignError as exc:
            _fail(str(exc))
    return trial


def _print_status(summary: dict) -> None:
    """The status as four small tables and a list, in the order a coordinator reads them."""
    head = summary["trial"]
    console.print(
        Text.assemble(
            _bold(head["id"]),
            f": {head['title']} (round {head['round']}, design {head['design_hash'][:12]})",
        ),
        highlight=False,
    )
    arms = Table(title="Arms")
    for column in ("arm", "units", "participants", "late entrants", "withdrawn"):
        arms.add_column(column, justify="left" if column == "arm" else "right")
    for row in summary["arms"]:
        arms.add_row(
            row["arm"],
            *[str(row[k]) for k in ("units", "participants", "late_entrants", "withdrawn")],
        )
    console.print(arms)
    stages = Table(title="Stages: last run")
    for column in ("stage", "last run", "status", "result"):
        stages.add_column(column)
    for row in summary["stages"]:
        colour = {"failed": "red", "completed": "green"}.get(row["status"], "dim")
        stages.add_row(
            row["stage"],
            row["last_run"],
            _bold(row["status"], colour),
            row["result"],
        )
    console.print(stages)
    if summary["drop"]:
        drop = Table(title=f"Drop folder {summary['drop_folder']}")
        for column in ("file", "kind", "status"):
            drop.add_column(column)
        for row in summary["drop"]:
            drop.add_row(row["file"], row["kind"], row["status"])
        console.print(drop)
    else:
        console.print(f"Drop folder {summary['drop_folder']}: no input files.", highlight=False)
    if summary["quarantine"]:
        held = Table(title="Quarantined rows")
        for column in ("kind", "rule", "rows"):
            held.add_column(column, justify="right" if column == "rows" else "left")
        for row in summary["quarantine"]:
            held.add_row(row["kind"], row["rule"], str(row["rows"]))
        console.print(held)
    outcomes = ", ".join(f"{r['timepoint']} {r['participants']}" for r in summary["outcomes"])
    events = summary["events"]
    console.print(
        f"Delivery events: {events['delivery_events']} ({events['contaminated']} contaminated, "
        f"{events['letters_logged']} letters logged). Outcomes (participants): "
        f"{outcomes or 'none yet'}.",
        highlight=False,
    )
    if summary["attention"]:
        console.print(_bold("Needs attention:"))
        for item in summary["attention"]:
            console.print(f"  - {item}", highlight=False)
    else:
        console.print("Nothing needs attention.")


# == the background Prefect server =========================================================
server_app = typer.Typer(
    help="A Prefect server kept running in the background under TRIALFLOW_HOME; every "
    "flow command uses it while it runs (no 10-20 s temporary server per command).",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start(
    port: int = typer.Option(4200, "--port", help="Port on 127.0.0.1 (the UI is served there)."),
) -> None:
    """Start the Prefect server in the background (pid, port and log in <home>/prefect/server.*)."""
    from flows.server import ServerError, server_status, start_server

    already = server_status()
    try:
        info = start_server(port)
    except ServerError as exc:
        _fail(str(exc))
    state = "already running" if already else "started"
    console.print(
        f"Prefect server {state} (pid {info.pid}): UI {info.url}, log {info.log}. Flow commands "
        "use it until `trialflow server stop`.",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@server_app.command("stop")
def server_stop() -> None:
    """Stop the background Prefect server (its whole process group)."""
    from flows.server import stop_server

    info = stop_server()
    console.print(
        f"Prefect server (pid {info.pid}, port {info.port}) stopped."
        if info
        else "No Prefect server was running.",
        highlight=False,
        markup=False,
    )


@server_app.command("status")
def server_status_command() -> None:
    """Whether the background Prefect server runs and answers (exit 1 if not)."""
    from flows.server import server_files, server_status

    info = server_status()
    if info is None:
        _fail(
            f"No Prefect server is running under {server_files()['pid'].parent}: flow commands "
            "use a temporary one. Start one with `trialflow server start`."
        )
    if not info.healthy:
        _fail(
            f"The Prefect server (pid {info.pid}) runs but does not answer on {info.url}/api/health; "
            f"see {info.log}, or `trialflow server stop` and start it again."
        )
    console.print(
        f"Prefect server running (pid {info.pid}): UI {info.url}, log {info.log}.",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@contextmanager
def progress_bars(*, enabled: bool | None = None) -> Iterator[None]:
    """Draw a bar for each piece of long work the flows report (flows.progress), on stderr.

    Only on a terminal (``enabled=None`` asks stderr): piped output, logs and
    CI stay free of control codes.  A bar disappears when its work is done.
    """
    import sys

    from flows.progress import listening

    if not (sys.stderr.isatty() if enabled is None else enabled):
        yield
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bars = Progress(
        TextColumn("{task.description}", markup=False),  # names files: data, not markup
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    started: dict[str, object] = {}

    def listener(label: str, done: int, total: int) -> None:
        if label not in started:
            started[label] = bars.add_task(label, total=total)
        bars.update(started[label], completed=done, total=total, visible=done < total)

    with bars, listening(listener):
        yield


def main() -> None:  # pragma: no cover - console entry point
    """The console script: quiet logging, one ``error:`` line per failure, distinct exit codes."""
    from flows.logs import configure_cli_logging, log_path

    configure_cli_logging()
    try:
        with progress_bars():
            app()
    except KeyboardInterrupt:
        err_console.print("[bold red]error:[/] interrupted.", highlight=False)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a wall
        import logging

        logging.getLogger("trialflow").error("Unexpected error", exc_info=exc)
        message = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else ""
        err_console.print(
            f"[bold red]error:[/] internal error {rich_escape(type(exc).__name__)}"
            f"{': ' + rich_escape(message) if message else ''}. This is trialflow's fault, not "
            f"your input's; the traceback is in {rich_escape(str(log_path()))}",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":  # pragma: no cover
    main()
