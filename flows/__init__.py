"""Prefect flows and the I/O edge of trialflow.

Importing this package sets Prefect's defaults for trialflow before Prefect is
imported: its home under ``.trialflow/prefect``, telemetry off, and a startup
timeout long enough for the temporary server on a busy machine.  Settings
already in the environment win.
"""

import os
from pathlib import Path

_home = Path(os.environ.get("TRIALFLOW_HOME", ".trialflow")).resolve()
os.environ.setdefault("PREFECT_HOME", str(_home / "prefect"))
# Prefect's temporary server creates its database but not missing parent folders.
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "true")
