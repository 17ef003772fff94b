"""Baseline balance: a table by arm with standardised mean differences, and a global test.

Randomisation balances covariates in expectation, not in every trial.  The baseline
table shows the imbalance that happened (CONSORT item 15); the classifier AUC asks
whether the covariates *together* predict arm better than the re-randomised arms do,
which is a single, pre-specifiable check instead of many covariate-wise tests.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from analysis.covariates import (
    LEVEL_SEPARATOR,
    covariate_matrix,
    covariate_patterns,
    is_numeric_column,
    sparse_covariate_matrix,
)
from common.validation import require_columns

__all__ = [
    "AUC_MAX_N",
    "BalanceAUC",
    "arm_labels",
    "balance_auc",
    "baseline_table",
]


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


# ---------------------------------------------------------------------------
# Baseline table
# ---------------------------------------------------------------------------
def _level_summaries(
    values: pd.Series, arm_codes: np.ndarray, n_arms: int
) -> list[tuple[str, list[tuple[int, float, float]]]]:
    """(level, [(n observed, proportion, p(1 - p)) per arm]) of a categorical column, levels sorted.

    One hashing pass and one count over (level, arm): comparing the column with each
    level in turn cost levels x rows (200 organisations x 1.3M staff).
    """
    codes, uniques = pd.factorize(values)
    seen = codes >= 0
    observed = np.bincount(arm_codes[seen], minlength=n_arms)
    counts = np.bincount(
        codes[seen] * n_arms + arm_codes[seen], minlength=len(uniques) * n_arms
    ).reshape(len(uniques), n_arms)
    position = {level: i for i, level in enumerate(uniques)}
    summaries = []
    for level in sorted(values.dropna().unique(), key=str):
        per_arm = []
        for k in range(n_arms):
            # k / n is what the mean of k ones and n - k zeros is, to the last bit
            mean = int(counts[position[level], k]) / int(observed[k]) if observed[k] else math.nan
            per_arm.append((int(observed[k]), mean, mean * (1 - mean)))
        summaries.append((level, per_arm))
    return summaries


def _summarised_covariates(
    data: pd.DataFrame,
    covariates: Sequence[str],
    binary: Sequence[str] | None,
    arm_codes: np.ndarray,
    n_arms: int,
) -> list[tuple[str, str, list[tuple[int, float, float]]]]:
    """(label, kind, [(n observed, mean, variance) per arm]) per table row.

    Categorical columns become one binary row per level.
    """
    rows: list[tuple[str, str, list[tuple[int, float, float]]]] = []
    declared = set(binary) if binary is not None else None
    masks = [arm_codes == k for k in range(n_arms)]
    for name in covariates:
        values = data[name]
        if not is_numeric_column(values):
            for level, per_arm in _level_summaries(values, arm_codes, n_arms):
                rows.append((f"{name}{LEVEL_SEPARATOR}{level}", "binary", per_arm))
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
        per_arm = []
        for mask in masks:
            observed = numeric[mask].dropna()
            mean = float(observed.mean()) if len(observed) else math.nan
            if is_binary:
                variance = mean * (1 - mean)
            else:
                variance = float(observed.var(ddof=1)) if len(observed) > 1 else math.nan
            per_arm.append((len(observed), mean, variance))
        rows.append((name, "binary" if is_binary else "continuous", per_arm))
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
    arm_codes = pd.Index(arms).get_indexer(labels)
    arm_sizes = np.bincount(arm_codes, minlength=len(arms))
    records = []
    for label, kind, per_arm in _summarised_covariates(
        data, covariates, binary, arm_codes, len(arms)
    ):
        for k, (arm_label, (n_observed, mean, variance)) in enumerate(
            zip(arms, per_arm, strict=True)
        ):
            continuous = kind == "continuous"
            records.append(
                {
                    "covariate": label,
                    "kind": kind,
                    "arm": arm_label,
                    "n": int(n_observed),
                    "n_missing": int(arm_sizes[k] - n_observed),
                    "mean": mean,
                    "sd": math.sqrt(variance)
                    if continuous and math.isfinite(variance)
                    else math.nan,
                    "percent": math.nan if continuous else 100 * mean,
                }
            )
        _, control_mean, control_variance = per_arm[0]
        for record, (_, mean, variance) in zip(records[-len(arms) :], per_arm, strict=True):
            if record["arm"] == control:
                record["smd"] = math.nan
                continue
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
    permutation AUCs.  ``n`` is the number of participants the test used: all
    ``n_total`` of them, or the random subsample ``subsample`` describes.
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
    n_total: int | None = None
    subsample: str | None = None

    def to_dict(self) -> dict:
        """JSON-safe dict of plain floats, ints and strings.

        ``n_total`` and ``subsample`` are there only when the test ran on a subsample,
        so a trial small enough to be tested whole reads as it always has.
        """
        payload = {
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
        if self.subsample is not None:
            payload["n_total"] = int(self.n_total)
            payload["subsample"] = self.subsample
        return payload


_CLASSIFIER = "logistic regression (L2, C=1, newton-cholesky) on standardised covariates"

#: Above this many participants the global balance test runs on a random subsample of
#: this size (see :func:`balance_auc`): more than any demo trial, and enough to see an
#: AUC of 0.52 at five null SDs.
AUC_MAX_N = 20_000


#: Convergence tolerance of the classifier's fits on a subsample (patterns or sparse rows).
_SUBSAMPLE_TOL = 1e-8


def _new_classifier(tol: float = 1e-4) -> LogisticRegression:
    return LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100, tol=tol)


def _cross_validated_auc(
    x: np.ndarray,
    codes: np.ndarray,
    n_arms: int,
    cv: int,
    seed: int,
    patterns: tuple[np.ndarray, np.ndarray] | None = None,
    tol: float = 1e-4,
) -> float:
    """Out-of-fold AUC; the same numbers as ``cross_val_predict(..., method="predict_proba")``.

    The loop is written out because ``cross_val_predict`` costs as much again in
    cloning and dispatch as the fits themselves, and the statistic is recomputed for
    every permutation.  With ``patterns`` = (pattern of each row, the pattern's row of
    ``x``), each fold's fit and predictions are made once per distinct covariate
    pattern and arm, with their counts as sample weights: the same penalised
    likelihood (scikit-learn's weights multiply each row's loss), so the same model,
    and the same AUC (a weighted AUC of tied scores is that of the repeated rows).
    """
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    if patterns is not None:
        return _pattern_cross_validated_auc(patterns, codes, n_arms, folds.split(x, codes), tol)
    probabilities = np.empty((codes.size, n_arms))
    for train, test in folds.split(x, codes):
        model = _new_classifier(tol)
        probabilities[test] = model.fit(x[train], codes[train]).predict_proba(x[test])
    return _auc(codes, probabilities, None)


def _auc(codes: np.ndarray, probabilities: np.ndarray, weights: np.ndarray | None) -> float:
    if probabilities.shape[1] == 2:
        return float(roc_auc_score(codes, probabilities[:, 1], sample_weight=weights))
    return float(
        roc_auc_score(
            codes, probabilities, multi_class="ovr", average="macro", sample_weight=weights
        )
    )


def _pattern_cross_validated_auc(
    patterns: tuple[np.ndarray, np.ndarray],
    codes: np.ndarray,
    n_arms: int,
    splits: Iterable,
    tol: float,
) -> float:
    pattern, x_patterns = patterns
    n_patterns = x_patterns.shape[0]
    fold = np.empty(codes.size, dtype=np.intp)
    n_folds = 0
    for n_folds, (_, test) in enumerate(splits, start=1):
        fold[test] = n_folds - 1
    # counts[f, pattern, arm]: the rows of each pattern and arm in each fold
    counts = np.bincount(
        (fold * n_patterns + pattern) * n_arms + codes, minlength=n_folds * n_patterns * n_arms
    ).reshape(n_folds, n_patterns, n_arms)
    total = counts.sum(axis=0)
    scores, labels, weights = [], [], []
    for f in range(n_folds):
        train = total - counts[f]
        rows, arms = np.nonzero(train)
        model = _new_classifier(tol).fit(x_patterns[rows], arms, sample_weight=train[rows, arms])
        rows, arms = np.nonzero(counts[f])
        scores.append(model.predict_proba(x_patterns[rows]))
        labels.append(arms)
        weights.append(counts[f][rows, arms])
    return _auc(np.concatenate(labels), np.concatenate(scores), np.concatenate(weights))


def _arm_stratified_subsample(
    codes: np.ndarray, size: int, rng: np.random.Generator, minimum: int
) -> np.ndarray:
    """Rows (sorted) of a random subsample of ``size``, each arm in proportion to its size.

    Arm k gets floor(size * n_k / n) rows, and the rows left over go to the arms with
    the largest remainders (ties to the first arm): Hamilton's rule, so every arm's
    count is the floor or ceiling of its share.  An arm whose share is below
    ``minimum`` (the folds' need) gets ``minimum`` rows, or all of its own if fewer, so
    a small arm that the whole trial could test is never refused in the subsample
    (which is then a few rows over ``size``).  Within each arm the rows are a simple
    random sample drawn from ``rng``, arm by arm in code order.
    """
    sizes = np.bincount(codes)
    quota, remainder = np.divmod(size * sizes, codes.size)
    quota[np.argsort(-remainder, kind="stable")[: size - int(quota.sum())]] += 1
    quota = np.maximum(quota, np.minimum(sizes, minimum))
    chosen = [
        rng.choice(np.flatnonzero(codes == k), int(quota[k]), replace=False)
        for k in range(sizes.size)
    ]
    return np.sort(np.concatenate(chosen))


def balance_auc(
    data: pd.DataFrame,
    *,
    arm: str,
    covariates: Sequence[str],
    rng: np.random.Generator,
    n_permutations: int = 200,
    cv: int = 5,
    covariate_missing: str = "indicator",
    max_n: int | None = AUC_MAX_N,
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
        ``covariate_missing`` (see :data:`analysis.covariates.COVARIATE_MISSING`).
    rng : numpy.random.Generator
        Source of the subsample (when one is drawn), the fold split and the permutations.
    n_permutations : int
        Arm permutations for the p-value.
    cv : int
        Cross-validation folds (stratified by arm); every arm needs at least ``cv`` rows.
    covariate_missing : {"indicator", "error"}
        How missing covariate values are handled.
    max_n : int or None, default :data:`AUC_MAX_N`
        With more participants than this, the test runs on a random subsample of
        ``max_n`` of them, drawn by arm (see Notes).  None tests everyone.

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

    **Large trials.**  The test costs ``(1 + n_permutations) * cv`` logistic fits on
    the whole trial: 505 fits on a million rows for a national trial.  Above ``max_n``
    participants it runs on a subsample of ``max_n``, drawn first from ``rng`` (before
    the fold seed, so a trial of ``max_n`` or fewer draws exactly what it always did):
    each arm gets its share of ``max_n`` rounded by largest remainder, and a simple
    random sample of that many of its participants.  Given the subsample's
    participants, their arms are still a random arrangement of fixed arm counts, so
    the permutation p-value stays exact for the subsample; what is lost is power that
    a balance check does not need: with 20,000 participants in two equal arms the
    AUC's null SD is about :math:`\\sqrt{(n + 1) / (12 n_1 n_2)} \\approx 0.004`, so
    an AUC of 0.52 stands five SDs out, and the baseline table beside it still
    describes every participant.  The subsample's fits are the same penalised fits made
    more cheaply: its indicators are scaled but not centred, so they stay sparse (the
    unpenalised intercept absorbs the centring; see
    :func:`analysis.covariates.sparse_covariate_matrix`), and when its covariates take
    few distinct values (at most a quarter as many patterns as rows: organisation
    indicators, say) each fold is fitted on the distinct (pattern, arm) rows with their
    counts as weights.  Both are fitted to a tolerance of 1e-8 on one BLAS thread.  The
    subsample and its rule are reported (``n``, ``n_total``, ``subsample``).

    Two alternatives were weighed.  Permuting within strata is the right null for a
    stratified design but no cheaper: every permutation is still ``cv`` fits on the
    whole trial.  Hansen and Bowers' (2008) omnibus :math:`\\chi^2` balance test is
    closed-form and scales to any n, but it is another statistic: a trial's balance
    test would change meaning at a size threshold, while the subsample keeps the one
    statistic (and, below ``max_n``, the very numbers) every trial reports.

    References
    ----------
    Hansen, B. B. and Bowers, J. (2008). Covariate balance in simple, stratified and
    clustered comparative studies. *Statistical Science*, 23, 219-236.
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
    if max_n is not None and (isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 2):
        raise ValueError(
            f"The 'max_n' must be an integer of at least 2, or None to test everyone. "
            f"Got {max_n!r} instead."
        )
    codes, arm_levels = pd.factorize(labels, sort=True)
    n_total = len(data)
    subsample = None
    if max_n is not None and n_total > max_n:
        rows = _arm_stratified_subsample(codes, max_n, rng, cv)
        # only the subsample's rows reach the design matrix, never all n x p of it
        data, codes = data.iloc[rows], codes[rows]
        subsample = (
            f"Above {max_n:,} participants the test runs on a random subsample of {len(rows):,} "
            f"of the {n_total:,}, each arm in proportion to its size (largest remainder; at "
            f"least {cv} from each arm, for the folds), drawn from the test's own seeded "
            "random stream."
        )
    if subsample is None:
        x, names = covariate_matrix(data, covariates, missing=covariate_missing)
    else:
        # indicators scaled but not centred stay sparse; the unpenalised intercept absorbs
        # the centring, so the penalised fits (and AUCs) are those of the dense matrix
        x, names = sparse_covariate_matrix(data, covariates, missing=covariate_missing)
    smallest = int(np.bincount(codes, minlength=len(arm_levels)).min())
    if smallest < cv:
        raise ValueError(
            f"Every arm needs at least cv = {cv} rows for stratified folds. "
            f"Got {smallest} in the smallest arm{' of the subsample' if subsample else ''}."
        )
    seed = int(rng.integers(0, 2**31 - 1))
    n_arms = len(arm_levels)
    patterns = None
    if subsample is not None:
        found = covariate_patterns(data, covariates, max_patterns=len(data) // 4)
        if found is not None:
            patterns = (found[0], x[found[1]].toarray())
    if x.shape[1] == 0:
        # constant covariates carry no information: every prediction ties
        observed, null = 0.5, np.full(n_permutations, 0.5)
    else:
        # a subsample's fits (weighted patterns, or sparse rows) stop by a gradient on
        # another scale than the dense row fits, at scikit-learn's default tolerance up to
        # a Newton step apart: 1e-8 takes them to the same optimum.  And they ran ten
        # times faster on one BLAS thread than on two contending for a loaded 2-core
        # machine; one thread also gives the same bits on any core count.  Trials of
        # max_n or fewer (every demo) keep their dense fits, tolerance and threads.
        tol = 1e-4 if subsample is None else _SUBSAMPLE_TOL
        single = subsample is not None
        with threadpool_limits(limits=1, user_api="blas") if single else contextlib.nullcontext():
            observed = _cross_validated_auc(x, codes, n_arms, cv, seed, patterns, tol)
            null = np.array(
                [
                    _cross_validated_auc(x, rng.permutation(codes), n_arms, cv, seed, patterns, tol)
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
        n_total=n_total,
        subsample=subsample,
    )
