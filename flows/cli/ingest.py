"""Commands that take data in: delivery logs, letters, uptake, outcome files and the export."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from flows.cli.base import bold, console, fail
from trial_designs.design import (
    DesignError,
)

__all__ = [
    "deliveries_app",
    "deliveries_ingest",
    "export",
    "letters",
    "outcomes_app",
    "outcomes_ingest",
    "uptake",
]

deliveries_app = typer.Typer(help="Ingest intervention delivery logs.", no_args_is_help=True)


@deliveries_app.command("ingest")
def deliveries_ingest(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    file: Path = typer.Argument(..., help="Delivery-log export (CSV or XLSX)."),
    intervention: str | None = typer.Option(
        None,
        "--intervention",
        help="Whose log it is: needed when the design declares several interventions "
        "(one per active arm).",
    ),
) -> None:
    """Check and store a delivery log; bad rows go to quarantine, re-ingesting adds nothing."""
    from flows.deliveries import deliveries_ingest_flow
    from flows.sources import SourceError

    try:
        result = deliveries_ingest_flow(str(design), str(file), intervention)
    except (DesignError, SourceError, LookupError, ValueError) as exc:
        fail(str(exc))
    console.print(result["summary"], highlight=False)
    if result.get("quarantine_report"):
        console.print(f"Quarantined rows and reasons: {result['quarantine_report']}")
    if result.get("contaminated_units"):
        console.print(
            Text.assemble(
                bold(f"{result['contaminated_units']} control-arm unit(s)"),
                " received the intervention; their events are flagged as contaminated.",
            )
        )


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
        fail(str(exc))
    console.print(f"{result['letters']} letter(s) written to {result['folder']}")
    console.print(f"Print manifest: {result['manifest']}")
    if result["problems"]:
        table = Table(title=f"{len(result['problems'])} row(s) without a letter")
        for column in ("participant_id", "rule", "message"):
            table.add_column(column)
        for row in result["problems"]:
            table.add_row(row["participant_id"], row["rule"], row["message"])
        console.print(table)


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
        fail(str(exc))
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


outcomes_app = typer.Typer(
    help="Ingest outcome data: surveys and HR extracts.", no_args_is_help=True
)


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
        fail(str(exc))
    console.print(result["summary"])
    if result.get("validation_report"):
        console.print(f"Validation report: {result['validation_report']}")


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
        fail(str(exc))
    for path in written:
        console.print(f"wrote {path}")
