"""Inverse-probability-of-response weights: the first sensitivity analysis for missing outcomes.

The primary analysis uses complete cases with baseline adjustment (valid when response
depends only on the adjusted covariates).  Weighting by a scikit-learn logistic model of
response on baseline covariates and arm relaxes that.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from analysis.balance import COVARIATE_MISSING, arm_labels, covariate_matrix
from analysis.missing.attrition import response_indicator
from common.numbers import json_float

__all__ = ["COVARIATE_MISSING", "IPWResult", "ipw_weights"]


@dataclass(frozen=True)
class IPWResult:
    """Inverse-probability-of-response weights and the response model behind them.

    ``weights`` (index of the input data) is 0 for non-responders, so it can be passed
    straight to a weighted fit of the complete cases.  ``propensity`` is the fitted
    probability of response for everyone.  ``auc`` is the response model's in-sample
    AUC: near 0.5, response is unrelated to the covariates and IPW changes little.
    """

    weights: pd.Series = field(repr=False, compare=False)
    propensity: pd.Series = field(repr=False, compare=False)
    auc: float
    n: int
    n_responded: int
    stabilised: bool
    trim_percentile: float | None
    trim_threshold: float | None
    n_trimmed: int
    min_weight: float
    max_weight: float
    effective_sample_size: float
    model_terms: tuple[str, ...]

    def to_dict(self) -> dict:
        """JSON-safe summary (the per-row weights are left out)."""
        return {
            "auc": json_float(self.auc),
            "n": int(self.n),
            "n_responded": int(self.n_responded),
            "stabilised": bool(self.stabilised),
            "trim_percentile": json_float(self.trim_percentile),
            "trim_threshold": json_float(self.trim_threshold),
            "n_trimmed": int(self.n_trimmed),
            "min_weight": json_float(self.min_weight),
            "max_weight": json_float(self.max_weight),
            "effective_sample_size": json_float(self.effective_sample_size),
            "model_terms": list(self.model_terms),
        }


def ipw_weights(
    data: pd.DataFrame,
    *,
    responded: str,
    covariates: Sequence[str],
    arm: str,
    stabilised: bool = False,
    trim_percentile: float | None = None,
    covariate_missing: str = "indicator",
) -> IPWResult:
    """Inverse-probability-of-response weights from a logistic model of response.

    Parameters
    ----------
    data : DataFrame
        One row per randomised individual.
    responded : str
        Boolean or 0/1 column: 1 when the outcome was observed.
    covariates : sequence of str
        Baseline covariates of the response model.  Text columns are dummy-coded;
        missing values follow ``covariate_missing`` (see :data:`COVARIATE_MISSING`).
    arm : str
        Column of arm labels; arm always enters the model, so response may differ by
        arm.
    stabilised : bool
        Multiply each weight by the observed response rate in its arm, so that the
        weights of each arm's responders sum to about their number.
    trim_percentile : float, optional
        Declared percentile (in (50, 100]) of the responders' weights above which
        weights are set to that percentile.  None leaves the weights as they are.
    covariate_missing : {"indicator", "error"}
        How missing covariate values are handled.

    Returns
    -------
    IPWResult

    Notes
    -----
    The response model is an unpenalised logistic regression (scikit-learn,
    ``C=inf``, Newton-Cholesky solver) of :math:`R_i` on the standardised covariates
    and arm indicators, i.e. the maximum-likelihood fit, giving :math:`\\hat p_i`.
    Responders get

    .. math:: w_i = \\frac{1}{\\hat p_i}\\quad\\text{or, stabilised,}\\quad
              w_i = \\frac{\\hat P(R = 1 \\mid \\text{arm}_i)}{\\hat p_i},

    non-responders get 0.  Trimming at percentile :math:`q` replaces
    :math:`w_i` by :math:`\\min(w_i, w_{(q)})`, with :math:`w_{(q)}` the q-th
    percentile of responders' weights (linear interpolation).  The effective sample
    size is Kish's :math:`(\\sum w_i)^2 / \\sum w_i^2` over responders.
    """
    response = response_indicator(data, responded)
    labels = arm_labels(data, arm)
    if trim_percentile is not None and not (
        isinstance(trim_percentile, numbers.Real) and 50 < trim_percentile <= 100
    ):
        raise ValueError(
            f"The 'trim_percentile' must lie in (50, 100]. Got {trim_percentile!r} instead."
        )
    n_responded = int(response.sum())
    if n_responded in (0, len(response)):
        raise ValueError(
            f"The response column '{responded}' must contain both responders and non-responders "
            f"to model response. Got {n_responded} responders out of {len(response)}."
        )
    x, names = covariate_matrix(data, covariates, missing=covariate_missing)
    arm_dummies = pd.get_dummies(labels.astype(str), drop_first=True, dtype=float)
    arm_columns = arm_dummies.to_numpy()
    arm_columns = (arm_columns - arm_columns.mean(axis=0)) / np.where(
        arm_columns.std(axis=0) > 0, arm_columns.std(axis=0), 1.0
    )
    design = np.column_stack([x, arm_columns])
    terms = (*names, *(f"{arm}={level}" for level in arm_dummies.columns))
    model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10, max_iter=200)
    with warnings.catch_warnings():
        # separation shows up as fitted probabilities of 0 or 1, which are refused below
        warnings.simplefilter("ignore", ConvergenceWarning)
        propensity = model.fit(design, response).predict_proba(design)[:, 1]
    if (propensity[response] <= 0).any():
        raise ValueError(
            "The response model predicts a probability of 0 for a responder (perfect separation). "
            "Use fewer or coarser covariates."
        )
    weights = np.zeros(len(response))
    weights[response] = 1.0 / propensity[response]
    if stabilised:
        rate = pd.Series(response).groupby(labels.to_numpy()).transform("mean").to_numpy()
        weights[response] *= rate[response]
    threshold = None
    n_trimmed = 0
    if trim_percentile is not None:
        threshold = float(np.percentile(weights[response], trim_percentile))
        n_trimmed = int((weights[response] > threshold).sum())
        weights[response] = np.minimum(weights[response], threshold)
    responder_weights = weights[response]
    return IPWResult(
        weights=pd.Series(weights, index=data.index, name="ipw_weight"),
        propensity=pd.Series(propensity, index=data.index, name="response_probability"),
        auc=float(roc_auc_score(response, propensity)),
        n=len(response),
        n_responded=n_responded,
        stabilised=bool(stabilised),
        trim_percentile=None if trim_percentile is None else float(trim_percentile),
        trim_threshold=threshold,
        n_trimmed=n_trimmed,
        min_weight=float(responder_weights.min()),
        max_weight=float(responder_weights.max()),
        effective_sample_size=float(responder_weights.sum() ** 2 / (responder_weights**2).sum()),
        model_terms=terms,
    )
