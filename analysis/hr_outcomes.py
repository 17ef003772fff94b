"""HR outcomes from raw extracts: sickness absence and turnover over a follow-up window.

Conventions (documented in the data dictionary):

- days are calendar days, the window is inclusive at both ends;
- a participant counts only while employed: from the window start (or their
  start date) to the window end (or their leaving date);
- overlapping or repeated absence episodes are merged, so no day counts twice;
- FTE can change: each row of the staff extract gives the FTE in force from
  its ``effective_from`` date; ``absence_rate`` is FTE-days lost over FTE-days
  available (the NHS sickness-absence rate), and ``days_lost_per_fte`` is
  FTE-days lost divided by the mean FTE while employed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

__all__ = ["sickness_absence", "turnover"]


def _fte_by_day(staff: pd.DataFrame, ids: pd.Index, days: pd.DatetimeIndex) -> np.ndarray:
    """FTE in force on each day for each participant (0 outside employment)."""
    fte = np.zeros((len(ids), len(days)))
    rows = staff.sort_values(["participant_id", "effective_from"], na_position="first")
    position = {pid: i for i, pid in enumerate(ids)}
    day_values = days.to_numpy()
    for rec in rows.itertuples(index=False):
        i = position[rec.participant_id]
        start = pd.Timestamp(rec.effective_from) if pd.notna(rec.effective_from) else days[0]
        fte[i, day_values >= start.to_datetime64()] = float(rec.fte)
    for rec in (
        staff.dropna(subset=["leaving_date"])
        .drop_duplicates("participant_id", keep="last")
        .itertuples(index=False)
    ):
        fte[
            position[rec.participant_id],
            day_values > pd.Timestamp(rec.leaving_date).to_datetime64(),
        ] = 0.0
    return fte


def sickness_absence(
    episodes: pd.DataFrame, staff: pd.DataFrame, *, window_start: dt.date, window_end: dt.date
) -> pd.DataFrame:
    """Days lost, FTE-days lost per FTE and the absence rate per participant.

    Parameters
    ----------
    episodes : DataFrame
        participant_id, start_date, end_date (inclusive).
    staff : DataFrame
        participant_id, fte (0 < fte ≤ 1), optional effective_from and leaving_date.

    Returns
    -------
    DataFrame indexed by participant_id: days_lost, fte_days_lost, fte_days_available,
    days_lost_per_fte, absence_rate.  Participants with no episodes get zeros;
    participants not employed at all in the window get missing values.
    """
    staff = staff.copy()
    for column in ("effective_from", "leaving_date"):
        if column not in staff:
            staff[column] = pd.NaT
        staff[column] = pd.to_datetime(staff[column])
    ids = pd.Index(sorted(staff["participant_id"].unique()), name="participant_id")
    days = pd.date_range(window_start, window_end, freq="D")
    fte = _fte_by_day(staff, ids, days)
    absent = np.zeros_like(fte, dtype=bool)
    if len(episodes):
        ep = episodes[episodes["participant_id"].isin(ids)]
        starts = pd.to_datetime(ep["start_date"]).to_numpy()
        ends = pd.to_datetime(ep["end_date"]).to_numpy()
        rows = ids.get_indexer(ep["participant_id"])
        day_values = days.to_numpy()
        first = np.searchsorted(day_values, starts, side="left")
        last = np.searchsorted(day_values, ends, side="right")
        # marking days on a boolean grid merges overlapping episodes by construction
        for r, a, b in zip(rows, first, last, strict=True):
            absent[r, a:b] = True
    employed = fte > 0
    available = fte.sum(axis=1)
    fte_lost = (fte * absent).sum(axis=1)
    days_lost = (absent & employed).sum(axis=1).astype(float)
    mean_fte = np.divide(
        available,
        employed.sum(axis=1),
        out=np.full(len(ids), np.nan),
        where=employed.sum(axis=1) > 0,
    )
    out = pd.DataFrame(
        {
            "days_lost": days_lost,
            "fte_days_lost": fte_lost,
            "fte_days_available": available,
            "days_lost_per_fte": np.divide(
                fte_lost, mean_fte, out=np.full(len(ids), np.nan), where=mean_fte > 0
            ),
            "absence_rate": np.divide(
                fte_lost, available, out=np.full(len(ids), np.nan), where=available > 0
            ),
        },
        index=ids,
    )
    out.loc[available == 0, ["days_lost", "fte_days_lost"]] = np.nan
    return out


def turnover(staff: pd.DataFrame, *, window_start: dt.date, window_end: dt.date) -> pd.Series:
    """1 if the participant left within the window (inclusive), 0 if not; missing if they left before it."""
    last = staff.assign(leaving_date=pd.to_datetime(staff.get("leaving_date"))).drop_duplicates(
        "participant_id", keep="last"
    )
    leaving = last.set_index("participant_id")["leaving_date"].sort_index()
    start, end = pd.Timestamp(window_start), pd.Timestamp(window_end)
    left = ((leaving >= start) & (leaving <= end)).astype(float)
    left[leaving < start] = np.nan
    return left.rename("turnover")
