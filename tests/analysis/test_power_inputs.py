"""analysis.power's input resolution for the ``power`` command: pure, so tested without the CLI.

The CLI tests (tests/flows/test_cli_power.py) check the same numbers through the command;
these check each rule of resolve_inputs and that the command's options are PowerInputs'.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

from analysis.power import PowerInputs, calculate, mdes, power_for_effect, resolve_inputs, solve_for
from tests.designs import DESIGNS
from trial_designs.design import load_design

#: What the command passes when only --n is typed.
BARE = {
    "n": 377,
    "n_clusters": None,
    "cluster_size": None,
    "icc": None,
    "r2": 0.0,
    "n_covariates": 0,
    "alpha": 0.05,
    "power": None,
    "effect_size": None,
    "allocation": None,
    "distribution": "t",
    "alternative": "two-sided",
}


def test_without_a_design_every_default_is_said_to_be_one():
    inputs, source = resolve_inputs(BARE, given={"n"}, trial=None)
    assert inputs == PowerInputs(n=377)
    assert source == {
        "n": "option",
        "r2": "default",
        "n_covariates": "default",
        "alpha": "default",
        "distribution": "default",
        "alternative": "default",
        "allocation": "default",
        "icc": "not used: individual randomisation",
        "unit": "default",
        "power": "default",
    }


def test_a_cluster_design_supplies_its_clusters_and_needs_an_icc():
    coffee = load_design(DESIGNS / "coffee.yaml")
    with pytest.raises(ValueError, match="give --icc"):
        resolve_inputs(BARE, given={"n"}, trial=coffee)
    inputs, source = resolve_inputs({**BARE, "icc": 0.05}, given={"n", "icc"}, trial=coffee)
    assert inputs.n_clusters == len(coffee.clusters) == 13
    assert inputs.cluster_size == 1 and inputs.icc == 0.05
    assert source["n_clusters"] == "design coffee: 13 buildings listed"
    assert source["cluster_size"] == "n / J" and source["unit"] == "design coffee"
    assert calculate(inputs, power=None, effect_size=None) == mdes(
        n=377, n_clusters=13, icc=0.05, allocation=inputs.allocation
    )


def test_cluster_size_alone_makes_a_cluster_trial_and_j_is_derived():
    options = {**BARE, "cluster_size": 29.0, "icc": 0.05}
    inputs, source = resolve_inputs(options, given={"n", "cluster_size", "icc"}, trial=None)
    assert source["n_clusters"] == "n / m" and source["cluster_size"] == "option"
    assert source["unit"] == "--clusters / --cluster-size"
    assert inputs.n_clusters is None and inputs.cluster_size == 29.0


def test_a_given_effect_size_is_solved_for_power():
    options = {**BARE, "effect_size": 0.3}
    inputs, source = resolve_inputs(options, given={"n", "effect_size"}, trial=None)
    assert "power" not in source and source["effect_size"] == "option"
    assert calculate(inputs, power=None, effect_size=0.3) == power_for_effect(0.3, **asdict(inputs))


def test_power_and_effect_size_together_are_refused_by_name():
    assert solve_for(power=None, effect_size=None) == "mdes"
    assert solve_for(power=0.9, effect_size=None) == "mdes"
    assert solve_for(power=None, effect_size=0.2) == "power"
    with pytest.raises(
        ValueError, match=r"not both\. Got --power 0\.9 and --effect-size 0\.2 instead\."
    ):
        solve_for(power=0.9, effect_size=0.2)


def test_unknown_input_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="icc_between"):
        mdes(n=100, icc_between=0.1)
