"""Chunks on a real Dask cluster (worker processes) give the serial run's numbers exactly,
and a scheduler that cannot be reached is refused before anything runs."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from typer.testing import CliRunner

from analysis.diagnose import DiagnosisSettings, chunk_seeds, simulate_chunk
from flows import dask_runner
from flows.dask_runner import DaskUnreachable, dask_client, map_chunks
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a LocalCluster of two worker processes, one thread each."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def coffee() -> tuple:
    design = load_design("trial_designs/coffee.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(3)).rename(
        columns={v: k for k, v in design.roster.columns.items()}
    )
    return roster, design


def test_diagnosis_chunks_on_the_cluster_equal_one_serial_run(scheduler, coffee):
    roster, design = coffee
    settings = DiagnosisSettings(effect=0.1, icc=0.05, ri_draws=20)
    serial = simulate_chunk(roster, design, settings, chunk_seeds(5, 12, 12)[0])
    with dask_client(scheduler) as client:
        finished = []
        parts = map_chunks(
            simulate_chunk,
            chunk_seeds(5, 12, 5),
            shared=(roster, design, settings),
            client=client,
            on_done=finished.append,
        )
        ran_on = client.run(lambda: __import__("os").getpid())
    assert sorted(finished) == [0, 1, 2]
    assert len(set(ran_on.values())) == 2  # two worker processes, neither this one
    on_cluster = __import__("pandas").concat(parts, ignore_index=True)
    assert on_cluster.equals(serial)  # exact: NaN == NaN, every float bit for bit
    assert set(serial["estimator"]) == {"ITT CR1", "ITT CR2", "RI"}


def test_diagnose_flow_on_the_scheduler_equals_the_serial_flow(scheduler, prefect_server):
    from flows.diagnose import run_diagnosis

    parameters = {"sims": 16, "effect": 0.0, "seed": 11}
    serial = run_diagnosis("coffee", **parameters)
    on_dask = run_diagnosis("coffee", dask_address=scheduler, **parameters)
    assert on_dask == serial
    assert all(row["sims"] == 16 for row in serial)


def test_an_unreachable_scheduler_is_refused_naming_the_address(monkeypatch):
    monkeypatch.setattr(dask_runner, "CONNECT_TIMEOUT_S", 1)
    with (
        pytest.raises(
            DaskUnreachable,
            match=r"Could not reach the Dask scheduler at tcp://127\.0\.0\.1:1 within 1 s",
        ),
        dask_client("tcp://127.0.0.1:1"),
    ):
        pytest.fail("the block ran without a scheduler")


@pytest.mark.parametrize("command", [["diagnose", "coffee", "--sims", "10"], ["analyse", "coffee"]])
def test_a_command_refuses_a_bad_address_with_exit_1_and_writes_nothing(
    monkeypatch, _isolated_home, command
):
    from flows.cli import app

    monkeypatch.setattr(dask_runner, "CONNECT_TIMEOUT_S", 1)
    result = CliRunner().invoke(app, [*command, "--dask-address", "tcp://127.0.0.1:1"])
    assert result.exit_code == 1, result.output
    assert "Could not reach the Dask scheduler at tcp://127.0.0.1:1 within 1 s" in result.output
    assert "Traceback" not in result.output  # one error line, no clean-up noise under it
    written = [p for p in _isolated_home.rglob("*") if p.is_file() and "logs" not in p.parts]
    assert written == []


def test_both_an_address_and_local_workers_are_refused():
    with (
        pytest.raises(ValueError, match=r"either '--dask-address'.*not both"),
        dask_client("tcp://127.0.0.1:8786", 2),
    ):
        pytest.fail("the block ran")


def test_cost_effectiveness_bootstrap_blocks_on_the_cluster_equal_the_serial_run(scheduler):
    from analysis.costs import bootstrap_cost_effect

    rng = np.random.default_rng(8)
    arm = rng.random(300) < 0.5
    costs = np.where(arm, rng.gamma(2.0, 40.0, 300), 0.0)
    effects = rng.normal(20, 4, 300) + 1.5 * arm
    clusters = np.where(arm, "t", "c") + rng.integers(0, 12, 300).astype(str)

    def run(map_blocks=None):  # noqa: ANN001, ANN202
        return bootstrap_cost_effect(
            costs, effects, arm, clusters=clusters, rng=np.random.default_rng(21),
            n_boot=400, chunk_size=90, map_blocks=map_blocks,
        )  # fmt: skip

    serial = run()
    with dask_client(scheduler) as client:
        on_cluster = run(
            lambda function, blocks, shared: map_chunks(
                function, blocks, shared=shared, client=client
            )
        )
    assert np.array_equal(on_cluster.replicate_costs, serial.replicate_costs)
    assert np.array_equal(on_cluster.replicate_effects, serial.replicate_effects)
    assert on_cluster.incremental_effect_ci == serial.incremental_effect_ci
    assert (on_cluster.icer_ci_low, on_cluster.icer_ci_high) == (
        serial.icer_ci_low,
        serial.icer_ci_high,
    ) or np.isnan(serial.icer_ci_low)
    assert len(set(serial.replicate_costs[:90]) & set(serial.replicate_costs[90:180])) < 5


def test_maps_over_the_same_shared_data_one_after_another_all_finish(scheduler):
    """Scattered under hashed keys, a second map's data shared the first map's keys, which
    the scheduler was forgetting: its chunks failed with 'lost dependencies'."""
    import operator

    shared = (np.arange(5),)
    with dask_client(scheduler) as client:
        for _ in range(3):
            out = map_chunks(operator.add, [1, 2, 3], shared=shared, client=client)
            assert [o.tolist() for o in out] == [list(range(k, k + 5)) for k in (1, 2, 3)]


def test_randomisation_inference_blocks_on_the_cluster_equal_the_serial_run(scheduler):
    """Each block re-draws from its own child seed, so the p-values and intervals do not
    depend on where (or in what order) the blocks ran: the serial document, bit for bit."""
    from threadpoolctl import threadpool_limits

    from analysis.inference import prepare_ri, ri_block, ri_blocks
    from analysis.results import analyse_trial
    from analysis.results_model import dump_results
    from analysis.sections.ri import draws_for_rows
    from flows.dask_runner import blocks_on
    from tests.designs import DESIGNS
    from trial_designs.randomise import randomise

    # 1,315 staff: large enough for OpenBLAS to split a block's product over two threads
    # here but not on a one-thread worker, which moved the last bits before the statistics
    # ran on one BLAS thread everywhere
    design = load_design(DESIGNS / "goal_setting.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(5)).rename(
        columns={v: k for k, v in design.roster.columns.items()}
    )
    allocation = randomise(roster, design)
    arms = allocation.members.merge(allocation.units[["unit_id", "stratum", "arm"]], on="unit_id")
    data = roster.rename(columns={"id": "participant_id"}).merge(arms, on="participant_id")
    data["cluster"] = np.nan
    rng = np.random.default_rng(6)
    primary = design.primary_outcome.name
    data[f"{primary}_baseline"] = rng.normal(20, 3, len(data))
    data[f"{primary}_endline"] = (
        0.6 * data[f"{primary}_baseline"] + 0.4 * (data["arm"] != design.control_arm)
        + rng.normal(0, 2.5, len(data))
    )  # fmt: skip
    data["responded_endline"] = 1
    # two BLAS threads here (as on a 2-core machine outside pytest), one on each worker
    with threadpool_limits(limits=2, user_api="blas"):
        serial = analyse_trial(data, design, ri_draws=600)  # blocks of 250, 250 and 100
    with dask_client(scheduler) as client:
        on_cluster = analyse_trial(data, design, ri_draws=600, map_blocks=blocks_on(client))
    itt = serial["outcomes"][0]["estimates"][0]
    assert itt["ri_draws"] == 600 and 0 < itt["ri_p_value"] < 1
    assert itt["ri_ci_low"] < itt["estimate"] < itt["ri_ci_high"]
    assert dump_results(on_cluster) == dump_results(serial)
    # and the blocks' statistics themselves: a last-bit difference in them reaches the
    # document only when a draw sits at the edge of the test, so 600 draws rarely show it
    endline = data[f"{primary}_endline"].to_numpy()
    model = prepare_ri(
        endline,
        (data["arm"] != design.control_arm).to_numpy(float),
        data[[f"{primary}_baseline"]].to_numpy(),
        data["stratum"].to_numpy(),
        term="course",
        arm_code=design.arm_names.index("course"),
    )

    def redraw(n_draws, rng):  # noqa: ANN001, ANN202 - sent to the workers by value
        return draws_for_rows(data, design, n_draws, rng)[0]

    blocks = ri_blocks([1, 2], 600, len(data))
    with threadpool_limits(limits=2, user_api="blas"):
        here = [ri_block(redraw, [model], block)[0] for block in blocks]
    with dask_client(scheduler) as client:
        there = [
            b[0] for b in map_chunks(ri_block, blocks, shared=(redraw, [model]), client=client)
        ]
    assert all(np.array_equal(h, t) for h, t in zip(here, there, strict=True))
