"""Flow tests run against one temporary Prefect server per session.

Store tests can also run against a real PostgreSQL server: ``postgres_server``
starts a throwaway cluster (``initdb`` + ``pg_ctl``, in a temporary folder, on
a free port) once per session and stops it at the end, pass or fail.  It fails
the test, loudly, when PostgreSQL cannot be started: ``make test`` installs it
(Debian's ``postgresql``) where it is missing.  ``store_backend`` runs a test
once on SQLite and once on its own fresh PostgreSQL database, through
``$TRIALFLOW_DATABASE_URL``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    from flows.tasks import embedded_prefect

    with prefect_test_harness(server_startup_timeout=90), embedded_prefect():
        yield


def _pg_bindir() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<v>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A throwaway PostgreSQL cluster: ``url(db)`` gives a SQLAlchemy URL to one database."""

    def __init__(self, bindir: Path, root: Path, port: int, as_user: list[str]) -> None:
        self.bindir, self.root, self.port, self.as_user = bindir, root, port, as_user
        self.data = root / "data"
        self.log = root / "server.log"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=120, check=False
        )

    def url(self, database: str = "postgres", driver: str = "psycopg") -> str:
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this test session; fails (never skips) if none can start."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL's initdb and pg_ctl were not found (on PATH or in "
            "/usr/lib/postgresql/*/bin). Run the tests with `make test`, which installs "
            "Debian's postgresql where it is missing, or `apt-get install -y postgresql`.",
            pytrace=False,
        )
    root = Path(tempfile.mkdtemp(prefix="trialflow-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the postgres account, which owns the folder.
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PostgresServer(bindir, root, _free_port(), as_user)
    init = server.run(
        str(bindir / "initdb"),
        "-D",
        str(server.data),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
    options = (
        f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    start = server.run(
        str(bindir / "pg_ctl"), "-D", str(server.data), "-l", str(server.log), "-o", options,
        "-w", "-t", "60", "start",
    )  # fmt: skip
    try:
        if start.returncode != 0:
            log = server.log.read_text() if server.log.exists() else ""
            pytest.fail(
                f"pg_ctl start failed ({start.returncode}):\n{start.stdout}\n{start.stderr}\n{log}"
            )
        version = server.run(str(bindir / "postgres"), "--version").stdout.strip()
        _PG_SERVER.append(f"{version}, 127.0.0.1:{server.port}")
        yield server
    finally:
        server.run(str(bindir / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of its own for one test; dropped afterwards."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on SQLite (the default store) and on PostgreSQL (its own database)."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("TRIALFLOW_DATABASE_URL", url)
        from flows.settings import get_settings

        # a setting that stopped reaching the store would run the "PostgreSQL" test on SQLite
        assert get_settings().database_url == url
    return request.param


# CI's log shows that the PostgreSQL tests ran, and on which server (issue 18.1 done-when).
_PG_RESULTS: dict[str, int] = {}
_PG_SERVER: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "postgres" in report.nodeid and (report.when == "call" or report.outcome != "passed"):
        _PG_RESULTS[report.outcome] = _PG_RESULTS.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if _PG_RESULTS:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(_PG_RESULTS.items()))
        server = _PG_SERVER[0] if _PG_SERVER else "no server started"
        terminalreporter.write_line(f"PostgreSQL tests ({server}): {counts}")
