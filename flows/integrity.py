"""The design lock: a trial runs under the design it was randomised under, or an amendment of it.

Every stage that writes calls :func:`require_current_design` after loading the
design.  A design whose hash differs from the trial's stored one is refused
with the changed fields listed; a deliberate change goes through
:func:`amend_flow` (``trialflow amend``), which refuses anything that
determines the allocation sequence (see
:data:`trial_designs.design_diff.ALLOCATION_FIELDS`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from prefect import flow, get_run_logger

from flows.audit import current_actor, record_audit_event
from flows.store import Store, amendments, design_documents, ingested_files, trials
from flows.tasks import load_design_task
from trial_designs.design import DesignError, TrialDesign
from trial_designs.design_diff import (
    allocation_changes,
    analysis_plan_changes,
    design_diff,
    format_changes,
)

__all__ = [
    "AmendmentRefusedError",
    "DesignChangedError",
    "amend_design",
    "amend_flow",
    "amendment_records",
    "design_mismatch",
    "require_current_design",
    "require_results_design",
]


class DesignChangedError(DesignError):
    """The design loaded is not the one the trial was randomised under (or last amended to)."""


class AmendmentRefusedError(DesignError):
    """An amendment that would change past allocations, or that has nothing to amend."""


def design_mismatch(
    trial_row: Mapping[str, Any], design: TrialDesign, *, stage: str
) -> DesignChangedError | None:
    """The error to raise if ``design`` is not the trial's current design, else None."""
    if trial_row["design_hash"] == design.design_hash:
        return None
    changes = design_diff(json.loads(trial_row["design_json"]), json.loads(design.canonical_json()))
    listed = format_changes(changes) if changes else "  (no field differs: the hash rule changed)"
    return DesignChangedError(
        f"The design of trial '{design.id}' differs from the one it runs under "
        f"(stored {trial_row['design_hash'][:12]}, loaded {design.design_hash[:12]}). "
        f"Refusing to {stage}. Changed fields:\n{listed}\n"
        f"Run with the trial's design, or record a deliberate change first with "
        f'`trialflow amend {design.id} --design <file> --reason "..."` '
        "(changes to the seed, arms, strata, clusters or method cannot be amended)."
    )


def require_current_design(design: TrialDesign, *, stage: str, store: Store | None = None) -> None:
    """Refuse to ``stage`` under a design other than the trial's stored one.

    A trial not yet in the store passes: there is nothing to compare with, and
    the stage itself says the trial must be randomised first.

    Raises
    ------
    DesignChangedError
        Naming each changed field as ``path: old -> new``.
    """
    row = (store or Store()).trial(design.id)
    if row is None:
        return
    error = design_mismatch(row, design, stage=stage)
    if error is not None:
        raise error


def require_results_design(
    trial_id: str, design_hash: str | None, *, stage: str, store: Store | None = None
) -> None:
    """Refuse to ``stage`` from results computed under a design other than the trial's current one.

    A results file for a trial not in the store (a foreign dataset) passes.

    Raises
    ------
    DesignChangedError
        With the changed fields when the store knows the results' design.
    """
    store = store or Store()
    row = store.trial(trial_id)
    if row is None or design_hash is None or row["design_hash"] == design_hash:
        return
    with store.engine.connect() as conn:
        document = conn.execute(
            sa.select(design_documents.c.design_json).where(
                design_documents.c.trial_id == trial_id,
                design_documents.c.design_hash == design_hash,
            )
        ).scalar_one_or_none()
    listed = ""
    if document is not None:
        changes = design_diff(json.loads(document), json.loads(row["design_json"]))
        listed = f" Changed fields since:\n{format_changes(changes)}\n"
    raise DesignChangedError(
        f"The results of trial '{trial_id}' were computed under design {design_hash[:12]}, but "
        f"the trial now runs under {row['design_hash'][:12]} (amended or re-randomised). "
        f"Refusing to {stage}.{listed} Run `trialflow analyse {trial_id}` again first."
    )


#: Ingests that bring outcome data (the delivery log is process data, not outcomes).
_OUTCOME_KINDS = ("survey", "hr")


def _first_outcomes_at(conn: sa.Connection, trial_id: str) -> dt.datetime | None:
    """When the trial's first outcome rows were stored (a survey or HR file), or None."""
    return conn.execute(
        sa.select(sa.func.min(ingested_files.c.ingested_at)).where(
            ingested_files.c.trial_id == trial_id,
            ingested_files.c.kind.in_(_OUTCOME_KINDS),
            ingested_files.c.rows_stored > 0,
        )
    ).scalar_one_or_none()


def amendment_records(store: Store, trial_id: str) -> list[dict[str, Any]]:
    """Every recorded amendment of ``trial_id``, oldest first, as results.json's ``amendments``.

    Each has when, who, the reason, the hashes, the field diff, the part of it
    that changes the analysis plan
    (:func:`trial_designs.design_diff.analysis_plan_changes`, from the two
    stored design documents) and whether outcome data (a survey or HR file
    with stored rows) were already stored when it was recorded.
    """
    with store.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(amendments)
                .where(amendments.c.trial_id == trial_id)
                .order_by(amendments.c.at, amendments.c.amendment_id)
            )
            .mappings()
            .all()
        )
        if not rows:
            return []
        documents = dict(
            conn.execute(
                sa.select(design_documents.c.design_hash, design_documents.c.design_json).where(
                    design_documents.c.trial_id == trial_id
                )
            ).all()
        )
        first_outcomes = _first_outcomes_at(conn, trial_id)
    records = []
    for row in rows:
        old, new = documents.get(row["old_hash"]), documents.get(row["new_hash"])
        plan = (
            [c.line() for c in analysis_plan_changes(design_diff(json.loads(old), json.loads(new)))]
            if old is not None and new is not None
            else []
        )
        records.append(
            {
                "recorded_at": row["at"].isoformat(timespec="seconds"),
                "who": row["claimed_user"] or row["who"],
                "reason": row["reason"],
                "old_hash": row["old_hash"],
                "new_hash": row["new_hash"],
                "changes": json.loads(row["changes_json"]),
                "analysis_changes": plan,
                "outcome_data_stored": first_outcomes is not None and first_outcomes <= row["at"],
            }
        )
    return records


def amend_design(
    design: TrialDesign,
    *,
    reason: str | None,
    store: Store | None = None,
    today: dt.date | None = None,
    after_outcomes: bool = False,
) -> dict[str, Any]:
    """Make ``design`` the trial's current design, if the change leaves allocations alone.

    Records the old and new hash, the changes, who and when in the
    ``amendments`` table and the audit log, in one transaction.  A change to
    the analysis plan (:func:`trial_designs.design_diff.analysis_plan_changes`)
    once outcome data are stored needs ``after_outcomes=True``
    (``--after-outcomes``): it is then a post hoc change, and results.json and
    the report say so.

    Raises
    ------
    AmendmentRefusedError
        No reason given, no change, a change to a field that determines the
        allocation sequence (each such field listed with the rule), or an
        analysis-plan change after outcome data were stored without
        ``after_outcomes``.
    LookupError
        The trial is not in the store.
    """
    if not (reason and reason.strip()):
        raise AmendmentRefusedError(
            'An amendment needs a reason (--reason "..."): it goes into the audit log. '
            "Got an empty reason instead."
        )
    store = store or Store()
    today = today or dt.datetime.now(dt.UTC).date()
    try:
        return _amend(
            design, reason=reason, store=store, today=today, after_outcomes=after_outcomes
        )
    except _AuditedRefusal as refusal:
        # The amendment's transaction rolled back; the attempt itself is kept, in its own.
        record_audit_event(
            store,
            design.id,
            "design-amendment-refused",
            {
                "rule": refusal.rule,
                "new_hash": design.design_hash,
                "changes": refusal.changes,
            },
            reason=reason,
            design_hash=design.design_hash,
        )
        raise


class _AuditedRefusal(AmendmentRefusedError):
    """A refusal of a real change (not of an empty one): the attempt goes into the audit log."""

    def __init__(self, rule: str, changes: list[str], message: str) -> None:
        super().__init__(message)
        self.rule, self.changes = rule, changes


def _amend(
    design: TrialDesign,
    *,
    reason: str,
    store: Store,
    today: dt.date,
    after_outcomes: bool,
) -> dict[str, Any]:
    actor = current_actor()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with store.transaction(lock_trial=design.id) as conn:
        row = (
            conn.execute(sa.select(trials).where(trials.c.trial_id == design.id)).mappings().first()
        )
        if row is None:
            raise LookupError(
                f"Trial '{design.id}' is not in the store: there is nothing to amend. "
                "Randomise it first (`trialflow randomise`)."
            )
        if row["design_hash"] == design.design_hash:
            raise AmendmentRefusedError(
                f"The design given is already trial '{design.id}''s current design "
                f"({design.design_hash[:12]}): nothing to amend."
            )
        before, after = json.loads(row["design_json"]), json.loads(design.canonical_json())
        changes = design_diff(before, after)
        refused = allocation_changes(changes, today=today, old=before, new=after)
        if refused:
            lines = "\n".join(f"  {c.line()}  ({why})" for c, why in refused)
            raise _AuditedRefusal(
                "changes how units were allocated, or a date that has passed",
                [c.line() for c, _ in refused],
                f"Amendment of trial '{design.id}' refused: it would change how units were "
                f"allocated, or a date that has passed.\n{lines}\n"
                "Allocations already made cannot be re-decided by an amendment; a new "
                'allocation needs `trialflow randomise --force --reason "..."` (a new round).',
            )
        plan = analysis_plan_changes(changes)
        if plan and not after_outcomes and _first_outcomes_at(conn, design.id) is not None:
            lines = "\n".join(f"  {c.line()}" for c in plan)
            raise _AuditedRefusal(
                "analysis plan changed after outcome data were stored",
                [c.line() for c in plan],
                f"Amendment of trial '{design.id}' refused: it changes the analysis plan after "
                f"outcome data were stored, so the change could be chosen from the results.\n"
                f"{lines}\nIf it must be made, run again with --after-outcomes: the results "
                "and the report's headline will say the plan changed after outcome data were "
                "collected. The attempt is in the audit log; nothing else was stored.",
            )
        old_hash, new_hash = row["design_hash"], design.design_hash
        for digest, document in (
            (old_hash, row["design_json"]),
            (new_hash, design.canonical_json()),
        ):
            store.insert_new(
                conn,
                design_documents,
                [
                    {
                        "trial_id": design.id,
                        "design_hash": digest,
                        "design_json": document,
                        "recorded_at": now,
                    }
                ],
            )
        conn.execute(
            trials.update()
            .where(trials.c.trial_id == design.id)
            .values(design_hash=new_hash, design_json=design.canonical_json(), title=design.title)
        )
        change_lines = [c.line() for c in changes]
        conn.execute(
            amendments.insert().values(
                trial_id=design.id,
                old_hash=old_hash,
                new_hash=new_hash,
                changes_json=json.dumps(change_lines),
                reason=reason,
                who=actor.os_user,
                host=actor.host,
                claimed_user=actor.claimed_user,
                at=now,
            )
        )
        record_audit_event(
            conn,
            design.id,
            "design-amended",
            {"old_hash": old_hash, "new_hash": new_hash, "changes": change_lines},
            reason=reason,
            design_hash=new_hash,
        )
    return {
        "trial": design.id,
        "old_hash": old_hash,
        "new_hash": new_hash,
        "changes": change_lines,
        "who": actor.os_user,
        "at": now.isoformat(timespec="seconds"),
    }


@flow(name="amend", log_prints=True)
def amend_flow(
    trial: str, design: str, reason: str | None, after_outcomes: bool = False
) -> dict[str, Any]:
    """Record a deliberate design change for ``trial`` (refused if it touches allocations)."""
    loaded = load_design_task(design)
    if loaded.id != trial:
        raise AmendmentRefusedError(
            f"The design file is for trial '{loaded.id}', not '{trial}'. "
            f"Got id '{loaded.id}' instead."
        )
    result = amend_design(loaded, reason=reason, after_outcomes=after_outcomes)
    get_run_logger().info(
        "%s amended: %s -> %s, %d field(s) changed",
        trial,
        result["old_hash"][:12],
        result["new_hash"][:12],
        len(result["changes"]),
    )
    return result
