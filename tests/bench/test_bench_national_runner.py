"""The national benchmark's stage runner (bench/bench_national.py): a stage killed by a
signal, or stopped by --stage-timeout, is reported at once, with its peak RSS, and nothing
it started is left running, even when a grandchild holds its output open."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Generous: the bug this guards against made the runner wait for the grandchild (120 s).
GUARD_SECONDS = 60


def _harness():
    spec = importlib.util.spec_from_file_location(
        "bench_national", ROOT / "bench" / "bench_national.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = _harness()

# A stage that starts a grandchild inheriting its stdout and stderr (as Prefect's temporary
# server does), says where it is, grows to ~60 MB, then ends as the test asks.
CHILD = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    print(f"grandchild {grandchild.pid}", file=sys.stderr, flush=True)
    ballast = bytearray(60 * 2**20)  # touched below, so it counts in the peak RSS
    ballast[::4096] = b"x" * len(ballast[::4096])
    print("working on step 7 of 9", file=sys.stderr, flush=True)
    how = sys.argv[1]
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "sleep":
        time.sleep(120)
    elif how == "fail":
        sys.exit(3)
    print('{"seconds": 0.1, "peak_mb": 1, "what": "done"}')
    """
)


def _run(tmp_path: Path, how: str, timeout: float = 600) -> tuple:
    """The runner on CHILD, in a thread, so a hang fails the test instead of stalling it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    box: list = []
    worker = threading.Thread(
        target=lambda: box.append(
            bench.run_stage_process(
                [sys.executable, str(script), how],
                env=dict(os.environ),
                timeout=timeout,
                logs=tmp_path / "logs",
                poll=0.05,
            )
        ),
        daemon=True,
    )
    worker.start()
    worker.join(GUARD_SECONDS)
    grandchild = _grandchild(tmp_path)
    if worker.is_alive():
        if grandchild:  # do not leave the test's own sleeper behind
            os.kill(grandchild, 9)
        pytest.fail(f"the runner was still waiting after {GUARD_SECONDS} s")
    return box[0], grandchild


def _grandchild(tmp_path: Path) -> int | None:
    err = tmp_path / "logs" / "stage.err"
    for line in err.read_text().splitlines() if err.exists() else []:
        if line.startswith("grandchild "):
            return int(line.split()[1])
    return None


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # a zombie (killed, its parent gone, not reaped yet by init) is not running
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _ends(pid: int, within: float = 10) -> bool:
    """Whether ``pid`` stops running within a few seconds (a SIGKILL lands asynchronously)."""
    deadline = time.monotonic() + within
    while _running(pid):
        if time.monotonic() > deadline:
            os.kill(pid, 9)  # leave nothing behind, then fail
            return False
        time.sleep(0.05)
    return True


def test_a_sigkilled_stage_is_reported_with_its_peak_rss_and_its_group_is_killed(tmp_path):
    run, grandchild = _run(tmp_path, "sigkill")
    assert run.signal == 9 and run.exit_code is None and not run.timed_out
    assert run.peak_mb > 60  # the child's own high-water mark, from wait4, though it was killed
    lines = bench.failure_lines("analyse", run, 600)
    assert lines[0].startswith(f"  analyse    KILLED by signal 9 after {run.seconds:.1f} s, ")
    assert f"peak RSS {run.peak_mb:,.0f} MB" in lines[0]
    assert "OOM killer" in lines[0]
    assert lines[-1] == "    working on step 7 of 9"  # its last log line
    assert grandchild is not None and _ends(grandchild)


def test_a_stage_past_its_timeout_is_stopped_with_its_whole_group(tmp_path):
    run, grandchild = _run(tmp_path, "sleep", timeout=2)
    assert run.timed_out and run.signal == 15  # SIGTERM was enough for this child
    lines = bench.failure_lines("randomise", run, 2)
    assert lines[0].startswith("  randomise  STOPPED: not done after 2 s (--stage-timeout); ")
    assert "process group was killed" in lines[0]
    assert lines[-1] == "    working on step 7 of 9"
    assert grandchild is not None and _ends(grandchild)


def test_a_failed_stage_names_its_exit_code_and_a_finished_one_gives_its_json(tmp_path):
    failed, _ = _run(tmp_path / "fail", "fail")
    assert failed.exit_code == 3 and failed.signal is None
    assert "FAILED after" in bench.failure_lines("ingest", failed, 600)[0]
    assert "(exit 3)" in bench.failure_lines("ingest", failed, 600)[0]
    done, grandchild = _run(tmp_path / "done", "done")
    assert done.exit_code == 0 and bench.failure_lines("ingest", done, 600) == []
    assert done.stdout.strip().splitlines()[-1].startswith('{"seconds": 0.1')
    assert _ends(grandchild)  # a stage that ends well leaves nothing running either


def test_a_parent_stopped_by_sigterm_kills_the_stage_it_was_waiting_for(tmp_path):
    # `timeout 1500 bench_national.py` ends the parent with SIGTERM; the stage, in its own
    # session, must not run on orphaned
    (tmp_path / "child.py").write_text(CHILD)
    parent = tmp_path / "parent.py"
    parent.write_text(
        textwrap.dedent(
            f"""
            import importlib.util, os, sys
            from pathlib import Path
            spec = importlib.util.spec_from_file_location("bn", {str(ROOT / "bench" / "bench_national.py")!r})
            bench = importlib.util.module_from_spec(spec)
            sys.modules["bn"] = bench
            spec.loader.exec_module(bench)
            bench.exit_cleanly_when_stopped()
            bench.run_stage_process(
                [sys.executable, {str(tmp_path / "child.py")!r}, "sleep"],
                env=dict(os.environ), timeout=600, logs=Path({str(tmp_path / "logs")!r}),
            )
            """
        )
    )

    running = subprocess.Popen([sys.executable, str(parent)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + GUARD_SECONDS
    while (
        _grandchild(tmp_path) is None
        or "step 7" not in (tmp_path / "logs" / "stage.err").read_text()
    ):
        assert time.monotonic() < deadline and running.poll() is None, "the stage never started"
        time.sleep(0.05)
    running.terminate()
    _, err = running.communicate(timeout=GUARD_SECONDS)
    assert "stopped by SIGTERM" in err
    assert _ends(_grandchild(tmp_path))
