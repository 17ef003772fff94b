"""An outcome's ``waves`` entry of results.json: each follow-up wave and the pooled effect."""

from __future__ import annotations

from analysis.results_model.base import (
    Count,
    Number,
    OptionalNumber,
    ResultsModel,
    field,
)

__all__ = ["OutcomeWaves", "PooledWaveEffect", "WaveEffect", "WaveMean"]


class WaveEffect(ResultsModel):
    """The ITT at one follow-up timepoint: ANCOVA of that wave's answers on baseline."""

    arm: str = field("The active arm compared with the control arm (its name in the design).")
    timepoint: str = field("The follow-up timepoint: a declared wave's name, or endline.")
    primary: bool = field(
        "True at the design's pre-declared primary timepoint (follow_up.primary_timepoint), "
        "the one the headline estimate uses."
    )
    estimate: Number = field("Difference in the outcome's units, arm minus control (OLS).")
    std_error: Number = field("Standard error of the estimate (the outcome's se_type).")
    df: OptionalNumber = field("Degrees of freedom of the t interval and p-value.")
    ci_low: Number = field("Lower end of the 95% confidence interval.")
    ci_high: Number = field("Upper end of the 95% confidence interval.")
    p_value: Number = field("Two-sided p-value of no difference at this timepoint, unadjusted.")
    n: Count = field(
        "Participants in the model: answered at this timepoint, complete on its covariates."
    )


class PooledWaveEffect(ResultsModel):
    """The arm's average effect over the follow-up waves, from one linear mixed model."""

    arm: str = field("The active arm compared with the control arm (its name in the design).")
    estimate: Number = field(
        "Mean of the arm's effects at each follow-up timepoint (arm x wave terms of a REML "
        "linear mixed model with random intercepts), in the outcome's units."
    )
    std_error: Number = field("Standard error from the fixed effects' covariance (X'V^-1 X)^-1.")
    ci_low: Number = field("Lower end of the 95% interval, normal-based (no small-sample df).")
    ci_high: Number = field("Upper end of the 95% interval, normal-based (no small-sample df).")
    z: Number = field("The estimate over its standard error.")
    p_value: Number = field("Two-sided normal p-value of no average effect.")


class WaveMean(ResultsModel):
    """One arm's observed mean at one timepoint, for the chart of means by wave."""

    arm: str = field("The arm (its name in the design).")
    timepoint: str = field("baseline, a declared wave's name, or endline.")
    n: Count = field("Participants of the arm who answered at this timepoint.")
    mean: Number = field("Mean of their answers, in the outcome's units.")
    ci_low: OptionalNumber = field(
        "Lower end of the mean's 95% CI (t; cluster-robust in cluster trials); null under 2 "
        "answers or clusters."
    )
    ci_high: OptionalNumber = field("Upper end of the mean's 95% CI; null as ci_low.")


class OutcomeWaves(ResultsModel):
    """A survey outcome measured at several follow-up waves: per-wave and pooled effects."""

    timepoints: list[str] = field(
        "The follow-up timepoints analysed, in time order (declared waves, then endline)."
    )
    primary_timepoint: str = field(
        "The pre-declared timepoint of the headline estimate (the outcome's estimates)."
    )
    effects: list[WaveEffect] = field(
        "ANCOVA per timepoint (each wave on baseline and the design's covariates), one per "
        "active arm and timepoint."
    )
    pooled: list[PooledWaveEffect] = field(
        "The pooled repeated-measures effect per active arm: empty when the mixed model could "
        "not be fitted."
    )
    means: list[WaveMean] = field(
        "Each arm's observed mean with its 95% CI at baseline and every follow-up timepoint."
    )
    n_obs: Count = field("Answers (participant x follow-up timepoint) in the mixed model.")
    n_participants: Count = field("Participants in the mixed model.")
    n_clusters: Count = field(
        "Clusters given a random intercept in the mixed model; 0 in individually randomised trials."
    )
    singular: bool = field(
        "True when a variance component of the mixed model was estimated at (or near) zero, "
        "lme4's isSingular: the fit is valid but that random intercept does nothing."
    )
