"""Bulk writes of an ingest on PostgreSQL: COPY into a staging table, then one INSERT.

``INSERT ... VALUES`` through executemany sends a statement per row (or per
page of rows) and parses each; ``COPY ... FROM STDIN`` streams the rows in
one protocol message stream, which is what PostgreSQL is built to load fast.
COPY cannot skip a row whose key is stored already, so rows are copied into a
temporary table first and moved with ``INSERT ... SELECT ... ON CONFLICT DO
NOTHING``: a re-sent row is skipped, as on SQLite's ``INSERT OR IGNORE``, and
the INSERT's row count is exactly the rows added.  Everything runs inside the
caller's transaction, so a failed ingest leaves neither staging nor rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import sqlalchemy as sa

__all__ = ["copy_new"]

_STAGING = itertools.count()


def copy_new(conn: sa.Connection, table: str, names: str, rows: Iterable[tuple]) -> int:
    """COPY ``rows`` (tuples in ``names`` order) into ``table``, skipping stored keys; rows added.

    ``names`` is the quoted, comma-separated column list.  Values go as
    Python values (dates and times may be ISO text: COPY's text format is
    parsed by the server by the column's type; None is NULL).
    """
    staging = f"trialflow_staging_{table}_{next(_STAGING)}"
    raw = conn.connection.driver_connection  # psycopg 3, inside SQLAlchemy's transaction
    with raw.cursor() as cursor:
        # the staging table has the target's column types, no keys and no triggers;
        # ON COMMIT DROP (and the DROP below) leave nothing behind either way
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
            f"SELECT {names} FROM {table} WITH NO DATA"
        )
        with cursor.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} ON CONFLICT DO NOTHING"
        )
        added = cursor.rowcount
        cursor.execute(f"DROP TABLE {staging}")
    return added
