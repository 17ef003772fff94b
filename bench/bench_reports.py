"""Benchmark: render the four demo trial reports and the portfolio, HTML and PDF.

Targets (issue 7): everything under 15 s; each HTML file under 2 MB.  Renders
the analysis of the four demo trials simulated as the demo does
(tests/simulated_results.py), or every ``<trial>/analysis/results.json`` under a
folder given as the first argument.  Prints time and size per file and the ratio to each target.

    .venv/bin/python bench/bench_reports.py [RESULTS_DIR]
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIME_TARGET_S = 15.0
SIZE_TARGET_B = 2_000_000
DEMO_TRIALS = ("letters", "goal_setting", "coffee", "schwartz_rounds")


def _documents(folder: str | None) -> dict[str, dict]:
    if folder:
        paths = sorted(Path(folder).glob("*/analysis/results.json"))
        return {p.parent.parent.name: json.loads(p.read_text()) for p in paths}
    # without a folder: the analysis of each demo trial simulated as the demo does
    from tests.simulated_results import simulated_results

    return {n: simulated_results(n) for n in DEMO_TRIALS}


def main() -> None:
    start_all = time.perf_counter()
    import weasyprint

    from reports.render import render_portfolio, render_trial

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    imported = time.perf_counter() - start_all
    documents = _documents(sys.argv[1] if len(sys.argv) > 1 else None)
    rows = []
    with tempfile.TemporaryDirectory(prefix="trialflow-bench-reports-") as out:
        jobs = [(name, lambda d=doc: render_trial(d)) for name, doc in documents.items()]
        jobs.append(("portfolio", lambda: render_portfolio(list(documents.values()))))
        for name, render in jobs:
            t0 = time.perf_counter()
            html = render()
            t1 = time.perf_counter()
            (Path(out) / f"{name}.html").write_text(html, encoding="utf-8")
            pdf = Path(out) / f"{name}.pdf"
            weasyprint.HTML(string=html).write_pdf(pdf)
            t2 = time.perf_counter()
            rows.append((name, t1 - t0, t2 - t1, len(html.encode("utf-8")), pdf.stat().st_size))
    total = time.perf_counter() - start_all
    print(f"{'report':<18}{'HTML s':>8}{'PDF s':>8}{'HTML KB':>10}{'PDF KB':>9}{'HTML/2MB':>10}")
    for name, html_s, pdf_s, html_b, pdf_b in rows:
        print(
            f"{name:<18}{html_s:>8.2f}{pdf_s:>8.2f}{html_b / 1e3:>10.0f}{pdf_b / 1e3:>9.0f}"
            f"{html_b / SIZE_TARGET_B:>10.3f}"
        )
    html_total = sum(r[1] for r in rows)
    pdf_total = sum(r[2] for r in rows)
    print(
        f"imports {imported:.2f} s; HTML {html_total:.2f} s; PDF {pdf_total:.2f} s; "
        f"total {total:.2f} s = {total / TIME_TARGET_S:.2f} x the {TIME_TARGET_S:.0f} s target; "
        f"largest HTML {max(r[3] for r in rows) / 1e6:.2f} MB "
        f"= {max(r[3] for r in rows) / SIZE_TARGET_B:.2f} x the 2 MB target"
    )
    if total > TIME_TARGET_S or max(r[3] for r in rows) > SIZE_TARGET_B:
        sys.exit("over target")


if __name__ == "__main__":
    main()
