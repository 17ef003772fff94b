"""Bulk writes: millions of rows in one transaction, in chunks, by COPY on PostgreSQL.

``INSERT ... VALUES`` through executemany sends a statement per row (or per
page of rows) and parses each; ``COPY ... FROM STDIN`` streams the rows in
one protocol message stream, which is what PostgreSQL is built to load fast.

- An ingest (:func:`copy_new`) skips rows whose key is stored already.  COPY
  cannot skip a row, so rows are copied into a temporary table first and
  moved with ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``: a re-sent row
  is skipped, as on SQLite's ``INSERT OR IGNORE``, and the INSERT's row count
  is exactly the rows added.
- A randomisation's rows (allocations, participants, PII, audit) must not
  skip anything: a unit already allocated fails the whole write, as the
  unique key makes an INSERT fail.  :func:`insert_tuples` (and
  :func:`insert_rows`, its twin for dicts) writes them as plain INSERTs on
  SQLite and by :func:`copy_rows`, straight into the table, on PostgreSQL,
  where the unique keys, defaults and triggers act on each row as on an INSERT.

Everything runs inside the caller's transaction, so a failed write leaves
neither staging nor rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence

import sqlalchemy as sa

__all__ = [
    "INSERT_CHUNK_ROWS",
    "copy_new",
    "copy_rows",
    "insert_rows",
    "insert_tuples",
    "row_values",
]

#: Rows built and sent at once by :func:`insert_tuples` (and by a randomisation's audit
#: rows): bounds what is held, so 1.3M rows never stand in memory as dicts or tuples.
INSERT_CHUNK_ROWS = 20_000

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


def copy_rows(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    chunk_rows: int = INSERT_CHUNK_ROWS,
) -> int:
    """COPY ``rows`` (sequences in ``columns`` order) into ``table`` itself; rows copied.

    The PostgreSQL twin of an ``INSERT`` of the same rows inside ``conn``'s
    transaction: the same stored values, and the same failures (a row that
    breaks a unique key or a NOT NULL fails the COPY, and with it the
    transaction; the error is SQLAlchemy's, e.g. ``IntegrityError``, as the
    INSERT's was).  ``rows`` may be a generator: one COPY per ``chunk_rows``
    rows, so only that many are held at once.

    A datetime with a time zone is stored as an INSERT stores it in a
    ``timestamp`` column, converted to the session's time zone by the server
    (COPY's text would drop the offset instead); it is asked between two
    COPYs, since a connection inside a COPY runs no other statement.
    """
    import psycopg  # the PostgreSQL driver; only a PostgreSQL store reaches here

    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(c) for c in columns)
    statement = f"COPY {preparer.format_table(table)} ({names}) FROM STDIN"
    stamps = [
        i
        for i, c in enumerate(columns)
        if isinstance(table.c[c].type, sa.DateTime) and not table.c[c].type.timezone
    ]
    local: dict[dt.datetime, dt.datetime] = {}
    raw = conn.connection.driver_connection  # psycopg 3, inside SQLAlchemy's transaction
    copied, iterator = 0, iter(rows)
    try:
        with raw.cursor() as cursor:
            while chunk := list(itertools.islice(iterator, chunk_rows)):
                if stamps:
                    chunk = _zoned_to_local(cursor, chunk, stamps, local)
                with cursor.copy(statement) as copy:
                    for row in chunk:
                        copy.write_row(row)
                copied += len(chunk)
    except psycopg.Error as exc:
        # as conn.execute would raise it: IntegrityError for a unique key, and so on
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
    return copied


def _zoned_to_local(
    cursor,  # noqa: ANN001 - a psycopg cursor, not inside a COPY
    chunk: list[Sequence],
    stamps: list[int],
    local: dict[dt.datetime, dt.datetime],
) -> list[Sequence]:
    """``chunk`` with each datetime that has a zone (in the ``stamps`` positions) as the
    server casts it to ``timestamp`` (the session's zone); ``local`` caches the answers."""
    zoned = {
        row[i]
        for row in chunk
        for i in stamps
        if isinstance(row[i], dt.datetime) and row[i].tzinfo is not None
    }
    if not zoned:
        return chunk
    for value in zoned - local.keys():
        cursor.execute("SELECT CAST(CAST(%s AS timestamptz) AS timestamp)", (value,))
        local[value] = cursor.fetchone()[0]
    fixed = []
    for row in chunk:
        row = list(row)
        for i in stamps:
            if isinstance(row[i], dt.datetime) and row[i].tzinfo is not None:
                row[i] = local[row[i]]
        fixed.append(row)
    return fixed


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping]) -> int:
    """A plain INSERT of ``rows`` (dicts with the same keys) inside ``conn``'s transaction.

    The same rows, values and failures as ``conn.execute(table.insert(), rows)``
    (a row colliding with a unique key fails the whole transaction; triggers
    run), written by :func:`insert_tuples`.  Returns the number of rows.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    return insert_tuples(conn, table, columns, map(row_values(columns), rows))


def insert_tuples(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Iterable[Sequence]
) -> int:
    """A plain INSERT of ``rows`` (sequences in ``columns`` order), read a chunk at a time.

    The same rows, values and failures as ``conn.execute(table.insert(), rows)``
    as dicts (a row colliding with a unique key fails the whole transaction;
    triggers run), but faster and in bounded memory: ``rows`` may be a
    generator, and only :data:`INSERT_CHUNK_ROWS` of them are held at once.

    - SQLite: each chunk goes to the driver's executemany as tuples
      (SQLAlchemy's per-row parameter processing was most of the time of
      storing a national roster).  Values pass through each column type's own
      bind processor, so a date or time is stored in exactly the text
      SQLAlchemy writes.
    - PostgreSQL: COPY into the table (:func:`copy_rows`).

    Returns the number of rows.
    """
    dialect = conn.dialect
    if dialect.name == "postgresql":
        return copy_rows(conn, table, columns, rows)
    iterator = iter(rows)
    if dialect.name != "sqlite":  # pragma: no cover - other servers: SQLAlchemy's own insert
        done = 0
        while chunk := list(itertools.islice(iterator, INSERT_CHUNK_ROWS)):
            conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in chunk])
            done += len(chunk)
        return done
    processors = [
        (i, _last_value_cached(f))
        for i, c in enumerate(columns)
        if (f := table.c[c].type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    names = ", ".join(dialect.identifier_preparer.quote(c) for c in columns)
    statement = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})"
    done = 0
    while chunk := list(itertools.islice(iterator, INSERT_CHUNK_ROWS)):
        if processors:
            chunk = [list(r) for r in chunk]
            for i, process in processors:
                for values in chunk:
                    values[i] = process(values[i])
        conn.exec_driver_sql(statement, [tuple(values) for values in chunk])
        done += len(chunk)
    return done


def row_values(columns: Sequence[str]) -> Callable[[Mapping], tuple]:
    """A function from a row dict to its values in ``columns`` order, as a tuple."""
    if len(columns) == 1:  # itemgetter of one key gives the value, not a 1-tuple
        (only,) = columns
        return lambda row: (row[only],)
    return operator.itemgetter(*columns)


def _last_value_cached(process: Callable[[object], object]) -> Callable[[object], object]:
    """``process``, remembering its last answer: a cohort's rows share one ``now``."""
    last: list = [object(), None]

    def cached(value: object) -> object:
        if value is not last[0]:
            last[0], last[1] = value, process(value)
        return last[1]

    return cached
