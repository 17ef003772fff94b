"""The demo's worker processes end when their parent dies, however it dies.

Killing a running ``make demo`` (kill -9 of the parent, or its terminal closed) left its two
spawned workers running the rest of their trials, writing to the store with nobody waiting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

# Each worker runs a task that starts a child recording the worker's pid, then waits for it:
# so both workers are known to be up and busy before the parent is killed.
PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    from flows.workers import demo_pool

    record = "import os, sys, time; open(sys.argv[1], 'a').write(f'{os.getppid()} {os.getpid()}\\\\n'); time.sleep(600)"
    if __name__ == "__main__":  # spawned workers import this file too
        with demo_pool(2) as pool:
            for _ in range(2):
                pool.submit(subprocess.call, [sys.executable, "-c", record, sys.argv[1]])
            time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_workers_exit_when_the_parent_is_killed(tmp_path):
    script, pids = tmp_path / "parent.py", tmp_path / "pids.txt"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(pids)], cwd=tmp_path)
    workers: list[int] = []
    helpers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lines = pids.read_text().split("\n") if pids.exists() else []
            pairs = [tuple(map(int, line.split())) for line in lines if line.strip()]
            if len(pairs) == 2:
                break
            time.sleep(0.2)
        workers, helpers = [w for w, _ in pairs], [h for _, h in pairs]
        assert len(set(workers)) == 2 and all(_alive(w) for w in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), f"workers {workers} outlived their parent"
    finally:
        parent.kill()
        _kill(workers + helpers)
