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
from scipy import sparse as scipy_sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from analysis.balance import arm_labels
from analysis.covariates import (
    COVARIATE_MISSING,
    covariate_matrix,
    covariate_patterns,
    sparse_covariate_matrix,
    weighted_covariate_matrix,
)
from analysis.missing.attrition import response_indicator
from common.numbers import json_float
from common.validation import check_choice, require_columns

__all__ = ["COVARIATE_MISSING", "IPW_FIT", "PATTERN_FIT_MIN_N", "IPWResult", "ipw_weights"]

#: How the response model is fitted: every choice is the same maximum-likelihood fit.
IPW_FIT: dict[str, str] = {
    "auto": "above PATTERN_FIT_MIN_N participants on the patterns when there are at most a "
    "quarter as many patterns as participants, else on the sparse rows; below it on the rows",
    "rows": "one row per participant, a dense standardised design matrix",
    "patterns": "one row per distinct (covariates, arm) pattern and response, weighted by its count",
    "sparse": "one row per participant, indicators kept sparse (scaled, not centred)",
}
#: Below this many participants "auto" fits on the dense rows: milliseconds, and the
#: very numbers earlier versions wrote.
PATTERN_FIT_MIN_N = 20_000


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
    fitted_on: str = "rows"

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
            "fitted_on": self.fitted_on,
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
    fit_on: str = "auto",
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
    fit_on : str, default "auto"
        A key of :data:`IPW_FIT`: fit the response model on the rows (dense or sparse)
        or on the distinct patterns of covariates and arm (the same fit; see Notes).

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

    The log-likelihood depends on the rows only through, for each distinct pattern
    :math:`k` of covariates and arm, its count :math:`n_k` and responders :math:`r_k`:
    :math:`\\sum_k r_k \\log p_k + (n_k - r_k) \\log(1 - p_k)`.  So fitting one row per
    pattern and response, weighted by :math:`r_k` and :math:`n_k - r_k`, is the same
    MLE, the same :math:`\\hat p_i` and so the same weights; the covariates are
    standardised with the counts as weights so each pattern's row is the row every
    participant of it would get.  The AUC on those rows, weighted by the counts, is
    the row-level AUC (tied scores count as the repeated rows would).  With 200
    organisations and two arms a national trial of 1.3M has at most 400 patterns: the
    fit costs a pass over the rows instead of a 2 GB design matrix.  When the patterns
    are many (a continuous covariate), a large trial is fitted on its rows with the
    indicators scaled but not centred, as a sparse matrix
    (:func:`analysis.covariates.sparse_covariate_matrix`): each column moves by a
    constant, which the intercept absorbs, so the MLE's probabilities are the same.
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
    check_choice("fit_on", fit_on, IPW_FIT)
    check_choice("covariate_missing", covariate_missing, COVARIATE_MISSING)
    require_columns(data, covariates)
    fitted_on, patterns = fit_on, None
    if fit_on == "auto":
        fitted_on = "rows" if len(data) <= PATTERN_FIT_MIN_N else "patterns"
    if fitted_on == "patterns":
        limit = None if fit_on == "patterns" else len(data) // 4
        patterns = covariate_patterns(data, [*covariates, arm], max_patterns=limit)
        fitted_on = "patterns" if patterns is not None else "sparse"
    if patterns is not None:
        propensity, auc, terms = _fit_patterns(
            data, response, labels, covariates, arm, covariate_missing, patterns
        )
    else:
        propensity, auc, terms = _fit_rows(
            data, response, labels, covariates, arm, covariate_missing, sparse=fitted_on == "sparse"
        )
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
        auc=auc,
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
        fitted_on=fitted_on,
    )


def _response_model() -> LogisticRegression:
    return LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10, max_iter=200)


def _arm_columns(
    labels: pd.Series, arm: str, weights: np.ndarray | None
) -> tuple[np.ndarray, list[str]]:
    """Standardised indicators of every arm but the first (sorted as text)."""
    dummies = pd.get_dummies(labels.astype(str), drop_first=True, dtype=float)
    columns = dummies.to_numpy()
    if weights is None:
        centre, spread = columns.mean(axis=0), columns.std(axis=0)
    else:
        centre = np.average(columns, axis=0, weights=weights)
        spread = np.sqrt(np.average((columns - centre) ** 2, axis=0, weights=weights))
    columns = (columns - centre) / np.where(spread > 0, spread, 1.0)
    return columns, [f"{arm}={level}" for level in dummies.columns]


def _fit(
    design: np.ndarray, response: np.ndarray, weights: np.ndarray | None
) -> LogisticRegression:
    with warnings.catch_warnings():
        # separation shows up as fitted probabilities of 0 or 1, which are refused by the caller
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _response_model().fit(design, response, sample_weight=weights)


def _fit_rows(
    data: pd.DataFrame,
    response: np.ndarray,
    labels: pd.Series,
    covariates: Sequence[str],
    arm: str,
    covariate_missing: str,
    *,
    sparse: bool,
) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """The response model on one row per participant: (propensity, AUC, terms).

    With ``sparse``, the indicators are scaled but not centred, so they stay sparse; the
    intercept absorbs the difference and the MLE's fitted probabilities are the same.
    """
    if sparse:
        x, names = sparse_covariate_matrix(data, covariates, missing=covariate_missing)
        dummies = pd.get_dummies(labels.astype(str), drop_first=True, dtype=float)
        share = dummies.to_numpy().mean(axis=0)
        arm_part = scipy_sparse.csr_array(dummies.to_numpy() / np.sqrt(share * (1 - share)))
        design = scipy_sparse.hstack([x, arm_part], format="csr")
        propensity = _fit(design, response, None).predict_proba(design)[:, 1]
        arm_terms = [f"{arm}={level}" for level in dummies.columns]
        return propensity, float(roc_auc_score(response, propensity)), (*names, *arm_terms)
    x, names = covariate_matrix(data, covariates, missing=covariate_missing)
    arm_columns, arm_terms = _arm_columns(labels, arm, None)
    design = np.column_stack([x, arm_columns])
    del x  # the stacked copy is the one the fit needs
    propensity = _fit(design, response, None).predict_proba(design)[:, 1]
    return propensity, float(roc_auc_score(response, propensity)), (*names, *arm_terms)


def _fit_patterns(
    data: pd.DataFrame,
    response: np.ndarray,
    labels: pd.Series,
    covariates: Sequence[str],
    arm: str,
    covariate_missing: str,
    patterns: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """The same model on the distinct (covariates, arm) patterns, weighted by their counts."""
    pattern, first = patterns
    counts = np.bincount(pattern, minlength=first.size).astype(float)
    responders = np.bincount(pattern, weights=response, minlength=first.size)
    x, names = weighted_covariate_matrix(
        data.iloc[first], covariates, missing=covariate_missing, weights=counts
    )
    arm_columns, arm_terms = _arm_columns(labels.iloc[first], arm, counts)
    design = np.column_stack([x, arm_columns])
    # one row per pattern and response that occurs, weighted by how many rows it stands for
    rows = np.concatenate([np.flatnonzero(responders > 0), np.flatnonzero(counts > responders)])
    outcome = np.concatenate(
        [np.ones((responders > 0).sum()), np.zeros((counts > responders).sum())]
    )
    weights = np.where(outcome == 1, responders[rows], counts[rows] - responders[rows])
    fitted = _fit(design[rows], outcome, weights).predict_proba(design)[:, 1]
    auc = float(roc_auc_score(outcome, fitted[rows], sample_weight=weights))
    return fitted[pattern], auc, (*names, *arm_terms)
