"""The audit log's check and the background Prefect server: ``audit`` and ``server``."""

from __future__ import annotations

import typer

from flows.cli.base import console, fail

__all__ = [
    "audit_app",
    "audit_verify",
    "server_app",
    "server_start",
    "server_status_command",
    "server_stop",
]

audit_app = typer.Typer(help="Check the audit log.", no_args_is_help=True)


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
            fail(
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
    fail(
        f"The audit chain is broken: {len(check.problems)} problem(s) in {check.rows} rows "
        "(listed above)."
    )


server_app = typer.Typer(
    help="A Prefect server kept running in the background under TRIALFLOW_HOME; every "
    "flow command uses it while it runs (no 10-20 s temporary server per command).",
    no_args_is_help=True,
)


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
        fail(str(exc))
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
        fail(
            f"No Prefect server is running under {server_files()['pid'].parent}: flow commands "
            "use a temporary one. Start one with `trialflow server start`."
        )
    if not info.healthy:
        fail(
            f"The Prefect server (pid {info.pid}) runs but does not answer on {info.url}/api/health; "
            f"see {info.log}, or `trialflow server stop` and start it again."
        )
    console.print(
        f"Prefect server running (pid {info.pid}): UI {info.url}, log {info.log}.",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
