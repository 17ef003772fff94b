"""The share of each delivery event's cost that the trial's participants bear, by head count.

A session open to people outside the trial (a Schwartz Round open to all the authority's
staff) serves everyone in the room; :func:`head_count_shares` gives the participants' share,
for :func:`analysis.costs.build_ledger` (``share_column=...``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.costs._checks import text_label

__all__ = ["head_count_shares"]


def head_count_shares(
    events: pd.DataFrame,
    *,
    session_event: str,
    attendance_event: str,
    session_column: str = "round_id",
    head_count_column: str = "attendees",
    unit_column: str = "unit_id",
    site_column: str = "site",
) -> pd.Series:
    """The share of each event's cost that the trial's participants bear, by head count.

    A session open to people outside the trial (a Schwartz Round open to all
    the authority's staff) serves everyone in the room, so its cost is shared
    over its head count, and the trial's participants bear their share of it:
    those logged as attending over the head count.  Staff time costed as
    head count x hours then comes to the participants' own time only.

    Parameters
    ----------
    events : DataFrame
        The delivery events of the participants' arm: ``event_type``,
        ``unit_column`` (who or what the event is for), and where known
        ``site_column``, ``session_column`` (the session an event belongs
        to: held, attended, a panel meeting before it) and
        ``head_count_column`` (everyone in the room, on session events).
        Attendance events must be the trial participants' only.
    session_event, attendance_event : str
        The event type of a session held, and of a participant attending one.

    Returns
    -------
    Series
        From 0 to 1, aligned with ``events``: pass it to :func:`build_ledger`
        as ``share_column``.  All 1 when no session has a head count.

    Raises
    ------
    ValueError
        When a needed column is missing, the two event types are the same, or
        a head count is negative or infinite.

    Notes
    -----
    For a session :math:`s` with head count :math:`H_s` and :math:`P_s`
    distinct participants logged at it, the room is :math:`N_s = \\max(H_s,
    P_s)` (where :math:`H_s` is missing, :math:`P_s`; where the session's
    id is missing too, the site's unmatched attendances spread evenly over
    such sessions), and the participants' share is :math:`P_s / N_s`.  Every
    event of the session (held, and any other event carrying its id, such as
    the panel meeting before it) takes that share.  An attendance is the
    participant's own: share 1.  Any other event at a site that held
    sessions (set-up such as training, which serves all the site's
    sessions, or an event whose session is not known) takes the site's
    share :math:`\\sum_s P_s / \\sum_s N_s`, with :math:`\\sum_s P_s` counting
    every attendance logged at the site; so does a session whose room is 0.
    Events at a site that held no session, and a site whose rooms are all
    empty, take share 1.
    """
    if not isinstance(events, pd.DataFrame):
        raise ValueError(
            f"'events' must be a DataFrame of delivery events. Got {type(events).__name__} instead."
        )
    missing = [c for c in ("event_type", unit_column) if c not in events]
    if missing:
        raise ValueError(
            f"The delivery events need the columns {', '.join(missing)} to share costs by head "
            f"count. Got columns {', '.join(map(str, events.columns))} instead."
        )
    if session_event == attendance_event:
        raise ValueError(
            "'session_event' and 'attendance_event' must differ: a session's head count is "
            f"shared by the attendances logged at it. Got {session_event!r} for both."
        )
    share = pd.Series(1.0, index=events.index, name="share")
    kind = events["event_type"].astype(str).to_numpy()
    is_session = kind == session_event
    is_attendance = kind == attendance_event

    def column(name: str) -> pd.Series:
        if name in events:
            return events[name].map(text_label).astype(object)
        return pd.Series(None, index=events.index, dtype=object)

    head = (
        pd.to_numeric(events[head_count_column], errors="coerce").to_numpy(float)
        if head_count_column in events
        else np.full(len(events), np.nan)
    )
    counted = is_session & ~np.isnan(head)
    if not counted.any():
        return share
    bad = counted & (~np.isfinite(head) | (head < 0))
    if bad.any():
        raise ValueError(
            f"A session's '{head_count_column}' (its head count) must be a finite number at "
            f"least 0. Got {head[bad][:3].tolist()} on '{session_event}' events instead."
        )
    site = column(site_column).where(column(site_column).notna(), "").to_numpy(object)
    session = column(session_column).to_numpy(object)
    known = pd.notna(session)
    # participants logged at each session, each once
    at = pd.DataFrame(
        {
            "site": site[is_attendance],
            "session": session[is_attendance],
            "unit": events[unit_column].astype(str).to_numpy()[is_attendance],
        }
    )
    matched = at[at["session"].notna()].drop_duplicates()
    logged = matched.groupby(["site", "session"]).size()
    trial_at_site = (
        pd.concat([matched, at[at["session"].isna()]]).groupby("site").size()
        if len(at)
        else pd.Series(dtype=float)
    )
    held = pd.DataFrame(
        {
            "site": site[is_session],
            "session": session[is_session],
            "head": head[is_session],
            "known": known[is_session],
        }
    )
    keys = list(zip(held["site"], held["session"], strict=True))
    held["logged"] = [
        float(logged.get(key, 0)) if ok else np.nan
        for key, ok in zip(keys, held["known"], strict=True)
    ]
    # where no head count was recorded the room is at least the participants logged at it
    room = np.where(np.isnan(held["head"]), held["logged"], np.fmax(held["head"], held["logged"]))
    held["room"] = room
    # a session with neither a head count nor an id: the site's attendances not matched to a
    # session with an id, spread evenly over such sessions
    blind = held["room"].isna()
    if blind.any():
        matched_at_site = held.groupby("site")["logged"].sum()
        blind_at_site = blind.groupby(held["site"]).sum()
        spare = (trial_at_site.reindex(blind_at_site.index).fillna(0) - matched_at_site).clip(
            lower=0
        )
        held.loc[blind, "room"] = (held.loc[blind, "site"].map(spare / blind_at_site)).to_numpy()
    room_at_site = held.groupby("site")["room"].sum()
    trial = trial_at_site.reindex(room_at_site.index).fillna(0.0)
    room_at_site = np.fmax(room_at_site, trial)
    site_share = (trial / room_at_site).where(room_at_site > 0, 1.0)
    # every event at a site that held sessions starts at the site's share
    in_site = pd.Series(site).map(site_share).to_numpy(float)
    values = np.where(np.isnan(in_site), 1.0, in_site)
    # events of a session with a room take the session's share
    with_room = held[held["known"] & (held["room"] > 0)]
    session_share = dict(
        zip(
            zip(with_room["site"], with_room["session"], strict=True),
            (with_room["logged"] / with_room["room"]).to_numpy(float),
            strict=True,
        )
    )
    if session_share:
        of_session = np.array(
            [
                session_share.get((s, r), np.nan) if ok else np.nan
                for s, r, ok in zip(site, session, known, strict=True)
            ],
            dtype=float,
        )
        values = np.where(np.isnan(of_session), values, of_session)
    values[is_attendance] = 1.0
    share[:] = values
    return share
