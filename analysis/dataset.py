"""The analysis dataset: one row per participant, built from stored long values (pure).

This is what ``trialflow export`` writes for evaluators to take to R or Stata,
and what ``trialflow analyse`` reads.  Column names follow one convention:
``<outcome>_<timepoint>`` (e.g. ``swemwbs_baseline``, ``swemwbs_endline``).
"""

from __future__ import annotations

import pandas as pd

from analysis.instruments import INSTRUMENTS
from trial_designs.design import Outcome, TrialDesign

__all__ = ["analysis_dataset", "data_dictionary", "outcome_measure"]

_SCORE_MEASURE = {"swemwbs": "swemwbs_metric", "wrqol": "wrqol_total", "ghq12": "ghq12_total"}
_HR_MEASURE = {"absence": "absence_rate", "turnover": "turnover"}


def outcome_measure(outcome: Outcome) -> str:
    """The stored measure an outcome analyses (e.g. SWEMWBS -> ``swemwbs_metric``)."""
    if outcome.instrument in _HR_MEASURE:
        return outcome.score or _HR_MEASURE[outcome.instrument]
    if outcome.instrument == "single_item":
        return outcome.name
    if outcome.instrument == "swemwbs" and outcome.score == "raw":
        return "swemwbs_raw"
    if outcome.instrument == "ons4":
        return outcome.score or "ons4_life_satisfaction"
    return _SCORE_MEASURE[outcome.instrument]


def analysis_dataset(
    participants: pd.DataFrame,
    values: pd.DataFrame,
    design: TrialDesign,
    uptake: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per participant: arm, stratum, cluster, uptake, and each outcome at each timepoint.

    Parameters
    ----------
    participants : DataFrame
        participant_id, unit_id, stratum, arm, organisation, team, role (the store's participant arms).
    values : DataFrame
        Long outcome values: participant_id, timepoint, measure, value.
    uptake : DataFrame, optional
        Indexed by participant_id with took_up, dose, completed.
    """
    base = participants[
        ["participant_id", "arm", "stratum", "unit_id", "organisation", "building", "team", "role"]
    ].copy()
    base["cluster"] = base["unit_id"] if design.unit == "cluster" else pd.NA
    base = base.drop(columns="unit_id")
    if uptake is not None and len(uptake):
        base = base.merge(
            uptake[["took_up", "dose", "completed"]],
            left_on="participant_id",
            right_index=True,
            how="left",
        )
        base[["took_up", "dose", "completed"]] = base[["took_up", "dose", "completed"]].fillna(0)
    timepoints = (
        sorted(values["timepoint"].unique(), key=lambda t: (t != "baseline", t != "endline", t))
        if len(values)
        else []
    )
    for outcome in design.outcomes:
        measure = outcome_measure(outcome)
        chosen = values[values["measure"] == measure]
        for timepoint in timepoints:
            series = chosen[chosen["timepoint"] == timepoint].set_index("participant_id")["value"]
            if len(series):
                base[f"{outcome.name}_{timepoint}"] = (
                    base["participant_id"].map(series).astype(float)
                )
    survey_measures = {outcome_measure(o) for o in design.outcomes if o.source == "survey"}
    for timepoint in timepoints:
        answered = values[
            (values["timepoint"] == timepoint)
            & values["measure"].isin(survey_measures)
            & values["value"].notna()
        ]
        base[f"responded_{timepoint}"] = (
            base["participant_id"].isin(answered["participant_id"]).astype(int)
        )
    return base.sort_values("participant_id").reset_index(drop=True)


def data_dictionary(dataset: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """column, description, instrument, range, direction, missing-data rule."""
    fixed = {
        "participant_id": "Pseudonymous staff id (the roster's id).",
        "arm": f"Arm allocated (ITT): {', '.join(design.arm_names)}; control is '{design.control_arm}'.",
        "stratum": "Randomisation stratum: "
        + (" | ".join(design.strata) if design.strata else "none (one stratum)")
        + ".",
        "cluster": f"Unit of randomisation ({design.cluster_by}) in cluster trials."
        if design.unit == "cluster"
        else "Not a cluster trial: empty.",
        "organisation": "Employing organisation (local authority or trust).",
        "building": "Office building, where recorded.",
        "team": "Team.",
        "role": "Role.",
        "took_up": "1 if the participant took the intervention up by the design's definition (uptake issue), else 0.",
        "dose": "Dose received (e.g. modules completed, Rounds attended).",
        "completed": "1 if the participant completed the intervention by the design's definition.",
    }
    rows = []
    by_name = {o.name: o for o in design.outcomes}
    for column in dataset.columns:
        if column in fixed:
            rows.append(
                {
                    "column": column,
                    "description": fixed[column],
                    "instrument": "",
                    "range": "",
                    "direction": "",
                    "missing_rule": "",
                }
            )
            continue
        if column.startswith("responded_"):
            rows.append(
                {
                    "column": column,
                    "description": f"1 if any survey outcome was recorded at {column.removeprefix('responded_')}.",
                    "instrument": "",
                    "range": "0-1",
                    "direction": "",
                    "missing_rule": "",
                }
            )
            continue
        name, _, timepoint = column.rpartition("_")
        outcome = by_name.get(name)
        if outcome is None:
            continue
        spec = INSTRUMENTS.get(outcome.instrument)
        if spec is not None:
            low, high = (
                (7.0, 35.0) if outcome.instrument == "swemwbs" else (spec.score_min, spec.score_max)
            )
            rule = spec.missing_rule
        elif outcome.instrument == "turnover":
            low, high, rule = (
                0,
                1,
                "Missing if the participant left before the window or is not in the HR extract.",
            )
        elif outcome.instrument == "absence":
            low, high, rule = (
                0,
                1,
                "Calendar days in the window while employed; overlapping episodes merged; missing if not in the HR extract.",
            )
        else:
            low, high, rule = (
                outcome.min_value,
                outcome.max_value,
                "Single item: missing if unanswered.",
            )
        rows.append(
            {
                "column": column,
                "description": f"{outcome.label or outcome.name} at {timepoint}"
                + (" (primary outcome)" if outcome.primary else ""),
                "instrument": outcome.instrument,
                "range": f"{low:g}-{high:g}" if low is not None and high is not None else "",
                "direction": "higher is better" if outcome.higher_is_better else "lower is better",
                "missing_rule": rule,
            }
        )
    return pd.DataFrame(rows)
