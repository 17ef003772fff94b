"""What a fit returns: coefficients with t-based inference, and the ITT and CACE results.

Each result has ``to_dict``: plain floats, NaN and infinities as ``None`` (JSON has neither).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from common.numbers import json_float

__all__ = ["CACEResult", "Coefficient", "ITTResult", "RegressionFit", "coefficients"]


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
            out[name] = json_float(getattr(self, name))
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
            "first_stage_f": json_float(self.first_stage_f),
            "first_stage_df": [json_float(x) for x in self.first_stage_df],
            "first_stage_p_value": json_float(self.first_stage_p_value),
            "weak_instrument": bool(self.weak_instrument),
            "n": int(self.n),
            "n_per_arm": {k: int(v) for k, v in self.n_per_arm.items()},
            "uptake_per_arm": {k: json_float(v) for k, v in self.uptake_per_arm.items()},
            "n_dropped": int(self.n_dropped),
            "dropped_terms": list(self.dropped_terms),
            "fit": self.fit.to_dict(),
        }


def coefficients(
    terms: Sequence[str], params: np.ndarray, vcov: np.ndarray, df: np.ndarray
) -> tuple[Coefficient, ...]:
    """One :class:`Coefficient` per term: SE from ``vcov``'s diagonal, 95% CI and p from ``t(df)``."""
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
