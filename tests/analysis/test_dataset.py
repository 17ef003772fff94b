from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.dataset import (
    DICTIONARY_COLUMNS,
    analysis_dataset,
    data_dictionary,
    dictionary_markdown,
    order_timepoints,
    outcome_measure,
)
from tests.designs import DESIGNS
from trial_designs.design import load_design

COFFEE = load_design(DESIGNS / "coffee.yaml")
LETTERS = load_design(DESIGNS / "letters.yaml")
ALL = ["letters", "goal_setting", "coffee", "schwartz_rounds"]


def _people(n: int = 4, *, cluster: bool = True) -> pd.DataFrame:
    ids = [f"P{i}" for i in range(1, n + 1)]
    return pd.DataFrame(
        {
            "participant_id": ids,
            "unit_id": ["Dover" if i % 2 else "Margate" for i in range(n)] if cluster else ids,
            "stratum": "all",
            "arm": ["coffee" if i % 2 else "control" for i in range(n)],
            "organisation": "Kent",
            "building": ["Dover" if i % 2 else "Margate" for i in range(n)],
            "team": "T",
            "role": "Social worker",
            "enrolment": "initial",
            "covariates_json": [json.dumps({"fte": 1.0 - 0.1 * i}) for i in range(n)],
        }
    )


def _values(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["participant_id", "timepoint", "measure", "value"])


def test_long_values_pivot_to_one_row_per_participant():
    values = _values(
        [
            ("P1", "baseline", "swemwbs_metric", 20.73),
            ("P1", "endline", "swemwbs_metric", 21.54),
            ("P1", "endline", "swemwbs_1", 3.0),  # items are stored but are not outcomes
            ("P2", "baseline", "swemwbs_metric", 19.98),
            ("P2", "baseline", "feeling_valued", 6.0),
            ("P3", "endline", "feeling_valued", np.nan),  # an unanswered item
            ("P1", "endline", "absence_rate", 0.02),
            ("P2", "endline", "turnover", 1.0),
        ]
    )
    data = analysis_dataset(_people(), values, COFFEE)
    assert list(data.columns) == [
        "participant_id", "arm", "stratum", "cluster", "organisation", "building", "team",
        "role", "enrolment", "swemwbs_baseline", "swemwbs_endline", "feeling_valued_baseline",
        "feeling_valued_endline", "absence_rate_endline", "turnover_endline",
        "responded_baseline", "responded_endline",
    ]  # fmt: skip
    assert data["participant_id"].tolist() == ["P1", "P2", "P3", "P4"]
    assert data["cluster"].tolist() == ["Margate", "Dover", "Margate", "Dover"]
    np.testing.assert_array_equal(data["swemwbs_endline"], [21.54, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(data["turnover_endline"], [np.nan, 1.0, np.nan, np.nan])
    # a response counts only if an outcome was recorded, so P3's empty answer does not
    assert data["responded_baseline"].tolist() == [1, 1, 0, 0]
    assert data["responded_endline"].tolist() == [1, 0, 0, 0]


def test_individual_trials_have_an_empty_cluster_and_keep_no_other_participant_fields():
    people = _people(cluster=False).assign(first_name="Priya", address="1 High Street")
    data = analysis_dataset(people, _values([]), LETTERS)
    assert data["cluster"].isna().all()
    assert not {"first_name", "address", "covariates_json", "unit_id"} & set(data.columns)
    # with no values yet, every outcome still has its baseline/endline column, all missing
    assert {"feeling_valued_baseline", "feeling_valued_endline", "turnover_endline"} <= set(data)
    assert data.filter(like="_endline").drop(columns="responded_endline").isna().all().all()


def test_uptake_columns_join_with_zeros_for_those_without_events():
    uptake = pd.DataFrame(
        {"offered": [1, 1], "took_up": [1, 0], "dose": [3, 0], "started_at": pd.NaT},
        index=pd.Index(["P2", "P4"], name="participant_id"),
    )
    data = analysis_dataset(_people(), _values([]), COFFEE, uptake)
    assert data[["offered", "took_up", "dose"]].to_numpy().tolist() == [
        [0, 0, 0], [1, 1, 3], [0, 0, 0], [1, 0, 0]
    ]  # fmt: skip
    assert "started_at" not in data and "completed" not in data
    assert "took_up" not in analysis_dataset(_people(), _values([]), COFFEE)


def test_roster_covariates_come_out_of_the_store_json():
    design = COFFEE.model_copy(
        update={"roster": COFFEE.roster.model_copy(update={"covariates": ("fte",)})}
    )
    data = analysis_dataset(_people(), _values([]), design)
    np.testing.assert_allclose(data["fte"], [1.0, 0.9, 0.8, 0.7])
    assert (
        data_dictionary(data, design)
        .set_index("column")
        .loc["fte", "description"]
        .startswith("Roster covariate 'fte'")
    )


def test_waves_sit_between_baseline_and_endline_by_date_then_by_name():
    assert order_timepoints(["endline", "wave_10", "baseline", "wave_2"]) == [
        "baseline", "wave_2", "wave_10", "endline"
    ]  # fmt: skip
    dated = {"wave_2": "2020-06-01", "wave_10": "2020-03-01"}
    assert order_timepoints(["wave_2", "wave_10", "endline"], dated) == [
        "wave_10", "wave_2", "endline"
    ]  # fmt: skip
    values = _values([("P1", "wave_2", "swemwbs_metric", 20.0)]).assign(collected_on="2020-01-01")
    data = analysis_dataset(_people(), values, COFFEE)
    columns = [c for c in data.columns if c.startswith("swemwbs_")]
    assert columns == ["swemwbs_baseline", "swemwbs_wave_2", "swemwbs_endline"]
    assert "responded_wave_2" in data and "absence_rate_wave_2" not in data


def test_shuffling_input_rows_changes_nothing():
    rng = np.random.default_rng(3)
    people = _people(8)
    values = _values(
        [(p, t, "swemwbs_metric", float(v)) for p, t, v in
         zip(np.repeat(people["participant_id"], 2), ["baseline", "endline"] * 8,
             rng.integers(7, 35, 16), strict=True)]
    )  # fmt: skip
    first = analysis_dataset(people, values, COFFEE)
    again = analysis_dataset(
        people.sample(frac=1, random_state=1), values.sample(frac=1, random_state=2), COFFEE
    )
    pd.testing.assert_frame_equal(first, again)


def test_each_outcome_reads_its_declared_measure():
    by_name = {o.name: outcome_measure(o) for d in ALL for o in load_design(DESIGNS / f"{d}.yaml").outcomes}  # fmt: skip
    assert by_name == {
        "feeling_valued": "feeling_valued",
        "swemwbs": "swemwbs_metric",
        "job_satisfaction": "job_satisfaction",
        "life_satisfaction": "ons4_life_satisfaction",
        "absence_rate": "absence_rate",
        "turnover": "turnover",
        "wrqol": "wrqol_total",
        "time_pressure": "time_pressure",
        "ghq12": "ghq12_total",
        "burnout": "cbi_work_score",  # goal_setting: the CBI work-related scale file
    }


@pytest.mark.parametrize("name", ALL)
def test_the_dictionary_describes_every_column_of_every_demo_trial(name):
    design = load_design(DESIGNS / f"{name}.yaml")
    people = _people(cluster=design.unit == "cluster")
    values = _values(
        [
            ("P1", t, outcome_measure(o), 1.0)
            for o in design.outcomes
            for t in (["baseline", "endline"] if o.source == "survey" else ["endline"])
        ]
    )
    uptake = pd.DataFrame({"took_up": [1], "dose": [2]}, index=pd.Index(["P1"]))
    data = analysis_dataset(people, values, design, uptake)
    dictionary = data_dictionary(data, design)
    assert list(dictionary.columns) == DICTIONARY_COLUMNS
    assert dictionary["column"].tolist() == list(data.columns)
    assert dictionary["description"].str.len().min() > 5
    outcomes = dictionary[dictionary["instrument"] != ""]
    assert len(outcomes) == sum(2 if o.source == "survey" else 1 for o in design.outcomes)
    assert set(outcomes["direction"]) <= {"higher is better", "lower is better"}
    assert (outcomes["missing_rule"].str.len() > 20).all()
    markdown = dictionary_markdown(dictionary, design, n_rows=len(data))
    assert markdown.count("\n| ") == len(dictionary) + 1  # the header, then one line per column
    assert design.design_hash in markdown


def test_dictionary_ranges_directions_and_rules_follow_the_instruments():
    schwartz = load_design(DESIGNS / "schwartz_rounds.yaml")
    values = _values([("P1", "endline", "ghq12_total", 12.0)])
    data = analysis_dataset(_people(), values, schwartz)
    entry = data_dictionary(data, schwartz).set_index("column")
    assert entry.loc["ghq12_endline", ["range", "direction"]].tolist() == [
        "0-36",
        "lower is better",
    ]
    assert entry.loc["ghq12_endline", "missing_rule"].startswith("prorate_if_at_most_one_missing:")
    assert entry.loc["swemwbs_baseline", "range"] == "7-35"
    assert entry.loc["swemwbs_baseline", "missing_rule"].startswith("complete_items_only:")
    assert "Working days" in entry.loc["absence_rate_endline", "missing_rule"]
    assert entry.loc["turnover_endline", ["range", "direction"]].tolist() == [
        "0-1",
        "lower is better",
    ]
    assert "(primary outcome)" in entry.loc["ghq12_endline", "description"]


def test_an_undescribed_column_is_refused_by_name():
    data = analysis_dataset(_people(), _values([]), COFFEE).assign(home_address="1 High St")
    with pytest.raises(ValueError, match=r"^The dataset column 'home_address' has no entry"):
        data_dictionary(data, COFFEE)


def test_missing_inputs_are_named():
    with pytest.raises(
        ValueError, match=r"The column\(s\) 'arm' are not in the participants frame\. Got columns: "
    ):
        analysis_dataset(_people().drop(columns="arm"), _values([]), COFFEE)
