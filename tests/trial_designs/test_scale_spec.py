"""Scale files: the packaged ones, and bad ones refused with the file, item and field
(the model is trial_designs/scale_spec.py, the reader trial_designs/scale_files.py; scoring
is tested in tests/analysis/test_scales.py)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from trial_designs.instruments import INSTRUMENTS
from trial_designs.scale_files import (
    SCALES_DIR,
    declared_instrument,
    known_instruments,
    load_scale_file,
    packaged_scales,
)
from trial_designs.scale_spec import ScaleFileError, parse_scale


def test_packaged_files_cite_their_source_and_load_under_their_name():
    assert {"cbi_work", "gse", "swemwbs", "wrqol", "ons4", "ghq12"} <= set(packaged_scales())
    for name, scale in packaged_scales().items():
        assert scale.name == name and scale.citation
    assert "Work & Stress 19(3):192-207" in packaged_scales()["cbi_work"].citation
    assert "NFER-Nelson" in packaged_scales()["gse"].citation
    assert known_instruments()[:4] == list(INSTRUMENTS)
    with pytest.raises(ValueError, match=r"^The instrument 'phq9' is not known\. Choose one of: "):
        declared_instrument("phq9")


# ---------------------------------------------------------------- bad files


def _cbi_mapping() -> dict:
    return yaml.safe_load((SCALES_DIR / "cbi_work.yaml").read_text())


def _refused(tmp_path, mapping, name="burnout_cbi.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    with pytest.raises(ScaleFileError) as caught:
        load_scale_file(path)
    return str(caught.value)


def test_a_bad_flag_names_the_file_the_item_and_the_field(tmp_path):
    mapping = _cbi_mapping()
    mapping["items"][3]["reverse"] = "yes"
    assert _refused(tmp_path, mapping) == (
        "burnout_cbi.yaml: items[3] ('4'): 'reverse' must be true or false. Got 'yes' instead."
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: m["scoring"].update(method="median"),
            "burnout_cbi.yaml: scoring.method: 'method' must be one of: sum, prorated_sum, mean, "
            "each_item. Got 'median' instead.",
        ),
        (
            lambda m: m.update(reverse=[7, 9]),
            "burnout_cbi.yaml: 'reverse' must list item ids (1, 2, 3, 4, 5, 6, 7). "
            "Got ['9'] instead.",
        ),
        (
            lambda m: m["values"].pop(3),
            "burnout_cbi.yaml: 'values' must give a value for every response 1..5. "
            "Got responses [1, 2, 4, 5] instead.",
        ),
        (
            lambda m: m["scoring"].update(min_answered=8),
            "burnout_cbi.yaml: 'scoring.min_answered' must be at most the 7 items. Got 8 instead.",
        ),
        (
            lambda m: m["scoring"].pop("min_answered"),
            "burnout_cbi.yaml: method 'mean' needs 'scoring.min_answered' (1..7).",
        ),
        (
            lambda m: m.update(response={"min": 5, "max": 1}),
            "burnout_cbi.yaml: 'response' needs whole-number 'min' below 'max'. "
            "Got {'min': 5, 'max': 1} instead.",
        ),
        (lambda m: m.pop("scoring"), "burnout_cbi.yaml: 'scoring' is required."),
        (lambda m: m.update(scorng={}), "burnout_cbi.yaml: 'scorng' is not a field."),
        (
            lambda m: m.update(scoring="mean"),
            "burnout_cbi.yaml: 'scoring' must be a mapping. Got 'mean' instead.",
        ),
        (
            lambda m: m["values"].update({3: "fifty"}),
            "burnout_cbi.yaml: values[3] must be a number. Got 'fifty' instead.",
        ),
        (
            lambda m: m.update(subscales={"worn out": [4, 5]}),
            "burnout_cbi.yaml: subscales: the key 'worn out' must be a name of letters, digits "
            "and underscores.",
        ),
        (
            lambda m: m.update(subscales={"exhaustion": [1, 2, 12]}),
            "burnout_cbi.yaml: subscale 'exhaustion' must list item ids (1, 2, 3, 4, 5, 6, 7). "
            "Got ['12'] instead.",
        ),
    ],
)
def test_bad_scale_files_are_refused_with_the_field(tmp_path, change, message):
    mapping = _cbi_mapping()
    change(mapping)
    assert _refused(tmp_path, mapping) == message


def test_a_conversion_table_must_cover_every_raw_total(tmp_path):
    mapping = yaml.safe_load((SCALES_DIR / "swemwbs.yaml").read_text())
    del mapping["conversion"]["table"][20]
    assert _refused(tmp_path, mapping, "swemwbs.yaml") == (
        "swemwbs.yaml: 'conversion.table' must convert every possible raw total 7..35 and "
        "nothing else. Missing [20], extra []."
    )
    mapping = yaml.safe_load((SCALES_DIR / "swemwbs.yaml").read_text())
    mapping["scoring"] = {"method": "prorated_sum", "min_answered": 6, "score": "raw"}
    assert "a 'conversion' table needs method 'sum'" in _refused(tmp_path, mapping)


def test_a_missing_or_unreadable_file_is_named(tmp_path):
    with pytest.raises(ScaleFileError, match=r"^Scale file .*nope\.yaml does not exist\.$"):
        load_scale_file(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("items: [1, 2\n")
    with pytest.raises(ScaleFileError, match=r"^bad\.yaml: is not valid YAML"):
        load_scale_file(tmp_path / "bad.yaml")
    with pytest.raises(ScaleFileError, match=r"^x: must hold a mapping of scale fields\. Got list"):
        parse_scale([1, 2], source="x")


def test_specs_are_frozen():
    scale = packaged_scales()["cbi_work"]
    with pytest.raises(Exception, match="frozen"):
        scale.name = "other"  # type: ignore[misc]
    assert json.loads(scale.model_dump_json())["scoring"]["min_answered"] == 4


def test_the_item_wording_is_kept_for_every_cbi_item():
    scale = packaged_scales()["cbi_work"]
    assert [i.reverse for i in scale.items] == [False] * 6 + [True]
    assert re.search("energy for family and friends", scale.items[6].label)
