"""Column mapping: which column of a file holds which canonical field, by the design.

A design names the columns of every input it reads (``survey.columns``,
``hr.columns``, an intervention's ``columns``); a field it does not name is read
from the column of the same name.  Flows rename a file's columns by these maps
(:func:`flows.sources.rename_to_canonical`) and then keep only the canonical
fields (:func:`outcome_frame`, :func:`delivery_frame`): free text stops here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from intake.ids import exact_ids
from trial_designs.design import TrialDesign
from trial_designs.instruments import InstrumentSpec, single_item_spec
from trial_designs.scale_files import survey_instrument
from trial_designs.sections import Intervention
from trial_designs.uptake_rules import DELIVERY_FIELDS, REQUIRED_DELIVERY_FIELDS

__all__ = [
    "HR_FIELDS",
    "delivery_fields",
    "delivery_file_columns",
    "delivery_frame",
    "hr_fields",
    "outcome_fields",
    "outcome_frame",
    "survey_fields",
    "survey_instruments",
    "with_optional_hr_columns",
]

#: Canonical HR fields; the optional ones may be absent from a file that the design does not map.
HR_FIELDS = {
    "participant_id": True,
    "record_type": True,
    "fte": True,
    "effective_from": False,
    "leaving_date": False,
    "start_date": True,
    "end_date": True,
}


def survey_instruments(design: TrialDesign) -> list[InstrumentSpec]:
    """The instruments a design's survey holds: named ones once each, then single items."""
    specs: dict[str, InstrumentSpec] = {}
    for outcome in design.outcomes:
        if outcome.source != "survey":
            continue
        if outcome.instrument == "single_item":
            specs[outcome.name] = single_item_spec(
                outcome.name,
                item_min=int(outcome.min_value),
                item_max=int(outcome.max_value),
                higher_is_better=outcome.higher_is_better,
                label=outcome.label,
            )
        else:
            specs.setdefault(outcome.instrument, survey_instrument(outcome.instrument))
    return list(specs.values())


def survey_fields(design: TrialDesign) -> dict[str, str]:
    """Canonical survey field -> column in the file: id, date, then every item the outcomes need.

    A field the design's ``survey.columns`` does not name is read from the
    column of the same name.
    """
    fields = ["participant_id", "collected_on"]
    for spec in survey_instruments(design):
        fields += [c for c in spec.items if c not in fields]
    return {f: design.survey.columns.get(f, f) for f in fields}


def hr_fields(design: TrialDesign) -> dict[str, str]:
    """Canonical HR field -> column in the file (:data:`HR_FIELDS`)."""
    return {f: design.hr.columns.get(f, f) for f in HR_FIELDS}


def outcome_fields(design: TrialDesign, source: str) -> dict[str, str]:
    """Canonical field -> file column of a survey export or an HR extract."""
    return survey_fields(design) if source == "survey" else hr_fields(design)


def with_optional_hr_columns(raw: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """``raw`` with an empty column for each optional HR field the design maps nowhere and the file lacks."""
    mapping = hr_fields(design)
    for optional in [f for f, needed in HR_FIELDS.items() if not needed]:
        if optional not in design.hr.columns and mapping[optional] not in raw:
            raw[mapping[optional]] = np.nan
    return raw


def outcome_frame(renamed: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """source_row and the canonical fields only, ids exactly as written."""
    frame = renamed[["source_row", *mapping]].reset_index(drop=True)  # free text stops here
    # ids exactly as written: 'P10 ' is an unknown id, quarantined, never stored under 'P10'
    frame["participant_id"] = exact_ids(frame["participant_id"])
    return frame


def delivery_file_columns(intervention: Intervention) -> dict[str, str]:
    """Every delivery field -> the file column it is read from (for messages)."""
    return {f: intervention.columns.get(f, f) for f in DELIVERY_FIELDS}


def delivery_fields(intervention: Intervention) -> dict[str, str]:
    """Delivery field -> file column for the fields a delivery log must hold.

    Unit, event type and date, and every field the intervention's ``columns`` maps.
    """
    return {
        f: intervention.columns.get(f, f) for f in REQUIRED_DELIVERY_FIELDS
    } | intervention.columns


def delivery_frame(renamed: pd.DataFrame) -> pd.DataFrame:
    """source_row and every delivery field (empty where the file has none), unit ids exact.

    An optional field the design does not map is read if the file has a column
    of its name, and is empty otherwise.
    """
    frame = renamed
    for field in DELIVERY_FIELDS:
        if field not in frame:
            frame[field] = None
    # matched exactly, as every reader matches ids: 'P10 ' is an unknown unit, not 'P10'
    frame["unit_id"] = exact_ids(frame["unit_id"])
    return frame[["source_row", *DELIVERY_FIELDS]]
