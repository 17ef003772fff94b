"""A schedule on a trialflow deployment creates flow runs, and a real worker runs one that ingests.

Everything is real: ``prefect server start`` (its own PREFECT_HOME, a free
port), a process work pool, ``prefect deploy`` of the generated prefect.yaml
entries for coffee (the daily delivery ingest given a 10-second interval
instead of its cron), and ``prefect worker start``.  TRIALFLOW_HOME is the
test's own folder, not ./.trialflow, so the drop folder must resolve under it
at run time.

The coordinator's order: the roster is in the drop folder; the randomise
deployment runs; a delivery log is dropped; the delivery schedule is switched
on (it is deployed switched off so that no scheduled run goes before the
randomisation); the scheduler creates runs and the worker runs them.  The
deployment config test cannot catch a scheduler that never schedules
(SQLAlchemy 2.1 broke Prefect 3.8.8's: every loop raised "Can't evaluate bulk
DML statement"); this one fails then with the server log's traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import make_prefect_yaml  # noqa: E402

pytestmark = pytest.mark.flow

TRIAL = "coffee"
INTERVAL = 10  # seconds between scheduled delivery ingests
WAIT = 120  # the longest any one step may take on a busy machine
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` (a process worker's flow runs)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # the command name may hold spaces, so read the fields after its closing ")"
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _mentions(environ: Path, api: str) -> bool:
    """Whether the process's environment points at ``api`` (and it is not a zombie)."""
    try:
        alive = "\nState:\tZ" not in (environ.parent / "status").read_text()
        return alive and f"PREFECT_API_URL={api}".encode() in environ.read_bytes()
    except OSError:
        return False


class Live:
    """A Prefect server and worker in their own process groups, with their logs."""

    def __init__(self, tmp: Path, home: Path) -> None:
        self.tmp = tmp
        self.port = _free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.env = {
            **os.environ,
            "TRIALFLOW_HOME": str(home),
            "PREFECT_HOME": str(tmp / "prefect"),
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            # the main scheduling loop runs every 60 s by default
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.started = time.monotonic()
        self.timeline: list[str] = []

    def mark(self, step: str) -> None:
        """Note a step and when it finished, for the failure message and ``pytest -s``."""
        self.timeline.append(f"{time.monotonic() - self.started:6.1f} s  {step}")
        print(self.timeline[-1])

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.log(name)
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        return f"--- last {lines} lines of the {name} log ---\n" + "\n".join(text)

    def tails(self) -> str:
        steps = "\n".join(["--- steps done ---", *self.timeline])
        return "\n".join([steps, *(self.tail(name) for name in self.processes)])

    def start(self, name: str, *args: str) -> None:
        with self.log(name).open("w") as out:
            self.processes[name] = subprocess.Popen(
                [str(BIN / "prefect"), *args],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def run(self, *args: str, prefect_file: Path | None = None) -> str:
        done = subprocess.run(
            [str(BIN / "prefect"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert done.returncode == 0, (
            f"`prefect {' '.join(args)}` failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        return done.stdout

    def stop(self) -> None:
        """Stop the worker (and the flow runs it started, each in its own group), then the server."""
        for name in ("worker", "server"):
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            groups = [*(_children(process.pid)), process.pid]
            for group in groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            for group in groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)

    def call(self, method: str, path: str, body: dict | None = None) -> dict | list:
        request = urllib.request.Request(
            self.api + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or "null")

    def wait_for(self, what: str, check: Callable[[], object]) -> object:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                assert process.poll() is None, (
                    f"The Prefect {name} exited ({process.returncode}) while waiting for {what}.\n"
                    + self.tails()
                )
            found = check()
            if found:
                return found
            time.sleep(1)
        pytest.fail(f"No {what} within {WAIT} s.\n{self.tails()}")


@pytest.fixture
def live(tmp_path: Path, _isolated_home: Path) -> Iterator[Live]:
    server = Live(tmp_path, _isolated_home)
    try:
        yield server
    finally:
        server.stop()
        server.mark("worker and server stopped")
        # nothing of theirs may outlive the test: not the server, worker, nor a flow run
        left = [p for p in Path("/proc").glob("[0-9]*/environ") if _mentions(p, server.api)]
        assert left == [], f"processes still running against {server.api}: {left}"


def _healthy(live: Live) -> bool:
    try:
        return live.call("GET", "/health") is True
    except OSError:
        return False


def _coffee_deployments(tmp: Path) -> Path:
    """prefect.yaml with the generated coffee randomise and deliveries entries; deliveries every INTERVAL s."""
    generated = {d["name"]: d for d in make_prefect_yaml.build()["deployments"]}
    randomise = generated[f"{TRIAL}-randomise"]
    deliveries = dict(generated[f"{TRIAL}-deliveries"])
    assert deliveries["schedules"], "the generated delivery ingest has no schedule"
    deliveries["schedules"] = [{"interval": INTERVAL, "active": False}]
    path = tmp / "prefect.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "trialflow-live-test",
                "prefect-version": "3.8.8",
                "pull": [
                    {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
                ],
                "deployments": [randomise, deliveries],
            },
            sort_keys=False,
        )
    )
    return path


def _runs(live: Live, deployment_id: str) -> list[dict]:
    return live.call(
        "POST",
        "/flow_runs/filter",
        {"deployments": {"id": {"any_": [deployment_id]}}, "sort": "EXPECTED_START_TIME_ASC"},
    )


def test_a_scheduled_deployment_run_by_a_real_worker_ingests_the_dropped_file(
    live: Live, tmp_path: Path, _isolated_home: Path
):
    from flows.demo import simulate_delivery_files, simulate_roster_file
    from flows.settings import get_settings
    from trial_designs.design import load_design

    settings = get_settings()
    assert settings.home == _isolated_home.resolve()
    assert not settings.home.is_relative_to(ROOT), "the test's home must not be ./.trialflow"
    design = load_design(ROOT / "trial_designs" / f"{TRIAL}.yaml")
    drop = settings.drop_dir(design.id)
    simulate_roster_file.fn(design, drop)

    live.start("server", "server", "start", "--host", "127.0.0.1", "--port", str(live.port))
    live.wait_for("healthy Prefect server", lambda: _healthy(live))
    live.mark("server healthy")
    live.run("work-pool", "create", make_prefect_yaml.POOL, "--type", "process")
    live.start("worker", "worker", "start", "--pool", make_prefect_yaml.POOL, "--limit", "1")
    live.run("--no-prompt", "deploy", "--all", "--prefect-file", str(_coffee_deployments(tmp_path)))
    live.mark("work pool created, worker started, coffee deployed")
    deployments = {d["name"]: d for d in live.call("POST", "/deployments/filter", {})}
    assert set(deployments) == {f"{TRIAL}-randomise", f"{TRIAL}-deliveries"}
    assert all("drop" not in d["parameters"] for d in deployments.values())
    randomise_id = deployments[f"{TRIAL}-randomise"]["id"]
    deliveries = deployments[f"{TRIAL}-deliveries"]

    # Randomise through the deployment: it reads <TRIALFLOW_HOME>/drop/coffee/roster.csv.
    run = live.call("POST", f"/deployments/{randomise_id}/create_flow_run", {})

    def completed(run_id: str) -> dict | None:
        state = live.call("GET", f"/flow_runs/{run_id}")["state"]
        if state["type"] in ("FAILED", "CRASHED", "CANCELLED"):
            pytest.fail(
                f"The run {run_id} ended {state['type']}: {state['message']}\n{live.tails()}"
            )
        return state if state["type"] == "COMPLETED" else None

    live.wait_for("completed randomise run", lambda: completed(run["id"]))
    live.mark("randomise deployment run completed")
    store = sa.create_engine(settings.database_url)

    def count(table: str) -> int:
        with store.connect() as connection:
            return connection.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE trial_id = :t"), {"t": design.id}
            ).scalar_one()

    assert count("allocations") > 0
    assert count("delivery_events") == 0
    assert _runs(live, deliveries["id"]) == [], "a switched-off schedule created runs"

    # A delivery log lands in the drop folder, and the coordinator switches the schedule on.
    log = simulate_delivery_files.fn(design, drop)["deliveries"]
    assert log.parent == settings.home / "drop" / design.id / "deliveries"
    (schedule,) = deliveries["schedules"]
    live.call(
        "PATCH", f"/deployments/{deliveries['id']}/schedules/{schedule['id']}", {"active": True}
    )

    # (a) The scheduler, and nothing else, creates the delivery-ingest runs.
    scheduled = live.wait_for(
        "runs created by the scheduler", lambda: _runs(live, deliveries["id"])[:2] or None
    )
    live.mark(f"scheduler created runs of {TRIAL}-deliveries")
    assert all(r["auto_scheduled"] for r in _runs(live, deliveries["id"]))

    # (b) The worker completes the first one.
    state = live.wait_for(
        "completed scheduled delivery ingest", lambda: completed(scheduled[0]["id"])
    )
    live.mark("the worker completed the first scheduled run")
    assert state["type"] == "COMPLETED"

    # (c) The store holds the dropped file's events, and the file as ingested.
    assert count("delivery_events") > 0
    with store.connect() as connection:
        files = connection.execute(
            sa.text("SELECT file_name FROM ingested_files WHERE trial_id = :t"), {"t": design.id}
        ).scalars()
        assert set(files) == {log.name}
