"""The audit log: who did what, when and why, in a hash chain a regulator can check.

Every row of ``audit_log`` stores ``prev_hash`` (the ``row_hash`` of the row
before it, in ``audit_id`` order, across all trials) and ``row_hash``, the
SHA-256 of a canonical serialisation of its own fields and ``prev_hash``.
:func:`verify_audit_chain` walks the chain and names every row that was
edited, inserted or deleted, whether or not the append-only trigger was in
place at the time.

Appending takes the store's write lock first (SQLite: the transaction is
``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so two
processes appending at once cannot both chain onto the same row.

Rows written before the chain existed (a store from an earlier trialflow) are
left as they were written, and the next append *seals* them: it first writes
an ``audit-chain-started`` row whose ``prev_hash`` is the digest of those
unhashed rows.  From then on editing or deleting any of them breaks the chain
like any other row.  (Rewriting them with hashes was the alternative; it would
have meant updating rows of an append-only table, and the first hash would
then vouch for content that nobody could check.)

What a hash chain cannot do on its own: someone with write access can delete
the last rows, or recompute every hash after an edit.  ``trialflow audit
verify`` prints the head hash; recording it elsewhere (a ticket, an email)
turns any later rewrite into a visible mismatch.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import pwd
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from flows.store import Store

__all__ = [
    "ALLOCATION_EVENTS",
    "GENESIS",
    "GUARD_RESTORED",
    "Actor",
    "AuditProblem",
    "AuditVerification",
    "append_audit_rows",
    "current_actor",
    "file_sha256",
    "record_audit_event",
    "row_digest",
    "seal_unhashed",
    "verify_audit_chain",
]

#: The ``prev_hash`` of the first row of a chain.
GENESIS = "0" * 64

#: The event a store writes when it finds an append-only trigger missing and puts it back.
GUARD_RESTORED = "append-only-guard-restored"

#: Audit events that record one allocation row each (same trial, round and unit).
ALLOCATION_EVENTS = ("allocated", "enrolled")

#: The event that seals rows written before the chain (or without hashes) into it.
CHAIN_STARTED = "audit-chain-started"

# Advisory-lock key for PostgreSQL: any fixed 64-bit number, the same in every process.
_PG_LOCK_KEY = 0x7472_6961_6C66_6C6F  # "trialflo"

#: Columns of audit_log that the hash does not cover: the row's own id and hash.
_UNHASHED = frozenset({"audit_id", "row_hash"})


@dataclass(frozen=True)
class Actor:
    """Who did something: the OS account and host, and the login name claimed, if different.

    ``$LOGNAME`` and ``$USER`` are whatever the caller's environment says; the
    effective uid's account is what the operating system says.  Both are kept
    so a discrepancy shows rather than hides.
    """

    os_user: str
    host: str
    claimed_user: str | None = None


def current_actor() -> Actor:
    """The OS account (effective uid) and host running this process."""
    uid = os.geteuid()
    try:
        os_user = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no passwd entry (some containers)
        os_user = f"uid:{uid}"
    claimed = os.environ.get("LOGNAME") or os.environ.get("USER")
    return Actor(
        os_user=os_user,
        host=socket.gethostname(),
        claimed_user=claimed if claimed and claimed != os_user else None,
    )


def file_sha256(path: str | os.PathLike[str] | None) -> str | None:
    """SHA-256 of a file's bytes (None if there is no such file), read in 1 MB chunks."""
    if path is None or not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _canonical_value(value: Any) -> Any:  # noqa: ANN401
    if value is None or type(value) in (str, int):
        return value
    if isinstance(value, dt.datetime):
        # stored without zone (UTC); microseconds always written, so both sides agree
        return value.replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def row_digest(row: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of a row's fields (``prev_hash`` included).

    Every column except ``audit_id`` and ``row_hash`` is covered, missing ones
    as null, so a row read back from the database hashes as it was written.
    """
    payload = {name: _canonical_value(row.get(name)) for name in _hashed_columns()}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def _hashed_columns() -> tuple[str, ...]:
    from flows.store import audit_log  # flows.store imports this module

    return tuple(c.name for c in audit_log.columns if c.name not in _UNHASHED)


def _seal_digest(prev_hash: str, rows: list[dict[str, Any]]) -> str:
    """The digest of unhashed rows after ``prev_hash``: the prev_hash of the row that seals them."""
    from flows.store import audit_log

    digest = hashlib.sha256(prev_hash.encode())
    for row in rows:
        payload = {c.name: _canonical_value(row.get(c.name)) for c in audit_log.columns}
        payload.pop("row_hash", None)
        digest.update(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def _lock(conn: sa.Connection) -> None:
    # SQLite: the Store's engine already began this transaction with BEGIN IMMEDIATE.
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")


def _chain_head(conn: sa.Connection) -> str:
    """The hash to chain the next row onto; seals any unhashed rows at the end first."""
    from flows.store import audit_log

    last = conn.execute(
        sa.select(audit_log.c.audit_id, audit_log.c.row_hash)
        .order_by(audit_log.c.audit_id.desc())
        .limit(1)
    ).first()
    if last is None:
        return GENESIS
    if last.row_hash is not None:
        return last.row_hash
    hashed = conn.execute(
        sa.select(audit_log.c.audit_id, audit_log.c.row_hash)
        .where(audit_log.c.row_hash.is_not(None))
        .order_by(audit_log.c.audit_id.desc())
        .limit(1)
    ).first()
    after = hashed.audit_id if hashed is not None else None
    prev = hashed.row_hash if hashed is not None else GENESIS
    query = sa.select(audit_log).order_by(audit_log.c.audit_id)
    if after is not None:
        query = query.where(audit_log.c.audit_id > after)
    unhashed = [dict(r) for r in conn.execute(query).mappings()]
    actor = current_actor()
    seal = {
        "trial_id": "*",
        "event": CHAIN_STARTED,
        "who": actor.os_user,
        "os_user": actor.os_user,
        "host": actor.host,
        "claimed_user": actor.claimed_user,
        "at": _now(),
        "details_json": json.dumps(
            {
                "unhashed_rows": len(unhashed),
                "first_audit_id": unhashed[0]["audit_id"],
                "last_audit_id": unhashed[-1]["audit_id"],
                "note": "rows written without hashes (before the chain existed) are sealed "
                "by this row's prev_hash",
            },
            sort_keys=True,
        ),
        "prev_hash": _seal_digest(prev, unhashed),
    }
    seal["row_hash"] = row_digest(seal)
    conn.execute(audit_log.insert(), seal)
    return seal["row_hash"]


def seal_unhashed(conn: sa.Connection) -> None:
    """Seal rows written without hashes (an older store) into the chain now."""
    _lock(conn)
    _chain_head(conn)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def append_audit_rows(conn: sa.Connection, rows: Iterable[dict[str, Any]]) -> int:
    """Append rows to the audit log inside the caller's transaction, chaining each onto the last.

    Fills ``who``, ``os_user``, ``host`` and ``claimed_user`` from
    :func:`current_actor` where the row leaves them out, then ``prev_hash`` and
    ``row_hash``.  Call it inside a write transaction of the :class:`Store`'s
    engine so the lock is held from reading the head to committing.

    Returns
    -------
    int
        The number of rows appended.
    """
    from flows.store import audit_log

    rows = [dict(r) for r in rows]
    if not rows:
        return 0
    _lock(conn)
    actor = current_actor()
    prev = _chain_head(conn)
    columns = [c.name for c in audit_log.columns if c.name != "audit_id"]
    for row in rows:
        row.setdefault("os_user", actor.os_user)
        row.setdefault("who", row["os_user"])
        row.setdefault("host", actor.host)
        row.setdefault("claimed_user", actor.claimed_user)
        row.setdefault("at", _now())
        row["prev_hash"] = prev
        for name in columns:  # executemany needs the same keys in every row
            row.setdefault(name, None)
        row["row_hash"] = prev = row_digest(row)
    from flows.store.bulk import insert_rows  # flows.store imports this module

    # tuples through the driver on SQLite: a national randomisation appends 1.3M rows
    return insert_rows(conn, audit_log, rows)


def record_audit_event(
    store: Store | sa.Engine | sa.Connection | None,
    trial: str,
    action: str,
    detail: dict[str, Any] | None = None,
    *,
    file_hash: str | None = None,
    reason: str | None = None,
    design_hash: str | None = None,
    unit_id: str | None = None,
    once: bool = False,
) -> bool:
    """Append one event (an ingest, a letter batch, an export, an amendment, a withdrawal...).

    Parameters
    ----------
    store : Store, Engine, Connection or None
        Where to write.  A Connection writes inside the caller's transaction; a
        Store or Engine opens its own; None opens ``Store()``.
    trial : str
        The trial id.
    action : str
        What happened, e.g. ``"deliveries-ingested"``, ``"letters-rendered"``.
    detail : dict, optional
        Counts and names (no personal data): stored as JSON.
    file_hash : str, optional
        SHA-256 of the file read or written.
    reason : str, optional
        Why, as the user gave it.
    once : bool
        Skip the event if the trial already has one with the same action and
        file hash (re-running a stage that wrote the same file adds nothing).

    Returns
    -------
    bool
        Whether a row was appended.
    """
    from flows.store import Store, audit_log

    row = {
        "trial_id": trial,
        "event": action,
        "file_hash": file_hash,
        "reason": reason,
        "design_hash": design_hash,
        "unit_id": unit_id,
        "details_json": json.dumps(detail, sort_keys=True, default=str)
        if detail is not None
        else None,
    }

    def write(conn: sa.Connection) -> bool:
        _lock(conn)  # before the `once` look-up, so two writers cannot both miss each other
        if once:
            seen = conn.execute(
                sa.select(audit_log.c.audit_id)
                .where(
                    audit_log.c.trial_id == trial,
                    audit_log.c.event == action,
                    audit_log.c.file_hash.is_(None)
                    if file_hash is None
                    else audit_log.c.file_hash == file_hash,
                )
                .limit(1)
            ).first()
            if seen is not None:
                return False
        return append_audit_rows(conn, [row]) == 1

    if isinstance(store, sa.Connection):
        return write(store)
    engine = store if isinstance(store, sa.Engine) else (store or Store()).engine
    with engine.begin() as conn:
        return write(conn)


@dataclass(frozen=True)
class AuditProblem:
    """One break in the chain: the row where it shows and what is wrong."""

    audit_id: int | None
    problem: str
    #: What the problem is about when it is not an audit row (an allocation row).
    subject: str | None = None

    def line(self) -> str:
        if self.subject is not None:
            where = self.subject
        else:
            where = f"row {self.audit_id}" if self.audit_id is not None else "end of log"
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class AuditVerification:
    """The result of walking the chain."""

    rows: int
    trial_rows: int
    head_hash: str
    problems: tuple[AuditProblem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_audit_chain(
    store: Store | sa.Engine | None = None, trial: str | None = None
) -> AuditVerification:
    """Walk the whole audit chain and report each edited, inserted or deleted row.

    The chain runs across all trials (deleting every row of one trial must
    show too), so the whole log is always checked; ``trial`` only chooses
    which rows are counted in ``trial_rows``.
    """
    from flows.store import Store, audit_log

    engine = store if isinstance(store, sa.Engine) else (store or Store()).engine
    problems: list[AuditProblem] = []
    expected = GENESIS
    previous_id: int | None = None
    pending: list[dict[str, Any]] = []
    n = n_trial = 0
    with engine.connect() as conn:
        result = conn.execute(sa.select(audit_log).order_by(audit_log.c.audit_id)).mappings()
        for raw in result:
            row = dict(raw)
            n += 1
            n_trial += trial is None or row["trial_id"] == trial
            if row["row_hash"] is None:
                pending.append(row)
                continue
            if pending:
                ids = f"{pending[0]['audit_id']}-{pending[-1]['audit_id']}"
                if row["event"] != CHAIN_STARTED:
                    problems.append(
                        AuditProblem(
                            pending[0]["audit_id"],
                            f"rows {ids} carry no hash inside the chain: inserted by hand, "
                            "or their hashes were removed",
                        )
                    )
                    expected_prev = None
                else:
                    if previous_id is not None:
                        problems.append(
                            AuditProblem(
                                pending[0]["audit_id"],
                                f"rows {ids} were added without hashes after the chain had "
                                f"started (sealed later by row {row['audit_id']}): written "
                                "outside trialflow",
                            )
                        )
                    expected_prev = _seal_digest(expected, pending)
                    if row["prev_hash"] != expected_prev:
                        problems.append(
                            AuditProblem(
                                row["audit_id"],
                                f"the unhashed rows {ids} it seals were edited, deleted or "
                                "added to after they were sealed",
                            )
                        )
                pending = []
            elif row["prev_hash"] != expected:
                gap = (
                    f" (ids jump from {previous_id} to {row['audit_id']})"
                    if previous_id is not None and row["audit_id"] != previous_id + 1
                    else ""
                )
                before = f"row {previous_id}" if previous_id is not None else "the start"
                problems.append(
                    AuditProblem(
                        row["audit_id"],
                        f"prev_hash does not match the hash of {before}{gap}: a row between "
                        f"them was deleted or inserted, or {before} was edited and re-hashed",
                    )
                )
            if row_digest(row) != row["row_hash"]:
                problems.append(
                    AuditProblem(
                        row["audit_id"],
                        f"its contents do not match its row_hash: the row was edited "
                        f"(event '{row['event']}', trial '{row['trial_id']}')",
                    )
                )
            expected = row["row_hash"]  # the stored hash, so one edit is reported once
            previous_id = row["audit_id"]
        guard_rows = [
            dict(r)
            for r in conn.execute(
                sa.select(audit_log.c.audit_id, audit_log.c.at, audit_log.c.details_json)
                .where(audit_log.c.event == GUARD_RESTORED)
                .order_by(audit_log.c.audit_id)
            ).mappings()
        ]
        allocation_problems = _check_allocations(conn)
    if pending:
        ids = f"{pending[0]['audit_id']}-{pending[-1]['audit_id']}"
        problems.append(
            AuditProblem(
                pending[0]["audit_id"],
                f"rows {ids} at the end carry no hash: written outside trialflow (or by a "
                "version before the chain); the next trialflow write seals them",
            )
        )
    for row in guard_rows:
        # The guard is only ever missing if someone dropped it: while it was off, rows of
        # those tables could be edited or deleted, so the event is a problem, not a note.
        try:
            tables = json.loads(row["details_json"] or "{}").get("tables") or ["?"]
        except (ValueError, AttributeError):
            tables = ["?"]
        problems.append(
            AuditProblem(
                row["audit_id"],
                f"the append-only guard of {', '.join(map(str, tables))} was found missing "
                f"and restored at {_canonical_value(row['at'])} UTC: it was dropped outside "
                "trialflow, and rows of those tables could have been changed while it was off",
            )
        )
    problems.extend(allocation_problems)
    return AuditVerification(
        rows=n, trial_rows=n_trial, head_hash=expected, problems=tuple(problems)
    )


def _check_allocations(conn: sa.Connection) -> list[AuditProblem]:
    """Compare every allocation row with the audit row written with it in the same transaction.

    The allocations table has its own append-only guard, but a guard can be dropped;
    the audit rows are hash-chained, so they are the reference.  Each allocation
    (trial, round, unit) must have exactly one ``allocated``/``enrolled`` audit row
    with the same arm, sequence and sequence position, and each such audit row must
    still have its allocation.
    """
    from flows.store import allocations, audit_log

    columns = ("arm", "sequence", "sequence_position")
    stored: dict[tuple, dict[str, Any]] = {}
    for row in conn.execute(
        sa.select(
            allocations.c.allocation_id,
            allocations.c.trial_id,
            allocations.c.round,
            allocations.c.unit_id,
            *(allocations.c[c] for c in columns),
        ).order_by(allocations.c.allocation_id)
    ).mappings():
        stored[(row["trial_id"], row["round"], row["unit_id"])] = dict(row)
    logged: dict[tuple, dict[str, Any]] = {}
    problems: list[AuditProblem] = []
    for row in conn.execute(
        sa.select(
            audit_log.c.audit_id,
            audit_log.c.trial_id,
            audit_log.c.event,
            audit_log.c.round,
            audit_log.c.unit_id,
            *(audit_log.c[c] for c in columns),
        )
        .where(audit_log.c.event.in_(ALLOCATION_EVENTS))
        .order_by(audit_log.c.audit_id)
    ).mappings():
        key = (row["trial_id"], row["round"], row["unit_id"])
        if key in logged:
            problems.append(
                AuditProblem(
                    row["audit_id"],
                    f"a second '{row['event']}' row for unit '{key[2]}' of trial '{key[0]}' "
                    f"round {key[1]} (the first is row {logged[key]['audit_id']})",
                )
            )
            continue
        logged[key] = dict(row)
    for key, audit in logged.items():
        trial, round_no, unit = key
        where = f"allocation of unit '{unit}' (trial '{trial}', round {round_no})"
        alloc = stored.get(key)
        if alloc is None:
            problems.append(
                AuditProblem(
                    audit["audit_id"],
                    f"audit row {audit['audit_id']} ('{audit['event']}', arm "
                    f"'{audit['arm']}') has no allocation row: it was deleted from the "
                    "allocations table",
                    subject=where,
                )
            )
            continue
        changed = [
            f"{c} '{alloc[c]}' where the audit log says '{audit[c]}'"
            for c in columns
            if _canonical_value(alloc[c]) != _canonical_value(audit[c])
        ]
        if changed:
            problems.append(
                AuditProblem(
                    audit["audit_id"],
                    f"allocation row {alloc['allocation_id']} has {'; '.join(changed)} "
                    f"(audit row {audit['audit_id']}): the allocation was edited",
                    subject=where,
                )
            )
    for key, alloc in stored.items():
        if key not in logged:
            trial, round_no, unit = key
            problems.append(
                AuditProblem(
                    None,
                    f"allocation row {alloc['allocation_id']} (arm '{alloc['arm']}', "
                    f"position {alloc['sequence_position']}) has no 'allocated' or "
                    "'enrolled' audit row: it was inserted outside trialflow, or its audit row "
                    "was deleted",
                    subject=f"allocation of unit '{unit}' (trial '{trial}', round {round_no})",
                )
            )
    return problems
