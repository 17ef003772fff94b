"""A missing file or a folder given to an ingest command: one error line, exit 1, no retry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flows.randomise import randomise_flow
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow
TRIALFLOW = str(Path(sys.executable).with_name("trialflow"))


@pytest.fixture
def api_env(prefect_server, tmp_path) -> dict[str, str]:
    """The environment of a command run against the session's test server, 'letters' randomised.

    Randomised so that each command gets as far as opening the file.
    """
    from prefect.settings import get_current_settings

    roster = tmp_path / "roster.csv"
    design = load_design(DESIGNS / "letters.yaml")
    simulate_roster(design, rng=np.random.default_rng(1)).to_csv(roster, index=False)
    randomise_flow("letters", str(roster))

    return {**os.environ, "PREFECT_API_URL": get_current_settings().api.url}


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TRIALFLOW, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _assert_one_error(done: subprocess.CompletedProcess, expected: str) -> None:
    printed = done.stdout + done.stderr
    assert done.returncode == 1, printed
    assert done.stdout == ""
    assert done.stderr == f"error: {expected}\n"
    assert "internal error" not in printed
    log = (Path(os.environ["TRIALFLOW_HOME"]) / "logs" / "trialflow.log").read_text()
    assert "Retry" not in log  # a file that is not there is looked for once


@pytest.mark.parametrize("command", [["outcomes", "ingest"], ["deliveries", "ingest"]])
def test_a_missing_file_is_named_exit_1(tmp_path, api_env, command):
    missing = tmp_path / "missing.csv"
    done = _run([*command, "letters", str(missing)], api_env, tmp_path)
    _assert_one_error(done, f"File {missing} does not exist.")


@pytest.mark.parametrize("command", [["outcomes", "ingest"], ["deliveries", "ingest"]])
def test_a_folder_is_named_exit_1(tmp_path, api_env, command):
    folder = tmp_path / "survey.csv"  # a folder whose name looks like a file's
    folder.mkdir()
    done = _run([*command, "letters", str(folder)], api_env, tmp_path)
    _assert_one_error(done, f"{folder} is a folder, not a file: give the CSV or XLSX file itself.")
