"""Shared fixtures: every test gets its own trialflow home and SQLite store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DESIGNS = Path(__file__).resolve().parent.parent / "trial_designs"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / ".trialflow"
    monkeypatch.setenv("TRIALFLOW_HOME", str(home))
    monkeypatch.delenv("TRIALFLOW_DATABASE_URL", raising=False)
    return home


@pytest.fixture
def design_path() -> callable:
    return lambda name: DESIGNS / f"{name}.yaml"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
