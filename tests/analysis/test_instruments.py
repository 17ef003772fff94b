from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from analysis.instruments import find_out_of_range, score_instrument
from trial_designs.instruments import (
    SWEMWBS_METRIC,
    instrument_spec,
    single_item_spec,
    validate_wrqol_scoring,
)

# The official SWEMWBS Rasch conversion table, typed in again from DOMAIN.md.
TABLE = dict(zip(range(7, 36), [
    7.00, 9.51, 11.25, 12.40, 13.33, 14.08, 14.75, 15.32, 15.84, 16.36, 16.88, 17.43, 17.98,
    18.59, 19.25, 19.98, 20.73, 21.54, 22.35, 23.21, 24.11, 25.03, 26.02, 27.03, 28.13, 29.31,
    30.70, 32.55, 35.00,
], strict=True))  # fmt: skip

SWEMWBS_COLUMNS = [f"swemwbs_{i}" for i in range(1, 8)]
WRQOL_COLUMNS = [f"wrqol_{i}" for i in range(1, 24)]
GHQ_COLUMNS = [f"ghq12_{i}" for i in range(1, 13)]

# A map the tests control, so hand-computed scores do not move when a licensee
# replaces the packaged placeholder file.
TEST_MAP = {
    "subscales": {
        "GWB": [1, 5, 9, 13, 17, 21],
        "HWI": [2, 10, 18],
        "JCS": [3, 7, 11, 15, 19, 23],
        "CAW": [4, 12, 20],
        "WCS": [6, 14, 22],
        "SAW": [8, 16],
    },
    "reverse": [8, 13, 16],
}


def _items_summing_to(raw: int) -> list[int]:
    items = [1] * 7
    extra = raw - 7
    for i in range(7):
        add = min(4, extra)
        items[i] += add
        extra -= add
    return items


# ---------------------------------------------------------------- SWEMWBS


@pytest.mark.parametrize("raw", range(7, 36))
def test_every_cell_of_the_swemwbs_table(raw):
    items = pd.DataFrame([_items_summing_to(raw)], columns=SWEMWBS_COLUMNS)
    assert sum(items.iloc[0]) == raw
    scored = score_instrument(items, instrument="swemwbs")
    assert scored["swemwbs_raw"].iloc[0] == raw
    assert scored["swemwbs_metric"].iloc[0] == TABLE[raw]
    assert scored["swemwbs_rule"].iloc[0] == "complete"


def test_every_response_pattern_scores_by_its_sum():
    patterns = np.array(list(itertools.product(range(1, 6), repeat=7)), dtype=float)
    scored = score_instrument(pd.DataFrame(patterns, columns=SWEMWBS_COLUMNS), instrument="swemwbs")
    sums = patterns.sum(axis=1).astype(int)
    np.testing.assert_array_equal(scored["swemwbs_raw"].to_numpy(), sums)
    np.testing.assert_array_equal(scored["swemwbs_metric"].to_numpy(), [TABLE[s] for s in sums])


def test_swemwbs_table_constant_is_the_official_table():
    assert list(SWEMWBS_METRIC) == list(TABLE.values())
    assert all(b > a for a, b in itertools.pairwise(SWEMWBS_METRIC))


def test_swemwbs_with_missing_items_is_missing_and_says_how_many():
    rows = [[3, 3, None, 3, 3, 3, 3], [None, 3, None, 3, 3, 3, 3], [3] * 7]
    scored = score_instrument(pd.DataFrame(rows, columns=SWEMWBS_COLUMNS), instrument="swemwbs")
    assert scored["swemwbs_raw"].isna().tolist() == [True, True, False]
    assert scored["swemwbs_metric"].isna().tolist() == [True, True, False]
    assert scored["swemwbs_rule"].tolist() == ["missing(1 item)", "missing(2 items)", "complete"]


def test_prefix_names_items_and_scores_and_the_index_is_kept():
    items = pd.DataFrame(
        [[5] * 7, [1] * 7],
        columns=[f"swemwbs_endline_{i}" for i in range(1, 8)],
        index=pd.Index(["p2", "p1"], name="participant_id"),
    ).assign(note=["ignored", "ignored"])
    scored = score_instrument(items, instrument="swemwbs", prefix="swemwbs_endline")
    assert list(scored.columns) == [
        "swemwbs_endline_raw",
        "swemwbs_endline_metric",
        "swemwbs_endline_rule",
    ]
    assert list(scored.columns) == list(instrument_spec("swemwbs").score_columns("swemwbs_endline"))
    assert scored.index.equals(items.index)
    assert scored.loc["p2", "swemwbs_endline_metric"] == 35.0
    assert scored.loc["p1", "swemwbs_endline_metric"] == 7.0


def test_shuffling_rows_changes_no_participant_score():
    rng = np.random.default_rng(3)
    items = pd.DataFrame(rng.integers(1, 6, size=(200, 7)).astype(float), columns=SWEMWBS_COLUMNS)
    items = items.mask(rng.random(items.shape) < 0.05)
    shuffled = items.sample(frac=1, random_state=1)
    pd.testing.assert_frame_equal(
        score_instrument(shuffled, instrument="swemwbs").sort_index(),
        score_instrument(items, instrument="swemwbs"),
    )


def test_missing_item_column_is_an_error_not_a_missing_score():
    items = pd.DataFrame([[3] * 6], columns=SWEMWBS_COLUMNS[:6])
    with pytest.raises(
        ValueError,
        match=re.escape("The swemwbs item column(s) ['swemwbs_7'] are not in the items frame."),
    ):
        score_instrument(items, instrument="swemwbs")


# ---------------------------------------------------------------- WRQoL


def _wrqol_row(values: dict[int, float | None]) -> pd.DataFrame:
    return pd.DataFrame([{f"wrqol_{i}": values[i] for i in range(1, 24)}], dtype=float)


def test_wrqol_total_and_subscales_by_hand():
    # item i answers (i mod 5) + 1; items 8, 13 and 16 are reversed (6 - x)
    row = _wrqol_row({i: i % 5 + 1 for i in range(1, 24)})
    scored = score_instrument(row, instrument="wrqol", scoring=TEST_MAP).iloc[0]
    assert scored["wrqol_GWB"] == 2 + 1 + 5 + (6 - 4) + 3 + 2  # items 1 5 9 13 17 21
    assert scored["wrqol_HWI"] == 3 + 1 + 4  # items 2 10 18
    assert scored["wrqol_JCS"] == 4 + 3 + 2 + 1 + 5 + 4  # items 3 7 11 15 19 23
    assert scored["wrqol_CAW"] == 5 + 3 + 1  # items 4 12 20
    assert scored["wrqol_WCS"] == 2 + 5 + 3  # items 6 14 22
    assert scored["wrqol_SAW"] == (6 - 4) + (6 - 2)  # items 8 16, both reversed
    assert scored["wrqol_total"] == 67
    assert scored["wrqol_rule"] == "complete"


def test_wrqol_reverse_scoring_at_the_extremes():
    all_fives = score_instrument(
        _wrqol_row(dict.fromkeys(range(1, 24), 5)), instrument="wrqol", scoring=TEST_MAP
    )
    assert all_fives["wrqol_total"].iloc[0] == 20 * 5 + 3 * 1
    assert all_fives["wrqol_SAW"].iloc[0] == 2
    midpoints = score_instrument(
        _wrqol_row(dict.fromkeys(range(1, 24), 3)), instrument="wrqol", scoring=TEST_MAP
    )
    assert midpoints["wrqol_total"].iloc[0] == 69


def test_wrqol_prorating_per_scale():
    base = dict.fromkeys(range(1, 24), 4.0)  # reversed items score 2
    one_in_gwb = score_instrument(
        _wrqol_row({**base, 1: None}), instrument="wrqol", scoring=TEST_MAP
    ).iloc[0]
    # answered: 19 items of 4 and 3 reversed items of 2 = 82 over 22 items
    assert one_in_gwb["wrqol_total"] == pytest.approx(82 * 23 / 22)
    assert one_in_gwb["wrqol_GWB"] == pytest.approx((4 * 4 + 2) * 6 / 5)
    assert one_in_gwb["wrqol_HWI"] == 12
    assert one_in_gwb["wrqol_rule"] == "prorated(1)"

    one_in_saw = score_instrument(
        _wrqol_row({**base, 16: None}), instrument="wrqol", scoring=TEST_MAP
    ).iloc[0]
    assert np.isnan(one_in_saw["wrqol_SAW"])  # two-item subscale: never prorated
    assert one_in_saw["wrqol_total"] == pytest.approx((20 * 4 + 2 * 2) * 23 / 22)
    assert one_in_saw["wrqol_rule"] == "prorated(1)"

    one_in_each_of_two = score_instrument(
        _wrqol_row({**base, 1: None, 2: None}), instrument="wrqol", scoring=TEST_MAP
    ).iloc[0]
    assert np.isnan(one_in_each_of_two["wrqol_total"])
    assert one_in_each_of_two["wrqol_GWB"] == pytest.approx((4 * 4 + 2) * 6 / 5)
    assert one_in_each_of_two["wrqol_HWI"] == pytest.approx(8 * 3 / 2)
    assert one_in_each_of_two["wrqol_rule"] == "missing(2 items)"


def test_wrqol_needs_its_scoring_mapping():
    with pytest.raises(ValueError, match=r"^WRQoL scoring needs its licensed item map: pass"):
        score_instrument(_wrqol_row(dict.fromkeys(range(1, 24), 3)), instrument="wrqol")


def test_a_mapping_passed_to_the_scorer_is_validated_too():
    bad = {**TEST_MAP, "reverse": [99]}
    with pytest.raises(ValueError, match=re.escape("WRQoL scoring (mapping): reverse-scored")):
        score_instrument(
            _wrqol_row(dict.fromkeys(range(1, 24), 3)), instrument="wrqol", scoring=bad
        )
    assert validate_wrqol_scoring(TEST_MAP)["reverse"] == (8, 13, 16)


# ---------------------------------------------------------------- GHQ-12, ONS4, single items


def test_ghq12_likert_and_prorating():
    full = dict.fromkeys(GHQ_COLUMNS, 3)
    best = dict.fromkeys(GHQ_COLUMNS, 0)
    one_missing = {**dict.fromkeys(GHQ_COLUMNS, 2), "ghq12_5": None}
    mixed = {**{c: i % 4 for i, c in enumerate(GHQ_COLUMNS)}, "ghq12_12": None}
    two_missing = {**one_missing, "ghq12_6": None}
    scored = score_instrument(
        pd.DataFrame([full, best, one_missing, mixed, two_missing], dtype=float), instrument="ghq12"
    )
    assert scored["ghq12_total"].iloc[0] == 36
    assert scored["ghq12_total"].iloc[1] == 0
    assert scored["ghq12_total"].iloc[2] == pytest.approx(22 * 12 / 11)
    # answered items 1..11 score 0,1,2,3,0,1,2,3,0,1,2 = 15
    assert scored["ghq12_total"].iloc[3] == pytest.approx(15 * 12 / 11)
    assert np.isnan(scored["ghq12_total"].iloc[4])
    assert scored["ghq12_rule"].tolist() == [
        "complete",
        "complete",
        "prorated(1)",
        "prorated(1)",
        "missing(2 items)",
    ]
    assert instrument_spec("ghq12").higher_is_better is False


def test_ons4_items_are_their_own_scores_reported_separately():
    rows = pd.DataFrame(
        {
            "ons4_life_satisfaction": [7, 0],
            "ons4_worthwhile": [8, None],
            "ons4_happy": [6, 10],
            "ons4_anxious": [3, None],
        },
        dtype=float,
    )
    scored = score_instrument(rows, instrument="ons4")
    pd.testing.assert_frame_equal(scored.drop(columns="ons4_rule"), rows)
    assert scored["ons4_rule"].tolist() == ["complete", "missing(2 items)"]
    spec = instrument_spec("ons4")
    assert spec.score_higher_is_better("anxious") is False
    assert spec.score_higher_is_better("happy") is True
    with pytest.raises(
        ValueError, match=r"^The score 'calm' is not a score of ons4\. Choose one of"
    ):
        spec.score_higher_is_better("calm")


def test_single_item_declared_by_a_trial_is_scored_as_given():
    spec = single_item_spec("feeling_valued", item_min=0, item_max=10)
    rows = pd.DataFrame({"feeling_valued": [0, 10, None, 7]})
    scored = score_instrument(rows, instrument=spec)
    assert scored["feeling_valued"].tolist()[:2] == [0, 10]
    assert np.isnan(scored["feeling_valued"].iloc[2])
    assert scored["feeling_valued_rule"].tolist() == [
        "complete",
        "complete",
        "missing(1 item)",
        "complete",
    ]
    found = find_out_of_range(pd.DataFrame({"feeling_valued": [11, 5, -1]}), instrument=spec)
    assert found[["index", "column", "value"]].to_dict("records") == [
        {"index": 0, "column": "feeling_valued", "value": 11},
        {"index": 2, "column": "feeling_valued", "value": -1},
    ]
    with pytest.raises(
        ValueError,
        match=r"^The range of single item 'time_pressure' must be two whole numbers, min below max\. Got 10-0 instead\.$",
    ):
        single_item_spec("time_pressure", item_min=10, item_max=0)


# ---------------------------------------------------------------- out-of-range finder


def test_out_of_range_items_are_found_with_their_rule():
    items = pd.DataFrame(
        {c: [3, 3, 3, None] for c in SWEMWBS_COLUMNS}, index=["a", "b", "c", "d"], dtype=object
    )
    items.loc["b", "swemwbs_4"] = 6
    items.loc["a", "swemwbs_2"] = "often"
    items.loc["c", "swemwbs_7"] = 2.5
    items.loc["c", "swemwbs_1"] = 0
    found = find_out_of_range(items, instrument="swemwbs")
    assert found[["index", "column", "value", "rule"]].to_dict("records") == [
        {"index": "a", "column": "swemwbs_2", "value": "often", "rule": "item_in_range"},
        {"index": "b", "column": "swemwbs_4", "value": 6, "rule": "item_in_range"},
        {"index": "c", "column": "swemwbs_1", "value": 0, "rule": "item_in_range"},
        {"index": "c", "column": "swemwbs_7", "value": 2.5, "rule": "item_in_range"},
    ]
    assert set(found["message"]) == {
        "Short Warwick-Edinburgh Mental Wellbeing Scale items are whole numbers from 1 to 5; "
        "leave unanswered items empty."
    }


def test_out_of_range_respects_each_instruments_range_and_prefix():
    ghq = pd.DataFrame(
        [dict.fromkeys(GHQ_COLUMNS, 0), {**dict.fromkeys(GHQ_COLUMNS, 3), "ghq12_3": 4}]
    )
    assert find_out_of_range(ghq, instrument="ghq12")["column"].tolist() == ["ghq12_3"]
    ons = pd.DataFrame({f"ons4_t1_{s}": [0, 10] for s in instrument_spec("ons4").item_suffixes})
    assert find_out_of_range(ons, instrument="ons4", prefix="ons4_t1").empty
    assert list(find_out_of_range(ons, instrument="ons4", prefix="ons4_t1").columns) == [
        "index",
        "column",
        "value",
        "rule",
        "message",
    ]


# ---------------------------------------------------------------- specs


def test_unknown_instrument_lists_choices():
    with pytest.raises(
        ValueError,
        match=r"^The instrument 'phq9' is not known\. Choose one of: swemwbs, wrqol, ons4, ghq12\. Got 'phq9' instead\.$",
    ):
        score_instrument(pd.DataFrame(), instrument="phq9")
