"""The ``outcomes`` section of results.json: each outcome's effect estimates and summaries."""

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
from analysis.results_model.subgroups import SubgroupTest
from analysis.results_model.waves import OutcomeWaves

__all__ = [
    "ArmSummary",
    "Estimate",
    "NotEstimatedArm",
    "Outcome",
    "SEType",
    "SensitivityEstimate",
    "SubgroupEstimate",
]

SEType = Literal["HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"]


class Estimate(ResultsModel):
    """One coefficient: the difference in the outcome between an active arm and control."""

    estimand: Literal["ITT", "CACE"] = field(
        "ITT: the effect of being assigned to the arm (intention to treat, ANCOVA by OLS). "
        "CACE: the complier average causal effect, random assignment instrumenting uptake "
        "(2SLS)."
    )
    arm: str = field("The active arm compared with the control arm (its name in the design).")
    estimate: Number = field(
        "Active arm minus control, in the outcome's own units (scale points; a risk or rate "
        "difference, as a proportion from 0 to 1, for binary and count HR outcomes), adjusted "
        "for the baseline, strata and declared covariates."
    )
    std_error: Number = field(
        "Standard error of the estimate, of the type se_type, in the outcome's units.", ge=0
    )
    df: OptionalNumber = field(
        "Degrees of freedom of the t reference distribution behind ci_low, ci_high and "
        "p_value: N - K for HC types; the Bell-McCaffrey / Pustejovsky-Tipton Satterthwaite df "
        "for CR2. Null when not defined."
    )
    ci_low: Number = field("Lower end of the two-sided 95% confidence interval (t with df).")
    ci_high: Number = field("Upper end of the two-sided 95% confidence interval (t with df).")
    p_value: Number = field(
        "Two-sided p-value of the null hypothesis of no difference (t test with df), "
        "unadjusted for multiplicity.",
        ge=0,
        le=1,
    )
    p_value_holm: OptionalNumber = optional(
        "ITT estimates of secondary outcomes: the p-value Holm-adjusted across every "
        "secondary ITT estimate of the trial (every secondary outcome x every active arm). "
        "ITT estimates of the primary outcome: Holm-adjusted across the active arms when the "
        "design declares analysis.adjust_across_arms: holm, else null (unadjusted). Null for "
        "CACE estimates."
    )
    ri_p_value: OptionalNumber = optional(
        "Randomisation-inference two-sided p-value for the sharp null of no effect on anyone, "
        "from ri_draws re-draws of the allocation with the design's own randomiser. Absent "
        "when randomisation inference was not run (0 draws) and for CACE estimates."
    )
    ri_ci_low: OptionalNumber = optional(
        "Lower end of the 95% randomisation-inference interval, found by inverting the test "
        "under a constant additive effect; outcome units. Null if the inversion found no bound."
    )
    ri_ci_high: OptionalNumber = optional(
        "Upper end of the 95% randomisation-inference interval (as ri_ci_low)."
    )
    ri_draws: OptionalCount = optional("Re-draws of the allocation behind ri_p_value.")
    se_type: SEType = field(
        "The standard-error estimator: HC0-HC3 heteroskedasticity-robust (independent "
        "observations), CR0-CR2 cluster-robust (CR2: Bell-McCaffrey, as R's clubSandwich)."
    )
    se_clustered_by: str | None = optional(
        "What the standard errors are clustered by: the design's cluster_by in cluster "
        "trials, its analysis.cluster_se_by in individually randomised trials that name one; "
        "null when they are not clustered."
    )
    n: Count = field(
        "Participants in the model: complete cases on the endline outcome, the covariates "
        "and (if any) the clustering variable."
    )
    n_per_arm: dict[str, Count] = field(
        "Participants in the model per arm (every arm of the trial, keyed by arm name). A "
        "CACE uses the control arm and its own arm only, so the other arms count 0."
    )
    n_clusters: OptionalCount = field(
        "Clusters the standard errors were computed over; null for HC (unclustered) types."
    )
    hedges_g: OptionalNumber = optional(
        "Standardised effect size: Hedges' g with the small-sample correction, the estimate "
        "over the pooled SD of the endline outcome (individual trials) or over the total SD "
        "(cluster trials, EEF convention). Null when an arm has fewer than 2 participants. "
        "Absent for CACE estimates."
    )
    hedges_g_ci_low: OptionalNumber = optional(
        "Lower end of the 95% interval of hedges_g (the model's interval rescaled when the "
        "standard errors are clustered)."
    )
    hedges_g_ci_high: OptionalNumber = optional("Upper end of the 95% interval of hedges_g.")
    first_stage_f: OptionalNumber = optional(
        "CACE only: first-stage F statistic of the excluded instrument (assignment) on uptake."
    )
    weak_instrument: bool | None = optional(
        "CACE only: true when first_stage_f is under 10, so the CACE is unreliable."
    )


class ArmSummary(ResultsModel):
    """The raw (unadjusted) endline outcome in one arm."""

    arm: str = field("The arm's name.")
    n: Count = field("Participants in the arm with an endline value.")
    mean: OptionalNumber = field(
        "Mean endline value in the outcome's units (a proportion from 0 to 1 for binary "
        "outcomes); null when no one in the arm has one."
    )
    sd: OptionalNumber = field(
        "Standard deviation of the endline values (n - 1 denominator); null under 2 values."
    )
    baseline_mean: OptionalNumber = optional(
        "Mean of the same outcome at baseline among the arm's participants with one; null "
        "when it has no baseline."
    )


class SensitivityEstimate(ResultsModel):
    """The primary ITT estimate under one way of handling missing endline data."""

    method: Literal["complete_case", "ipw", "multiple_imputation"] = field(
        "complete_case: the primary analysis itself (complete cases, baseline-adjusted). ipw: "
        "complete cases weighted by the inverse of the stabilised probability of responding "
        "(logistic model on baseline characteristics and arm). multiple_imputation: the "
        "design's analysis.mi_imputations (default 20) imputations pooled by Rubin's rules: "
        "IterativeImputer over stratum indicators in trials of at most 20 strata and 50,000 "
        "rows, else Bayesian normal regression with the strata absorbed (detail names which)."
    )
    arm: str | None = optional(
        "The active arm compared with control; each active arm has its own rows, fitted to "
        "the control arm's and that arm's participants."
    )
    estimate: Number = field("Active arm minus control, in the outcome's units.")
    std_error: Number = field(
        "Standard error, the primary's se_type (pooled by Rubin's rules for MI)."
    )
    df: OptionalNumber = optional(
        "Degrees of freedom of the interval and p-value: the model's for complete_case and "
        "ipw; Barnard-Rubin df for MI in individual trials, Rubin's df capped at the CR2 df "
        "in cluster trials."
    )
    ci_low: Number = field("Lower end of the 95% confidence interval, outcome units.")
    ci_high: Number = field("Upper end of the 95% confidence interval, outcome units.")
    p_value: Number = field("Two-sided p-value of no difference (t with df).")
    n: OptionalCount = optional(
        "Participants the estimate uses: complete cases for complete_case and ipw, everyone "
        "randomised to the two arms for multiple_imputation."
    )
    detail: str | None = optional(
        "One sentence on how it was computed (response model, AUC, effective sample size, "
        "imputations, df rule, fraction of missing information)."
    )


class SubgroupEstimate(ResultsModel):
    """The ITT effect within one level of a pre-specified subgroup variable (exploratory)."""

    variable: str = field("The subgroup variable (a column of the analysis dataset).")
    level: str = field("The level of the variable, as text.")
    n: OptionalCount = optional("Participants in the level's model (complete cases).")
    estimate: Number = field(
        "Active arm minus control within the level (the primary's model fitted to the level's "
        "participants), outcome units."
    )
    ci_low: Number = field("Lower end of the 95% confidence interval, outcome units.")
    ci_high: Number = field("Upper end of the 95% confidence interval, outcome units.")
    interaction_p_value: OptionalNumber = field(
        "p-value of the Wald F test that the arm effect is the same in every level of the "
        "variable (arm x level interaction terms); the same for every level of a variable. "
        "Null when the interaction could not be tested."
    )
    arm: str | None = optional(
        "The active arm compared with control within the level (its subgroup_tests entry "
        "has the same variable and arm)."
    )
    std_error: OptionalNumber = optional(
        "Standard error of the estimate (the se_type of the test)."
    )
    df: OptionalNumber = optional("Degrees of freedom of the level's t interval and p-value.")
    p_value: OptionalNumber = optional(
        "Two-sided p-value of no difference within the level, unadjusted."
    )
    interaction_p_value_holm: OptionalNumber = optional(
        "interaction_p_value Holm-adjusted across the declared subgroups (as the "
        "subgroup_tests entry's p_value_holm); null for exploratory subgroups."
    )
    prespecified: bool | None = optional(
        "True for a subgroup the design declares; false for one added in an exploratory reanalysis."
    )


class NotEstimatedArm(ResultsModel):
    """An active arm whose effect on an outcome was not estimated, and why."""

    arm: str = field("The active arm's name, as the design declares it.")
    column: str = field(
        "The outcome's column at its headline timepoint (e.g. 'wellbeing_endline') that no one "
        "in the arm, or no one in the control arm, has a value of."
    )
    reason: str = field(
        "Why it was not estimated, in words for readers: which arm has no responses, out of "
        "how many allocated. The same sentence is in the document's warnings."
    )


class Outcome(ResultsModel):
    """One outcome the design declares: its estimates and per-arm summaries."""

    name: str = field(
        "The outcome's name in the design; its columns are <name>_baseline and <name>_endline."
    )
    label: str = field("The outcome's label for readers (the name when the design gives none).")
    primary: bool = field("True for the one pre-specified primary outcome.")
    instrument: str = field(
        "How it is measured: a scale (swemwbs, wrqol, ons4, ghq12, ...) or an HR measure "
        "(turnover, absence, ...)."
    )
    source: Literal["survey", "hr"] | None = optional(
        "Where the values come from: survey responses or HR records."
    )
    scale_min: OptionalNumber = optional(
        "Lowest possible value of the outcome's scale; null when unbounded or not declared."
    )
    scale_max: OptionalNumber = optional(
        "Highest possible value of the outcome's scale; null when unbounded or not declared."
    )
    higher_is_better: bool = field("True when a higher value is a better outcome.")
    binary: bool | None = optional(
        "True when every observed endline value is 0 or 1: estimates are then risk "
        "differences and means are proportions."
    )
    prespecified: bool | None = optional(
        "True when the design declared the outcome's analysis before the data were seen; "
        "false in an exploratory reanalysis."
    )
    scoring_placeholder: bool | None = optional(
        "Present (true) when the score was computed with a placeholder item map (WRQoL's "
        "packaged map), not the licensed one: its total is right only if the map's reversed "
        "items are, and its subscales mean nothing. Absent otherwise."
    )
    estimates: list[Estimate] = field(
        "ITT estimates, one per active arm against control, then a CACE for each active arm "
        "whose uptake was partial (that arm against control, on the two arms' participants)."
    )
    arms: list[ArmSummary] = field("Raw endline summaries, one per arm in the design's order.")
    icc: OptionalNumber = optional(
        "Cluster trials: intra-cluster correlation of the endline outcome (one-way ANOVA "
        "estimator, arm effects removed), 0 to 1. Absent in individually randomised trials "
        "and when there are fewer than 3 clusters."
    )
    waves: OutcomeWaves | None = optional(
        "Survey outcomes of a design that declares follow-up waves: the ITT at each wave and "
        "endline (ANCOVA on baseline), each arm's mean by timepoint and the pooled "
        "repeated-measures effect. Absent when the design declares no wave."
    )
    icc_ci_low: OptionalNumber = optional("Lower end of the ICC's 95% confidence interval.")
    icc_ci_high: OptionalNumber = optional("Upper end of the ICC's 95% confidence interval.")
    not_estimated: list[NotEstimatedArm] = optional_list(
        "Active arms with no estimate for this outcome because an arm has no value at its "
        "headline timepoint (every response of the arm, or of the control arm, lost), each "
        "with the reason. When an arm is listed, the outcome's CACE, missing-data sensitivity, "
        "subgroups and waves are not computed (they model every arm). Absent when every arm "
        "is estimated."
    )
    sensitivity: list[SensitivityEstimate] = optional_list(
        "The primary outcome: the ITT under complete cases, IPW and multiple imputation "
        "(each method that could be fitted) of each active arm's coefficient in the primary's "
        "model (with several arms the joint one, an indicator per arm, on every arm's "
        "participants; the arm field says which), arms in the design's order. Empty for "
        "secondary outcomes."
    )
    subgroups: list[SubgroupEstimate] = optional_list(
        "The primary outcome: the estimate within each level of each subgroup, for each active "
        "arm against control. Empty for secondary outcomes."
    )
    subgroup_tests: list[SubgroupTest] = optional_list(
        "The primary outcome: for each subgroup and active arm, the arm x subgroup interaction "
        "test with its Holm adjustment, the levels and any level skipped with its reason. "
        "Empty for secondary outcomes."
    )
