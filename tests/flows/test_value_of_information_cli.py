"""A bad value_of_information declaration is refused by the console script before anything is stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.designs import DESIGNS

pytestmark = pytest.mark.flow
TRIALFLOW = str(Path(sys.executable).with_name("trialflow"))


@pytest.fixture
def api_env(prefect_server) -> dict[str, str]:
    """The environment of a command run against the session's test server (no start-up wait)."""
    from prefect.settings import get_current_settings

    return {**os.environ, "PREFECT_API_URL": get_current_settings().api.url}


def _files(home: Path) -> set[str]:
    """Everything under TRIALFLOW_HOME but the log, which records the refusal."""
    return {
        str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and p.parent.name != "logs"
    }


def test_a_negative_threshold_is_refused_by_name_and_value_and_nothing_is_written(
    tmp_path, api_env
):
    design = yaml.safe_load((DESIGNS / "schwartz_rounds.yaml").read_text())
    design["value_of_information"]["wtp"] = [-50, 150]
    path = tmp_path / "schwartz_rounds.yaml"
    path.write_text(yaml.safe_dump(design, sort_keys=False))
    roster = tmp_path / "roster.csv"
    roster.write_text("staff_id,la\nS1,LA1\n")
    home = Path(os.environ["TRIALFLOW_HOME"])
    before = _files(home)

    done = subprocess.run(
        [TRIALFLOW, "randomise", str(path), "--roster", str(roster)],
        cwd=tmp_path,
        env=api_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr == (
        "error: schwartz_rounds.yaml: value_of_information: 'wtp' every threshold must be a "
        "finite amount of at least 0. Got -50.0 instead.\n"
    )
    assert _files(home) == before
    from flows.store import Store

    assert Store().trial("schwartz_rounds") is None
