"""Outputs are formula-safe CSVs, written atomically; archived inputs are trusted only by hash."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows import safe_io
from flows.safe_io import atomic_path, neutralise_formulas, write_csv, write_text
from flows.sources import archive_file, file_hash

FLOWS = Path(__file__).resolve().parents[2] / "flows"
FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]


def test_text_cells_that_start_a_formula_get_a_quote_and_numbers_stay_numbers():
    frame = pd.DataFrame(
        {
            "text": [*FORMULAS, "plain", None],
            "number": [-1.5, 2.0, -3.25, 4.0, 5.0, 6.0, -7.0, np.nan],
            "integer": [-1, 2, 3, 4, 5, 6, 7, 8],
            "numeric_text": ["-1.5", "+3", "2e-3", "-.5", "=1", "-", "1", None],
            "arrow": pd.array([*FORMULAS, "x", None], dtype="string"),
        }
    )
    safe = neutralise_formulas(frame)
    assert safe["text"].tolist()[:6] == ["'" + f for f in FORMULAS]
    assert safe["text"].tolist()[6] == "plain" and safe["text"].isna().tolist()[7]
    assert safe["arrow"].tolist()[:6] == ["'" + f for f in FORMULAS]
    # numeric columns keep their values and dtypes; a plain number written as text stays as is
    pd.testing.assert_series_equal(safe["number"], frame["number"])
    pd.testing.assert_series_equal(safe["integer"], frame["integer"])
    assert safe["numeric_text"].tolist()[:7] == ["-1.5", "+3", "2e-3", "-.5", "'=1", "'-", "1"]
    assert list(safe.dtypes) == list(frame.dtypes)
    # the input is not changed
    assert frame["text"].tolist()[0] == FORMULAS[0]


def test_write_csv_neutralises_cells_and_column_names(tmp_path):
    frame = pd.DataFrame({"=HYPERLINK(1)": ["@SUM(1)"], "effect": [-0.25]})
    path = write_csv(frame, tmp_path / "out.csv")
    text = path.read_text()
    assert text.splitlines() == ["'=HYPERLINK(1),effect", "'@SUM(1),-0.25"]


def _no_temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_crash_mid_write_leaves_no_file_under_the_final_name(tmp_path, monkeypatch, failing):
    def crash(*args, **kwargs):
        raise OSError(f"simulated crash in {failing}")

    monkeypatch.setattr(safe_io.os, failing, crash)
    target = tmp_path / "report.html"
    with pytest.raises(OSError, match="simulated crash"):
        write_text(target, "<p>all of it</p>")
    assert not target.exists() and _no_temporaries(tmp_path) == []
    with pytest.raises(OSError, match="simulated crash"):
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "list.csv")
    assert not (tmp_path / "list.csv").exists() and _no_temporaries(tmp_path) == []


def test_a_crash_mid_write_keeps_the_previous_file(tmp_path):
    target = write_text(tmp_path / "results.json", '{"old": true}')
    with pytest.raises(RuntimeError, match="half way"), atomic_path(target) as temporary:
        temporary.write_text('{"new": tr')
        raise RuntimeError("half way")
    assert target.read_text() == '{"old": true}' and _no_temporaries(tmp_path) == []


@pytest.mark.parametrize("damage", ["empty", "truncated", "other content"])
def test_a_damaged_archive_under_the_right_name_is_replaced(tmp_path, damage):
    survey = tmp_path / "survey.csv"
    survey.write_text("staff_id,q\n" + "".join(f"S{i},{i % 10}\n" for i in range(5000)))
    digest = file_hash(survey)
    archive = tmp_path / "archive"
    archive.mkdir()
    # what kill -9 while copying left behind: the archive's name, not its content
    stale = archive / f"{digest}.csv"
    content = {"empty": b"", "truncated": survey.read_bytes()[:100], "other content": b"x\n"}
    stale.write_bytes(content[damage])
    archived = archive_file(survey, archive, digest)
    assert archived == stale and file_hash(archived) == digest
    assert archived.read_bytes() == survey.read_bytes()


def test_a_good_archive_is_reused_and_a_file_changed_while_copied_is_refused(tmp_path, monkeypatch):
    survey = tmp_path / "survey.csv"
    survey.write_text("staff_id,q\nS1,1\n")
    digest = file_hash(survey)
    first = archive_file(survey, tmp_path / "archive", digest)
    mtime = first.stat().st_mtime_ns
    assert archive_file(survey, tmp_path / "archive", digest).stat().st_mtime_ns == mtime
    survey.write_text("staff_id,q\nS1,2\n")  # changed after it was hashed
    from flows.sources import SourceError

    with pytest.raises(SourceError, match=r"survey\.csv changed while it was being archived"):
        archive_file(survey, tmp_path / "archive2", digest)
    assert list((tmp_path / "archive2").iterdir()) == []


# Writers that bypass flows/safe_io: pandas' to_csv, csv.writer, Path.write_text/bytes, or
# weasyprint writing straight to a final path.  server.py's pid/port files are runtime state.
_BYPASS = re.compile(
    r"\.to_csv\(|csv\.writer\(|\.write_text\(|\.write_bytes\(|\.to_parquet\((?!temporary)"
    r"|\.write_pdf\((?!temporary)"
)


def test_every_output_in_flows_goes_through_safe_io():
    offenders = []
    for path in sorted(FLOWS.glob("*.py")):
        if path.name in ("safe_io.py", "server.py"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _BYPASS.search(line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []


def _cells(path: str | Path) -> set[str]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {*frame.columns, *frame.to_numpy().ravel().tolist()}


def _assert_no_formula(path: str | Path, *, expected: list[str]) -> None:
    """No cell starts a formula, and each hostile value is there, quoted."""
    cells = _cells(path)
    live = [c for c in cells if c.startswith(safe_io.FORMULA_PREFIXES) and not c.startswith("-")]
    assert live == [], f"{Path(path).name} holds live formulas {live}"
    for value in expected:
        assert "'" + value in cells, f"{value!r} missing from {Path(path).name}"


@pytest.mark.flow
def test_allocation_list_manifest_quarantine_and_export_hold_no_formulas(prefect_server, tmp_path):
    from flows.deliveries import deliveries_ingest_flow
    from flows.export import export_flow
    from flows.letters import letters_flow
    from flows.randomise import randomise_flow
    from flows.store import Store
    from trial_designs.design import load_design
    from trial_designs.simulate_roster import simulate_roster

    design = load_design(FLOWS.parent / "trial_designs" / "letters.yaml")
    roster = simulate_roster(design, rng=np.random.default_rng(5), n=24)
    roster["team"] = "=cmd|' /C calc'!A0"
    roster["surname"] = "@SUM(1+1)"
    roster.to_csv(tmp_path / "roster.csv", index=False)
    randomised = randomise_flow("letters", str(tmp_path / "roster.csv"))
    _assert_no_formula(randomised["allocation_list"], expected=["=cmd|' /C calc'!A0", "@SUM(1+1)"])

    people = Store().participant_arms("letters")
    letter_arm = people.loc[people["arm"] == "letter", "participant_id"].tolist()
    pd.DataFrame(
        {
            "participant_id": letter_arm,
            "feedback_1": "+SUM(A1:A9)",
            "feedback_2": "Thank you.",
            "signatory": '=HYPERLINK("http://x")',
        }
    ).to_csv(tmp_path / "feedback.csv", index=False)
    letters = letters_flow("letters", str(tmp_path / "feedback.csv"), "2019-04-05")
    _assert_no_formula(
        letters["manifest"], expected=["=cmd|' /C calc'!A0", '=HYPERLINK("http://x")']
    )

    pd.DataFrame(
        {
            "staff_id": [letter_arm[0], "=cmd|' /C calc'!A0"],
            "event": ["letter_sent", "@SUM(1+1)"],
            "date": ["2019-04-08", "+SUM(1)"],
        }
    ).to_csv(tmp_path / "deliveries.csv", index=False)
    ingest = deliveries_ingest_flow("letters", str(tmp_path / "deliveries.csv"))
    quarantine = sorted(
        (tmp_path / ".trialflow" / "out" / "letters" / "deliveries").glob("*quarantine.csv")
    )
    assert len(quarantine) == 1, ingest
    _assert_no_formula(quarantine[0], expected=["=cmd|' /C calc'!A0"])

    paths = export_flow("letters", str(tmp_path / "export"))
    dataset = next(p for p in paths if p.endswith("_analysis.csv"))
    _assert_no_formula(dataset, expected=["=cmd|' /C calc'!A0"])


@pytest.mark.flow
def test_an_ingest_replaces_an_empty_archive_left_by_a_killed_run(prefect_server, tmp_path):
    import sqlalchemy as sa

    from flows.deliveries import deliveries_ingest_flow
    from flows.randomise import randomise_flow
    from flows.settings import get_settings
    from flows.store import Store, ingested_files
    from trial_designs.design import load_design
    from trial_designs.simulate_roster import simulate_roster

    design = load_design(FLOWS.parent / "trial_designs" / "letters.yaml")
    simulate_roster(design, rng=np.random.default_rng(3), n=12).to_csv(
        tmp_path / "roster.csv", index=False
    )
    randomise_flow("letters", str(tmp_path / "roster.csv"))
    people = Store().participant_arms("letters")
    letter_arm = people.loc[people["arm"] == "letter", "participant_id"].tolist()
    log = tmp_path / "deliveries.csv"
    pd.DataFrame({"staff_id": letter_arm, "event": "letter_sent", "date": "2019-04-08"}).to_csv(
        log, index=False
    )
    digest = file_hash(log)
    # what kill -9 during the copy left: the archive's final name with nothing in it
    archive = get_settings().archive_dir("letters")
    archive.mkdir(parents=True)
    (archive / f"{digest}.csv").write_bytes(b"")

    deliveries_ingest_flow("letters", str(log))

    record = Store().read(sa.select(ingested_files))
    assert len(record) == 1
    stored = Path(record["archived_path"].iloc[0])
    assert stored == archive / f"{digest}.csv"
    assert file_hash(stored) == digest and stored.read_bytes() == log.read_bytes()


def test_an_atomic_write_keeps_the_usual_file_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "report.html", "<p>x</p>")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
