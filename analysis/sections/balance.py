"""The ``balance`` section of results.json: baseline characteristics by arm and the AUC test (pure)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.balance import AUC_MAX_N, balance_auc, baseline_table
from analysis.results_model import Balance
from trial_designs.design import TrialDesign

__all__ = [
    "BALANCE_PERMUTATIONS",
    "BALANCE_SEED_LABEL",
    "balance_section",
    "baseline_characteristics",
]

#: Arm permutations of the global balance test: p-values to the nearest 0.01, each
#: permutation costing a 5-fold cross-validation.
BALANCE_PERMUTATIONS = 100
#: Label of the balance test's random stream, seeded by the design's seed ("BAL1").
BALANCE_SEED_LABEL = 0x42414C31


def baseline_characteristics(
    data: pd.DataFrame, design: TrialDesign, primary_baseline: str | None = None
) -> list[str]:
    """Baseline columns that describe participants: strata, role, declared covariates, baselines.

    Columns with no observed value or a single value are left out; in cluster
    trials the clustering variable is too (it is the unit of randomisation).
    """
    candidates = [
        *design.strata,
        "role",
        *design.analysis.covariates,
        *([primary_baseline] if primary_baseline else []),
        *(f"{o.name}_baseline" for o in design.outcomes if o.source != "hr"),
    ]
    chosen = []
    for column in dict.fromkeys(candidates):
        if column not in data or column == design.cluster_by:
            continue
        if data[column].nunique(dropna=True) > 1:
            chosen.append(column)
    return chosen


def balance_section(data: pd.DataFrame, design: TrialDesign, warnings: list[str]) -> Balance | None:
    """Baseline table by arm with SMDs, and the cross-validated AUC of predicting arm.

    The AUC's permutation test shuffles individual arms, which is the right null
    only when individuals were randomised; cluster trials get the table alone.  Above
    :data:`analysis.balance.AUC_MAX_N` participants the test runs on a random subsample
    of that size (the table still counts everyone), and ``auc_detail`` says so.
    """
    covariates = baseline_characteristics(data, design)
    if not covariates:
        return None
    table = baseline_table(data, arm="arm", covariates=covariates, control=design.control_arm)
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    if design.unit == "cluster":
        warnings.append(
            "The global balance test (AUC) is not reported for a cluster trial: arms were "
            "allocated to clusters, so shuffling individuals' arms is not the randomisation."
        )
        return Balance(table=rows, auc=None, auc_p_value=None)
    auc = balance_auc(
        data,
        arm="arm",
        covariates=covariates,
        rng=np.random.default_rng([design.randomisation.seed, BALANCE_SEED_LABEL]),
        n_permutations=BALANCE_PERMUTATIONS,
        max_n=AUC_MAX_N,
    )
    return Balance(table=rows, auc=auc.auc, auc_p_value=auc.p_value, auc_detail=auc.to_dict())
