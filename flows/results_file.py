"""Where results.json lives, and the one way to write it and read it back (checked by the model).

Every flow that writes or reads results goes through here: the analysis writes
``<TRIALFLOW_HOME>/out/<trial>/analysis/results.json`` (an exploratory analysis
``.../analysis/exploratory/<label>/results.json``); the report, the costs stage
and the demo read it.  A file is checked against
:class:`analysis.results_model.ResultsDocument` when written and when read, so a
reader never works on a document of another shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from analysis.exploratory import check_label
from analysis.results_model import ResultsDocument, dump_results
from flows import settings
from flows.safe_io import inside, write_text
from flows.tasks import output_dir

__all__ = [
    "RESULTS_FILE",
    "check_results_document",
    "exploratory_folder",
    "exploratory_results_path",
    "find_results",
    "read_results_file",
    "results_path",
    "results_root",
    "write_results_file",
]

#: The file name of a trial's results.
RESULTS_FILE = "results.json"
#: The demo trials in the order a portfolio shows them; others follow alphabetically.
_PORTFOLIO_ORDER = ("letters", "goal_setting", "coffee", "schwartz_rounds")


def results_path(trial_id: str) -> Path:
    """Where a trial's results.json lives: ``<TRIALFLOW_HOME>/out/<trial>/analysis/results.json``."""
    return output_dir(trial_id, "analysis") / RESULTS_FILE


def results_root(results_dir: str | None = None) -> Path:
    """The folder holding ``<trial>/analysis/results.json``: given, or ``<trialflow home>/out``."""
    return Path(results_dir) if results_dir else settings.get_settings().home / "out"


def exploratory_folder(folder: Path, label: str) -> Path:
    """Where an exploratory analysis goes: ``<folder>/exploratory/<label>/``, never ``<folder>``."""
    return inside(folder, f"exploratory/{check_label(label)}")


def _trial_results(root: Path, trial_id: str) -> Path:
    """``<root>/<trial>/analysis/results.json``: where a trial's results are under a results root."""
    return root / trial_id / "analysis" / RESULTS_FILE


def exploratory_results_path(root: Path, trial_id: str, label: str) -> Path:
    """Where exploratory analysis ``label`` of a trial is under a results root.

    ``<root>/<trial>/analysis/exploratory/<label>/results.json``; the label is checked
    (:func:`exploratory_folder`), so it cannot lead out of the trial's folder.
    """
    return exploratory_folder(_trial_results(root, trial_id).parent, label) / RESULTS_FILE


def find_results(root: Path, trial_ids: list[str] | None = None) -> dict[str, Path]:
    """results.json per trial under ``root``: the named trials, or every one found.

    Raises
    ------
    FileNotFoundError
        When a named trial has no results.json, or none is found at all.
    """
    if trial_ids:
        found = {t: _trial_results(root, t) for t in trial_ids}
        missing = [t for t, p in found.items() if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"No results.json for {', '.join(repr(t) for t in missing)} under {root}: "
                f"expected {found[missing[0]]}. Run `trialflow analyse {missing[0]}` first."
            )
        return found
    paths = sorted(root.glob(f"*/analysis/{RESULTS_FILE}"))
    if not paths:
        raise FileNotFoundError(
            f"No results.json under {root} (looked for <trial>/analysis/results.json). "
            "Run `trialflow analyse DESIGN` first."
        )
    order = {t: i for i, t in enumerate(_PORTFOLIO_ORDER)}
    paths.sort(key=lambda p: (order.get(p.parent.parent.name, len(order)), p.parent.parent.name))
    return {p.parent.parent.name: p for p in paths}


def check_results_document(document: Mapping, where: Path | str) -> ResultsDocument:
    """The document as a :class:`ResultsDocument`, or a ValueError naming the file and the place.

    Raises
    ------
    ValueError
        "The results file '<path>' does not match the results schema at
        outcomes/0/estimates/0/se_type: ..." for the first problem found.
    """
    try:
        return ResultsDocument.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = "/".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" ({exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ValueError(
            f"The results file '{where}' does not match the results schema at {place}: "
            f"{first['msg']}. Got {first.get('input')!r:.120} instead{more}."
        ) from None


def read_results_file(path: Path) -> dict:
    """A results.json file, parsed and checked by the model (see :func:`check_results_document`)."""
    import json

    document = json.loads(Path(path).read_text(encoding="utf-8"))
    check_results_document(document, path)
    return document


def write_results_file(document: Mapping | ResultsDocument, folder: Path) -> Path:
    """Check ``document`` by the model and write it as ``<folder>/results.json`` (atomically).

    The bytes are :func:`analysis.results_model.dump_results`'s: sorted keys, 12
    significant digits.
    """
    model = (
        document
        if isinstance(document, ResultsDocument)
        else check_results_document(document, Path(folder) / RESULTS_FILE)
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RESULTS_FILE
    write_text(path, dump_results(model))
    return path
