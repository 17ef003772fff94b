"""The demo's summary table says when a primary result is weak, as the report's headline does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.demo import summary_row
from flows.results_file import results_path
from trial_designs.design import load_design

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("trial", "weak"), [("schwartz_rounds", True), ("letters", False)])
def test_a_caveated_primary_result_is_marked_weak_in_the_summary(trial, weak, simulated_results):
    # the analysis of the trial simulated as the demo does: Schwartz Rounds' model p < 0.05 is
    # not backed by randomisation inference with 5 organisations, letters' clear effect is
    path = results_path(trial)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(simulated_results(trial)), encoding="utf-8")
    row = summary_row(load_design(ROOT / "trial_designs" / f"{trial}.yaml"))
    assert row["primary effect [95% CI]"].endswith(" (weak evidence: see the report)") is weak
