"""The rule book for delivery logs and uptake definitions (pure).

A design's intervention names, in ``columns``, which file column holds each
delivery field, and, in ``uptake``, which of its event types mean *offered*,
*started* and *completed*, which counts as *dose*, and which means the
intervention did *not* reach the person.  The design checks these when it is
loaded and the uptake analysis (:mod:`analysis.uptake`) applies them, so both
read the one vocabulary kept here, in the lower layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DELIVERY_FIELDS",
    "REQUIRED_DELIVERY_FIELDS",
    "UPTAKE_EVENT_KEYS",
    "UPTAKE_KEYS",
    "check_uptake_definition",
]

#: The fields of a delivery event; a design's intervention ``columns`` maps them to file columns.
DELIVERY_FIELDS: dict[str, str] = {
    "unit_id": "The participant or cluster (building, site) the event is about.",
    "event_type": "What happened, from the intervention's event vocabulary.",
    "occurred_at": "When it happened: YYYY-MM-DD, optionally with a time.",
    "quantity": "How many (machines installed, restocks); a number.",
    "hours": "How long, in hours (a Round, a training day); a number.",
    "attendees": "How many people were there (a Round, a panel meeting); a number.",
    "module": "The course module, 1 to 6.",
    "round_id": "The Round an event belongs to (held, attended, panel, steering group).",
    "facilitator": "Who facilitated (free text).",
}
#: The fields every delivery log holds whatever the design maps: who, what and when.
REQUIRED_DELIVERY_FIELDS = ("unit_id", "event_type", "occurred_at")

#: The keys of an intervention's ``uptake`` definition and what each means.
UPTAKE_KEYS: dict[str, str] = {
    "offered": "event type meaning the intervention was offered or delivered (default: 'started')",
    "started": "event type meaning the participant took it up: the binary uptake the CACE uses",
    "completed": "event type meaning completion, when completion is not a dose threshold",
    "dose": "event type counted as dose: distinct modules, else distinct Rounds, else distinct times",
    "completed_at_dose": "the dose (a positive integer) at which a participant has completed",
    "not_received": "event type meaning it never arrived (a letter returned): not started, not completed",
}

#: The uptake keys that name an event type.
UPTAKE_EVENT_KEYS = ("offered", "started", "completed", "dose", "not_received")


def check_uptake_definition(
    definition: Mapping[str, Any], event_types: Sequence[str] | None = None
) -> None:
    """Refuse an uptake definition that cannot be applied.

    Parameters
    ----------
    definition : mapping
        An intervention's ``uptake`` block; keys from :data:`UPTAKE_KEYS`.
    event_types : sequence of str, optional
        The intervention's event vocabulary; when given, every event the
        definition names must be in it.

    Raises
    ------
    ValueError
        Naming the key, the rule and the value, e.g. "The uptake key 'startd'
        is not known. Choose one of: offered, started, ... Got 'startd' instead."
    """
    for key in definition:
        if key not in UPTAKE_KEYS:
            raise ValueError(
                f"The uptake key '{key}' is not known. Choose one of: {', '.join(UPTAKE_KEYS)}. "
                f"Got '{key}' instead."
            )
    if not definition.get("started"):
        raise ValueError(
            "The uptake definition must name the 'started' event (what counts as taking the "
            f"intervention up). Got keys {sorted(definition)} instead."
        )
    if event_types is not None:
        for key in UPTAKE_EVENT_KEYS:
            event = definition.get(key)
            if event is not None and event not in event_types:
                raise ValueError(
                    f"The uptake key '{key}' must name one of the intervention's event types: "
                    f"{', '.join(event_types)}. Got '{event}' instead."
                )
    if "completed_at_dose" in definition:
        threshold = definition["completed_at_dose"]
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ValueError(
                f"The uptake key 'completed_at_dose' must be a positive integer. Got {threshold!r} instead."
            )
        if "dose" not in definition:
            raise ValueError(
                "The uptake key 'completed_at_dose' needs a 'dose' event to count. Got none instead."
            )
        if "completed" in definition:
            raise ValueError(
                "The uptake definition may give 'completed' or 'completed_at_dose', not both. "
                f"Got completed={definition['completed']!r} and completed_at_dose={threshold!r} instead."
            )
