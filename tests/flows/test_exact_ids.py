"""Ids are matched exactly, and ids a person reads as one are refused at the roster.

A roster once held 'P10' and 'P10 ' as two people, and the feedback reader
trimmed 'P10 ' to 'P10': ten letters reading "Dear Alice", to Alice's address,
carried Bobby's private feedback.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.deliveries import read_deliveries
from flows.letters import read_feedback
from flows.outcomes import read_outcome_file
from flows.randomise import enrol_flow, randomise_flow
from flows.sources import read_table, rename_to_canonical
from flows.store import Store
from intake.deliveries import intervention_of
from intake.ids import exact_ids, id_key
from intake.roster import RosterError, check_roster
from intake.surveys import check_survey_rows
from reports.letters import letter_contents
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster

DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"
LETTERS = load_design(DESIGNS / "letters.yaml")
NFC = unicodedata.normalize("NFC", "Café")
NFD = unicodedata.normalize("NFD", "Café")


def _roster_file(tmp_path: Path, ids: list[str], name: str = "roster.csv") -> Path:
    frame = simulate_roster(LETTERS, rng=np.random.default_rng(4), n=len(ids))
    frame["staff_id"] = ids
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _checked(tmp_path: Path, ids: list[str]) -> pd.DataFrame:
    raw = read_table(_roster_file(tmp_path, ids))
    return check_roster(
        rename_to_canonical(raw, LETTERS.roster_columns, file_name="roster.csv"), LETTERS
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [("P10", "P10 "), ("TAB1", "\tTAB1"), ("LET0010O", "let0010o"), (NFC, NFD), ("P7", "Ｐ7")],
)
def test_ids_that_read_as_one_are_refused_naming_both_rows(tmp_path, first, second):
    problems = _checked(tmp_path, ["A1", first, second, "B2"])
    clash = problems[problems["rule"] == "id_distinct_when_normalised"]
    # rows 3 and 4 of the file (the header is row 1), each naming the other
    assert clash["source_row"].tolist() == [3, 4]
    assert set(clash["column"]) == {"staff_id"}
    assert clash["value"].tolist() == [first, second]
    assert "the same as the id on row 4 once" in clash["message"].iloc[0]
    assert "the same as the id on row 3 once" in clash["message"].iloc[1]


@pytest.mark.parametrize("bad", ["P10 ", " P10", "\tTAB1", "P\u200b10", "\ufeffP10", "P\x0710"])
def test_an_id_with_surrounding_space_or_a_control_character_is_refused(tmp_path, bad):
    problems = _checked(tmp_path, ["A1", bad])
    found = problems[problems["rule"] == "id_no_surrounding_space"]
    assert found[["source_row", "column", "value"]].values.tolist() == [[3, "staff_id", bad]]


def test_good_ids_pass_and_the_key_folds_what_a_person_cannot_see():
    assert id_key("P10 ") == id_key("p10") == id_key("Ｐ10") and id_key(NFC) == id_key(NFD)
    assert id_key("P10") != id_key("P01")
    assert exact_ids(pd.Series(["P10 ", "  ", None, "P10"])).tolist() == ["P10 ", None, None, "P10"]


@pytest.mark.flow
def test_a_roster_with_ids_that_read_as_one_stores_nothing(prefect_server, tmp_path):
    path = _roster_file(tmp_path, ["P00", "P00 ", "P01"])
    with pytest.raises(RosterError, match="rule id_distinct_when_normalised") as refused:
        randomise_flow("letters", str(path))
    # the person at the command line gets row, column, rule and value
    assert (
        "roster.csv row 3, column 'staff_id': rule id_no_surrounding_space; value 'P00 '"
        in refused.value.report
    )
    assert "row 2, column 'staff_id': rule id_distinct_when_normalised" in refused.value.report
    assert "P00" not in str(refused.value)  # the version Prefect logs carries no id
    assert Store().trial("letters") is None


@pytest.mark.flow
def test_a_late_entrant_that_reads_as_a_stored_participant_is_refused(prefect_server, tmp_path):
    randomise_flow("letters", str(_roster_file(tmp_path, ["LET0010O", "LET0011", "LET0012"])))
    before = Store().participant_arms("letters")["participant_id"].tolist()
    late = _roster_file(tmp_path, ["let0010o", "LET0099"], name="late.csv")
    with pytest.raises(RosterError) as refused:
        enrol_flow("letters", str(late))
    assert (
        "late.csv row 2, column 'staff_id': rule id_distinct_when_normalised; value 'let0010o'"
        in refused.value.report
    )
    assert "the same as the id of a participant already in the trial" in refused.value.report
    assert "LET0010O" not in refused.value.report and "let0010o" not in str(refused.value)
    assert Store().participant_arms("letters")["participant_id"].tolist() == before


def test_feedback_for_an_id_with_a_space_reaches_nobody(tmp_path):
    people = pd.DataFrame(
        {
            "participant_id": ["P10"],
            "arm": ["letter"],
            "organisation": ["Dudley"],
            "team": ["Dudley team 1"],
            "first_name": ["Alice"],
            "surname": ["Patel"],
            "address": ["1 Patel Road, Dudley"],
        }
    )
    sheet = tmp_path / "feedback.csv"
    sheet.write_text(
        "participant_id,feedback_1,feedback_2\nP10 ,PRIVATE-for-Bobby,  second line  \n"
    )
    feedback = read_feedback(sheet)
    assert feedback["participant_id"].tolist() == ["P10 "]
    assert feedback["feedback_2"].tolist() == ["second line"]  # text cells are still trimmed
    letters, problems = letter_contents(
        people, feedback, letter_arm="letter", signatories={"Dudley": "Jo Bloggs"}
    )
    assert letters.empty  # no letter to Alice carrying Bobby's feedback
    assert sorted(zip(problems["participant_id"], problems["rule"], strict=True)) == [
        ("P10", "missing_feedback"),
        ("P10 ", "unknown_participant"),
    ]
    unknown = problems.loc[problems["rule"] == "unknown_participant", "message"].iloc[0]
    assert "No participant has exactly this id" in unknown


def test_a_survey_row_with_a_spaced_id_is_an_unknown_participant(tmp_path):
    columns = LETTERS.survey.columns
    row = {file_column: "3" for file_column in columns.values()}
    row[columns["participant_id"]] = "P10 "
    row[columns["collected_on"]] = "2019-10-15"
    path = tmp_path / "survey.csv"
    pd.DataFrame([row]).to_csv(path, index=False)
    frame, _mapping = read_outcome_file.fn(str(path), LETTERS, "survey")
    assert frame["participant_id"].tolist() == ["P10 "]
    problems = check_survey_rows(
        frame, LETTERS, pd.Index(["P10"], dtype=object), timepoint="endline"
    )
    found = problems[problems["rule"] == "known_participant"]
    assert found[["source_row", "value"]].values.tolist() == [[2, "P10 "]]


def test_a_delivery_for_an_id_with_a_space_is_read_as_written(tmp_path):
    intervention = intervention_of(LETTERS)
    unit_column = intervention.columns.get("unit_id", "unit_id")
    path = tmp_path / "log.csv"
    pd.DataFrame(
        {
            unit_column: ["P10 ", "   "],
            intervention.columns.get("event_type", "event_type"): ["letter_posted"] * 2,
            intervention.columns.get("occurred_at", "occurred_at"): ["2019-05-01"] * 2,
        }
    ).to_csv(path, index=False)
    assert read_deliveries(path, intervention)["unit_id"].tolist() == ["P10 ", None]
