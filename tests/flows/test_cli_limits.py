"""`analyse --ri-draws` and `diagnose --sims` beyond the limits are refused before any flow.

They used to be refused only inside the flow, after Prefect's temporary server had started
(~38 s on CI) for nothing.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import flows.analyse
import flows.diagnose
from analysis.diagnose import chunk_seeds
from flows.cli import app
from trial_designs.sections import MAX_RI_DRAWS, MAX_SIMULATIONS


@pytest.fixture
def flows_started(monkeypatch) -> list[str]:
    """The flows the command called: none may start for a refused option."""
    started: list[str] = []

    def record(name):
        def flow(*args, **kwargs):
            started.append(name)
            raise AssertionError(f"{name} started")

        return flow

    monkeypatch.setattr(flows.analyse, "analyse_flow", record("analyse_flow"))
    monkeypatch.setattr(flows.diagnose, "run_diagnosis", record("run_diagnosis"))
    return started


@pytest.mark.parametrize("draws", [10**12, MAX_RI_DRAWS + 1, -1])
def test_analyse_refuses_too_many_ri_draws_before_the_flow(flows_started, draws):
    result = CliRunner().invoke(app, ["analyse", "letters", "--ri-draws", str(draws)])
    assert flows_started == []
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: '--ri-draws' must be between 0 and {MAX_RI_DRAWS}. Got {draws} instead."
    )


@pytest.mark.parametrize("sims", [10**12, MAX_SIMULATIONS + 1, 0])
def test_diagnose_refuses_too_many_simulations_before_the_flow(flows_started, sims):
    result = CliRunner().invoke(app, ["diagnose", "letters", "--sims", str(sims)])
    assert flows_started == []
    assert result.exit_code == 1
    # the same words the flow would have used
    with pytest.raises(ValueError) as flow_said:
        chunk_seeds(1, sims, 50)
    assert result.output.strip() == f"error: {flow_said.value}"


def test_a_draw_count_within_the_limit_reaches_the_flow(flows_started):
    result = CliRunner().invoke(app, ["analyse", "letters", "--ri-draws", str(MAX_RI_DRAWS)])
    assert flows_started == ["analyse_flow"]
    assert isinstance(result.exception, AssertionError)
