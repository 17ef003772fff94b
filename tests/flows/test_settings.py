"""One settings object: every TRIALFLOW_* variable is read by flows.settings, and every folder follows home."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from flows import settings as settings_module
from flows.settings import PACKAGED_DESIGNS_DIR, Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_when_nothing_is_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = Settings.from_env({})
    assert config.home == tmp_path / ".trialflow"
    assert config.database_url == f"sqlite:///{tmp_path / '.trialflow' / 'trialflow.db'}"
    assert config.uses_default_database
    assert config.reports_dir == tmp_path / ".trialflow" / "reports"
    assert config.designs_dir == PACKAGED_DESIGNS_DIR
    assert config.dask_address is None
    assert config.prefect_home == tmp_path / ".trialflow" / "prefect"


def test_every_folder_follows_trialflow_home(tmp_path):
    home = tmp_path / "elsewhere"
    config = Settings.from_env({"TRIALFLOW_HOME": str(home)})
    assert config.drop_dir("coffee") == home / "drop" / "coffee"
    assert config.archive_dir("coffee") == home / "archive" / "coffee"
    assert config.out_dir("coffee") == home / "out" / "coffee"
    assert config.prefect_home == home / "prefect"
    assert config.database_url == f"sqlite:///{home / 'trialflow.db'}"


def test_a_relative_home_is_resolved_against_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"TRIALFLOW_HOME": "work/home"}).home == tmp_path / "work" / "home"


def test_each_variable_sets_its_field(tmp_path):
    environ = {
        "TRIALFLOW_HOME": str(tmp_path / "home"),
        "TRIALFLOW_DATABASE_URL": "postgresql+psycopg://db/trials",
        "TRIALFLOW_REPORTS_DIR": str(tmp_path / "reports"),
        "TRIALFLOW_DESIGNS_DIR": str(tmp_path / "designs"),
        "TRIALFLOW_DASK_ADDRESS": "tcp://scheduler:8786",
    }
    config = Settings.from_env(environ)
    for variable, field in settings_module.ENVIRONMENT_VARIABLES.items():
        assert str(getattr(config, field)) == environ[variable], variable
    assert not config.uses_default_database


def test_empty_values_count_as_unset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blank = {name: "" for name in settings_module.ENVIRONMENT_VARIABLES}
    assert Settings.from_env(blank) == Settings.from_env({})


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        get_settings().home = Path("/")  # type: ignore[misc]


def test_get_settings_reads_the_environment_each_time(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALFLOW_HOME", str(tmp_path / "one"))
    assert get_settings().home == tmp_path / "one"
    monkeypatch.setenv("TRIALFLOW_HOME", str(tmp_path / "two"))
    assert get_settings().drop_dir("letters") == tmp_path / "two" / "drop" / "letters"


def test_the_module_docstring_documents_every_variable():
    for variable in settings_module.ENVIRONMENT_VARIABLES:
        assert f"| `{variable}`" in settings_module.__doc__, variable


def test_no_other_module_reads_a_trialflow_variable():
    """Only flows/settings.py may read TRIALFLOW_* from the environment."""
    pattern = re.compile(r"(environ|getenv|envvar)\W+[^\n]*TRIALFLOW_")
    readers = []
    for folder in ("common", "trial_designs", "analysis", "intake", "reports", "flows", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name != "settings.py" and pattern.search(path.read_text(encoding="utf-8")):
                readers.append(str(path.relative_to(ROOT)))
    assert readers == []


def test_the_readers_go_through_settings(tmp_path, monkeypatch):
    from flows.pipeline import default_drop
    from flows.report import reports_dir
    from flows.results_file import results_root
    from flows.store import Store, trialflow_home
    from flows.tasks import output_dir, resolve_design_path

    home = tmp_path / "home"
    monkeypatch.setenv("TRIALFLOW_HOME", str(home))
    monkeypatch.setenv("TRIALFLOW_REPORTS_DIR", str(tmp_path / "reports"))
    assert trialflow_home() == home
    assert default_drop("coffee") == home / "drop" / "coffee"
    assert output_dir("coffee", "letters") == home / "out" / "coffee" / "letters"
    assert results_root() == home / "out"
    assert reports_dir() == tmp_path / "reports"
    assert Store().url == f"sqlite:///{home / 'trialflow.db'}"
    monkeypatch.setenv("TRIALFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert Store().url == f"sqlite:///{tmp_path / 'other.db'}"
    assert resolve_design_path("coffee") == PACKAGED_DESIGNS_DIR / "coffee.yaml"


def test_a_design_id_is_found_in_the_designs_folder_first(tmp_path, monkeypatch):
    from flows.tasks import resolve_design_path

    designs = tmp_path / "designs"
    designs.mkdir()
    (designs / "mytrial.yaml").write_text((PACKAGED_DESIGNS_DIR / "coffee.yaml").read_text())
    (designs / "coffee.yaml").write_text((PACKAGED_DESIGNS_DIR / "coffee.yaml").read_text())
    monkeypatch.setenv("TRIALFLOW_DESIGNS_DIR", str(designs))
    assert resolve_design_path("mytrial") == designs / "mytrial.yaml"
    assert resolve_design_path("coffee") == designs / "coffee.yaml"
    # the packaged designs stay reachable by id
    assert resolve_design_path("letters") == PACKAGED_DESIGNS_DIR / "letters.yaml"
    assert resolve_design_path("nothing") == Path("nothing")


def test_importing_settings_imports_no_prefect():
    code = "import sys, flows.settings; print('prefect' in sys.modules)"
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert done.stdout.strip() == "False"


def test_reports_go_under_trialflow_home_unless_told_otherwise(
    prefect_server, tmp_path, monkeypatch, simulated_results
):
    """Two homes used from one folder once overwrote each other's reports in ./reports/out."""
    import json

    from typer.testing import CliRunner

    from flows.cli import app

    home = tmp_path / "home"
    results = home / "out" / "coffee" / "analysis"
    results.mkdir(parents=True)
    # the analysis of the simulated coffee trial, where `trialflow analyse` writes it
    (results / "results.json").write_text(json.dumps(simulated_results("coffee")), encoding="utf-8")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("TRIALFLOW_HOME", str(home))
    monkeypatch.delenv("TRIALFLOW_REPORTS_DIR", raising=False)
    assert Settings.from_env().reports_dir == home / "reports"
    done = CliRunner().invoke(app, ["report", "coffee", "--no-pdf"])
    assert done.exit_code == 0, done.output
    assert (home / "reports" / "coffee.html").is_file()
    assert not (elsewhere / "reports").exists()
