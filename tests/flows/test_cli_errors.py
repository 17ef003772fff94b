"""One clear message per failure: the console script, run as a coordinator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from flows.sources import SourceError, rename_to_canonical
from trial_designs.design import load_design

pytestmark = pytest.mark.flow
ROOT = Path(__file__).resolve().parents[2]
TRIALFLOW = str(Path(sys.executable).with_name("trialflow"))


@pytest.fixture
def api_env(prefect_server) -> dict[str, str]:
    """The environment of a command run against the session's test server (no start-up wait)."""
    from prefect.settings import get_current_settings

    return {**os.environ, "PREFECT_API_URL": get_current_settings().api.url}


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_rejected_roster_prints_one_error_line_and_stores_nothing(tmp_path, api_env):
    roster = tmp_path / "roster.csv"
    roster.write_text("a,b,c\n1,2,3\n")
    design = load_design(ROOT / "trial_designs" / "coffee.yaml")
    with pytest.raises(SourceError) as expected:
        rename_to_canonical(pd.read_csv(roster), design.roster.columns, file_name="roster.csv")

    done = _run([TRIALFLOW, "randomise", "coffee", "--roster", str(roster)], api_env, tmp_path)

    printed = done.stdout + done.stderr
    assert done.returncode == 1, printed
    assert done.stdout == ""
    assert done.stderr == f"error: {expected.value}\n"
    assert printed.count("error:") == 1
    assert "Traceback" not in printed
    home = Path(os.environ["TRIALFLOW_HOME"])
    log = (home / "logs" / "trialflow.log").read_text()
    assert "SourceError" in log  # the detail is kept, in the log
    assert "Retry" not in log  # a file that cannot change is read once
    from flows.store import Store

    assert Store().trial("coffee") is None


def test_internal_error_is_one_line_with_the_log_path_and_exit_3(tmp_path):
    # validate catches DesignError only: any other exception is a bug, reported as one
    code = (
        "import sys, flows.cli as cli, flows.cli.trials as trials\n"
        "def broken(path):\n"
        "    raise RuntimeError('state [x] lost')\n"
        "trials.load_design = broken\n"
        "sys.argv = ['trialflow', 'validate', 'coffee']\n"
        "cli.main()\n"
    )
    done = _run([sys.executable, "-c", code], os.environ.copy(), ROOT)
    log = Path(os.environ["TRIALFLOW_HOME"]) / "logs" / "trialflow.log"
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr == (
        "error: internal error RuntimeError: state [x] lost. This is trialflow's fault, not "
        f"your input's; the traceback is in {log}\n"
    )
    assert "Traceback" in log.read_text()
