from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.instruments import score_instrument
from analysis.scales import score_scale
from trial_designs.instruments import INSTRUMENTS, scale_instrument_spec
from trial_designs.scale_files import (
    SCALES_DIR,
    declared_instrument,
    load_scale_file,
    packaged_scales,
    read_wrqol_scoring,
)


def _random_responses(spec, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n response sets in range, each row missing 0..3 items (about half complete)."""
    k = len(spec.item_suffixes)
    values = rng.integers(spec.item_min, spec.item_max + 1, size=(n, k)).astype(float)
    n_missing = rng.choice([0, 1, 2, 3], size=n, p=[0.5, 0.3, 0.1, 0.1])
    for row in np.flatnonzero(n_missing):
        values[row, rng.choice(k, size=min(n_missing[row], k), replace=False)] = np.nan
    return pd.DataFrame(values, columns=list(spec.items))


@pytest.mark.parametrize("name", ["swemwbs", "ghq12", "ons4", "wrqol"])
def test_scale_files_score_exactly_as_the_built_in_scorers(name):
    scale = packaged_scales()[name]
    responses = _random_responses(INSTRUMENTS[name], 1000, np.random.default_rng(11))
    scoring = read_wrqol_scoring() if name == "wrqol" else None
    old = score_instrument(responses, instrument=name, scoring=scoring)
    new = score_scale(responses, scale)
    # exact equality, NaN where NaN, the same rule categories in the same order
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert new.iloc[:, :-1].isna().any().any() and new.iloc[:, :-1].notna().any().any()


def test_file_specs_agree_with_the_built_in_specs():
    for name, built_in in INSTRUMENTS.items():
        from_file = scale_instrument_spec(packaged_scales()[name])
        assert from_file.items == built_in.items
        assert (from_file.item_min, from_file.item_max) == (built_in.item_min, built_in.item_max)
        assert (from_file.score_min, from_file.score_max) == (
            built_in.score_min,
            built_in.score_max,
        )
        assert from_file.scores == built_in.scores
        assert from_file.higher_is_better == built_in.higher_is_better
        assert from_file.lower_is_better_scores == built_in.lower_is_better_scores
        assert from_file.max_missing == built_in.max_missing
        assert from_file.label == built_in.label


# ---------------------------------------------------------------- the free instruments


def _cbi(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[f"cbi_work_{i}" for i in range(1, 8)], dtype=float)


def test_cbi_work_scores_by_the_published_rule():
    spec = declared_instrument("cbi_work")
    assert spec.items == tuple(f"cbi_work_{i}" for i in range(1, 8))
    assert (spec.item_min, spec.item_max, spec.score_min, spec.score_max) == (1, 5, 0.0, 100.0)
    assert spec.higher_is_better is False
    scored = score_instrument(
        _cbi(
            [
                [5, 5, 5, 5, 5, 5, 1],  # always burnt out, never energy left: 100
                [1, 1, 1, 1, 1, 1, 5],  # 0
                [3, 3, 3, 3, 3, 3, 3],  # 50
                [5, 4, None, None, None, 2, 2],  # 4 answered: (100+75+25+75)/4
                [5, None, None, None, None, 2, 2],  # 3 answered: missing
            ]
        ),
        instrument=spec,
    )
    assert list(scored.columns) == ["cbi_work_score", "cbi_work_rule"]
    assert scored["cbi_work_score"].tolist()[:4] == [100.0, 0.0, 50.0, 68.75]
    assert np.isnan(scored["cbi_work_score"].iloc[4])
    assert scored["cbi_work_rule"].tolist() == [
        "complete",
        "complete",
        "complete",
        "prorated(3)",
        "missing(4 items)",
    ]


def test_gse_sums_and_prorates_up_to_three_missing():
    spec = declared_instrument("gse")
    assert (len(spec.items), spec.item_min, spec.item_max) == (10, 1, 4)
    assert (spec.score_min, spec.score_max) == (10.0, 40.0)
    rows = [[4] * 10, [1] * 10, [3] * 7 + [None] * 3, [3] * 6 + [None] * 4]
    frame = pd.DataFrame(rows, columns=list(spec.items), dtype=float)
    scored = score_instrument(frame, instrument=spec)
    assert scored["gse_total"].tolist()[:3] == [40.0, 10.0, 30.0]
    assert np.isnan(scored["gse_total"].iloc[3])


# ---------------------------------------------------------------- a licensee's WRQoL map


def test_a_licensees_wrqol_file_changes_the_scoring_and_is_not_a_placeholder(tmp_path):
    mapping = yaml.safe_load((SCALES_DIR / "wrqol.yaml").read_text())
    mapping["placeholder"] = False
    mapping["subscales"] = {  # another map: every item in one subscale, sizes 6,3,6,3,3,2
        "GWB": [1, 2, 3, 4, 5, 6],
        "HWI": [7, 8, 9],
        "JCS": [10, 11, 12, 13, 14, 15],
        "CAW": [16, 17, 18],
        "WCS": [19, 20, 21],
        "SAW": [22, 23],
    }
    mapping["reverse"] = [2, 22, 23]
    path = tmp_path / "wrqol_licensed.yaml"
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    licensed = load_scale_file(path)
    assert licensed.placeholder is False and packaged_scales()["wrqol"].placeholder is True
    responses = _random_responses(INSTRUMENTS["wrqol"], 200, np.random.default_rng(5))
    packaged = score_scale(responses, packaged_scales()["wrqol"])
    replaced = score_scale(responses, licensed)
    assert not np.allclose(packaged["wrqol_GWB"], replaced["wrqol_GWB"], equal_nan=True)
    assert not np.allclose(packaged["wrqol_total"], replaced["wrqol_total"], equal_nan=True)
    # the ingest's loader reads the same file and scores the same numbers
    old = score_instrument(responses, instrument="wrqol", scoring=read_wrqol_scoring(path))
    pd.testing.assert_frame_equal(replaced, old, check_exact=True)
    assert read_wrqol_scoring(path).get("placeholder") is False


def test_the_survey_ingest_scores_the_built_in_instruments_from_their_files():
    from trial_designs.scale_files import survey_instrument

    for name in ("swemwbs", "ghq12", "ons4"):
        spec = survey_instrument(name)
        # the description (and so the data dictionary) is the built-in one; the scoring is the file's
        assert spec == INSTRUMENTS[name] and spec.to_dict() == INSTRUMENTS[name].to_dict()
        assert spec.scale is packaged_scales()[name]
    assert survey_instrument("wrqol").scale is None  # scored with the map the design names
    assert survey_instrument("cbi_work").scale is packaged_scales()["cbi_work"]
