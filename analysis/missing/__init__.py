"""Missing outcome data: attrition by arm, and the two sensitivity analyses.

Endline attrition in these trials runs at 20-40%.  The primary analysis uses
complete cases with baseline adjustment (valid when response depends only on the
adjusted covariates); the sensitivity analyses relax that in two ways.  The package's
public API, one room each:

- :mod:`~analysis.missing.attrition`: the attrition table and the test of differential
  attrition;
- :mod:`~analysis.missing.ipw`: inverse-probability weighting, with a scikit-learn
  logistic model of response on baseline covariates and arm;
- :mod:`~analysis.missing.imputation`: multiple imputation, m = 20, pooled by Rubin's
  rules: scikit-learn's ``IterativeImputer(sample_posterior=True)`` over stratum
  indicators, or Bayesian normal regression with the strata absorbed (R mice's ``norm``)
  where strata or rows are many.

Everything here is pure: randomness comes in as ``rng``.
"""

from analysis.missing.attrition import (
    ATTRITION_TESTS,
    AttritionTest,
    attrition_table,
    differential_attrition_test,
)
from analysis.missing.imputation import (
    IMPUTATION_METHODS,
    RubinPooled,
    multiple_imputation,
    rubin_pool,
)
from analysis.missing.ipw import COVARIATE_MISSING, IPWResult, ipw_weights

__all__ = [
    "ATTRITION_TESTS",
    "COVARIATE_MISSING",
    "IMPUTATION_METHODS",
    "AttritionTest",
    "IPWResult",
    "RubinPooled",
    "attrition_table",
    "differential_attrition_test",
    "ipw_weights",
    "multiple_imputation",
    "rubin_pool",
]
