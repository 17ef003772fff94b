"""Missing outcome data: attrition by arm, and the two sensitivity analyses.

Endline attrition in these trials runs at 20-40%.  The primary analysis uses
complete cases with baseline adjustment (valid when response depends only on the
adjusted covariates); the sensitivity analyses relax that in two ways.  The package's
public API, one room each:

- :mod:`~analysis.missing.attrition`: the attrition table and the test of differential
  attrition;
- :mod:`~analysis.missing.ipw`: inverse-probability weighting, with a scikit-learn
  logistic model of response on baseline covariates and arm;
- :mod:`~analysis.missing.imputation`: multiple imputation by chained equations with
  scikit-learn's ``IterativeImputer(sample_posterior=True)``, m = 20, pooled by Rubin's
  rules.

Everything here is pure: randomness comes in as ``rng``.
"""

from analysis.missing.attrition import (
    ATTRITION_TESTS,
    AttritionTest,
    attrition_table,
    differential_attrition_test,
)
from analysis.missing.imputation import RubinPooled, multiple_imputation, rubin_pool
from analysis.missing.ipw import COVARIATE_MISSING, IPWResult, ipw_weights

__all__ = [
    "ATTRITION_TESTS",
    "COVARIATE_MISSING",
    "AttritionTest",
    "IPWResult",
    "RubinPooled",
    "attrition_table",
    "differential_attrition_test",
    "ipw_weights",
    "multiple_imputation",
    "rubin_pool",
]
