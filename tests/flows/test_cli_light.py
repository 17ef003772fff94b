"""Commands that run no flow stay light, and error text reaches the user verbatim."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app

ROOT = Path(__file__).resolve().parents[2]
#: Libraries that cost seconds to import and that no light command needs.
HEAVY = ("prefect", "great_expectations", "weasyprint", "sklearn", "scipy.stats", "dask")


def _heavy_after(code: str, home: Path) -> list[str]:
    """Run ``code`` in a fresh interpreter; which HEAVY modules did it import?"""
    probe = (
        f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "TRIALFLOW_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_prefect(tmp_path):
    assert _heavy_after("import flows.cli", tmp_path) == []


def test_light_commands_import_no_prefect(tmp_path):
    commands = [
        ["--help"],
        ["validate", "coffee"],
        ["power", "coffee", "--n", "377", "--icc", "0.05"],
        ["schema", "--out", str(tmp_path / "schema.json")],
        ["server", "status"],
    ]
    code = (
        "from typer.testing import CliRunner\nfrom flows.cli import app\n"
        f"for args in {commands!r}:\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exception is None or isinstance(result.exception, SystemExit), args\n"
    )
    assert _heavy_after(code, tmp_path) == []


def test_error_text_is_printed_verbatim_not_as_markup(tmp_path):
    # rich reads '[red]' or '[/]' as markup and swallows it; the message must survive whole
    design = tmp_path / "trial [red]x[/red] ^[A-Z]*$.yaml"
    result = CliRunner().invoke(app, ["validate", str(design)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: Design file {design} does not exist."


def test_help_lists_the_exit_codes():
    text = " ".join(CliRunner().invoke(app, ["--help"]).output.split())
    for code in ("0 done", "1 the input was refused", "2 usage error", "3 internal error"):
        assert code in text
