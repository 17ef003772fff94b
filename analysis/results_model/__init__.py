"""The one shape of results.json: typed, described models of every section.

The models are the single source of results.json's shape.  The analysis builds
them (:mod:`analysis.sections`), :func:`dump_results` serialises them, flows read
files back through :class:`ResultsDocument`, and ``analysis/results.schema.json``
is generated from them (:mod:`analysis.results_model.schema`).
"""

from analysis.results_model.amendments import DesignAmendment
from analysis.results_model.base import ResultsModel, dump_results, json_safe
from analysis.results_model.costs import (
    ArmCosts,
    CeacPoint,
    CostDenominators,
    CostEffectiveness,
    Costs,
    CostSensitivity,
    CostTotals,
    EvpiRow,
    LedgerRow,
    PerParticipant,
    PlanePoint,
    ValueOfInformation,
)
from analysis.results_model.document import SCHEMA_VERSION, ResultsDocument
from analysis.results_model.missing_data import (
    Attrition,
    AttritionBounds,
    AttritionRow,
    AttritionTest,
    Balance,
    BalanceAuc,
    BalanceRow,
)
from analysis.results_model.outcomes import (
    ArmSummary,
    Estimate,
    Outcome,
    SensitivityEstimate,
    SubgroupEstimate,
)
from analysis.results_model.schema import SCHEMA_PATH, results_schema
from analysis.results_model.subgroups import SkippedLevel, SubgroupTest
from analysis.results_model.trial import (
    ArmDeclaration,
    Consort,
    ConsortArm,
    ConsortClusterArm,
    DataValidation,
    Exploratory,
    ExploratoryChange,
    Methods,
    QuarantineRule,
    Randomisation,
    Sap,
    Trial,
)
from analysis.results_model.uptake import (
    ContaminatedUnit,
    FunnelRow,
    OrganisationFunnelRow,
    OverTimeRow,
    Uptake,
)

__all__ = [
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "ArmDeclaration",
    "ArmSummary",
    "ArmCosts",
    "Attrition",
    "AttritionBounds",
    "AttritionRow",
    "AttritionTest",
    "Balance",
    "BalanceAuc",
    "BalanceRow",
    "CeacPoint",
    "Consort",
    "ConsortArm",
    "ConsortClusterArm",
    "ContaminatedUnit",
    "CostDenominators",
    "CostEffectiveness",
    "CostSensitivity",
    "CostTotals",
    "Costs",
    "DataValidation",
    "DesignAmendment",
    "EvpiRow",
    "Estimate",
    "Exploratory",
    "ExploratoryChange",
    "FunnelRow",
    "LedgerRow",
    "Methods",
    "OrganisationFunnelRow",
    "Outcome",
    "OverTimeRow",
    "PerParticipant",
    "PlanePoint",
    "QuarantineRule",
    "Randomisation",
    "ResultsDocument",
    "ResultsModel",
    "Sap",
    "SensitivityEstimate",
    "SkippedLevel",
    "SubgroupEstimate",
    "SubgroupTest",
    "Trial",
    "Uptake",
    "ValueOfInformation",
    "dump_results",
    "json_safe",
    "results_schema",
]
