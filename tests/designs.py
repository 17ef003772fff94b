"""Where the packaged trial designs live, for every test: ``from tests.designs import DESIGNS``.

A module rather than a conftest fixture because tests use the folder at import
time (in ``parametrize`` lists and module constants), where fixtures do not reach.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DESIGNS"]

#: The folder of the four packaged designs (letters, coffee, goal_setting, schwartz_rounds).
DESIGNS = Path(__file__).resolve().parents[1] / "trial_designs"
