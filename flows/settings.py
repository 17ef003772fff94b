"""trialflow's settings: every environment variable it reads, read here and nowhere else.

| Environment variable     | Default                                   | What it sets |
|--------------------------|-------------------------------------------|--------------|
| `TRIALFLOW_HOME`         | `./.trialflow` (resolved against the current folder) | The working folder: the store, drop folders, archives, outputs and Prefect's home are under it. |
| `TRIALFLOW_DATABASE_URL` | `sqlite:///<home>/trialflow.db`           | The store, as a SQLAlchemy URL (e.g. `postgresql+psycopg://host/trials`). |
| `TRIALFLOW_REPORTS_DIR`  | `<home>/reports`                          | Where trial and portfolio reports (HTML, PDF) are written. |
| `TRIALFLOW_DESIGNS_DIR`  | the packaged `trial_designs/`             | The designs folder: every `*.yaml` design in it gets deployments (`make deployments`), and a design named by id (`coffee`) is looked up here first, then among the packaged designs. |
| `TRIALFLOW_DASK_ADDRESS` | none: no cluster, or `--dask-workers N`   | The Dask scheduler `trialflow diagnose` runs on, e.g. `tcp://host:8786`. |
| `PREFECT_HOME`           | `<home>/prefect`                          | Prefect's own folder (its temporary server's database); set by trialflow only if unset. |

An empty value counts as unset.  Folders derived from home, one per trial
(`<trial>` is the design's `id`):

| Folder                    | What is in it |
|---------------------------|---------------|
| `<home>/drop/<trial>/`    | The drop folder: `roster.csv`, `deliveries/*.csv`, `outcomes/survey_<timepoint>.csv`, `outcomes/hr_*.csv`. Deployments and `trialflow run` read it unless given another folder. |
| `<home>/archive/<trial>/` | Every ingested file, stored under its content hash. |
| `<home>/out/<trial>/`     | Outputs: allocation lists, letters, `analysis/results.json`, the uptake dashboard, cost tables. |
| `<home>/trialflow.db`     | The SQLite store (unless `TRIALFLOW_DATABASE_URL` is set). |
| `<home>/reports/`         | Trial and portfolio reports, HTML and PDF (unless `TRIALFLOW_REPORTS_DIR` is set). |

Settings are read from the environment each time :func:`get_settings` is
called (it is cheap), so a deployment run resolves its drop folder under the
`TRIALFLOW_HOME` of the worker that runs it, not of the machine that wrote
prefect.yaml.  This module imports nothing but the standard library, so
commands that run no flow stay fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_HOME",
    "DEFAULT_REPORTS_DIR",
    "ENVIRONMENT_VARIABLES",
    "PACKAGED_DESIGNS_DIR",
    "Settings",
    "get_settings",
]

#: The working folder unless ``TRIALFLOW_HOME`` says otherwise.
DEFAULT_HOME = Path(".trialflow")
#: Where reports go unless ``TRIALFLOW_REPORTS_DIR`` says otherwise: this folder under
#: ``TRIALFLOW_HOME``, as every other output, so two homes never overwrite each other's reports.
DEFAULT_REPORTS_DIR = Path("reports")
#: The seed designs shipped with trialflow.
PACKAGED_DESIGNS_DIR = Path(__file__).resolve().parent.parent / "trial_designs"

#: Every environment variable trialflow reads, and the Settings field it sets.
ENVIRONMENT_VARIABLES = {
    "TRIALFLOW_HOME": "home",
    "TRIALFLOW_DATABASE_URL": "database_url",
    "TRIALFLOW_REPORTS_DIR": "reports_dir",
    "TRIALFLOW_DESIGNS_DIR": "designs_dir",
    "TRIALFLOW_DASK_ADDRESS": "dask_address",
}


def _valid_trial_id(trial_id: str) -> str:
    # a trial id becomes a folder name: '../evil' or '/tmp/x' must not (UnsafePathError)
    from flows.safe_io import check_trial_id  # late: pandas only when a folder is asked for

    return check_trial_id(trial_id)


@dataclass(frozen=True)
class Settings:
    """trialflow's settings, with the folders derived from them.

    Build one with :meth:`from_env` (or :func:`get_settings`); the fields are
    the environment variables in the module docstring's table.

    Parameters
    ----------
    home : Path
        The working folder, absolute.
    database_url : str
        The store's SQLAlchemy URL.
    reports_dir : Path
        Where reports are written.
    designs_dir : Path
        The folder whose ``*.yaml`` designs get deployments.
    dask_address : str or None
        A Dask scheduler address, or None.
    """

    home: Path
    database_url: str
    reports_dir: Path
    designs_dir: Path
    dask_address: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default ``os.environ``); empty values count as unset."""
        env = os.environ if environ is None else environ

        def value(name: str) -> str | None:
            return env.get(name) or None

        home = Path(value("TRIALFLOW_HOME") or DEFAULT_HOME).expanduser().resolve()
        return cls(
            home=home,
            database_url=value("TRIALFLOW_DATABASE_URL") or f"sqlite:///{home / 'trialflow.db'}",
            reports_dir=Path(value("TRIALFLOW_REPORTS_DIR")).expanduser()
            if value("TRIALFLOW_REPORTS_DIR")
            else home / DEFAULT_REPORTS_DIR,
            designs_dir=Path(value("TRIALFLOW_DESIGNS_DIR") or PACKAGED_DESIGNS_DIR).expanduser(),
            dask_address=value("TRIALFLOW_DASK_ADDRESS"),
        )

    @property
    def prefect_home(self) -> Path:
        """``<home>/prefect``: Prefect's folder unless ``PREFECT_HOME`` is set."""
        return self.home / "prefect"

    @property
    def uses_default_database(self) -> bool:
        """True when the store is the SQLite file under home."""
        return self.database_url == f"sqlite:///{self.home / 'trialflow.db'}"

    def drop_dir(self, trial_id: str) -> Path:
        """``<home>/drop/<trial>``: where a trial's input files are dropped."""
        return self.home / "drop" / _valid_trial_id(trial_id)

    def archive_dir(self, trial_id: str) -> Path:
        """``<home>/archive/<trial>``: ingested files under their content hash."""
        return self.home / "archive" / _valid_trial_id(trial_id)

    def out_dir(self, trial_id: str) -> Path:
        """``<home>/out/<trial>``: the trial's outputs."""
        return self.home / "out" / _valid_trial_id(trial_id)

    def design_file(self, design_id: str) -> Path | None:
        """``<designs_dir>/<id>.yaml``, else the packaged ``<id>.yaml``, else None."""
        for folder in dict.fromkeys((self.designs_dir, PACKAGED_DESIGNS_DIR)):
            for suffix in (".yaml", ".yml"):
                path = folder / f"{design_id}{suffix}"
                if path.is_file():
                    return path
        return None


def get_settings() -> Settings:
    """The settings from the current environment (read afresh on every call)."""
    return Settings.from_env()
