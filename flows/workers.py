"""Worker processes that run the demo's trials for a parent process, started before Prefect is.

This module imports only the standard library (and :mod:`flows.logs`), so the
command line can start the workers, and Prefect's temporary server, before it
imports the flows: the workers import the statistics and reporting libraries
(seconds each) while the server creates its database, instead of after.

A spawned worker runs :func:`start_worker` first: it logs to the log file only
and imports what every trial needs, but not Prefect.  Each trial then runs in
:func:`run_demo_trial`, which gives the worker the parent's Prefect API before
the worker's first import of Prefect.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

__all__ = ["current_pool", "demo_pool", "demo_processes", "run_demo_trial", "start_worker"]

#: What a trial imports that does not need Prefect's settings (measured: seconds each).
WARM_MODULES = (
    "pandas",
    "scipy.stats",
    "sklearn.linear_model",
    "analysis.results",
    "reports.render",
)

_POOL: list[ProcessPoolExecutor] = []

#: How often a worker checks that the process that started it is still alive.
PARENT_CHECK_SECONDS = 0.5


def demo_processes(trials: int = 4) -> int:
    """Worker processes for the demo: one per core, at most one per trial; 1 runs in-process."""
    return max(1, min(trials, os.cpu_count() or 1))


def _exit_with(parent: int) -> None:
    # A worker whose parent died (kill -9, a closed terminal) would run the rest of its
    # trial with nobody waiting for it: it ends at once instead, as the parent did, and
    # its open transaction rolls back as a killed parent's does.
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def start_worker(environ: dict[str, str], parent: int) -> None:
    """In a new worker: adopt ``environ``, log to the log file only, import the heavy libraries.

    The worker also ends as soon as ``parent`` (the process that started it) is gone.
    """
    threading.Thread(
        target=_exit_with, args=(parent,), name="exit-with-parent", daemon=True
    ).start()
    os.environ.update(environ)
    from flows.logs import configure_cli_logging

    configure_cli_logging()
    for name in WARM_MODULES:
        importlib.import_module(name)


def run_demo_trial(name: str, pdf: bool, api_url: str | None) -> dict:
    """One trial of the demo in a worker, against the parent's Prefect API."""
    if api_url and "prefect" not in sys.modules:
        os.environ["PREFECT_API_URL"] = api_url  # read when Prefect is imported, just below
    from flows.demo import run_trial_here

    return run_trial_here(name, pdf)


@contextmanager
def demo_pool(processes: int) -> Iterator[ProcessPoolExecutor | None]:
    """``processes`` spawned workers, warming up at once; :func:`current_pool` returns them."""
    if processes < 2:
        yield None
        return
    import multiprocessing

    pool = ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),  # no copy of the parent's threads
        initializer=start_worker,
        initargs=({}, os.getpid()),
    )
    # A pool starts its processes on the first submit: start them now, so they warm up.
    for _ in range(processes):
        pool.submit(os.getpid)
    _POOL.append(pool)
    try:
        yield pool
    finally:
        _POOL.remove(pool)
        pool.shutdown(wait=True, cancel_futures=True)


def current_pool() -> ProcessPoolExecutor | None:
    """The pool of the enclosing :func:`demo_pool`, if any."""
    return _POOL[-1] if _POOL else None
