"""The outcome ingest flow: checks, scoring and the store split together (pure parts: tests/intake)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from flows.outcomes import outcomes_ingest_flow
from flows.sources import SourceError
from flows.store import Store, outcome_values
from flows.store.responses import outcome_values_long
from intake.outcome_rows import OUTCOME_COLUMNS
from tests.designs import DESIGNS
from tests.outcome_files import response
from trial_designs.design import load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"

# The tests that write to the store run on SQLite and on PostgreSQL (issue 18.1).
on_both = pytest.mark.usefixtures("store_backend")


# ---------------------------------------------------------------- the flow


def _randomised(name: str = "coffee") -> list[str]:
    design = load_design(DESIGNS / f"{name}.yaml")
    roster = pd.read_csv(GOLDEN / f"{name}_roster.csv", dtype=str)
    Store().record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    return sorted(roster["id"])


def _counts() -> dict:
    with Store().engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f"select count(*) from {t}")).scalar()
            for t in ("outcome_values", "survey_responses", "quarantine", "ingested_files")
        }


def _file_rows(rows: list[dict]) -> pd.DataFrame:
    # coffee's survey columns: staff_id, collected_on, feeling_valued, swemwbs_1..7
    return (
        pd.DataFrame(rows)
        .rename(columns={"participant_id": "staff_id"})
        .assign(comments="Lovely coffee, thanks Priya Patel")
    )


@on_both
@pytest.mark.flow
def test_survey_ingest_quarantines_bad_rows_stores_the_rest_and_is_idempotent(
    prefect_server, tmp_path, _isolated_home
):
    ids = _randomised()
    rows = [response(pid) for pid in ids[:4]]
    rows += [
        response("STRANGER"),
        response(ids[4], swemwbs_3="6"),
        response(ids[5], day="2031-01-01"),
        response(ids[3], swemwbs_7=None),  # a less complete second response
    ]
    path = tmp_path / "endline.csv"
    _file_rows(rows).to_csv(path, index=False)
    result = outcomes_ingest_flow("coffee", str(path), "survey", "endline")
    assert result["summary"].startswith("endline.csv: 8 rows read, 4 stored, 4 quarantined;")
    quarantined = Store().quarantined("coffee")[["row_number", "column", "rule", "value"]]
    assert quarantined.to_records(index=False).tolist() == [
        (6, "staff_id", "known_participant", "STRANGER"),
        (7, "swemwbs_3", "item_in_range", "6"),
        (8, "collected_on", "date_in_window", "2031-01-01"),
        (9, "staff_id", "duplicate_response", ids[3]),
    ]
    with Store().engine.connect() as conn:
        stored = outcome_values_long(conn, "coffee")
    assert sorted(stored["participant_id"].unique()) == ids[:4]
    assert len(stored) == 4 * (7 + 1 + 2)  # items, the single item, raw and metric
    responses = Store().read(sa.text("select * from survey_responses"))
    assert len(responses) == 4 and responses["n_values"].tolist() == [10] * 4  # one row each
    assert Store().read(sa.text("select * from outcome_values")).empty  # HR only
    assert not responses.astype(str).apply(lambda c: c.str.contains("Priya")).any().any()
    # the raw file is archived under its hash; the report and CSV list each problem
    digest = result["summary"].split("archived as ")[1].split(".")[0]
    assert (
        _isolated_home / "archive" / "coffee" / f"{digest}.csv"
    ).read_bytes() == path.read_bytes()
    report = Path(result["validation_report"])
    assert report.name == f"endline-{digest[:12]}.html"
    assert report.parent == _isolated_home / "out" / "coffee" / "validation"
    html = report.read_text()
    assert html.count('<tr><td class="num">') == 4  # one table row per quarantined row
    assert all(f"<td>{rule}</td>" in html for rule in quarantined["rule"])
    assert len(pd.read_csv(result["problems_csv"])) == 4
    before = _counts()
    again = outcomes_ingest_flow("coffee", str(path), "survey", "endline")
    assert again["already_ingested"] and "nothing changed" in again["summary"]
    assert _counts() == before

    # an overlapping later export: a known row again, a changed row, and a new one
    overlap = tmp_path / "endline_2.csv"
    _file_rows([response(ids[0]), response(ids[1], answer=5), response(ids[4], answer=4)]).to_csv(
        overlap, index=False
    )
    result = outcomes_ingest_flow("coffee", str(overlap), "survey", "endline")
    assert result["rows_stored"] == 1 and result["rows_already_stored"] == 1
    conflicts = Store().quarantined("coffee").query("file_name == 'endline_2.csv'")
    assert set(conflicts["rule"]) == {"conflicts_with_stored"} and set(conflicts["row_number"]) == {
        3
    }
    with Store().engine.connect() as conn:
        kept = outcome_values_long(conn, "coffee").query(
            "participant_id == @ids[1] and measure == 'swemwbs_1'"
        )
    assert kept["value"].tolist() == [3.0]  # the stored answer was not overwritten


@on_both
@pytest.mark.flow
def test_files_that_cannot_be_used_write_nothing(prefect_server, tmp_path):
    ids = _randomised()
    before = _counts()
    broken = tmp_path / "broken.csv"
    pd.DataFrame({"staff_id": [ids[0]], "collected_on": ["2020-03-01"], "swemwbs_1": [3]}).to_csv(
        broken, index=False
    )
    with pytest.raises(
        SourceError,
        match=r"^File broken.csv: column\(s\) 'swemwbs_2' \(for swemwbs_2\), .*'feeling_valued' "
        r"\(for feeling_valued\) named in the design are missing\. Got columns \['staff_id', ",
    ):
        outcomes_ingest_flow("coffee", str(broken), "survey", "endline")
    other_trial = tmp_path / "other.csv"
    _file_rows([response("LET00001"), response("LET00002")]).to_csv(other_trial, index=False)
    with pytest.raises(
        SourceError, match=r"^None of the 2 rows names a participant of trial 'coffee'"
    ):
        outcomes_ingest_flow("coffee", str(other_trial), "survey", "endline")
    with pytest.raises(ValueError, match=r"must be lowercase letters.*Got 'Endline 2' instead\."):
        outcomes_ingest_flow("coffee", str(other_trial), "survey", "Endline 2")
    assert _counts() == before


@pytest.mark.flow
def test_a_timepoint_the_design_does_not_declare_is_refused_before_anything_is_written(
    prefect_server, tmp_path
):
    # a good file: at endline it would be stored; coffee declares no follow-up wave
    ids = _randomised()
    before = (_counts(), len(Store().audit("coffee")))
    path = tmp_path / "followup.csv"
    _file_rows([response(pid) for pid in ids[:3]]).to_csv(path, index=False)
    for source in ("survey", "hr"):
        with pytest.raises(
            ValueError,
            match=r"^The timepoint 'followup' is not declared by design 'coffee'\. Choose one of: "
            r"baseline, endline \(a follow-up wave is declared under follow_up\.waves, with its "
            r"name and date\)\. Got 'followup' instead\.$",
        ):
            outcomes_ingest_flow("coffee", str(path), source, "followup")
    assert (_counts(), len(Store().audit("coffee"))) == before


@on_both
@pytest.mark.flow
def test_hr_extract_ingest_stores_absence_and_turnover(prefect_server, tmp_path):
    ids = _randomised()
    extract = pd.DataFrame(
        {
            "staff_id": [ids[0], ids[0], ids[1], ids[2], "NOBODY"],
            "record_type": ["staff", "absence", "staff", "staff", "staff"],
            "fte": ["1", None, "0.5", "2", "1"],
            "fte_from": None,
            "leaving_date": [None, None, "2020-01-31", None, None],
            "absence_start": [None, "2019-12-02", None, None, None],
            "absence_end": [None, "2019-12-06", None, None, None],
        }
    )
    path = tmp_path / "hr.csv"
    extract.to_csv(path, index=False)
    result = outcomes_ingest_flow("coffee", str(path), "hr", "endline")
    assert result["summary"].startswith("hr.csv: 5 rows read, 2 stored, 2 quarantined;")
    stored = Store().read(
        sa.text("select participant_id, measure, value, rule from outcome_values")
    )
    wide = stored.pivot(index="participant_id", columns="measure", values="value")
    assert sorted(wide.index) == ids[:2]
    assert wide.loc[ids[0], "days_lost"] == 5.0 and wide.loc[ids[1], "turnover"] == 1.0
    assert set(Store().quarantined("coffee")["rule"]) == {"fte_in_range", "known_participant"}


def test_the_outcome_columns_of_intake_are_the_store_table_columns_in_order():
    # intake yields rows for the table without importing the store (flows): the two must agree
    assert [c.name for c in outcome_values.columns] == OUTCOME_COLUMNS
