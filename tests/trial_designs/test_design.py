from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from trial_designs.design import DesignError, TrialDesign, design_json_schema, load_design

SEED_TRIALS = ["letters", "goal_setting", "coffee", "schwartz_rounds"]


@pytest.mark.parametrize("name", SEED_TRIALS)
def test_seed_designs_load_and_are_frozen(design_path, name):
    design = load_design(design_path(name))
    assert design.id == name
    with pytest.raises(Exception, match="frozen"):
        design.title = "changed"


def test_seed_designs_mirror_the_seed_trials(design_path):
    coffee = load_design(design_path("coffee"))
    assert (coffee.unit, coffee.cluster_by, len(coffee.clusters)) == ("cluster", "building", 13)
    schwartz = load_design(design_path("schwartz_rounds"))
    assert (schwartz.unit, schwartz.cluster_by, len(schwartz.clusters)) == (
        "cluster",
        "organisation",
        5,
    )
    assert load_design(design_path("letters")).strata == ("organisation",)


def test_hash_is_content_hash_and_changes_with_content(design_path, tmp_path):
    design = load_design(design_path("letters"))
    again = load_design(design_path("letters"))
    assert design.design_hash == again.design_hash and len(design.design_hash) == 64
    data = yaml.safe_load(design_path("letters").read_text())
    data["randomisation"]["seed"] += 1
    changed = tmp_path / "letters.yaml"
    changed.write_text(yaml.safe_dump(data))
    assert load_design(changed).design_hash != design.design_hash


def test_committed_json_schema_is_current():
    committed = json.loads(
        (Path(__file__).parents[2] / "trial_designs" / "design.schema.json").read_text()
    )
    assert committed == json.loads(json.dumps(design_json_schema()))


def _write(tmp_path: Path, name: str, mutate) -> Path:
    data = yaml.safe_load(
        (Path(__file__).parents[2] / "trial_designs" / f"{name}.yaml").read_text()
    )
    mutate(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_zero_ratio_names_file_field_rule_value(tmp_path):
    path = _write(tmp_path, "letters", lambda d: d["arms"][1].update(ratio=0))
    with pytest.raises(DesignError) as err:
        load_design(path)
    assert str(err.value) == (
        "letters.yaml: arms[1] (letter): 'ratio' must be a positive integer. Got 0 instead."
    )


def test_unknown_arm_in_intervention(tmp_path):
    path = _write(tmp_path, "letters", lambda d: d["interventions"][0].update(arm="letterz"))
    with pytest.raises(
        DesignError,
        match=r"letters.yaml: intervention 'letters' names an unknown arm\. Choose one of \['control', 'letter'\]\. Got 'letterz' instead\.",
    ):
        load_design(path)


def test_cluster_trial_without_cluster_by(tmp_path):
    path = _write(tmp_path, "coffee", lambda d: d.pop("cluster_by"))
    with pytest.raises(
        DesignError,
        match="coffee.yaml: .*a cluster trial must name 'cluster_by'. Got None instead.",
    ):
        load_design(path)


def test_block_size_not_multiple_of_ratio_sum(tmp_path):
    def mutate(d):
        d["arms"][1]["ratio"] = 2
        d["randomisation"]["block_sizes"] = [3, 4]

    path = _write(tmp_path, "letters", mutate)
    with pytest.raises(
        DesignError,
        match="letters.yaml: .*every block size must be a multiple of the ratio sum 3. Got 4 instead.",
    ):
        load_design(path)


def test_unknown_method_lists_choices(tmp_path):
    path = _write(tmp_path, "letters", lambda d: d["randomisation"].update(method="coin"))
    with pytest.raises(
        DesignError,
        match=r"letters.yaml: randomisation: 'method' must be one of 'complete', 'blocked', 'cluster', 'constrained_cluster' or 'minimisation'. Got 'coin' instead.",
    ):
        load_design(path)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(DesignError, match="does not exist"):
        load_design(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed")
    with pytest.raises(DesignError, match="bad.yaml: is not valid YAML"):
        load_design(bad)


def test_model_is_a_trial_design(design_path):
    assert isinstance(load_design(design_path("coffee")), TrialDesign)
