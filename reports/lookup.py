"""Finding things in a results.json document: the arms, the primary outcome, an ITT estimate.

The reports read results.json as plain mappings; these are the few lookups
every part of them needs, written once.  Pure: a document in, a part of it out.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "active_arms",
    "arm_label",
    "arm_labels",
    "arm_names",
    "control_arm",
    "itt_estimate",
    "outcome_named",
    "primary_outcome",
    "shared_outcome",
]

#: Instruments every staff-wellbeing trial is asked to include, so trials can be compared.
_SHARED_INSTRUMENTS = ("swemwbs", "wemwbs")


def arm_names(results: Mapping) -> list[str]:
    """The arms' names in the design's order."""
    return [a["name"] for a in results.get("trial", {}).get("arms", [])]


def arm_labels(results: Mapping) -> dict[str, str]:
    """Arm name -> the label the report prints (the name when the design gives no label)."""
    return {
        a["name"]: a.get("label") or a["name"] for a in results.get("trial", {}).get("arms", [])
    }


def arm_label(results: Mapping, arm: str) -> str:
    """The label of one arm (``arm`` itself when it has none or is not in the trial)."""
    return arm_labels(results).get(arm, arm)


def control_arm(results: Mapping) -> str:
    """The control arm's name ("" when the document names none)."""
    return results.get("trial", {}).get("control_arm", "")


def active_arms(results: Mapping) -> list[str]:
    """Every arm but the control, in the design's order."""
    return [a for a in arm_names(results) if a != control_arm(results)]


def outcome_named(results: Mapping, name: str | None) -> Mapping:
    """The outcome called ``name``, or an empty mapping."""
    return next((o for o in results.get("outcomes", []) if o.get("name") == name), {})


def primary_outcome(results: Mapping) -> Mapping | None:
    """The primary outcome (the first one flagged primary), or ``None``."""
    return next((o for o in results.get("outcomes", []) if o.get("primary")), None)


def shared_outcome(results: Mapping, *, include_primary: bool = True) -> Mapping | None:
    """The first outcome measured with a shared wellbeing instrument (SWEMWBS or WEMWBS), or None.

    ``include_primary=False`` skips the primary outcome: the headline adds a
    sentence on the shared outcome only when it is not the primary already.
    """
    return next(
        (
            o
            for o in results.get("outcomes", [])
            if str(o.get("instrument", "")).lower() in _SHARED_INSTRUMENTS
            and (include_primary or not o.get("primary"))
        ),
        None,
    )


def itt_estimate(outcome: Mapping | None, arm: str | None = None) -> Mapping | None:
    """The ITT estimate for ``arm`` (default: the first active arm estimated)."""
    if not outcome:
        return None
    return next(
        (
            e
            for e in outcome.get("estimates", [])
            if e.get("estimand") == "ITT" and (arm is None or e.get("arm") == arm)
        ),
        None,
    )
