"""Alembic's environment for the trialflow store.

The store (flows.store.Store) runs the migrations itself on the connection it
passes in ``config.attributes["connection"]``.  Run by hand, for example to
write a new revision, it opens the store the settings name
(``$TRIALFLOW_DATABASE_URL``, else the SQLite file under ``$TRIALFLOW_HOME``)::

    .venv/bin/alembic -c flows/migrations/alembic.ini revision --autogenerate -m "why"
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from flows.store.schema import metadata
from flows.store.store import default_url

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or default_url())
    with engine.begin() as conn:
        _run(conn)
