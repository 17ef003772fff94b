"""Registering a trial's statistical analysis plan (SAP), and finding it again at analysis time.

``trialflow sap TRIAL`` builds the plan the design pre-specifies
(:func:`analysis.sap.build_sap`), writes it under ``<TRIALFLOW_HOME>/out/<trial>/sap/``
as ``sap.html``, ``sap.pdf`` and ``sap.json`` (the canonical content: its
SHA-256 *is* the registered hash, so ``sha256sum sap.json`` checks it), and
appends a ``sap-registered`` row to the audit log with the hash, the time and
each analysis section's hash.  The audit log is the registry: it is
append-only and hash-chained, so a registration cannot be quietly edited, and
:func:`registered_sap` finds the latest one for the analysis.

Registration is refused once outcome data (values at any timepoint other than
``baseline``) are stored, unless ``late=True`` with a reason; a late
registration is recorded as late, with its reason, and the report says so.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from analysis.sap import build_sap, canonical_sap_json, sap_adherence, sap_hash, section_hashes
from flows.audit import file_sha256, record_audit_event
from flows.integrity import require_current_design
from flows.safe_io import write_text
from flows.store import Store, amendments, audit_log
from flows.store.responses import outcome_value_counts
from flows.tasks import IO_RETRIES, load_design_task, output_dir
from trial_designs.design import TrialDesign

__all__ = [
    "SAP_EVENT",
    "SapRefusedError",
    "outcome_data_count",
    "registered_sap",
    "sap_flow",
    "sap_status",
    "sap_status_task",
]

#: The audit-log event of a registration.
SAP_EVENT = "sap-registered"


class SapRefusedError(ValueError):
    """Registration refused: outcome data are stored already (and no --late), or --late misused."""


def outcome_data_count(store: Store | sa.Connection, trial_id: str) -> int:
    """Outcome values stored for the trial at any timepoint but ``baseline``."""
    if isinstance(store, sa.Connection):
        counts = outcome_value_counts(store, trial_id, except_timepoint="baseline")
    else:
        with store.engine.connect() as conn:
            counts = outcome_value_counts(conn, trial_id, except_timepoint="baseline")
    return int(counts["values"].sum())


def registered_sap(store: Store, trial_id: str) -> tuple[dict | None, int]:
    """The trial's latest registration (the audit row's details) and how many came before it."""
    rows = store.read(
        sa.select(audit_log.c.details_json, audit_log.c.reason)
        .where(audit_log.c.trial_id == trial_id, audit_log.c.event == SAP_EVENT)
        .order_by(audit_log.c.audit_id)
    )
    if not len(rows):
        return None, 0
    latest = json.loads(rows["details_json"].iloc[-1])
    latest["reason"] = rows["reason"].iloc[-1]
    return latest, len(rows) - 1


def _amendments(store: Store, trial_id: str) -> list[dict]:
    rows = store.read(
        sa.select(amendments.c.at, amendments.c.reason, amendments.c.changes_json)
        .where(amendments.c.trial_id == trial_id)
        .order_by(amendments.c.amendment_id)
    )
    return [
        {"at": row.at, "reason": row.reason, "changes": json.loads(row.changes_json)}
        for row in rows.itertuples()
    ]


def sap_status(
    design: TrialDesign,
    *,
    ri_draws: int | None = None,
    data_source: str = "store",
    store: Store | None = None,
    exploratory_label: str | None = None,
    exploratory_changes: dict | None = None,
) -> dict:
    """results.json's ``sap`` field: the registered plan (if any) against the analysis that runs.

    See :func:`analysis.sap.sap_adherence`.
    """
    store = store or Store()
    registration, earlier = registered_sap(store, design.id)
    return sap_adherence(
        registration,
        design=design,
        amendments=_amendments(store, design.id),
        ri_draws=ri_draws,
        data_source=data_source,
        earlier_registrations=earlier,
        exploratory_label=exploratory_label,
        exploratory_changes=exploratory_changes,
    )


def _sample_size(store: Store, design: TrialDesign) -> int | None:
    """Individuals randomised to the control arm and the first active arm, if randomised."""
    arms = store.participant_arms(design.id)
    if not len(arms):
        return None
    treated = next(a.name for a in design.arms if not a.control)
    return int(arms["arm"].isin([design.control_arm, treated]).sum())


@task(name="check registration", cache_policy=NO_CACHE, **IO_RETRIES)
def check_registration(design: TrialDesign, late: bool, reason: str | None) -> int:
    """Refuse a registration after outcome data unless late with a reason; the count of values."""
    stored = outcome_data_count(Store(), design.id)
    if late and not (reason and reason.strip()):
        raise SapRefusedError(
            'A late registration needs a reason (--late --reason "..."): it goes into the audit '
            "log and the report. Got an empty reason instead."
        )
    if stored and not late:
        raise SapRefusedError(
            f"Refusing to register the analysis plan of trial '{design.id}': {stored} outcome "
            "value(s) are stored already, so the plan would not be pre-specified. Register it as "
            f'late with `trialflow sap {design.id} --late --reason "..."`; the report will say so.'
        )
    if late and not stored:
        raise SapRefusedError(
            f"'--late' is for a plan registered after outcome data are stored; trial "
            f"'{design.id}' has none. Got --late instead: register without it."
        )
    return stored


@task(name="write analysis plan", cache_policy=NO_CACHE, **IO_RETRIES)
def write_sap(
    design: TrialDesign, sap: dict, registration: dict, pdf: bool, out: str | None
) -> dict[str, str]:
    from flows.report import write_pdf
    from reports.sap import render_sap

    html = render_sap(
        sap,
        sap_hash=registration["sap_hash"],
        registered_at=registration["registered_at"],
        late=registration["late"],
        reason=registration.get("reason"),
    )
    folder = Path(out) if out else output_dir(design.id, "sap")
    folder.mkdir(parents=True, exist_ok=True)
    written = {"json": str(write_text(folder / "sap.json", canonical_sap_json(sap)))}
    written["html"] = str(write_text(folder / "sap.html", html))
    if pdf:
        written["pdf"] = str(write_pdf(html, folder / "sap.pdf"))
    return written


@flow(name="sap", log_prints=True)
def sap_flow(
    design: str,
    n: int | None = None,
    icc: float | None = None,
    late: bool = False,
    reason: str | None = None,
    out: str | None = None,
    pdf: bool = True,
) -> dict:
    """Render the trial's statistical analysis plan and register its hash in the audit log.

    Parameters
    ----------
    design : str
        A design file or packaged design id.
    n : int, optional
        Individuals for the MDES (default: those randomised to control and the
        first active arm).
    icc : float, optional
        A cluster trial's ICC for the MDES (default: shown at 0.01, 0.05, 0.10).
    late, reason
        Register after outcome data are stored, saying why.
    out : str, optional
        Folder to write to (default ``<TRIALFLOW_HOME>/out/<trial>/sap``).
    pdf : bool
        Also write ``sap.pdf``.

    Returns
    -------
    dict
        ``trial``, ``sap_hash``, ``registered_at``, ``late``, ``new`` (False
        when this very plan was registered before) and ``files``.

    Raises
    ------
    SapRefusedError
        Outcome data are stored and ``late`` is not set; ``late`` without a
        reason or without outcome data.
    """
    logger = get_run_logger()
    trial = load_design_task(design)
    require_current_design(trial, stage="register its analysis plan")
    store = Store()
    plan = build_sap(trial, n=n if n is not None else _sample_size(store, trial), icc=icc)
    digest = sap_hash(plan)
    previous, _ = registered_sap(store, trial.id)
    # this very plan registered before: its files are written again, nothing is registered
    new = previous is None or previous.get("sap_hash") != digest
    if new:
        stored = check_registration(trial, late, reason)
        registration = {
            "registered_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat("T", "seconds"),
            "sap_hash": digest,
            "sap_version": plan["sap_version"],
            "design_hash": trial.design_hash,
            "section_hashes": section_hashes(plan),
            "late": late,
            "outcome_values_stored": stored,
            "reason": reason,
        }
    else:
        registration = previous  # the same plan again: its files keep the first registration's time
    files = write_sap(trial, plan, registration, pdf, out)
    if new:
        details = {k: v for k, v in registration.items() if k != "reason"}
        details["html_sha256"] = file_sha256(files["html"])
        with store.transaction(lock_trial=trial.id) as conn:
            # re-checked in the registering transaction: an ingest may have landed meanwhile
            if not late and outcome_data_count(conn, trial.id):
                raise SapRefusedError(
                    f"Refusing to register the analysis plan of trial '{trial.id}': outcome data "
                    "were stored while it was being written. Register it as late."
                )
            record_audit_event(
                conn,
                trial.id,
                SAP_EVENT,
                details,
                file_hash=digest,
                reason=reason,
                design_hash=trial.design_hash,
            )
    logger.info(
        "%s: analysis plan %s %s on %s%s",
        trial.id,
        digest[:12],
        "registered" if new else "already registered",
        registration["registered_at"],
        " (late)" if registration.get("late") else "",
    )
    return {
        "trial": trial.id,
        "sap_hash": digest,
        "registered_at": registration["registered_at"],
        "late": bool(registration.get("late")),
        "new": new,
        "files": files,
    }


@task(name="compare with the registered plan", cache_policy=NO_CACHE, **IO_RETRIES)
def sap_status_task(
    design: TrialDesign,
    ri_draws: int | None,
    data_source: str,
    label: str | None = None,
    changes: dict | None = None,
) -> dict:
    """:func:`sap_status` as a task of the analysis flow (``label``: an exploratory reanalysis)."""
    return sap_status(
        design,
        ri_draws=ri_draws,
        data_source=data_source,
        exploratory_label=label,
        exploratory_changes=changes,
    )
