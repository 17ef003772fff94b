"""HR outcomes from raw extracts: sickness absence and turnover over a follow-up window.

Conventions (also in :data:`DAY_BASES`, for the data dictionary):

- **Days are working days**, Monday to Friday, less any ``holidays`` passed
  (e.g. bank holidays); ``day_basis="calendar"`` counts every day instead, as
  NHS Digital's published absence rates do.  The window is inclusive at both
  ends, and so are episode dates and the leaving date (the last day employed).
- **A participant counts only while employed**: from the window start, or the
  first ``effective_from`` of their FTE rows if later, to the window end, or
  their leaving date if earlier.  Absence outside employment is not counted.
- **FTE can change**: each staff row gives the FTE in force from its
  ``effective_from`` date (missing = from the start) until the next row's.
  Two rows of one participant with the same ``effective_from``: the later row
  in the extract wins.  A participant's leaving date is the latest one on any
  of their rows.
- **Episodes are merged** per participant when they overlap or are adjacent
  (one ends the day before the next starts), so no day is counted twice; each
  merged run is one *spell*.
- ``absence_rate`` is FTE-days lost / FTE-days available (the NHS sickness
  absence rate); ``days_lost_per_fte`` is FTE-days lost / mean FTE while
  employed, which equals ``days_lost`` when FTE does not change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from common.validation import require_columns

__all__ = ["DAY_BASES", "sickness_absence", "turnover"]

#: How days are counted, by ``day_basis``, in words for the data dictionary.
DAY_BASES: dict[str, str] = {
    "working": (
        "Working days (Monday to Friday, less declared holidays) in the window while employed; "
        "overlapping or adjacent episodes merged; FTE in force on each day."
    ),
    "calendar": (
        "Calendar days in the window while employed; overlapping or adjacent episodes merged; "
        "FTE in force on each day."
    ),
}
_WEEKMASKS = {"working": "1111100", "calendar": "1111111"}

# Stands for "in force since before any window": an effective_from left empty.
_BEGINNING = np.datetime64("1000-01-01", "D")
_ONE_DAY = np.timedelta64(1, "D")
_OUTPUT_COLUMNS = [
    "days_lost",
    "fte_days_lost",
    "days_available",
    "fte_days_available",
    "days_lost_per_fte",
    "absence_rate",
    "spells",
]


def _day(value: dt.date | str | pd.Timestamp, name: str) -> np.datetime64:
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError(f"The '{name}' must be a date. Got {value!r} instead.")
    return np.datetime64(stamp.date(), "D")


def _days(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[D]")
    return pd.to_datetime(frame[column]).to_numpy().astype("datetime64[D]")


def _window(window_start, window_end) -> tuple[np.datetime64, np.datetime64]:
    start, end = _day(window_start, "window_start"), _day(window_end, "window_end")
    if end < start:
        raise ValueError(
            f"The window must end on or after its start. Got {start} to {end} instead."
        )
    return start, end


def _leaving_dates(staff: pd.DataFrame) -> pd.Series:
    """Latest leaving date of each participant (NaT if none), indexed by participant_id."""
    leaving = pd.Series(_days(staff, "leaving_date"), index=staff["participant_id"].to_numpy())
    return leaving.groupby(level=0).max()


def _employment_spans(
    staff: pd.DataFrame, start: np.datetime64, end: np.datetime64
) -> pd.DataFrame:
    """Disjoint spans (participant_id, start, end, fte) of FTE in force within the window."""
    rows = pd.DataFrame(
        {
            "participant_id": staff["participant_id"].to_numpy(),
            "from": _days(staff, "effective_from"),
            "fte": staff["fte"].to_numpy(dtype=float),
            "order": np.arange(len(staff)),
        }
    )
    rows["from"] = rows["from"].fillna(pd.Timestamp(_BEGINNING))
    rows = rows.sort_values(["participant_id", "from", "order"]).drop_duplicates(
        ["participant_id", "from"], keep="last"
    )
    begins = rows["from"].to_numpy().astype("datetime64[D]")
    following = rows.groupby("participant_id")["from"].shift(-1).to_numpy().astype("datetime64[D]")
    ends = np.where(np.isnat(following), end, following - _ONE_DAY)
    leaving = (
        _leaving_dates(staff).reindex(rows["participant_id"]).to_numpy().astype("datetime64[D]")
    )
    ends = np.where(np.isnat(leaving), ends, np.minimum(ends, leaving))
    spans = pd.DataFrame(
        {
            "participant_id": rows["participant_id"].to_numpy(),
            "start": np.maximum(begins, start),
            "end": np.minimum(ends, end),
            "fte": rows["fte"].to_numpy(),
        }
    )
    return spans[spans["start"] <= spans["end"]]


def _merged_spells(
    episodes: pd.DataFrame, ids: pd.Index, start: np.datetime64, end: np.datetime64
) -> pd.DataFrame:
    """Episodes clipped to the window and merged per participant when they overlap or touch."""
    spells = pd.DataFrame(
        {
            "participant_id": episodes["participant_id"].to_numpy(),
            "start": np.maximum(_days(episodes, "start_date"), start),
            "end": np.minimum(_days(episodes, "end_date"), end),
        }
    )
    spells = spells[spells["participant_id"].isin(ids) & (spells["start"] <= spells["end"])]
    spells = spells.sort_values(["participant_id", "start"], kind="stable")
    reach = spells.groupby("participant_id")["end"].cummax()
    previous_reach = reach.groupby(spells["participant_id"]).shift(1)
    # touching episodes (one ends the day before the next starts) are one continuous absence
    new_spell = previous_reach.isna() | (spells["start"] > previous_reach + pd.Timedelta(days=1))
    return spells.groupby(new_spell.cumsum().to_numpy()).agg(
        participant_id=("participant_id", "first"), start=("start", "min"), end=("end", "max")
    )


def _plain(value):
    """A cell as a plain Python value, so messages read ``1.5``, not ``np.float64(1.5)``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _check_inputs(episodes: pd.DataFrame, staff: pd.DataFrame) -> None:
    require_columns(
        episodes, ["participant_id", "start_date", "end_date"], where="the episodes frame"
    )
    require_columns(staff, ["participant_id", "fte"], where="the staff frame")
    fte = pd.to_numeric(staff["fte"], errors="coerce")
    bad = ~((fte > 0) & (fte <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"The 'fte' of participant '{_plain(staff['participant_id'].iloc[i])}' must be above 0 "
            f"and at most 1. Got {_plain(staff['fte'].iloc[i])!r} instead."
        )
    starts, ends = _days(episodes, "start_date"), _days(episodes, "end_date")
    undated = np.isnat(starts) | np.isnat(ends)
    backwards = ~undated & (ends < starts)
    for mask, rule in (
        (undated, "needs a start and an end date"),
        (backwards, "ends before it starts"),
    ):
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise ValueError(
                f"The absence episode of participant '{_plain(episodes['participant_id'].iloc[i])}'"
                f" {rule}. Got {_plain(episodes['start_date'].iloc[i])!r} to "
                f"{_plain(episodes['end_date'].iloc[i])!r} instead."
            )


def sickness_absence(
    episodes: pd.DataFrame,
    staff: pd.DataFrame,
    *,
    window_start: dt.date | str,
    window_end: dt.date | str,
    day_basis: str = "working",
    holidays: Sequence[dt.date | str] = (),
) -> pd.DataFrame:
    """Days lost, FTE-days lost and the absence rate of each participant over a window.

    Parameters
    ----------
    episodes : DataFrame
        ``participant_id``, ``start_date``, ``end_date`` (inclusive). Episodes of
        participants not in ``staff`` are ignored.
    staff : DataFrame
        ``participant_id``, ``fte`` (0 < fte <= 1); optional ``effective_from``
        (one row per FTE change) and ``leaving_date`` (last day employed).
    window_start, window_end : date
        The follow-up window, inclusive.
    day_basis : {"working", "calendar"}
        Count Monday-Friday working days (default) or every calendar day.
    holidays : sequence of date
        Days that are not working days (e.g. bank holidays); ``working`` only.

    Returns
    -------
    DataFrame
        Indexed by ``participant_id`` (every participant in ``staff``, sorted):
        ``days_lost``, ``fte_days_lost``, ``days_available``,
        ``fte_days_available``, ``days_lost_per_fte``, ``absence_rate`` and
        ``spells`` (merged absence spells with a day lost). Participants
        with no episodes get zeros; those not employed on any counted day of
        the window get missing values throughout.

    Notes
    -----
    With :math:`f_{id}` the FTE in force for participant :math:`i` on counted
    day :math:`d` (0 when not employed), :math:`E_i` the days employed and
    :math:`A_i` the days in a merged absence spell:

    .. math::

        \\text{fte\\_days\\_lost}_i = \\sum_{d \\in A_i \\cap E_i} f_{id}, \\qquad
        \\text{fte\\_days\\_available}_i = \\sum_{d \\in E_i} f_{id},

        \\text{absence\\_rate}_i = \\frac{\\text{fte\\_days\\_lost}_i}
        {\\text{fte\\_days\\_available}_i}, \\qquad
        \\text{days\\_lost\\_per\\_fte}_i = \\frac{\\text{fte\\_days\\_lost}_i}
        {\\text{fte\\_days\\_available}_i / |E_i|}.

    Spans of constant FTE and merged spells are intervals, so each sum is an
    interval intersection counted with :func:`numpy.busday_count`; nothing is
    expanded to days.
    """
    if day_basis not in DAY_BASES:
        raise ValueError(
            f"The 'day_basis' '{day_basis}' is not known. Choose one of: "
            f"{', '.join(DAY_BASES)}. Got '{day_basis}' instead."
        )
    if day_basis == "calendar" and len(holidays):
        raise ValueError(
            "The 'holidays' apply to day_basis 'working' only; calendar days count every day. "
            f"Got {len(holidays)} holiday(s) with day_basis 'calendar' instead."
        )
    start, end = _window(window_start, window_end)
    _check_inputs(episodes, staff)
    holiday_days = np.array([_day(h, "holidays") for h in holidays], dtype="datetime64[D]")

    def count(first: np.ndarray, last: np.ndarray) -> np.ndarray:
        return np.busday_count(
            first.astype("datetime64[D]"),
            last.astype("datetime64[D]") + _ONE_DAY,
            weekmask=_WEEKMASKS[day_basis],
            holidays=holiday_days,
        )

    ids = pd.Index(np.sort(staff["participant_id"].unique()), name="participant_id")
    spans = _employment_spans(staff, start, end)
    span_days = count(spans["start"].to_numpy(), spans["end"].to_numpy())
    spans = spans.assign(days=span_days, fte_days=span_days * spans["fte"].to_numpy())

    spells = _merged_spells(episodes, ids, start, end).rename_axis("spell").reset_index()
    # spells and FTE spans are each disjoint, so their pairwise overlaps never count a day twice
    lost = spells.merge(spans, on="participant_id", suffixes=("", "_employed"))
    first = np.maximum(lost["start"].to_numpy(), lost["start_employed"].to_numpy())
    last = np.minimum(lost["end"].to_numpy(), lost["end_employed"].to_numpy())
    overlapping = first <= last
    lost = lost[overlapping].assign(days=count(first[overlapping], last[overlapping]))
    lost["fte_days"] = lost["days"] * lost["fte"]

    available = spans.groupby("participant_id")[["days", "fte_days"]].sum().reindex(ids)
    by_participant = lost.groupby("participant_id")
    days_lost = by_participant["days"].sum().reindex(ids, fill_value=0).astype(float)
    fte_days_lost = by_participant["fte_days"].sum().reindex(ids, fill_value=0).astype(float)
    spell_days = lost.groupby(["participant_id", "spell"])["days"].sum()
    spell_count = (spell_days > 0).groupby(level="participant_id").sum()
    spell_count = spell_count.reindex(ids, fill_value=0).astype(float)

    days_available = available["days"].fillna(0).to_numpy(dtype=float)
    fte_days_available = available["fte_days"].fillna(0).to_numpy(dtype=float)
    employed = days_available > 0
    nan = np.full(len(ids), np.nan)
    out = pd.DataFrame(
        {
            "days_lost": np.where(employed, days_lost.to_numpy(), np.nan),
            "fte_days_lost": np.where(employed, fte_days_lost.to_numpy(), np.nan),
            "days_available": np.where(employed, days_available, np.nan),
            "fte_days_available": np.where(employed, fte_days_available, np.nan),
            "days_lost_per_fte": np.divide(
                fte_days_lost.to_numpy() * days_available,
                fte_days_available,
                out=nan.copy(),
                where=employed,
            ),
            "absence_rate": np.divide(
                fte_days_lost.to_numpy(), fte_days_available, out=nan.copy(), where=employed
            ),
            "spells": np.where(employed, spell_count.to_numpy(), np.nan),
        },
        index=ids,
    )
    return out[_OUTPUT_COLUMNS]


def turnover(
    staff: pd.DataFrame, *, window_start: dt.date | str, window_end: dt.date | str
) -> pd.Series:
    """Whether each participant left the employer within the window.

    Parameters
    ----------
    staff : DataFrame
        ``participant_id`` and optional ``leaving_date`` (last day employed);
        several rows per participant are allowed (the latest leaving date counts).
    window_start, window_end : date
        The follow-up window, inclusive at both ends.

    Returns
    -------
    Series
        ``turnover`` indexed by ``participant_id`` (sorted): 1.0 if the leaving
        date falls in the window, 0.0 if there is none or it is after the
        window, and missing if the participant left before the window starts
        (they were never at risk).
    """
    require_columns(staff, ["participant_id"], where="the staff frame")
    start, end = _window(window_start, window_end)
    leaving = _leaving_dates(staff).sort_index()
    days = leaving.to_numpy().astype("datetime64[D]")
    left = np.where(np.isnat(days), 0.0, ((days >= start) & (days <= end)).astype(float))
    left = np.where(~np.isnat(days) & (days < start), np.nan, left)
    return pd.Series(left, index=leaving.index.rename("participant_id"), name="turnover")
