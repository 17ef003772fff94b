"""What users get wrong in a design: each is refused when the design loads, by name and rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.designs import DESIGNS
from trial_designs.design import DesignError, load_design

#: Hashes of the packaged designs at 1ced485, before any of the fields below existed.
#: Allocations and results store the hash: a new optional field must not change it.
PINNED_HASHES = {
    "coffee": "2de1bb6e257c098389b1cc6913f8d46d230fb4d12dd5cfed3ab88192ac46adcc",
    # goal_setting gained a secondary outcome (burnout, CBI work-related scale file): a new
    # outcome is a new design, so its hash moved on purpose; the other three are unchanged.
    # It then declared a mid-point follow-up wave (issue 15.1, the demo's two-wave trial): a
    # new wave is a new design, so its hash moved on purpose again (it was 40167f73...)
    "goal_setting": "bf00d589610f0f81b5ff955adf5c4cb212cc50c91f5c1662b7055b8c1b64016a",
    # letters declares two learning cycles (issue 15.2, the demo's two-cycle trial): a new
    # declaration is a new design, so its hash moved on purpose (it was 75ebf353...). It then
    # declared organisation and a baseline wellbeing tertile as subgroups besides role (issue
    # 15.5, the demo's subgroup forest plots): moved on purpose again (it was 88538301...)
    "letters": "c5b3e98441be9d4ef7a51e6fa788b93df1672072f543ed121cf7d40a1aaaa6bf",
    # schwartz_rounds declares value_of_information (issue 15.6, the demo's EVPI): a new
    # declaration is a new design, so its hash moved on purpose (it was 7fda7471...)
    "schwartz_rounds": "2cacd1073da526e430a2d770783e000b83409e34b5f4964f46ec637f0a889f11",
    # the demo's three-arm design (not a seed trial): two interventions, Holm across its arms
    "goal_setting_nudges": "2470d52cf4e0aac09c00bc9fd7ce8badd2447d2011979be1a5585932a0233107",
}


def _write(tmp_path: Path, name: str, mutate) -> Path:
    data = yaml.safe_load((DESIGNS / f"{name}.yaml").read_text())
    mutate(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _error(tmp_path: Path, name: str, mutate) -> str:
    with pytest.raises(DesignError) as err:
        load_design(_write(tmp_path, name, mutate))
    return str(err.value)


@pytest.mark.parametrize("name", sorted(PINNED_HASHES))
def test_packaged_design_hashes_are_unchanged(name):
    assert load_design(DESIGNS / f"{name}.yaml").design_hash == PINNED_HASHES[name]


def test_a_new_field_left_at_its_default_does_not_change_the_hash(tmp_path):
    def mutate(d):
        d["arms"][1]["n_units"] = None

    assert load_design(_write(tmp_path, "letters", mutate)).design_hash == PINNED_HASHES["letters"]


# -- costs ---------------------------------------------------------------------------------
def test_cost_item_for_an_event_type_no_intervention_logs(tmp_path):
    def mutate(d):
        d["costs"]["items"].append(
            {
                "name": "round",
                "event_type": "round_held",
                "unit": "per_round",
                "category": "running",
                "kind": "direct",
                "amount": 700,
                "source": "copied",
            }
        )

    message = _error(tmp_path, "coffee", mutate)
    assert message.count("\n") == 0
    assert "costs.items[3] (round)" in message
    assert "'round_held' is not an event type of the interventions" in message
    assert "machine_installed, note_delivered, supplies_restocked" in message
    assert "Got 'round_held' instead." in message


# -- analysis options ----------------------------------------------------------------------
def test_unknown_se_type_lists_the_choices(tmp_path):
    message = _error(
        tmp_path, "letters", lambda d: d.setdefault("analysis", {}).update(se_type="HC9")
    )
    assert "analysis: 'se_type' 'HC9' is not known. Choose one of: HC0, HC1, HC2, HC3" in message
    assert "Got 'HC9' instead." in message


def test_cluster_trial_needs_a_cluster_robust_se_type(tmp_path):
    message = _error(tmp_path, "coffee", lambda d: d["analysis"].update(se_type="HC2"))
    assert "cluster trial needs a cluster-robust 'se_type'" in message and "CR2" in message


def test_unknown_analysis_columns_key_suggests_the_right_one(tmp_path):
    message = _error(
        tmp_path, "coffee", lambda d: d["analysis"].update(columns={"clustr": "building"})
    )
    assert "analysis.columns: 'clustr' is not a dataset field; did you mean 'cluster'?" in message
    assert "id, arm, stratum, cluster, uptake" in message


def test_took_up_key_points_to_the_documented_uptake_key(tmp_path):
    message = _error(
        tmp_path, "letters", lambda d: d.setdefault("analysis", {}).update(columns={"took_up": "x"})
    )
    assert "'took_up' is not a dataset field; did you mean 'uptake'?" in message


def test_analysis_columns_accept_documented_fields_and_outcome_columns(tmp_path):
    def mutate(d):
        d["analysis"]["columns"] = {
            "id": "person",
            "arm": "group",
            "cluster": "building",
            "uptake": "started_course",
            "swemwbs_endline": "wellbeing_end",
        }

    assert load_design(_write(tmp_path, "coffee", mutate)).analysis.columns["uptake"] == (
        "started_course"
    )


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [("ri_draws", 1_000_000_000_000, "100000"), ("mi_imputations", 10**9, "1000")],
)
def test_draws_are_bounded(tmp_path, field, value, limit):
    message = _error(tmp_path, "coffee", lambda d: d["analysis"].update({field: value}))
    assert f"analysis: '{field}' must be at most {limit}" in message
    assert f"Got {value} instead." in message


# -- messages ------------------------------------------------------------------------------
def test_a_misspelt_field_names_the_item_and_suggests_the_fix(tmp_path):
    def mutate(d):
        d["outcomes"][1]["primay"] = True

    message = _error(tmp_path, "coffee", mutate)
    assert message == (
        "coffee.yaml: outcomes[1] (feeling_valued): 'primay' is not a field; "
        "did you mean 'primary'?"
    )


def test_a_top_level_typo_suggests_the_field(tmp_path):
    message = _error(tmp_path, "letters", lambda d: d.update(stratta=d.pop("strata")))
    assert "letters.yaml: 'stratta' is not a field; did you mean 'strata'?" in message


def test_leaving_out_follow_up_prints_one_line(tmp_path):
    message = _error(tmp_path, "letters", lambda d: d.pop("follow_up"))
    assert message == "letters.yaml: the required field 'follow_up' is missing."


def test_a_missing_nested_field_names_its_parent(tmp_path):
    message = _error(tmp_path, "letters", lambda d: d["follow_up"].pop("endline"))
    assert message == "letters.yaml: follow_up: the required field 'endline' is missing."


def test_a_bad_value_names_the_item_field_and_value(tmp_path):
    message = _error(tmp_path, "letters", lambda d: d["arms"][1].update(ratio=0))
    assert message == (
        "letters.yaml: arms[1] (letter): 'ratio' must be a positive integer. Got 0 instead."
    )


# -- strata and clusters from any roster column ----------------------------------------------
def test_cluster_and_strata_can_be_any_roster_column(tmp_path):
    def mutate(d):
        d["cluster_by"] = "village"
        d["strata"] = ["district"]
        d["clusters"] = [f"V{i}" for i in range(10)]
        d["randomisation"] = {"method": "cluster", "seed": 3}

    design = load_design(_write(tmp_path, "coffee", mutate))
    assert design.cluster_by == "village" and design.strata == ("district",)
    assert design.roster_columns["village"] == "village"
    assert design.roster_columns["district"] == "district"
    assert design.roster_columns["id"] == "staff_id"


def test_a_grouping_column_must_be_a_plain_name(tmp_path):
    message = _error(tmp_path, "coffee", lambda d: d.update(cluster_by="Village Name"))
    assert "'cluster_by'" in message and "Village Name" in message


# -- exactly n units in an arm ---------------------------------------------------------------
def _six_of_thirteen(d):
    d["arms"] = [
        {"name": "control", "control": True},
        {"name": "coffee", "n_units": 6},
    ]


def test_exactly_six_of_thirteen_can_be_declared(tmp_path):
    design = load_design(_write(tmp_path, "coffee", _six_of_thirteen))
    assert design.allocation_ratios(13) == (7, 6)
    assert design.probabilities_for(13) == pytest.approx((7 / 13, 6 / 13))


def test_n_units_cannot_leave_an_arm_empty(tmp_path):
    def mutate(d):
        _six_of_thirteen(d)
        d["arms"][1]["n_units"] = 13

    message = _error(tmp_path, "coffee", mutate)
    assert "arm 'control' would get no clusters" in message


def test_n_units_cannot_be_combined_with_strata(tmp_path):
    def mutate(d):
        d["arms"] = [{"name": "control", "control": True}, {"name": "letter", "n_units": 100}]

    message = _error(tmp_path, "letters", mutate)
    assert "'n_units'" in message and "strata" in message


def test_n_units_cannot_be_combined_with_a_ratio(tmp_path):
    def mutate(d):
        _six_of_thirteen(d)
        d["arms"][1]["ratio"] = 2

    message = _error(tmp_path, "coffee", mutate)
    assert "either 'ratio' or 'n_units'" in message


# -- bounds on the clusters ------------------------------------------------------------------
def test_a_one_cluster_design_is_refused(tmp_path):
    def mutate(d):
        d["clusters"] = ["Ashford"]
        d["randomisation"] = {"method": "cluster", "seed": 1}

    message = _error(tmp_path, "coffee", mutate)
    assert "needs at least 2 clusters" in message and "Got 1 (Ashford) instead." in message


def test_an_arm_that_would_get_no_clusters_is_refused(tmp_path):
    def mutate(d):
        d["clusters"] = ["A", "B", "C"]
        d["arms"][1]["ratio"] = 3
        d["randomisation"] = {"method": "cluster", "seed": 1}

    message = _error(tmp_path, "coffee", mutate)
    assert "arm 'control' would get no clusters" in message
    assert "3 clusters at ratio 1:3" in message
