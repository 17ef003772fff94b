"""The coordinator's allocation list is written a chunk at a time (issue 18: a national
roster's list took 1.5 GB whole): the same bytes as the whole table through write_csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from flows.safe_io import write_csv, write_csv_chunks
from flows.store import Store
from tests.designs import DESIGNS
from trial_designs.design import load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"


def test_chunks_give_the_bytes_of_the_whole_table(tmp_path):
    whole = pd.DataFrame(
        {
            "participant_id": ["p1", "p2", "p3", "p4", "p5"],
            "team": ["=SUM(A1)", None, "-1.5", "@x", "plain, with a comma"],
            "first_name": [None, None, 'say "hi"', None, "+44 7700"],
        }
    )
    write_csv(whole, tmp_path / "whole.csv")
    # an empty first chunk, and chunks where a column is all missing
    chunks = [whole.iloc[:0], whole.iloc[:2], whole.iloc[2:3], whole.iloc[3:]]
    write_csv_chunks(iter(chunks), tmp_path / "chunks.csv")
    assert (tmp_path / "chunks.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    write_csv_chunks([whole.iloc[:0]], tmp_path / "empty.csv")
    assert (tmp_path / "empty.csv").read_text() == "participant_id,team,first_name\n"


def test_a_failed_chunk_leaves_the_old_list_in_place(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("old\n")

    def chunks():
        yield pd.DataFrame({"a": ["1"]})
        raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError, match="went away"):
        write_csv_chunks(chunks(), path)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["list.csv"]


@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize("chunk_rows", [1, 7, 100_000])
def test_the_store_list_is_the_arms_merged_with_pii(tmp_path, chunk_rows):
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    store = Store()
    # PII for some participants only (the rest get empty cells), and one name a
    # spreadsheet would run as a formula
    pii = roster[["id"]].rename(columns={"id": "participant_id"}).iloc[::3].copy()
    pii["first_name"] = "Ann"
    pii.iloc[0, 1] = "=HYPERLINK(1)"
    store.record_randomisation(
        design=design, allocation=randomise(roster, design), roster=roster, pii=pii
    )
    # the list as it was built before: every participant's arm, merged with the PII table
    arms = store.participant_arms("letters")
    columns = ["participant_id", "organisation", "building", "team", "role", "unit_id", "arm"]
    expected = arms[[*columns, "enrolment"]].merge(
        store.pii("letters"), on="participant_id", how="left"
    )
    write_csv(expected, tmp_path / "expected.csv")
    write_csv_chunks(store.allocation_list("letters", chunk_rows=chunk_rows), tmp_path / "got.csv")
    assert len(expected) == len(roster)
    assert (tmp_path / "got.csv").read_bytes() == (tmp_path / "expected.csv").read_bytes()


@pytest.mark.usefixtures("store_backend")
def test_the_store_list_without_pii_has_no_pii_columns(tmp_path):
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    store = Store()
    store.record_randomisation(design=design, allocation=randomise(roster, design), roster=roster)
    frames = list(store.allocation_list("letters", chunk_rows=500))
    assert list(frames[0].columns) == [
        "participant_id",
        "organisation",
        "building",
        "team",
        "role",
        "unit_id",
        "arm",
        "enrolment",
    ]
    listed = pd.concat(frames)
    assert listed["participant_id"].tolist() == sorted(roster["id"])
    assert len(frames) == -(-len(roster) // 500)
