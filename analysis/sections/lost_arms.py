"""Arms an outcome cannot compare: nobody in them has a value at the outcome's timepoint.

When a survey never reached an arm (every endline response of the arm is lost), the
arm's indicator is zero on every row the model can use, so its effect is not
identified.  The analysis then estimates the arms it can (each active arm with
responses against a control arm with responses), names each arm it cannot with
the reason, and leaves out the models that need every arm (CACE, missing-data
sensitivity, subgroups, waves, cycles) instead of stopping the whole analysis.
"""

from __future__ import annotations

import pandas as pd

from analysis.results_model.outcomes import NotEstimatedArm
from trial_designs.design import TrialDesign

__all__ = ["arms_without_responses", "not_estimated_arms"]


def arms_without_responses(data: pd.DataFrame, design: TrialDesign, column: str) -> list[str]:
    """The design's arms (in its order) in which no one has a value of ``column``."""
    observed = data.loc[data[column].notna(), "arm"]
    return [a for a in design.arm_names if not (observed == a).any()]


def not_estimated_arms(
    data: pd.DataFrame, design: TrialDesign, outcome: str, column: str, lost: list[str]
) -> tuple[list[str], list[NotEstimatedArm]]:
    """The active arms whose effect on ``outcome`` can be estimated, and the others with why.

    Parameters
    ----------
    data : DataFrame
        The analysis dataset (one row per participant, ``arm`` and ``column``).
    design : TrialDesign
        The trial's design: its arms and control arm.
    outcome : str
        The outcome's name, for the reasons.
    column : str
        The outcome's column at its headline timepoint.
    lost : list of str
        :func:`arms_without_responses` of ``column``.

    Returns
    -------
    estimable : list of str
        Active arms with responses, when the control arm has responses (else none).
    not_estimated : list of NotEstimatedArm
        Every other active arm, with the reason its effect is not estimated.
    """
    allocated = data["arm"].value_counts()
    control = design.control_arm
    estimable, skipped = [], []
    for arm in (a for a in design.arm_names if a != control):
        if control in lost:
            reason = (
                f"No one in the control arm '{control}' has a '{column}' value (0 of "
                f"{int(allocated.get(control, 0))} allocated), so the effect of '{arm}' on "
                f"'{outcome}' cannot be estimated: there is nothing to compare it with."
            )
        elif arm in lost:
            reason = (
                f"No one in the '{arm}' arm has a '{column}' value (0 of "
                f"{int(allocated.get(arm, 0))} allocated), so its effect on '{outcome}' cannot "
                "be estimated."
            )
        else:
            estimable.append(arm)
            continue
        skipped.append(NotEstimatedArm(arm=arm, column=column, reason=reason))
    return estimable, skipped
