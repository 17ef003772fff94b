"""Randomisation inference in blocks of draws, with strata absorbed by demeaning: the same
coefficients as the dummy-column refit, and the same bits however the blocks are run."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import inference
from analysis.inference import (
    RI_BLOCK_CELLS,
    RI_MAX_BLOCK_DRAWS,
    draw_coefficients,
    prepare_ri,
    randomisation_inference,
    ri_blocks,
    ri_statistics,
    run_randomisation_inference,
)


def _stratified(rng, n=240, n_strata=7):
    strata = rng.integers(0, n_strata, n)
    baseline = rng.normal(size=n)
    level = rng.normal(size=n_strata)[strata]  # constant within each stratum
    treat = (rng.permutation(n) < n // 2).astype(float)
    y = 1 + 0.4 * treat + 0.8 * baseline + level + rng.normal(size=n)
    draws = np.stack([(rng.permutation(n) < n // 2).astype(float) for _ in range(400)])
    dummies = (strata[:, None] == np.arange(1, n_strata)).astype(float)
    return y, treat, baseline, level, strata, dummies, draws


def test_absorbing_strata_gives_the_dummy_column_coefficients_and_p_value(rng):
    y, treat, baseline, _level, strata, dummies, draws = _stratified(rng)
    with_dummies = np.column_stack([np.ones(len(y)), baseline, dummies])
    old = np.divide(*draw_coefficients(y, with_dummies, draws))
    model = prepare_ri(y, treat, baseline[:, None], strata, term="arm")
    a, b, _c = ri_statistics(model, draws)
    np.testing.assert_allclose(a / b, old, rtol=1e-10, atol=1e-13)
    observed = np.divide(*draw_coefficients(y, with_dummies, treat[None, :]))[0]
    assert model.observed[0] / model.observed[1] == pytest.approx(observed, rel=1e-12)
    absorbed = randomisation_inference(y, treat, baseline[:, None], draws, strata=strata, term="a")
    as_columns = randomisation_inference(y, treat, with_dummies, draws, term="a")
    assert absorbed.p_value == as_columns.p_value
    assert absorbed.ci_low == pytest.approx(as_columns.ci_low, rel=1e-9)
    assert absorbed.ci_high == pytest.approx(as_columns.ci_high, rel=1e-9)


def test_a_covariate_constant_within_strata_is_absorbed_not_a_source_of_noise(rng):
    y, treat, baseline, level, strata, dummies, draws = _stratified(rng)
    old = np.divide(
        *draw_coefficients(y, np.column_stack([np.ones(len(y)), baseline, dummies]), draws)
    )
    # the intercept and a stratum-level covariate are both zero columns once demeaned
    covariates = np.column_stack([np.ones(len(y)), level, baseline])
    a, b, _c = ri_statistics(prepare_ri(y, treat, covariates, strata, term="a"), draws)
    np.testing.assert_allclose(a / b, old, rtol=1e-10, atol=1e-13)


def test_block_sizes_come_from_the_constants_and_the_rows_and_seeds_are_spawned():
    blocks = ri_blocks([7, 99], 2_000, 1_000)
    assert [b.n_draws for b in blocks] == [RI_MAX_BLOCK_DRAWS] * 8
    national = ri_blocks([7, 99], 110, 1_300_000)
    per_block = RI_BLOCK_CELLS // 1_300_000  # 25
    assert [b.n_draws for b in national] == [per_block] * 4 + [110 - 4 * per_block]
    spawned = np.random.SeedSequence([7, 99]).spawn(8)
    assert [b.seed.spawn_key for b in blocks] == [s.spawn_key for s in spawned]
    assert ri_blocks([7, 99], 3, 10**9)[0].n_draws == 1  # never 0 draws a block


def _redraw(n_rows: int):  # noqa: ANN202
    def redraw(n_draws: int, rng: np.random.Generator) -> np.ndarray:
        assert n_draws <= 64  # a block, never all the draws at once
        return np.stack(
            [(rng.permutation(n_rows) < n_rows // 2).astype(int) for _ in range(n_draws)]
        )

    return redraw


def test_blocks_equal_one_run_over_the_same_draws_in_any_order(rng, monkeypatch):
    monkeypatch.setattr(inference, "RI_MAX_BLOCK_DRAWS", 64)
    y, treat, baseline, _level, strata, _dummies, _draws = _stratified(rng)
    models = [
        prepare_ri(y, treat, baseline[:, None], strata, term="a"),
        prepare_ri(y[::2], treat[::2], None, None, term="b", rows=np.arange(0, len(y), 2)),
    ]
    blocks = ri_blocks([2026, 1], 300, len(y))
    assert [b.n_draws for b in blocks] == [64, 64, 64, 64, 44]
    serial = run_randomisation_inference(models, _redraw(len(y)), blocks)

    def backwards(function, blocks, shared):  # noqa: ANN001, ANN202
        return [function(*shared, block) for block in blocks[::-1]][::-1]

    elsewhere = run_randomisation_inference(models, _redraw(len(y)), blocks, map_blocks=backwards)
    assert elsewhere == serial  # the same bits, field by field
    stacked = np.vstack(
        [_redraw(len(y))(b.n_draws, np.random.default_rng(b.seed)) for b in blocks]
    ).astype(float)
    assert serial[0] == randomisation_inference(
        y, treat, baseline[:, None], stacked, strata=strata, term="a"
    )
    assert serial[1].n_draws == 300 and 0 <= serial[1].p_value <= 1
