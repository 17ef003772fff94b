"""The instrument specs and the WRQoL scoring file's checks (the scoring is tested in
tests/analysis/test_instruments.py)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import yaml

from trial_designs.instruments import INSTRUMENTS, instrument_spec
from trial_designs.scale_files import WRQOL_SCORING, read_wrqol_scoring

SWEMWBS_COLUMNS = [f"swemwbs_{i}" for i in range(1, 8)]

# A map the tests control, as in tests/analysis/test_instruments.py.
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


def test_packaged_scoring_file_loads_and_says_it_is_a_placeholder():
    text = WRQOL_SCORING.read_text()
    assert "PLACEHOLDER" in text and "LICENSEE MUST REPLACE" in text
    mapping = read_wrqol_scoring()
    assert sorted(i for items in mapping["subscales"].values() for i in items) == list(range(1, 24))
    assert set(mapping["reverse"]) <= set(range(1, 24))


def _write(tmp_path, mapping):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: m["subscales"]["GWB"].append(2),
            "WRQoL scoring (bad.yaml): item 2 is in subscales 'GWB' and 'HWI'. "
            "Each item 1..23 must be in exactly one subscale.",
        ),
        (
            lambda m: m["subscales"].update(CAW=[4]),
            "WRQoL scoring (bad.yaml): items [12, 20] are in no subscale. "
            "Each item 1..23 must be in exactly one subscale.",
        ),
        (
            lambda m: m["reverse"].extend([24, 0]),
            "WRQoL scoring (bad.yaml): reverse-scored items must be item numbers 1..23. "
            "Got [24, 0] instead.",
        ),
        (
            lambda m: m["reverse"].append(8),
            "WRQoL scoring (bad.yaml): reverse-scored items [8] are listed more than once.",
        ),
        (
            lambda m: m["subscales"].update(WCS=[6, 14, "22"]),
            "WRQoL scoring (bad.yaml): subscale 'WCS' lists '22', which is not an item number 1..23.",
        ),
        (
            lambda m: m["subscales"].update(STRESS=m["subscales"].pop("SAW")),
            "WRQoL scoring (bad.yaml): the subscales must be GWB, HWI, JCS, CAW, WCS, SAW. "
            "Got GWB, HWI, JCS, CAW, WCS, STRESS instead.",
        ),
        (
            lambda m: m.pop("reverse"),
            "WRQoL scoring (bad.yaml): needs a 'subscales' mapping and a 'reverse' list. "
            "Got ['subscales'] instead.",
        ),
    ],
)
def test_scoring_file_validation_messages(tmp_path, change, message):
    mapping = json.loads(json.dumps(TEST_MAP))
    change(mapping)
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        read_wrqol_scoring(_write(tmp_path, mapping))


def test_specs_are_frozen_and_describe_themselves_in_json():
    spec = instrument_spec("swemwbs")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.item_max = 7  # type: ignore[misc]
    described = json.loads(json.dumps(spec.to_dict()))
    assert described["items"] == SWEMWBS_COLUMNS
    assert described["item_range"] == [1, 5]
    assert described["score_range"] == [7.0, 35.0]
    assert described["missing_rule_name"] == "complete_items_only"
    for name, declared in INSTRUMENTS.items():
        assert declared.name == name
        assert declared.items == declared.item_columns(name)
        assert declared.score_min < declared.score_max
