"""Commands that set a trial up and look after it: randomise, enrol, simulate, schema,
validate, status, withdraw and amend."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from flows.cli.base import bold, console, fail
from flows.tasks import resolve_design_path
from trial_designs.design import (
    DesignError,
    design_json_schema,
    load_design,
)

__all__ = [
    "amend",
    "enrol",
    "randomise",
    "schema",
    "simulate",
    "status",
    "validate",
    "withdraw",
]


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
    cycle: int = typer.Option(
        None,
        "--cycle",
        help="Randomise this learning cycle's new cohort (2, 3, ...): people an earlier cycle "
        "randomised are skipped and keep their allocation.",
    ),
) -> None:
    """Randomise a roster under a design, store the allocation and write the coordinator's list."""
    from flows.randomise import preview_randomisation, randomise_flow
    from flows.sources import SourceError
    from flows.store import AlreadyRandomisedError
    from intake.roster import RosterError

    if cycle is not None:
        if force or dry_run:
            fail("--cycle randomises a new cohort once; it takes neither --force nor --dry-run.")
        _randomise_cycle(design, roster, cycle)
        return
    try:
        if dry_run:
            result = preview_randomisation(str(design), str(roster))
        else:
            result = randomise_flow(str(design), str(roster), force=force, reason=reason)
    except (DesignError, RosterError, SourceError, AlreadyRandomisedError, ValueError) as exc:
        fail(getattr(exc, "report", str(exc)))  # a roster's problems with their values
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


def _randomise_cycle(design: str, roster: Path, cycle: int) -> None:
    """``randomise --cycle N``: the cycle's new cohort, with the people it skipped named."""
    from flows.cycles import CycleError, cycle_randomise_flow
    from flows.sources import SourceError
    from intake.roster import RosterError

    try:
        result = cycle_randomise_flow(str(design), str(roster), cycle)
    except (DesignError, RosterError, SourceError, CycleError) as exc:
        fail(getattr(exc, "report", str(exc)))
    table = Table(
        title=f"{result['trial']}: {result['units']} new participants randomised in cycle "
        f"{result['cycle']} ({result['cycle_name']})"
    )
    counts = result["counts"]
    for column in counts[0]:
        table.add_column(str(column))
    for row in counts:
        table.add_row(*[str(v) for v in row.values()])
    console.print(table)
    if result["skipped_message"]:
        console.print(result["skipped_message"], highlight=False, markup=False, soft_wrap=True)
    console.print(f"Coordinator's allocation list: {result['allocation_list']}", soft_wrap=True)


def enrol(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
    roster: Path = typer.Option(
        ..., "--roster", help="New staff (CSV or XLSX), same columns as the roster."
    ),
) -> None:
    """Allocate late entrants (new starters, new buildings) from the concealed sequence."""
    from flows.randomise import enrol_flow
    from flows.sources import SourceError
    from intake.roster import RosterError

    try:
        result = enrol_flow(str(design), str(roster))
    except (DesignError, RosterError, SourceError, LookupError) as exc:
        fail(getattr(exc, "report", str(exc)))  # a roster's problems with their values
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
        fail(str(exc))
    for path in written:
        console.print(f"wrote {path}")


def schema(out: Path = typer.Option(Path("trial_designs/design.schema.json"), "--out")) -> None:
    """Export the JSON Schema of design files (for editor autocompletion)."""
    from flows.safe_io import write_text

    write_text(out, json.dumps(design_json_schema(), indent=2, sort_keys=True) + "\n")
    console.print(f"wrote {out}")


def validate(
    design: str = typer.Argument(..., help="Design YAML, or the id of a packaged design."),
) -> None:
    """Check a design file and print its hash."""
    try:
        trial = load_design(resolve_design_path(design))
    except DesignError as exc:
        fail(str(exc))
    console.print(f"{trial.id}: valid; design hash {trial.design_hash}")


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
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    _print_status(summary)


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
        fail(str(exc))
    console.print(
        f"{done['participant_id']} withdrawn from {done['trial_id']} (arm {done['arm']}) by "
        f"{done['who']}; logged in the audit log. They stay in the ITT analysis and the CONSORT "
        "counts; no more letters or deliveries go to them.",
        highlight=False,
        markup=False,
    )


def amend(
    trial: str = typer.Argument(..., help="The trial id (as in the store), e.g. letters."),
    design: str = typer.Option(..., "--design", help="The amended design YAML."),
    reason: str = typer.Option(..., "--reason", help="Why the design changes (audit log)."),
    after_outcomes: bool = typer.Option(
        False,
        "--after-outcomes",
        help="Allow changing the analysis plan once outcome data are stored (the report says so).",
    ),
) -> None:
    """Record a deliberate design change; refused if it would change how units were allocated."""
    from flows.integrity import amend_flow

    try:
        done = amend_flow(trial, str(design), reason, after_outcomes)
    except (DesignError, LookupError) as exc:
        fail(str(exc))
    console.print(
        f"{done['trial']}: design {done['old_hash'][:12]} -> {done['new_hash'][:12]}, amended by "
        f"{done['who']} at {done['at']} UTC; recorded in the amendments table and the audit log.",
        highlight=False,
        markup=False,
    )
    for line in done["changes"]:
        console.print(f"  {line}", highlight=False, markup=False)


def _trial_id(trial: str) -> str:
    """A trial id as given, or the id inside a design file given instead."""
    if trial.endswith((".yaml", ".yml")):
        try:
            return load_design(Path(trial)).id
        except DesignError as exc:
            fail(str(exc))
    return trial


def _print_status(summary: dict) -> None:
    """The status as four small tables and a list, in the order a coordinator reads them."""
    head = summary["trial"]
    console.print(
        Text.assemble(
            bold(head["id"]),
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
            bold(row["status"], colour),
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
        console.print(bold("Needs attention:"))
        for item in summary["attention"]:
            console.print(f"  - {item}", highlight=False)
    else:
        console.print("Nothing needs attention.")
