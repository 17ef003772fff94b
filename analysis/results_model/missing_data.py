"""The ``attrition`` and ``balance`` sections of results.json: who was lost, and baseline balance."""

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

__all__ = [
    "Attrition",
    "AttritionBounds",
    "AttritionRow",
    "AttritionTest",
    "Balance",
    "BalanceAuc",
    "BalanceRow",
]


class AttritionRow(ResultsModel):
    """Follow-up of the primary outcome in one arm (as the CONSORT boxes count it)."""

    arm: str = field("The arm's name.")
    allocated: Count = field("Participants randomised to the arm.")
    followed_up: Count = field("Participants with an endline value of the primary outcome.")
    lost: Count = field("allocated minus followed_up.")
    lost_pct: Number = field("lost as a percentage of allocated, 0 to 100.")


class AttritionTest(ResultsModel):
    """Test that the share lost to follow-up is the same in every arm."""

    method: str = field(
        "The test: chi-square on the arm x followed-up table, or Fisher's exact test when an "
        "expected count is under 5."
    )
    p_value: OptionalNumber = field("Its p-value; null when it could not be computed.")
    statistic: OptionalNumber = field("The chi-square statistic; null for Fisher's exact test.")
    df: OptionalCount = optional("Degrees of freedom of the chi-square test; null for Fisher's.")
    min_expected: OptionalNumber = optional("The smallest expected cell count of the table.")
    n: OptionalCount = optional("Participants in the table (everyone randomised).")
    arms: list[str] = optional_list("The arms, in the order of responded and lost.")
    responded: list[Count] = optional_list("Participants followed up, per arm.")
    lost: list[Count] = optional_list("Participants lost to follow-up, per arm.")


class AttritionBounds(ResultsModel):
    """Bounds on the primary outcome's ITT effect that do not assume missing at random."""

    arm: str = field("The active arm compared with control.")
    kind: Literal["lee", "worst_best"] = field(
        "lee: Lee (2009) trimming bounds on the difference in means of a continuous outcome, "
        "assuming monotone response (assignment moves everyone's chance of answering the "
        "same way). worst_best: Horowitz-Manski bounds for a binary outcome, every missing "
        "value set to 0 or 1, assuming nothing."
    )
    lower: Number = field(
        "Lower bound of the unadjusted difference in endline means (active minus control), "
        "outcome units (a proportion from 0 to 1 for binary outcomes)."
    )
    upper: Number = field("Upper bound of the difference, outcome units.")
    se_lower: Number = field("Standard error of lower (analytic; see se_ignores_clustering).")
    se_upper: Number = field("Standard error of upper.")
    ci_low: Number = field(
        "Lower end of the Imbens-Manski (2004) interval, which covers the true effect (not "
        "the whole identified set) with probability level."
    )
    ci_high: Number = field("Upper end of the Imbens-Manski interval.")
    level: Number = field("Coverage of the interval, e.g. 0.95.")
    critical_value: Number = field(
        "The Imbens-Manski critical value, between 1.645 (wide set) and 1.96 (a point) at 95%."
    )
    n_treatment: Count = field("Participants randomised to the active arm.")
    n_control: Count = field("Participants randomised to control.")
    observed_treatment: Count = field("Of those, with an endline value, active arm.")
    observed_control: Count = field("Of those, with an endline value, control.")
    trimmed_arm: Literal["treatment", "control"] | None = field(
        "Lee bounds: the arm with the higher share followed up, whose respondents are "
        "trimmed; null when the shares are equal (nothing trimmed) and for worst_best."
    )
    trim_share: Number = field("Share of the trimmed arm's respondents trimmed, 0 to 1.")
    se_ignores_clustering: bool = field(
        "True in cluster-randomised trials (and with analysis.cluster_se_by): the standard "
        "errors treat participants as independent, so the interval is too narrow; the bounds "
        "themselves do not depend on it."
    )


class Attrition(ResultsModel):
    """Attrition on the primary outcome by arm, and a test of differential attrition."""

    by_arm: list[AttritionRow] = optional_list("One row per arm, in the design's order.")
    bounds: list[AttritionBounds] = optional_list(
        "Bounds on the primary outcome's ITT, one per active arm against control: Lee "
        "bounds for a continuous outcome, worst/best-case for a binary one. Empty when "
        "nobody was lost, or when an arm has too few responses to bound."
    )
    test: AttritionTest | None = optional(
        "The differential-attrition test; null when nobody (or everybody) was lost, or with "
        "one arm."
    )


class BalanceRow(ResultsModel):
    """One baseline characteristic (or one level of it) in one arm."""

    covariate: str = field(
        "The baseline column; for a level of a text column 'column=level' (e.g. "
        "'la=Dudley'), summarised as a 0/1 indicator."
    )
    kind: Literal["continuous", "binary"] = field(
        "continuous: summarised by mean and SD; binary: by the proportion and percentage "
        "with the level (or value 1)."
    )
    arm: str = field("The arm's name (control first, then the other arms sorted).")
    n: Count = field("Participants in the arm with a value.")
    n_missing: Count = field("Participants in the arm without a value.")
    mean: OptionalNumber = field(
        "Mean in the column's units (a proportion from 0 to 1 for binary rows); null with no value."
    )
    sd: OptionalNumber = field("Standard deviation (n - 1); continuous rows only, else null.")
    percent: OptionalNumber = field("100 x mean for binary rows, 0 to 100; null otherwise.")
    smd: OptionalNumber = field(
        "Standardised mean difference against control: the difference in means over the "
        "square root of the average of the two arms' variances (Austin 2009). Null on the "
        "control rows and when neither arm varies; |SMD| > 0.1 is the usual flag."
    )


class BalanceAuc(ResultsModel):
    """The global balance test: how well baseline characteristics predict arm."""

    auc: Number = field(
        "Cross-validated area under the ROC curve of predicting arm (one-vs-rest macro "
        "average for more than two arms); 0.5 means the arms cannot be told apart."
    )
    p_value: Number = field(
        "Share of arm permutations whose cross-validated AUC is at least the observed one "
        "(the observed counted in)."
    )
    n_permutations: Count = field("Arm permutations behind p_value.")
    cv: Count = field("Folds of the cross-validation.")
    n: Count = field(
        "Participants in the test: all of them, or the random subsample that 'subsample' describes."
    )
    n_total: OptionalCount = optional(
        "Participants randomised; only when the test ran on a random subsample of them."
    )
    subsample: str | None = optional(
        "The rule that drew the subsample (above 20,000 participants: 20,000 drawn at random "
        "from the test's seeded stream, each arm in proportion to its size); only when one was drawn."
    )
    n_arms: Count = field("Arms compared.")
    null_mean: Number = field("Mean AUC over the permutations.")
    null_q95: Number = field("95th percentile of the permutation AUCs.")
    covariates: list[str] = field("The baseline columns the classifier used.")
    classifier: str = field("The classifier and its settings.")


class Balance(ResultsModel):
    """Baseline characteristics by arm, and (individually randomised trials) the AUC test."""

    table: list[BalanceRow] = optional_list(
        "The baseline table, long: one row per characteristic (or level) and arm."
    )
    auc: OptionalNumber = optional(
        "The global balance AUC (as auc_detail.auc); null in cluster trials, where shuffling "
        "individuals' arms is not the randomisation."
    )
    auc_p_value: OptionalNumber = optional(
        "Its permutation p-value (as auc_detail.p_value); null in cluster trials."
    )
    auc_detail: BalanceAuc | None = optional("The AUC test in full; absent in cluster trials.")
