"""ITT (ANCOVA) and CACE (2SLS) with the standard errors R's estimatr and clubSandwich give.

The numbers match ``estimatr::lm_robust`` / ``estimatr::iv_robust`` and
``clubSandwich::coef_test(vcov = "CR2", test = "Satterthwaite")`` to about
1e-12 on the datasets in ``tests/reference/``.  That includes weighted fits
and the CR2 (Bell–McCaffrey) covariance with Pustejovsky–Tipton
Satterthwaite degrees of freedom.

CR2 is computed cluster by cluster from k × k blocks, so memory is O(N k)
and time is O(N k² + G k³).  No N × N or n_g × n_g matrix is ever formed.

Check at the boundary, compute unchecked inside: :func:`ols_fit`,
:func:`fit_itt` and :func:`fit_cace` validate their arguments, and
:func:`robust_vcov` trusts its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "SE_TYPES",
    "CACEResult",
    "Coefficient",
    "ITTResult",
    "RegressionFit",
    "covariate_frame",
    "fit_cace",
    "fit_itt",
    "ols_fit",
    "robust_vcov",
]

#: Standard-error types: what each one is, and whether it needs clusters.
SE_TYPES: dict[str, tuple[str, bool]] = {
    "HC0": ("White's heteroscedasticity-robust sandwich; df = N - K", False),
    "HC1": ("HC0 times N/(N-K) (Stata's 'robust'); df = N - K", False),
    "HC2": ("residuals scaled by 1/(1 - h_ii) (estimatr's default); df = N - K", False),
    "HC3": ("residuals scaled by 1/(1 - h_ii)^2; df = N - K", False),
    "CR0": ("cluster-robust sandwich without correction; df = G - 1", True),
    "CR1": ("CR0 times G/(G-1) (N-1)/(N-K) (Stata's, estimatr's 'stata'); df = G - 1", True),
    "CR2": ("Bell-McCaffrey bias-reduced; Satterthwaite df per coefficient", True),
}

#: First-stage F below this flags a weak instrument (Staiger and Stock's rule of thumb).
WEAK_INSTRUMENT_F = 10.0

# estimatr (like clubSandwich) treats eigenvalues of I - H_gg at or below this as zero.
_EIGEN_TOLERANCE = 1e-12
# A column is collinear with the ones before it when the part of it that they do not
# explain is below this fraction of its norm (R's lm uses the same tolerance).
_COLLINEARITY_TOLERANCE = 1e-7


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
def _json_float(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Coefficient:
    """One coefficient with its standard error and t-based inference (95% CI)."""

    term: str
    estimate: float
    std_error: float
    df: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        """JSON-safe dict: plain floats, NaN and infinities as None."""
        out: dict = {"term": self.term}
        for name in ("estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high"):
            out[name] = _json_float(getattr(self, name))
        return out


@dataclass(frozen=True)
class RegressionFit:
    """A fitted linear model: its coefficients and how their SEs were made.

    ``vcov`` is the full covariance (rows and columns in ``coefficients`` order),
    kept for contrasts between arms; it is not serialised.
    """

    coefficients: tuple[Coefficient, ...]
    se_type: str
    n: int
    n_clusters: int | None
    k: int
    vcov: tuple[tuple[float, ...], ...] = field(default=(), repr=False, compare=False)

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(c.term for c in self.coefficients)

    def __getitem__(self, term: str) -> Coefficient:
        for coefficient in self.coefficients:
            if coefficient.term == term:
                return coefficient
        raise KeyError(f"The term '{term}' is not in the fit. Terms: {', '.join(self.terms)}.")

    def to_dict(self) -> dict:
        """JSON-safe dict of the fit (without ``vcov``)."""
        return {
            "se_type": self.se_type,
            "n": int(self.n),
            "n_clusters": None if self.n_clusters is None else int(self.n_clusters),
            "k": int(self.k),
            "coefficients": [c.to_dict() for c in self.coefficients],
        }


@dataclass(frozen=True)
class ITTResult:
    """The intention-to-treat fit of one outcome: each active arm against control.

    ``n_per_arm`` counts the complete cases used, with the control arm under
    ``"control"`` and each active arm under its indicator column's name.
    """

    outcome: str
    fit: RegressionFit
    treatment_terms: tuple[str, ...]
    n: int
    n_per_arm: dict[str, int]
    n_dropped: int
    dropped_terms: tuple[str, ...] = ()

    @property
    def effects(self) -> tuple[Coefficient, ...]:
        return tuple(self.fit[t] for t in self.treatment_terms)

    def to_dict(self) -> dict:
        """JSON-safe dict, including every coefficient of the fit."""
        return {
            "estimand": "ITT",
            "outcome": self.outcome,
            "treatment_terms": list(self.treatment_terms),
            "effects": [c.to_dict() for c in self.effects],
            "n": int(self.n),
            "n_per_arm": {k: int(v) for k, v in self.n_per_arm.items()},
            "n_dropped": int(self.n_dropped),
            "dropped_terms": list(self.dropped_terms),
            "fit": self.fit.to_dict(),
        }


@dataclass(frozen=True)
class CACEResult:
    """The complier average causal effect by 2SLS, assignment instrumenting uptake.

    ``first_stage_f`` is the robust Wald F of the excluded instrument(s) in
    the first stage, with the same SE type as the second stage (estimatr's
    ``iv_robust(diagnostics = TRUE)`` "Weak instruments" row); its
    denominator df is N - K, or G - 1 with clusters.
    """

    outcome: str
    endogenous: str
    instruments: tuple[str, ...]
    fit: RegressionFit
    first_stage_f: float
    first_stage_df: tuple[float, float]
    first_stage_p_value: float
    weak_instrument: bool
    n: int
    n_per_arm: dict[str, int]
    uptake_per_arm: dict[str, float]
    n_dropped: int
    dropped_terms: tuple[str, ...] = ()

    @property
    def effect(self) -> Coefficient:
        return self.fit[self.endogenous]

    def to_dict(self) -> dict:
        """JSON-safe dict, including every coefficient of the second stage."""
        return {
            "estimand": "CACE",
            "outcome": self.outcome,
            "endogenous": self.endogenous,
            "instruments": list(self.instruments),
            "effect": self.effect.to_dict(),
            "first_stage_f": _json_float(self.first_stage_f),
            "first_stage_df": [_json_float(x) for x in self.first_stage_df],
            "first_stage_p_value": _json_float(self.first_stage_p_value),
            "weak_instrument": bool(self.weak_instrument),
            "n": int(self.n),
            "n_per_arm": {k: int(v) for k, v in self.n_per_arm.items()},
            "uptake_per_arm": {k: _json_float(v) for k, v in self.uptake_per_arm.items()},
            "n_dropped": int(self.n_dropped),
            "dropped_terms": list(self.dropped_terms),
            "fit": self.fit.to_dict(),
        }


# ---------------------------------------------------------------------------
# Covariance
# ---------------------------------------------------------------------------
def _inverse_sqrt_batched(matrices: np.ndarray) -> np.ndarray:
    """Symmetric ``A^{-1/2}`` of each matrix in a stack, eigenvalues <= 1e-12 set to zero."""
    values, vectors = np.linalg.eigh(matrices)
    keep = values > _EIGEN_TOLERANCE
    scaled = np.where(keep, 1.0 / np.sqrt(np.where(keep, values, 1.0)), 0.0)
    return (vectors * scaled[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def _cluster_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, starts, axis=0)


def _satterthwaite_df(p_norms: np.ndarray, y_blocks: np.ndarray, core: np.ndarray) -> np.ndarray:
    """``(tr Ω)² / ‖Ω‖²_F`` per coefficient, where ``Ω = diag(d) + Y C Y'`` (G × G, never formed).

    ``p_norms`` is (G, k): d for each coefficient.  ``y_blocks`` is (G, m, k):
    row g of Y for each coefficient.  ``core`` is the (m, m) symmetric C.
    """
    k = p_norms.shape[1]
    df = np.empty(k)
    for j in range(k):
        d = p_norms[:, j]
        y = y_blocks[:, :, j]
        gram = y.T @ y
        core_gram = core @ gram
        diagonal = np.einsum("gm,mn,gn->g", y, core, y)
        trace = d.sum() + np.trace(core_gram)
        frobenius = (d**2).sum() + 2.0 * (d * diagonal).sum() + np.sum(core_gram * core_gram.T)
        df[j] = trace**2 / frobenius
    return df


def _cr2_unweighted(
    x: np.ndarray, residuals: np.ndarray, bread: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    # With M = L L' and F_g = X_g L, H_gg = F_g F_g' and S_g = F_g'F_g = L'X_g'X_g L share
    # their non-zero eigenvalues, so (I - H_gg)^{-1/2} X_g M = X_g L (I - S_g)^{-1/2} L'
    # (push-through).  Each cluster then needs only X_g'X_g and X_g'e_g.
    k = x.shape[1]
    cross = np.empty((len(starts), k, k))
    for a in range(k):
        cross[:, a, :] = _cluster_sums(x * x[:, a : a + 1], starts)
    score = _cluster_sums(x * residuals[:, None], starts)
    root = np.linalg.cholesky(bread)
    inner = np.eye(k) - root.T @ cross @ root
    adjust = root @ _inverse_sqrt_batched(inner) @ root.T  # P_g; p_g(j) = X_g P_g e_j
    half_meat = np.einsum("gab,gb->ga", adjust, score)
    vcov = half_meat.T @ half_meat
    q = cross @ adjust  # q_g = X_g' p_g, column j per coefficient
    p_norms = np.einsum("gaj,gaj->gj", adjust, q)
    df = _satterthwaite_df(p_norms, q, -bread)
    return vcov, df


def _cr2_weighted(
    x: np.ndarray,
    residuals: np.ndarray,
    weights: np.ndarray,
    bread: np.ndarray,
    starts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    # estimatr (and clubSandwich for weighted lm) adjust with target variance I on the
    # unweighted scale: B_g = [(I - H) (I - H)']_gg with H = X M X'W, which is
    # I + Z_g C Z_g' for Z_g = [X_g, W_g X_g] and C = [[Ω, -M], [-M, 0]], Ω = M X'W²X M.
    # A thin QR of Z_g reduces B_g to a (≤ 2k)-square block.
    n, k = x.shape
    omega = bread @ (x.T @ (x * (weights**2)[:, None])) @ bread
    ends = np.append(starts[1:], n)
    half_meat = np.empty((len(starts), k))
    p_norms = np.empty((len(starts), k))
    y_blocks = np.empty((len(starts), 2 * k, k))
    for g, (start, end) in enumerate(zip(starts, ends, strict=True)):
        xg = x[start:end]
        wxg = xg * weights[start:end, None]
        q, r = np.linalg.qr(np.hstack([xg, wxg]))
        r1, r2 = r[:, :k], r[:, k:]
        cross = r1 @ bread @ r2.T
        block = np.eye(r.shape[0]) + r1 @ omega @ r1.T - cross - cross.T
        p = _inverse_sqrt_batched(block) @ r2 @ bread  # p_g = Q P, column j per coefficient
        half_meat[g] = p.T @ (q.T @ residuals[start:end])
        p_norms[g] = np.einsum("mj,mj->j", p, p)
        y_blocks[g, :k] = r1.T @ p  # X_g' p_g
        y_blocks[g, k:] = r2.T @ p  # X_g'W_g p_g
    vcov = half_meat.T @ half_meat
    core = np.block([[omega, -bread], [-bread, np.zeros((k, k))]])
    df = _satterthwaite_df(p_norms, y_blocks, core)
    return vcov, df


def robust_vcov(
    x: np.ndarray,
    residuals: np.ndarray,
    *,
    se_type: str,
    clusters: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sandwich covariance and per-coefficient degrees of freedom, as estimatr computes them.

    Trusts its inputs: :func:`ols_fit` checks them.

    Parameters
    ----------
    x : ndarray, shape (n, k)
        The design the bread is made from, unweighted.  For 2SLS this is the
        second-stage design with fitted endogenous columns.
    residuals : ndarray, shape (n,)
        Unweighted residuals (for 2SLS, from the actual endogenous columns).
    se_type : str
        A key of :data:`SE_TYPES`.
    clusters : ndarray of int, shape (n,), optional
        Cluster codes 0..G-1 (required for CR types, ignored otherwise).
    weights : ndarray, shape (n,), optional
        Positive analytic weights, as ``lm_robust(weights = )``.

    Returns
    -------
    vcov : ndarray, shape (k, k)
    df : ndarray, shape (k,)

    Notes
    -----
    With ``W = diag(w)``, ``M = (X'WX)^{-1}``, ``u = W^{1/2} e`` and
    ``h_i = w_i x_i' M x_i``:

    * HC0 ``V = M X'W diag(e²) W X M``; HC1 times ``N/(N-K)``; HC2 divides
      ``u_i²`` by ``1 - h_i``; HC3 by ``(1 - h_i)²``; df ``N - K``.
    * CR0 ``V = M (Σ_g X_g'W_g e_g e_g'W_g X_g) M``; CR1 times
      ``G/(G-1) · (N-1)/(N-K)``; df ``G - 1``.
    * CR2 (Bell and McCaffrey 2002) ``V = M (Σ_g X_g'W_g A_g e_g e_g'A_g W_g X_g) M``
      with ``A_g = B_g^{-1/2}``, ``B_g = [(I - H)(I - H)']_gg`` and
      ``H = X M X'W``.  Unweighted, ``B_g = I - X_g M X_g'``.
    * CR2 df for coefficient j (Pustejovsky and Tipton 2018, working model
      ``Φ = I``; estimatr's and clubSandwich's "Satterthwaite"):
      ``ν_j = (tr Ω)² / ‖Ω‖²_F`` with ``Ω_gh = p_g' [(I - H)(I - H)']_gh p_h``
      and ``p_g = A_g W_g X_g M e_j``.  Using
      ``(I - H)_gh = δ_gh I - X_g M X_h' W_h``, Ω is a diagonal plus a
      rank-2k term in the k-vectors ``X_g'p_g`` and ``X_g'W_g p_g``; its trace
      and Frobenius norm need only k × k products, so nothing G × G is built.
    """
    n, k = x.shape
    if weights is None:
        weighted_x, weighted_e = x, residuals
    else:
        # estimatr divides weights by their mean; the sandwich is scale-free, the
        # rounding is closer to R's this way.
        weights = weights / weights.mean()
        root_w = np.sqrt(weights)
        weighted_x, weighted_e = x * root_w[:, None], residuals * root_w
    bread = np.linalg.inv(weighted_x.T @ weighted_x)
    if not SE_TYPES[se_type][1]:
        if se_type in ("HC2", "HC3"):
            leverage = np.einsum("ij,jk,ik->i", weighted_x, bread, weighted_x)
            power = 1 if se_type == "HC2" else 2
            with np.errstate(divide="ignore"):
                scale = 1.0 / (1.0 - leverage) ** power
            # A perfectly fitted point (h = 1) contributes nothing, as in estimatr.
            scale[~np.isfinite(scale)] = 0.0
        else:
            scale = np.ones(n)
        meat = (weighted_x * (weighted_e**2 * scale)[:, None]).T @ weighted_x
        vcov = bread @ meat @ bread
        if se_type == "HC1":
            vcov *= n / (n - k)
        return vcov, np.full(k, float(n - k))

    order = np.argsort(clusters, kind="stable")
    sorted_codes = clusters[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    n_clusters = len(starts)
    if se_type in ("CR0", "CR1"):
        scores = _cluster_sums((weighted_x * weighted_e[:, None])[order], starts)
        vcov = bread @ (scores.T @ scores) @ bread
        if se_type == "CR1":
            vcov *= n_clusters / (n_clusters - 1) * (n - 1) / (n - k)
        return vcov, np.full(k, float(n_clusters - 1))
    if weights is None:
        return _cr2_unweighted(x[order], residuals[order], bread, starts)
    return _cr2_weighted(x[order], residuals[order], weights[order], bread, starts)


def _coefficients(
    terms: Sequence[str], params: np.ndarray, vcov: np.ndarray, df: np.ndarray
) -> tuple[Coefficient, ...]:
    from scipy import stats  # late: scipy.stats costs ~1 s of every command's start-up

    se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = params / se
    critical = stats.t.ppf(0.975, df)
    p_value = 2.0 * stats.t.sf(np.abs(statistic), df)
    return tuple(
        Coefficient(
            term=str(term),
            estimate=float(params[j]),
            std_error=float(se[j]),
            df=float(df[j]),
            statistic=float(statistic[j]),
            p_value=float(p_value[j]),
            ci_low=float(params[j] - critical[j] * se[j]),
            ci_high=float(params[j] + critical[j] * se[j]),
        )
        for j, term in enumerate(terms)
    )


# ---------------------------------------------------------------------------
# Checks at the boundary
# ---------------------------------------------------------------------------
def _check_se_type(se_type: str, clustered: bool) -> None:
    if se_type not in SE_TYPES:
        raise ValueError(
            f"The 'se_type' '{se_type}' is not known. Choose one of: {', '.join(SE_TYPES)}. "
            f"Got '{se_type}' instead."
        )
    needs_clusters = SE_TYPES[se_type][1]
    if needs_clusters and not clustered:
        raise ValueError(
            f"The 'se_type' '{se_type}' is cluster-robust and needs clusters. "
            "Got clusters=None instead."
        )
    if clustered and not needs_clusters:
        cluster_types = ", ".join(t for t, (_, c) in SE_TYPES.items() if c)
        raise ValueError(
            f"The 'se_type' must be cluster-robust when clusters are given. Choose one of: "
            f"{cluster_types}. Got '{se_type}' instead."
        )


def _check_weights(weights: np.ndarray) -> None:
    if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        bad = weights[~(np.isfinite(weights) & (weights > 0))]
        raise ValueError(
            f"The 'weights' must be finite and positive. Got {bad[:5].tolist()} "
            f"({len(bad)} such values) instead."
        )


def _least_squares(y: np.ndarray, x: np.ndarray, terms: Sequence[str]) -> np.ndarray:
    """Coefficients by Householder QR; refuses a rank-deficient design by name."""
    from scipy import linalg

    q, r = np.linalg.qr(x)
    diagonal = np.abs(np.diag(r))
    norms = np.linalg.norm(x, axis=0)
    collinear = [t for t, d, s in zip(terms, diagonal, norms, strict=True) if d <= 1e-10 * s]
    if collinear:
        raise ValueError(
            "The design matrix must have full column rank: the column(s) "
            f"{', '.join(collinear)} are linear combinations of the columns before them. "
            "Drop them (fit_itt and fit_cace do this for covariates and strata)."
        )
    return linalg.solve_triangular(r, q.T @ y)


# ---------------------------------------------------------------------------
# OLS
# ---------------------------------------------------------------------------
def ols_fit(
    y: np.ndarray,
    X: np.ndarray,
    *,
    terms: Sequence[str],
    se_type: str = "HC2",
    clusters: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> RegressionFit:
    """(Weighted) least squares with estimatr's robust or cluster-robust standard errors.

    Parameters
    ----------
    y : array_like, shape (n,)
    X : array_like, shape (n, k)
        The design, including the intercept column; full column rank.
    terms : sequence of str
        A name for each column of ``X``.
    se_type : str, default "HC2"
        One of :data:`SE_TYPES`: HC0, HC1, HC2, HC3 without clusters; CR0,
        CR1 (Stata's), CR2 with clusters.
    clusters : array_like, shape (n,), optional
        Cluster labels of any hashable type.
    weights : array_like, shape (n,), optional
        Positive analytic (e.g. inverse-probability) weights, as
        ``lm_robust(weights = )``.

    Returns
    -------
    RegressionFit

    Raises
    ------
    ValueError
        For an unknown ``se_type``, a CR type without clusters (or an HC type
        with them), mismatched shapes, non-finite data, non-positive weights,
        fewer than two clusters, or a rank-deficient ``X``.

    Notes
    -----
    ``β = (X'WX)^{-1} X'Wy`` by QR of ``W^{1/2}X``; the covariance and df are
    :func:`robust_vcov`'s.  Estimates equal ``linearmodels`` OLS
    (tests/analysis/test_estimators.py holds the two together).  The 95% CI is
    ``β ± t_{0.975, df} SE`` and the p-value two-sided from ``t(df)``.
    """
    _check_se_type(se_type, clusters is not None)
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    terms = [str(t) for t in terms]
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(
            f"'y' must be a vector with one value per row of 'X'. Got y of shape {y.shape} "
            f"and X of shape {X.shape} instead."
        )
    n, k = X.shape
    if len(terms) != k:
        raise ValueError(f"'terms' must name each of the {k} columns of X. Got {len(terms)} names.")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(X))):
        raise ValueError("'y' and 'X' must be finite: drop missing values first (fit_itt does).")
    if n <= k:
        raise ValueError(f"There must be more rows than columns. Got {n} rows and {k} columns.")
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (n,):
            raise ValueError(f"'weights' must have one value per row ({n}). Got {weights.shape}.")
        _check_weights(weights)
    codes = None
    n_clusters = None
    if clusters is not None:
        clusters = np.asarray(clusters)
        if clusters.shape != (n,):
            raise ValueError(f"'clusters' must have one label per row ({n}). Got {clusters.shape}.")
        codes, uniques = pd.factorize(clusters)
        if np.any(codes < 0):
            raise ValueError("'clusters' must not contain missing labels.")
        n_clusters = len(uniques)
        if n_clusters < 2:
            raise ValueError(f"Cluster-robust SEs need at least 2 clusters. Got {n_clusters}.")

    root_w = None if weights is None else np.sqrt(weights / weights.mean())
    if root_w is None:
        params = _least_squares(y, X, terms)
    else:
        params = _least_squares(y * root_w, X * root_w[:, None], terms)
    residuals = y - X @ params
    vcov, df = robust_vcov(X, residuals, se_type=se_type, clusters=codes, weights=weights)
    return RegressionFit(
        coefficients=_coefficients(terms, params, vcov, df),
        se_type=se_type,
        n=n,
        n_clusters=n_clusters,
        k=k,
        vcov=tuple(tuple(float(v) for v in row) for row in vcov),
    )


# ---------------------------------------------------------------------------
# Designs from DataFrames
# ---------------------------------------------------------------------------
def _require_columns(data: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(
            f"The column(s) {', '.join(repr(c) for c in missing)} are not in the data. "
            f"Got columns: {', '.join(map(str, data.columns))}."
        )


def _stratum_dummies(values: pd.Series, name: str) -> pd.DataFrame:
    labels = values.astype(str)
    levels = sorted(labels.unique())
    return pd.DataFrame(
        {f"{name}[{level}]": (labels == level).to_numpy(float) for level in levels[1:]},
        index=values.index,
    )


def covariate_frame(data: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Covariates as numeric model columns: numbers as they are, text as fixed effects.

    Parameters
    ----------
    data : DataFrame
    covariates : sequence of str
        Column names.  A column that is not numeric (or boolean) is categorical.

    Returns
    -------
    DataFrame
        Same index as ``data``.  A numeric covariate keeps its name; a
        categorical one becomes ``name[level]`` 0/1 columns for every level
        after the first, levels sorted as text (R's ``factor`` default
        treatment contrasts), so the order never depends on the rows.  A row
        missing the category is missing in each of its dummies, so complete-case
        analyses drop it as they would the text column.
    """
    parts = []
    for name in covariates:
        values = data[name]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            parts.append(values.astype(float).rename(name))
            continue
        present = values.notna()
        labels = values[present].astype(str)
        levels = sorted(labels.unique())
        for level in levels[1:]:
            column = pd.Series(np.nan, index=data.index, name=f"{name}[{level}]")
            column[present] = (labels == level).to_numpy(float)
            parts.append(column)
    if not parts:
        return pd.DataFrame(index=data.index)
    return pd.concat(parts, axis=1)


def _collinear_columns(matrix: np.ndarray) -> list[bool]:
    """For each column, whether the columns kept before it already explain it.

    A column is kept when its distance from the span of the kept columns is more than
    ``_COLLINEARITY_TOLERANCE`` of its own length.  Each flag is computed against the kept
    columns only, so a design with more columns than rows (a small subgroup with a team
    covariate) or an all-zero column (a team absent from a subgroup) never shifts or hides
    a later column, as reading the diagonal of an unpivoted QR did.
    """
    n_rows, n_cols = matrix.shape
    basis = np.empty((n_rows, min(n_rows, n_cols)))
    kept = 0
    flags = []
    for j in range(n_cols):
        column = matrix[:, j]
        length = np.linalg.norm(column)
        residual = column.copy()
        # twice: one pass of classical Gram-Schmidt loses orthogonality in floating point
        for _ in range(2):
            residual -= basis[:, :kept] @ (basis[:, :kept].T @ residual)
        distance = np.linalg.norm(residual)
        bad = kept == basis.shape[1] or distance <= _COLLINEARITY_TOLERANCE * max(length, 1e-300)
        flags.append(bool(bad))
        if not bad:
            basis[:, kept] = residual / distance
            kept += 1
    return flags


def _drop_collinear(
    frame: pd.DataFrame, protected: Sequence[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Drop each column that the columns before it explain (R's lm order), never a protected one."""
    collinear = _collinear_columns(frame.to_numpy(float))
    dropped = [c for c, bad in zip(frame.columns, collinear, strict=True) if bad]
    clash = [c for c in dropped if c in protected]
    if clash:
        raise ValueError(
            f"The column(s) {', '.join(clash)} are collinear with the intercept or the columns "
            "before them, so their effect cannot be estimated. Check the assignment and strata."
        )
    return frame.drop(columns=dropped), dropped


def _design(
    data: pd.DataFrame,
    leading: Sequence[str],
    covariates: Sequence[str],
    strata: str | None,
) -> tuple[pd.DataFrame, list[str]]:
    parts = [pd.DataFrame({"(Intercept)": np.ones(len(data))}, index=data.index)]
    parts.append(data[list(leading)].astype(float))
    parts.append(covariate_frame(data, covariates))  # text covariates as fixed effects
    if strata is not None:
        parts.append(_stratum_dummies(data[strata], strata))
    return _drop_collinear(pd.concat(parts, axis=1), protected=["(Intercept)", *leading])


def _resolve_se_type(se_type: str | None, cluster: str | None) -> str:
    chosen = se_type if se_type is not None else ("HC2" if cluster is None else "CR2")
    _check_se_type(chosen, cluster is not None)
    return chosen


def _check_indicators(data: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    for column in columns:
        values = data[column]
        if not values.isin([0, 1]).all():
            odd = sorted(set(values[~values.isin([0, 1])].tolist()), key=str)[:5]
            raise ValueError(
                f"The {what} column '{column}' must hold 0/1 indicators. Got {odd} instead."
            )
    if len(columns) > 1 and (data[list(columns)].sum(axis=1) > 1).any():
        raise ValueError(
            f"Each row must be in at most one active arm, but some rows have 1 in more than one "
            f"of {', '.join(columns)}."
        )


def _arm_counts(data: pd.DataFrame, columns: Sequence[str]) -> dict[str, int]:
    active = data[list(columns)].sum(axis=1)
    counts = {"control": int((active == 0).sum())}
    counts.update({c: int((data[c] == 1).sum()) for c in columns})
    return counts


def fit_itt(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment_columns: Sequence[str],
    covariates: Sequence[str] = (),
    strata: str | None = None,
    cluster: str | None = None,
    se_type: str | None = None,
    weights: str | None = None,
) -> ITTResult:
    """ITT by ANCOVA: the outcome on arm indicators, covariates and stratum fixed effects.

    Parameters
    ----------
    data : DataFrame
        One row per participant.
    outcome : str
        The outcome column.
    treatment_columns : sequence of str
        0/1 indicator columns, one per active arm; a row of zeros is control.
    covariates : sequence of str
        Covariates, the baseline measure among them; a text column (e.g. team)
        enters as fixed effects (see :func:`covariate_frame`).
    strata : str, optional
        The stratum column; dummy-coded with the first sorted level dropped.
    cluster : str, optional
        The cluster column (cluster-randomised trials).
    se_type : str, optional
        A key of :data:`SE_TYPES`; default HC2, or CR2 with ``cluster``.
    weights : str, optional
        A column of positive weights (e.g. inverse probability of response).

    Returns
    -------
    ITTResult

    Notes
    -----
    Complete cases: rows missing any named column are dropped and counted in
    ``n_dropped``.  The design is ``[1, T_1..T_a, covariates, stratum dummies]``;
    a covariate or dummy that is collinear with the columns before it is
    dropped (listed in ``dropped_terms``), as R's ``lm`` would.  The model is
    ``y = α + Σ τ_a T_a + γ'x + δ_s + ε``, and ``τ_a`` is the ITT effect of arm
    ``a`` against control, with :func:`ols_fit`'s standard errors.
    """
    treatment_columns = list(treatment_columns)
    covariates = list(covariates)
    if not treatment_columns:
        raise ValueError("'treatment_columns' must name at least one 0/1 arm indicator. Got none.")
    optional = [c for c in (strata, cluster, weights) if c is not None]
    needed = [outcome, *treatment_columns, *covariates, *optional]
    _require_columns(data, needed)
    se_type = _resolve_se_type(se_type, cluster)
    used = data.dropna(subset=needed)
    _check_indicators(used, treatment_columns, "treatment")
    x, dropped = _design(used, treatment_columns, covariates, strata)
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
        treatment_terms=tuple(treatment_columns),
        n=len(used),
        n_per_arm=_arm_counts(used, treatment_columns),
        n_dropped=len(data) - len(used),
        dropped_terms=tuple(dropped),
    )


# ---------------------------------------------------------------------------
# 2SLS
# ---------------------------------------------------------------------------
def _f_sf(statistic: float, df_num: float, df_den: float) -> float:
    """The F distribution's survival function (scipy imported late, see _coefficients)."""
    from scipy import stats

    return stats.f.sf(statistic, df_num, df_den)


def _wald_f(params: np.ndarray, vcov: np.ndarray, index: list[int]) -> float:
    from scipy import linalg

    b = params[index]
    v = vcov[np.ix_(index, index)]
    try:
        return float(b @ linalg.cho_solve(linalg.cho_factor(v), b) / len(index))
    except linalg.LinAlgError:
        return math.nan


def _linearmodels_2sls(
    y: np.ndarray,
    exog: pd.DataFrame,
    endog: pd.Series,
    instruments: pd.DataFrame,
    weights: np.ndarray | None,
) -> pd.Series:
    from linearmodels.iv import IV2SLS

    model = IV2SLS(
        pd.Series(y, index=exog.index, name="y"),
        exog,
        endog.to_frame(),
        instruments,
        weights=weights,
    )
    return model.fit(cov_type="unadjusted").params


def fit_cace(
    data: pd.DataFrame,
    *,
    outcome: str,
    uptake: str,
    assignment: str | Sequence[str],
    covariates: Sequence[str] = (),
    strata: str | None = None,
    cluster: str | None = None,
    se_type: str | None = None,
    weights: str | None = None,
) -> CACEResult:
    """CACE by 2SLS: ``uptake`` (0/1 or a dose) instrumented by random assignment.

    Parameters
    ----------
    data : DataFrame
    outcome : str
    uptake : str
        The endogenous column: took the intervention up (0/1) or a dose.
    assignment : str or sequence of str
        0/1 assignment indicator(s): the excluded instrument(s).
    covariates, strata, cluster, se_type, weights
        As in :func:`fit_itt`; they enter both stages.

    Returns
    -------
    CACEResult

    Notes
    -----
    First stage ``D = π'Z + γ'x + δ_s + v`` gives ``D̂``; the estimate comes
    from linearmodels' ``IV2SLS``.  Standard errors follow estimatr's
    ``iv_robust``: the sandwich's bread and hat matrix use the second-stage
    design ``X̂ = [D̂, 1, x, dummies]`` and the residuals use the actual
    uptake, ``e = y - [D, 1, x, dummies] β``; df as :func:`robust_vcov`.
    The first-stage F is the Wald statistic ``π̂' V_π^{-1} π̂ / q`` with the
    same SE type, on ``(q, N - K_1)`` df, or ``(q, G - 1)`` with clusters,
    as ``iv_robust(diagnostics = TRUE)`` reports it.  ``weak_instrument``
    is ``F < 10``.
    """
    instruments = [assignment] if isinstance(assignment, str) else list(assignment)
    covariates = list(covariates)
    if not instruments:
        raise ValueError("'assignment' must name at least one 0/1 assignment column. Got none.")
    optional = [c for c in (strata, cluster, weights) if c is not None]
    needed = [outcome, uptake, *instruments, *covariates, *optional]
    _require_columns(data, needed)
    se_type = _resolve_se_type(se_type, cluster)
    used = data.dropna(subset=needed)
    _check_indicators(used, instruments, "assignment")
    first_x, dropped = _design(used, instruments, covariates, strata)
    exog = first_x.drop(columns=instruments)
    y = used[outcome].to_numpy(float)
    d = used[uptake].to_numpy(float)
    w = None if weights is None else used[weights].to_numpy(float)
    clusters = None if cluster is None else used[cluster].to_numpy()

    first = ols_fit(
        d,
        first_x.to_numpy(),
        terms=list(first_x.columns),
        se_type=se_type,
        clusters=clusters,
        weights=w,
    )
    first_params = np.array([c.estimate for c in first.coefficients])
    first_vcov = np.array(first.vcov)
    index = [list(first_x.columns).index(z) for z in instruments]
    f_stat = _wald_f(first_params, first_vcov, index)
    df_num = float(len(index))
    df_den = float(first.n_clusters - 1) if clusters is not None else float(first.n - first.k)

    params = _linearmodels_2sls(
        y, exog, used[uptake].astype(float), used[instruments].astype(float), w
    )
    # R's column order: intercept, endogenous, then the exogenous covariates.
    exog_matrix = exog.to_numpy()
    terms = [exog.columns[0], uptake, *exog.columns[1:]]
    beta = params[terms].to_numpy()
    fitted = first_x.to_numpy() @ first_params
    x_actual = np.column_stack([exog_matrix[:, :1], d, exog_matrix[:, 1:]])
    x_fitted = np.column_stack([exog_matrix[:, :1], fitted, exog_matrix[:, 1:]])
    residuals = y - x_actual @ beta
    codes = None if clusters is None else pd.factorize(clusters)[0]
    vcov, df = robust_vcov(x_fitted, residuals, se_type=se_type, clusters=codes, weights=w)
    fit = RegressionFit(
        coefficients=_coefficients(terms, beta, vcov, df),
        se_type=se_type,
        n=len(y),
        n_clusters=first.n_clusters,
        k=len(terms),
        vcov=tuple(tuple(float(v) for v in row) for row in vcov),
    )
    n_per_arm = _arm_counts(used, instruments)
    active = used[instruments].sum(axis=1)
    uptake_per_arm = {"control": float(used.loc[active == 0, uptake].mean())}
    uptake_per_arm.update({z: float(used.loc[used[z] == 1, uptake].mean()) for z in instruments})
    return CACEResult(
        outcome=outcome,
        endogenous=uptake,
        instruments=tuple(instruments),
        fit=fit,
        first_stage_f=f_stat,
        first_stage_df=(df_num, df_den),
        first_stage_p_value=float(_f_sf(f_stat, df_num, df_den)),
        weak_instrument=bool(not f_stat >= WEAK_INSTRUMENT_F),
        n=len(y),
        n_per_arm=n_per_arm,
        uptake_per_arm=uptake_per_arm,
        n_dropped=len(data) - len(used),
        dropped_terms=tuple(dropped),
    )
