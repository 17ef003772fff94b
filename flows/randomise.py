"""Randomisation flows: the initial randomisation of a roster, and late entrants."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.audit import file_sha256, record_audit_event
from flows.enrol import enrol_late_entrants
from flows.integrity import require_current_design
from flows.safe_io import write_csv_chunks
from flows.sources import read_table, rename_to_canonical
from flows.status import STAGE_HOOKS
from flows.store import AlreadyRandomisedError, Store, participants
from flows.tasks import IO_RETRIES, load_design_task, output_dir
from intake.entrants import place_entrants
from intake.roster import RosterError, check_roster
from trial_designs.allocate import sequence_slot
from trial_designs.cycles import cycle_of_enrolment
from trial_designs.design import ALGORITHM_VERSION, DesignError, TrialDesign
from trial_designs.minimise import minimisation_allocator
from trial_designs.randomise import Allocation, randomise
from trial_designs.strata import stratum_keys

__all__ = ["enrol_flow", "preview_randomisation", "randomise_flow", "refuse_new_units"]


@task(name="read roster", cache_policy=NO_CACHE, **IO_RETRIES)
def read_roster(path: str, design: TrialDesign) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The roster with canonical columns, and its PII columns apart."""
    raw = read_table(path)
    # roster_columns: the canonical fields plus any other strata/cluster column (village)
    roster = rename_to_canonical(raw, design.roster_columns, file_name=Path(path).name)
    pii_cols = {
        col: field for field, col in design.roster.pii_columns.items() if col in raw.columns
    }
    pii = raw[list(pii_cols)].rename(columns=pii_cols)
    pii.insert(0, "participant_id", roster["id"].astype("str"))
    keep = [
        "source_row",
        *design.roster_columns,
        *[c for c in design.roster.covariates if c in raw and c not in design.roster_columns],
    ]
    return roster[keep], pii


def _stored_ids(trial_id: str) -> set[str]:
    """Every participant id the store holds for the trial (earlier rounds' included)."""
    with Store().engine.connect() as conn:
        return set(
            conn.execute(
                sa.select(participants.c.participant_id).where(participants.c.trial_id == trial_id)
            ).scalars()
        )


@task(name="check roster", cache_policy=NO_CACHE)
def check_roster_task(
    roster: pd.DataFrame, design: TrialDesign, file_name: str, *, late: bool = False
) -> None:
    problems = check_roster(
        roster,
        design,
        known_clusters=set(roster[design.cluster_by].dropna())
        if late and design.cluster_by
        else None,
        # a late entrant 'p10' next to a stored 'P10' would be a second person read as one
        known_ids=_stored_ids(design.id) if late else None,
    )
    if len(problems):
        raise RosterError(file_name, problems)


@task(name="place entrants in cycles", cache_policy=NO_CACHE, **IO_RETRIES)
def place_entrants_task(roster: pd.DataFrame, design: TrialDesign, file_name: str) -> pd.DataFrame:
    """The roster with each late entrant's enrolment label (their learning cycle's).

    Raises
    ------
    RosterError
        Naming each entrant who joined after the last cycle's randomisation, or whose
        cycle is not randomised yet (:func:`intake.entrants.place_entrants`); nothing is
        stored.
    """
    if not design.cycles:
        return roster.assign(_enrolment="late")
    with Store().engine.connect() as conn:
        on_record = conn.execute(
            sa.select(participants.c.participant_id, participants.c.enrolment).where(
                participants.c.trial_id == design.id,
                participants.c.superseded_in_round.is_(None),
            )
        ).all()
    randomised = set(cycle_of_enrolment(pd.Series([e for _p, e in on_record], dtype=object)))
    labels, problems = place_entrants(
        roster,
        design,
        randomised=randomised,
        stored_ids={str(p) for p, _e in on_record},
        today=dt.datetime.now(dt.UTC).date(),
    )
    if len(problems):
        raise RosterError(file_name, problems)
    return roster.assign(_enrolment=labels)


@task(name="allocate", cache_policy=NO_CACHE)
def allocate_task(roster: pd.DataFrame, design: TrialDesign) -> Allocation:
    return randomise(roster, design)


def _not_refused(task, task_run, state) -> bool:  # noqa: ANN001
    """Retry a failed store write unless the store refused it on purpose."""
    try:
        state.result()
    except AlreadyRandomisedError:
        return False
    except Exception:  # noqa: BLE001 - any other failure is worth one more try
        return True
    return False


@task(
    name="store allocation",
    cache_policy=NO_CACHE,
    **{**IO_RETRIES, "retry_condition_fn": _not_refused},
)
def store_allocation(
    design: TrialDesign,
    allocation: Allocation,
    roster: pd.DataFrame,
    pii: pd.DataFrame,
    force_reason: str | None,
) -> int:
    return Store().record_randomisation(
        design=design, allocation=allocation, roster=roster, pii=pii, force_reason=force_reason
    )


@task(name="publish arm counts", cache_policy=NO_CACHE)
def publish_counts(design: TrialDesign, allocation: Allocation) -> pd.DataFrame:
    counts = allocation.counts()
    create_table_artifact(
        key=f"{design.id.replace('_', '-')}-allocation",
        table=counts.to_dict("records"),
        description=f"Arm counts per stratum for {design.title} ({allocation.method}, seed {allocation.seed}).",
    )
    return counts


@task(name="write coordinator list", cache_policy=NO_CACHE, **IO_RETRIES)
def write_coordinator_list(design: TrialDesign, round_no: int) -> Path:
    """The allocation list for the coordinator: the only output with arms beside identities."""
    path = output_dir(design.id) / f"allocation_list_round{round_no}.csv"
    # the whole list is rewritten from the store (late entrants included) into a temporary
    # file and renamed over the old one: a reader or a crash never sees half a list.  It is
    # read and written a chunk at a time, so a national roster's list is never in memory whole
    return write_csv_chunks(Store().allocation_list(design.id), path)


@flow(name="randomise", log_prints=True, **STAGE_HOOKS)
def randomise_flow(
    design: str, roster: str, force: bool = False, reason: str | None = None
) -> dict:
    """Load the design, read and check the roster, allocate, store, publish."""
    if force and not (reason and reason.strip()):
        raise ValueError('--force needs --reason "...": the override is logged with it.')
    logger = get_run_logger()
    trial = load_design_task(design)
    table, pii = read_roster(roster, trial)
    check_roster_task(table, trial, Path(roster).name)
    allocation = allocate_task(table, trial)
    stored = Store().trial(trial.id) if force else None
    design_changes: list[str] = []
    if stored is not None and stored["design_hash"] != trial.design_hash:
        # logged before the store decides (it refuses amendable changes; others it records
        # in the re-randomised audit row); the CLI prints them after a run that stored
        from flows.store import forced_design_changes

        design_changes = [c.line() for c in forced_design_changes(stored["design_json"], trial)[0]]
        logger.warning(
            "The design differs from the one trial '%s' ran under (%s -> %s):\n%s",
            trial.id,
            stored["design_hash"][:12],
            trial.design_hash[:12],
            "\n".join(f"  {line}" for line in design_changes),
        )
    round_no = store_allocation(trial, allocation, table, pii, reason if force else None)
    record_audit_event(
        None,
        trial.id,
        "roster-ingested",
        {"file_name": Path(roster).name, "rows": len(table), "round": round_no},
        file_hash=file_sha256(roster),
        design_hash=trial.design_hash,
        reason=reason if force else None,
    )
    counts = publish_counts(trial, allocation)
    listing = write_coordinator_list(trial, round_no)
    superseded = Store().superseded(trial.id, round_no)
    if superseded:
        logger.warning(
            "%d earlier participant(s) are not in this roster: kept on record with their round "
            "%d allocation marked superseded; `trialflow enrol` allocates them in round %d.",
            superseded,
            round_no - 1,
            round_no,
        )
    logger.info(
        "Randomised %d units of %s (round %d); list at %s",
        len(allocation.units),
        trial.id,
        round_no,
        listing,
    )
    return {
        "trial": trial.id,
        "round": round_no,
        "units": len(allocation.units),
        "counts": counts.to_dict("records"),
        "allocation_list": str(listing),
        "balance_score": allocation.balance_score,
        "superseded": superseded,
        "design_changes": design_changes,
    }


def refuse_new_units(design: TrialDesign, new_units: list[str], allocated: pd.Series) -> None:
    """Refuse late units of a design whose arms declare exact counts (``n_units``).

    ``n_units`` promises exactly that many units per arm for the whole trial, and the
    randomisation fixed them; any arm given to a new unit breaks the promise (and the
    analysis' n_units:(N - n_units) probabilities), so the unit is refused rather than
    allocated from a 1:1 sequence as before. Late participants of an allocated cluster
    join it as usual.

    Parameters
    ----------
    design : TrialDesign
    new_units : list of str
        Units (clusters, or participants in an individually randomised trial) that the
        active round has not allocated.
    allocated : Series
        The arm of each unit the active round allocated.

    Raises
    ------
    DesignError
        When the design declares ``n_units`` and ``new_units`` is not empty.
    """
    if not design.fixed_counts or not new_units:
        return
    word = "cluster" if design.unit == "cluster" else "participant"
    counts = allocated.value_counts()
    fixed = ", ".join(f"{arm} {int(counts.get(arm, 0))}" for arm in design.arm_names)
    shown = ", ".join(repr(u) for u in sorted(new_units)[:5])
    more = f" and {len(new_units) - 5} more" if len(new_units) > 5 else ""
    joiners = (
        "Participants of a randomised cluster can join it; for a new cluster, "
        if design.unit == "cluster"
        else "For a new participant, "
    )
    raise DesignError(
        f"Trial '{design.id}' declares exact arm counts (n_units), fixed at randomisation "
        f"({fixed} of {len(allocated)} {word}s), so a new {word} cannot be allocated late "
        f"without breaking them; nothing was enrolled. {joiners}amend the design to declare "
        f"ratios or randomise it separately. Got new {word}(s) {shown}{more} instead."
    )


@task(name="enrol late entrants", cache_policy=NO_CACHE, **IO_RETRIES)
def enrol_task(
    design: TrialDesign, table: pd.DataFrame, pii: pd.DataFrame | None = None
) -> pd.DataFrame:
    unit = table[design.cluster_by] if design.unit == "cluster" else table["id"]
    newcomers = table.assign(
        participant_id=table["id"].astype("str"),
        unit_id=unit.astype("str"),
        stratum=stratum_keys(table, design.strata),
    )
    if design.fixed_counts:
        current = Store().allocations(design.id)
        allocated = current.set_index("unit_id")["arm"]
        new_units = sorted(set(newcomers["unit_id"]) - set(allocated.index))
        refuse_new_units(design, new_units, allocated)
    block_sizes = design.randomisation.block_sizes or (2 * sum(design.ratios),)

    def allocate_slot(stratum: str, position: int, n_initial: int | None) -> str:
        if design.fixed_counts:
            # a unit allocated by another process after the check above: still refused
            refuse_new_units(design, [f"(sequence position {position})"], allocated)
        code = sequence_slot(
            ratios=design.ratios,
            block_sizes=block_sizes,
            seed=design.randomisation.seed,
            stratum=stratum if n_initial is not None else f"enrolment:{stratum}",
            position=position,
            n_initial=n_initial,
        )
        return design.arm_names[code]

    return enrol_late_entrants(
        Store(),
        design=design,
        newcomers=newcomers,
        allocate_slot=allocate_slot,
        algorithm_version=ALGORITHM_VERSION,
        pii=pii,
        allocate_next=minimisation_allocator(design)
        if design.randomisation.method == "minimisation"
        else None,
    )


@flow(name="enrol", log_prints=True, **STAGE_HOOKS)
def enrol_flow(design: str, roster: str) -> dict:
    """Allocate late entrants from the next unused slots of their strata's concealed sequences.

    Under minimisation each late entrant takes the next arrival position and is
    minimised over everyone allocated before them, counted inside the store's lock.
    """
    trial = load_design_task(design)
    require_current_design(trial, stage="enrol late entrants")
    table, pii = read_roster(roster, trial)
    check_roster_task(table, trial, Path(roster).name, late=True)
    # in a trial with learning cycles, each entrant joins their own cycle (or is refused)
    table = place_entrants_task(table, trial, Path(roster).name)
    result = enrol_task(trial, table, pii)
    record_audit_event(
        None,
        trial.id,
        "roster-ingested",
        {
            "file_name": Path(roster).name,
            "rows": len(table),
            "statuses": result["status"].value_counts().to_dict(),
        },
        file_hash=file_sha256(roster),
        design_hash=trial.design_hash,
        once=True,
    )
    listing = write_coordinator_list(trial, Store().trial(trial.id)["active_round"])
    return {
        "trial": trial.id,
        "enrolled": result.to_dict("records"),
        "allocation_list": str(listing),
    }


def preview_randomisation(design: str, roster: str) -> dict:
    """What ``randomise`` would allocate, storing and writing nothing (``--dry-run``).

    The roster is read and checked as for the real randomisation (a bad
    roster raises the same :class:`~intake.roster.RosterError`) and allocated
    in memory.  Allocation is a pure function of the roster and the design's
    seed, so the counts are the ones a real run then stores.  No Prefect flow
    runs: nothing is recorded anywhere, which is the point of a dry run.

    Returns
    -------
    dict
        ``trial``, ``units``, ``counts`` (arm counts per stratum, as records),
        ``method``, ``balance_score`` and ``already_randomised`` (the active
        round, or None), since a real run of a randomised trial is refused.
    """
    trial = load_design_task.fn(design)
    table, _pii = read_roster.fn(roster, trial)
    check_roster_task.fn(table, trial, Path(roster).name)
    allocation = allocate_task.fn(table, trial)
    return {
        "trial": trial.id,
        "units": len(allocation.units),
        "counts": allocation.counts().to_dict("records"),
        "method": allocation.method,
        "balance_score": allocation.balance_score,
        "already_randomised": _active_round(trial.id),
    }


def _active_round(trial_id: str) -> int | None:
    """The trial's active round if the store has it; a store that does not exist is not created."""
    from flows.settings import get_settings

    config = get_settings()
    if config.uses_default_database and not (config.home / "trialflow.db").exists():
        return None
    found = Store(config.database_url).trial(trial_id)
    return None if found is None else int(found["active_round"])
