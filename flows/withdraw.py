"""Withdrawal: a participant asks for no further contact.

A withdrawn participant keeps their allocation and stays where the trial put
them: in the intention-to-treat analysis and the CONSORT counts (CONSORT
reports withdrawals; it does not remove people).  From the moment of
withdrawal:

- letters: they get none; :func:`reports.letters.letter_contents` lists them in
  ``not_produced.csv`` with the rule ``withdrawn``;
- deliveries: an event dated after the withdrawal is quarantined with the rule
  ``withdrawn`` instead of being stored.  Quarantine, not "store and flag":
  a flagged event would still count as uptake (the CACE, the funnel, costs),
  while a delivery after withdrawal is most likely a logging mistake that a
  coordinator should see and fix; quarantined rows are kept with their
  reason, so nothing is lost.  Events from before the withdrawal are stored
  as usual: they happened.

The withdrawal, its reason and who recorded it go into the audit log in the
same transaction as the withdrawal itself (:meth:`flows.store.Store.withdraw`).
This is a single store write, so it runs without a Prefect flow and answers at
once; the audit log is its record.
"""

from __future__ import annotations

import datetime as dt

from flows.store import Store

__all__ = ["withdraw_participant"]


def withdraw_participant(
    trial_id: str,
    participant_id: str,
    *,
    reason: str,
    effective: str | dt.date | None = None,
    store: Store | None = None,
) -> dict:
    """Withdraw a participant of a trial from further contact, with a reason (logged).

    Parameters
    ----------
    trial_id : str
        The trial, as the store knows it.
    participant_id : str
        The participant's id, as in the roster.
    reason : str
        Why: goes into the audit log.  Required.
    effective : str or date, optional
        The day they withdrew (YYYY-MM-DD), when it is recorded later:
        deliveries dated after the start of that day are quarantined.
        Default: now.  Not in the future.
    store : Store, optional
        Default: the store of the current ``TRIALFLOW_HOME``.

    Returns
    -------
    dict
        ``trial_id``, ``participant_id``, ``arm``, ``reason``, ``who``,
        ``withdrawn_at``.

    Raises
    ------
    LookupError
        Unknown trial (the known trials are listed) or unknown participant
        (no other participant is named).
    flows.store.AlreadyWithdrawnError
        Withdrawn before; nothing changes.
    ValueError
        An empty reason, or an effective date that is not a date or is in the future.
    """
    if isinstance(effective, str):
        try:
            effective = dt.date.fromisoformat(effective.strip())
        except ValueError:
            raise ValueError(
                "The withdrawal date must be a date, YYYY-MM-DD (e.g. 2026-03-01). "
                f"Got '{effective}' instead."
            ) from None
    return (store or Store()).withdraw(
        trial_id=trial_id,
        participant_id=str(participant_id).strip(),
        reason=reason,
        effective=effective,
    )
