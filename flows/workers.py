"""Start-up of worker processes that run flows for a parent (the demo's trials run in two).

This module imports only the standard library and :mod:`flows.logs`: a spawned
worker runs :func:`start_worker` before it imports Prefect, so the settings
it is given (the parent's API) and the quiet logging take effect.
"""

from __future__ import annotations

import os

__all__ = ["start_worker"]


def start_worker(environ: dict[str, str]) -> None:
    """Adopt the parent's Prefect API (and any other variables), and log to the log file only."""
    os.environ.update(environ)
    from flows.logs import configure_cli_logging

    configure_cli_logging()
