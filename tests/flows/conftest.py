"""Flow tests run against one temporary Prefect server per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    from flows.common import embedded_prefect

    with prefect_test_harness(server_startup_timeout=90), embedded_prefect():
        yield
