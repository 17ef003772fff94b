"""The learning cycles section of results.json: the primary outcome cycle by cycle, and pooled."""

from __future__ import annotations

from analysis.results_model.base import (
    Count,
    Number,
    OptionalNumber,
    ResultsModel,
    field,
    optional,
)

__all__ = ["CycleAmendment", "CycleEffect", "CycleHeterogeneity", "Cycles"]


class CycleEffect(ResultsModel):
    """The ITT effect of the active arm on the primary outcome within one cycle, or pooled."""

    cycle: str = field(
        "The cycle's name in the design, or 'pooled' for every cycle together with cycle fixed "
        "effects."
    )
    number: Count = field("The cycle's number (1 is the trial's first randomisation); 0 pooled.")
    randomised_on: str | None = field(
        "The cycle's declared randomisation date, ISO 8601; null for the pooled row."
    )
    n: Count = field("Participants in the model (complete cases on the primary's columns).")
    n_per_arm: dict[str, Count] = field("Participants in the model, by arm.")
    estimate: Number = field("Active arm minus control, primary outcome units (ANCOVA).")
    std_error: Number = field("Standard error of the estimate, of the design's SE type.")
    ci_low: Number = field("Lower end of the 95% confidence interval, outcome units.")
    ci_high: Number = field("Upper end of the 95% confidence interval, outcome units.")
    p_value: OptionalNumber = field("Two-sided p-value of no effect; null if not computable.")


class CycleHeterogeneity(ResultsModel):
    """The Wald test that the arm's effect is the same in every cycle."""

    statistic: OptionalNumber = field(
        "The Wald F statistic of the arm x cycle interaction terms (joint test that they are 0), "
        "with the design's SE type; null when it could not be computed."
    )
    df_num: Count = field("Numerator degrees of freedom: the number of interaction terms.")
    df_denom: OptionalNumber = field(
        "Denominator degrees of freedom: the smallest of the interaction terms' degrees of "
        "freedom (n - k, or the clustered SE's)."
    )
    p_value: OptionalNumber = field(
        "p-value of the F test that the effect does not differ between cycles."
    )


class CycleAmendment(ResultsModel):
    """A design amendment recorded between two cycles' randomisations (from the store)."""

    after_cycle: Count = field(
        "The last cycle randomised before the amendment was recorded (it applies from the next)."
    )
    recorded_at: str = field("When the amendment was recorded (UTC, ISO 8601).")
    reason: str = field("The reason given with `trialflow amend`.")
    changes: list[str] = field("Each changed design field, as 'path: old -> new'.")


class Cycles(ResultsModel):
    """Learning cycles: each cycle's own ITT of the primary outcome, the pooled estimate and a
    test of whether the effect differs between cycles."""

    outcome: str = field("The outcome analysed: the design's primary outcome.")
    arm: str = field("The active arm compared with control.")
    se_type: str = field("The standard-error type of every model here (the design's).")
    by_cycle: list[CycleEffect] = field(
        "One row per cycle with participants, in the design's cycle order."
    )
    pooled: CycleEffect | None = field(
        "Every cycle together: the primary's ANCOVA plus cycle fixed effects; null with fewer "
        "than two cycles analysed."
    )
    heterogeneity: CycleHeterogeneity | None = field(
        "The arm x cycle interaction test; null with fewer than two cycles analysed."
    )
    amendments: list[CycleAmendment] = field(
        "Design amendments recorded after the first cycle's randomisation and before the last "
        "cycle's, in the order recorded."
    )
    amendments_looked_up: bool | None = optional(
        "False when the store's randomisation and amendment records were not available (an "
        "analysis of a data file, `analyse --data`): amendments is then empty because nothing "
        "was looked up, not because none was recorded. Absent when they were read."
    )
