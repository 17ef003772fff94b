"""Regenerate tests/reference/export_demo/<trial>/ from the demo pipeline and Rscript.

Usage (from the repository root; needs Rscript with estimatr)::

    .venv/bin/python tests/reference/export_demo/make_export_demo.py coffee goal_setting

For each trial, in a temporary TRIALFLOW_HOME and a temporary Prefect server:
the demo's seeded roster, randomisation, delivery logs and outcome files
(``flows.demo``), the outcomes stage, ``analyse`` with ``ri_draws=0`` (the
randomisation inference does not touch the estimates compared), ``export``;
then ``Rscript primary_analysis.R`` on the export.  Written per trial:

- ``<trial>_analysis.csv``: the exported dataset the R script read;
- ``primary_analysis.R``: the generated script;
- ``results_primary.json``: results.json's primary-outcome estimates and the design hash;
- ``r_output.csv``: what the script printed;
- ``versions.txt``: R and estimatr versions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make(name: str) -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["TRIALFLOW_HOME"] = home
        from prefect.testing.utilities import prefect_test_harness

        from flows.tasks import embedded_prefect, load_design_task

        with prefect_test_harness(server_startup_timeout=90), embedded_prefect():
            from flows.analyse import analyse_flow
            from flows.demo import (
                simulate_delivery_files,
                simulate_outcome_files,
                simulate_roster_file,
            )
            from flows.export import export_flow
            from flows.letters import letters_flow
            from flows.pipeline import default_drop, pipeline_flow
            from flows.results_file import results_path

            design = load_design_task(name)
            drop = default_drop(design.id)
            simulate_roster_file(design, drop)
            pipeline_flow(name, str(drop), ["randomise"])
            files = simulate_delivery_files(design, drop)
            if "feedback" in files:
                day = design.follow_up.randomisation.isoformat()
                letters_flow(name, str(files["feedback"]), day)
            pipeline_flow(name, str(drop), ["deliveries"])
            simulate_outcome_files(design, drop)
            pipeline_flow(name, str(drop), ["outcomes"])
            analyse_flow(name, ri_draws=0)
            export = Path(home) / "export"
            export_flow(name, str(export))
            results = json.loads(results_path(design.id).read_text())
        target = HERE / name
        target.mkdir(exist_ok=True)
        for file in (f"{name}_analysis.csv", "primary_analysis.R"):
            shutil.copy(export / file, target / file)
        primary = next(o for o in results["outcomes"] if o["primary"])
        excerpt = {
            "trial": name,
            "design_hash": results["trial"]["design_hash"],
            "outcome": primary["name"],
            "estimates": primary["estimates"],
        }
        (target / "results_primary.json").write_text(json.dumps(excerpt, indent=2) + "\n")
        run = subprocess.run(
            ["Rscript", "primary_analysis.R", "."],
            cwd=target,
            capture_output=True,
            text=True,
            check=True,
        )
        (target / "r_output.csv").write_text(run.stdout)
        versions = subprocess.run(
            [
                "Rscript",
                "-e",
                'cat(R.version.string, "; estimatr", format(packageVersion("estimatr")), "\\n")',
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        (target / "versions.txt").write_text(versions.stdout)


if __name__ == "__main__":
    for trial in sys.argv[1:] or ["coffee", "goal_setting", "goal_setting_nudges"]:
        make(trial)
