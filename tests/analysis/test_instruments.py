from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.instruments import (
    SWEMWBS_METRIC,
    WRQOL_SCORING,
    find_out_of_range,
    load_scoring_file,
    score_instrument,
)

TABLE = dict(zip(range(7, 36), [
    7.00, 9.51, 11.25, 12.40, 13.33, 14.08, 14.75, 15.32, 15.84, 16.36, 16.88, 17.43, 17.98,
    18.59, 19.25, 19.98, 20.73, 21.54, 22.35, 23.21, 24.11, 25.03, 26.02, 27.03, 28.13, 29.31,
    30.70, 32.55, 35.00,
], strict=True))  # fmt: skip


def _items_summing_to(raw: int) -> list[int]:
    items = [1] * 7
    extra = raw - 7
    for i in range(7):
        add = min(4, extra)
        items[i] += add
        extra -= add
    return items


@pytest.mark.parametrize("raw", range(7, 36))
def test_every_cell_of_the_swemwbs_table(raw):
    items = pd.DataFrame([_items_summing_to(raw)], columns=[f"swemwbs_{i}" for i in range(1, 8)])
    scored = score_instrument(items, instrument="swemwbs")
    assert scored["swemwbs_raw"].iloc[0] == raw
    assert scored["swemwbs_metric"].iloc[0] == TABLE[raw]
    assert scored["swemwbs_rule"].iloc[0] == "complete"


def test_swemwbs_table_constant_is_the_official_table():
    assert list(SWEMWBS_METRIC) == list(TABLE.values())


def test_swemwbs_with_a_missing_item_is_missing_and_says_why():
    items = pd.DataFrame([[3, 3, None, 3, 3, 3, 3]], columns=[f"swemwbs_{i}" for i in range(1, 8)])
    scored = score_instrument(items, instrument="swemwbs")
    assert np.isnan(scored["swemwbs_metric"].iloc[0])
    assert scored["swemwbs_rule"].iloc[0] == "missing(1 of 7 items)"


def test_wrqol_total_subscales_and_reverse_scoring():
    scoring = load_scoring_file()
    row = {f"wrqol_{i}": 4 for i in range(1, 24)}
    row["wrqol_7"] = 1  # reversed: counts as 5
    scored = score_instrument(pd.DataFrame([row]), instrument="wrqol", scoring=scoring)
    reversed_items = set(scoring["reverse"])
    expected = sum((6 - v if int(k.split("_")[1]) in reversed_items else v) for k, v in row.items())
    assert scored["wrqol_total"].iloc[0] == expected
    assert scored["wrqol_HWI"].iloc[0] == 5 + 4 + 4
    assert scored["wrqol_rule"].iloc[0] == "complete"


def test_wrqol_prorates_one_missing_item():
    row = {f"wrqol_{i}": 3 for i in range(1, 24)}
    row["wrqol_2"] = None
    scored = score_instrument(pd.DataFrame([row]), instrument="wrqol")
    assert scored["wrqol_total"].iloc[0] == pytest.approx(69.0)
    assert scored["wrqol_rule"].iloc[0] == "prorated(1)"


def test_scoring_file_must_place_every_item_once(tmp_path):
    mapping = yaml.safe_load(WRQOL_SCORING.read_text())
    mapping["subscales"]["GWB"].append(7)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(mapping))
    with pytest.raises(
        ValueError,
        match=r"^bad.yaml: item 7 is in subscales 'GWB' and 'HWI'; each item belongs to one\.$",
    ):
        load_scoring_file(path)


def test_ghq12_likert_and_prorating():
    full = {f"ghq12_{i}": 3 for i in range(1, 13)}
    one_missing = {**{f"ghq12_{i}": 2 for i in range(1, 13)}, "ghq12_5": None}
    two_missing = {**one_missing, "ghq12_6": None}
    scored = score_instrument(pd.DataFrame([full, one_missing, two_missing]), instrument="ghq12")
    assert scored["ghq12_total"].iloc[0] == 36
    assert scored["ghq12_total"].iloc[1] == pytest.approx(24.0)
    assert np.isnan(scored["ghq12_total"].iloc[2])
    assert scored["ghq12_rule"].tolist() == ["complete", "prorated(1)", "missing(2 of 12 items)"]


def test_ons4_items_are_their_own_scores():
    row = {"ons4_life_satisfaction": 7, "ons4_worthwhile": 8, "ons4_happy": 6, "ons4_anxious": 3}
    scored = score_instrument(pd.DataFrame([row]), instrument="ons4")
    assert scored.iloc[0][list(row)].tolist() == [7, 8, 6, 3]


def test_out_of_range_items_are_found_not_scored():
    items = pd.DataFrame({f"swemwbs_{i}": [3, 3] for i in range(1, 8)})
    items.loc[1, "swemwbs_4"] = 6
    items["swemwbs_2"] = items["swemwbs_2"].astype(object)
    items.loc[0, "swemwbs_2"] = "often"
    found = find_out_of_range(items, instrument="swemwbs")
    assert found.to_dict("records") == [
        {"index": 0, "column": "swemwbs_2", "value": "often"},
        {"index": 1, "column": "swemwbs_4", "value": 6},
    ]


def test_unknown_instrument_lists_choices():
    with pytest.raises(
        ValueError,
        match=r"^The instrument 'phq9' is not known\. Choose one of: swemwbs, wrqol, ons4, ghq12\. Got 'phq9' instead\.$",
    ):
        score_instrument(pd.DataFrame(), instrument="phq9")
