"""The ``costs`` section of results.json: ledger, cost per participant, cost-effectiveness (pure).

:func:`costs_section` joins the delivery log to the randomised participants,
costs it with the design's cost model (:mod:`analysis.costs`) and reports, as
:class:`analysis.results_model.Costs`:

- the ledger (item, site, organisation, year) and its totals, split into
  set-up and running, direct and staff time;
- for each active arm (:mod:`analysis.sections.cost_arms`): cost per
  participant randomised to it, per participant who took it up, per
  completer, and per Round and per attendee per Round where Rounds were held
  (direct costs, as the CASCADE evaluation reports them, and again with every
  attendee's staff time), each undiscounted beside discounted, with the EEF
  band; the first arm's in the section, each further one's in ``other_arms``;
- for the primary outcome, SWEMWBS and turnover, each active arm against
  control: the incremental cost per unit of effect (per point, or per
  percentage point of a proportion such as turnover) with a bootstrap
  interval, plane and acceptability curve, from one bootstrap that resamples
  every arm jointly;
- one-way sensitivity of the cost per participant to each unit cost;
- when the design declares ``value_of_information``, the EVPI of the
  primary outcome's cost-effectiveness at its thresholds over every option
  at once, per person and for the population
  (:func:`analysis.value_of_information.evpi_table_by_option` on the joint
  bootstrap's draws).

Only active arms are costed: control participants cost nothing beyond usual
practice, so their incremental cost is 0.

Sessions open to people outside the trial (a Round open to all the
authority's staff) serve everyone in the room, so the trial's participants
bear their share of each session's head count and their own staff time
(:func:`analysis.costs.head_count_shares`): the cost per participant does not
grow with colleagues outside the trial.  The ledger and totals stay the whole
cost of delivery; ``totals`` adds the participants' share and the staff time
of attendees outside the trial.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.costs import (
    MapBlocks,
    bootstrap_cost_effect_by_arm,
    build_ledger,
    summarise_ledger,
)
from analysis.estimators.absorb import absorbs, strata_to_absorb
from analysis.results_model import Costs, ValueOfInformation
from analysis.sections.cost_arms import cost_arm, cost_totals
from analysis.value_of_information import annuity_factor, evpi_table_by_option
from trial_designs.cost_model import cost_model_from_mapping
from trial_designs.design import TrialDesign
from trial_designs.sections import Outcome

__all__ = ["BOOTSTRAP_REPLICATES", "costs_section", "cost_effect_outcomes"]

#: Replicates of the cost-effectiveness bootstrap.
BOOTSTRAP_REPLICATES = 5000


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


def _baseline_adjusted(
    data: pd.DataFrame, name: str, used: pd.Series, arms: list[str]
) -> tuple[np.ndarray, pd.Series]:
    """Each participant's endline, adjusted for their baseline as the primary ANCOVA is.

    With ``b`` the ANCOVA slope on the baseline (a dummy for each active arm in
    ``arms``, and strata, in the model),
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
        *((rows["arm"] == arm).to_numpy(float) for arm in arms),
        rows[baseline].to_numpy(float),
    ]
    y, x = rows[endline].to_numpy(float), rows[baseline].to_numpy(float)
    stratified = "stratum" in rows and rows["stratum"].nunique() > 1
    if stratified and absorbs(rows["stratum"], None):
        # many strata (a national trial's organisations): the slope of the model with their
        # dummies, by demeaning within strata (Frisch-Waugh-Lovell), with no n x strata matrix
        strata = strata_to_absorb(rows["stratum"])
        within, *_ = np.linalg.lstsq(strata.demean(np.column_stack(parts[1:])), strata.demean(y))
        slope = within[len(arms)]
    else:
        if stratified:
            dummies = pd.get_dummies(rows["stratum"].astype(str), drop_first=True, dtype=float)
            parts += [dummies[c].to_numpy() for c in dummies]
        coefficients, *_ = np.linalg.lstsq(np.column_stack(parts), y)
        slope = coefficients[1 + len(arms)]
    return y - slope * (x - x.mean()), used


def _ce_row(result, outcome: Outcome, *, subject: str | None = None) -> dict:  # noqa: ANN001 - a BootstrapResult
    """One cost-effectiveness row; ``subject`` names the arm in its sentence when several are priced."""
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
        "sentence": out["sentence"] if subject is None else result.sentence_about(subject),
        "quadrant_shares": out["quadrant_shares"],
        "n_boot": out["n_boot"],
        "n_per_arm": out["n_per_arm"],
        "n_clusters_per_arm": out["n_clusters_per_arm"],
        "plane": out["plane"],
        "ceac": out["ceac"],
    }


def _value_of_information(
    design: TrialDesign, results: list, outcome: Outcome, options: list[str], *, several: bool
) -> ValueOfInformation:
    """EVPI at the design's thresholds over every option at once, from the joint bootstrap's draws.

    ``results`` holds one BootstrapResult per active arm in ``options[1:]`` (effects as
    gains, every arm's draw ``b`` from the same resample); with one arm this is that
    arm's EVPI against control.  ``several``: the trial costed several active arms, so
    the options are named even when only one of them could be priced.
    """
    declared = design.value_of_information
    table = evpi_table_by_option(
        np.column_stack([r.replicate_costs for r in results]),
        np.column_stack([r.replicate_effects for r in results]),
        options=options,
        wtp=declared.wtp,
        population=declared.population,
        years=declared.years,
        discount_rate=declared.discount_rate,
        research_cost=declared.research_cost,
    )
    return ValueOfInformation(
        **({"options": options} if several else {}),
        outcome=outcome.name,
        effect_unit=results[0].effect_unit,
        n_boot=results[0].n_boot,
        population=declared.population,
        years=declared.years,
        discount_rate=declared.discount_rate,
        population_multiplier=declared.population
        * annuity_factor(years=declared.years, discount_rate=declared.discount_rate),
        research_cost=declared.research_cost,
        by_threshold=table.astype(object).to_dict("records"),
    )


def _priced_arms(
    data: pd.DataFrame, used: pd.Series, name: str, options: list[str], warnings: list[str]
) -> list[str] | None:
    """The active arms an outcome's bootstrap prices: those with someone followed up on it.

    None (and a warning) when control or every active arm has no one; an active arm with no
    one is left out of this outcome's bootstrap, and a warning names it.
    """
    endline = f"{name}_endline"
    empty = [a for a in options if not (data.loc[used, "arm"] == a).any()]
    if options[0] in empty or len(empty) == len(options) - 1:
        # no effect to price: the outcome's section names the arm and why
        warnings.append(
            f"No cost-effectiveness for '{name}': no one in the "
            f"{' and '.join(repr(a) for a in empty)} arm has a '{endline}' value."
        )
        return None
    if empty:
        warnings.append(
            f"No cost-effectiveness for '{name}' in the "
            f"{' and '.join(repr(a) for a in empty)} arm: no one in it has a '{endline}' value."
        )
    return [a for a in options[1:] if a not in empty]


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
        Declares the cost model, the arms and the outcomes.
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
        ``section`` is None when the design declares no costs, or no active
        arm could be costed.

    Notes
    -----
    Every active arm is costed from the events of its own participants and
    clusters (an event joins a participant on its unit id, or a cluster of
    the arm); the section's per-arm figures are the first costed arm's, and
    ``other_arms`` holds each further one's.  The ledger and totals are the
    whole trial's (every costed arm).  Costs start in year 0 at the
    randomisation date (Green Book discounting at the design's rate).  Where
    an arm's intervention runs sessions with a head count (its uptake's
    offered and started events, a Round held and attended), the participants
    bear their share of each session's head count
    (:func:`analysis.costs.head_count_shares`).  A cluster's share of costs (a
    Round, a machine) is shared equally among its randomised members, so the
    mean participant cost in an arm is the participants' total over the number
    randomised to it.  The bootstrap pairs each followed-up participant's
    cost with their endline outcome, adjusted for its baseline as the ANCOVA
    is (:func:`_baseline_adjusted`), and resamples every arm jointly, within
    arms (whole clusters in cluster trials), so each replicate prices every
    arm against control; the EVPI chooses among all the options at once.
    """
    if not design.costs:
        return None, []
    warnings: list[str] = []
    model = cost_model_from_mapping(design.costs)
    start = design.follow_up.randomisation
    active = [a for a in design.arm_names if a != design.control_arm]
    labels = {a.name: a.label or a.name for a in design.arms}
    delivered = events[~events["contaminated"].astype(bool)]
    arms = [
        arm
        for name in active
        if (
            arm := cost_arm(
                design,
                delivered,
                data,
                name,
                model=model,
                several=len(active) > 1,
                warnings=warnings,
            )
        )
        is not None
    ]
    if not arms:
        return None, warnings
    ledger = (
        arms[0].ledger
        if len(arms) == 1
        else build_ledger(pd.concat([a.costed for a in arms]), model, start_date=start)
    )
    summary = summarise_ledger(ledger)
    costs = sum((a.participant_costs for a in arms[1:]), arms[0].participant_costs)
    options = [design.control_arm, *(a.name for a in arms)]
    cost_effectiveness: dict[str, list] = {a.name: [] for a in arms}
    value_of_information = None
    cluster = data["cluster"].astype(str) if design.unit == "cluster" else None
    if cluster is not None:
        fewest = int(data.groupby("arm")["cluster"].nunique().reindex(options).min())
        if fewest < 5:
            warnings.append(
                f"An arm has only {fewest} clusters: the cost-effectiveness bootstrap resamples "
                "whole clusters, so its intervals and acceptability curve are rough."
            )
    for outcome in cost_effect_outcomes(design):
        endline = f"{outcome.name}_endline"
        if endline not in data or data[endline].notna().sum() == 0:
            continue
        used = data[endline].notna() & data["arm"].isin(options)
        priced = _priced_arms(data, used, outcome.name, options, warnings)
        if priced is None:
            continue
        used = used & data["arm"].isin([design.control_arm, *priced])
        outcome_values, used = _baseline_adjusted(data, outcome.name, used, priced)
        # a proportion's effect is priced per percentage point, the unit the report states it in:
        # per 0-1 unit it read "increases turnover by 0.000694 leavers; ICER -£13,397"
        proportion = _is_proportion(outcome, data.loc[used, endline])
        label, unit = _effect_words(outcome, proportion=proportion)
        codes = {design.control_arm: 0, **{a: k for k, a in enumerate(priced, start=1)}}
        results = bootstrap_cost_effect_by_arm(
            costs[used].to_numpy(float),
            outcome_values * (100.0 if proportion else 1.0),
            data.loc[used, "arm"].map(codes).to_numpy(int),
            rng=rng,
            clusters=None if cluster is None else cluster[used].to_numpy(),
            n_boot=n_boot,
            higher_is_better=outcome.higher_is_better,
            outcome_label=label,
            effect_unit=unit,
            map_blocks=map_blocks,
        )
        for arm, result in zip(priced, results, strict=True):
            # with several arms "The intervention" would not say which: the arm's label does
            subject = labels[arm] if len(active) > 1 else None
            cost_effectiveness[arm].append(_ce_row(result, outcome, subject=subject))
        if outcome.primary and design.value_of_information is not None:
            value_of_information = _value_of_information(
                design, results, outcome, [design.control_arm, *priced], several=len(arms) > 1
            )
    blocks = [{**a.figures, "cost_effectiveness": cost_effectiveness[a.name]} for a in arms]
    section = {
        **blocks[0],
        "currency": model.currency,
        "currency_year": max(years)
        if (years := [y for a in arms for y in a.per.currency_years])
        else None,
        "discount_rate": model.discount_rate,
        "ledger": ledger.astype(object).where(ledger.notna(), None).to_dict("records"),
        "totals": cost_totals(summary, [a.per for a in arms]),
        "by_organisation": {k: v.undiscounted for k, v in summary.by_organisation.items()},
        "eef_band_basis": "direct cost per participant randomised per year of delivery, "
        "staff time excluded (EEF convention)",
        **({"value_of_information": value_of_information} if value_of_information else {}),
        **({"other_arms": blocks[1:]} if len(blocks) > 1 else {}),
    }
    return Costs.model_validate(section), list(dict.fromkeys(warnings))
