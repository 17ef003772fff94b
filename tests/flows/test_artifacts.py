"""Prefect artifacts of an ingest: the quarantine by rule with row numbers, and no staff ids."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from flows.deliveries import deliveries_ingest_flow
from flows.randomise import randomise_flow
from flows.store import Store
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.simulate_deliveries import simulate_deliveries
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow


async def _artifact(key: str):  # noqa: ANN202
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    # the newest under the key: other tests in the session publish under the same key, and
    # the server's default order (by id, a random UUID) made the last one any of them
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    return found[0] if found else None


def test_a_delivery_ingest_publishes_its_quarantine_by_rule_without_ids(prefect_server, tmp_path):
    design = load_design(DESIGNS / "goal_setting.yaml")
    simulate_roster(design, rng=np.random.default_rng(3)).to_csv(
        tmp_path / "roster.csv", index=False
    )
    randomise_flow("goal_setting", str(tmp_path / "roster.csv"))
    people = Store().participant_arms("goal_setting")
    log = simulate_deliveries(design, people, rng=np.random.default_rng(8))["deliveries.csv"]
    path = tmp_path / "export.csv"
    log.to_csv(path, index=False)
    deliveries_ingest_flow("goal_setting", str(path))

    held = Store().quarantined("goal_setting")
    table = asyncio.run(_artifact("goal-setting-deliveries-quarantine"))
    assert table is not None and table.type == "table"
    rows = table.data if isinstance(table.data, list) else json.loads(table.data)
    by_rule = {r["rule"]: r for r in rows}
    expected = held.groupby("rule")["row_number"].apply(lambda s: sorted(set(s)))
    assert set(by_rule) == set(expected.index)
    for rule, numbers in expected.items():
        assert by_rule[rule]["rows"] == len(numbers)
        assert by_rule[rule]["row_numbers"].startswith(", ".join(map(str, numbers[:10])))
    markdown = asyncio.run(_artifact("goal-setting-deliveries-ingest"))
    text = str(markdown.data) + str(rows)
    assert "quarantined" in text
    # the bad rows' values (an unknown learner id among them) stay out of the artifacts
    for value in held["value"].dropna():
        if len(value) > 4:
            assert value not in text
    assert not any(pid in text for pid in people["participant_id"])
