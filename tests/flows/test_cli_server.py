"""`trialflow server start` keeps a Prefect server that later flow commands use; `stop` ends it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.flow
TRIALFLOW = str(Path(sys.executable).with_name("trialflow"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _flow_names(port: int) -> list[str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/flows/filter",
        data=b"{}",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return [f["name"] for f in json.load(response)]


def test_start_then_a_flow_command_uses_the_server_then_stop(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env["TRIALFLOW_HOME"] = str(home)
    port = _free_port()
    pid_file = home / "prefect" / "server.pid"

    def trialflow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [TRIALFLOW, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )

    try:
        started = trialflow("server", "start", "--port", str(port))
        assert started.returncode == 0, started.stderr
        assert f"http://127.0.0.1:{port}" in started.stdout
        pid = int(pid_file.read_text())
        assert _alive(pid)
        assert trialflow("server", "status").returncode == 0
        assert "simulate" not in _flow_names(port)

        simulated = trialflow("simulate", "coffee", "--out", str(tmp_path / "sim"))
        assert simulated.returncode == 0, simulated.stderr
        assert "simulate" in _flow_names(port)  # the run went to this server
        assert "temporary server" not in (home / "logs" / "trialflow.log").read_text()

        stopped = trialflow("server", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert not _alive(pid)
        assert not pid_file.exists()
        status = trialflow("server", "status")
        assert status.returncode == 1
        assert status.stderr.startswith("error: No Prefect server is running")
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)
