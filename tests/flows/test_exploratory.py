"""Exploratory reanalysis through the CLI (issue 19.2): its own file, marked, never the pre-specified one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.flow
DATASET = (
    Path(__file__).resolve().parents[1]
    / "reference"
    / "export_demo"
    / "coffee"
    / "coffee_analysis.csv"
)
DECLARED = "declared in the design before"


def _primary_itt(results: dict) -> dict:
    primary = next(o for o in results["outcomes"] if o["primary"])
    return next(e for e in primary["estimates"] if e["estimand"] == "ITT")


def _page_texts(html: str) -> list[str]:
    """The text of each page WeasyPrint lays the report out on (margin boxes included).

    The report flow writes its PDF with this same WeasyPrint call; poppler's pdftotext
    is not installed here, so the pages are read from the layout rather than the file.
    """
    import weasyprint

    def texts(box) -> list[str]:  # noqa: ANN001 - a WeasyPrint box
        found = [box.text] if hasattr(box, "text") else []
        for child in getattr(box, "children", None) or []:
            found += texts(child)
        return found

    document = weasyprint.HTML(string=html).render()
    return [" ".join(texts(page._page_box)) for page in document.pages]


def test_exploratory_analysis_is_written_apart_marked_and_reported_as_such(
    prefect_server, tmp_path
):
    runner = CliRunner()
    data = shutil.copy(DATASET, tmp_path / "coffee.csv")
    root = tmp_path / "results"
    folder = root / "coffee" / "analysis"
    base = ["analyse", "coffee", "--data", str(data), "--ri-draws", "0", "--out", str(folder)]

    done = runner.invoke(app, base)
    assert done.exit_code == 0, done.output
    prespecified = folder / "results.json"
    before = prespecified.read_bytes()

    # another model without a label would be the pre-specified file: refused
    refused = runner.invoke(app, [*base, "--se-type", "HC3"])
    assert refused.exit_code == 1
    assert "--se-type change the pre-specified analysis, so they need '--label NAME'" in (
        " ".join(refused.output.split())
    )
    for hostile, rule in [
        (["--label", "../evil", "--se-type", "CR1"], "The exploratory label '../evil' is not valid"),
        (["--label", "Bad Name", "--se-type", "CR1"], "The exploratory label 'Bad Name' is not valid"),
        (["--label", "same", "--se-type", "CR2"], "must differ from the pre-specified one"),
        (["--label", "x", "--se-type", "HC9"], "The 'se_type' 'HC9' is not known"),
        (["--label", "x", "--covariates", "arm"], "cannot adjust for 'arm'"),
        (["--label", "x", "--covariates", "swemwbs_endline"], "cannot adjust for 'swemwbs_endline'"),
        (["--label", "x", "--covariates", "shoe_size"], "names 'shoe_size', not a column"),
        (["--label", "x", "--covariates", "team,team"], "names each column once"),
    ]:  # fmt: skip
        result = runner.invoke(app, [*base, *hostile])
        assert result.exit_code == 1, (hostile, result.output)
        assert rule in " ".join(result.output.split()), (hostile, result.output)
    assert not (folder / "exploratory").exists()
    assert not (folder.parent / "evil").exists()

    explored = runner.invoke(
        app, [*base, "--covariates", "team", "--se-type", "CR1", "--label", "team_cr1"]
    )
    assert explored.exit_code == 0, explored.output
    assert "EXPLORATORY analysis 'team_cr1'" in explored.output
    assert prespecified.read_bytes() == before  # byte for byte
    path = folder / "exploratory" / "team_cr1" / "results.json"
    results = json.loads(path.read_text())
    original = json.loads(before)
    assert results["analysis_status"] == "exploratory"
    assert "analysis_status" not in original
    assert results["exploratory"]["label"] == "team_cr1"
    assert results["exploratory"]["changes"] == {
        "covariates": {"prespecified": [], "exploratory": ["team"]},
        "se_type": {"prespecified": "CR2", "exploratory": "CR1"},
    }
    assert DECLARED not in results["methods"]["prespecified"]
    assert "NOT the pre-specified analysis" in results["methods"]["prespecified"]
    assert all(not o["prespecified"] for o in results["outcomes"])
    assert results["trial"]["design_hash"] == original["trial"]["design_hash"]
    itt, declared = _primary_itt(results), _primary_itt(original)
    assert (itt["se_type"], declared["se_type"]) == ("CR1", "CR2")
    assert abs(itt["estimate"] - declared["estimate"]) > 1e-6  # team fixed effects moved it

    # the report: one for the label, marked on every page; the pre-specified one is not
    reports = tmp_path / "reports"
    missing = runner.invoke(app, ["report", "coffee", "--results", str(root), "--label", "nope"])
    assert missing.exit_code == 1
    assert "No exploratory results 'nope' for 'coffee'" in " ".join(missing.output.split())
    report = runner.invoke(
        app,
        ["report", "coffee", "--results", str(root), "--out", str(reports), "--label", "team_cr1", "--no-pdf"],
    )  # fmt: skip
    assert report.exit_code == 0, report.output
    assert "EXPLORATORY analysis 'team_cr1', not pre-specified" in report.output
    html = (reports / "exploratory" / "team_cr1" / "coffee.html").read_text()
    assert not (reports / "coffee.html").exists()
    assert 'data-field="exploratory-banner"' in html
    assert DECLARED not in html
    pages = _page_texts(html)
    assert len(pages) > 3
    header = "EXPLORATORY ANALYSIS 'team_cr1': not the pre-specified analysis"
    assert [header in page for page in pages] == [True] * len(pages)

    plain = runner.invoke(
        app, ["report", "coffee", "--results", str(root), "--out", str(reports), "--no-pdf"]
    )
    assert plain.exit_code == 0, plain.output
    prespecified_html = (reports / "coffee.html").read_text()
    assert "exploratory-banner" not in prespecified_html
    assert "EXPLORATORY ANALYSIS" not in prespecified_html
    assert DECLARED in " ".join(prespecified_html.split())
