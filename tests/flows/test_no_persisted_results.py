"""Prefect's result storage must not keep trialflow's results or exceptions (staff ids)."""

from __future__ import annotations

import base64
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.randomise import randomise_flow
from intake.roster import RosterError
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster

pytestmark = [pytest.mark.flow]


def _storage() -> Path:
    from prefect.settings import get_current_settings

    return Path(get_current_settings().results.local_storage_path)


def _files() -> dict[Path, bytes]:
    root = _storage()
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def test_a_rejected_roster_leaves_no_id_in_prefects_result_storage(prefect_server, tmp_path):
    design = load_design(DESIGNS / "letters.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(3))
    roster.loc[4, "local_authority"] = None
    roster.loc[9, "consent"] = "no"
    path = tmp_path / "roster.csv"
    roster.to_csv(path, index=False)
    before = set(_files())
    with pytest.raises(RosterError):
        randomise_flow("letters", str(path))
    new = {p: b for p, b in _files().items() if p not in before}
    ids = [str(i) for i in roster["staff_id"]]
    leaked = []
    for p, b in new.items():
        # Prefect writes the pickle base64-encoded: look in both forms
        try:
            blob = base64.b64decode(b)
        except ValueError:
            blob = b""
        leaked += [(p.name, i) for i in ids if i.encode() in b or i.encode() in blob]
    assert not leaked, leaked[:3]
    # what Prefect kept reads back (before, RosterError.__init__ missed 'problems')
    loaded = [pickle.loads(base64.b64decode(b)) for b in new.values()]
    assert any(isinstance(x, RosterError) for x in loaded), [type(x) for x in loaded]


def test_roster_error_survives_pickling():
    problems = pd.DataFrame(
        {
            "source_row": [2],
            "column": ["consent"],
            "rule": ["consented"],
            "value": ["no"],
            "message": ["Only staff who consented can be randomised."],
        }
    )
    error = RosterError("roster.csv", problems)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, RosterError)
    assert str(copy) == str(error)
    # the copy carries no value (a staff id, say): only rows, columns and rules
    assert "'no'" not in copy.report and "value" not in copy.problems
    assert copy.problems.to_dict("list") == {
        "source_row": [2],
        "column": ["consent"],
        "rule": ["consented"],
    }
