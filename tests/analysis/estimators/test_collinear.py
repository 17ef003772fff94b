"""Collinear columns are dropped by name, in R's lm order, whatever the shape of the design.

A subgroup level of a trial with a team covariate can have more model columns than rows; the
drop used to read the diagonal of an unpivoted QR, which then had fewer entries than columns
and failed with "operands could not be broadcast together".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analysis.estimators.design_matrix import drop_collinear
from analysis.results import analyse_trial
from trial_designs.design import TrialDesign

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_results import DESIGNS, _dataset  # noqa: E402


def test_more_columns_than_rows_keeps_the_first_independent_ones_by_name():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(4, 7)), columns=[f"c{i}" for i in range(7)])
    frame.insert(0, "(Intercept)", 1.0)
    kept, dropped = drop_collinear(frame, protected=["(Intercept)", "c0"])
    assert list(kept.columns) == ["(Intercept)", "c0", "c1", "c2"]
    assert dropped == ["c3", "c4", "c5", "c6"]
    pd.testing.assert_frame_equal(kept, frame[["(Intercept)", "c0", "c1", "c2"]])


def test_an_all_zero_column_does_not_hide_the_column_after_it():
    # a team absent from a subgroup gives an all-zero dummy; the next column is independent
    frame = pd.DataFrame(
        {
            "(Intercept)": [1.0, 1.0, 1.0, 1.0, 1.0],
            "treat": [0.0, 1.0, 0.0, 1.0, 1.0],
            "team[B]": [0.0, 0.0, 0.0, 0.0, 0.0],
            "team[C]": [1.0, 0.0, 0.0, 0.0, 0.0],
            "twice_C": [2.0, 0.0, 0.0, 0.0, 0.0],
        }
    )
    kept, dropped = drop_collinear(frame, protected=["(Intercept)", "treat"])
    assert dropped == ["team[B]", "twice_C"]
    assert list(kept.columns) == ["(Intercept)", "treat", "team[C]"]


def test_letters_with_a_team_covariate_and_a_role_subgroup_in_a_small_sample():
    raw = yaml.safe_load((DESIGNS / "letters.yaml").read_text())
    raw["analysis"]["covariates"] = ["team"]
    raw["analysis"]["subgroups"] = ["role"]  # letters declares more; this case needs role alone
    design = TrialDesign.model_validate(raw)
    data, _ = _dataset("letters", effect=0.5)
    # 20 per arm: some role has fewer rows than it has team dummies, strata and baseline
    small = data.groupby("arm").head(20)
    results = analyse_trial(small, design, ri_draws=20)
    subgroups = results["outcomes"][0]["subgroups"]
    assert subgroups, "the role subgroup should be estimated"
    y = f"{design.primary_outcome.name}_endline"
    base = f"{design.primary_outcome.name}_baseline"
    for row in subgroups:
        subset = small[small["role"] == row["level"]].dropna(subset=[y, base])
        assert row["n"] == len(subset)
        # the arm's effect is identified: any least-squares solution of the same columns
        # (minimum norm here, whatever was dropped) gives the same estimate
        x = pd.concat(
            [
                pd.Series(1.0, index=subset.index),
                (subset["arm"] == "letter").astype(float),
                subset[base],
                pd.get_dummies(subset["team"], drop_first=True).astype(float),
                pd.get_dummies(subset["organisation"], drop_first=True).astype(float),
            ],
            axis=1,
        ).to_numpy(float)
        beta = np.linalg.lstsq(x, subset[y].to_numpy(float), rcond=None)[0]
        assert abs(row["estimate"] - beta[1]) < 1e-8


def _one_column_at_a_time(matrix: np.ndarray) -> list[bool]:
    """The drop before it ran in blocks: each column projected off every kept one in turn."""
    basis, flags = np.empty((matrix.shape[0], 0)), []
    for column in matrix.T:
        residual = column.astype(float)
        for _ in range(2):
            residual = residual - basis @ (basis.T @ residual)
        distance = np.linalg.norm(residual)
        bad = basis.shape[1] == min(matrix.shape) or distance <= 1e-7 * max(
            np.linalg.norm(column), 1e-300
        )
        flags.append(bool(bad))
        if not bad:
            basis = np.column_stack([basis, residual / distance])
    return flags


def test_blocks_of_columns_drop_what_one_column_at_a_time_drops():
    from analysis.estimators import design_matrix

    rng = np.random.default_rng(12)
    for n_rows, n_strata in [(400, 90), (60, 90)]:  # more columns than rows in the second
        strata = rng.integers(0, n_strata, n_rows)
        baseline = rng.normal(size=n_rows)
        matrix = np.column_stack(
            [
                np.ones(n_rows),
                rng.random(n_rows) < 0.5,
                baseline,
                (strata[:, None] == np.arange(1, n_strata)).astype(float),  # some all zero
                2 * baseline - 1,  # explained by the intercept and baseline, past a block
                rng.normal(size=n_rows),
            ]
        )
        flags = design_matrix._collinear_columns(matrix)
        assert flags == _one_column_at_a_time(matrix)
        assert flags[-2] and (n_rows < matrix.shape[1] or not flags[-1])
