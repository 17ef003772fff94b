"""Where the chunks of a computation run: here, one after another, or on a Dask cluster.

The analysis exposes pure functions over chunks (simulations of a design
diagnosis, replicate blocks of the cost-effectiveness bootstrap) whose result
depends only on the chunk and its seed.  This module decides where they run:
in this process, on a local cluster of worker processes (``--dask-workers``)
or on an existing scheduler (``--dask-address``).  Since a chunk carries its
own seed, the results are the same bits wherever it ran.

Why a ``distributed.Client`` and not Prefect's ``DaskTaskRunner``: the runner
makes each chunk a Prefect task, so every chunk pays a task run (milliseconds
and a round trip to Prefect's API) and ships its arguments (the roster, the
design) again; the bootstrap and the randomisation inference run inside the
one analysis task, where no task runner reaches.  A client scatters the shared
inputs once (``broadcast``) and maps the chunks inside the flow's task.

The scheduler is reached *before* any flow starts, so a wrong address is
refused in seconds, before Prefect's temporary server starts and before
anything is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DaskUnreachable",
    "active_client",
    "blocks_on",
    "dask_client",
    "map_chunks",
    "worker_count",
]

#: Seconds to wait for the scheduler before refusing the address.
CONNECT_TIMEOUT_S = 10

_ACTIVE: list[Any] = []  # the client of the enclosing dask_client block, if any


class DaskUnreachable(ValueError):
    """The scheduler named by ``--dask-address`` cannot be reached (the input's fault)."""


@contextmanager
def dask_client(address: str | None = None, workers: int = 0) -> Iterator[Any]:
    """A client on ``address``, on a new local cluster of ``workers`` processes, or None.

    While the block runs, :func:`active_client` returns the client, so a flow's
    task can map its chunks on it without taking it as a (JSON) parameter.

    Raises
    ------
    DaskUnreachable
        If no scheduler answers at ``address`` within :data:`CONNECT_TIMEOUT_S`.
    ValueError
        If ``workers`` is negative, or both an address and workers are given.
    """
    if workers < 0:
        raise ValueError(f"'--dask-workers' must be 0 or more. Got {workers} instead.")
    if address and workers:
        raise ValueError(
            "Give either '--dask-address' (an existing scheduler) or '--dask-workers' "
            f"(a new local cluster), not both. Got {address} and {workers} instead."
        )
    if not address and not workers:
        yield None
        return
    from distributed import Client, LocalCluster

    cluster = None
    if address:
        try:
            # a bare connection first: a Client that fails to connect leaves a half-made
            # object whose clean-up prints tracebacks under the one error line
            asyncio.run(_reach(address))
            client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise DaskUnreachable(
                f"Could not reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S} s: "
                "start one (`dask scheduler`, then `dask worker ADDRESS` on each machine) or "
                f"correct '--dask-address' (tcp://host:port). The error was: {exc}"
            ) from exc
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: 8787 may be taken
        )
        client = Client(cluster, set_as_default=False)
    _ACTIVE.append(client)
    try:
        yield client
    finally:
        _ACTIVE.remove(client)
        client.close()
        if cluster is not None:
            cluster.close()


async def _reach(address: str) -> None:
    from distributed.comm import connect

    comm = await connect(address, timeout=CONNECT_TIMEOUT_S)
    await comm.close()


def active_client() -> Any:
    """The client of the innermost :func:`dask_client` block, or None (run here)."""
    return _ACTIVE[-1] if _ACTIVE else None


def worker_count(client: Any) -> int:
    """Worker processes (threads, really: the unit a chunk occupies) on the cluster; 1 here."""
    if client is None:
        return 1
    threads = client.nthreads()
    return max(1, sum(threads.values()))


def map_chunks(
    function: Callable[..., Any],
    chunks: Sequence[Any],
    *,
    shared: Sequence[Any] = (),
    client: Any = None,
    on_done: Callable[[int], None] | None = None,
) -> list[Any]:
    """``function(*shared, chunk)`` for every chunk, in chunk order, here or on ``client``.

    ``shared`` (the roster, the design) is sent to every worker once, not with
    each chunk.  ``on_done(i)`` is called as chunk ``i`` finishes, in the order
    they finish (for a progress bar).
    """
    report = on_done or (lambda i: None)
    if client is None:
        results = []
        for i, chunk in enumerate(chunks):
            results.append(function(*shared, chunk))
            report(i)
        return results
    from distributed import as_completed

    # hash=False: keys of their own; hashed keys are shared with an earlier call's same data,
    # which the scheduler may be forgetting just then (its tasks then fail: lost dependencies)
    scattered = client.scatter(list(shared), broadcast=True, hash=False) if shared else []
    # pure=False: a chunk is never skipped as "already computed" by its key
    futures = [client.submit(function, *scattered, chunk, pure=False) for chunk in chunks]
    index = {future.key: i for i, future in enumerate(futures)}
    for future in as_completed(futures, loop=client.loop):
        report(index[future.key])
    return [future.result() for future in futures]


def blocks_on(client: Any) -> Callable[..., list] | None:
    """A ``map_blocks(function, blocks, shared)`` for the analysis (the randomisation
    inference's blocks of draws, the cost-effectiveness bootstrap's replicate blocks) that
    runs them on ``client``; None (here) without one."""
    if client is None:
        return None

    def map_blocks(function: Callable[..., Any], blocks: Sequence[Any], shared: Sequence[Any]):  # noqa: ANN202
        return map_chunks(function, blocks, shared=shared, client=client)

    return map_blocks
