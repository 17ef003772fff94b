"""ITT (ANCOVA) and CACE (2SLS) with the standard errors R's estimatr and clubSandwich give.

Point estimates come from linearmodels.  Standard errors are ours: HC0–HC3
for individually randomised trials and CR0/CR1/CR2 for cluster trials, with
Bell–McCaffrey / Pustejovsky–Tipton degrees of freedom for CR2 computed per
coefficient, cluster block by cluster block, never forming an N×N matrix.
The reference values in ``tests/reference/`` come from R.

Check at the boundary, compute unchecked inside: :func:`fit_itt` and
:func:`fit_cace` validate their arguments; :func:`robust_covariance` trusts
its inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, stats

__all__ = [
    "SE_TYPES",
    "CACEResult",
    "Coefficient",
    "ITTResult",
    "RegressionFit",
    "cluster_robust_df",
    "design_matrix",
    "fit_cace",
    "fit_itt",
    "ols_fit",
    "robust_covariance",
]

#: Standard-error types, and whether each needs clusters.
SE_TYPES = {
    "HC0": False,
    "HC1": False,
    "HC2": False,
    "HC3": False,
    "CR0": True,
    "CR1": True,
    "CR2": True,
}


def _check_se_type(se_type: str, clustered: bool) -> None:
    if se_type not in SE_TYPES:
        raise ValueError(
            f"The 'se_type' '{se_type}' is not known. Choose one of: {', '.join(SE_TYPES)}. "
            f"Got '{se_type}' instead."
        )
    if SE_TYPES[se_type] and not clustered:
        raise ValueError(f"The 'se_type' '{se_type}' needs clusters. Got clusters=None instead.")
    if clustered and not SE_TYPES[se_type]:
        raise ValueError(
            f"The 'se_type' '{se_type}' ignores clustering in a cluster trial. Choose CR0, CR1 or CR2. "
            f"Got '{se_type}' instead."
        )


@dataclass(frozen=True)
class Coefficient:
    """One coefficient with its standard error and t-based inference."""

    term: str
    estimate: float
    std_error: float
    df: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return {k: _jsonable(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class RegressionFit:
    """A fitted linear model's coefficients and how their SEs were made."""

    coefficients: tuple[Coefficient, ...]
    se_type: str
    n: int
    k: int
    n_clusters: int | None

    def __getitem__(self, term: str) -> Coefficient:
        for coefficient in self.coefficients:
            if coefficient.term == term:
                return coefficient
        raise KeyError(f"No coefficient '{term}'. Terms: {[c.term for c in self.coefficients]}")

    def to_dict(self) -> dict:
        return {
            "se_type": self.se_type,
            "n": self.n,
            "k": self.k,
            "n_clusters": self.n_clusters,
            "coefficients": [c.to_dict() for c in self.coefficients],
        }


@dataclass(frozen=True)
class ITTResult:
    """The ITT fit of one outcome: each active arm against control."""

    outcome: str
    fit: RegressionFit
    treatment_terms: tuple[str, ...]
    n_per_arm: dict[str, int]

    def effect(self, term: str) -> Coefficient:
        return self.fit[term]

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome,
            "treatment_terms": list(self.treatment_terms),
            "n_per_arm": dict(self.n_per_arm),
            **self.fit.to_dict(),
        }


@dataclass(frozen=True)
class CACEResult:
    """The complier average causal effect by 2SLS, assignment instrumenting uptake."""

    outcome: str
    fit: RegressionFit
    endogenous: str
    first_stage_f: float
    first_stage_df: tuple[float, float]
    weak_instrument: bool
    n_per_arm: dict[str, int]

    @property
    def effect(self) -> Coefficient:
        return self.fit[self.endogenous]

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome,
            "endogenous": self.endogenous,
            "first_stage_f": _jsonable(self.first_stage_f),
            "first_stage_df": [_jsonable(x) for x in self.first_stage_df],
            "weak_instrument": self.weak_instrument,
            "n_per_arm": dict(self.n_per_arm),
            **self.fit.to_dict(),
        }


def _jsonable(value: object) -> object:
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# ---------------------------------------------------------------------------
# Covariance matrices
# ---------------------------------------------------------------------------
def _adjusted(xg: np.ndarray, root: np.ndarray) -> np.ndarray:
    """``(I − H_gg)^{-1/2} X_g`` in O(n_g k²), without the n_g × n_g matrix.

    ``H_gg = X_g M X_g' = B B'`` with ``B = X_g L`` (``M = L L'``).  With the
    thin SVD ``B = U S V'``, ``I − H_gg`` has eigenvalues ``1 − s²`` on the
    columns of ``U`` and 1 elsewhere, so its inverse square root is
    ``I + U diag((1 − s²)^{-1/2} − 1) U'``.  Eigenvalues below 1e-12 are
    treated as zero (a generalised inverse, as clubSandwich and estimatr do).
    """
    u, s, _ = np.linalg.svd(xg @ root, full_matrices=False)
    remaining = 1.0 - s**2
    factor = np.where(remaining > 1e-12, 1.0 / np.sqrt(np.clip(remaining, 1e-300, None)), 0.0) - 1.0
    return xg + u @ (factor[:, None] * (u.T @ xg))


def _cluster_slices(clusters: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    order = np.argsort(clusters, kind="stable")
    _, starts = np.unique(clusters[order], return_index=True)
    return order, np.split(order, starts[1:])


def robust_covariance(
    x: np.ndarray,
    residuals: np.ndarray,
    bread: np.ndarray,
    *,
    se_type: str,
    clusters: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sandwich covariance and per-coefficient degrees of freedom.

    Parameters
    ----------
    x : ndarray (n, k)
        The design matrix (already multiplied by ``sqrt(w)`` for weighted fits).
    residuals : ndarray (n,)
        Residuals (likewise weighted).
    bread : ndarray (k, k)
        ``(X'X)^{-1}``.
    se_type : str
        A key of :data:`SE_TYPES`.
    clusters : ndarray (n,), optional

    Returns
    -------
    vcov : ndarray (k, k)
    df : ndarray (k,)

    Notes
    -----
    CR2 (Bell & McCaffrey 2002) uses ``A_g = (I − H_gg)^{-1/2}`` and
    ``V = Σ_g M X_g' A_g e_g e_g' A_g X_g M``.  Its degrees of freedom for
    coefficient ``j`` (Pustejovsky & Tipton 2018, working model ``Φ = I``) are
    ``(tr Ω)² / ‖Ω‖²_F`` with ``Ω_gh = δ_gh p_g'p_g − q_g' M q_h``,
    ``p_g = A_g X_g M e_j`` and ``q_g = X_g' p_g``: the identity
    ``(I−H)_{gh} = δ_gh I − X_g M X_h'`` keeps everything G×G and k×k.
    """
    n, k = x.shape
    if clusters is None:
        leverage = np.einsum("ij,jk,ik->i", x, bread, x)
        scale = {
            "HC0": np.ones(n),
            "HC1": np.full(n, n / (n - k)),
            "HC2": 1.0 / (1.0 - leverage),
            "HC3": 1.0 / (1.0 - leverage) ** 2,
        }[se_type]
        meat = (x * (residuals**2 * scale)[:, None]).T @ x
        return bread @ meat @ bread, np.full(k, float(n - k))
    _order, groups = _cluster_slices(clusters)
    n_clusters = len(groups)
    if se_type in ("CR0", "CR1"):
        scores = np.stack([x[g].T @ residuals[g] for g in groups])
        vcov = bread @ (scores.T @ scores) @ bread
        if se_type == "CR1":
            vcov *= n_clusters / (n_clusters - 1) * (n - 1) / (n - k)
        return vcov, np.full(k, float(n_clusters - 1))
    # CR2
    scores = np.empty((n_clusters, k))
    p_norms = np.empty((n_clusters, k))  # p_g'p_g for each coefficient j
    q = np.empty((n_clusters, k, k))  # q[g, :, j] = X_g' p_g(j)
    root = np.linalg.cholesky(bread)
    for i, g in enumerate(groups):
        xg = x[g]
        p = _adjusted(xg, root) @ bread  # (n_g, k): column j is p_g for coefficient j
        scores[i] = p.T @ residuals[g]
        p_norms[i] = np.einsum("ij,ij->j", p, p)
        q[i] = xg.T @ p
    vcov = scores.T @ scores
    df = np.empty(k)
    for j in range(k):
        qj = q[:, :, j]  # (G, k)
        omega = -qj @ bread @ qj.T
        omega[np.diag_indices(n_clusters)] += p_norms[:, j]
        df[j] = np.trace(omega) ** 2 / np.sum(omega**2)
    return vcov, df


def cluster_robust_df(x: np.ndarray, bread: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """CR2 Bell–McCaffrey degrees of freedom of every coefficient (see :func:`robust_covariance`)."""
    return robust_covariance(x, np.zeros(len(x)), bread, se_type="CR2", clusters=clusters)[1]


def _coefficients(
    terms: Sequence[str], params: np.ndarray, vcov: np.ndarray, df: np.ndarray, level: float = 0.95
) -> tuple[Coefficient, ...]:
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    out = []
    for j, term in enumerate(terms):
        t = params[j] / se[j] if se[j] > 0 else np.nan
        crit = stats.t.ppf(0.5 + level / 2, df[j])
        out.append(
            Coefficient(
                term=term,
                estimate=float(params[j]),
                std_error=float(se[j]),
                df=float(df[j]),
                statistic=float(t),
                p_value=float(2 * stats.t.sf(abs(t), df[j])),
                ci_low=float(params[j] - crit * se[j]),
                ci_high=float(params[j] + crit * se[j]),
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------
def ols_fit(
    y: np.ndarray,
    x: np.ndarray,
    *,
    terms: Sequence[str],
    se_type: str = "HC2",
    clusters: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> RegressionFit:
    """Least squares with estimatr-style robust or cluster-robust standard errors.

    Parameters
    ----------
    y : ndarray (n,)
    x : ndarray (n, k)
        Includes the intercept column.  Must have full column rank.
    terms : sequence of str
        A name per column of ``x``.
    se_type : str
        HC0, HC1, HC2 (default; estimatr's default), HC3, or with clusters
        CR0, CR1 (Stata's), CR2.
    clusters : ndarray (n,), optional
    weights : ndarray (n,), optional
        Analytic weights, as ``lm_robust(weights=)``: the fit is done on
        ``sqrt(w)·y`` and ``sqrt(w)·X``.

    Notes
    -----
    Point estimates come from linearmodels' ``IV2SLS`` with no endogenous
    regressors (OLS); the covariance is :func:`robust_covariance`.
    """
    _check_se_type(se_type, clusters is not None)
    if weights is not None and se_type == "CR2":
        # estimatr's weighted CR2 adjusts on the unweighted scale with its own df; we do not
        # reproduce it yet, and a CR2 that silently differs from R is worse than none.
        raise ValueError(
            "Weighted CR2 is not supported: its small-sample adjustment would not match estimatr. "
            "Use se_type='CR1' with weights."
        )
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    if weights is not None:
        root = np.sqrt(np.asarray(weights, dtype=float))
        y, x = y * root, x * root[:, None]
    params = _linearmodels_params(y, x, list(terms))
    residuals = y - x @ params
    bread = np.linalg.inv(x.T @ x)
    cluster_codes = None if clusters is None else pd.factorize(np.asarray(clusters))[0]
    vcov, df = robust_covariance(x, residuals, bread, se_type=se_type, clusters=cluster_codes)
    return RegressionFit(
        coefficients=_coefficients(terms, params, vcov, df),
        se_type=se_type,
        n=len(y),
        k=x.shape[1],
        n_clusters=None if cluster_codes is None else int(cluster_codes.max() + 1),
    )


def _linearmodels_params(y: np.ndarray, x: np.ndarray, terms: list[str]) -> np.ndarray:
    from linearmodels.iv import IV2SLS

    result = IV2SLS(pd.Series(y, name="y"), pd.DataFrame(x, columns=terms), None, None).fit(
        cov_type="unadjusted"
    )
    return result.params.to_numpy()


def design_matrix(
    data: pd.DataFrame,
    *,
    treatment_columns: Sequence[str],
    covariates: Sequence[str] = (),
    strata: str | None = None,
) -> pd.DataFrame:
    """Intercept, treatment indicators, covariates and stratum fixed effects.

    Stratum dummies drop the first level (sorted); any column that is
    collinear with the ones before it is dropped, but never a treatment
    indicator.
    """
    parts = [pd.Series(1.0, index=data.index, name="(Intercept)")]
    parts += [data[c].astype(float).rename(c) for c in treatment_columns]
    parts += [data[c].astype(float).rename(c) for c in covariates]
    if strata is not None:
        dummies = pd.get_dummies(
            data[strata].astype(str), prefix=f"stratum[{strata}]", prefix_sep="=", drop_first=True
        )
        parts += [dummies[c].astype(float) for c in dummies.columns]
    frame = pd.concat(parts, axis=1)
    _, r, pivot = linalg.qr(frame.to_numpy(), mode="economic", pivoting=True)
    tol = np.abs(r[0, 0]) * max(frame.shape) * np.finfo(float).eps
    rank = int((np.abs(np.diag(r)) > tol).sum())
    keep = sorted(pivot[:rank])
    dropped = [c for i, c in enumerate(frame.columns) if i not in keep]
    if any(c in treatment_columns for c in dropped):
        raise ValueError(
            f"The treatment indicator(s) {[c for c in dropped if c in treatment_columns]} are collinear with "
            "the covariates or strata, so no effect can be estimated."
        )
    return frame.iloc[:, keep]


def _complete_cases(data: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    return data.dropna(subset=[c for c in columns if c is not None])


def _n_per_arm(data: pd.DataFrame, arm: str, arms: Sequence[str]) -> dict[str, int]:
    counts = data[arm].value_counts()
    return {a: int(counts.get(a, 0)) for a in arms}


def fit_itt(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    arms: Sequence[str],
    control: str,
    covariates: Sequence[str] = (),
    strata: str | None = None,
    cluster: str | None = None,
    se_type: str | None = None,
    weights: str | None = None,
) -> ITTResult:
    """ITT by ANCOVA: the outcome on arm indicators, covariates (incl. baseline) and stratum effects.

    Complete cases only (rows missing the outcome or a covariate are dropped,
    and ``n_per_arm`` says how many remain).  The default SE is HC2, or CR2
    when ``cluster`` is given, as estimatr's ``lm_robust``.
    """
    se_type = se_type or ("CR2" if cluster else "HC2")
    _check_se_type(se_type, cluster is not None)
    for column in [outcome, arm, *covariates, *(c for c in (strata, cluster, weights) if c)]:
        if column not in data.columns:
            raise ValueError(
                f"The column '{column}' is not in the data. Got columns {list(data.columns)}."
            )
    if control not in arms:
        raise ValueError(f"The control arm '{control}' is not one of the arms {list(arms)}.")
    used = _complete_cases(data, [outcome, arm, *covariates, strata, cluster, weights])
    used = used[used[arm].isin(arms)]
    active = [a for a in arms if a != control]
    indicators = used.assign(**{f"arm[{a}]": (used[arm] == a).astype(float) for a in active})
    x = design_matrix(
        indicators,
        treatment_columns=[f"arm[{a}]" for a in active],
        covariates=covariates,
        strata=strata,
    )
    fit = ols_fit(
        used[outcome].to_numpy(float),
        x.to_numpy(),
        terms=list(x.columns),
        se_type=se_type,
        clusters=None if cluster is None else used[cluster].to_numpy(),
        weights=None if weights is None else used[weights].to_numpy(float),
    )
    return ITTResult(
        outcome=outcome,
        fit=fit,
        treatment_terms=tuple(f"arm[{a}]" for a in active),
        n_per_arm=_n_per_arm(used, arm, arms),
    )


def fit_cace(
    data: pd.DataFrame,
    *,
    outcome: str,
    uptake: str,
    assigned: str,
    covariates: Sequence[str] = (),
    strata: str | None = None,
    cluster: str | None = None,
    se_type: str | None = None,
    arm: str | None = None,
    arms: Sequence[str] = (),
) -> CACEResult:
    """CACE by 2SLS: ``uptake`` (binary or dose) instrumented by the 0/1 ``assigned``.

    Standard errors follow estimatr's ``iv_robust``: the sandwich is built on
    the second-stage design (fitted uptake) with residuals from the structural
    equation (actual uptake).  The first-stage F is the robust Wald F of the
    excluded instrument with the same SE type.
    """
    se_type = se_type or ("CR2" if cluster else "HC2")
    _check_se_type(se_type, cluster is not None)
    used = _complete_cases(data, [outcome, uptake, assigned, *covariates, strata, cluster])
    exog = design_matrix(used, treatment_columns=[], covariates=covariates, strata=strata)
    z = used[assigned].to_numpy(float)
    d = used[uptake].to_numpy(float)
    y = used[outcome].to_numpy(float)
    clusters = None if cluster is None else pd.factorize(used[cluster].to_numpy())[0]
    first_x = np.column_stack([z, exog.to_numpy()])
    first_terms = [assigned, *exog.columns]
    first = ols_fit(d, first_x, terms=first_terms, se_type=se_type, clusters=clusters)
    coefficient = first[assigned]
    f_stat = (
        (coefficient.estimate / coefficient.std_error) ** 2 if coefficient.std_error > 0 else np.inf
    )
    fitted = first_x @ np.array([c.estimate for c in first.coefficients])
    terms = [uptake, *exog.columns]
    params = _linearmodels_iv_params(y, d, z, exog, uptake)
    x_structural = np.column_stack([d, exog.to_numpy()])
    x_projected = np.column_stack([fitted, exog.to_numpy()])
    residuals = y - x_structural @ params
    bread = np.linalg.inv(x_projected.T @ x_projected)
    vcov, df = robust_covariance(x_projected, residuals, bread, se_type=se_type, clusters=clusters)
    fit = RegressionFit(
        coefficients=_coefficients(terms, params, vcov, df),
        se_type=se_type,
        n=len(y),
        k=len(terms),
        n_clusters=None if clusters is None else int(clusters.max() + 1),
    )
    first_df = (1.0, float(first.coefficients[0].df))
    return CACEResult(
        outcome=outcome,
        fit=fit,
        endogenous=uptake,
        first_stage_f=float(f_stat),
        first_stage_df=first_df,
        weak_instrument=bool(f_stat < 10),
        n_per_arm=_n_per_arm(used, arm, arms) if arm else {},
    )


def _linearmodels_iv_params(y, d, z, exog: pd.DataFrame, uptake: str) -> np.ndarray:  # noqa: ANN001
    from linearmodels.iv import IV2SLS

    result = IV2SLS(
        pd.Series(y, name="y"),
        pd.DataFrame(exog.to_numpy(), columns=list(exog.columns)),
        pd.DataFrame({uptake: d}),
        pd.DataFrame({"assigned": z}),
    ).fit(cov_type="unadjusted")
    return result.params[[uptake, *exog.columns]].to_numpy()
