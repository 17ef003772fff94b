"""What every command shares: the app, the consoles, the one-line error, exit codes, main.

Commands are registered on :data:`app` in :mod:`flows.cli` (the package's ``__init__``),
in the order ``trialflow --help`` lists them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape as rich_escape
from rich.text import Text

import flows  # noqa: F401 - sets Prefect defaults before Prefect is imported

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "LIGHT_COMMANDS",
    "app",
    "bold",
    "console",
    "err_console",
    "fail",
    "main",
    "progress_bars",
]

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
#: 'Team [a]' keeps its '[a]'. Styled words are Text objects (see bold).
console = Console(markup=False)
#: Errors go to stderr, so output piped into a file stays clean.
err_console = Console(stderr=True)


def bold(text: object, style: str = "bold") -> Text:
    """``text`` styled, taken literally (no markup), for the markup-free console."""
    return Text(str(text), style=style)


def fail(message: str, code: int = EXIT_REJECTED) -> None:
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

    from flows.logs import quiet_temporary_server
    from flows.server import running_api_url
    from flows.tasks import embedded_prefect

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
