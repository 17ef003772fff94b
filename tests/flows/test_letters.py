from __future__ import annotations

import contextlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from flows.letters import letters_flow
from flows.randomise import randomise_flow
from flows.safe_io import participant_slug
from flows.sources import SourceError
from flows.store import Store, delivery_events
from trial_designs.design import load_design
from trial_designs.simulate_roster import simulate_roster

pytestmark = pytest.mark.flow
DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"


@pytest.fixture
def randomised_letters(prefect_server, tmp_path):
    design = load_design(DESIGNS / "letters.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(21), n=40)
    roster.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow("letters", str(tmp_path / "roster.csv"))
    people = Store().participant_arms("letters")
    return design, people, roster


def _sheet(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ids,
            "feedback_1": [f"You led the Tuesday duty rota for {p} weeks running." for p in ids],
            "feedback_2": [f"Families say you listen ({p})." for p in ids],
        }
    )


def _rendered_events() -> pd.DataFrame:
    return Store().read(
        sa.select(delivery_events).where(
            delivery_events.c.trial_id == "letters",
            delivery_events.c.event_type == "letter_rendered",
        )
    )


def test_letters_go_only_to_the_letter_arm_and_missing_feedback_is_reported(
    randomised_letters, tmp_path
):
    _design, people, roster = randomised_letters
    letter_arm = people.loc[people["arm"] == "letter", "participant_id"].tolist()
    control = people.loc[people["arm"] == "control", "participant_id"].tolist()
    # the coordinator's sheet names everyone, control arm included; one line is blank
    sheet = _sheet(letter_arm + control)
    sheet.loc[1, "feedback_2"] = "   "
    sheet = sheet.drop(index=2)  # and one letter-arm person is not on the sheet at all
    sheet.to_csv(tmp_path / "feedback.csv", index=False)
    result = letters_flow("letters", str(tmp_path / "feedback.csv"), "2019-04-05")

    expected = sorted(set(letter_arm) - {letter_arm[1], letter_arm[2]})
    manifest = pd.read_csv(result["manifest"])
    assert sorted(manifest["participant_id"]) == expected
    folder = Path(result["folder"])
    stem = {participant_slug(p): p for p in letter_arm + control}
    written = sorted(stem[p.stem] for p in folder.glob("*.pdf") if p.stem != "all_letters")
    assert written == expected and sorted(stem[p.stem] for p in folder.glob("*.html")) == expected
    # a control-arm participant never gets a letter, a manifest line or an event
    assert not set(control) & set(written)
    assert not set(control) & set(manifest["participant_id"])
    assert not set(control) & set(_rendered_events()["unit_id"])
    problems = pd.DataFrame(result["problems"])
    assert problems.loc[problems["rule"] == "missing_feedback", "participant_id"].tolist() == [
        letter_arm[1],
        letter_arm[2],
    ]
    assert sorted(
        problems.loc[problems["rule"] == "not_in_letter_arm", "participant_id"]
    ) == sorted(control)
    assert set(pd.read_csv(result["not_produced"])["participant_id"]) == set(
        problems["participant_id"]
    )

    # each letter carries the first name, both lines and its organisation's signatory
    first = manifest.iloc[0]
    html = (folder / first["html"]).read_text()
    row = roster.set_index("staff_id").loc[first["participant_id"]]
    assert f"Dear {row['first_name']}," in html
    assert f"You led the Tuesday duty rota for {first['participant_id']} weeks running." in html
    assert f"Families say you listen ({first['participant_id']})." in html
    signatory = _design.interventions[0].options["signatories"][row["local_authority"]]
    assert signatory["name"] in html and first["signatory"] == signatory["name"]
    pdf = (folder / first["pdf"]).read_bytes()
    assert pdf.startswith(b"%PDF") and manifest["pages"].eq(1).all()
    # one page each, in manifest order in the print-ready batch
    assert manifest["batch_pages"].tolist() == [f"{i}-{i}" for i in range(1, len(manifest) + 1)]
    assert (folder / "all_letters.pdf").read_bytes().startswith(b"%PDF")

    events = _rendered_events()
    assert sorted(events["unit_id"]) == expected
    assert events["occurred_at"].astype(str).str.startswith("2019-04-05").all()
    # producing the letters again that day writes the same files and logs nothing new
    again = letters_flow("letters", str(tmp_path / "feedback.csv"), "2019-04-05")
    assert again["events_logged"] == 0 and len(_rendered_events()) == len(expected)


def test_a_letter_whose_feedback_goes_missing_is_removed_on_the_next_run(
    randomised_letters, tmp_path
):
    _design, people, _roster = randomised_letters
    letter_arm = people.loc[people["arm"] == "letter", "participant_id"].tolist()
    _sheet(letter_arm).to_csv(tmp_path / "feedback.csv", index=False)
    first = letters_flow("letters", str(tmp_path / "feedback.csv"), "2019-04-05")
    assert first["letters"] == len(letter_arm)
    assert (Path(first["folder"]) / f"{participant_slug(letter_arm[0])}.pdf").exists()
    _sheet(letter_arm).assign(feedback_1=lambda d: d["feedback_1"].where(d.index != 0)).to_csv(
        tmp_path / "feedback.csv", index=False
    )
    second = letters_flow("letters", str(tmp_path / "feedback.csv"), "2019-04-06")
    assert second["letters"] == len(letter_arm) - 1
    assert not (Path(second["folder"]) / f"{participant_slug(letter_arm[0])}.pdf").exists()


def test_a_sheet_without_the_feedback_columns_is_refused(randomised_letters, tmp_path):
    pd.DataFrame({"participant_id": ["x"], "comment": ["great"]}).to_csv(
        tmp_path / "sheet.csv", index=False
    )
    with pytest.raises(
        SourceError, match=r"sheet\.csv: column\(s\) \['feedback_1', 'feedback_2'\] are missing"
    ):
        letters_flow("letters", str(tmp_path / "sheet.csv"))


# Ids that a naive file-name rule maps to the same name: by punctuation, case, unicode
# normalisation (NFC vs NFD 'Café') and length (a shared 60-character prefix).
# Ids that collide as file names but not as ids: ids differing only by letter case or
# Unicode form ('Col-4'/'col-4', 'Café' NFC/NFD) are refused by the roster check
# (id_distinct_when_normalised, tests/flows/test_exact_ids.py), so they never reach letters.
_COLLIDING_IDS = [
    *("COL.4", "COL-4", "COL_4", "COL 4", "COL/4", "COL:4"),
    *("COL\u20144", "COL\u20134", "COL~4", "COL+4"),
    *("Caf\u00e9", "Caf\u00e8", "Caf\u00ea", "Cafe", "Caf\u00eb"),
    *("X" * 60 + "-1", "X" * 60 + "-2", "X" * 60 + ".1", "X" * 60 + "_1"),
    *(f"../ID{k}" for k in range(5)),
    *(f"S{k:03d}" for k in range(16)),
]


def _pdf_text(path: Path) -> bytes:
    """The PDF's bytes with its compressed streams inflated (weasyprint writes anchors there)."""
    import zlib

    data = path.read_bytes()
    parts = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        with contextlib.suppress(zlib.error):
            parts.append(zlib.decompress(match.group(1)))
    return b"".join(parts)


def test_ids_that_collide_as_file_names_never_share_a_letter(prefect_server, tmp_path):
    design = load_design(DESIGNS / "letters.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(21), n=len(_COLLIDING_IDS))
    roster["staff_id"] = _COLLIDING_IDS
    roster["first_name"] = [f"Person{k:02d}" for k in range(len(roster))]
    roster.to_csv(tmp_path / "roster.csv", index=False)
    randomise_flow("letters", str(tmp_path / "roster.csv"))
    people = Store().participant_arms("letters")
    letter_arm = people.loc[people["arm"] == "letter", "participant_id"].tolist()
    assert set(letter_arm) <= set(_COLLIDING_IDS) and len(letter_arm) >= 15
    marker = {pid: f"secret-{k:02d}-feedback" for k, pid in enumerate(_COLLIDING_IDS)}
    name = dict(zip(roster["staff_id"], roster["first_name"], strict=True))
    sheet = pd.DataFrame(
        {
            "participant_id": letter_arm,
            "feedback_1": [f"Private note {marker[p]}." for p in letter_arm],
            "feedback_2": ["You listen." for _ in letter_arm],
        }
    )
    sheet.to_csv(tmp_path / "feedback.csv", index=False)

    result = letters_flow("letters", str(tmp_path / "feedback.csv"), "2019-04-05")

    folder = Path(result["folder"])
    manifest = pd.read_csv(result["manifest"], dtype=str, keep_default_na=False)
    assert result["letters"] == len(letter_arm) == len(manifest)
    assert sorted(manifest["participant_id"]) == sorted(letter_arm)
    htmls = sorted(p.name for p in folder.glob("*.html"))
    pdfs = sorted(p.name for p in folder.glob("*.pdf") if p.name != "all_letters.pdf")
    assert len(htmls) == len(pdfs) == len(letter_arm)
    assert htmls == sorted(manifest["html"]) and pdfs == sorted(manifest["pdf"])
    anchors = {}
    for row in manifest.to_dict("records"):
        pid = row["participant_id"]
        html = (folder / row["html"]).read_text(encoding="utf-8")
        # exactly this person's name and private feedback, nobody else's
        assert f"Dear {name[pid]}," in html and marker[pid] in html
        others = [m for p, m in marker.items() if p != pid and m in html]
        assert others == [] and html.count("Dear ") == 1
        anchors[pid] = re.search(r'id="(letter-[^"]+)"', html).group(1)
    assert len(set(anchors.values())) == len(anchors)
    for row in manifest.to_dict("records"):
        pdf = _pdf_text(folder / row["pdf"])
        held = [pid for pid, anchor in anchors.items() if anchor.encode() in pdf]
        assert held == [row["participant_id"]]
    # the batch is cut into increasing, contiguous page ranges, one per letter
    ranges = [tuple(map(int, r.split("-"))) for r in manifest["batch_pages"]]
    assert all(first <= last for first, last in ranges)
    assert [first for first, _ in ranges] == [1] + [last + 1 for _, last in ranges[:-1]]
