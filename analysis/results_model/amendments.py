"""The ``amendments`` section of results.json: design changes recorded after randomisation."""

from __future__ import annotations

from analysis.results_model.base import ResultsModel, field

__all__ = ["DesignAmendment"]


class DesignAmendment(ResultsModel):
    """One design amendment recorded with `trialflow amend` (from the store's amendments table)."""

    recorded_at: str = field("When the amendment was recorded (UTC, ISO 8601).")
    who: str = field("Who recorded it (the claimed user if given, else the operating-system user).")
    reason: str = field("The reason given with `trialflow amend --reason`.")
    old_hash: str = field("The design hash the trial ran under before the amendment.")
    new_hash: str = field("The design hash after the amendment.")
    changes: list[str] = field(
        "Every field that changed, one line each: 'path: old -> new' (values as JSON)."
    )
    analysis_changes: list[str] = field(
        "The lines of changes that alter the analysis plan: any field under 'analysis', an "
        "outcome's primary flag (or a primary outcome added or removed) and "
        "follow_up.primary_timepoint. Empty when the amendment left the analysis plan alone."
    )
    outcome_data_stored: bool = field(
        "True when outcome data (a survey or HR file with stored rows) were already in the store "
        "when the amendment was recorded. With analysis_changes, the plan was changed after "
        "outcome data were collected (post hoc), and the report's headline says so first."
    )
