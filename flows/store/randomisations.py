"""The store's record of a randomisation: one round's allocations, its people and its audit.

A forced re-randomisation starts a new round and keeps everyone already on
record; the design it runs under may change only fields an amendment could not
record (:func:`forced_design_changes`).  Late entrants are not written here but
by :func:`flows.enrol.enrol_late_entrants`, which allocates them as it writes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain, islice, repeat

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from flows.audit import append_audit_rows
from flows.store.bulk import INSERT_CHUNK_ROWS, insert_tuples, row_values
from flows.store.schema import allocations, design_documents, participant_pii, participants, trials
from flows.store.values import is_present, json_scalar, text_or_none, utc_now

__all__ = [
    "AlreadyRandomisedError",
    "ForcedDesignChangeError",
    "RandomisationRecords",
    "forced_design_changes",
    "participant_row",
]


class AlreadyRandomisedError(RuntimeError):
    """A trial that has allocations already; re-randomising needs force and a reason."""


class ForcedDesignChangeError(AlreadyRandomisedError):
    """A forced re-randomisation under a design that changes fields an amendment should record."""


def forced_design_changes(stored_json: str, design) -> tuple[list, list]:  # noqa: ANN001
    """What a forced re-randomisation under ``design`` changes, split by how it must be recorded.

    Returns ``(changes, amendable)``: every field that differs from the stored
    design document, and those of them an amendment could record (wording,
    costs, future dates: anything :func:`allocation_changes` does not refuse).
    """
    from trial_designs.design_diff import allocation_changes, design_diff

    before, after = json.loads(stored_json), json.loads(design.canonical_json())
    changes = design_diff(before, after)
    fixed = {
        c.path
        for c, _why in allocation_changes(
            changes, today=dt.datetime.now(dt.UTC).date(), old=before, new=after
        )
    }
    return changes, [c for c in changes if c.path not in fixed]


class RandomisationRecords:
    """The :class:`~flows.store.Store` methods that write and count a randomisation's rounds.

    A part of :class:`~flows.store.Store` (which provides ``transaction``,
    ``insert_new`` and ``engine``), kept apart because a round's write is one
    idea of its own.
    """

    def record_randomisation(
        self,
        *,
        design,  # noqa: ANN001 - TrialDesign; typed loosely to keep flows/ free of import cycles
        allocation,  # noqa: ANN001 - trial_designs.randomise.Allocation
        roster: pd.DataFrame,
        pii: pd.DataFrame | None = None,
        force_reason: str | None = None,
    ) -> int:
        """Store a randomisation in one transaction; returns its round number.

        Raises
        ------
        AlreadyRandomisedError
            If the trial already has allocations and no ``force_reason`` is given.
        """
        now = utc_now()
        # bulk: a national roster writes millions of index entries in this one transaction;
        # SQLite's default 2 MB page cache spilled the B-trees' inner pages at every touch
        with self.transaction(lock_trial=design.id, bulk=True) as conn:
            existing = (
                conn.execute(sa.select(trials).where(trials.c.trial_id == design.id))
                .mappings()
                .first()
            )
            round_no = 1
            if existing is not None:
                n_alloc = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(allocations)
                    .where(
                        allocations.c.trial_id == design.id,
                        allocations.c.round == existing["active_round"],
                    )
                ).scalar_one()
                if n_alloc and not force_reason:
                    raise AlreadyRandomisedError(
                        f"Trial '{design.id}' was already randomised ({n_alloc} units in round "
                        f"{existing['active_round']}, design {existing['design_hash'][:12]}). Refusing to "
                        'randomise again. To override, run with --force --reason "..."; the old '
                        "allocations are kept and the override is logged."
                    )
                design_changes: list = []
                if existing["design_hash"] != design.design_hash:
                    design_changes, amendable = forced_design_changes(
                        existing["design_json"], design
                    )
                    if amendable and force_reason:
                        # Wording, costs and future dates have their own record (the
                        # amendments table); a re-randomisation would change them silently.
                        lines = "\n".join(f"  {c.line()}" for c in amendable)
                        raise ForcedDesignChangeError(
                            f"Trial '{design.id}' runs under design "
                            f"{existing['design_hash'][:12]}; the design given "
                            f"({design.design_hash[:12]}) also changes fields an amendment "
                            f"records:\n{lines}\nRecord them first with `trialflow amend "
                            f'{design.id} --design <file> --reason "..."`, then re-randomise. '
                            "Nothing was stored."
                        )
                round_no = existing["active_round"] + (1 if n_alloc else 0)
                # keep the document of the design being replaced, so it can still be diffed
                self.insert_new(
                    conn,
                    design_documents,
                    [
                        {
                            "trial_id": design.id,
                            "design_hash": existing["design_hash"],
                            "design_json": existing["design_json"],
                            "recorded_at": now,
                        }
                    ],
                )
                conn.execute(
                    trials.update()
                    .where(trials.c.trial_id == design.id)
                    .values(
                        active_round=round_no,
                        design_hash=design.design_hash,
                        design_json=design.canonical_json(),
                        title=design.title,
                    )
                )
                self._supersede(conn, design.id, roster, allocation, pii, round_no)
            else:
                conn.execute(
                    trials.insert().values(
                        trial_id=design.id,
                        title=design.title,
                        design_hash=design.design_hash,
                        design_json=design.canonical_json(),
                        active_round=1,
                        created_at=now,
                    )
                )
            self.insert_new(
                conn,
                design_documents,
                [
                    {
                        "trial_id": design.id,
                        "design_hash": design.design_hash,
                        "design_json": design.canonical_json(),
                        "recorded_at": now,
                    }
                ],
            )
            sequence = "blocks" if design.randomisation.method == "blocked" else "initial"
            details = {
                "method": allocation.method,
                "n_units": len(allocation.units),
                "balance_score": allocation.balance_score,
                "n_candidates": allocation.n_candidates,
                "n_accepted": allocation.n_accepted,
            }
            if force_reason:
                details["forced"] = True
                details["reason"] = force_reason
            if existing is not None and existing["design_hash"] != design.design_hash:
                # the allocation fields an amendment may not change: this row is their record
                details["previous_design_hash"] = existing["design_hash"]
                details["design_changes"] = [c.line() for c in design_changes]
            self.insert_cohort(
                conn,
                design,
                allocation,
                roster,
                pii,
                round_no=round_no,
                sequence=sequence,
                enrolment="initial",
                seed=design.randomisation.seed,
                now=now,
                event="re-randomised" if force_reason else "randomised",
                reason=force_reason,
                details=details,
            )
        return round_no

    @staticmethod
    def insert_cohort(
        conn: sa.Connection,
        design,  # noqa: ANN001 - TrialDesign (trial_designs is imported by callers)
        allocation,  # noqa: ANN001 - trial_designs' Allocation
        roster: pd.DataFrame,
        pii: pd.DataFrame | None,
        *,
        round_no: int,
        sequence: str,
        enrolment: str,
        seed: int,
        now: dt.datetime,
        event: str,
        reason: str | None,
        details: dict,
    ) -> None:
        """A randomised cohort's allocations, participants, PII and audit rows, inside ``conn``.

        The trial's own randomisation and each later learning cycle store a cohort
        the same way; only the sequence label (``initial``/``blocks`` or
        ``cycle<N>``), the enrolment label, the seed and the ``randomised``
        row's event, reason and details differ.
        """
        units = allocation.units
        # the design's hash is a property that serialises the whole design: computed once
        # here, not once per row (at 1.3M rows that alone took minutes)
        design_hash = design.design_hash
        unit_kind = "cluster" if design.unit == "cluster" else "participant"
        # every table's rows are built and written a chunk at a time: a national roster's
        # 1.3M rows as dicts (allocations, participants, PII, audit) took 3.3 GB at once
        unit_ids, strata, arms, positions = (
            _column(units, c) for c in ("unit_id", "stratum", "arm", "sequence_position")
        )
        insert_tuples(
            conn,
            allocations,
            [
                "trial_id",
                "round",
                "unit_id",
                "unit_kind",
                "stratum",
                "arm",
                "sequence",
                "sequence_position",
                "allocated_at",
                "design_hash",
                "algorithm_version",
            ],
            zip(
                repeat(design.id),
                repeat(round_no),
                unit_ids(),
                repeat(unit_kind),
                strata(),
                arms(),
                repeat(sequence),
                positions(),
                repeat(now),
                repeat(design_hash),
                repeat(allocation.algorithm_version),
            ),
        )
        RandomisationRecords._insert_participants(conn, design, roster, allocation, enrolment, now)
        if pii is not None and len(pii):
            pii_columns = ["trial_id", *pii.columns]
            insert_tuples(
                conn,
                participant_pii,
                pii_columns,
                ([design.id, *(row[c] for c in pii_columns[1:])] for row in _records(pii)),
            )
        common = {
            "trial_id": design.id,
            "at": now,
            "round": round_no,
            "seed": seed,
            "design_hash": design_hash,
            "algorithm_version": allocation.algorithm_version,
        }
        append_audit_rows(
            conn,
            [{**common, "event": event, "reason": reason, "details_json": json.dumps(details)}],
        )
        allocated = (
            {
                **common,
                "event": "allocated",
                "unit_id": u,
                "arm": a,
                "sequence": sequence,
                "sequence_position": p,
            }
            for u, a, p in zip(unit_ids(), arms(), positions(), strict=True)
        )
        # a chunk per call: each call chains onto the row the one before appended (same
        # transaction), so the rows and their hashes are those of a single call
        while chunk := list(islice(allocated, INSERT_CHUNK_ROWS)):
            append_audit_rows(conn, chunk)

    @staticmethod
    def _supersede(conn, trial_id, roster, allocation, pii, round_no) -> None:  # noqa: ANN001
        """Make room for a new round without losing anyone already on record.

        People in the new roster are replaced by their new rows (and new PII, if
        given).  Everyone else (late entrants of an earlier round, people dropped
        from the roster) stays, with their PII; if their unit is not in the new
        round, ``superseded_in_round`` says their allocation belongs to an older
        round.  Before, every participant and PII row of the trial was deleted.
        """
        new_people = set(roster["id"].astype("str"))
        new_units = set(allocation.units["unit_id"].astype("str"))
        on_record = conn.execute(
            sa.select(participants.c.participant_id, participants.c.unit_id).where(
                participants.c.trial_id == trial_id
            )
        ).all()
        replaced = [p for p, _u in on_record if p in new_people]
        left_out = [p for p, u in on_record if p not in new_people and u not in new_units]
        new_pii = (
            set(pii["participant_id"].astype("str")) if pii is not None and len(pii) else set()
        )
        for start in range(0, max(len(replaced), len(left_out), len(new_pii)), 500):
            chunk = replaced[start : start + 500]
            if chunk:
                conn.execute(
                    participants.delete().where(
                        participants.c.trial_id == trial_id,
                        participants.c.participant_id.in_(chunk),
                    )
                )
            chunk = sorted(new_pii)[start : start + 500]
            if chunk:
                conn.execute(
                    participant_pii.delete().where(
                        participant_pii.c.trial_id == trial_id,
                        participant_pii.c.participant_id.in_(chunk),
                    )
                )
            chunk = left_out[start : start + 500]
            if chunk:
                conn.execute(
                    participants.update()
                    .where(
                        participants.c.trial_id == trial_id,
                        participants.c.participant_id.in_(chunk),
                        participants.c.superseded_in_round.is_(None),
                    )
                    .values(superseded_in_round=round_no)
                )

    @staticmethod
    def _insert_participants(conn, design, roster, allocation, enrolment, now) -> None:  # noqa: ANN001
        # ids, units and strata as Arrow arrays (a few bytes a row), made Python objects a
        # chunk at a time: as two dicts of 1.3M entries they took hundreds of MB
        ids = pa.chunked_array(
            [
                pa.array([str(x) for x in roster["id"].iloc[start:stop].tolist()], pa.string())
                for start, stop in _chunks(len(roster))
            ],
            pa.string(),
        )
        unit_of = _lookup(allocation.members, "participant_id", "unit_id", ids)
        stratum_of = _lookup(allocation.units, "unit_id", "stratum", unit_of)
        covariate_cols = [c for c in design.roster.covariates if c in roster.columns]
        rows = (
            participant_row(
                design,
                rec,
                participant_id=pid,
                unit=unit,
                stratum=stratum,
                enrolment=enrolment,
                covariate_cols=covariate_cols,
                now=now,
            )
            for rec, pid, unit, stratum in zip(
                _records(roster), _python(ids), _python(unit_of), _python(stratum_of), strict=True
            )
        )
        first = next(rows, None)
        if first is None:
            return
        columns = list(first)  # participant_row's keys: the one shape of a participants row
        insert_tuples(
            conn,
            participants,
            columns,
            map(row_values(columns), chain([first], rows)),
        )

    def allocation_list(
        self, trial_id: str, *, chunk_rows: int = INSERT_CHUNK_ROWS
    ) -> Iterator[pd.DataFrame]:
        """The coordinator's allocation list, ``chunk_rows`` rows at a time.

        Each participant of the active round, by id, with their organisation,
        building, team, role, unit, arm and enrolment, then their PII columns
        if the trial has any PII: the rows and columns of
        :meth:`~flows.store.Store.participant_arms` left-joined to
        :meth:`~flows.store.Store.pii`, read as a stream (1.3M rows as one
        frame, and its merged and neutralised copies, took 1.5 GB).  The first
        frame may be empty, so the columns are always there.
        """
        listed = [
            participants.c.participant_id,
            participants.c.organisation,
            participants.c.building,
            participants.c.team,
            participants.c.role,
            participants.c.unit_id,
            allocations.c.arm,
            participants.c.enrolment,
        ]
        trial = self.trial(trial_id)
        with self.engine.connect() as conn:
            any_pii = conn.execute(
                sa.select(participant_pii.c.participant_id)
                .where(participant_pii.c.trial_id == trial_id)
                .limit(1)
            ).first()
            if any_pii is not None:
                own = ("trial_id", "participant_id")
                listed += [c for c in participant_pii.columns if c.name not in own]
            names = [c.name for c in listed]
            if trial is None:
                yield pd.DataFrame(columns=names)
                return
            joined = participants.join(
                allocations,
                sa.and_(
                    allocations.c.trial_id == participants.c.trial_id,
                    allocations.c.unit_id == participants.c.unit_id,
                    allocations.c.round == trial["active_round"],
                ),
            )
            if any_pii is not None:
                joined = joined.outerjoin(
                    participant_pii,
                    sa.and_(
                        participant_pii.c.trial_id == participants.c.trial_id,
                        participant_pii.c.participant_id == participants.c.participant_id,
                    ),
                )
            result = conn.execution_options(yield_per=chunk_rows).execute(
                sa.select(*listed)
                .select_from(joined)
                .where(participants.c.trial_id == trial_id)
                .order_by(participants.c.participant_id)
            )
            empty = True
            for part in result.partitions():
                empty = False
                yield pd.DataFrame([tuple(row) for row in part], columns=names)
            if empty:
                yield pd.DataFrame(columns=names)

    def superseded(self, trial_id: str, round_no: int) -> int:
        """How many participants a forced re-randomisation into ``round_no`` left superseded."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(participants)
                .where(
                    participants.c.trial_id == trial_id,
                    participants.c.superseded_in_round == round_no,
                )
            ).scalar_one()


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of each chunk of :data:`INSERT_CHUNK_ROWS` of ``n`` rows."""
    for start in range(0, n, INSERT_CHUNK_ROWS):
        yield start, min(start + INSERT_CHUNK_ROWS, n)


def _column(frame: pd.DataFrame, name: str) -> Callable[[], Iterator]:
    """A fresh iterator over a column's values as Python objects, a chunk at a time."""

    def values() -> Iterator:
        for start, stop in _chunks(len(frame)):
            yield from frame[name].iloc[start:stop].tolist()

    return values


def _records(frame: pd.DataFrame) -> Iterator[dict]:
    """``frame.to_dict("records")``, a chunk at a time (the same dicts, never all at once)."""
    for start, stop in _chunks(len(frame)):
        yield from frame.iloc[start:stop].to_dict("records")


def _lookup(frame: pd.DataFrame, key: str, value: str, keys: pa.ChunkedArray) -> pa.ChunkedArray:
    """``frame``'s ``value`` for each of ``keys`` by its ``key`` column, as a dict of the two
    columns gives it (the last row of a repeated key wins; a key not there is a KeyError)."""
    # index_in finds a key's first row: in the reversed column that is the last row
    stored = pa.array(frame[key].astype("str"))[::-1]
    at = pc.index_in(keys, value_set=stored)
    if at.null_count:
        raise KeyError(keys.filter(pc.is_null(at))[0].as_py())
    return pc.take(pa.array(frame[value]), pc.subtract(len(stored) - 1, at))


def _python(values: pa.ChunkedArray) -> Iterator:
    """An Arrow array's values as Python objects, a chunk at a time."""
    for start, stop in _chunks(len(values)):
        yield from values.slice(start, stop - start).to_pylist()


def participant_row(
    design,  # noqa: ANN001 - TrialDesign, typed loosely as elsewhere in this module
    record: Mapping,
    *,
    participant_id: str,
    unit: str,
    stratum: str,
    enrolment: str,
    covariate_cols: Sequence[str],
    now: dt.datetime,
) -> dict:
    """One ``participants`` row from a roster record: the one shape both a randomisation's
    cohort and a late entrant are stored in (``covariates_json`` null without covariates)."""
    start = record.get("start_date")
    return {
        "trial_id": design.id,
        "participant_id": participant_id,
        "organisation": text_or_none(record.get("organisation")),
        "building": text_or_none(record.get("building")),
        "team": text_or_none(record.get("team")),
        "role": text_or_none(record.get("role")),
        "start_date": pd.Timestamp(start).date() if is_present(start) else None,
        "stratum": stratum,
        "unit_id": unit,
        "enrolment": enrolment,
        "covariates_json": json.dumps({c: json_scalar(record.get(c)) for c in covariate_cols})
        if covariate_cols
        else None,
        "enrolled_at": now,
    }
