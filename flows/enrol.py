"""Late entrants: allocated one by one inside the store's lock, as they are written.

The initial randomisation allocates a whole roster in memory
(:func:`trial_designs.randomise.randomise`) and the store writes it
(:meth:`flows.store.Store.record_randomisation`).  A late entrant cannot be
allocated that way: their arm depends on the slots (or, under minimisation, the
arrival history) already taken, which another process may be taking at the same
moment.  So the next slot is read, allocated and written in one locked
transaction here; the enrol flow (:func:`flows.randomise.enrol_flow`) gives the
allocation rules.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from flows.audit import append_audit_rows
from flows.store import Store
from flows.store.randomisations import participant_row
from flows.store.schema import allocations, participant_pii, participants, trials
from flows.store.values import text_or_none, utc_now
from trial_designs.sections import MINIMISATION_FIELDS

__all__ = ["enrol_late_entrants"]


def enrol_late_entrants(
    store: Store,
    *,
    design,  # noqa: ANN001
    newcomers: pd.DataFrame,
    allocate_slot,  # noqa: ANN001
    algorithm_version: str,
    pii: pd.DataFrame | None = None,
    allocate_next=None,  # noqa: ANN001
) -> pd.DataFrame:
    """Allocate late entrants from their stratum's concealed sequence, in one transaction of ``store``.

    Under minimisation ``allocate_next(history, newcomer)`` gives the arm
    instead: ``history`` lists everyone allocated in the round, in arrival
    order (sequence position), with their organisation, building, team,
    role and arm, read inside the same locked transaction that writes the
    newcomer; the newcomer's position is the length of ``history``.

    ``allocate_slot(stratum, position, n_initial)`` returns the arm of a
    sequence position (a pure function of the design).  The next unused
    position of each stratum is read inside the locked transaction, so two
    processes never take the same slot, and the unique constraint makes a
    second allocation of the same unit impossible.

    Returns one row per newcomer: participant_id, unit_id, arm, status
    (``allocated``, ``joined cluster`` or ``already allocated``).
    """
    minimised = design.randomisation.method == "minimisation"
    covariate_cols = [c for c in design.roster.covariates if c in newcomers.columns]
    if minimised != (allocate_next is not None):
        raise ValueError(
            "enrol_late_entrants needs 'allocate_next' exactly when the design minimises: a "
            "minimised trial's late entrants are not taken from a block sequence. Got "
            f"method '{design.randomisation.method}' and allocate_next {allocate_next!r} instead."
        )
    now = utc_now()
    results = []
    with store.transaction(lock_trial=design.id) as conn:
        trial = (
            conn.execute(sa.select(trials).where(trials.c.trial_id == design.id)).mappings().first()
        )
        if trial is None:
            raise LookupError(
                f"Trial '{design.id}' has not been randomised yet; run `trialflow randomise` first."
            )
        from flows.integrity import design_mismatch

        # checked under the lock too: an amendment may land between the flow's check and here
        changed = design_mismatch(trial, design, stage="enrol")
        if changed is not None:
            raise changed
        round_no = trial["active_round"]
        current = pd.DataFrame(
            conn.execute(
                sa.select(
                    allocations.c.unit_id,
                    allocations.c.stratum,
                    allocations.c.arm,
                    allocations.c.sequence,
                ).where(allocations.c.trial_id == design.id, allocations.c.round == round_no)
            )
            .mappings()
            .all()
        )
        on_record = conn.execute(
            sa.select(participants.c.participant_id, participants.c.superseded_in_round).where(
                participants.c.trial_id == design.id
            )
        ).all()
        # people whose allocation a forced re-randomisation superseded are enrolled afresh
        known_people = {p for p, superseded in on_record if superseded is None}
        superseded_people = {p for p, superseded in on_record if superseded is not None}
        arm_of = dict(zip(current["unit_id"], current["arm"], strict=True))
        used = current.groupby(["stratum", "sequence"]).size().to_dict()
        history = _arrival_history(conn, design.id, round_no) if allocate_next else None
        new_rows = []
        audit_rows = []
        member_rows = []
        sequence = "blocks" if design.randomisation.method == "blocked" else "enrolment"
        for rec in newcomers.to_dict("records"):
            pid, unit, stratum = rec["participant_id"], rec["unit_id"], rec["stratum"]
            if pid in known_people:
                results.append(
                    {
                        "participant_id": pid,
                        "unit_id": unit,
                        "arm": arm_of.get(unit),
                        "status": "already allocated",
                    }
                )
                continue
            status = "joined cluster"
            if unit not in arm_of:
                # minimisation: one arrival order for the whole trial (the history's)
                position = len(history) if history is not None else used.get((stratum, sequence), 0)
                n_initial = None
                if history is None and sequence == "blocks":
                    # the initial randomisation shaped the block it ended in
                    n_initial = conn.execute(
                        sa.select(sa.func.count())
                        .select_from(allocations)
                        .join(
                            participants,
                            sa.and_(
                                participants.c.trial_id == allocations.c.trial_id,
                                participants.c.participant_id == allocations.c.unit_id,
                            ),
                        )
                        .where(
                            allocations.c.trial_id == design.id,
                            allocations.c.round == round_no,
                            allocations.c.stratum == stratum,
                            participants.c.enrolment == "initial",
                        )
                    ).scalar_one()
                if history is not None:
                    arm = allocate_next(history, rec)
                    history.append(
                        {**{f: text_or_none(rec.get(f)) for f in MINIMISATION_FIELDS}, "arm": arm}
                    )
                else:
                    arm = allocate_slot(stratum, position, n_initial)
                used[(stratum, sequence)] = position + 1
                arm_of[unit] = arm
                status = "allocated"
                new_rows.append(
                    {
                        "trial_id": design.id,
                        "round": round_no,
                        "unit_id": unit,
                        "unit_kind": "cluster" if design.unit == "cluster" else "participant",
                        "stratum": stratum,
                        "arm": arm,
                        "sequence": sequence,
                        "sequence_position": position,
                        "allocated_at": now,
                        "design_hash": design.design_hash,
                        "algorithm_version": algorithm_version,
                    }
                )
                audit_rows.append(
                    {
                        "trial_id": design.id,
                        "event": "enrolled",
                        "at": now,
                        "round": round_no,
                        "unit_id": unit,
                        "arm": arm,
                        "sequence": sequence,
                        "sequence_position": position,
                        "seed": design.randomisation.seed,
                        "design_hash": design.design_hash,
                        "algorithm_version": algorithm_version,
                    }
                )
            known_people.add(pid)
            member_rows.append(
                participant_row(
                    design,
                    rec,
                    participant_id=pid,
                    unit=unit,
                    stratum=stratum,
                    # the entrant's own learning cycle's (flows.randomise.place_entrants_task)
                    enrolment=rec.get("_enrolment") or "late",
                    # kept as a randomised cohort's are, so the analysis can adjust for them
                    covariate_cols=covariate_cols,
                    now=now,
                )
            )
            results.append(
                {"participant_id": pid, "unit_id": unit, "arm": arm_of[unit], "status": status}
            )
        if new_rows:
            conn.execute(allocations.insert(), new_rows)
            append_audit_rows(conn, audit_rows)
        if member_rows:
            returning = sorted(superseded_people & {r["participant_id"] for r in member_rows})
            for start in range(0, len(returning), 500):
                conn.execute(
                    participants.delete().where(
                        participants.c.trial_id == design.id,
                        participants.c.participant_id.in_(returning[start : start + 500]),
                    )
                )
            conn.execute(participants.insert(), member_rows)
            if pii is not None and len(pii):
                # late entrants' names go where the initial roster's went, for letters and the list
                added = {row["participant_id"] for row in member_rows}
                fresh = pii[pii["participant_id"].astype("str").isin(added)]
                if len(fresh) and returning:  # superseded people keep their PII row
                    conn.execute(
                        participant_pii.delete().where(
                            participant_pii.c.trial_id == design.id,
                            participant_pii.c.participant_id.in_(
                                sorted(set(returning) & set(fresh["participant_id"].astype("str")))
                            ),
                        )
                    )
                if len(fresh):
                    conn.execute(
                        participant_pii.insert(),
                        [
                            {"trial_id": design.id, **{k: text_or_none(v) for k, v in row.items()}}
                            for row in fresh.drop_duplicates("participant_id").to_dict("records")
                        ],
                    )
    return pd.DataFrame(results, columns=["participant_id", "unit_id", "arm", "status"])


def _arrival_history(conn: sa.Connection, trial_id: str, round_no: int) -> list[dict]:
    """Everyone allocated in a round, in arrival order, with the fields minimisation counts."""
    rows = conn.execute(
        sa.select(
            *[participants.c[f] for f in MINIMISATION_FIELDS],
            allocations.c.arm,
        )
        .select_from(
            allocations.join(
                participants,
                sa.and_(
                    participants.c.trial_id == allocations.c.trial_id,
                    participants.c.participant_id == allocations.c.unit_id,
                ),
            )
        )
        .where(allocations.c.trial_id == trial_id, allocations.c.round == round_no)
        .order_by(allocations.c.sequence_position, allocations.c.allocation_id)
    ).mappings()
    return [dict(row) for row in rows]
