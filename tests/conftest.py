"""Shared fixtures: every test gets its own trialflow home and SQLite store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.designs import DESIGNS


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / ".trialflow"
    monkeypatch.setenv("TRIALFLOW_HOME", str(home))
    monkeypatch.delenv("TRIALFLOW_DATABASE_URL", raising=False)
    # The command line sets process-wide variables for its own process (console log level
    # CRITICAL, PREFECT_API_URL of a running server); run in-process by CliRunner they would
    # leak into later tests and the children those start (a killed-ingest child then printed
    # nothing to wait for). Every test starts from, and leaves, the environment it found.
    before = dict(os.environ)
    yield home
    os.environ.clear()
    os.environ.update(before)


@pytest.fixture
def design_path() -> callable:
    return lambda name: DESIGNS / f"{name}.yaml"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def letters_costs_section() -> dict:
    """A letters costs section from the pure function: 18 letters sent in an arm of 20."""
    import pandas as pd

    from analysis.sections.costs import costs_section
    from trial_designs.design import load_design

    design = load_design(DESIGNS / "letters.yaml")
    ids = [f"P{i:03d}" for i in range(40)]
    data = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": ["letter"] * 20 + ["control"] * 20,
            "cluster": np.nan,
            "organisation": "Dudley",
            "took_up": [1] * 18 + [0] * 22,
            "completed": [1] * 18 + [0] * 22,
            "feeling_valued_endline": np.r_[np.full(20, 6.0), np.full(20, 5.5)],
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": ids[:18],
            "event_type": "letter_sent",
            "occurred_at": pd.Timestamp("2019-04-10"),
            "quantity": np.nan,
            "hours": np.nan,
            "attendees": np.nan,
            "contaminated": False,
        }
    )
    section, _ = costs_section(design, events, data, rng=np.random.default_rng(4), n_boot=200)
    section = section.to_json_dict()  # as results.json holds it
    return section


@pytest.fixture(scope="session")
def simulated_results() -> callable:
    """results.json of a simulated scenario, by name (tests/simulated_results.py), made once.

    ``simulated_results("letters")`` runs the real analysis on a seeded simulation of the
    trial the first time it is asked for; each call returns a fresh deep copy, so a test
    may change it.
    """
    import copy
    import functools

    from tests.simulated_results import simulated_results as simulate

    made = functools.cache(simulate)
    return lambda name: copy.deepcopy(made(name))
