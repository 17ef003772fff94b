"""Progress of long work, for whoever is watching: the CLI's progress bars, else nobody.

Long work (letters, report rendering, big ingests, the analysis with its
randomisation-inference draws, design diagnosis) takes an
``on_progress(done, total)`` callback.  Pure code takes it as an argument and
knows nothing else; flows get theirs from :func:`progress_callback`, which
forwards to the listener the command line installed with :func:`listening`,
and does nothing when none is installed (deployments, tests, CI).  Nothing
here prints: drawing bars is the CLI's job, and only on a terminal.

A flow's parameters must be JSON for Prefect, so the listener cannot travel
as a flow parameter; it is process-wide instead, which also reaches tasks
that Prefect runs in worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

__all__ = ["OnProgress", "listening", "no_progress", "progress_callback"]

#: ``on_progress(done, total)``: ``done`` of ``total`` steps of one piece of work are finished.
OnProgress = Callable[[int, int], None]

#: ``listener(label, done, total)``
Listener = Callable[[str, int, int], None]

_lock = threading.Lock()
_listener: Listener | None = None


def no_progress(done: int, total: int) -> None:
    """The callback that reports nothing (the default of every ``on_progress`` argument)."""


def progress_callback(label: str) -> OnProgress:
    """An ``on_progress(done, total)`` for one piece of work, labelled as the user sees it.

    The listener is looked up at each call, and its failures are swallowed:
    a broken progress bar must never break the work it watches.
    """

    def on_progress(done: int, total: int) -> None:
        listener = _listener
        if listener is None:
            return
        with suppress(Exception):  # see the docstring
            listener(label, int(done), int(total))

    return on_progress


@contextmanager
def listening(listener: Listener | None) -> Iterator[None]:
    """Send every progress report to ``listener(label, done, total)`` inside the block."""
    global _listener
    with _lock:
        before, _listener = _listener, listener
    try:
        yield
    finally:
        with _lock:
            _listener = before
