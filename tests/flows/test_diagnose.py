from __future__ import annotations

import pytest

from flows.diagnose import run_diagnosis

pytestmark = pytest.mark.flow


def test_diagnosis_on_a_local_dask_cluster_equals_the_serial_run(prefect_server):
    """Worker processes on a real distributed.LocalCluster give the serial run's numbers exactly."""
    parameters = {"sims": 24, "chunk_size": 6, "effect": 0.0, "seed": 11}
    serial = run_diagnosis("coffee", **parameters)
    on_dask = run_diagnosis("coffee", dask_workers=2, **parameters)
    assert on_dask == serial
    assert {row["estimator"] for row in serial} == {"ITT CR1", "ITT CR2"}
    assert all(row["sims"] == 24 for row in serial)
