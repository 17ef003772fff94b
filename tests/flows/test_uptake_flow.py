from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.uptake import summarise_uptake
from flows.deliveries import deliveries_ingest_flow
from flows.export import load_analysis_dataset
from flows.randomise import randomise_flow
from flows.store import Store
from flows.uptake import (
    load_events,
    participant_uptake_from_store,
    uptake_flow,
    uptake_section_from_store,
)
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_deliveries import simulate_deliveries
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow


def _randomise(name: str, tmp_path: Path):  # noqa: ANN202
    design = load_design(DESIGNS / f"{name}.yaml")
    simulate_roster(design, rng=np.random.default_rng(5)).to_csv(
        tmp_path / "roster.csv", index=False
    )
    randomise_flow(name, str(tmp_path / "roster.csv"))
    return design


def _artifact_keys(prefix: str) -> set[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {a.key for a in client.read_artifacts() if a.key and a.key.startswith(prefix)}


def test_uptake_flow_publishes_the_funnel_and_writes_a_dashboard(prefect_server, tmp_path):
    design = _randomise("schwartz_rounds", tmp_path)
    people = Store().participant_arms("schwartz_rounds")
    log = simulate_deliveries(design, people, rng=np.random.default_rng(9))["deliveries.csv"]
    log.to_csv(tmp_path / "rounds.csv", index=False)
    assert participant_uptake_from_store(design) is None  # nothing delivered yet
    deliveries_ingest_flow("schwartz_rounds", str(tmp_path / "rounds.csv"))
    result = uptake_flow("schwartz_rounds")
    # the flow's funnel is the pure function's, on what the store holds
    expected = summarise_uptake(
        people,
        load_events(Store(), "schwartz_rounds"),
        design.interventions[0].uptake,
        arm_order=design.arm_names,
        control_arm=design.control_arm,
    )
    assert result["funnel"] == expected.to_dict()["funnel"]
    rounds = next(r for r in result["funnel"] if r["arm"] == "rounds")
    assert rounds["offered"] == rounds["allocated"] > rounds["started"] > rounds["completed"] > 0
    assert result["contaminated_units"] == 1
    html = Path(result["dashboard"]).read_text()
    assert html.count("<svg") == 2 and 'role="img"' in html
    assert "<h1>Uptake: Schwartz Rounds in children" in html
    assert expected.contamination["unit_id"].iloc[0] in html
    for name in (
        "funnel",
        "over_time",
        "by_organisation",
        "by_team",
        "doses",
        "participant_uptake",
    ):
        assert Path(result["files"][name]).exists()
    written = pd.read_csv(result["files"]["participant_uptake"])
    assert written["took_up"].sum() == sum(r["started"] for r in result["funnel"])
    assert {
        "schwartz-rounds-uptake-funnel",
        "schwartz-rounds-uptake",
        "schwartz-rounds-uptake-contamination",
    } <= _artifact_keys("schwartz-rounds-uptake")
    # the CACE's uptake variable reaches the analysis dataset, one row per participant
    dataset = load_analysis_dataset(design)
    assert len(dataset) == len(people)
    assert dataset["took_up"].sum() == sum(r["started"] for r in result["funnel"])
    assert dataset.groupby("arm")["dose"].sum().to_dict() == pytest.approx(
        {r["arm"]: r["mean_dose"] * r["allocated"] for r in result["funnel"]}
    )
    section = uptake_section_from_store(design)
    assert json.loads(json.dumps(section, allow_nan=False))["contamination"] == 1


def test_before_anything_is_delivered_the_dashboard_says_so(prefect_server, tmp_path):
    design = _randomise("coffee", tmp_path)
    result = uptake_flow("coffee")
    assert [r["started"] for r in result["funnel"]] == [0, 0]
    assert result["events"] == 0
    html = Path(result["dashboard"]).read_text()
    assert "Nobody has started yet." in html and "Nothing has been offered yet." in html
    assert "No control-arm unit has received the intervention." in html
    # the weekly run given the drop folder picks up a log the daily ingest has not seen
    log = simulate_deliveries(
        design, Store().participant_arms("coffee"), rng=np.random.default_rng(2)
    )["deliveries.csv"]
    (tmp_path / "drop" / "deliveries").mkdir(parents=True)
    log.to_csv(tmp_path / "drop" / "deliveries" / "machines.csv", index=False)
    weekly = uptake_flow("coffee", str(tmp_path / "drop"))
    coffee = next(r for r in weekly["funnel"] if r["arm"] == "coffee")
    assert weekly["events"] > 0 and coffee["started"] == coffee["allocated"]


def test_uptake_needs_a_randomised_trial(prefect_server):
    with pytest.raises(LookupError, match=r"Trial 'letters' has not been randomised yet"):
        uptake_flow("letters")
