"""Uptake from delivery events: who was offered, started and completed an intervention (pure).

A design's intervention declares its event vocabulary and, in ``uptake``,
which event types mean *offered*, *started* and *completed*, which event type
counts as *dose* and at which dose a participant has *completed*, and which
event means the intervention did *not* reach the person (``not_received``:
a letter returned to sender).  For example::

    goal_setting:    {offered: invited, started: module_started,
                      dose: module_completed, completed_at_dose: 6}
    schwartz_rounds: {offered: round_held, started: attended,
                      dose: attended, completed_at_dose: 3}

An event logged against a participant reaches that participant; an event
logged against a cluster (a building's coffee machine, a site's Round)
reaches every participant of that cluster.  So a social worker in a building
with a machine installed counts as offered and started, and a Schwartz
Rounds participant is offered when their site holds a Round but has started
only when they attended one.

Everything here is a function of DataFrames: no I/O, no database, no Prefect.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trial_designs.uptake_rules import UPTAKE_EVENT_KEYS, check_uptake_definition

__all__ = [
    "BREAKDOWNS",
    "PARTICIPANT_UPTAKE_COLUMNS",
    "UptakeSummary",
    "contaminated_events",
    "contamination",
    "dose_distribution",
    "funnel",
    "participant_uptake",
    "summarise_uptake",
    "uptake_by",
    "uptake_over_time",
]

#: Participant columns an uptake breakdown may group by.
BREAKDOWNS = ("organisation", "team", "building", "role", "unit_id")

PARTICIPANT_UPTAKE_COLUMNS = [
    "offered",
    "took_up",
    "dose",
    "completed",
    "not_received",
    "offered_at",
    "started_at",
    "completed_at",
]


def _member(values: pd.Series | pd.Index, candidates: object) -> np.ndarray:
    """Set membership through a hash table.

    pandas' pyarrow-backed ``str`` arrays build one pyarrow scalar per
    candidate in ``isin`` (seconds for 200,000 ids), so compare as objects.
    """
    found = pd.Index(np.asarray(values, dtype=object), dtype=object).isin(
        np.asarray(list(candidates) if isinstance(candidates, set) else candidates, dtype=object)
    )
    return np.asarray(found, dtype=bool)


def _as_events(events: pd.DataFrame) -> pd.DataFrame:
    """The event columns uptake needs, with ``occurred_at`` as datetimes."""
    frame = pd.DataFrame(
        {
            "unit_id": events["unit_id"].astype("str").to_numpy(),
            "event_type": events["event_type"].astype("str").to_numpy(),
            "occurred_at": pd.to_datetime(events["occurred_at"], format="ISO8601").to_numpy(),
        }
    )
    for optional in ("module", "round_id"):
        frame[optional] = events[optional].to_numpy() if optional in events else None
    return frame


def _reach(events: pd.DataFrame, participants: pd.DataFrame) -> pd.DataFrame:
    """Events joined to the participants they reach: directly, or through their cluster."""
    members = pd.DataFrame(
        {
            "participant_id": participants["participant_id"].astype("str").to_numpy(),
            "_cluster": participants["unit_id"].astype("str").to_numpy(),
        }
    )
    is_direct = _member(events["unit_id"], members["participant_id"])
    direct = events[is_direct].assign(participant_id=events.loc[is_direct, "unit_id"])
    clustered = events[~is_direct & _member(events["unit_id"], members["_cluster"])].merge(
        members, left_on="unit_id", right_on="_cluster"
    )
    return pd.concat([direct, clustered.drop(columns="_cluster")], ignore_index=True)


def _distinct_doses(dosed: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct dose per participant, in time order.

    A repeated log line must not count twice: a dose is a distinct module if
    the events carry modules, else a distinct Round, else a distinct time.
    """
    key = next(
        (c for c in ("module", "round_id") if dosed[c].notna().any()),
        "occurred_at",
    )
    return (
        dosed.sort_values(["participant_id", "occurred_at"], kind="stable")
        .drop_duplicates(["participant_id", key])
        .reset_index(drop=True)
    )


def participant_uptake(
    participants: pd.DataFrame, events: pd.DataFrame, definition: Mapping[str, Any]
) -> pd.DataFrame:
    """Each participant's uptake: the variables the CACE and the funnel use.

    Parameters
    ----------
    participants : DataFrame
        ``participant_id`` and ``unit_id`` (the participant itself, or their
        cluster), as the store's participant arms.
    events : DataFrame
        Delivery events: ``unit_id``, ``event_type``, ``occurred_at``, and
        optionally ``module`` and ``round_id``.
    definition : mapping
        The intervention's ``uptake`` block (see :data:`trial_designs.uptake_rules.UPTAKE_KEYS`).

    Returns
    -------
    DataFrame
        Indexed by ``participant_id`` (every participant, in input order):
        ``offered``, ``took_up``, ``completed``, ``not_received`` (0/1),
        ``dose`` (count), and ``offered_at``, ``started_at``, ``completed_at``
        (first time, NaT if never).

    Notes
    -----
    With :math:`E_k(i)` the events of type :math:`k` reaching participant
    :math:`i` and :math:`R(i)` whether a ``not_received`` event reached them,

    .. math::

        \\text{offered}_i = [E_\\text{offered}(i) \\neq \\emptyset], \\quad
        \\text{took\\_up}_i = [E_\\text{started}(i) \\neq \\emptyset] \\wedge \\neg R(i),

    :math:`\\text{dose}_i` is the number of distinct doses in
    :math:`E_\\text{dose}(i)` (distinct modules, else Rounds, else times;
    without a dose event it is :math:`\\text{took\\_up}_i`), and
    :math:`\\text{completed}_i = [\\text{dose}_i \\ge d^*]` with
    ``completed_at_dose`` :math:`d^*`, else
    :math:`[E_\\text{completed}(i) \\neq \\emptyset] \\wedge \\neg R(i)`.
    ``completed_at`` is the time of the :math:`d^*`-th distinct dose.
    """
    check_uptake_definition(definition)
    ids = pd.Index(participants["participant_id"].astype("str"), name="participant_id")
    wanted = {definition.get(k) for k in UPTAKE_EVENT_KEYS} - {None}
    relevant = _as_events(events[events["event_type"].isin(wanted)]) if len(events) else None
    if relevant is None or relevant.empty:
        reached = pd.DataFrame(
            columns=["participant_id", "unit_id", "event_type", "occurred_at", "module", "round_id"]
        ).astype({"occurred_at": "datetime64[us]"})
    else:
        reached = _reach(relevant, participants)
    firsts = reached.groupby(["event_type", "participant_id"])["occurred_at"].min()

    def first(event: str | None) -> pd.Series:
        if event is None or event not in firsts.index.get_level_values(0):
            return pd.Series(pd.NaT, index=ids, dtype="datetime64[us]")
        return firsts.loc[event].reindex(ids).astype("datetime64[us]")

    not_received = first(definition.get("not_received")).notna()
    offered_at = first(definition.get("offered", definition["started"]))
    started_at = first(definition["started"]).where(~not_received)
    dose_event = definition.get("dose")
    if dose_event:
        doses = _distinct_doses(reached[reached["event_type"] == dose_event])
        dose = doses.groupby("participant_id").size().reindex(ids, fill_value=0)
    else:
        doses = None
        dose = started_at.notna().astype(int)
    threshold = definition.get("completed_at_dose")
    if threshold is not None:
        nth = doses[doses.groupby("participant_id").cumcount() == int(threshold) - 1]
        completed_at = (
            nth.set_index("participant_id")["occurred_at"].reindex(ids).astype("datetime64[us]")
        )
    else:
        completed_at = first(definition.get("completed")).where(~not_received)
    return pd.DataFrame(
        {
            "offered": offered_at.notna().astype(int),
            "took_up": started_at.notna().astype(int),
            "dose": dose.astype(int),
            "completed": completed_at.notna().astype(int),
            "not_received": not_received.astype(int),
            "offered_at": offered_at,
            "started_at": started_at,
            "completed_at": completed_at,
        },
        index=ids,
    )[PARTICIPANT_UPTAKE_COLUMNS]


def _joined(participants: pd.DataFrame, uptake: pd.DataFrame, extra: Sequence[str]) -> pd.DataFrame:
    base = participants[["participant_id", "arm", *extra]].astype({"participant_id": "str"})
    joined = base.merge(uptake, left_on="participant_id", right_index=True, how="left")
    counts = ["offered", "took_up", "dose", "completed"]
    joined[counts] = joined[counts].fillna(0)
    return joined


def _percent(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (100.0 * part / whole.where(whole > 0)).astype(float)


def funnel(
    participants: pd.DataFrame, uptake: pd.DataFrame, *, arm_order: Sequence[str]
) -> pd.DataFrame:
    """The uptake funnel per arm: allocated, offered, started, completed, and dose.

    Parameters
    ----------
    participants : DataFrame
        ``participant_id`` and ``arm``.
    uptake : DataFrame
        From :func:`participant_uptake`.
    arm_order : sequence of str
        Every arm of the design, in the order to report them (an arm with
        nobody allocated still gets a row of zeros).

    Returns
    -------
    DataFrame
        One row per arm: ``arm``, ``allocated``, ``offered``, ``started``,
        ``completed`` (counts), ``offered_pct``, ``started_pct``,
        ``completed_pct`` (% of allocated; NaN when nobody was allocated),
        ``mean_dose`` (over everyone allocated) and ``mean_dose_started``
        (over those who started; NaN when nobody started).
    """
    joined = _joined(participants, uptake, [])
    grouped = joined.groupby("arm")
    started_dose = joined[joined["took_up"] == 1].groupby("arm")["dose"].mean()
    out = pd.DataFrame(
        {
            "allocated": grouped.size(),
            "offered": grouped["offered"].sum(),
            "started": grouped["took_up"].sum(),
            "completed": grouped["completed"].sum(),
            "mean_dose": grouped["dose"].mean(),
            "mean_dose_started": started_dose,
        }
    ).reindex(list(arm_order))
    counts = ["allocated", "offered", "started", "completed"]
    out[counts] = out[counts].fillna(0).astype(int)
    for stage in ("offered", "started", "completed"):
        out[f"{stage}_pct"] = _percent(out[stage], out["allocated"])
    out["mean_dose"] = out["mean_dose"].where(out["allocated"] > 0)
    columns = [
        *counts,
        "offered_pct",
        "started_pct",
        "completed_pct",
        "mean_dose",
        "mean_dose_started",
    ]
    return out[columns].rename_axis("arm").reset_index()


def uptake_by(participants: pd.DataFrame, uptake: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """Uptake per arm within each organisation, team, building, role or cluster.

    Returns
    -------
    DataFrame
        One row per (arm, group): ``allocated``, ``offered``, ``started``,
        ``completed``, ``started_pct``, ``completed_pct``, ``mean_dose``.
    """
    if by not in BREAKDOWNS:
        raise ValueError(
            f"The breakdown 'by' '{by}' is not known. Choose one of: {', '.join(BREAKDOWNS)}. "
            f"Got '{by}' instead."
        )
    if by not in participants:
        raise ValueError(
            f"The breakdown 'by' '{by}' needs a '{by}' column in participants. "
            f"Got columns {list(participants.columns)} instead."
        )
    joined = _joined(participants, uptake, [by])
    joined[by] = joined[by].astype("object").where(joined[by].notna(), "(not recorded)")
    grouped = joined.groupby(["arm", by])
    out = pd.DataFrame(
        {
            "allocated": grouped.size(),
            "offered": grouped["offered"].sum().astype(int),
            "started": grouped["took_up"].sum().astype(int),
            "completed": grouped["completed"].sum().astype(int),
            "mean_dose": grouped["dose"].mean(),
        }
    )
    out["started_pct"] = _percent(out["started"], out["allocated"])
    out["completed_pct"] = _percent(out["completed"], out["allocated"])
    return out.reset_index()[
        [
            "arm",
            by,
            "allocated",
            "offered",
            "started",
            "completed",
            "started_pct",
            "completed_pct",
            "mean_dose",
        ]
    ]


def _monday(times: pd.Series) -> pd.Series:
    return times.dt.normalize() - pd.to_timedelta(times.dt.day_of_week, unit="D")


def uptake_over_time(
    participants: pd.DataFrame, uptake: pd.DataFrame, *, arm_order: Sequence[str]
) -> pd.DataFrame:
    """Cumulative uptake by ISO week and arm, from the first week anyone started to the last event.

    Returns
    -------
    DataFrame
        One row per (week, arm): ``week`` (ISO date of the Monday),
        ``iso_week`` (e.g. ``2019-W36``), ``arm``, ``new_started`` (started
        that week), ``started`` and ``completed`` (cumulative counts),
        ``started_pct`` and ``completed_pct`` (% of the arm allocated).
        Empty when nobody has started.
    """
    columns = [
        "week",
        "iso_week",
        "arm",
        "new_started",
        "started",
        "completed",
        "started_pct",
        "completed_pct",
    ]
    joined = _joined(participants, uptake, [])
    started = joined["started_at"].dropna()
    if started.empty:
        return pd.DataFrame(columns=columns)
    moments = pd.concat([started, joined["completed_at"].dropna()])
    weeks = pd.date_range(_monday(pd.Series([moments.min()])).iloc[0], moments.max(), freq="W-MON")
    sizes = joined.groupby("arm").size().reindex(list(arm_order), fill_value=0)
    parts = []
    for moment, name in (("started_at", "started"), ("completed_at", "completed")):
        happened = joined.dropna(subset=[moment])
        weekly = (
            happened.assign(week=_monday(happened[moment])).groupby(["arm", "week"]).size()
            if len(happened)
            else pd.Series(dtype=int)
        )
        grid = (
            weekly.reindex(pd.MultiIndex.from_product([list(arm_order), weeks]), fill_value=0)
            if len(weekly)
            else pd.Series(0, index=pd.MultiIndex.from_product([list(arm_order), weeks]))
        )
        parts.append(grid.rename(f"new_{name}"))
    table = pd.concat(parts, axis=1).rename_axis(["arm", "week"]).reset_index()
    table["started"] = table.groupby("arm")["new_started"].cumsum()
    table["completed"] = table.groupby("arm")["new_completed"].cumsum()
    allocated = table["arm"].map(sizes)
    table["started_pct"] = _percent(table["started"], allocated)
    table["completed_pct"] = _percent(table["completed"], allocated)
    iso = table["week"].dt.isocalendar()
    table["iso_week"] = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    table["week"] = table["week"].dt.strftime("%Y-%m-%d")
    order = {arm: i for i, arm in enumerate(arm_order)}
    table = table.sort_values(["week", "arm"], key=lambda s: s.map(order) if s.name == "arm" else s)
    for count in ("new_started", "started", "completed"):
        table[count] = table[count].astype(int)
    return table[columns].reset_index(drop=True)


def dose_distribution(
    participants: pd.DataFrame, uptake: pd.DataFrame, *, arm_order: Sequence[str]
) -> pd.DataFrame:
    """How many participants of each arm reached each dose (0, 1, 2, ...).

    Returns
    -------
    DataFrame
        One row per (arm, dose) from 0 to the largest dose seen:
        ``participants`` and ``pct`` (% of the arm allocated), and
        ``at_least`` / ``at_least_pct`` (reached this dose or more: the
        drop-off curve, module by module or Round by Round).
    """
    joined = _joined(participants, uptake, [])
    top = int(joined["dose"].max()) if len(joined) else 0
    grid = pd.MultiIndex.from_product([list(arm_order), range(top + 1)], names=["arm", "dose"])
    counts = (
        joined.assign(dose=joined["dose"].astype(int))
        .groupby(["arm", "dose"])
        .size()
        .reindex(grid, fill_value=0)
        .rename("participants")
        .reset_index()
    )
    allocated = counts.groupby("arm")["participants"].transform("sum")
    counts["pct"] = _percent(counts["participants"], allocated)
    counts["at_least"] = (
        counts.iloc[::-1].groupby("arm", sort=False)["participants"].cumsum().iloc[::-1]
    )
    counts["at_least_pct"] = _percent(counts["at_least"], allocated)
    return counts


def _unit_arms(participants: pd.DataFrame) -> pd.Series:
    """The arm of every participant id and every cluster id."""
    by_person = pd.Series(
        participants["arm"].to_numpy(), index=participants["participant_id"].astype("str")
    )
    clusters = participants.drop_duplicates("unit_id")
    by_cluster = pd.Series(clusters["arm"].to_numpy(), index=clusters["unit_id"].astype("str"))
    by_cluster = by_cluster[~_member(by_cluster.index, by_person.index)]
    return pd.concat([by_person, by_cluster])


def contaminated_events(
    events: pd.DataFrame, participants: pd.DataFrame, *, control_arm: str
) -> np.ndarray:
    """Which events were delivered to a control-arm unit (participant or cluster).

    Returns a boolean array aligned with ``events``.  Such events are kept
    (they happened) but flagged: the analysis stays by allocated arm.
    """
    arms = _unit_arms(participants)
    control_units = arms.index[arms.to_numpy() == control_arm]
    return _member(events["unit_id"].astype("str"), control_units)


def contamination(
    events: pd.DataFrame, participants: pd.DataFrame, *, control_arm: str
) -> pd.DataFrame:
    """The control-arm units that received some of the intervention, one row per unit.

    Returns
    -------
    DataFrame
        ``unit_id``, ``unit_kind`` (participant or cluster), ``arm``,
        ``participants_reached`` (1 for a person, the cluster's size for a
        cluster), ``events``, ``event_types`` (comma-separated), and
        ``first_at`` / ``last_at``.
    """
    columns = [
        "unit_id",
        "unit_kind",
        "arm",
        "participants_reached",
        "events",
        "event_types",
        "first_at",
        "last_at",
    ]
    if events.empty:
        return pd.DataFrame(columns=columns)
    flagged = events[contaminated_events(events, participants, control_arm=control_arm)]
    if flagged.empty:
        return pd.DataFrame(columns=columns)
    flagged = flagged.assign(
        unit_id=flagged["unit_id"].astype("str"),
        occurred_at=pd.to_datetime(flagged["occurred_at"], format="ISO8601"),
    )
    person_ids = set(participants["participant_id"].astype("str"))
    cluster_size = participants.groupby(participants["unit_id"].astype("str")).size()
    grouped = flagged.groupby("unit_id")
    out = pd.DataFrame(
        {
            "events": grouped.size(),
            "event_types": grouped["event_type"].agg(lambda s: ", ".join(sorted(set(s)))),
            "first_at": grouped["occurred_at"].min(),
            "last_at": grouped["occurred_at"].max(),
        }
    ).reset_index()
    is_person = _member(out["unit_id"], person_ids)
    out["unit_kind"] = np.where(is_person, "participant", "cluster")
    out["arm"] = control_arm
    out["participants_reached"] = np.where(
        is_person, 1, out["unit_id"].map(cluster_size).fillna(0).astype(int)
    )
    return out[columns].sort_values("unit_id").reset_index(drop=True)


def _plain(value: object) -> object:
    """A JSON-safe scalar: numpy to Python, NaN/NaT to None, times to ISO text."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    rows = frame.astype("object").to_dict("records")
    return [{str(k): _plain(v) for k, v in row.items()} for row in rows]


@dataclass(frozen=True)
class UptakeSummary:
    """Uptake of one trial's intervention: per participant, per arm, over time, by group."""

    definition: dict
    participants: pd.DataFrame
    funnel: pd.DataFrame
    over_time: pd.DataFrame
    by_organisation: pd.DataFrame
    by_team: pd.DataFrame
    doses: pd.DataFrame
    contamination: pd.DataFrame
    by_arm: dict | None = None  # several interventions: arm -> its intervention, uptake block
    cross_arm: list | None = None  # several: analysis.uptake_by_arm.cross_arm_contamination

    def to_dict(self) -> dict:
        """The ``uptake`` section of results.json (JSON-safe)."""
        out = {
            "definition": {str(k): _plain(v) for k, v in self.definition.items()},
            "funnel": _records(self.funnel),
            "over_time": _records(self.over_time),
            "by_organisation": _records(self.by_organisation),
            "contamination": len(self.contamination),
            "contaminated_units": _records(self.contamination),
        }
        if self.by_arm:  # absent with one intervention, so those results are unchanged
            out["definitions_by_arm"] = self.by_arm
            out["cross_arm_contamination"] = list(self.cross_arm or [])
        return out


def summarise_uptake(
    participants: pd.DataFrame,
    events: pd.DataFrame,
    definition: Mapping[str, Any],
    *,
    arm_order: Sequence[str],
    control_arm: str,
    uptake: pd.DataFrame | None = None,
    by_arm: Mapping[str, Mapping[str, Any]] | None = None,
) -> UptakeSummary:
    """Everything a coordinator or the analysis needs to know about uptake, from the events.

    Parameters
    ----------
    participants : DataFrame
        The store's participant arms: ``participant_id``, ``unit_id``,
        ``arm``, ``organisation``, ``team``.
    events : DataFrame
        Delivery events (see :func:`participant_uptake`).
    definition : mapping
        The intervention's ``uptake`` block.
    arm_order : sequence of str
        The design's arms, in order.
    control_arm : str
        The comparator arm; its units' events are contamination.
    uptake, by_arm : DataFrame and mapping, optional
        With several interventions: each participant's uptake, measured per arm
        (:mod:`analysis.uptake_by_arm`), and arm -> its intervention and block.
    """
    if control_arm not in arm_order:
        raise ValueError(
            f"The 'control_arm' must be one of the arms: {', '.join(arm_order)}. "
            f"Got '{control_arm}' instead."
        )
    if uptake is None:
        uptake = participant_uptake(participants, events, definition)
    return UptakeSummary(
        by_arm={str(a): {str(k): _plain(v) for k, v in b.items()} for a, b in by_arm.items()}
        if by_arm
        else None,
        definition=dict(definition),
        participants=uptake,
        funnel=funnel(participants, uptake, arm_order=arm_order),
        over_time=uptake_over_time(participants, uptake, arm_order=arm_order),
        by_organisation=uptake_by(participants, uptake, by="organisation"),
        by_team=uptake_by(participants, uptake, by="team"),
        doses=dose_distribution(participants, uptake, arm_order=arm_order),
        contamination=contamination(events, participants, control_arm=control_arm),
    )
