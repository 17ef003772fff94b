"""randomise --dry-run: the roster's checks and the arm counts, with nothing stored or written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.randomise import preview_randomisation
from flows.store import Store, trialflow_home
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow
runner = CliRunner()


def _roster(tmp_path: Path, name: str) -> Path:
    design = load_design(DESIGNS / f"{name}.yaml")
    path = tmp_path / f"{name}_roster.csv"
    simulate_roster(design, rng=np.random.default_rng(3)).to_csv(path, index=False)
    return path


def _files_under_home() -> list[Path]:
    home = trialflow_home()
    return sorted(p for p in home.rglob("*") if p.is_file()) if home.exists() else []


def _table_rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("│")]


@pytest.mark.parametrize("name", ["letters", "coffee"])
def test_a_dry_run_stores_nothing_and_shows_the_counts_the_real_run_stores(
    prefect_server, tmp_path, name
):
    path = _roster(tmp_path, name)
    dry = runner.invoke(app, ["randomise", name, "--roster", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "nothing was stored or written" in dry.output
    assert _files_under_home() == []  # no store, no allocation list, no output folder
    preview = preview_randomisation(name, str(path))
    assert _files_under_home() == []

    real = runner.invoke(app, ["randomise", name, "--roster", str(path)])
    assert real.exit_code == 0, real.output
    assert _table_rows(dry.output) == _table_rows(real.output)
    units = Store().allocations(name)
    stored = units.groupby(["stratum", "arm"]).size().unstack(fill_value=0)
    shown = pd.DataFrame(preview["counts"]).set_index("stratum")[stored.columns]
    assert shown.sort_index().to_dict() == stored.sort_index().to_dict()
    assert preview["units"] == len(units)

    again = runner.invoke(app, ["randomise", name, "--roster", str(path), "--dry-run"])
    assert again.exit_code == 0
    assert "already randomised (round 1)" in " ".join(again.output.split())
    assert len(Store().allocations(name)) == len(units)  # the dry run added nothing


def test_a_dry_run_of_a_bad_roster_gives_the_real_runs_message(prefect_server, tmp_path):
    path = _roster(tmp_path, "letters")
    roster = pd.read_csv(path, dtype=str)
    roster.loc[9, "consent"] = "no"
    roster.to_csv(path, index=False)
    dry = runner.invoke(app, ["randomise", "letters", "--roster", str(path), "--dry-run"])
    assert dry.exit_code == 1
    assert "row 11, column 'consent': rule consented" in " ".join(dry.output.split())
    assert _files_under_home() == []
