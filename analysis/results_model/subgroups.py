"""The primary outcome's subgroup interaction tests in results.json (``outcomes[].subgroup_tests``)."""

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
)

__all__ = ["SkippedLevel", "SubgroupTest"]


class SkippedLevel(ResultsModel):
    """A level of a subgroup with no estimate of its own, and why."""

    level: str = field("The level, as text (as SubgroupEstimate.level).")
    n: Count = field(
        "Participants of the two arms compared in the level with complete data on the "
        "outcome, the covariates and the subgroup."
    )
    reason: str = field(
        "Why it has no estimate: fewer than 10 participants, an arm with no one in the level, "
        "fewer than 3 clusters with clustered standard errors, or no one in the level at all "
        "(tied tertile cut points)."
    )


class SubgroupTest(ResultsModel):
    """Does the effect of one active arm differ between the levels of one subgroup?"""

    variable: str = field(
        "The subgroup's name: a column of the analysis dataset (role, organisation) or the "
        "name the design gives a derived subgroup (wellbeing_tertile)."
    )
    column: str = field("The analysis-dataset column the subgroup's levels come from.")
    arm: str = field("The active arm compared with control (each active arm has its own test).")
    prespecified: bool = field(
        "True when the design declares the subgroup (analysis.subgroups); false for a subgroup "
        "added in an exploratory reanalysis (trialflow analyse --label ... --subgroups ...), "
        "which is exploratory and not in the Holm family."
    )
    derivation: Literal["levels", "tertiles"] = field(
        "levels: the column's own values are the levels. tertiles: three levels cut at the "
        "1/3 and 2/3 quantiles of the column over everyone in the dataset with a value, "
        "every arm pooled (the "
        "column is measured before randomisation, so the cut points do not depend on the arm)."
    )
    cut_points: list[Number] | None = optional(
        "Tertiles only: the two cut points (numpy's linear quantile, as R's type 7), in the "
        "column's units; a value equal to a cut point belongs to the lower level. Absent "
        "for derivation 'levels'."
    )
    levels: list[str] = field("Every level of the subgroup in the data, in order.")
    skipped: list[SkippedLevel] = field(
        "Levels reported without an estimate of their own, with the reason; they stay in the "
        "interaction model."
    )
    n: Count = field(
        "Participants in the interaction model: the two arms compared, complete on the "
        "outcome, the covariates, the subgroup and (if any) the clustering variable."
    )
    test: Literal["wald_f"] = field(
        "wald_f: a joint Wald test that every arm x level interaction coefficient is 0, in "
        "one ANCOVA of the outcome on arm, the baseline and covariates, strata, level dummies "
        "and arm x level terms, with the primary analysis's standard errors (se_type, "
        "clustered as se_clustered_by), referred to F(df_num, df_denom)."
    )
    statistic: OptionalNumber = field(
        "The F statistic: the Wald chi-square divided by df_num. Null when not tested."
    )
    df_num: OptionalCount = field(
        "Numerator degrees of freedom: the interaction terms tested (levels - 1 after any "
        "that could not be estimated)."
    )
    df_denom: OptionalNumber = field(
        "Denominator degrees of freedom: N - K for HC types, G - 1 for CR0/CR1, and the "
        "smallest Satterthwaite df of the interaction terms for CR2 (an approximation; "
        "clubSandwich's HTZ test is the exact small-sample version)."
    )
    p_value: OptionalNumber = field(
        "p-value of the interaction test, unadjusted. Null when not tested (see note).",
        ge=0,
        le=1,
    )
    p_value_holm: OptionalNumber = field(
        "Pre-declared subgroups: the p-value Holm-adjusted across the declared subgroups "
        "tested for the same arm (no adjustment across arms: the design declares none). Null "
        "for exploratory subgroups and when not tested."
    )
    se_type: Literal["HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"] = field(
        "The standard errors of the interaction model and of each level's estimate: the "
        "primary analysis's."
    )
    se_clustered_by: str | None = field(
        "What the standard errors are clustered by, as the primary estimate's; null when not "
        "clustered."
    )
    note: str | None = optional("Why the interaction was not tested, when it was not.")
