"""`trialflow run` prints each stage as a readable line, not a raw Python dict."""

from __future__ import annotations

from typer.testing import CliRunner

import flows.pipeline
from flows.cli import app


def test_run_prints_costs_and_reports_as_sentences(monkeypatch):
    done = {
        "stages": {
            "randomise": "already randomised (round 1); nothing to do",
            "outcomes": ["survey_endline.csv: 120 rows stored", "hr_extract.csv: 98 rows stored"],
            "costs": {
                "trial": "letters",
                "files": {"ledger": "/h/out/letters/costs/ledger.csv"},
                "summary": {
                    "total": 1234.5,
                    "currency_year": 2019,
                    "per_participant_randomised": 12.345,
                    "eef_band": "£",
                    "cost_effectiveness": ["£41 per extra point of feeling valued."],
                },
            },
            "report": {"letters": {"html": "/h/reports/letters.html", "pdf": None}},
        },
        "seconds": {"randomise": 0.1, "outcomes": 1.0, "costs": 0.5, "report": 2.0},
    }
    monkeypatch.setattr(flows.pipeline, "pipeline_flow", lambda design, drop=None: done)
    result = CliRunner().invoke(app, ["run", "letters"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "{" not in text and "[" not in text, result.output
    assert "costs (0.5 s): letters: total £1,234.50 (2019 prices)" in text
    assert "£12.35 per participant randomised" in text
    assert "ledger: /h/out/letters/costs/ledger.csv" in text
    assert "report (2.0 s): letters: /h/reports/letters.html" in text
    assert "survey_endline.csv: 120 rows stored; hr_extract.csv: 98 rows stored" in text
