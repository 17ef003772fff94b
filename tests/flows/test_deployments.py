from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import make_prefect_yaml  # noqa: E402

pytestmark = pytest.mark.flow


PACKAGED = ROOT / "trial_designs"


def _packaged_designs() -> list:
    designs, problems = make_prefect_yaml.discover(PACKAGED)
    assert problems == []
    return designs


def test_prefect_yaml_is_what_the_generator_writes():
    assert (ROOT / "prefect.yaml").read_text() == make_prefect_yaml.render(_packaged_designs())


def test_every_packaged_design_gets_every_stage():
    names = {d["name"] for d in make_prefect_yaml.build(_packaged_designs())["deployments"]}
    ids = [yaml.safe_load(p.read_text())["id"] for p in sorted(PACKAGED.glob("*.yaml"))]
    assert len(ids) >= 4
    for trial in ids:
        for stage in make_prefect_yaml.STAGES:
            assert f"{trial}-{stage}".replace("_", "-") in names


def _all_values(value: object) -> list:
    if isinstance(value, dict):
        return [v for item in value.values() for v in _all_values(item)]
    if isinstance(value, list):
        return [v for item in value for v in _all_values(item)]
    return [value]


def test_no_parameter_names_a_folder_so_drop_folders_follow_trialflow_home():
    document = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    for deployment in document["deployments"]:
        parameters = deployment["parameters"]
        assert "drop" not in parameters, deployment["name"]
        for value in _all_values(parameters):
            assert ".trialflow" not in str(value) and "/" not in str(value), (
                deployment["name"],
                value,
            )


def _designs_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "designs"
    folder.mkdir()
    coffee = (PACKAGED / "coffee.yaml").read_text()
    (folder / "coffee.yaml").write_text(coffee)
    (folder / "mytrial.yaml").write_text(coffee.replace("id: coffee", "id: my_trial", 1))
    return folder


def test_a_design_added_to_the_designs_folder_gets_its_deployments(tmp_path, monkeypatch):
    folder = _designs_folder(tmp_path)
    monkeypatch.setenv("TRIALFLOW_DESIGNS_DIR", str(folder))
    out = tmp_path / "prefect.yaml"
    assert make_prefect_yaml.main(["--out", str(out)]) == 0
    deployments = {d["name"]: d for d in yaml.safe_load(out.read_text())["deployments"]}
    stages = set(make_prefect_yaml.STAGES)
    assert {n.removeprefix("my-trial-") for n in deployments if n.startswith("my-trial-")} == stages
    assert {n.removeprefix("coffee-") for n in deployments if n.startswith("coffee-")} == stages
    assert not any(n.startswith("letters-") for n in deployments)
    mine = deployments["my-trial-deliveries"]
    # a design outside the package is passed by path, so a worker finds it without the setting
    assert mine["parameters"] == {"design": str(folder / "mytrial.yaml")}
    assert mine["tags"] == ["trialflow", "my_trial", "deliveries"]
    assert mine["schedules"][0]["cron"] == "0 6 * * *"
    assert deployments["my-trial-uptake"]["parameters"]["ingest"] is True


def test_files_that_are_not_designs_are_skipped_by_name(tmp_path, capsys):
    folder = _designs_folder(tmp_path)
    (folder / "notes.yaml").write_text("- just\n- a list\n")
    (folder / "broken.yaml").write_text("id: [unclosed\n")
    (folder / "twin.yaml").write_text((folder / "coffee.yaml").read_text())
    out = tmp_path / "prefect.yaml"
    assert make_prefect_yaml.main(["--designs", str(folder), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert re.search(r"skipped .*notes\.yaml: not a trial design: .*mapping", err)
    assert re.search(r"skipped .*broken\.yaml: not a trial design: .*not valid YAML", err)
    assert re.search(
        r"skipped .*twin\.yaml: the design id 'coffee' is already used by coffee\.yaml", err
    )
    names = {d["name"] for d in yaml.safe_load(out.read_text())["deployments"]}
    assert "coffee-randomise" in names and "my-trial-randomise" in names
    assert make_prefect_yaml.main(["--designs", str(folder), "--out", str(out), "--strict"]) == 1


def test_an_empty_or_missing_designs_folder_is_an_error(tmp_path, capsys):
    out = tmp_path / "prefect.yaml"
    assert make_prefect_yaml.main(["--designs", str(tmp_path / "none"), "--out", str(out)]) == 1
    assert "The designs folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert make_prefect_yaml.main(["--designs", str(tmp_path / "empty"), "--out", str(out)]) == 1
    assert "no loadable design" in capsys.readouterr().err
    assert not out.exists()


def test_a_design_without_an_intervention_gets_no_delivery_or_uptake_deployment():
    design = make_prefect_yaml.DesignFile("quiet", "quiet", has_intervention=False)
    names = {d["name"] for d in make_prefect_yaml.build([design])["deployments"]}
    assert "quiet-deliveries" not in names and "quiet-uptake" not in names
    assert {"quiet-randomise", "quiet-outcomes", "quiet-pipeline"} <= names


def test_deployment_parameters_find_the_roster_under_trialflow_home(prefect_server, tmp_path):
    """The old prefect.yaml passed drop='.trialflow/drop/coffee': with TRIALFLOW_HOME elsewhere
    the run failed with "No roster at .trialflow/drop/coffee/roster.csv"."""
    from flows.demo import simulate_roster_file
    from flows.pipeline import randomise_stage
    from flows.settings import get_settings
    from flows.store import Store
    from trial_designs.design import load_design

    home = get_settings().home
    assert home == tmp_path / ".trialflow"
    design = load_design(PACKAGED / "coffee.yaml")
    simulate_roster_file.fn(design, get_settings().drop_dir(design.id))
    deployment = next(
        d
        for d in make_prefect_yaml.build(_packaged_designs())["deployments"]
        if d["name"] == "coffee-randomise"
    )
    assert randomise_stage(**deployment["parameters"]).startswith("randomised")
    assert Store().trial("coffee") is not None


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
        start_new_session=True,  # so stopping it stops its children too
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
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
