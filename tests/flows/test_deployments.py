from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import make_prefect_yaml  # noqa: E402

pytestmark = pytest.mark.flow


def test_prefect_yaml_is_what_the_generator_writes():
    assert (ROOT / "prefect.yaml").read_text() == make_prefect_yaml.render()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> list | dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_deploy_all_to_a_real_server_creates_every_deployment_and_schedule(tmp_path):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    prefect = str(ROOT / ".venv" / "bin" / "prefect")
    server = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{api}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        subprocess.run(
            [prefect, "work-pool", "create", "trialflow-process", "--type", "process"],
            env=env,
            check=True,
            capture_output=True,
        )
        deployed = subprocess.run(
            [prefect, "--no-prompt", "deploy", "--all"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
        found = _post(f"{api}/deployments/filter", {"limit": 200})
        names = {d["name"] for d in found}
        expected = {d["name"] for d in make_prefect_yaml.build()["deployments"]}
        assert names == expected
        scheduled = {d["name"]: d["schedules"] for d in found if d["schedules"]}
        assert set(scheduled) == {
            d["name"] for d in make_prefect_yaml.build()["deployments"] if "schedules" in d
        }
        for schedules in scheduled.values():
            assert schedules[0]["schedule"]["timezone"] == "Europe/London"
        assert all(d["work_pool_name"] == "trialflow-process" for d in found)
    finally:
        server.terminate()
        server.wait(30)
