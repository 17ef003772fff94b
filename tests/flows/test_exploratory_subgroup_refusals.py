"""`trialflow analyse --label X --subgroups <outcome|arm|id>` is refused, and writes nothing.

It was accepted (exit 0) and wrote an interaction test conditioned on an outcome
measured after randomisation, or on the arm itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from flows.randomise import randomise_flow
from flows.results_file import results_path
from flows.store import Store
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow


def test_an_outcome_the_arm_or_the_id_is_refused_at_the_command_line(prefect_server, tmp_path):
    from flows.cli import app

    design = load_design(DESIGNS / "letters.yaml")
    simulate_roster(design, rng=np.random.default_rng(4)).to_csv(
        tmp_path / "roster.csv", index=False
    )
    randomise_flow("letters", str(tmp_path / "roster.csv"))
    audit = len(Store().audit("letters"))
    analysis = results_path("letters").parent
    for name, why in [
        ("turnover_endline", "is measured after randomisation"),
        ("arm", "is the randomised arm"),
        ("participant_id", "has one level per person"),
    ]:
        result = CliRunner().invoke(
            app, ["analyse", "letters", "--label", "post", "--subgroups", name]
        )
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())  # rich wraps long lines
        assert text.startswith(f"error: The exploratory subgroup '{name}' {why}"), text
        assert text.endswith(f"Got '{name}' instead."), text
    assert not analysis.exists() or not any(analysis.rglob("*"))
    assert len(Store().audit("letters")) == audit
