"""Sandwich covariances and degrees of freedom, as R's estimatr and clubSandwich make them.

HC0-HC3 without clusters, CR0, CR1 and CR2 (Bell-McCaffrey, with Pustejovsky-Tipton
Satterthwaite degrees of freedom) with them, weighted or not.

CR2 is computed cluster by cluster from k × k blocks, so memory is O(N k)
and time is O(N k² + G k³).  No N × N or n_g × n_g matrix is ever formed.

:func:`robust_vcov` trusts its inputs; :func:`check_se_type` is the check the fits run
at their boundary.
"""

from __future__ import annotations

import numpy as np

from analysis.estimators.absorb import AbsorbedStrata
from common.validation import check_choice
from trial_designs.se_types import SE_TYPES  # the vocabulary designs check against

__all__ = ["SE_TYPES", "check_se_type", "robust_vcov"]

# estimatr (like clubSandwich) treats eigenvalues of I - H_gg at or below this as zero.
_EIGEN_TOLERANCE = 1e-12


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


def _cr2_absorbed(
    x: np.ndarray,
    residuals: np.ndarray,
    weights: np.ndarray,
    bread: np.ndarray,
    starts: np.ndarray,
    strata: np.ndarray,
    totals: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    # CR2 of the full model [D, X̃] (D: one dummy per stratum), read off for X̃'s columns
    # (the kept coefficients; the same linear map of y as the model with an intercept and
    # stratum dummies, so the same CR2 and df).  As _cr2_weighted with X = [D, X̃]: X̃ is
    # W-orthogonal to D, so M = diag(1/Σ_s w, M̃).  Each cluster touches only the strata
    # of its own rows, so its block is (r_g + k) wide, r_g the strata it meets; nothing is
    # n x strata.  Unweighted (w = 1) this is _cr2_unweighted's B_g = I - H_gg.
    n, k = x.shape
    n_strata = len(totals)
    m = n_strata + k
    square = weights**2
    cross_dx = np.column_stack(
        [np.bincount(strata, weights=square * x[:, j], minlength=n_strata) for j in range(k)]
    ).reshape(n_strata, k)
    full_bread = np.zeros((m, m))
    full_bread[np.arange(n_strata), np.arange(n_strata)] = 1.0 / totals
    full_bread[n_strata:, n_strata:] = bread
    cross = np.zeros((m, m))
    cross[np.arange(n_strata), np.arange(n_strata)] = np.bincount(
        strata, weights=square, minlength=n_strata
    )
    cross[:n_strata, n_strata:] = cross_dx
    cross[n_strata:, :n_strata] = cross_dx.T
    cross[n_strata:, n_strata:] = x.T @ (x * square[:, None])
    omega = full_bread @ cross @ full_bread
    ends = np.append(starts[1:], n)
    half_meat = np.empty((len(starts), k))
    p_norms = np.empty((len(starts), k))
    y_blocks = np.zeros((len(starts), 2 * m, k))
    kept = np.arange(n_strata, m)
    for g, (start, end) in enumerate(zip(starts, ends, strict=True)):
        met, local = np.unique(strata[start:end], return_inverse=True)
        indicators = np.zeros((end - start, len(met)))
        indicators[np.arange(end - start), local] = 1.0
        xg = np.hstack([indicators, x[start:end]])
        wxg = xg * weights[start:end, None]
        index = np.concatenate([met, kept])
        size = len(index)
        q, r = np.linalg.qr(np.hstack([xg, wxg]))
        r1, r2 = r[:, :size], r[:, size:]
        local_bread = full_bread[np.ix_(index, index)]
        between = r1 @ local_bread @ r2.T
        block = np.eye(r.shape[0]) + r1 @ omega[np.ix_(index, index)] @ r1.T - between - between.T
        p = _inverse_sqrt_batched(block) @ r2 @ local_bread[:, len(met) :]
        half_meat[g] = p.T @ (q.T @ residuals[start:end])
        p_norms[g] = np.einsum("mj,mj->j", p, p)
        y_blocks[g, index] = r1.T @ p
        y_blocks[g, m + index] = r2.T @ p
    vcov = half_meat.T @ half_meat
    core = np.block([[omega, -full_bread], [-full_bread, np.zeros((m, m))]])
    df = _satterthwaite_df(p_norms, y_blocks, core)
    return vcov, df


def robust_vcov(
    x: np.ndarray,
    residuals: np.ndarray,
    *,
    se_type: str,
    clusters: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    absorbed: AbsorbedStrata | None = None,
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
    absorbed : AbsorbedStrata, optional
        Stratum fixed effects absorbed out of ``x`` and the residuals
        (:mod:`analysis.estimators.absorb`): ``x`` is then demeaned within strata
        (weighted as ``weights``) and has no intercept.  The covariance is the
        block for ``x``'s columns of the model with an intercept and stratum
        dummies: its hat matrix adds ``w_i w_j / Σ_s w`` for rows i, j of one
        stratum s (HC2, HC3 and CR2 use it) and K counts the strata
        (HC1, CR1 and the df).

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
    # K of the full model: the absorbed strata (the intercept among them) count as columns
    k_full = k if absorbed is None else k + absorbed.n_levels
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
            if absorbed is not None:
                leverage += absorbed.leverage()
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
            vcov *= n / (n - k_full)
        return vcov, np.full(k, float(n - k_full))

    order = np.argsort(clusters, kind="stable")
    sorted_codes = clusters[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    n_clusters = len(starts)
    if se_type in ("CR0", "CR1"):
        scores = _cluster_sums((weighted_x * weighted_e[:, None])[order], starts)
        vcov = bread @ (scores.T @ scores) @ bread
        if se_type == "CR1":
            vcov *= n_clusters / (n_clusters - 1) * (n - 1) / (n - k_full)
        return vcov, np.full(k, float(n_clusters - 1))
    if absorbed is not None:
        unit = np.ones(n) if weights is None else weights
        return _cr2_absorbed(
            x[order],
            residuals[order],
            unit[order],
            bread,
            starts,
            absorbed.codes[order],
            absorbed.totals,
        )
    if weights is None:
        return _cr2_unweighted(x[order], residuals[order], bread, starts)
    return _cr2_weighted(x[order], residuals[order], weights[order], bread, starts)


def check_se_type(se_type: str, clustered: bool) -> None:
    """Refuse an unknown ``se_type``, a cluster-robust one without clusters, or the reverse.

    Raises
    ------
    ValueError
        Naming the ``se_type`` given and the types that would do.
    """
    check_choice("se_type", se_type, SE_TYPES)
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
