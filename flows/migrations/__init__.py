"""The store's schema, managed by Alembic: :func:`upgrade_store` runs on every open.

A fresh store is built by running every revision (``upgrade head``), a store
from an earlier trialflow is upgraded in place with its rows kept, and a store
written by a newer trialflow (a revision this code does not know) is refused
with :class:`StoreTooNewError`.

The rule for changing the schema
--------------------------------
Any change to a table in :mod:`flows.store.schema` (a new table, column, constraint
or index) comes with a new revision in ``flows/migrations/versions/``, whose
``down_revision`` is the current head.  Write it by hand or let Alembic draft
it against a store at the current head::

    .venv/bin/alembic -c flows/migrations/alembic.ini revision --autogenerate -m "why"

tests/flows/test_migrations.py compares the schema that ``upgrade head``
builds with ``flows.store.schema.metadata`` (Alembic's ``compare_metadata``), on
SQLite and on PostgreSQL, so a change without its revision fails CI.
A revision must not import table definitions from flows.store.schema: freeze them
in the revision, since the schema moves on.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

__all__ = [
    "StoreTooNewError",
    "head_revision",
    "lock_schema",
    "store_revision",
    "upgrade_store",
]

_HERE = Path(__file__).resolve().parent
#: Any 64-bit number, the same in every trialflow: serialises concurrent upgrades on PostgreSQL.
_PG_LOCK_KEY = 7_413_822_006_551


class StoreTooNewError(RuntimeError):
    """The store was written by a newer trialflow, whose schema this code does not know."""


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest revision this code knows (the schema of flows.store.schema.metadata)."""
    return _scripts().get_current_head()


def store_revision(connection: sa.Connection) -> str | None:
    """The store's revision, or None for an empty store or one from before migrations."""
    return MigrationContext.configure(connection).get_current_revision()


def lock_schema(connection: sa.Connection) -> None:
    """On PostgreSQL, wait for and hold (until commit) the lock that serialises schema changes.

    SQLite needs none: the store's transactions begin with ``BEGIN IMMEDIATE``.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")


def _check_known(revision: str | None, url: sa.URL) -> None:
    if revision is None:
        return
    try:
        _scripts().get_revision(revision)
    except Exception:  # alembic raises ResolutionError / CommandError for an unknown one
        known = False
    else:
        known = True
    if not known:
        raise StoreTooNewError(
            f"The store {url.render_as_string(hide_password=True)} is at schema revision "
            f"'{revision}', which this trialflow does not know (its newest is "
            f"'{head_revision()}'). It was written by a newer trialflow: upgrade trialflow to "
            "open it. Refusing to open it, so that nothing is written under an older schema."
        )


def upgrade_store(engine: sa.Engine) -> bool:
    """Bring the store to the head revision; returns whether anything was run.

    Raises
    ------
    StoreTooNewError
        If the store is at a revision this code does not know.
    """
    head = head_revision()
    with engine.connect() as conn:
        current = store_revision(conn)
    if current == head:
        return False
    _check_known(current, engine.url)
    with engine.begin() as conn:
        # SQLite: the store's engine began with BEGIN IMMEDIATE, so this holds the write lock.
        lock_schema(conn)
        current = store_revision(conn)  # again, under the lock: another process may have run
        _check_known(current, engine.url)
        if current == head:
            return False
        command.upgrade(_config(conn), "head")
    return True
