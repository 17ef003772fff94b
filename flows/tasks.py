"""Small shared pieces of the flows: resolving designs, output folders, task retries.

This module imports no Prefect at import time, so the command line can
resolve a design without paying for Prefect: ``load_design_task`` is built on
first use (module ``__getattr__``) and ``embedded_prefect`` imports Prefect's
settings when it is entered.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flows.settings import get_settings
from trial_designs.design import load_design

__all__ = [
    "IO_RETRIES",
    "NOT_TRANSIENT",
    "embedded_prefect",
    "load_design_once",
    "load_design_task",  # noqa: F822 - built on first use by __getattr__
    "output_dir",
    "resolve_design_path",
    "retry_if_transient",
]

#: Failures that happen the same way on every try: a file or value that is wrong, a
#: refusal, a bug.  Retrying them only delays (and repeats) the message.
NOT_TRANSIENT: tuple[type[BaseException], ...] = (
    ValueError,  # SourceError, RosterError, DesignError and every rejected value
    LookupError,  # unknown trial, participant or column
    TypeError,
    AttributeError,
    NameError,
    AssertionError,
    NotImplementedError,
    FileNotFoundError,  # a file that is not there will not appear in a second
    IsADirectoryError,
    NotADirectoryError,
)


def retry_if_transient(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's hook signature
    """Retry an I/O task only when its failure may pass (a locked database, a full disk, a network share).

    A rejected file, an unknown id or the store's refusal to randomise twice
    fail the same way every time, so they are not retried.
    """
    try:
        state.result()
    except NOT_TRANSIENT:
        return False
    except Exception as exc:  # noqa: BLE001 - anything else may be transient
        from flows.store import AlreadyRandomisedError

        return not isinstance(exc, AlreadyRandomisedError)
    return False


#: I/O tasks retry, transient failures only; statistical tasks never do.
IO_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": 1,
    "retry_condition_fn": retry_if_transient,
}


def resolve_design_path(design: str | Path) -> Path:
    """A design file path, or a design id looked up in the designs folder, then the packaged designs.

    ``coffee`` -> ``$TRIALFLOW_DESIGNS_DIR/coffee.yaml`` if it exists, else
    ``trial_designs/coffee.yaml`` (see :mod:`flows.settings`).
    """
    path = Path(design)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    found = get_settings().design_file(str(design))
    return found if found is not None else path


#: Designs already parsed in this process, by resolved path and the file's bytes.
_DESIGNS: dict[tuple[str, bytes], Any] = {}
_DESIGNS_KEPT = 32


def load_design_once(path: str | Path):  # noqa: ANN201 - a TrialDesign
    """:func:`trial_designs.design.load_design`, parsed once per process while the file is unchanged.

    A trial's stages each resolve its design (the demo: about 45 times over
    four trials), and parsing the YAML and validating it costs tens of
    milliseconds each time.  The key is the file's bytes, so an edited file
    is parsed again; a file that cannot be read or is rejected is never
    kept, so ``load_design`` gives its own message each time.  The design is
    frozen, so sharing one object is safe.
    """
    path = Path(path)
    try:
        key = (str(path.resolve()), path.read_bytes())
    except OSError:
        return load_design(path)  # its message names the problem
    found = _DESIGNS.get(key)
    if found is None:
        found = load_design(path)
        if len(_DESIGNS) >= _DESIGNS_KEPT:
            _DESIGNS.pop(next(iter(_DESIGNS)))
        _DESIGNS[key] = found
    return found


def _make_load_design_task():  # noqa: ANN202 - a Prefect task
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    @task(name="load design", cache_policy=NO_CACHE)
    def load_design_task(design: str | Path):  # noqa: ANN202 - returns a TrialDesign
        return load_design_once(resolve_design_path(design))

    return load_design_task


def __getattr__(name: str) -> Any:
    # The task is built on first use so that importing this module imports no Prefect.
    if name == "load_design_task":
        value = globals()["load_design_task"] = _make_load_design_task()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def output_dir(trial_id: str, *parts: str) -> Path:
    """``<TRIALFLOW_HOME>/out/<trial>/...``, created.

    Raises
    ------
    flows.safe_io.UnsafePathError
        When ``trial_id`` is not a valid trial id or a part climbs out of the folder.
    """
    from flows.safe_io import check_trial_id, inside

    base = get_settings().out_dir(check_trial_id(trial_id))
    path = inside(base, str(Path(*parts))) if parts else base
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def embedded_prefect(*, heartbeats: bool | None = None) -> Iterator[None]:
    """Run flows without flow-run heartbeats where nothing needs them.

    Heartbeats let a server mark runs whose worker died as crashed.  Without
    ``PREFECT_API_URL`` the server is a temporary one that lives and dies with
    this process, so nothing can watch them, and each flow run's end would wait
    up to a second for its heartbeat thread (measured: an empty subflow takes
    1.3 s with heartbeats, 0.3 s without).  ``heartbeats=None`` keeps them
    with a real server; ``False`` turns them off there too (the command line:
    the command runs its flows in the foreground and reports each end itself;
    the demo runs about 70 flow runs).  Runs started by a worker are not
    affected.
    """
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    if heartbeats or (heartbeats is None and get_current_settings().api.url):
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
