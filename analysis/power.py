"""Analytic minimum detectable effect size (MDES) and power, for individual and cluster trials.

Bloom's (1995, 2006) formulation: the MDES is a multiplier times the standard error of
the standardised impact estimate.  Cluster trials inflate the variance by the design
effect :math:`1 + (m - 1)\\rho` and take their degrees of freedom from the number of
clusters, which is what makes trials such as the 13-building coffee trial much less
sensitive than their head count suggests.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping
from dataclasses import asdict, astuple, dataclass, fields
from typing import TYPE_CHECKING

# scipy.special, not scipy.stats: the same t and normal functions, imported in a third of the time
from scipy import special

from common.numbers import json_value
from common.validation import check_choice, check_open_unit

if TYPE_CHECKING:
    from trial_designs.design import TrialDesign

__all__ = [
    "ALTERNATIVES",
    "DISTRIBUTIONS",
    "PowerCalculation",
    "PowerInputs",
    "calculate",
    "design_allocation",
    "mdes",
    "power_for_effect",
    "resolve_inputs",
    "solve_for",
]


class _Reference:
    """The t (``df``) or standard normal distribution: ppf and cdf, as scipy.stats computes them."""

    def __init__(self, df: float | None) -> None:
        self.df = df

    def ppf(self, q: float) -> float:
        return special.ndtri(q) if self.df is None else special.stdtrit(self.df, q)

    def cdf(self, x: float) -> float:
        return special.ndtr(x) if self.df is None else special.stdtr(self.df, x)


#: Reference distributions for the multipliers.
DISTRIBUTIONS: dict[str, str] = {
    "t": "Student t quantiles with the design's degrees of freedom (Bloom 2006)",
    "normal": "standard normal quantiles (large-sample approximation)",
}

#: Alternatives of the planned test.
ALTERNATIVES: dict[str, str] = {
    "two-sided": "critical value at 1 - alpha/2",
    "one-sided": "critical value at 1 - alpha",
}


@dataclass(frozen=True)
class PowerCalculation:
    """An MDES or power calculation, with everything it was computed from.

    ``solved_for`` says which of ``effect_size`` and ``power`` was computed; the other
    was given.  ``standard_error`` is the SE of the impact estimate in SD units and
    ``multiplier`` the critical value plus the power quantile, so that
    ``effect_size = multiplier * standard_error``.  ``df`` is None for the normal
    approximation.
    """

    solved_for: str
    effect_size: float
    power: float
    alpha: float
    design: str
    n: float
    n_clusters: float | None
    cluster_size: float
    allocation: float
    r2: float
    icc: float
    design_effect: float
    n_covariates: int
    df: float | None
    multiplier: float
    standard_error: float
    distribution: str
    alternative: str

    def to_dict(self) -> dict:
        """JSON-safe dict of plain floats, ints and strings."""
        return {name: json_value(value) for name, value in asdict(self).items()}


@dataclass(frozen=True)
class PowerInputs:
    """The ten inputs of every MDES and power calculation, declared once.

    :func:`mdes` and :func:`power_for_effect` take them as keywords, and
    :func:`resolve_inputs` builds them from the ``power`` command's options and a design.

    Attributes
    ----------
    n : float
        Individuals analysed, all arms together.
    alpha : float
        Significance level of the planned test.
    allocation : float
        Share of individuals (clusters) in the treatment arm, P.
    r2 : float
        Share of outcome variance explained by baseline covariates, at both levels.
    icc : float
        Intra-cluster correlation; ignored (design effect 1) for an individual trial.
    cluster_size : float
        Average cluster size m.  An individual trial has 1.
    n_clusters : float, optional
        Number of clusters J.  The trial is a cluster trial when this is given or when
        ``cluster_size`` > 1; the missing one of J and m is derived from n = J m.
    n_covariates : int
        Covariates (cluster-level ones for a cluster trial) that cost degrees of freedom.
    distribution : {"t", "normal"}
        Reference distribution of the multipliers; see :data:`DISTRIBUTIONS`.
    alternative : {"two-sided", "one-sided"}
        See :data:`ALTERNATIVES`.
    """

    n: float
    alpha: float = 0.05
    allocation: float = 0.5
    r2: float = 0.0
    icc: float = 0.0
    cluster_size: float = 1
    n_clusters: float | None = None
    n_covariates: int = 0
    distribution: str = "t"
    alternative: str = "two-sided"


def _design(inputs: PowerInputs) -> dict:
    """Check the inputs and resolve the design: SE, df, design effect, critical value."""
    # the fields in their declared order (all scalars, so astuple copies nothing deep)
    (
        n,
        alpha,
        allocation,
        r2,
        icc,
        cluster_size,
        n_clusters,
        n_covariates,
        distribution,
        alternative,
    ) = astuple(inputs)
    check_choice("distribution", distribution, DISTRIBUTIONS)
    check_choice("alternative", alternative, ALTERNATIVES)
    check_open_unit("alpha", alpha)
    check_open_unit("allocation", allocation)
    check_open_unit("r2", r2, closed_low=True)
    check_open_unit("icc", icc, closed_low=True)
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or not math.isfinite(n) or n <= 0:
        raise ValueError(f"The 'n' must be a positive number of individuals. Got {n!r} instead.")
    if (
        isinstance(n_covariates, bool)
        or not isinstance(n_covariates, numbers.Integral)
        or n_covariates < 0
    ):
        raise ValueError(
            f"The 'n_covariates' must be a non-negative integer. Got {n_covariates!r} instead."
        )
    if not isinstance(cluster_size, numbers.Real) or not cluster_size >= 1:
        raise ValueError(f"The 'cluster_size' must be at least 1. Got {cluster_size!r} instead.")

    if n_clusters is None and cluster_size == 1:
        design, clusters, size = "individual", None, 1.0
        df = n - 2 - n_covariates
    else:
        design = "cluster"
        if n_clusters is None:
            clusters, size = n / cluster_size, float(cluster_size)
        else:
            if not isinstance(n_clusters, numbers.Real) or not n_clusters > 0:
                raise ValueError(f"The 'n_clusters' must be positive. Got {n_clusters!r} instead.")
            clusters, size = float(n_clusters), n / n_clusters
            if cluster_size != 1 and not math.isclose(cluster_size, size, rel_tol=1e-9):
                raise ValueError(
                    f"The 'cluster_size' must equal n / n_clusters = {n} / {n_clusters} = {size:g} "
                    f"when both are given. Got {cluster_size!r} instead."
                )
            if size < 1:
                raise ValueError(
                    f"The 'n_clusters' cannot exceed the {n} individuals. Got {n_clusters!r} instead."
                )
        df = clusters - 2 - n_covariates
    if df < 1:
        unit = "individuals" if design == "individual" else "clusters"
        raise ValueError(
            f"The design needs at least 3 + n_covariates {unit} for a positive df "
            f"({unit} - 2 - n_covariates). Got df = {df:g} instead."
        )
    design_effect = 1 + (size - 1) * icc
    standard_error = math.sqrt((1 - r2) * design_effect / (allocation * (1 - allocation) * n))
    level = 1 - alpha / 2 if alternative == "two-sided" else 1 - alpha
    reference = _Reference(df if distribution == "t" else None)
    return {
        "design": design,
        "n": float(n),
        "n_clusters": None if clusters is None else float(clusters),
        "cluster_size": size,
        "allocation": float(allocation),
        "r2": float(r2),
        "icc": float(icc),
        "design_effect": float(design_effect),
        "n_covariates": int(n_covariates),
        "df": float(df) if distribution == "t" else None,
        "standard_error": standard_error,
        "distribution": distribution,
        "alternative": alternative,
        "alpha": float(alpha),
        "_reference": reference,
        "_critical": float(reference.ppf(level)),
    }


def mdes(*, power: float = 0.8, **inputs: float | str | None) -> PowerCalculation:
    """Minimum detectable effect size, in SD units, of an individual or cluster trial.

    Parameters
    ----------
    power : float
        Target power.
    **inputs
        The fields of :class:`PowerInputs` (``n`` required): n, alpha, allocation, r2,
        icc, cluster_size, n_clusters, n_covariates, distribution, alternative.

    Returns
    -------
    PowerCalculation
        With ``solved_for="mdes"``.

    Notes
    -----
    .. math:: \\mathrm{MDES} = M_{\\nu}\\,\\sqrt{\\frac{(1 - R^2)\\{1 + (m - 1)\\rho\\}}{P(1 - P)\\,n}},
              \\qquad M_{\\nu} = t_{1-\\alpha/2,\\nu} + t_{\\pi,\\nu}

    with :math:`\\pi` the power (one-sided tests use :math:`t_{1-\\alpha,\\nu}`), and
    :math:`\\nu = n - 2 - q` for individual trials, :math:`\\nu = J - 2 - q` for cluster
    trials with :math:`q` covariates.  With :math:`n = Jm` the cluster form is Bloom's
    (2006) two-level formula with the same :math:`R^2` at both levels:
    :math:`\\rho(1-R^2)/(P(1-P)J) + (1-\\rho)(1-R^2)/(P(1-P)Jm)`.  With normal
    quantiles, two-sided, alpha = .05 and power = .8, :math:`M = 2.80`.

    References
    ----------
    Bloom, H. S. (1995). Minimum detectable effects: a simple way to report the
    statistical power of experimental designs. *Evaluation Review*, 19, 547-556.
    Bloom, H. S. (2006). The core analytics of randomized experiments for social
    research. MDRC Working Papers on Research Methodology.
    """
    check_open_unit("power", power)
    design = _design(PowerInputs(**inputs))
    reference, critical = design.pop("_reference"), design.pop("_critical")
    multiplier = critical + float(reference.ppf(power))
    return PowerCalculation(
        solved_for="mdes",
        effect_size=multiplier * design["standard_error"],
        power=float(power),
        multiplier=multiplier,
        **design,
    )


def power_for_effect(effect_size: float, **inputs: float | str | None) -> PowerCalculation:
    """Power to detect a standardised effect: the inverse of :func:`mdes`.

    Parameters
    ----------
    effect_size : float
        True effect in SD units; its sign does not matter.
    **inputs
        The fields of :class:`PowerInputs`, as in :func:`mdes`.

    Returns
    -------
    PowerCalculation
        With ``solved_for="power"``.

    Notes
    -----
    .. math:: \\pi = F_{\\nu}\\bigl(|\\delta| / SE - c\\bigr)

    with :math:`SE` and :math:`\\nu` as in :func:`mdes`, :math:`c` the critical value
    and :math:`F_\\nu` the t (or normal) CDF.  Like Bloom's multiplier it counts
    rejections in the direction of the effect only and uses a central t, so
    ``power_for_effect(mdes(...).effect_size)`` returns the power asked for exactly.
    A noncentral-t calculation differs in the third decimal for small df.
    """
    if (
        isinstance(effect_size, bool)
        or not isinstance(effect_size, numbers.Real)
        or not math.isfinite(effect_size)
    ):
        raise ValueError(f"The 'effect_size' must be a finite number. Got {effect_size!r} instead.")
    design = _design(PowerInputs(**inputs))
    reference, critical = design.pop("_reference"), design.pop("_critical")
    power = float(reference.cdf(abs(effect_size) / design["standard_error"] - critical))
    multiplier = critical + float(reference.ppf(power)) if 0 < power < 1 else math.nan
    return PowerCalculation(
        solved_for="power",
        effect_size=float(effect_size),
        power=power,
        multiplier=multiplier,
        **design,
    )


def design_allocation(design: TrialDesign, *, n_units: int | None) -> tuple[float, str]:
    """The share P allocated to the first active arm against control, as the design allocates.

    Parameters
    ----------
    design : TrialDesign
    n_units : int, optional
        Units randomised (clusters in a cluster trial, else participants).  Read only
        when an arm declares exact counts (``n_units``) and leaves another arm the rest;
        ``None`` then means the design's listed clusters.  When every arm declares a
        count, their sum is the number randomised.

    Returns
    -------
    allocation, source : float, str
        ``P`` and where it came from: ``"design coffee: coffee 6 : control 7 (n_units of
        13 clusters)"``.  Arms with exact counts have ``ratio`` 1 unused, so reading
        ``ratio`` gave P = 0.5 for a 7:6 design.

    Raises
    ------
    ValueError
        If the declared counts do not fit ``n_units`` units, or it is needed and unknown.
    """
    word = "clusters" if design.unit == "cluster" else "participants"
    if all(a.n_units is not None for a in design.arms):
        n_units = sum(a.n_units for a in design.arms)  # every count declared: they are N
    elif design.fixed_counts and n_units is None:
        if design.unit == "cluster" and design.clusters:
            n_units = len(design.clusters)
        else:
            raise ValueError(
                f"Design '{design.id}' declares exact arm counts (n_units) and an arm that takes "
                f"the rest, so the allocation depends on how many {word} are randomised. Give "
                "that number or the allocation. Got neither instead."
            )
    counts = design.allocation_ratios(n_units) if design.fixed_counts else design.ratios
    arms = list(design.arms)
    treated = next(i for i, a in enumerate(arms) if not a.control)
    control = next(i for i, a in enumerate(arms) if a.control)
    allocation = counts[treated] / (counts[treated] + counts[control])
    source = (
        f"design {design.id}: {arms[treated].name} {counts[treated]} : "
        f"{arms[control].name} {counts[control]}"
    )
    if design.fixed_counts:
        source += f" (n_units of {n_units} {word})"
    if len(arms) > 2:
        source += " (first active arm vs control)"
    return allocation, source


def solve_for(*, power: float | None, effect_size: float | None) -> str:
    """``"mdes"`` for a target power (or neither), ``"power"`` for a given effect size.

    Raises
    ------
    ValueError
        If both are given: one of them is the answer.
    """
    if power is not None and effect_size is not None:
        raise ValueError(
            "Give --power to solve for the MDES or --effect-size to solve for power, not both. "
            f"Got --power {power:g} and --effect-size {effect_size:g} instead."
        )
    return "mdes" if effect_size is None else "power"


def resolve_inputs(
    options: Mapping[str, object], *, given: Collection[str], trial: TrialDesign | None
) -> tuple[PowerInputs, dict[str, str]]:
    """The inputs of the ``power`` command's calculation, each with where it came from.

    Parameters
    ----------
    options : mapping
        The command's values by :class:`PowerInputs` field name, plus ``power`` and
        ``effect_size``; ``None`` where an option without a fixed default was not given
        (``n_clusters``, ``cluster_size``, ``icc``, ``allocation``, ``power``,
        ``effect_size``).
    given : collection of str
        The names typed on the command line (the others hold their defaults).
    trial : TrialDesign, optional
        A design: its unit, listed clusters and arm allocation fill what was not given.

    Returns
    -------
    inputs, source : PowerInputs, dict
        ``source`` says, for each row of the command's table, whether the value is an
        option, a default, the design's, or derived (``"n / m"``).

    Raises
    ------
    ValueError
        If the design's allocation cannot be worked out, a cluster design lists no
        clusters and none were given, or a cluster trial has no ICC.
    """
    n = options["n"]
    n_clusters, cluster_size = options["n_clusters"], options["cluster_size"]
    icc, allocation = options["icc"], options["allocation"]
    source = {
        name: "option" if name in given else "default"
        for name in ("n", "r2", "n_covariates", "alpha", "distribution", "alternative")
    }
    if allocation is not None:
        source["allocation"] = "option"
    elif trial is not None:
        # the design's actual allocation: arms with exact counts (n_units) leave 'ratio' at 1
        allocation, source["allocation"] = design_allocation(
            trial, n_units=n_clusters if trial.unit == "cluster" else n
        )
    else:
        allocation, source["allocation"] = 0.5, "default"
    if n_clusters is not None or cluster_size is not None:
        source["n_clusters"] = "option" if n_clusters is not None else "n / m"
        source["cluster_size"] = "option" if cluster_size is not None else "n / J"
    elif trial is not None and trial.unit == "cluster":
        if not trial.clusters:
            raise ValueError(
                f"Design '{trial.id}' is a cluster trial that lists no clusters: give --clusters "
                "or --cluster-size. Got neither instead."
            )
        n_clusters = len(trial.clusters)
        source["n_clusters"] = f"design {trial.id}: {n_clusters} {trial.cluster_by}s listed"
        source["cluster_size"] = "n / J"
    is_cluster = n_clusters is not None or (cluster_size is not None and cluster_size != 1)
    if icc is None:
        if is_cluster:
            raise ValueError(
                "A cluster trial's power depends on the intra-cluster correlation: give --icc "
                "(e.g. the primary outcome's ICC from an earlier trial). Got none instead."
            )
        icc = 0.0
    source["icc"] = "option" if is_cluster else "not used: individual randomisation"
    source["unit"] = (
        f"design {trial.id}"
        if trial is not None and trial.unit == ("cluster" if is_cluster else "individual")
        else ("--clusters / --cluster-size" if is_cluster else "default")
    )
    resolved = {
        **{f.name: options[f.name] for f in fields(PowerInputs)},
        "allocation": allocation,
        "icc": icc,
        "cluster_size": 1 if cluster_size is None else cluster_size,
        "n_clusters": n_clusters,
    }
    if options["effect_size"] is None:
        source["power"] = "option" if options["power"] is not None else "default"
    else:
        source["effect_size"] = "option"
    return PowerInputs(**resolved), source


def calculate(
    inputs: PowerInputs, *, power: float | None, effect_size: float | None
) -> PowerCalculation:
    """:func:`mdes` at ``power`` (default 0.8), or :func:`power_for_effect` of ``effect_size``."""
    arguments = asdict(inputs)
    if effect_size is None:
        return mdes(power=0.8 if power is None else power, **arguments)
    return power_for_effect(effect_size, **arguments)
