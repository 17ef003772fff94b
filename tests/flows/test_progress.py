"""Progress reports: silent unless the CLI listens, never changing or breaking the work."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from analysis.results import analyse_trial
from analysis.results_model import dump_results
from flows.cli import base as cli_base
from flows.progress import listening, progress_callback
from flows.report import report_links
from intake.quarantine import quarantine_summary
from reports.validation_report import quarantine_markdown
from trial_designs.design import load_design
from trial_designs.randomise import randomise

GOLDEN = Path(__file__).resolve().parents[1] / "trial_designs" / "golden"
DESIGNS = Path(__file__).resolve().parents[2] / "trial_designs"


def test_a_callback_reports_to_the_listener_only_while_it_listens():
    heard = []
    on_progress = progress_callback("letters for letters")
    on_progress(1, 3)  # nobody listening: nothing happens
    with listening(lambda *report: heard.append(report)):
        on_progress(2, 3)
        with listening(None):
            on_progress(9, 9)
        on_progress(3, 3)
    on_progress(3, 3)
    assert heard == [("letters for letters", 2, 3), ("letters for letters", 3, 3)]


def test_a_broken_listener_never_breaks_the_work():
    def broken(label: str, done: int, total: int) -> None:
        raise RuntimeError("the terminal went away")

    with listening(broken):
        progress_callback("x")(1, 2)  # no exception


def test_progress_bars_listen_only_on_a_terminal(monkeypatch):
    heard = []
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a terminal
    with cli_base.progress_bars():
        with listening(lambda *r: heard.append(r)):
            pass
        progress_callback("x")(1, 2)
    assert heard == []
    written = io.StringIO()
    monkeypatch.setattr(cli_base, "Console", lambda **_: Console(file=written, force_terminal=True))
    with cli_base.progress_bars(enabled=True):
        progress_callback("analysing letters")(1, 4)
        progress_callback("analysing letters")(4, 4)
    assert "analysing letters" in written.getvalue()


def test_the_analysis_reports_each_step_and_its_results_do_not_change():
    design = load_design(DESIGNS / "letters.yaml")
    roster = pd.read_csv(GOLDEN / "letters_roster.csv", dtype=str)
    allocation = randomise(roster, design)
    arms = allocation.members.merge(allocation.units[["unit_id", "stratum", "arm"]], on="unit_id")
    data = roster.rename(columns={"id": "participant_id"}).merge(arms, on="participant_id")
    data["arm"], data["stratum"] = data["arm"].astype(str), data["stratum"].astype(str)
    data["cluster"] = np.nan
    rng = np.random.default_rng(1)
    primary = design.primary_outcome.name
    data[f"{primary}_baseline"] = rng.normal(20, 3, len(data))
    data[f"{primary}_endline"] = data[f"{primary}_baseline"] * 0.6 + rng.normal(8, 2.5, len(data))
    steps = []
    quiet = dump_results(analyse_trial(data, design, ri_draws=100))
    heard = dump_results(
        analyse_trial(data, design, ri_draws=100, on_progress=lambda d, t: steps.append((d, t)))
    )
    assert heard == quiet
    total = len(design.outcomes) + 2
    assert steps[0] == (0, total) and steps[-1] == (total, total)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)
    assert {t for _, t in steps} == {total}


def test_quarantine_summaries_carry_counts_and_row_numbers_never_values():
    problems = pd.DataFrame(
        {
            "source_row": [2, 2, 5, *range(10, 22)],
            "column": ["staff_id", "date", "staff_id", *["date"] * 12],
            "rule": ["known_unit", "valid_date", "known_unit", *["date_in_window"] * 12],
            "value": ["SECRET01", "x", "SECRET02", *["2031-01-01"] * 12],
            "message": "m",
        }
    )
    summary = quarantine_summary(problems)
    assert summary == [
        {
            "rule": "date_in_window",
            "column": "date",
            "rows": 12,
            "row_numbers": "10, 11, 12, 13, 14, 15, 16, 17, 18, 19, …",
        },
        {"rule": "known_unit", "column": "staff_id", "rows": 2, "row_numbers": "2, 5"},
        {"rule": "valid_date", "column": "date", "rows": 1, "row_numbers": "2"},
    ]
    text = quarantine_markdown("log.csv", problems)
    assert "14 row(s) of `log.csv` quarantined" in text
    assert "SECRET" not in text and "2031" not in text
    assert quarantine_markdown("log.csv", problems.iloc[0:0]).startswith("No row")


def test_report_links_open_the_files(tmp_path):
    html, pdf = tmp_path / "letters.html", tmp_path / "letters.pdf"
    text = report_links({"html": str(html), "pdf": str(pdf)})
    assert f"({html.as_uri()})" in text and f"({pdf.as_uri()})" in text
    assert text.startswith("[Open the report (HTML)](file://")
    assert "PDF" in report_links({"html": str(html), "pdf": str(pdf)})
    assert "PDF" not in report_links({"html": str(html)})


@pytest.mark.parametrize("bad", ["", None])
def test_report_links_skip_a_report_not_written(tmp_path, bad):
    text = report_links({"html": str(tmp_path / "a.html"), "pdf": bad})
    assert text.count("file://") == 1
