"""The report flow's pieces: finding and checking results.json, writing HTML and PDF.

The flow run itself is not started here: a Prefect test server costs 10-15 s,
which would double these tests; its tasks are called with ``.fn``.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from pathlib import Path

import pytest

from flows.report import _artifact_key, check_results, read_results, reports_dir, write_report
from flows.results_file import find_results, results_root
from reports.render import render_portfolio

DEMO_TRIALS = ("letters", "goal_setting", "coffee", "schwartz_rounds")


@pytest.fixture
def results_tree(tmp_path: Path, simulated_results) -> Path:
    """A results folder laid out as `trialflow analyse` writes it, in a scrambled order.

    Each results.json is the analysis of the trial simulated as the demo does.
    """
    root = tmp_path / "out"
    for name in reversed(DEMO_TRIALS):
        folder = root / name / "analysis"
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(simulated_results(name)), encoding="utf-8")
    return root


def test_results_are_found_in_portfolio_order(results_tree):
    assert list(find_results(results_tree)) == list(DEMO_TRIALS)
    assert list(find_results(results_tree, ["coffee"])) == ["coffee"]


def test_missing_results_say_what_to_run(results_tree, tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"No results.json for 'mystery' .* `trialflow analyse mystery`"
    ):
        find_results(results_tree, ["mystery"])
    with pytest.raises(FileNotFoundError, match="No results.json under"):
        find_results(tmp_path / "empty")


def test_default_folders(monkeypatch, tmp_path):
    monkeypatch.delenv("TRIALFLOW_REPORTS_DIR", raising=False)
    assert reports_dir() == Path(os.environ["TRIALFLOW_HOME"]) / "reports"
    monkeypatch.setenv("TRIALFLOW_REPORTS_DIR", str(tmp_path))
    assert reports_dir() == tmp_path
    assert (
        results_root() == Path(tmp_path.parent / ".trialflow" / "out")
        or results_root().name == "out"
    )


def test_a_results_file_that_breaks_the_schema_is_refused_by_name(results_tree):
    path = results_tree / "coffee" / "analysis" / "results.json"
    document = json.loads(path.read_text())
    document["outcomes"][0]["estimates"][0]["se_type"] = "CR9"
    path.write_text(json.dumps(document))
    paths = find_results(results_tree, ["coffee"])
    with pytest.raises(
        ValueError, match=r"'.*coffee/analysis/results.json' .* at outcomes/0/estimates/0/se_type"
    ):
        check_results.fn(read_results.fn(paths), paths)


def _pdf_pages(pdf: bytes) -> int:
    """Pages in a PDF, counting /Type /Page in plain and Flate-compressed object streams."""
    texts = [pdf]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            texts.append(zlib.decompress(stream))
        except zlib.error:
            continue
    return sum(len(re.findall(rb"/Type\s*/Page(?![s\w])", t)) for t in texts)


def test_html_and_pdf_are_written(tmp_path, simulated_results):
    """The one PDF test: the portfolio (the quickest page to lay out)."""
    html = render_portfolio([simulated_results(name) for name in DEMO_TRIALS])
    written = write_report.fn(html, tmp_path / "reports", "portfolio", True)
    assert Path(written["html"]).read_text(encoding="utf-8") == html
    pdf = Path(written["pdf"]).read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert _pdf_pages(pdf) >= 2, "the whole page, over A4 sheets"


def test_artifact_keys_are_lowercase_letters_digits_and_dashes():
    assert _artifact_key("schwartz_rounds", "report-headline") == "schwartz-rounds-report-headline"
    assert re.fullmatch(r"[a-z0-9-]+", _artifact_key("Trial 7 (pilot)", "report-headline"))


def test_the_report_reads_exploratory_results_where_analyse_writes_them(tmp_path):
    from flows.report import _exploratory_results
    from flows.results_file import exploratory_folder, results_path

    # analyse writes exploratory/<label>/results.json beside the trial's results.json
    written = exploratory_folder(results_path("letters").parent, "by_team") / "results.json"
    with pytest.raises(FileNotFoundError) as missing:
        _exploratory_results(results_root(), ["letters"], "by_team", False)
    assert f"expected {written}. Run" in str(missing.value)
    # and no flow but flows/results_file.py builds that place by hand
    flows = Path(__file__).resolve().parents[2] / "flows"
    by_hand = [
        str(p.relative_to(flows))
        for p in sorted(flows.rglob("*.py"))
        if p.name != "results_file.py"
        and re.search(r'/\s*"results\.json"|/\s*"analysis"\s*/', p.read_text(encoding="utf-8"))
    ]
    assert by_hand == []
