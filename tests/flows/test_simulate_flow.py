"""The simulate flow (flows/simulate.py): it writes the roster it says, seeded, and no more."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.simulate import simulate_flow
from tests.designs import DESIGNS
from trial_designs.design import DesignError, load_design
from trial_designs.simulate_roster import ROSTER_SIZES, simulate_roster

pytestmark = pytest.mark.flow


@pytest.mark.parametrize("name", ["letters", "schwartz_rounds"])
def test_the_flow_writes_only_the_roster_the_simulator_draws_for_the_seed(
    prefect_server, tmp_path, name
):
    out = tmp_path / "files"
    written = simulate_flow(name, str(out), seed=8)
    assert written == [str(out / "roster.csv")]
    assert [p.name for p in out.iterdir()] == ["roster.csv"]
    design = load_design(DESIGNS / f"{name}.yaml")
    # the flow's stream is [seed, 1], so it does not overlap the diagnosis' [seed, 7]
    expected = simulate_roster(design, rng=np.random.default_rng([8, 1]))
    got = pd.read_csv(out / "roster.csv", dtype=str, keep_default_na=False)
    assert list(got.columns) == list(expected.columns)
    assert len(got) == ROSTER_SIZES[name]["n"]
    pd.testing.assert_frame_equal(
        got, expected.astype(str).replace({"nan": "", "None": ""}), check_dtype=False
    )


def test_the_same_seed_writes_the_same_bytes_and_another_seed_other_people(
    prefect_server, tmp_path
):
    simulate_flow("coffee", str(tmp_path / "a"), seed=3)
    simulate_flow("coffee", str(tmp_path / "b"), seed=3)
    simulate_flow("coffee", str(tmp_path / "c"), seed=4)
    first = (tmp_path / "a" / "roster.csv").read_bytes()
    assert (tmp_path / "b" / "roster.csv").read_bytes() == first
    assert (tmp_path / "c" / "roster.csv").read_bytes() != first


def test_an_unknown_design_is_refused_with_its_name_and_nothing_is_written(
    prefect_server, tmp_path
):
    with pytest.raises(DesignError, match=r"^Design file no_such_trial does not exist\.$"):
        simulate_flow("no_such_trial", str(tmp_path / "out"), seed=1)
    assert not (tmp_path / "out").exists()
