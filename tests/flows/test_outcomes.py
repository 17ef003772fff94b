from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from flows.export import export_flow
from flows.outcomes import outcomes_ingest_flow
from flows.randomise import randomise_flow
from flows.sources import SourceError
from flows.store import Store
from trial_designs.design import load_design
from trial_designs.simulate import simulate_roster
from trial_designs.simulate_outcomes import simulate_outcomes

pytestmark = pytest.mark.flow
DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"


@pytest.fixture
def randomised_coffee(prefect_server, tmp_path):
    design = load_design(DESIGNS / "coffee.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(3))
    roster.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow("coffee", str(tmp_path / "roster.csv"))
    return design, roster


def _counts() -> dict:
    with Store().engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f"select count(*) from {t}")).scalar()
            for t in ("outcome_values", "quarantine", "ingested_files")
        }


def test_survey_bad_rows_are_quarantined_with_reasons_and_nothing_else_is_written(
    randomised_coffee, tmp_path
):
    design, _roster = randomised_coffee
    ids = Store().participant_arms("coffee")["participant_id"].tolist()
    rows = [
        {
            "participant_id": pid,
            "collected_on": "2020-03-12",
            **{f"swemwbs_{i}": 3 for i in range(1, 8)},
            "feeling_valued": 6,
        }
        for pid in ids[:4]
    ]
    rows.append({**rows[0], "participant_id": "STRANGER"})  # unknown id
    rows.append(
        {**rows[1], "swemwbs_3": 6}
    )  # out of range (and a duplicate of row 3, which is clean)
    rows.append(
        {**rows[2], "collected_on": "2031-01-01", "participant_id": ids[5]}
    )  # outside the window
    rows.append({**rows[3], "swemwbs_7": None})  # duplicate of row 5, with fewer items: loses
    path = tmp_path / "endline.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = outcomes_ingest_flow("coffee", str(path), "survey", "endline")
    assert result["summary"].startswith("endline.csv: 8 rows read, 4 stored, 4 quarantined;")
    quarantined = Store().quarantined("coffee")[["row_number", "column", "rule", "value"]]
    assert quarantined.to_records(index=False).tolist() == [
        (6, "participant_id", "known_participant", "STRANGER"),
        (7, "swemwbs_3", "item_in_range", "6"),
        (8, "collected_on", "date_in_window", "2031-01-01"),
        (9, "participant_id", "duplicate_response", ids[3]),
    ]
    stored = Store().read(sa.text("select distinct participant_id from outcome_values"))
    assert sorted(stored["participant_id"]) == sorted(ids[:4])
    before = _counts()
    again = outcomes_ingest_flow("coffee", str(path), "survey", "endline")
    assert again["already_ingested"] and _counts() == before
    assert Path(result["validation_report"]).read_text().count("<tr><td>") == 4


def test_a_file_missing_item_columns_writes_nothing(randomised_coffee, tmp_path):
    path = tmp_path / "broken.csv"
    pd.DataFrame(
        {"participant_id": ["x"], "collected_on": ["2020-03-01"], "swemwbs_1": [3]}
    ).to_csv(path, index=False)
    before = _counts()
    with pytest.raises(
        SourceError,
        match=r"^File broken.csv: item column\(s\) \['swemwbs_2', .*\] that the design's outcomes need are missing\.$",
    ):
        outcomes_ingest_flow("coffee", str(path), "survey", "endline")
    assert _counts() == before


def test_simulated_files_ingest_and_export_without_pii(randomised_coffee, tmp_path):
    design, roster = randomised_coffee
    files = simulate_outcomes(
        design, Store().participant_arms("coffee"), rng=np.random.default_rng(1)
    )
    for name, frame in files.items():
        frame.to_csv(tmp_path / name, index=False)
    outcomes_ingest_flow("coffee", str(tmp_path / "survey_baseline.csv"), "survey", "baseline")
    outcomes_ingest_flow("coffee", str(tmp_path / "survey_endline.csv"), "survey", "endline")
    outcomes_ingest_flow("coffee", str(tmp_path / "hr_extract.csv"), "hr", "endline")
    written = export_flow("coffee", str(tmp_path / "export"))
    dataset = pd.read_csv(written[0])
    assert len(dataset) == 380
    assert {
        "swemwbs_baseline",
        "swemwbs_endline",
        "turnover_endline",
        "absence_rate_endline",
        "cluster",
    } <= set(dataset.columns)
    assert 0.55 < dataset["responded_endline"].mean() < 0.85
    assert dataset.groupby("cluster")["arm"].nunique().max() == 1
    text = Path(written[0]).read_text()
    for column in ("first_name", "surname", "home_address"):
        if column in roster:
            assert not any(
                name in text for name in roster[column].astype(str).unique() if len(name) > 3
            )
    dictionary = pd.read_csv(written[2])
    assert set(dictionary["column"]) == set(dataset.columns)
