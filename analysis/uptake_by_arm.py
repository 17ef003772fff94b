"""Uptake when each active arm has its own intervention (a multi-arm design), pure.

Each arm's participants are measured by their own intervention's ``uptake``
definition over that intervention's events; the control arm (whose events
are contamination) by every intervention's.  The funnel, trends and doses are
then :mod:`analysis.uptake`'s, over the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.uptake import PARTICIPANT_UPTAKE_COLUMNS, participant_uptake

__all__ = ["cross_arm_contamination", "participant_uptake_by_arm"]

_COUNTS = ["offered", "took_up", "dose", "completed", "not_received"]
_TIMES = ["offered_at", "started_at", "completed_at"]


def participant_uptake_by_arm(
    participants: pd.DataFrame,
    events: pd.DataFrame,
    interventions: Mapping[str, tuple[str, Mapping[str, Any]]],
) -> pd.DataFrame:
    """Each participant's uptake when every active arm has its own intervention.

    Parameters
    ----------
    participants : DataFrame
        As for :func:`analysis.uptake.participant_uptake`, with ``arm``.
    events : DataFrame
        As for :func:`analysis.uptake.participant_uptake`, with ``intervention`` (whose log the
        event came from); without it every event counts for every intervention.
    interventions : mapping
        Intervention name -> (the arm it is delivered to, its ``uptake`` block).

    Returns
    -------
    DataFrame
        As :func:`analysis.uptake.participant_uptake`.  A participant of an intervention's arm
        is measured by that intervention's definition over its own events.  Anyone
        else (the control arm, whose events are contamination) has taken an
        intervention up if they did by any intervention's definition: the flags
        and doses are the largest, the times the earliest, over the interventions.
    """
    ids = pd.Index(participants["participant_id"].astype("str"), name="participant_id")
    arm_of = pd.Series(participants["arm"].to_numpy(), index=ids)
    own = pd.DataFrame(index=ids, columns=PARTICIPANT_UPTAKE_COLUMNS)
    others = []
    for name, (arm, definition) in interventions.items():
        mine = events[events["intervention"] == name] if "intervention" in events else events
        each = participant_uptake(participants, mine, definition)
        members = (arm_of == arm).to_numpy()
        own.loc[members] = each.loc[members]
        others.append(each)
    if others:
        rest = ~arm_of.isin([arm for arm, _ in interventions.values()]).to_numpy()
        stacked = pd.concat(others)
        grouped = stacked.groupby(level=0, sort=False)
        most = pd.concat([grouped[_COUNTS].max(), grouped[_TIMES].min()], axis=1).reindex(ids)
        own.loc[rest] = most.loc[rest, PARTICIPANT_UPTAKE_COLUMNS]
    out = own.astype(dict.fromkeys(_COUNTS, int))
    for column in _TIMES:
        out[column] = pd.to_datetime(out[column]).astype("datetime64[us]")
    return out[PARTICIPANT_UPTAKE_COLUMNS]


def cross_arm_contamination(
    participants: pd.DataFrame,
    events: pd.DataFrame,
    interventions: Mapping[str, tuple[str, Mapping[str, Any]]],
) -> list[dict]:
    """How many of each active arm's participants have events of another arm's intervention.

    The control arm's contamination is :func:`analysis.uptake.contamination`'s; this is the
    same between active arms.  It is not uptake: a participant's uptake is of their own arm's
    intervention, as the design declares (:func:`participant_uptake_by_arm`).

    Returns
    -------
    list of dict
        One per (active arm, another arm's intervention), in the interventions' order:
        ``arm``, ``intervention`` and ``participants`` (distinct participants, 0 if none).
    """
    arm_of = dict(
        zip(participants["participant_id"].astype("str"), participants["arm"], strict=True)
    )
    units = events["unit_id"].astype("str") if len(events) else pd.Series(dtype="str")
    reached = events.assign(arm=units.map(arm_of)) if len(events) else events.assign(arm=None)
    rows = []
    for _, (arm, _definition) in interventions.items():
        for other, (other_arm, _) in interventions.items():
            if other_arm == arm or "intervention" not in reached:
                continue
            hit = reached[(reached["arm"] == arm) & (reached["intervention"] == other)]
            rows.append(
                {"arm": arm, "intervention": other, "participants": int(hit["unit_id"].nunique())}
            )
    return rows
