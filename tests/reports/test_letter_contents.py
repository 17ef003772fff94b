"""Letters (reports/letters.py): who gets one, why the others do not, the HTML and the summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import tinyhtml5

from reports.letters import (
    LETTER_PROBLEM_COLUMNS,
    letter_contents,
    letters_markdown,
    render_letters_html,
)
from trial_designs.design import load_design

DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"


def _sheet(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ids,
            "feedback_1": [f"You led the Tuesday duty rota for {p} weeks running." for p in ids],
            "feedback_2": [f"Families say you listen ({p})." for p in ids],
        }
    )


def _recipients() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ["A", "B", "C", "D"],
            "arm": ["letter", "letter", "letter", "control"],
            "organisation": ["Dudley", "Elsewhere", "Dudley", "Dudley"],
            "team": ["T1", "T2", "T1", "T1"],
            "first_name": ["Ana", "Ben", None, "Dee"],
            "surname": ["Ash", "Bo", "Cy", "Do"],
            "address": [
                "1 High St, Dudley",
                "2 Low Rd, Town",
                "3 Mid Way, Dudley",
                "4 End, Dudley",
            ],
        }
    )


def test_letter_contents_signatory_comes_from_the_sheet_before_the_design():
    sheet = _sheet(["A", "B", "C", "D", "Z"])
    sheet["signatory"] = [None, "Chief Executive", None, None, None]
    letters, problems = letter_contents(
        _recipients(),
        sheet,
        letter_arm="letter",
        signatories={"Dudley": {"name": "M. Ellison", "title": "Director"}},
    )
    assert letters[["participant_id", "signatory_name", "signatory_title"]].to_records(
        index=False
    ).tolist() == [
        ("A", "M. Ellison", "Director"),
        ("B", "Chief Executive", ""),
    ]
    assert letters.loc[0, "address_lines"] == ["1 High St", "Dudley"]
    assert problems[["participant_id", "rule"]].to_records(index=False).tolist() == [
        ("D", "not_in_letter_arm"),
        ("Z", "unknown_participant"),
        ("C", "missing_first_name"),
    ]


def test_letter_contents_reports_every_reason_and_a_duplicated_sheet_row():
    sheet = pd.concat([_sheet(["A", "B"]), _sheet(["A"])], ignore_index=True)
    people = _recipients().assign(address=[None, "2 Low Rd", "3 Mid Way", "4 End"])
    letters, problems = letter_contents(people, sheet, letter_arm="letter", signatories={})
    assert letters.empty
    assert problems[["participant_id", "rule"]].to_records(index=False).tolist() == [
        ("A", "duplicate_feedback"),
        ("A", "missing_address"),
        ("A", "missing_signatory"),
        ("B", "missing_signatory"),
        ("C", "missing_feedback"),
        ("C", "missing_first_name"),
        ("C", "missing_signatory"),
    ]
    assert (
        problems.loc[problems["participant_id"] == "C", "message"]
        .iloc[0]
        .startswith("Not on the feedback sheet")
    )


def test_each_letter_is_a_section_with_its_anchor_name_feedback_and_signatory():
    design = load_design(DESIGNS / "letters.yaml")
    letters, _ = letter_contents(
        _recipients(),
        _sheet(["A", "B"]),
        letter_arm="letter",
        signatories={"Dudley": "M. Ellison", "Elsewhere": "R. Patel"},
    )
    records = [{**r, "anchor": f"letter-{r['participant_id']}"} for r in letters.to_dict("records")]
    html = render_letters_html(records, design, dt.date(2019, 4, 5))
    sections = [e for e in tinyhtml5.parse(html).iter() if str(e.tag).endswith("section")]
    assert [s.get("id") for s in sections] == ["letter-A", "letter-B"]
    text = " ".join("".join(s.itertext()) for s in sections)
    assert "Dear Ana," in text and "Dear Ben," in text
    assert "You led the Tuesday duty rota for A weeks running." in text
    assert "M. Ellison" in text and "R. Patel" in text
    assert "5 April 2019" in html  # no leading zero on the day
    assert "Letters of appreciation (2)" in html
    assert "<title>Letter to Ana Ash</title>" in render_letters_html(
        records[:1], design, dt.date(2019, 4, 5)
    )


def test_the_summary_names_rows_of_not_produced_never_staff_ids():
    _, problems = letter_contents(
        _recipients(), _sheet(["A", "Z"]), letter_arm="letter", signatories={}
    )
    assert list(problems.columns) == LETTER_PROBLEM_COLUMNS
    written = {
        "letters": 0,
        "manifest": "out/manifest.csv",
        "batch": None,
        "not_produced": "out/not_produced.csv",
    }
    text = letters_markdown("Letters of appreciation", written, problems)
    lines = text.splitlines()
    assert lines[0] == "**0 letter(s) produced** for Letters of appreciation."
    assert "Print-ready batch" not in text
    n = problems["participant_id"].nunique()
    assert f"**{n} participant(s) without a letter** (details in `out/not_produced.csv`):" in text
    # one row per problem, numbered by its line in not_produced.csv (the header is line 1)
    rows = [line for line in lines if line.startswith("| ") and line[2].isdigit()]
    assert rows == [f"| {k + 2} | {rule} |" for k, rule in enumerate(problems["rule"])]
    for pid in ("A", "B", "C", "Z"):
        assert f"| {pid} " not in text and f"`{pid}`" not in text
    written.update(letters=2, batch="out/all_letters.pdf")
    assert "Print-ready batch: `out/all_letters.pdf`" in letters_markdown(
        "t", written, problems.iloc[:0]
    )
