"""The ``costs`` section of results.json: ledger, cost per participant, cost-effectiveness.

Money is in ``currency`` (GBP) at ``currency_year`` prices.  A figure without a
suffix is undiscounted; ``_discounted`` is discounted to the randomisation date at
``discount_rate`` (Green Book).  Only the active arms are costed: control
participants cost nothing beyond usual practice.  The section's per-arm figures are
the first active arm's (``arm``); with several active arms ``other_arms`` holds the
same figures for each further one, and the ledger, totals and EVPI cover them all.
"""

from __future__ import annotations

from typing import Literal

from analysis.results_model.base import (
    Count,
    Number,
    OptionalCount,
    OptionalNumber,
    ResultsModel,
    field,
    optional,
    optional_list,
)

__all__ = [
    "ArmCosts",
    "CeacPoint",
    "CostDenominators",
    "CostEffectiveness",
    "CostSensitivity",
    "CostTotals",
    "Costs",
    "EvpiRow",
    "LedgerRow",
    "PerParticipant",
    "PlanePoint",
    "ValueOfInformation",
]

_POUNDS = "pounds (GBP) at currency_year prices"


def _pair(what: str) -> tuple[str, str]:
    return (
        f"{what}, undiscounted, {_POUNDS}; null when it cannot be computed.",
        f"{what}, discounted to the randomisation date, {_POUNDS}.",
    )


class LedgerRow(ResultsModel):
    """The cost of one item in one year, site and organisation."""

    item: str = field("The cost item's name in the design (snake_case).")
    event_type: str | None = optional("The delivery event the item is priced on.")
    category: Literal["setup", "running"] = field("setup (one-off) or running cost.")
    kind: Literal["direct", "staff_time"] = field(
        "direct: money spent; staff_time: the declared hourly cost of staff time."
    )
    unit: str | None = optional("What one unit of the item is, e.g. per_letter.")
    source: str | None = optional("Where the unit cost comes from.")
    currency_year: int | None = optional("The price year of the unit cost.")
    site: str | None = optional("The cluster (site) in cluster trials; null otherwise.")
    organisation: str | None = optional("The organisation the cost fell to; null if unknown.")
    year: int | None = optional("Year of delivery counted from randomisation (0 = first year).")
    quantity: Number = field("Units of the item delivered (events x multiplier, or hours).")
    unit_cost: Number = field(f"Cost of one unit, {_POUNDS}.")
    discount_factor: OptionalNumber = optional("1 / (1 + discount_rate) ** year.")
    cost: Number = field(f"quantity x unit_cost, undiscounted, {_POUNDS}.")
    cost_discounted: Number = field(f"cost x discount_factor, {_POUNDS}.")


class CostTotals(ResultsModel):
    """Whole-trial totals of the ledger and the trial participants' share of them."""

    total: OptionalNumber = optional(_pair("The whole cost of delivery")[0])
    total_discounted: OptionalNumber = optional(_pair("The whole cost of delivery")[1])
    setup: OptionalNumber = optional(f"Set-up (one-off) costs, undiscounted, {_POUNDS}.")
    running: OptionalNumber = optional(f"Running costs, undiscounted, {_POUNDS}.")
    direct: OptionalNumber = optional(f"Direct costs (money spent), undiscounted, {_POUNDS}.")
    staff_time: OptionalNumber = optional(
        f"Staff time of everyone delivering or attending, undiscounted, {_POUNDS}."
    )
    participants_total: OptionalNumber = optional(
        "The trial participants' share: their share of each session's head count and their "
        f"own time; what the cost per participant divides. Undiscounted, {_POUNDS}."
    )
    participants_total_discounted: OptionalNumber = optional(
        f"participants_total discounted, {_POUNDS}."
    )
    participants_direct: OptionalNumber = optional(
        f"The direct part of participants_total, undiscounted, {_POUNDS}."
    )
    participants_staff_time: OptionalNumber = optional(
        f"The participants' own staff time, undiscounted, {_POUNDS}."
    )
    others_staff_time: OptionalNumber = optional(
        "Staff time of attendees outside the trial: a cost of the sessions to the employer, "
        f"not of the trial's participants. Undiscounted, {_POUNDS}."
    )


class PerParticipant(ResultsModel):
    """Cost per head: the participants' share of the cost over each count."""

    randomised: OptionalNumber = optional(
        _pair("Per participant randomised to the intervention (the total cost per participant)")[0]
    )
    randomised_discounted: OptionalNumber = optional(_pair("Per participant randomised")[1])
    took_up: OptionalNumber = optional(_pair("Per participant who took the intervention up")[0])
    took_up_discounted: OptionalNumber = optional(_pair("Per participant who took it up")[1])
    completed: OptionalNumber = optional(_pair("Per participant who completed it")[0])
    completed_discounted: OptionalNumber = optional(_pair("Per participant who completed it")[1])
    per_round: OptionalNumber = optional(
        _pair("Direct running cost per Round held (sessions only; as the CASCADE table)")[0]
    )
    per_round_discounted: OptionalNumber = optional(_pair("Direct running cost per Round")[1])
    per_attendee_per_round: OptionalNumber = optional(
        _pair("Direct running cost per person in the room per Round (head count)")[0]
    )
    per_attendee_per_round_discounted: OptionalNumber = optional(
        _pair("Direct running cost per attendee per Round")[1]
    )
    per_round_including_staff_time: OptionalNumber = optional(
        _pair("Cost per Round with every attendee's staff time, in or out of the trial")[0]
    )
    per_round_including_staff_time_discounted: OptionalNumber = optional(
        _pair("Cost per Round with every attendee's staff time")[1]
    )
    per_attendee_per_round_including_staff_time: OptionalNumber = optional(
        _pair("Cost per attendee per Round with every attendee's staff time")[0]
    )
    per_attendee_per_round_including_staff_time_discounted: OptionalNumber = optional(
        _pair("Cost per attendee per Round with every attendee's staff time")[1]
    )


class CostDenominators(ResultsModel):
    """The counts the costs per head divide by."""

    randomised: OptionalCount = optional("Participants randomised to the intervention arm.")
    took_up: OptionalCount = optional("Of those, participants who took it up.")
    completed: OptionalCount = optional("Of those, participants who completed it.")
    rounds: OptionalCount = optional("Rounds (sessions) held; null without sessions.")
    attendances: OptionalNumber = optional(
        "Person-attendances at the Rounds (each Round's head count, in or out of the trial); "
        "null without sessions."
    )


class PlanePoint(ResultsModel):
    """One bootstrap replicate on the cost-effectiveness plane."""

    cost: Number = field(f"Incremental cost per participant, {_POUNDS}.")
    effect: Number = field("Incremental effect per participant, in effect_unit.")


class CeacPoint(ResultsModel):
    """One point of the cost-effectiveness acceptability curve."""

    wtp: Number = field(f"Willingness to pay per unit of effect, {_POUNDS}.")
    probability: Number = field(
        "Share of bootstrap replicates whose net benefit at wtp is positive, 0 to 1."
    )


class CostEffectiveness(ResultsModel):
    """Incremental cost per unit of effect on one outcome (intervention minus control)."""

    outcome: str = field("The outcome's name in the design.")
    effect_label: str = field("The effect and its unit in words, for readers.")
    effect_unit: str | None = optional(
        "'point' (a scale point) or 'percentage point' (a proportion such as turnover, "
        "priced per percentage point)."
    )
    incremental_cost: Number = field(
        f"Mean cost per participant, intervention minus control, {_POUNDS}."
    )
    incremental_cost_ci_low: OptionalNumber = optional(
        "Lower end of its 95% bootstrap percentile interval."
    )
    incremental_cost_ci_high: OptionalNumber = optional(
        "Upper end of its 95% bootstrap percentile interval."
    )
    incremental_effect: Number = field(
        "Mean effect per participant, intervention minus control, in effect_unit, the endline "
        "adjusted for baseline as the ANCOVA is."
    )
    effect_ci_low: OptionalNumber = optional("Lower end of the effect's 95% bootstrap interval.")
    effect_ci_high: OptionalNumber = optional("Upper end of the effect's 95% bootstrap interval.")
    icer: OptionalNumber = optional(
        f"Incremental cost-effectiveness ratio: incremental_cost / incremental_effect, {_POUNDS} "
        "per effect_unit gained (avoided, when lower is better)."
    )
    icer_ci_low: OptionalNumber = optional(
        "Lower end of the ICER's bootstrap interval; null when the interval is unbounded or "
        "undefined (replicates on both sides of zero effect); see icer_ci_note."
    )
    icer_ci_high: OptionalNumber = optional(
        "Upper end of the ICER's interval, null as icer_ci_low."
    )
    icer_ci_note: str | None = optional("Why the ICER interval is bounded or not, in words.")
    verdict: str = field(
        "dominant (cheaper and better), dominated (dearer and worse) or trade-off."
    )
    sentence: str = field("The result in one sentence for readers.")
    quadrant_shares: dict[str, Number] = optional(
        "Share of bootstrap replicates in each quadrant of the plane (cheaper_and_better, "
        "cheaper_and_worse, dearer_and_better, dearer_and_worse), 0 to 1."
    )
    n_boot: OptionalCount = optional("Bootstrap replicates.")
    n_per_arm: dict[str, Count] = optional(
        "Participants in the bootstrap per arm (followed up on the outcome)."
    )
    n_clusters_per_arm: dict[str, Count] | None = optional(
        "Cluster trials: clusters resampled per arm; null in individual trials."
    )
    plane: list[PlanePoint] = optional_list("Bootstrap replicates for the plane.")
    ceac: list[CeacPoint] = optional_list("The acceptability curve.")


class CostSensitivity(ResultsModel):
    """One-way sensitivity of the cost per participant randomised to one unit cost."""

    item: str = field("The parameter and how it was varied, for readers.")
    parameter: str | None = optional("The cost item or hourly cost varied.")
    kind: str | None = optional("What was varied: a unit cost or an hourly staff cost.")
    low: Number = field(f"Cost per participant at the low value, undiscounted, {_POUNDS}.")
    high: Number = field(f"Cost per participant at the high value, undiscounted, {_POUNDS}.")
    base: OptionalNumber = optional(f"Cost per participant at the declared value, {_POUNDS}.")
    low_discounted: OptionalNumber = optional("low, discounted.")
    high_discounted: OptionalNumber = optional("high, discounted.")


class EvpiRow(ResultsModel):
    """The decision and the expected value of perfect information at one threshold."""

    wtp: Number = field(
        f"The design's willingness to pay per participant for one unit of effect gained, {_POUNDS}."
    )
    expected_inb: Number = field(
        f"Mean incremental net benefit per participant over the draws (wtp x effect - cost), {_POUNDS}."
    )
    decision: Literal["intervention", "control"] = field(
        "The option with the higher expected net benefit: intervention when expected_inb > 0."
    )
    prob_cost_effective: Number = field("Share of draws in which the intervention's INB > 0.")
    evpi_per_person: Number = field(
        f"EVPI per person: mean over draws of max(INB, 0) - max(mean INB, 0), {_POUNDS}; "
        "0 when one option is best in every draw."
    )
    evpi_population: OptionalNumber = field(
        f"evpi_per_person x population x the discounted years, {_POUNDS}: an upper bound on "
        "what any further study could be worth to the decision."
    )
    research_may_be_worthwhile: bool | None = field(
        "True when evpi_population exceeds research_cost: further research may be worth its "
        "cost (EVPI is an upper bound, so not that it is); false: it is not worth its cost. "
        "Null without a research cost."
    )
    best_option: str | None = optional(
        "Several active arms only: the option (arm name, control's included) with the highest "
        "expected net benefit, control on a tie. expected_inb and prob_cost_effective are then "
        "those of the active arm with the highest expected net benefit, and evpi_per_person is "
        "over every option at once: mean over draws of max(0, INB_1, ..., INB_K) - max(0, "
        "mean INB_1, ..., mean INB_K)."
    )
    expected_inb_by_option: dict[str, Number] | None = optional(
        f"Several active arms only: each active arm's mean INB against control, {_POUNDS}."
    )
    prob_best_by_option: dict[str, Number] | None = optional(
        "Several active arms only: the share of draws in which each option (control's "
        "included) has the highest net benefit, 0 to 1 (the first listed on a tie)."
    )


class ValueOfInformation(ResultsModel):
    """EVPI of the primary outcome's cost-effectiveness at the design's thresholds."""

    options: list[str] | None = optional(
        "Several active arms costed only: the options the EVPI chooses among, control first, "
        "then each active arm whose draws it prices (all from one joint bootstrap; an arm no "
        "one was followed up in is left out)."
    )
    outcome: str = field("The outcome whose cost-effectiveness draws are priced (the primary).")
    effect_unit: str = field("The unit of effect wtp is paid per (point, percentage point).")
    n_boot: Count = field("Cost-effectiveness bootstrap draws the EVPI is computed from.")
    population: Count = field("Staff in scope of the decision each year (the design's).")
    years: Count = field("Years the decision holds (the design's).")
    discount_rate: Number = field(
        "Annual rate every year, the first included, is discounted at (the design's)."
    )
    population_multiplier: Number = field(
        "population x sum over years t = 1..years of 1 / (1 + discount_rate)^t: what "
        "evpi_per_person is multiplied by."
    )
    research_cost: OptionalNumber = field(
        f"The cost of the further study considered, {_POUNDS}; null when not declared."
    )
    by_threshold: list[EvpiRow] = field("One row per threshold, in the design's order.")


class ArmCosts(ResultsModel):
    """One active arm's costs per head and cost-effectiveness against control."""

    arm: str | None = optional(
        "The active arm these figures cost (its name in the design); absent in results "
        "written before multi-arm costs, which costed the first active arm."
    )
    arm_totals: CostTotals | None = optional(
        "Several active arms only: this arm's own delivery costs and its participants' share "
        "(the whole trial's are the section's totals)."
    )
    per_participant: PerParticipant = optional("Costs per head.")
    denominators: CostDenominators = optional("The counts per_participant divides by.")
    per_round_by_site: dict[str, Number] | None = optional(
        f"Direct running cost per Round at each site, {_POUNDS}; null without Rounds."
    )
    delivery_years: OptionalNumber = optional(
        "Years the costs were spent over (first to last delivery event), at least 1."
    )
    per_participant_per_year: OptionalNumber = optional(
        f"Cost per participant randomised per year of delivery, {_POUNDS}."
    )
    direct_per_participant_per_year: OptionalNumber = optional(
        f"Direct cost per participant randomised per year, staff time excluded, {_POUNDS}: "
        "what the EEF band rates."
    )
    eef_band: str | None = optional(
        "EEF cost rating of direct_per_participant_per_year: very low (under £80), low "
        "(£80-£200), moderate (£200-£720), high (£720-£1,200), very high (over £1,200)."
    )
    cost_effectiveness: list[CostEffectiveness] | None = optional(
        "One row per outcome priced: the primary, SWEMWBS and turnover; this arm against "
        "control, from the bootstrap that resamples every arm jointly."
    )
    sensitivity: list[CostSensitivity] | None = optional(
        "One-way sensitivity of the cost per participant to each unit cost (declared bounds, "
        "else +/-25%)."
    )


class Costs(ArmCosts):
    """Costs of the active arms and their cost-effectiveness: the first arm's figures here."""

    currency: str | None = optional("Currency of every amount: GBP.")
    currency_year: int | None = optional(
        "Price year of the amounts (the latest of the cost items'); null if none declared."
    )
    discount_rate: Number = optional("Annual discount rate, e.g. 0.035 (Green Book).")
    ledger: list[LedgerRow] = optional_list(
        "The cost ledger of every active arm, one row per item, year and site."
    )
    totals: CostTotals = optional("Whole-trial totals and the participants' share.")
    by_organisation: dict[str, Number] = optional(
        f"Total cost per organisation, undiscounted, {_POUNDS}."
    )
    eef_band_basis: str | None = optional("What the EEF band is computed on, in words.")
    value_of_information: ValueOfInformation | None = optional(
        "EVPI of the primary outcome's cost-effectiveness at the design's willingness-to-pay "
        "thresholds, over every active arm and control at once; absent when the design "
        "declares no value_of_information."
    )
    other_arms: list[ArmCosts] | None = optional(
        "Several active arms only: the same per-arm figures for each active arm after the "
        "first (arm), in the design's order."
    )
