"""Prefect flows and the I/O edge of trialflow.

Importing this package sets Prefect's defaults for trialflow before Prefect is
imported: its home under ``<TRIALFLOW_HOME>/prefect`` (see
:mod:`flows.settings`), telemetry off, and a startup timeout long enough for
the temporary server on a busy machine.  Settings already in the environment
win.
"""

import os

from flows.settings import get_settings

os.environ.setdefault("PREFECT_HOME", str(get_settings().prefect_home))
# Prefect's temporary server creates its database but not missing parent folders.
os.makedirs(os.environ["PREFECT_HOME"], exist_ok=True)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "true")
