"""The report flow: results.json files in, HTML and PDF reports out.

Reports read only results.json (``<trialflow home>/out/<trial>/analysis/
results.json`` by default), never the store, so an evaluator can render a
report from results produced anywhere.  Each file is read and checked by
:mod:`flows.results_file` (the results model) before it is rendered.  The flow writes
``<TRIALFLOW_HOME>/reports/<trial>.html`` and ``.pdf`` (and ``portfolio.html``/``.pdf``)
and publishes each headline as a Prefect markdown artifact.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows import settings
from flows.audit import file_sha256, record_audit_event
from flows.integrity import require_results_design
from flows.progress import progress_callback
from flows.results_file import (
    check_results_document,
    exploratory_folder,
    exploratory_results_path,
    find_results,
    read_results_file,
    results_root,
)
from flows.safe_io import atomic_path, check_trial_id, inside, write_text
from flows.status import STAGE_HOOKS
from flows.tasks import IO_RETRIES, resolve_design_path
from reports.headline import headline_sentences
from reports.portfolio import portfolio_answer
from reports.render import render_portfolio, render_trial
from trial_designs.design import load_design

__all__ = [
    "DEFAULT_REPORTS_DIR",
    "check_results",
    "load_results",
    "read_results",
    "report_flow",
    "report_links",
    "reports_dir",
    "write_pdf",
]

#: Where reports go unless ``TRIALFLOW_REPORTS_DIR`` or ``out_dir`` says otherwise (git-ignored).
DEFAULT_REPORTS_DIR = settings.DEFAULT_REPORTS_DIR


def reports_dir(out_dir: str | None = None) -> Path:
    """Where reports are written: given, ``$TRIALFLOW_REPORTS_DIR``, or ``<home>/reports``."""
    return Path(out_dir) if out_dir else settings.get_settings().reports_dir


def _trial_id(design: str) -> str:
    """A design file or packaged design gives its id; anything else is taken as the id itself."""
    path = resolve_design_path(design)
    if path.is_file():
        return load_design(path).id
    # the id names a folder to read and the report files to write: '../evil' must not
    return check_trial_id(design)


def _exploratory_results(
    root: Path, wanted: list[str] | None, label: str, portfolio: bool
) -> dict[str, Path]:
    """The one exploratory results.json named by trial and label, checked to be exploratory."""
    if not wanted or portfolio:
        raise ValueError(
            f"'--label' reports one trial's exploratory analysis: name the trial, without "
            f"--portfolio. Got --label {label!r} "
            + ("with --portfolio." if portfolio else "without a trial.")
        )
    trial = wanted[0]
    path = exploratory_results_path(root, trial, label)
    if not path.is_file():
        raise FileNotFoundError(
            f"No exploratory results '{label}' for '{trial}': expected {path}. Run "
            f"`trialflow analyse {trial} --label {label} --covariates ... --se-type ...` first."
        )
    status = read_results_file(path).get("analysis_status")
    if status != "exploratory":
        raise ValueError(
            f"The results file '{path}' is not marked 'analysis_status: exploratory', so it "
            f"is not reported as exploratory analysis '{label}'. Got {status!r} instead."
        )
    return {trial: path}


@task(name="read results", cache_policy=NO_CACHE, **IO_RETRIES)
def read_results(paths: dict[str, Path]) -> dict[str, dict]:
    """Each trial's results.json, parsed."""
    return {trial: json.loads(path.read_text(encoding="utf-8")) for trial, path in paths.items()}


@task(name="check results", cache_policy=NO_CACHE)
def check_results(documents: dict[str, dict], paths: dict[str, Path]) -> dict[str, dict]:
    """Refuse, by file name and place, any document that does not match the results model."""
    for trial, results in documents.items():
        check_results_document(results, paths[trial])
    return documents


def load_results(paths: dict[str, Path]) -> dict[str, dict]:
    """Read and check each results.json (two tasks: the read retries, the check does not)."""
    return check_results(read_results(paths), paths)


def write_pdf(html: str, path: Path) -> Path:
    """Render HTML to PDF with WeasyPrint (print stylesheet, A4)."""
    import weasyprint

    from flows.pdf import prepare_weasyprint

    prepare_weasyprint()
    # WeasyPrint logs every CSS property it does not support; the print stylesheet avoids them.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    with atomic_path(path) as temporary:
        weasyprint.HTML(string=html).write_pdf(temporary)
    return path


@task(name="render trial report", cache_policy=NO_CACHE)
def render_trial_task(results: dict) -> str:
    return render_trial(results)


@task(name="render portfolio report", cache_policy=NO_CACHE)
def render_portfolio_task(results: list[dict]) -> str:
    return render_portfolio(results)


@task(name="write report", cache_policy=NO_CACHE, **IO_RETRIES)
def write_report(html: str, folder: Path, name: str, pdf: bool) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    html_path = inside(folder, f"{name}.html")
    write_text(html_path, html)
    written = {"html": str(html_path)}
    if pdf:
        written["pdf"] = str(write_pdf(html, inside(folder, f"{name}.pdf")))
    return written


def report_links(paths: dict[str, str]) -> str:
    """Markdown links that open the written report (HTML, and PDF if written) from the Prefect UI.

    ``file://`` URIs of absolute paths: the reports are on the machine that ran
    the flow, which is where a coordinator opens the UI.
    """
    labels = {"html": "Open the report (HTML)", "pdf": "PDF"}
    links = [
        f"[{labels.get(kind, kind)}]({Path(path).resolve().as_uri()})"
        for kind, path in paths.items()
        if path
    ]
    return " · ".join(links) + "\n\n" + "\n".join(f"- `{path}`" for path in paths.values() if path)


def _artifact_key(name: str, suffix: str) -> str:
    key = "".join(c if c.isalnum() else "-" for c in f"{name}-{suffix}".lower())
    return "-".join(part for part in key.split("-") if part)


@flow(name="report", log_prints=True, **STAGE_HOOKS)
def report_flow(
    design: str | None = None,
    portfolio: bool = False,
    results_dir: str | None = None,
    out_dir: str | None = None,
    pdf: bool = True,
    trial_reports: bool = True,
    label: str | None = None,
) -> dict:
    """Render trial reports (and the portfolio) from results.json files.

    Parameters
    ----------
    design : str, optional
        A design file, packaged design or trial id: report that trial only.
        Without it every trial found is reported.
    portfolio : bool
        Also write the portfolio report across every trial found.
    results_dir : str, optional
        The folder holding ``<trial>/analysis/results.json`` (default
        ``<trialflow home>/out``).
    out_dir : str, optional
        Where to write (default ``<TRIALFLOW_HOME>/reports``).
    pdf : bool
        Write a PDF beside each HTML file.
    trial_reports : bool
        False writes only the portfolio (the trials' own reports are current).
    label : str, optional
        Report the trial's exploratory analysis of that name
        (``<trial>/analysis/exploratory/<label>/results.json``) into
        ``<out>/exploratory/<label>/``, marked exploratory on every page.

    Returns
    -------
    dict
        ``reports``: {trial: {"html": path, "pdf": path}}, ``portfolio``
        (paths or None) and ``headlines``: {trial: str}.
    """
    logger = get_run_logger()
    root = results_root(results_dir)
    folder = reports_dir(out_dir)
    wanted = [_trial_id(design)] if design else None
    if label is not None:
        results = load_results(_exploratory_results(root, wanted, label, portfolio))
        folder = exploratory_folder(folder, label)
    else:
        results = load_results(find_results(root, wanted))
    if portfolio and design:
        # the portfolio covers every trial, not just the one asked for
        everything = load_results(find_results(root))
        everything.update(results)
    else:
        everything = results
    reports, headlines = {}, {}
    on_progress = progress_callback("rendering reports")
    total = (len(results) if trial_reports else 0) + (1 if portfolio else 0)
    on_progress(0, total)
    for trial, document in results.items() if trial_reports else ():
        design_hash = (document.get("trial") or {}).get("design_hash")
        require_results_design(trial, design_hash, stage="write its report")
        written = write_report(render_trial_task(document), folder, trial, pdf)
        record_audit_event(
            None,
            trial,
            "report-written",
            {
                "html": Path(written["html"]).name,
                "pdf": "pdf" in written,
                **({"exploratory": label} if label else {}),
            },
            file_hash=file_sha256(written["html"]),
            design_hash=design_hash,
            once=True,
        )
        reports[trial] = written
        on_progress(len(reports), total)
        headlines[trial] = " ".join(headline_sentences(document))
        if label:  # the headline is the exploratory model's, and must say so wherever it goes
            headlines[trial] = (
                f"EXPLORATORY analysis '{label}', not pre-specified: {headlines[trial]}"
            )
        create_markdown_artifact(
            key=_artifact_key(trial, f"exploratory-{label}" if label else "report-headline"),
            markdown=f"## {document['trial']['title']}\n\n{headlines[trial]}\n\n"
            + report_links(written),
            description=f"Headline of the {trial} report",
        )
        logger.info("%s: %s", trial, headlines[trial])
    portfolio_paths = None
    if portfolio:
        documents = list(everything.values())
        portfolio_paths = write_report(render_portfolio_task(documents), folder, "portfolio", pdf)
        on_progress(total, total)
        answer = "\n\n".join(portfolio_answer(documents))
        create_markdown_artifact(
            key="portfolio-report",
            markdown=f"## Which of these should we fund?\n\n{answer}\n\n"
            + report_links(portfolio_paths),
            description="The portfolio report's answer",
        )
    return {"reports": reports, "portfolio": portfolio_paths, "headlines": headlines}
