"""The ``costs`` section of results.json: ledger, cost per participant, cost-effectiveness (pure).

:func:`costs_section` joins the delivery log to the randomised participants,
costs it with the design's cost model (:mod:`analysis.costs`) and reports, as
:class:`analysis.results_model.Costs`:

- the ledger (item, site, organisation, year) and its totals, split into
  set-up and running, direct and staff time;
- cost per participant randomised to the intervention, per participant who
  took it up, per completer, and per Round and per attendee per Round where
  Rounds were held (direct costs, as the CASCADE evaluation reports them, and
  again with every attendee's staff time), each undiscounted beside
  discounted, with the EEF band;
- for the primary outcome, SWEMWBS and turnover: the incremental cost per
  unit of effect (per point, or per percentage point of a proportion such as
  turnover) with a bootstrap interval, plane and acceptability curve;
- one-way sensitivity of the cost per participant to each unit cost;
- when the design declares ``value_of_information``, the EVPI of the
  primary outcome's cost-effectiveness at its thresholds, per person and for
  the population (:func:`analysis.value_of_information.evpi_table` on the
  bootstrap's draws).

Only the intervention arm is costed: deliveries to control-arm units are
contamination (reported under uptake), and control participants cost nothing
beyond usual practice, so their incremental cost is 0.

Sessions open to people outside the trial (a Round open to all the
authority's staff) serve everyone in the room, so the trial's participants
bear their share of each session's head count and their own staff time
(:func:`analysis.costs.head_count_shares`): the cost per participant does not
grow with colleagues outside the trial.  The ledger and totals stay the whole
cost of delivery; ``totals`` adds the participants' share and the staff time
of attendees outside the trial.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.costs import (
    MapBlocks,
    bootstrap_cost_effect,
    build_ledger,
    cost_per_participant,
    eef_cost_band,
    head_count_shares,
    summarise_ledger,
    unit_cost_sensitivity,
)
from analysis.results_model import Costs, ValueOfInformation
from analysis.value_of_information import annuity_factor, evpi_table
from trial_designs.cost_model import cost_model_from_mapping
from trial_designs.design import TrialDesign
from trial_designs.sections import Outcome

__all__ = ["BOOTSTRAP_REPLICATES", "costs_section", "cost_effect_outcomes"]

#: Replicates of the cost-effectiveness bootstrap.
BOOTSTRAP_REPLICATES = 5000

_COST_UNIT = "cost_unit"
_SHARE = "participants_share"
_ROUND_EVENT = "round_held"
_ATTENDANCE_EVENT = "attended"


def cost_effect_outcomes(design: TrialDesign) -> list[Outcome]:
    """The outcomes priced per unit of effect: the primary, SWEMWBS and turnover, once each."""
    chosen = [o for o in design.outcomes if o.primary]
    chosen += [o for o in design.outcomes if o.instrument == "swemwbs" and not o.primary]
    chosen += [o for o in design.outcomes if o.instrument == "turnover" and not o.primary]
    return chosen


def _is_proportion(outcome: Outcome, values: pd.Series) -> bool:
    """Binary outcomes and HR rates are proportions, priced per percentage point (as the report shows them)."""
    observed = values.dropna()
    if observed.empty:
        return False
    if observed.isin([0, 1]).all():
        return True
    return outcome.source == "hr" and bool(observed.between(0, 1).all())


def _effect_words(outcome: Outcome, *, proportion: bool = False) -> tuple[str, str]:
    """(outcome label, effect unit) for the verdict sentence: 'reduces turnover by 2.1 percentage points'."""
    label = "turnover" if outcome.instrument == "turnover" else outcome.label or outcome.name
    return label, "percentage point" if proportion else "point"


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


def _baseline_adjusted(
    data: pd.DataFrame, name: str, used: pd.Series, arm: str
) -> tuple[np.ndarray, pd.Series]:
    """Each participant's endline, adjusted for their baseline as the primary ANCOVA is.

    With ``b`` the ANCOVA slope on the baseline (arm and strata in the model),
    ``y - b (x - x̄)`` has arm means whose difference is the ANCOVA effect
    (exactly, without strata), so the bootstrap prices the same effect the
    report headlines rather than a raw difference that baseline imbalance can
    turn round.  ``b`` is held fixed across replicates.  Outcomes without a
    baseline (turnover, absence) are used as they are.
    """
    endline, baseline = f"{name}_endline", f"{name}_baseline"
    if baseline not in data or data.loc[used, baseline].notna().sum() < 3:
        return data.loc[used, endline].to_numpy(float), used
    used = used & data[baseline].notna()
    rows = data[used]
    parts = [
        np.ones(len(rows)),
        (rows["arm"] == arm).to_numpy(float),
        rows[baseline].to_numpy(float),
    ]
    if "stratum" in rows and rows["stratum"].nunique() > 1:
        dummies = pd.get_dummies(rows["stratum"].astype(str), drop_first=True, dtype=float)
        parts += [dummies[c].to_numpy() for c in dummies]
    coefficients, *_ = np.linalg.lstsq(np.column_stack(parts), rows[endline].to_numpy(float))
    x = rows[baseline].to_numpy(float)
    return rows[endline].to_numpy(float) - coefficients[2] * (x - x.mean()), used


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


def _ce_row(result, outcome: Outcome) -> dict:  # noqa: ANN001 - a BootstrapResult
    out = result.to_dict()
    icer = out["icer"]
    direction = "gained" if outcome.higher_is_better else "avoided"
    return {
        "outcome": outcome.name,
        "effect_label": f"{result.outcome_label} (percentage points {direction})"
        if result.effect_unit == "percentage point"
        else f"{result.outcome_label} ({result.effect_unit}s {direction} per participant)",
        "effect_unit": result.effect_unit,
        "incremental_cost": out["incremental_cost"]["estimate"],
        "incremental_cost_ci_low": out["incremental_cost"]["ci_low"],
        "incremental_cost_ci_high": out["incremental_cost"]["ci_high"],
        "incremental_effect": out["incremental_effect"]["estimate"],
        "effect_ci_low": out["incremental_effect"]["ci_low"],
        "effect_ci_high": out["incremental_effect"]["ci_high"],
        "icer": icer["estimate"],
        "icer_ci_low": icer["ci_low"]
        if icer["ci_defined"] and not icer["ci_low_unbounded"]
        else None,
        "icer_ci_high": icer["ci_high"]
        if icer["ci_defined"] and not icer["ci_high_unbounded"]
        else None,
        "icer_ci_note": icer["note"],
        "verdict": out["verdict"],
        "sentence": out["sentence"],
        "quadrant_shares": out["quadrant_shares"],
        "n_boot": out["n_boot"],
        "n_per_arm": out["n_per_arm"],
        "n_clusters_per_arm": out["n_clusters_per_arm"],
        "plane": out["plane"],
        "ceac": out["ceac"],
    }


def _value_of_information(design: TrialDesign, result, outcome: Outcome) -> ValueOfInformation:  # noqa: ANN001 - a BootstrapResult
    """EVPI at the design's thresholds from the bootstrap's incremental draws (effects as gains)."""
    declared = design.value_of_information
    table = evpi_table(
        result.replicate_costs,
        result.replicate_effects,
        wtp=declared.wtp,
        population=declared.population,
        years=declared.years,
        discount_rate=declared.discount_rate,
        research_cost=declared.research_cost,
    )
    return ValueOfInformation(
        outcome=outcome.name,
        effect_unit=result.effect_unit,
        n_boot=result.n_boot,
        population=declared.population,
        years=declared.years,
        discount_rate=declared.discount_rate,
        population_multiplier=declared.population
        * annuity_factor(years=declared.years, discount_rate=declared.discount_rate),
        research_cost=declared.research_cost,
        by_threshold=table.astype(object).to_dict("records"),
    )


def costs_section(
    design: TrialDesign,
    events: pd.DataFrame,
    data: pd.DataFrame,
    *,
    rng: np.random.Generator,
    n_boot: int = BOOTSTRAP_REPLICATES,
    map_blocks: MapBlocks | None = None,
) -> tuple[Costs | None, list[str]]:
    """The costs section, and warnings for what could not be costed.

    Parameters
    ----------
    design : TrialDesign
        Declares the cost model, the intervention arm and the outcomes.
    events : DataFrame
        The trial's delivery events: unit_id, event_type, occurred_at,
        quantity, hours, attendees, contaminated.
    data : DataFrame
        The analysis dataset (one row per randomised participant) with arm,
        cluster, organisation, took_up and completed when delivered, and the
        outcomes' ``<name>_endline`` columns.
    rng : numpy.random.Generator
        For the bootstrap.
    n_boot : int
        Bootstrap replicates.
    map_blocks : callable, optional
        Where the bootstrap's replicate blocks run (see
        :func:`analysis.costs.bootstrap_cost_effect`); the result is the same.

    Returns
    -------
    section, warnings
        ``section`` is None when the design declares no costs.

    Notes
    -----
    Costs start in year 0 at the randomisation date (Green Book discounting
    at the design's rate).  Where the intervention runs sessions with a head
    count (its uptake's offered and started events, a Round held and
    attended), the participants bear their share of each session's head
    count (:func:`analysis.costs.head_count_shares`).  A cluster's share of
    costs (a Round, a machine) is shared equally among its randomised
    members, so the mean participant cost in the intervention arm is the
    participants' total over the number randomised to it.  The
    bootstrap pairs each followed-up participant's cost with their endline
    outcome, adjusted for its baseline as the ANCOVA is (:func:`_baseline_adjusted`),
    and resamples within arms (whole clusters in cluster trials).
    """
    if not design.costs:
        return None, []
    warnings: list[str] = []
    model = cost_model_from_mapping(design.costs)
    start = design.follow_up.randomisation
    active = [a for a in design.arm_names if a != design.control_arm]
    treated = data["arm"] == active[0]
    costed = _costed_events(events[~events["contaminated"].astype(bool)], data[treated], design)
    if costed.empty:
        warnings.append("No delivery events for the intervention arm: costs are not estimated.")
        return None, warnings
    sessions = _session_events(design, active[0])
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
        warnings.append(f"Costs are not estimated: {exc}")
        return None, warnings
    summary = summarise_ledger(ledger)
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
    costs = _participant_costs(costed, data, design, model, start)
    cost_effectiveness = []
    value_of_information = None
    cluster = data["cluster"].astype(str) if design.unit == "cluster" else None
    if cluster is not None:
        fewest = int(
            data.groupby("arm")["cluster"].nunique().reindex([design.control_arm, active[0]]).min()
        )
        if fewest < 5:
            warnings.append(
                f"An arm has only {fewest} clusters: the cost-effectiveness bootstrap resamples "
                "whole clusters, so its intervals and acceptability curve are rough."
            )
    for outcome in cost_effect_outcomes(design):
        endline = f"{outcome.name}_endline"
        if endline not in data or data[endline].notna().sum() == 0:
            continue
        used = data[endline].notna() & data["arm"].isin([design.control_arm, active[0]])
        empty = [
            a for a in (design.control_arm, active[0]) if not (data.loc[used, "arm"] == a).any()
        ]
        if empty:
            # no effect to price: the outcome's section names the arm and why
            warnings.append(
                f"No cost-effectiveness for '{outcome.name}': no one in the "
                f"{' and '.join(repr(a) for a in empty)} arm has a '{endline}' value."
            )
            continue
        outcome_values, used = _baseline_adjusted(data, outcome.name, used, active[0])
        # a proportion's effect is priced per percentage point, the unit the report states it in:
        # per 0-1 unit it read "increases turnover by 0.000694 leavers; ICER -£13,397"
        proportion = _is_proportion(outcome, data.loc[used, endline])
        label, unit = _effect_words(outcome, proportion=proportion)
        result = bootstrap_cost_effect(
            costs[used].to_numpy(float),
            outcome_values * (100.0 if proportion else 1.0),
            (data.loc[used, "arm"] == active[0]).to_numpy(),
            rng=rng,
            clusters=None if cluster is None else cluster[used].to_numpy(),
            n_boot=n_boot,
            higher_is_better=outcome.higher_is_better,
            outcome_label=label,
            effect_unit=unit,
            map_blocks=map_blocks,
        )
        cost_effectiveness.append(_ce_row(result, outcome))
        if outcome.primary and design.value_of_information is not None:
            value_of_information = _value_of_information(design, result, outcome)
    tornado = unit_cost_sensitivity(
        costed, model, start_date=start, n_participants=n_randomised, share_column=_SHARE
    )
    totals = {
        "total": summary.total.undiscounted,
        "total_discounted": summary.total.discounted,
        **{k: v.undiscounted for k, v in summary.by_category.items()},
        **{k: v.undiscounted for k, v in summary.by_kind.items()},
        # the trial participants' share, which the cost per participant divides
        "participants_total": per.participants.total.undiscounted,
        "participants_total_discounted": per.participants.total.discounted,
        "participants_direct": per.participants.direct.undiscounted,
        "participants_staff_time": per.participants.staff_time.undiscounted,
        # a cost of the sessions to the employer, not of the trial's participants
        "others_staff_time": summary.by_kind["staff_time"].undiscounted
        - per.participants.staff_time.undiscounted,
    }
    section = {
        "currency": model.currency,
        "currency_year": max(per.currency_years) if per.currency_years else None,
        "discount_rate": model.discount_rate,
        "ledger": ledger.astype(object).where(ledger.notna(), None).to_dict("records"),
        "totals": totals,
        "by_organisation": {k: v.undiscounted for k, v in summary.by_organisation.items()},
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
        "eef_band_basis": "direct cost per participant randomised per year of delivery, "
        "staff time excluded (EEF convention)",
        "cost_effectiveness": cost_effectiveness,
        **({"value_of_information": value_of_information} if value_of_information else {}),
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
    return Costs.model_validate(section), warnings
