"""The command line's logging: everything to ``<TRIALFLOW_HOME>/logs/trialflow.log``, nothing on the console.

A command's console output is its answer (a table, the paths it wrote) or one
``error:`` line.  Prefect's run log, library warnings and tracebacks go to the
log file, where a coordinator or a developer can read them when asked to.

Why each piece:

- Prefect's console handler printed every task's state, a rejected file's
  message five times and two tracebacks.  When the root logger already has a
  handler of the user's, Prefect's ``setup_logging`` leaves the root logger
  alone, so installing the file handler *before* Prefect is imported keeps
  Prefect's console handler off it (nothing of Prefect's is patched).
- Python warnings (sklearn's ``LinAlgWarning`` from an ill-conditioned
  imputation, WeasyPrint's notices) are captured into the log
  (``logging.captureWarnings``): a coordinator cannot act on them, and the
  analysis records what matters in results.json.
- WeasyPrint warns once per font per PDF that it subsets fonts with fontTools
  because the system library HarfBuzz-Subset is missing (967 lines in one
  demo).  The PDF is the same either way, so that one message is dropped; any
  other WeasyPrint warning still reaches the log.
- Prefect's temporary server is a child process that inherits the console; its
  own logger levels are raised so its shutdown chatter (``CancelledError``,
  "Error flushing events") stays off the console.

This module imports only the standard library.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from flows.settings import get_settings

__all__ = [
    "HarfBuzzSubsetNotice",
    "configure_cli_logging",
    "echo_to_stderr",
    "log_path",
    "quiet_temporary_server",
    "quiet_weasyprint",
]

_MARK = "_trialflow_handler"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def log_path() -> Path:
    """``<TRIALFLOW_HOME>/logs/trialflow.log``."""
    return get_settings().home / "logs" / "trialflow.log"


class HarfBuzzSubsetNotice(logging.Filter):
    """Drop WeasyPrint's 'Using fontTools instead of HarfBuzz-Subset' notice (benign, one per font per PDF)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "instead of HarfBuzz-Subset" not in str(record.msg)


def quiet_weasyprint() -> None:
    """Install :class:`HarfBuzzSubsetNotice` on WeasyPrint's logger (idempotent)."""
    logger = logging.getLogger("weasyprint")
    if not any(isinstance(f, HarfBuzzSubsetNotice) for f in logger.filters):
        logger.addFilter(HarfBuzzSubsetNotice())


def _ours(handler: logging.Handler) -> bool:
    return getattr(handler, _MARK, False)


def configure_cli_logging(path: Path | None = None) -> Path:
    """Send the process's logging and warnings to the log file; nothing to the console.

    Call before Prefect is imported (see the module docstring).  Idempotent.
    """
    path = path or log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if _ours(h)]:
        root.removeHandler(handler)
        handler.close()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=5_000_000, backupCount=3, encoding="utf-8", delay=True
    )
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(logging.INFO)
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # other libraries: warnings and errors only
    logging.getLogger("trialflow").setLevel(logging.INFO)
    logging.captureWarnings(True)
    quiet_weasyprint()
    return path


def quiet_temporary_server() -> None:
    """Keep the temporary server's (a child process's) log off the console; an explicit setting wins."""
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def echo_to_stderr() -> None:
    """``--verbose``: also show the log (INFO and above) on stderr."""
    root = logging.getLogger()
    if any(
        _ours(h) and isinstance(h, logging.StreamHandler) and h.stream is sys.stderr
        for h in root.handlers
    ):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    handler.setLevel(logging.INFO)
    setattr(handler, _MARK, True)
    root.addHandler(handler)
