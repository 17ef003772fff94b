"""The whole results.json document: one field per section."""

from __future__ import annotations

from typing import Literal

from analysis.results_model.amendments import DesignAmendment
from analysis.results_model.base import ResultsModel, field, optional
from analysis.results_model.costs import Costs
from analysis.results_model.cycles import Cycles
from analysis.results_model.missing_data import Attrition, Balance
from analysis.results_model.outcomes import Outcome
from analysis.results_model.trial import Consort, DataValidation, Exploratory, Methods, Sap, Trial
from analysis.results_model.uptake import Uptake

__all__ = ["SCHEMA_VERSION", "ResultsDocument"]

#: The results.json schema version this code writes.
SCHEMA_VERSION = "1.0.0"


class ResultsDocument(ResultsModel):
    """The results of one trial's pre-specified analysis.

    Written by `trialflow analyse` as results.json; read by the reports and by other tools.
    Numbers are plain JSON numbers; a value that cannot be computed is null, never NaN.
    Version 1.x: fields may be added; none is removed or changes meaning without a major
    version.
    """

    schema_version: str = field(
        "The schema version the file follows (semantic versioning, major 1).",
        pattern=r"^1\.[0-9]+\.[0-9]+$",
    )
    analysis_status: Literal["prespecified", "exploratory"] | None = optional(
        "Absent in the pre-specified analysis. 'exploratory' in a file written by `trialflow "
        "analyse --label NAME` (under exploratory/NAME/): a model other than the design's, "
        "chosen after the data were seen; its numbers are not the trial's pre-specified "
        "results."
    )
    exploratory: Exploratory | None = optional(
        "Present when analysis_status is 'exploratory': what was run instead of the "
        "pre-specified analysis."
    )
    trial: Trial = field("What was randomised, how, and from which design.")
    dates: dict[str, str | None] = field(
        "The design's recruitment and follow-up dates (recruitment_start, randomisation, "
        "baseline, endline, window_start, window_end), ISO 8601; null when not declared."
    )
    consort: Consort = field("The CONSORT flow of the primary outcome, by arm.")
    outcomes: list[Outcome] = field("Every outcome analysed, the primary first.")
    attrition: Attrition = field(
        "Loss to follow-up on the primary outcome by arm, and a test of differential attrition."
    )
    balance: Balance | None = optional(
        "Baseline characteristics by arm; null when there are none that vary."
    )
    costs: Costs | None = optional(
        "Costs and cost-effectiveness of each active arm (the first in the section, any "
        "further ones in its other_arms); null when the design declares no cost model, there "
        "is no delivery log, or nothing could be costed."
    )
    cycles: Cycles | None = optional(
        "Learning cycles (a design declaring 'cycles'): the primary outcome's ITT in each "
        "cycle, pooled with cycle fixed effects, the arm x cycle test and the amendments "
        "recorded between cycles. Absent for a design without cycles."
    )
    uptake: Uptake | None = optional(
        "Uptake of the intervention from the delivery log; absent when analysing a dataset "
        "file, null when nothing was delivered."
    )
    amendments: list[DesignAmendment] | None = optional(
        "Design amendments recorded with `trialflow amend` after randomisation, oldest first "
        "(from the store): what changed, when, by whom, why, and whether outcome data were "
        "already stored. Absent when the trial was never amended or the analysis read a "
        "dataset file."
    )
    data_validation: DataValidation = field("Rows quarantined at ingest, by rule.")
    sap: Sap | None = optional(
        "The statistical analysis plan registered with `trialflow sap` (the latest "
        "sap-registered row of the audit log) against the analysis that produced this file. "
        "Absent in results written before plans were registered."
    )
    warnings: list[str] = field(
        "Sentences on anything the analysis could not do as declared, or that a reader must "
        "know (missing data, placeholder scoring, rough intervals)."
    )
    methods: Methods | None = optional(
        "The methods, one sentence or paragraph each, as the report prints them."
    )
