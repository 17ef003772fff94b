"""Write prefect.yaml: one deployment per stage and per pipeline, for every design in the designs folder.

    .venv/bin/python scripts/make_prefect_yaml.py            # or: make deployments
    .venv/bin/python scripts/make_prefect_yaml.py --designs my_designs --strict

The designs folder is ``$TRIALFLOW_DESIGNS_DIR``, else the packaged
``trial_designs/`` (see flows/settings.py).  Every ``*.yaml`` in it that loads
as a design gets deployments; a file that does not is skipped with its error
printed (``--strict`` makes that exit 1).  A coordinator who adds
``mytrial.yaml`` runs ``make deployments`` and gets ``mytrial-*`` deployments.

No parameter names a folder: each flow finds the trial's drop folder under
``TRIALFLOW_HOME`` when it runs (``<home>/drop/<trial>``), so the same
prefect.yaml works for a worker started with any ``TRIALFLOW_HOME``.  A design
outside the packaged folder is passed by its absolute path, so the worker
finds it without ``TRIALFLOW_DESIGNS_DIR``.

Schedules are in Europe/London: delivery logs are ingested daily (06:00),
outcomes daily (06:30), uptake is tracked weekly (Monday 07:00), the
portfolio report is rendered monthly, and analysis, costs, trial reports and
the full pipeline run on demand.  A design without an intervention has no
delivery-log or uptake deployment.  A test checks that prefect.yaml is what
this script writes from the packaged designs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.settings import PACKAGED_DESIGNS_DIR, get_settings  # noqa: E402
from trial_designs.design import DesignError, load_design  # noqa: E402

__all__ = ["POOL", "STAGES", "TZ", "DesignFile", "build", "discover", "main", "render"]

POOL = "trialflow-process"
TZ = "Europe/London"


@dataclass(frozen=True)
class Stage:
    entrypoint: str
    cron: str | None
    description: str
    #: extra parameters besides the design
    extra: tuple[tuple[str, object], ...] = ()
    #: only for designs that declare an intervention (delivery logs)
    needs_intervention: bool = False


STAGES = {
    "randomise": Stage(
        "flows/pipeline.py:randomise_stage",
        None,
        "Randomise the roster in the drop folder (refused if already randomised).",
    ),
    "deliveries": Stage(
        "flows/deliveries.py:deliveries_stage",
        "0 6 * * *",
        "Ingest new delivery-log exports from the drop folder, daily.",
        needs_intervention=True,
    ),
    "uptake": Stage(
        "flows/uptake.py:uptake_flow",
        "0 7 * * 1",
        "Weekly uptake funnel, dashboard and artifacts (ingesting any delivery log not yet seen).",
        extra=(("ingest", True),),
        needs_intervention=True,
    ),
    "outcomes": Stage(
        "flows/pipeline.py:outcomes_stage",
        "30 6 * * *",
        "Ingest new survey waves and HR extracts from the drop folder, daily.",
    ),
    "analyse": Stage(
        "flows/pipeline.py:analyse_stage", None, "Run the pre-specified analysis into results.json."
    ),
    "costs": Stage(
        "flows/costs.py:costs_flow",
        None,
        "Write the cost ledger and sensitivity tables and publish the cost summary.",
    ),
    "report": Stage(
        "flows/report.py:report_flow",
        None,
        "Render the trial's report (HTML and PDF) from results.json.",
    ),
    "pipeline": Stage(
        "flows/pipeline.py:pipeline_flow",
        None,
        "Every stage in order; each skips what is already done.",
    ),
}


@dataclass(frozen=True)
class DesignFile:
    """A design found in the designs folder: its id, what deployments pass as ``design``, and intervention."""

    trial_id: str
    parameter: str
    has_intervention: bool


def discover(designs_dir: Path | None = None) -> tuple[list[DesignFile], list[str]]:
    """Every design in ``designs_dir`` (default: the settings' designs folder), and why others were skipped.

    Returns
    -------
    designs : list of DesignFile
        By file name.  A packaged design is passed by its id (the file stem),
        any other by its absolute path.
    problems : list of str
        One line per ``*.yaml`` file that is not a loadable design, or whose
        id another file already uses.
    """
    folder = Path(designs_dir or get_settings().designs_dir).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"The designs folder '{folder}' does not exist. Set TRIALFLOW_DESIGNS_DIR to a "
            "folder of design YAML files, or leave it unset for the packaged trial_designs/."
        )
    packaged = folder == PACKAGED_DESIGNS_DIR.resolve()
    designs: list[DesignFile] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            design = load_design(path)
        except (DesignError, OSError, ValueError) as exc:
            problems.append(f"skipped {path}: not a trial design: {exc}")
            continue
        if design.id in seen:
            problems.append(
                f"skipped {path}: the design id '{design.id}' is already used by "
                f"{seen[design.id].name}; each design needs its own id."
            )
            continue
        seen[design.id] = path
        # A packaged design runs by id so prefect.yaml stays the same on every machine.
        parameter = path.stem if packaged else str(path)
        designs.append(DesignFile(design.id, parameter, bool(design.interventions)))
    return designs, problems


def build(designs: list[DesignFile] | None = None) -> dict:
    """prefect.yaml as a dict: every stage of every design, and the monthly portfolio report."""
    if designs is None:
        designs, _ = discover()
    deployments = []
    for design in designs:
        for name, stage in STAGES.items():
            if stage.needs_intervention and not design.has_intervention:
                continue
            deployment = {
                "name": f"{design.trial_id}-{name}".replace("_", "-"),
                "entrypoint": stage.entrypoint,
                "description": stage.description,
                "parameters": {"design": design.parameter, **dict(stage.extra)},
                "tags": ["trialflow", design.trial_id, name],
                "work_pool": {"name": POOL},
            }
            if stage.cron:
                deployment["schedules"] = [{"cron": stage.cron, "timezone": TZ, "active": True}]
            deployments.append(deployment)
    deployments.append(
        {
            "name": "portfolio-report",
            "entrypoint": "flows/report.py:report_flow",
            "description": "Render every trial's report and the portfolio comparison, monthly.",
            "parameters": {"portfolio": True},
            "tags": ["trialflow", "portfolio", "report"],
            "work_pool": {"name": POOL},
            "schedules": [{"cron": "0 8 1 * *", "timezone": TZ, "active": True}],
        }
    )
    return {
        "name": "trialflow",
        "prefect-version": "3.8.8",
        # the worker runs flows from the folder `prefect deploy` was run in: the project root
        "deployments": deployments,
    }


def render(designs: list[DesignFile] | None = None) -> str:
    header = "# Generated by scripts/make_prefect_yaml.py; edit that script, not this file.\n"
    return header + yaml.safe_dump(build(designs), sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--designs",
        type=Path,
        default=None,
        help="The designs folder (default: $TRIALFLOW_DESIGNS_DIR, else trial_designs/).",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "prefect.yaml", help="Where to write.")
    parser.add_argument(
        "--strict", action="store_true", help="Exit 1 if any *.yaml file is not a loadable design."
    )
    args = parser.parse_args(argv)
    try:
        designs, problems = discover(args.designs)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not designs:
        print(
            "error: no loadable design in the designs folder; prefect.yaml not written.",
            file=sys.stderr,
        )
        return 1
    text = render(designs)
    args.out.write_text(text)
    count = len(yaml.safe_load(text)["deployments"])
    trials = ", ".join(d.trial_id for d in designs)
    print(f"wrote {args.out} ({count} deployments for {len(designs)} designs: {trials})")
    return 1 if problems and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
