"""The ``uptake`` section of results.json: how far each arm got through the intervention."""

from __future__ import annotations

from pydantic import ConfigDict

from analysis.results_model.base import (
    Count,
    OptionalCount,
    OptionalNumber,
    ResultsModel,
    field,
    optional,
    optional_list,
)

__all__ = ["ContaminatedUnit", "FunnelRow", "OrganisationFunnelRow", "OverTimeRow", "Uptake"]


class FunnelRow(ResultsModel):
    """The uptake funnel of one arm: allocated, offered, started, completed."""

    model_config = ConfigDict(extra="allow")

    arm: str = field("The arm's name.")
    allocated: OptionalCount = optional("Participants randomised to the arm.")
    offered: OptionalCount = optional("Of those, offered the intervention (the offered event).")
    started: OptionalCount = optional("Of those, who started it (took it up).")
    completed: OptionalCount = optional("Of those, who completed it (reached the completing dose).")
    offered_pct: OptionalNumber = optional("offered / allocated x 100.")
    started_pct: OptionalNumber = optional("started / allocated x 100.")
    completed_pct: OptionalNumber = optional("completed / allocated x 100.")
    mean_dose: OptionalNumber = optional(
        "Mean dose (count of dose events) per participant allocated."
    )
    mean_dose_started: OptionalNumber = optional(
        "Mean dose per participant who started; null when no one did."
    )


class OrganisationFunnelRow(FunnelRow):
    """The funnel of one arm within one organisation."""

    organisation: str | None = optional("The organisation.")


class OverTimeRow(ResultsModel):
    """Cumulative uptake of one arm at the end of one week."""

    model_config = ConfigDict(extra="allow")

    week: str = field("The week's Monday, ISO 8601 date.")
    iso_week: str | None = optional("The ISO week, e.g. 2019-W14.")
    arm: str = field("The arm's name.")
    new_started: OptionalCount = optional("Participants who started in that week.")
    started: OptionalCount = optional("Participants who had started by the end of the week.")
    completed: OptionalCount = optional("Participants who had completed by the end of the week.")
    started_pct: OptionalNumber = optional("started as a percentage of the arm allocated.")
    completed_pct: OptionalNumber = optional("completed as a percentage of the arm allocated.")


class ContaminatedUnit(ResultsModel):
    """A control-arm unit (participant or cluster) with delivery events: contamination."""

    model_config = ConfigDict(extra="allow")

    unit_id: str = field("The unit's id.")
    unit_kind: str | None = optional("participant or cluster.")
    arm: str | None = optional("The unit's arm.")
    events: OptionalCount = optional("Delivery events logged to it.")
    event_types: str | None = optional("Their event types, comma-separated.")
    participants_reached: OptionalCount = optional("Participants of the unit reached.")
    first_at: str | None = optional("First event, ISO 8601.")
    last_at: str | None = optional("Last event, ISO 8601.")


class Uptake(ResultsModel):
    """Uptake of the intervention from the delivery log (absent when analysing a dataset file)."""

    model_config = ConfigDict(extra="allow")

    definition: dict[str, str | int | float | None] = optional(
        "The design's uptake definition: which delivery event means offered, started, "
        "completed, which counts as a dose, and the dose that completes (completed_at_dose)."
    )
    definitions_by_arm: dict[str, dict[str, str | int | float | None]] | None = optional(
        "Designs with one intervention per active arm only: each active arm's intervention "
        "(its name under 'intervention') and the uptake definition its funnel row is measured "
        "by; 'definition' is then the first arm's."
    )
    cross_arm_contamination: list[dict[str, str | int]] | None = optional(
        "Designs with one intervention per active arm only: per active arm ('arm') and another "
        "arm's intervention ('intervention'), how many of the arm's participants have events of "
        "it ('participants'). Not uptake: an arm's uptake is of its own intervention."
    )
    funnel: list[FunnelRow] = optional_list("One funnel per arm, in the design's order.")
    over_time: list[OverTimeRow] = optional_list("Cumulative uptake per arm and week.")
    by_organisation: list[OrganisationFunnelRow] = optional_list(
        "The funnel per arm and organisation."
    )
    contamination: Count = optional(
        "Control-arm units with delivery events (contamination).", default=0
    )
    contaminated_units: list[ContaminatedUnit] = optional_list("Those units, one row each.")
