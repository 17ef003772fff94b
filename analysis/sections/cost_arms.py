"""One active arm of the costs section, costed (pure): its ledger, cost per head and sensitivity.

:func:`cost_arm` joins the delivery log to one active arm's participants and
clusters, costs it with the design's cost model and gives the arm's figures for
:class:`analysis.results_model.ArmCosts` and each participant's cost for the
bootstrap; :func:`cost_totals` totals a ledger and the share the costed arms'
participants bear.  :func:`analysis.sections.costs.costs_section` puts the arms together.

Only active arms are costed: deliveries to control-arm units are contamination
(reported under uptake), and control participants cost nothing beyond usual
practice, so their incremental cost is 0.  An event of another arm's unit is
that arm's.

Sessions open to people outside the trial (a Round open to all the
authority's staff) serve everyone in the room, so the trial's participants
bear their share of each session's head count and their own staff time
(:func:`analysis.costs.head_count_shares`): the cost per participant does not
grow with colleagues outside the trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.costs import (
    build_ledger,
    cost_per_participant,
    eef_cost_band,
    head_count_shares,
    summarise_ledger,
    unit_cost_sensitivity,
)
from trial_designs.design import TrialDesign

__all__ = ["CostedArm", "cost_arm", "cost_totals"]

_COST_UNIT = "cost_unit"
_SHARE = "participants_share"
_ROUND_EVENT = "round_held"
_ATTENDANCE_EVENT = "attended"


def _costed_events(events: pd.DataFrame, arm: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """The events of one arm's units, with their site, organisation and the unit they are costed to.

    ``arm`` holds that arm's participants.  In cluster trials an event belongs
    to a cluster (a Round, a machine) or to a participant (an attendance);
    either way its site is the cluster.  In individual trials events belong to
    participants and there are no sites.  Events of other arms' units (control
    contamination, or another active arm) are left out.
    """
    people = arm.set_index(arm["participant_id"].astype(str))
    unit = events["unit_id"].astype(str)
    if design.unit == "cluster":
        clusters = arm.groupby(arm["cluster"].astype(str))["organisation"].agg(
            lambda s: s.mode().iat[0] if s.notna().any() else None
        )
        is_person = unit.isin(people.index)
        site = unit.where(~is_person, unit.map(people["cluster"].astype(str)))
        keep = is_person | unit.isin(clusters.index)
        organisation = site.map(clusters)
    else:
        keep = unit.isin(people.index)
        site = pd.Series(None, index=events.index, dtype=object)
        organisation = unit.map(people["organisation"])
    costed = events.assign(site=site, organisation=organisation, **{_COST_UNIT: unit})
    return costed[keep.to_numpy()]


def _session_events(design: TrialDesign, arm: str) -> tuple[str, str] | None:
    """(session held, participant attended) event types when the arm's intervention runs sessions.

    Read from its uptake definition: the event that offers it (a Round held) and
    the one that says a participant started (attended), when the two differ.
    Whether a session is open to others is then the data's: its head count.
    """
    for intervention in design.interventions:
        if intervention.arm != arm:
            continue
        offered = intervention.uptake.get("offered")
        started = intervention.uptake.get("started")
        if isinstance(offered, str) and isinstance(started, str) and offered != started:
            return offered, started
    return None


def _short_head_counts(events: pd.DataFrame, sessions: tuple[str, str]) -> tuple[int, int]:
    """(sessions whose head count is below the participants logged at them, sessions with both)."""
    if "round_id" not in events:
        return 0, 0
    held = events[(events["event_type"] == sessions[0]) & events["round_id"].notna()]
    held = held[held["attendees"].notna()]
    logged = events[(events["event_type"] == sessions[1]) & events["round_id"].notna()]
    per = logged.groupby([logged["site"].astype(str), logged["round_id"].astype(str)])[
        "unit_id"
    ].nunique()
    keys = pd.MultiIndex.from_arrays([held["site"].astype(str), held["round_id"].astype(str)])
    there = per.reindex(keys).fillna(0).to_numpy(float)
    return int((there > held["attendees"].to_numpy(float)).sum()), len(held)


def _participant_costs(
    events: pd.DataFrame, data: pd.DataFrame, design: TrialDesign, model, start
) -> pd.Series:  # noqa: ANN001
    """Each participant's discounted cost: their own events plus an equal share of their cluster's.

    The ledger is built with the costed unit in place of the organisation, so
    its lines come out per unit (its "organisation" column holds the unit), and
    with the participants' share of each event, so a cluster's cost is the
    trial's share of it.
    """
    by_unit = (
        build_ledger(
            events,
            model,
            start_date=start,
            site_column="site",
            organisation_column=_COST_UNIT,
            share_column=_SHARE,
        )
        .groupby("organisation")["cost_discounted"]
        .sum()
        if len(events)
        else pd.Series(dtype=float)
    )
    ids = data["participant_id"].astype(str)
    own = ids.map(by_unit).fillna(0.0)
    if design.unit == "cluster":
        cluster = data["cluster"].astype(str)
        size = cluster.map(cluster.value_counts())
        own = own + cluster.map(by_unit).fillna(0.0) / size
    return pd.Series(own.to_numpy(float), index=data.index)


def _figure_pair(breakdown, part: str) -> tuple[float, float]:  # noqa: ANN001 - a CostBreakdown
    figure = getattr(breakdown, part)
    return figure.undiscounted, figure.discounted


def _attendances(rounds: pd.DataFrame, events: pd.DataFrame, warnings: list[str]) -> float:
    """Person-attendances at the Rounds: each Round's head count where recorded.

    Rounds are open to all staff, not only those in the trial, so the head count
    on the Round is the denominator a Round's cost is shared over.  A Round with
    no head count counts the trial participants logged as attending it, which
    is fewer, so the cost per attendee is then overstated: a warning says so.
    """
    counted = rounds["attendees"].astype(float)
    if counted.notna().all():
        return float(counted.sum())
    logged = events[events["event_type"] == _ATTENDANCE_EVENT]
    if "round_id" in rounds and "round_id" in logged:
        per_round = logged.groupby(logged["round_id"].astype(str)).size()
        fallback = rounds["round_id"].astype(str).map(per_round).fillna(0.0)
    else:
        fallback = pd.Series(len(logged) / max(len(rounds), 1), index=rounds.index)
    warnings.append(
        f"{int(counted.isna().sum())} of {len(rounds)} Rounds have no head count: their "
        "attendance is the trial participants logged at them, so the cost per attendee per "
        "Round is overstated."
    )
    return float(counted.fillna(fallback).sum())


def _per_round_by_site(ledger: pd.DataFrame, rounds: pd.DataFrame) -> dict[str, float]:
    """Direct running cost per Round at each site, as the CASCADE table reports it."""
    running = ledger[(ledger["category"] == "running") & (ledger["kind"] == "direct")]
    cost = running.groupby(running["site"].astype(str))["cost"].sum()
    held = rounds.groupby(rounds["site"].astype(str)).size()
    return {site: float(cost.get(site, 0.0) / n) for site, n in held.items()}


def _delivery_years(events: pd.DataFrame) -> float:
    """Years the costs were spent over, at least one (the EEF band is per year of delivery)."""
    if events.empty:
        return 1.0
    times = pd.to_datetime(events["occurred_at"])
    return max(1.0, (times.max() - times.min()).days / 365.25)


@dataclass(frozen=True)
class CostedArm:
    """One active arm, costed: its events, ledgers, counts, figures and participants' costs."""

    name: str
    costed: pd.DataFrame
    ledger: pd.DataFrame
    per: object  # an analysis.costs.CostSummary
    figures: dict
    participant_costs: pd.Series


def cost_arm(
    design: TrialDesign,
    events: pd.DataFrame,
    data: pd.DataFrame,
    arm: str,
    *,
    model,  # noqa: ANN001 - a CostModel
    several: bool,
    warnings: list[str],
) -> CostedArm | None:
    """Cost one active arm from its own participants' (and clusters') events; None when it cannot be."""
    start = design.follow_up.randomisation
    treated = data["arm"] == arm
    costed = _costed_events(events, data[treated], design)
    if costed.empty:
        warnings.append(
            f"No delivery events for the '{arm}' arm: it is not costed."
            if several
            else "No delivery events for the intervention arm: costs are not estimated."
        )
        return None
    sessions = _session_events(design, arm)
    if sessions is not None:
        short, counted = _short_head_counts(costed, sessions)
        if short:
            warnings.append(
                f"{short} of {counted} '{sessions[0]}' events have a head count below the trial "
                f"participants logged at them ('{sessions[1]}'): the room is taken as those "
                "logged, so they bear the whole of its cost."
            )
    costed = costed.assign(
        **{
            _SHARE: 1.0
            if sessions is None
            else head_count_shares(costed, session_event=sessions[0], attendance_event=sessions[1])
        }
    )
    try:
        ledger = build_ledger(costed, model, start_date=start)
        # the trial's participants' share: sessions open to others cost them their share of
        # the head count and their own time, not colleagues' time
        shared = build_ledger(costed, model, start_date=start, share_column=_SHARE)
    except ValueError as exc:  # the delivery log lacks a quantity a cost item needs
        warnings.append(
            f"The '{arm}' arm is not costed: {exc}"
            if several
            else f"Costs are not estimated: {exc}"
        )
        return None
    n_randomised = int(treated.sum())
    if "took_up" in data and "completed" in data:
        took_up = int(data.loc[treated, "took_up"].sum())
        completed = int(data.loc[treated, "completed"].sum())
    else:
        took_up = completed = n_randomised
        warnings.append(
            "The data have no took_up and completed columns: cost per taker and per completer "
            "are shown as if everyone randomised to the intervention took it up and completed it."
        )
    rounds = costed[costed["event_type"] == _ROUND_EVENT]
    per = cost_per_participant(
        ledger,
        n_randomised_intervention=n_randomised,
        n_took_up=took_up,
        n_completed=min(completed, took_up),
        n_rounds=len(rounds) if len(rounds) else None,
        attendances=_attendances(rounds, costed, warnings) if len(rounds) else None,
        delivery_years=_delivery_years(costed),
        participants_ledger=shared,
    )
    # EEF rates what a setting pays, not the time of staff it employs anyway
    direct_per_year = per.per_randomised.direct.undiscounted / per.delivery_years
    per_participant = {}
    for name, breakdown, part in (
        ("randomised", per.per_randomised, "total"),
        ("took_up", per.per_taker, "total"),
        ("completed", per.per_completer, "total"),
        # as the CASCADE table: the money a Round costs, not the attendees' time
        ("per_round", per.per_round, "direct"),
        ("per_attendee_per_round", per.per_attendee_per_round, "direct"),
        # and what a Round costs the authority with every attendee's time, in or out of the trial
        ("per_round_including_staff_time", per.per_round, "total"),
        ("per_attendee_per_round_including_staff_time", per.per_attendee_per_round, "total"),
    ):
        if breakdown is None:
            continue
        undiscounted, discounted = _figure_pair(breakdown, part)
        per_participant[name] = undiscounted if math.isfinite(undiscounted) else None
        per_participant[f"{name}_discounted"] = discounted if math.isfinite(discounted) else None
    tornado = unit_cost_sensitivity(
        costed, model, start_date=start, n_participants=n_randomised, share_column=_SHARE
    )
    figures = {
        "arm": arm,
        "per_participant": per_participant,
        "denominators": {
            "randomised": per.n_randomised_intervention,
            "took_up": per.n_took_up,
            "completed": per.n_completed,
            "rounds": per.n_rounds,
            "attendances": per.attendances,
        },
        "per_round_by_site": _per_round_by_site(ledger, rounds) if len(rounds) else None,
        "delivery_years": per.delivery_years,
        "per_participant_per_year": per.per_participant_per_year,
        "direct_per_participant_per_year": direct_per_year,
        "eef_band": eef_cost_band(direct_per_year),
        "sensitivity": [
            {
                "item": f"{row['parameter'].replace('_', ' ').capitalize()} ({row['variation']})",
                "parameter": row["parameter"],
                "kind": row["kind"],
                "low": row["low_per_participant_undiscounted"],
                "high": row["high_per_participant_undiscounted"],
                "base": row["base_per_participant_undiscounted"],
                "low_discounted": row["low_per_participant"],
                "high_discounted": row["high_per_participant"],
            }
            for row in tornado.to_dict("records")
        ],
    }
    if several:
        figures["arm_totals"] = cost_totals(summarise_ledger(ledger), [per])
    return CostedArm(
        name=arm,
        costed=costed,
        ledger=ledger,
        per=per,
        figures=figures,
        participant_costs=_participant_costs(costed, data, design, model, start),
    )


def cost_totals(summary, pers: list) -> dict:  # noqa: ANN001 - a LedgerSummary and CostSummaries
    """The ledger's totals, and the share the costed arms' participants bear of them."""
    participants = [p.participants for p in pers]
    staff_time = sum(p.staff_time.undiscounted for p in participants)
    return {
        "total": summary.total.undiscounted,
        "total_discounted": summary.total.discounted,
        **{k: v.undiscounted for k, v in summary.by_category.items()},
        **{k: v.undiscounted for k, v in summary.by_kind.items()},
        # the trial participants' share, which the cost per participant divides
        "participants_total": sum(p.total.undiscounted for p in participants),
        "participants_total_discounted": sum(p.total.discounted for p in participants),
        "participants_direct": sum(p.direct.undiscounted for p in participants),
        "participants_staff_time": staff_time,
        # a cost of the sessions to the employer, not of the trial's participants
        "others_staff_time": summary.by_kind["staff_time"].undiscounted - staff_time,
    }
