"""Small shared pieces of the flows: resolving designs, output folders, task retries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.settings import (
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    get_current_settings,
    temporary_settings,
)

from flows.settings import get_settings
from trial_designs.design import TrialDesign, load_design

__all__ = [
    "IO_RETRIES",
    "embedded_prefect",
    "load_design_task",
    "output_dir",
    "resolve_design_path",
]

#: I/O tasks retry; statistical tasks never do.
IO_RETRIES = {"retries": 2, "retry_delay_seconds": 1}


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


@task(name="load design", cache_policy=NO_CACHE)
def load_design_task(design: str | Path) -> TrialDesign:
    return load_design(resolve_design_path(design))


def output_dir(trial_id: str, *parts: str) -> Path:
    """``<TRIALFLOW_HOME>/out/<trial>/...``, created."""
    path = get_settings().out_dir(trial_id).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def embedded_prefect() -> Iterator[None]:
    """Run flows on Prefect's temporary server without flow-run heartbeats.

    Heartbeats let a server mark runs whose worker died as crashed.  Without
    ``PREFECT_API_URL`` the server is a temporary one that lives and dies with
    this process, so nothing can watch them, and each flow run's end would wait
    up to a second for its heartbeat thread (measured: an empty subflow takes
    1.3 s with heartbeats, 0.3 s without).  With a real server, nothing changes.
    """
    if get_current_settings().api.url:
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
