"""The one skeleton of an ingest: fingerprint, read, archive, store in one transaction, publish.

Outcome files (:mod:`flows.outcomes`) and delivery logs (:mod:`flows.deliveries`)
are ingested the same way; only what they check and what they store differ:

1. :func:`fingerprint` the file (its SHA-256) and stop if :func:`previous_ingest`
   holds the same bytes: the same file ingested twice changes nothing;
2. :func:`read_canonical`: read the file and rename the columns the design maps;
3. check the rows with :mod:`intake` (pure);
4. :func:`store_ingest`: archive the raw file under its hash, then write the
   good rows (the caller's ``write``), the quarantine rows and the file's
   record with its audit row in ONE transaction: a failed ingest leaves
   nothing behind;
5. :func:`publish_quarantine`: rules, columns, counts and row numbers to the
   log and a Prefect table artifact, never a value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.settings import get_settings
from flows.sources import (
    SourceError,
    archive_file,
    file_hash,
    read_table,
    rename_to_canonical,
)
from flows.store import IngestSummary, Store
from flows.tasks import IO_RETRIES
from intake.quarantine import (
    empty_file_problem,
    format_problems,
    quarantine_log,
    quarantine_summary,
)
from trial_designs.design import TrialDesign

__all__ = [
    "Written",
    "fingerprint",
    "previous_ingest",
    "publish_quarantine",
    "read_canonical",
    "store_ingest",
]


@task(name="fingerprint file", cache_policy=NO_CACHE, **IO_RETRIES)
def fingerprint(path: str) -> str:
    """The file's SHA-256; a missing file or a folder fails once, naming the path."""
    return file_hash(path)


def previous_ingest(
    design: TrialDesign,
    *,
    kind: str,
    digest: str,
    timepoint: str | None,
    intervention: str | None = None,
) -> dict | None:
    """The store's record of these bytes ingested before as ``kind`` (at ``timepoint``, as
    ``intervention``'s log), or None."""
    return Store().previous_ingest(
        trial_id=design.id,
        kind=kind,
        file_hash=digest,
        timepoint=timepoint,
        intervention=intervention,
    )


def read_canonical(
    path: str | Path,
    mapping: dict[str, str],
    *,
    rows_are: str = "rows",
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The file's rows with the mapped columns renamed to their canonical fields.

    ``prepare`` may add to the raw frame first (an optional column the design
    does not map).  A missing mapped column fails naming the file and column;
    a file with a header and no rows fails by rule ``has_rows`` (``rows_are``
    names its rows in the message), before anything is archived or stored.
    """
    raw = read_table(path)
    empty = empty_file_problem(raw, rows_are=rows_are)
    if len(empty):
        raise SourceError(format_problems(Path(path).name, empty, values=False))
    if prepare is not None:
        raw = prepare(raw)
    return rename_to_canonical(raw, mapping, file_name=Path(path).name)


@dataclass(frozen=True)
class Written:
    """What an ingest's ``write`` put in the store: rows stored and the problems to record.

    ``already`` counts rows skipped because they are stored already.
    """

    rows_stored: int
    problems: pd.DataFrame
    already: int = 0


def store_ingest(
    store: Store,
    design: TrialDesign,
    *,
    path: str | Path,
    digest: str,
    kind: str,
    timepoint: str | None,
    rows_read: int,
    write: Callable[[sa.Connection], Written],
    intervention: str | None = None,
) -> tuple[IngestSummary, Written]:
    """Archive the raw file, then ``write`` the rows, the quarantine and the file record in one transaction.

    ``write(conn)`` stores the good rows inside the transaction (the trial is
    locked) and returns :class:`Written`; its problems are recorded with the
    file as quarantine rows, with the audit row of the ingest.  ``intervention``
    names whose delivery log it is when the design has several (kept with the file).
    """
    path = Path(path)
    archived = archive_file(path, get_settings().archive_dir(design.id), digest)
    with store.transaction(lock_trial=design.id, bulk=True) as conn:
        written = write(conn)
        summary = store.record_ingest(
            conn,
            trial_id=design.id,
            kind=kind,
            file_name=path.name,
            file_hash=digest,
            archived_path=str(archived),
            timepoint=timepoint,
            rows_read=rows_read,
            rows_stored=written.rows_stored,
            problems=written.problems,
            intervention=intervention,
        )
    return summary, written


def publish_quarantine(
    design: TrialDesign, file_name: str, problems: pd.DataFrame, *, key: str
) -> None:
    """The quarantine of one ingest to the log and a table artifact: no values, so no ids.

    Artifacts and logs are readable by anyone with the UI; the quarantine CSV
    and the validation report hold the values.
    """
    if not len(problems):
        return
    get_run_logger().warning(quarantine_log(file_name, problems))
    create_table_artifact(
        key=key,
        table=quarantine_summary(problems),
        description=f"Quarantined rows of {file_name} by rule ({design.title}).",
    )
