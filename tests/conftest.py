"""Shared fixtures: every test gets its own trialflow home and SQLite store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

DESIGNS = Path(__file__).resolve().parent.parent / "trial_designs"


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
