"""A Prefect server kept running in the background under ``TRIALFLOW_HOME``, reused by every command.

Without a server each flow command starts Prefect's temporary server, which
costs 9-23 s on a busy 2-core machine before any work is done, and stops it
again at the end.  ``trialflow server start`` starts ``prefect server start``
once, in its own process group, and records it in ``<PREFECT_HOME>``
(``<TRIALFLOW_HOME>/prefect`` by default)::

    server.pid    the server's process id (also its process group id)
    server.port   the port it listens on (127.0.0.1)
    server.log    its output

Every later flow command calls :func:`running_api_url`: when the recorded
process is alive and answers ``/api/health``, the command runs its flows
against it (``PREFECT_API_URL``) and the run shows in its UI; otherwise the
command falls back to the temporary server.  An explicit ``PREFECT_API_URL``
always wins.

This module imports only the standard library, so ``trialflow server status``
and the check made by every command stay fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from flows.settings import get_settings

__all__ = [
    "DEFAULT_PORT",
    "ServerError",
    "ServerInfo",
    "running_api_url",
    "server_files",
    "server_status",
    "start_server",
    "stop_server",
]

#: Prefect's own default port, so the UI is where Prefect's documentation says it is.
DEFAULT_PORT = 4200
#: Seconds a health check may take before the server counts as not answering.
HEALTH_TIMEOUT = 2.0


class ServerError(RuntimeError):
    """The background server could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class ServerInfo:
    """A recorded background server: process id, port, and whether it answers."""

    pid: int
    port: int
    healthy: bool
    log: Path

    @property
    def url(self) -> str:
        """The UI address, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The API address for ``PREFECT_API_URL``."""
        return f"{self.url}/api"


def _prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or get_settings().prefect_home)


def server_files(prefect_home: Path | None = None) -> dict[str, Path]:
    """The pid, port and log files of the background server."""
    home = prefect_home or _prefect_home()
    return {name: home / f"server.{name}" for name in ("pid", "port", "log")}


def _is_prefect(pid: int) -> bool:
    """Whether ``pid`` runs Prefect (a recorded pid may have been reused after a reboot)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.parent.exists():  # no /proc: trust the health check instead
        return True
    try:
        return b"prefect" in cmdline.read_bytes()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, but not ours to use
        return True
    return True


def _healthy(port: int, timeout: float = HEALTH_TIMEOUT) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=timeout) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _recorded(files: dict[str, Path]) -> tuple[int, int] | None:
    try:
        return int(files["pid"].read_text().strip()), int(files["port"].read_text().strip())
    except (OSError, ValueError):
        return None


def server_status(prefect_home: Path | None = None) -> ServerInfo | None:
    """The recorded server if its process is alive (``healthy`` says whether it answers), else None."""
    files = server_files(prefect_home)
    recorded = _recorded(files)
    if recorded is None or not _alive(recorded[0]) or not _is_prefect(recorded[0]):
        return None
    pid, port = recorded
    return ServerInfo(pid=pid, port=port, healthy=_healthy(port), log=files["log"])


def running_api_url(prefect_home: Path | None = None) -> str | None:
    """``http://127.0.0.1:<port>/api`` of a live, healthy background server, else None."""
    info = server_status(prefect_home)
    return info.api_url if info is not None and info.healthy else None


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_server(
    port: int = DEFAULT_PORT, *, timeout: float = 120.0, prefect_home: Path | None = None
) -> ServerInfo:
    """Start ``prefect server start`` in the background and wait until it answers.

    Returns the running server; a server already running is returned as is.

    Raises
    ------
    ServerError
        When the port is taken, or the server exits or does not answer within
        ``timeout`` seconds (the message ends with the log's last lines).
    """
    home = prefect_home or _prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    files = server_files(home)
    running = server_status(home)
    if running is not None:
        return running
    if not _port_free(port):
        raise ServerError(
            f"Port {port} on 127.0.0.1 is in use, so the Prefect server cannot listen on it: "
            f"choose another with --port. Got port {port} instead."
        )
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
    }
    env.pop("PREFECT_API_URL", None)  # the server itself must not point at another one
    with open(files["log"], "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
            start_new_session=True,  # its own process group: stop kills uvicorn's children too
        )
    files["pid"].write_text(f"{process.pid}\n")
    files["port"].write_text(f"{port}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _forget(files)
            raise ServerError(
                f"The Prefect server exited with code {process.returncode} while starting. "
                f"The end of {files['log']}:\n{_tail(files['log'])}"
            )
        if _healthy(port, timeout=1.0):
            return ServerInfo(pid=process.pid, port=port, healthy=True, log=files["log"])
        time.sleep(0.25)
    _kill_group(process.pid)
    _forget(files)
    raise ServerError(
        f"The Prefect server did not answer on port {port} within {timeout:g} s and was stopped. "
        f"The end of {files['log']}:\n{_tail(files['log'])}"
    )


def _forget(files: dict[str, Path]) -> None:
    for name in ("pid", "port"):
        with contextlib.suppress(FileNotFoundError):
            files[name].unlink()


def _kill_group(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
            if not _alive(pid):
                return
            time.sleep(0.1)


def stop_server(prefect_home: Path | None = None) -> ServerInfo | None:
    """Stop the recorded background server (its whole process group); None if none was running."""
    files = server_files(prefect_home)
    info = server_status(prefect_home)
    if info is not None:
        _kill_group(info.pid)
    _forget(files)
    return info
