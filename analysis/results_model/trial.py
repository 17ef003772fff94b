"""The trial's own sections of results.json: trial, dates, CONSORT counts, methods,
data validation, the registered plan and the exploratory stamp."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict

from analysis.results_model.base import (
    Count,
    OptionalCount,
    OptionalNumber,
    ResultsModel,
    field,
    optional,
    optional_list,
)

__all__ = [
    "ArmDeclaration",
    "ConsortArm",
    "ConsortClusterArm",
    "Consort",
    "DataValidation",
    "Exploratory",
    "ExploratoryChange",
    "Methods",
    "QuarantineRule",
    "Randomisation",
    "Sap",
    "Trial",
]


class ArmDeclaration(ResultsModel):
    """One arm as the design declares it."""

    model_config = ConfigDict(extra="allow")  # tolerated, as the hand-written schema did

    name: str = field("The arm's name: the key used for it throughout this file.")
    label: str = field("The arm's label for readers (the name when the design gives none).")
    ratio: int = field(
        "Its allocation ratio as randomised: the declared ratio, or the exact number of units "
        "for designs that fix arm sizes (n_units)."
    )
    control: bool | None = optional("True for the control arm.")


class Randomisation(ResultsModel):
    """How units were allocated."""

    model_config = ConfigDict(extra="allow")

    method: str = field(
        "The allocation algorithm: complete, blocked, stratified, cluster, constrained, "
        "minimisation, ..."
    )
    seed: int = field("The design's random seed, from which every random step is drawn.")
    algorithm_version: str = field(
        "Version of trialflow's allocation algorithms: the same seed and version give the "
        "same allocation."
    )
    block_sizes: list[int] = optional_list("Block sizes of blocked designs (empty otherwise).")
    balance_score: OptionalNumber = optional(
        "Constrained randomisation: the chosen allocation's imbalance score (lower is more "
        "balanced), from the audit log; null otherwise or when the analysis read a dataset file."
    )


class Trial(ResultsModel):
    """What was randomised, how, and from which design."""

    id: str = field("The trial's id (the design's id).")
    title: str = field("The trial's title.")
    question: str = field("The question the trial answers, as the design states it.")
    unit: Literal["individual", "cluster"] = field(
        "The unit of randomisation: individual participants, or clusters of them."
    )
    cluster_by: str | None = optional(
        "Cluster trials: the roster field whose values are the clusters; null otherwise."
    )
    cluster_se_by: str | None = optional(
        "Individually randomised trials: the grouping (e.g. team) standard errors are "
        "clustered by, from the design's analysis.cluster_se_by; null if none."
    )
    strata: list[str] = optional_list("Roster fields the randomisation was stratified by.")
    arms: list[ArmDeclaration] = field("The arms in the design's order.")
    control_arm: str = field("The name of the control arm every estimate is compared with.")
    design_hash: str = field(
        "SHA-256 of the design's canonical form: proves which declared design the results "
        "come from.",
        pattern=r"^[0-9a-f]{64}$",
    )
    randomisation: Randomisation = field("How units were allocated.")
    data_source: str | None = optional(
        "'store' (the trial's own store) or the file name of an external analysis dataset."
    )


class ConsortArm(ResultsModel):
    """CONSORT counts of individuals in one arm."""

    model_config = ConfigDict(extra="allow")

    allocated: int = field("Participants randomised to the arm.")
    received: OptionalCount = field(
        "Participants who took the intervention up (null when uptake is not recorded)."
    )
    not_received: OptionalCount = optional("allocated minus received; null with received.")
    lost: int = field("Participants with no endline value of the primary outcome.")
    excluded: OptionalCount = optional(
        "Followed up but not analysed: a baseline, covariate or clustering value was missing "
        "(complete cases)."
    )
    analysed: int = field("Participants in the primary ITT model.")


class ConsortClusterArm(ResultsModel):
    """CONSORT counts of clusters in one arm (cluster trials)."""

    model_config = ConfigDict(extra="allow")

    allocated: int = field("Clusters randomised to the arm.")
    received: OptionalCount = field(
        "Clusters where anyone took the intervention up (null when uptake is not recorded)."
    )
    not_received: OptionalCount = optional("allocated minus received; null with received.")
    lost: int = field("Clusters with no participant followed up on the primary outcome.")
    analysed: int = field("Clusters with at least one participant in the primary ITT model.")


class Consort(ResultsModel):
    """The CONSORT flow: counts by arm from allocation to analysis of the primary outcome."""

    assessed: OptionalCount = optional(
        "Staff assessed for eligibility; null when the roster held only the eligible."
    )
    excluded: OptionalCount = optional("Staff assessed but not randomised; null when not recorded.")
    individuals: dict[str, ConsortArm] = field("Counts of individuals, keyed by arm name.")
    clusters: dict[str, ConsortClusterArm] | None = optional(
        "Cluster trials: counts of clusters keyed by arm name; null in individual trials."
    )


class Methods(ResultsModel):
    """The methods, one sentence or paragraph each, as the report prints them."""

    model_config = ConfigDict(extra="allow")  # new methods may be added in 1.x

    itt: str | None = optional("The ITT model.")
    standard_errors: str | None = optional("The standard-error type and its df.")
    binary_outcomes: str | None = optional("How binary and count outcomes are modelled.")
    cace: str | None = optional("The CACE estimator.")
    randomisation_inference: str | None = optional("The randomisation inference.")
    effect_sizes: str | None = optional("The standardised effect size.")
    multiplicity: str | None = optional("Multiplicity adjustment.")
    missing_data: str | None = optional("The primary's handling of missing data and sensitivity.")
    balance: str | None = optional("The baseline balance table and test.")
    costs: str | None = optional("How costs and cost-effectiveness are estimated.")
    prespecified: str | None = optional("What was declared before analysis.")
    exploratory: str | None = optional("Which analyses are exploratory.")
    repeated_measures: str | None = optional(
        "Designs with follow-up waves: the per-wave ANCOVA, the pooled mixed model and why it "
        "was chosen. Absent when the design declares no wave."
    )


class QuarantineRule(ResultsModel):
    """Rows refused at ingest under one rule."""

    model_config = ConfigDict(extra="allow")

    kind: str | None = optional("Which input: roster, deliveries, survey, hr, ...")
    rule: str | None = optional("The check the rows failed (its name).")
    rows: OptionalCount = optional("Quarantined rows under the rule.")
    files: OptionalCount = optional("Files those rows came from.")


class DataValidation(ResultsModel):
    """Rows quarantined at ingest, by rule (from the store; zero for a dataset file)."""

    rows_quarantined: Count = field(
        "Distinct input rows quarantined (a row may break several rules).", default=0
    )
    by_rule: list[QuarantineRule] = optional_list("Quarantined rows per input kind and rule.")


class Sap(ResultsModel):
    """The statistical analysis plan registered with `trialflow sap` against this analysis."""

    registered: bool = field("Whether a plan was registered for the trial.")
    registered_at: str | None = field(
        "When the plan was registered: ISO 8601 time, UTC; null if none."
    )
    hash: str | None = field(
        "SHA-256 of the registered plan's canonical JSON (sap.json); null if none.",
        pattern=r"^[0-9a-f]{64}$",
    )
    late: bool = field("Registered after outcome data were stored (--late).")
    late_reason: str | None = field("The reason given for a late registration; null if on time.")
    followed: bool = field(
        "True when a plan was registered and the analysis deviated from it in no way."
    )
    deviations: list[str] = field(
        "Every deviation, one sentence each: a changed analysis section or design, an "
        "amendment after registration, an analysis option or dataset outside the plan, or no "
        "plan registered."
    )


class ExploratoryChange(ResultsModel):
    """One analysis option changed for an exploratory reanalysis."""

    prespecified: Any = field("The design's value of the option.")
    exploratory: Any = field("The value this analysis used instead.")


class Exploratory(ResultsModel):
    """What was run instead of the pre-specified analysis (analysis_status 'exploratory')."""

    label: str = field(
        "The name given with --label; the results folder is exploratory/<label>/.",
        pattern=r"^[a-z][a-z0-9_-]{0,63}$",
    )
    differences: list[str] = field(
        "One sentence per analysis option that differs from the design, e.g. 'Standard "
        "errors: CR1 instead of the pre-specified CR2.'"
    )
    changes: dict[str, ExploratoryChange] = field(
        "Each changed analysis option (covariates, se_type), keyed by its name in the "
        "design's analysis section."
    )
