"""ITT (ANCOVA) and CACE (2SLS) with the standard errors R's estimatr and clubSandwich give.

The package's public API, in three rooms:

- :mod:`~analysis.estimators.fits`: :func:`ols_fit`, :func:`ols_fit_absorbed`, :func:`fit_itt`,
  :func:`fit_cace`;
- :mod:`~analysis.estimators.absorb`: stratum fixed effects absorbed by demeaning, above
  :data:`ABSORB_STRATA_ABOVE` strata;
- :mod:`~analysis.estimators.covariance`: :func:`robust_vcov` and the :data:`SE_TYPES`;
- :mod:`~analysis.estimators.design_matrix`: :func:`covariate_frame` and the model matrices;
- :mod:`~analysis.estimators.coefficients`: the result classes the fits return.

tests/analysis/estimators/ holds them to R's output in tests/reference/.
"""

from analysis.estimators.absorb import ABSORB_STRATA_ABOVE
from analysis.estimators.coefficients import CACEResult, Coefficient, ITTResult, RegressionFit
from analysis.estimators.covariance import SE_TYPES, robust_vcov
from analysis.estimators.design_matrix import covariate_frame
from analysis.estimators.fits import WEAK_INSTRUMENT_F, fit_cace, fit_itt, ols_fit, ols_fit_absorbed

__all__ = [
    "ABSORB_STRATA_ABOVE",
    "SE_TYPES",
    "WEAK_INSTRUMENT_F",
    "CACEResult",
    "Coefficient",
    "ITTResult",
    "RegressionFit",
    "covariate_frame",
    "fit_cace",
    "fit_itt",
    "ols_fit",
    "ols_fit_absorbed",
    "robust_vcov",
]
