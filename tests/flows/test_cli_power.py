"""`trialflow power`: the CLI gives analysis.power's numbers, takes defaults from a design
and reports bad input as one line with exit code 1.  A pure calculation: no Prefect server."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from analysis.power import PowerInputs, mdes, power_for_effect
from flows.cli import app
from flows.cli.power import power as power_command

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, ["power", *args])


def _json(*args: str) -> dict:
    result = _invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _flat(text: str) -> str:
    """Rich wraps at the terminal width; compare sentences with single spaces."""
    return " ".join(text.split())


def test_mdes_printed_is_analysis_power_mdes_for_the_same_inputs():
    printed = _json(
        "--n", "377", "--clusters", "13", "--icc", "0.05", "--r2", "0.5", "--covariates", "1"
    )
    expected = mdes(n=377, n_clusters=13, icc=0.05, r2=0.5, n_covariates=1)
    assert printed == expected.to_dict()
    assert printed["solved_for"] == "mdes" and printed["df"] == 10


def test_cluster_size_gives_the_same_mdes_as_the_matching_number_of_clusters():
    by_size = _json("--n", "377", "--cluster-size", "29", "--icc", "0.05", "--power", "0.9")
    by_count = _json("--n", "377", "--clusters", "13", "--icc", "0.05", "--power", "0.9")
    assert by_size == by_count == mdes(n=377, n_clusters=13, icc=0.05, power=0.9).to_dict()


def test_power_printed_is_power_for_effect_for_the_same_inputs():
    arguments = ["--n", "400", "--allocation", "0.6", "--r2", "0.3", "--alpha", "0.1"]
    printed = _json(*arguments, "--effect-size", "0.25", "--distribution", "normal")
    expected = power_for_effect(
        0.25, n=400, allocation=0.6, r2=0.3, alpha=0.1, distribution="normal"
    )
    assert printed == expected.to_dict()
    assert printed["solved_for"] == "power" and printed["df"] is None


def test_coffee_design_supplies_its_13_buildings_and_equal_allocation():
    printed = _json("coffee", "--n", "377", "--icc", "0.05", "--r2", "0.5")
    assert printed == mdes(n=377, n_clusters=13, icc=0.05, r2=0.5, allocation=0.5).to_dict()
    assert printed["design"] == "cluster" and printed["cluster_size"] == 29

    table = _invoke("coffee", "--n", "377", "--icc", "0.05", "--r2", "0.5")
    assert table.exit_code == 0, table.output
    text = _flat(table.output)
    assert "design coffee: 13 buildings listed" in text
    assert "design coffee: coffee 1 : control 1" in text
    assert (
        "With 13 clusters of 29 staff, ICC 0.05 and R² 0.5, the smallest effect this trial "
        f"can detect with 80% power at 5% two-sided is d = {printed['effect_size']:.2f}."
    ) in text


def test_command_line_overrides_the_design():
    printed = _json(
        "coffee", "--n", "377", "--icc", "0.05", "--clusters", "10", "--allocation", "0.4"
    )
    assert printed == mdes(n=377, n_clusters=10, icc=0.05, allocation=0.4).to_dict()


def test_letters_design_is_an_individual_trial():
    printed = _json("letters", "--n", "400", "--effect-size", "0.3")
    assert printed == power_for_effect(0.3, n=400, allocation=0.5).to_dict()
    assert printed["design"] == "individual" and printed["n_clusters"] is None

    table = _flat(_invoke("letters", "--n", "400", "--effect-size", "0.3").output)
    assert "design letters: letter 1 : control 1" in table
    assert f"this trial has {printed['power']:.0%} power to detect d = 0.3" in table


def test_allocation_comes_from_the_design_arm_ratios(tmp_path: Path, design_path):
    spec = yaml.safe_load(design_path("letters").read_text())
    spec["arms"] = [{**arm, "ratio": 1 if arm.get("control") else 2} for arm in spec["arms"]]
    spec["randomisation"]["block_sizes"] = [3, 6]
    two_to_one = tmp_path / "letters_2to1.yaml"
    two_to_one.write_text(yaml.safe_dump(spec))

    printed = _json(str(two_to_one), "--n", "300")
    assert printed == mdes(n=300, allocation=2 / 3).to_dict()
    assert "design letters: letter 2 : control 1" in _flat(
        _invoke(str(two_to_one), "--n", "300").output
    )


@pytest.mark.parametrize(
    ("arguments", "bad"),
    [
        (["--icc", "1.5"], {"icc": 1.5}),
        (["--icc", "0.05", "--power", "0"], {"icc": 0.05, "power": 0.0}),
        (["--icc", "0.05", "--alpha", "1"], {"icc": 0.05, "alpha": 1.0}),
        (["--icc", "0.05", "--cluster-size", "20"], {"icc": 0.05, "cluster_size": 20.0}),
        (["--icc", "0.05", "--distribution", "z"], {"icc": 0.05, "distribution": "z"}),
    ],
)
def test_bad_input_exits_1_with_analysis_power_message(arguments, bad):
    with pytest.raises(ValueError) as raised:
        mdes(n=377, n_clusters=13, **bad)
    result = _invoke("--n", "377", "--clusters", "13", *arguments)
    assert result.exit_code == 1
    assert _flat(result.output) == f"error: {raised.value}"
    assert "Traceback" not in result.output


def test_bad_icc_message_names_the_rule_and_value():
    result = _invoke("coffee", "--n", "377", "--icc", "1.5")
    assert result.exit_code == 1
    assert result.output.strip() == "error: The 'icc' must lie in [0, 1). Got 1.5 instead."


def test_cluster_trial_without_icc_is_refused():
    result = _invoke("coffee", "--n", "377")
    assert result.exit_code == 1
    assert "give --icc" in _flat(result.output)


def test_power_and_effect_size_together_are_refused():
    result = _invoke("--n", "400", "--power", "0.9", "--effect-size", "0.2")
    assert result.exit_code == 1
    assert "not both" in _flat(result.output)


def test_unknown_design_is_one_line_error():
    result = _invoke("no_such_trial", "--n", "400")
    assert result.exit_code == 1
    assert _flat(result.output) == "error: Design file no_such_trial does not exist."


def test_the_command_options_are_the_power_inputs_and_the_two_targets():
    # resolve_inputs reads the command's options by PowerInputs' field names: a renamed
    # option would fail here rather than as a KeyError in the command
    options = set(inspect.signature(power_command).parameters) - {"ctx", "design", "as_json"}
    assert options == {f.name for f in fields(PowerInputs)} | {"power", "effect_size"}
