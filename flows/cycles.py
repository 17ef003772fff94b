"""Randomising a learning cycle: a new cohort, under the trial's design, with the cycle's seed.

A cycle's roster is the staff list of the day (``trialflow randomise TRIAL
--cycle 2 --roster staff.csv``): whoever an earlier cycle randomised keeps that
allocation and is skipped with a message naming them, since an HR export
always lists the staff already in the trial; the rest are randomised with the
design's own method and the cycle's seed, and stored in the trial's active
round as ``cycle<N>`` (the allocations' sequence and the participants'
enrolment), so every later stage reads a person's cycle from the store and
outcome files need no cycle column.  A cycle with no one new, a cycle already
randomised, or a cycle before its predecessor is refused, and nothing is
stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.audit import file_sha256, record_audit_event
from flows.integrity import require_current_design
from flows.randomise import check_roster_task, read_roster, write_coordinator_list
from flows.status import STAGE_HOOKS
from flows.store import Store
from flows.store.randomisations import RandomisationRecords
from flows.store.schema import allocations
from flows.store.values import utc_now
from flows.tasks import IO_RETRIES, load_design_task
from trial_designs.cycles import cycle_of_enrolment, cycle_seed
from trial_designs.design import TrialDesign
from trial_designs.randomise import Allocation, randomise

__all__ = ["CycleError", "cycle_randomise_flow", "cycle_records", "skipped_message"]


class CycleError(ValueError):
    """A cycle that cannot be randomised (undeclared, done already, nobody new); nothing is stored."""


def skipped_message(file_name: str, earlier: pd.DataFrame, design: TrialDesign) -> str:
    """The sentence naming the roster's people an earlier cycle randomised (``id``, ``cycle``)."""
    ids = sorted(earlier["id"].astype(str))
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    cycles = ", ".join(
        f"{n} in cycle {c} ({design.cycles[c - 1].name})"
        for c, n in sorted(earlier["cycle"].value_counts().items())
    )
    return (
        f"{len(ids)} participant(s) in {file_name} were randomised in an earlier cycle "
        f"({cycles}): they keep that allocation and are skipped: {shown}."
    )


def _check_cycle_number(design: TrialDesign, cycle: int) -> None:
    later = [f"{n} ({c.name})" for n, c in enumerate(design.cycles, start=1) if n > 1]
    if not design.cycles:
        raise CycleError(
            f"Trial '{design.id}' declares no learning cycles, so there is no cycle {cycle} to "
            "randomise. Declare them under 'cycles' in the design (an amendment). "
            f"Got --cycle {cycle} instead."
        )
    if cycle == 1:
        raise CycleError(
            f"Cycle 1 ({design.cycles[0].name}) is the trial's own randomisation: run "
            f"`trialflow randomise {design.id} --roster ...` without --cycle. --cycle takes one "
            f"of: {', '.join(later)}. Got --cycle 1 instead."
        )
    if not 2 <= cycle <= len(design.cycles):
        raise CycleError(
            f"Trial '{design.id}' declares {len(design.cycles)} cycles, so --cycle takes one of: "
            f"{', '.join(later)}. Got --cycle {cycle} instead."
        )


@task(name="split roster by cycle", cache_policy=NO_CACHE)
def split_roster(
    table: pd.DataFrame, design: TrialDesign, cycle: int, file_name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The roster's people not yet randomised, and those an earlier cycle randomised (with it).

    Raises
    ------
    CycleError
        If the trial is not randomised, the cycle (or a later one) is, the
        cycle before it is not, or no one in the roster is new.
    """
    store = Store()
    if store.trial(design.id) is None:
        raise CycleError(
            f"Trial '{design.id}' is not randomised yet, so it has no cycle 1 for cycle {cycle} "
            f"to follow. Run `trialflow randomise {design.id} --roster ...` first. "
            f"Got --cycle {cycle} instead."
        )
    people = store.participant_arms(design.id)
    done = cycle_of_enrolment(people["enrolment"]) if len(people) else pd.Series(dtype=int)
    if (done >= cycle).any():
        raise CycleError(
            f"Cycle {cycle} ({design.cycles[cycle - 1].name}) of trial '{design.id}' is already "
            f"randomised ({int((done >= cycle).sum())} participants in cycle {cycle} or later); "
            "a cycle is randomised once. Nothing was stored. "
            f"Got --cycle {cycle} instead."
        )
    if cycle > 2 and not (done == cycle - 1).any():
        raise CycleError(
            f"Cycle {cycle - 1} ({design.cycles[cycle - 2].name}) of trial '{design.id}' is not "
            f"randomised yet, and cycles run in order. Randomise --cycle {cycle - 1} first. "
            f"Got --cycle {cycle} instead."
        )
    cycle_of = dict(zip(people["participant_id"].astype(str), done, strict=True))
    ids = table["id"].astype(str)
    earlier = ids.isin(cycle_of)
    new, old = table[~earlier], table[earlier].assign(cycle=ids[earlier].map(cycle_of))
    if new.empty:
        raise CycleError(
            f"Cycle {cycle} ({design.cycles[cycle - 1].name}) of trial '{design.id}' has no one "
            f"to randomise: all {len(table)} participant(s) in {file_name} were randomised in an "
            "earlier cycle. Nothing was stored. Give the roster of the cycle's new starters "
            "and staff not yet randomised. Got 0 new participants instead."
        )
    return new, old


@task(name="allocate cycle", cache_policy=NO_CACHE)
def allocate_cycle(roster: pd.DataFrame, design: TrialDesign, cycle: int) -> Allocation:
    """The design's own randomisation of the cohort, with the cycle's seed."""
    seed = cycle_seed(design.cycles, cycle, design.randomisation.seed)
    seeded = design.model_copy(
        update={"randomisation": design.randomisation.model_copy(update={"seed": seed})}
    )
    return randomise(roster, seeded)


@task(name="store cycle", cache_policy=NO_CACHE, **IO_RETRIES)
def store_cycle(
    design: TrialDesign,
    cycle: int,
    allocation: Allocation,
    roster: pd.DataFrame,
    pii: pd.DataFrame,
    skipped: int,
) -> int:
    """The cohort's allocations, people and audit rows in the active round, in one transaction."""
    store, now, label = Store(), utc_now(), f"cycle{cycle}"
    trial = store.trial(design.id)
    round_no = int(trial["active_round"])
    with store.transaction(lock_trial=design.id) as conn:
        taken = conn.execute(
            sa.select(sa.func.count())
            .select_from(allocations)
            .where(
                allocations.c.trial_id == design.id,
                allocations.c.round == round_no,
                allocations.c.sequence == label,
            )
        ).scalar_one()
        if taken:  # another process randomised this cycle after split_roster looked
            raise CycleError(
                f"Cycle {cycle} of trial '{design.id}' was randomised by another run meanwhile. "
                f"Nothing was stored. Got --cycle {cycle} instead."
            )
        details = {
            "method": allocation.method,
            "n_units": len(allocation.units),
            "balance_score": allocation.balance_score,
            "cycle": cycle,
            "cycle_name": design.cycles[cycle - 1].name,
            "skipped_earlier_cycles": skipped,
        }
        # stored as the trial's own randomisation stores its cohort, under the cycle's own
        # concealed sequence (its slots never collide with cycle 1's) and enrolment label
        RandomisationRecords.insert_cohort(
            conn,
            design,
            allocation,
            roster,
            pii,
            round_no=round_no,
            sequence=label,
            enrolment=label,
            seed=allocation.seed,
            now=now,
            event="randomised",
            reason=None,
            details=details,
        )
    return round_no


@flow(name="randomise-cycle", log_prints=True, **STAGE_HOOKS)
def cycle_randomise_flow(design: str, roster: str, cycle: int) -> dict:
    """Randomise cycle ``cycle``'s new cohort: read and check the roster, skip earlier cycles' people."""
    logger = get_run_logger()
    trial = load_design_task(design)
    _check_cycle_number(trial, cycle)
    require_current_design(trial, stage=f"randomise cycle {cycle}")
    table, pii = read_roster(roster, trial)
    name = Path(roster).name
    check_roster_task(table, trial, name, late=True)
    new, earlier = split_roster(table, trial, cycle, name)
    skipped = skipped_message(name, earlier, trial) if len(earlier) else None
    if skipped:
        logger.warning(skipped)
    new_pii = pii[pii["participant_id"].isin(new["id"].astype(str))]
    allocation = allocate_cycle(new, trial, cycle)
    round_no = store_cycle(trial, cycle, allocation, new, new_pii, len(earlier))
    record_audit_event(
        None,
        trial.id,
        "roster-ingested",
        {"file_name": name, "rows": len(table), "cycle": cycle, "new": len(new)},
        file_hash=file_sha256(roster),
        design_hash=trial.design_hash,
    )
    listing = write_coordinator_list(trial, round_no)
    logger.info(
        "Randomised %d new participants of %s in cycle %d (%s); list at %s",
        len(allocation.units),
        trial.id,
        cycle,
        trial.cycles[cycle - 1].name,
        listing,
    )
    return {
        "trial": trial.id,
        "cycle": cycle,
        "cycle_name": trial.cycles[cycle - 1].name,
        "round": round_no,
        "units": len(allocation.units),
        "counts": allocation.counts().to_dict("records"),
        "skipped": sorted(earlier["id"].astype(str)),
        "skipped_message": skipped,
        "allocation_list": str(listing),
    }


def cycle_records(store: Store, design: TrialDesign) -> dict:
    """When each cycle was randomised and every amendment recorded, from the audit log.

    For :func:`analysis.sections.cycles.cycles_section`, which lists the
    amendments recorded between cycles.  Cycle 1 is the trial's first
    ``randomised`` row; a later cycle's row names it in its details.
    """
    audit = store.audit(design.id)
    randomised_at: dict[int, str] = {}
    amendments = []
    for row in audit.sort_values("audit_id").itertuples(index=False):
        details = json.loads(row.details_json) if isinstance(row.details_json, str) else {}
        at = pd.Timestamp(row.at).isoformat()
        if row.event == "randomised":
            randomised_at.setdefault(int(details.get("cycle", 1)), at)
        elif row.event == "design-amended":
            amendments.append(
                {
                    "recorded_at": at,
                    "reason": row.reason or "",
                    "changes": details.get("changes", []),
                }
            )
    return {"randomised_at": randomised_at, "amendments": amendments}
