"""Baseline balance: a table by arm with standardised mean differences, and a global test.

Randomisation balances covariates in expectation, not in every trial.  The baseline
table shows the imbalance that happened (CONSORT item 15); the classifier AUC asks
whether the covariates *together* predict arm better than the re-randomised arms do,
which is a single, pre-specifiable check instead of many covariate-wise tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from common.validation import check_choice, require_columns

__all__ = [
    "COVARIATE_MISSING",
    "BalanceAUC",
    "arm_labels",
    "balance_auc",
    "baseline_table",
    "covariate_matrix",
]

#: How a missing baseline covariate enters a model of arm or of response.
COVARIATE_MISSING: dict[str, str] = {
    "indicator": "fill with the column mean and add a missing-value indicator (White & Thompson 2005)",
    "error": "refuse covariates with missing values",
}

# Categorical covariates are expanded level by level under this separator, e.g. "la=Dudley".
_LEVEL_SEPARATOR = "="


def arm_labels(data: pd.DataFrame, arm: str) -> pd.Series:
    """The ``arm`` column, refused when it is absent or an arm is missing.

    Raises
    ------
    ValueError
        Naming the column and how many values are missing.
    """
    require_columns(data, [arm])
    labels = data[arm]
    if labels.isna().any():
        raise ValueError(
            f"The arm column '{arm}' must have no missing values. "
            f"Got {int(labels.isna().sum())} missing."
        )
    return labels


def _check_arm(data: pd.DataFrame, arm: str) -> pd.Series:
    labels = arm_labels(data, arm)
    if labels.nunique() < 2:
        raise ValueError(
            f"The arm column '{arm}' needs at least 2 arms. Got {labels.unique().tolist()} instead."
        )
    return labels


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)


def covariate_matrix(
    data: pd.DataFrame, covariates: Sequence[str], *, missing: str = "indicator"
) -> tuple[np.ndarray, list[str]]:
    """Numeric design matrix (no intercept) of baseline covariates, standardised.

    The model matrix of the balance classifier (:func:`balance_auc`) and of the response
    model behind inverse-probability weights (:func:`analysis.missing.ipw.ipw_weights`).

    Parameters
    ----------
    data : DataFrame
    covariates : sequence of str
        Column names, at least one.  A column that is not numeric (or boolean) is categorical.
    missing : str, default "indicator"
        A key of :data:`COVARIATE_MISSING`: how a missing value enters the matrix.

    Returns
    -------
    matrix : ndarray, shape (n, p)
        Categorical columns become indicators of every level but the first (sorted, as
        ``name=level``); with ``missing="indicator"`` a column with gaps is filled with its
        mean and gains a ``name=missing`` indicator.  Columns are centred and scaled so
        that penalised and iterative fits behave the same whatever the units; a column
        that does not vary is dropped.
    names : list of str
        The name of each column of ``matrix``.

    Raises
    ------
    ValueError
        For an unknown ``missing``, no covariates, a covariate not in ``data``, or (with
        ``missing="error"``) a covariate with missing values.
    """
    check_choice("covariate_missing", missing, COVARIATE_MISSING)
    if len(covariates) == 0:
        raise ValueError("The 'covariates' must name at least one column. Got none.")
    require_columns(data, covariates)
    if missing == "error":
        gaps = [c for c in covariates if data[c].isna().any()]
        if gaps:
            raise ValueError(
                f"The covariates {gaps} have missing values, which covariate_missing='error' refuses."
            )
    columns: list[np.ndarray] = []
    names: list[str] = []
    for name in covariates:
        values = data[name]
        absent = values.isna().to_numpy()
        if _is_numeric(values):
            numeric = values.to_numpy(dtype=float, na_value=np.nan)
            fill = np.nanmean(numeric) if (~absent).any() else 0.0
            columns.append(np.where(absent, fill, numeric))
            names.append(name)
        else:
            levels = sorted(values.dropna().unique(), key=str)
            for level in levels[1:]:
                columns.append((values == level).to_numpy(dtype=float))
                names.append(f"{name}{_LEVEL_SEPARATOR}{level}")
        if absent.any():
            columns.append(absent.astype(float))
            names.append(f"{name}{_LEVEL_SEPARATOR}missing")
    matrix = np.column_stack(columns) if columns else np.empty((len(data), 0))
    spread = matrix.std(axis=0)
    varying = spread > 0
    matrix = (matrix[:, varying] - matrix[:, varying].mean(axis=0)) / spread[varying]
    return matrix, [n for n, keep in zip(names, varying, strict=True) if keep]


# ---------------------------------------------------------------------------
# Baseline table
# ---------------------------------------------------------------------------
def _expanded_covariates(
    data: pd.DataFrame, covariates: Sequence[str], binary: Sequence[str] | None
) -> list[tuple[str, str, pd.Series]]:
    """(label, kind, values) per table row: categorical columns become one row per level."""
    rows: list[tuple[str, str, pd.Series]] = []
    declared = set(binary) if binary is not None else None
    for name in covariates:
        values = data[name]
        if not _is_numeric(values):
            for level in sorted(values.dropna().unique(), key=str):
                indicator = (values == level).astype(float).where(values.notna())
                rows.append((f"{name}{_LEVEL_SEPARATOR}{level}", "binary", indicator))
            continue
        numeric = values.astype(float)
        is_binary = bool(numeric.dropna().isin([0.0, 1.0]).all())
        if declared is not None:
            if name in declared and not is_binary:
                raise ValueError(
                    f"The covariate '{name}' is declared binary but takes values other than 0 and 1: "
                    f"{sorted(set(numeric.dropna().unique()) - {0.0, 1.0})[:5]}."
                )
            is_binary = name in declared
        rows.append((name, "binary" if is_binary else "continuous", numeric))
    return rows


def baseline_table(
    data: pd.DataFrame,
    *,
    arm: str,
    covariates: Sequence[str],
    binary: Sequence[str] | None = None,
    control: str = "control",
) -> pd.DataFrame:
    """Baseline characteristics by arm with standardised mean differences against control.

    Parameters
    ----------
    data : DataFrame
        One row per randomised individual.
    arm : str
        Column of arm labels.
    covariates : sequence of str
        Baseline columns, in table order.  Numeric columns are summarised by mean and
        SD, binary ones by percentage; a text or categorical column gets one binary row
        per level (``"la=Dudley"``).
    binary : sequence of str, optional
        Numeric columns to summarise as percentages.  When None, numeric columns whose
        observed values are all 0 or 1 are taken as binary.
    control : str
        The control arm's label: the reference for the SMDs.

    Returns
    -------
    DataFrame
        One row per covariate (or level) and arm, control first and then the other arms
        in sorted order, with columns ``covariate``, ``kind`` (continuous or binary),
        ``arm``, ``n`` (observed), ``n_missing``, ``mean`` (the proportion for binary
        rows), ``sd`` (continuous rows), ``percent`` (binary rows) and ``smd``
        (missing on the control rows).

    Notes
    -----
    The SMD uses the average of the two arms' variances (Austin 2009; as R's cobalt
    and tableone do), for continuous covariates

    .. math:: \\mathrm{SMD} = \\frac{\\bar x_T - \\bar x_C}{\\sqrt{(s_T^2 + s_C^2)/2}}

    and for binary ones

    .. math:: \\mathrm{SMD} = \\frac{\\hat p_T - \\hat p_C}
              {\\sqrt{\\{\\hat p_T(1-\\hat p_T) + \\hat p_C(1-\\hat p_C)\\}/2}}.

    It is missing when both arms have no spread.  SDs use n - 1.  An absolute SMD
    above 0.1 is the usual flag for a noticeable imbalance.

    References
    ----------
    Austin, P. C. (2009). Balance diagnostics for comparing the distribution of
    baseline covariates between treatment groups in propensity-score matched samples.
    *Statistics in Medicine*, 28, 3083-3107.
    """
    labels = _check_arm(data, arm)
    require_columns(data, covariates)
    if binary is not None:
        unknown = [b for b in binary if b not in covariates]
        if unknown:
            raise ValueError(
                f"The 'binary' columns {unknown} are not among the covariates {list(covariates)}."
            )
    arms = sorted(labels.unique().tolist(), key=str)
    if control not in arms:
        raise ValueError(
            f"The 'control' arm '{control}' is not in the arm column '{arm}'. "
            f"Arms: {', '.join(map(str, arms))}. Got '{control}' instead."
        )
    arms = [control] + [a for a in arms if a != control]
    records = []
    for label, kind, values in _expanded_covariates(data, covariates, binary):
        summary = {}
        for arm_label in arms:
            observed = values[labels == arm_label].dropna()
            mean = float(observed.mean()) if len(observed) else math.nan
            if kind == "binary":
                variance = mean * (1 - mean)
                sd = math.nan
            else:
                variance = float(observed.var(ddof=1)) if len(observed) > 1 else math.nan
                sd = math.sqrt(variance) if math.isfinite(variance) else math.nan
            summary[arm_label] = (mean, variance)
            records.append(
                {
                    "covariate": label,
                    "kind": kind,
                    "arm": arm_label,
                    "n": int(len(observed)),
                    "n_missing": int((labels == arm_label).sum() - len(observed)),
                    "mean": mean,
                    "sd": sd,
                    "percent": 100 * mean if kind == "binary" else math.nan,
                }
            )
        control_mean, control_variance = summary[control]
        for record in records[-len(arms) :]:
            if record["arm"] == control:
                record["smd"] = math.nan
                continue
            mean, variance = summary[record["arm"]]
            scale = math.sqrt((variance + control_variance) / 2)
            record["smd"] = (mean - control_mean) / scale if scale > 0 else math.nan
    columns = ["covariate", "kind", "arm", "n", "n_missing", "mean", "sd", "percent", "smd"]
    return pd.DataFrame.from_records(records, columns=columns)


# ---------------------------------------------------------------------------
# Global balance: classifier AUC with a permutation p-value
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BalanceAUC:
    """Cross-validated AUC of predicting arm from baseline covariates, and its p-value.

    ``auc`` near 0.5 means the covariates do not tell the arms apart.  ``p_value`` is
    the share of arm permutations whose cross-validated AUC is at least as high (with
    the observed one counted in).  ``null_mean`` and ``null_q95`` describe those
    permutation AUCs.
    """

    auc: float
    p_value: float
    n_permutations: int
    cv: int
    n: int
    n_arms: int
    null_mean: float
    null_q95: float
    covariates: tuple[str, ...]
    classifier: str

    def to_dict(self) -> dict:
        """JSON-safe dict of plain floats, ints and strings."""
        return {
            "auc": float(self.auc),
            "p_value": float(self.p_value),
            "n_permutations": int(self.n_permutations),
            "cv": int(self.cv),
            "n": int(self.n),
            "n_arms": int(self.n_arms),
            "null_mean": float(self.null_mean),
            "null_q95": float(self.null_q95),
            "covariates": list(self.covariates),
            "classifier": self.classifier,
        }


_CLASSIFIER = "logistic regression (L2, C=1, newton-cholesky) on standardised covariates"


def _cross_validated_auc(
    x: np.ndarray, codes: np.ndarray, n_arms: int, cv: int, seed: int
) -> float:
    """Out-of-fold AUC; the same numbers as ``cross_val_predict(..., method="predict_proba")``.

    The loop is written out because ``cross_val_predict`` costs as much again in
    cloning and dispatch as the fits themselves, and the statistic is recomputed for
    every permutation.
    """
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    probabilities = np.empty((codes.size, n_arms))
    for train, test in folds.split(x, codes):
        model = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100)
        probabilities[test] = model.fit(x[train], codes[train]).predict_proba(x[test])
    if n_arms == 2:
        return float(roc_auc_score(codes, probabilities[:, 1]))
    return float(roc_auc_score(codes, probabilities, multi_class="ovr", average="macro"))


def balance_auc(
    data: pd.DataFrame,
    *,
    arm: str,
    covariates: Sequence[str],
    rng: np.random.Generator,
    n_permutations: int = 200,
    cv: int = 5,
    covariate_missing: str = "indicator",
) -> BalanceAUC:
    """Global balance test: can the baseline covariates predict arm better than chance?

    Parameters
    ----------
    data : DataFrame
        One row per randomised individual.
    arm : str
        Column of arm labels (two or more arms).
    covariates : sequence of str
        Baseline columns.  Text columns are dummy-coded; missing values follow
        ``covariate_missing`` (see :data:`COVARIATE_MISSING`).
    rng : numpy.random.Generator
        Source of the fold split and of the permutations.
    n_permutations : int
        Arm permutations for the p-value.
    cv : int
        Cross-validation folds (stratified by arm); every arm needs at least ``cv`` rows.
    covariate_missing : {"indicator", "error"}
        How missing covariate values are handled.

    Returns
    -------
    BalanceAUC

    Notes
    -----
    The statistic is the out-of-fold AUC of an L2-penalised logistic regression of arm
    on the standardised covariates, with stratified folds (what ``cross_val_predict``
    with ``method="predict_proba"`` gives; for more than two arms the macro
    one-vs-rest AUC).  Under randomisation the arm labels are exchangeable, so
    recomputing the statistic with permuted labels, with the same fold-splitting rule
    and seed, gives its null distribution:

    .. math:: p = \\frac{1 + \\#\\{b: \\mathrm{AUC}_b \\ge \\mathrm{AUC}_{obs}\\}}{1 + B}.

    Simple permutation ignores strata and clusters; in a stratified or cluster trial
    the test is conservative about the design but still a fair global check of
    imbalance in the covariates.  The penalty keeps overfitting (which pulls
    cross-validated AUCs below 0.5 under the null) small and the same for every draw.
    """
    labels = _check_arm(data, arm)
    if (
        isinstance(n_permutations, bool)
        or not isinstance(n_permutations, int)
        or n_permutations < 1
    ):
        raise ValueError(
            f"The 'n_permutations' must be a positive integer. Got {n_permutations!r} instead."
        )
    if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
        raise ValueError(f"The 'cv' must be an integer of at least 2. Got {cv!r} instead.")
    x, names = covariate_matrix(data, covariates, missing=covariate_missing)
    codes, arm_levels = pd.factorize(labels, sort=True)
    smallest = int(np.bincount(codes).min())
    if smallest < cv:
        raise ValueError(
            f"Every arm needs at least cv = {cv} rows for stratified folds. "
            f"Got {smallest} in the smallest arm."
        )
    seed = int(rng.integers(0, 2**31 - 1))
    n_arms = len(arm_levels)
    if x.shape[1] == 0:
        # constant covariates carry no information: every prediction ties
        observed, null = 0.5, np.full(n_permutations, 0.5)
    else:
        observed = _cross_validated_auc(x, codes, n_arms, cv, seed)
        null = np.array(
            [
                _cross_validated_auc(x, rng.permutation(codes), n_arms, cv, seed)
                for _ in range(n_permutations)
            ]
        )
    return BalanceAUC(
        auc=observed,
        p_value=float((1 + np.count_nonzero(null >= observed)) / (1 + n_permutations)),
        n_permutations=n_permutations,
        cv=cv,
        n=len(data),
        n_arms=n_arms,
        null_mean=float(null.mean()),
        null_q95=float(np.quantile(null, 0.95)),
        covariates=tuple(names),
        classifier=_CLASSIFIER,
    )
