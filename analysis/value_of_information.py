"""Value of information for commissioners: what would more evidence be worth?

A commissioner deciding now picks the option with the highest expected net benefit. If the
uncertainty could be removed, they would pick the best option in every possible world. The
expected value of perfect information (EVPI) is the difference,

    EVPI = E[max_j NB_j] - max_j E[NB_j],

with ``NB_j = wtp x effect_j - cost_j`` the net (monetary) benefit of option ``j`` at a
willingness to pay ``wtp`` per unit of effect, and expectations over the joint uncertainty,
here the cost-effectiveness bootstrap's draws (``BootstrapResult.replicate_costs`` and
``replicate_effects`` in ``analysis/costs``). Per person it is at least 0, and 0 when one
option is best in every draw. Scaled by the population the decision affects (staff in
scope x years, discounted) it is the most any further study could be worth: research
costing more than the population EVPI is not worth doing; research costing less may be.

References
----------
Claxton, K. (1999). The irrelevance of inference: a decision-making approach to the
stochastic evaluation of health care technologies. *Journal of Health Economics*, 18(3),
341-364.

Briggs, A., Claxton, K., & Sculpher, M. (2006). *Decision Modelling for Health Economic
Evaluation*, ch. 6-7. Oxford University Press.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd

from common.validation import check_count, check_open_unit, check_positive_finite

__all__ = [
    "annuity_factor",
    "evpi_by_option",
    "evpi_from_net_benefit",
    "evpi_incremental",
    "evpi_table",
    "evpi_table_by_option",
]


def _finite_array(name: str, values: object, ndim: int) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != ndim:
        raise ValueError(
            f"The '{name}' must be a {ndim}-dimensional array. Got shape {array.shape} instead."
        )
    if array.size == 0:
        raise ValueError(f"The '{name}' must hold at least one draw. Got none.")
    if not np.isfinite(array).all():
        bad = array[~np.isfinite(array)].flat[0]
        raise ValueError(f"The '{name}' must be finite in every draw. Got {bad!r}.")
    return array


def _thresholds(wtp: object) -> np.ndarray:
    if isinstance(wtp, numbers.Real) and not isinstance(wtp, bool):
        wtp = [wtp]
    values = _finite_array("wtp", wtp, 1)
    if (values < 0).any():
        raise ValueError(
            f"The 'wtp' thresholds must be at least 0. Got {float(values[values < 0][0])!r}."
        )
    return values


def evpi_from_net_benefit(net_benefit: np.ndarray) -> float:
    """EVPI per person from net-benefit draws of several options.

    Parameters
    ----------
    net_benefit : array of shape (n_draws, n_options)
        Each draw's net benefit of each option (any common origin: adding the same amount
        to every option of a draw leaves EVPI unchanged).

    Returns
    -------
    float
        ``mean(max over options) - max(mean over draws)``, computed as the expected
        opportunity loss of the option with the highest mean, ``mean(max_j NB_j - NB_best)``:
        the same number, but a mean of non-negative terms, so it is never below 0 and is
        exactly 0 when that option is best in every draw (the difference of two separately
        rounded means can leave 1e-15 either side).

    References
    ----------
    Briggs, Claxton & Sculpher (2006), ch. 6.
    """
    nb = _finite_array("net_benefit", net_benefit, 2)
    if nb.shape[1] < 2:
        raise ValueError(
            "The 'net_benefit' must have a column for each of at least 2 options. "
            f"Got {nb.shape[1]} column(s)."
        )
    best = int(np.argmax(nb.mean(axis=0)))
    return float((nb.max(axis=1) - nb[:, best]).mean())


def evpi_incremental(
    incremental_cost: Sequence[float] | np.ndarray,
    incremental_effect: Sequence[float] | np.ndarray,
    *,
    wtp: float | Sequence[float] | np.ndarray,
) -> np.ndarray:
    """EVPI per person for an intervention against control, from incremental draws.

    With control's net benefit as the origin, the intervention's is
    ``INB = wtp x incremental_effect - incremental_cost`` and
    ``EVPI = mean(max(INB, 0)) - max(mean(INB), 0)``.

    Parameters
    ----------
    incremental_cost, incremental_effect : array-like of float
        One value per bootstrap draw (intervention minus control; effects as gains).
    wtp : float or array-like of float, keyword-only
        Willingness to pay per unit of effect (at least 0).

    Returns
    -------
    ndarray
        EVPI per person at each threshold, in the cost's currency.
    """
    cost = _finite_array("incremental_cost", incremental_cost, 1)
    effect = _finite_array("incremental_effect", incremental_effect, 1)
    if cost.shape != effect.shape:
        raise ValueError(
            "The 'incremental_cost' and 'incremental_effect' must have one value per draw "
            f"each. Got {cost.size} and {effect.size} draws."
        )
    thresholds = _thresholds(wtp)
    return np.array(
        [
            evpi_from_net_benefit(np.column_stack([np.zeros_like(cost), k * effect - cost]))
            for k in thresholds
        ]
    )


def evpi_by_option(
    costs: np.ndarray,
    effects: np.ndarray,
    *,
    wtp: float | Sequence[float] | np.ndarray,
) -> np.ndarray:
    """EVPI per person for several options (e.g. every arm of a multi-arm trial).

    Parameters
    ----------
    costs, effects : array of shape (n_draws, n_options)
        Each draw's mean cost and effect of each option (or each option's difference from a
        common comparator, control's column then 0).
    wtp : float or array-like of float, keyword-only
        Willingness to pay per unit of effect.

    Returns
    -------
    ndarray
        EVPI per person at each threshold.
    """
    c = _finite_array("costs", costs, 2)
    e = _finite_array("effects", effects, 2)
    if c.shape != e.shape:
        raise ValueError(
            f"The 'costs' and 'effects' must have the same shape. Got {c.shape} and {e.shape}."
        )
    return np.array([evpi_from_net_benefit(k * e - c) for k in _thresholds(wtp)])


def annuity_factor(*, years: int, discount_rate: float = 0.0) -> float:
    """The discounted number of years a decision's population is counted for.

    ``sum over t = 1..years of 1 / (1 + discount_rate)^t``: each year's population is
    discounted from the end of that year, as in the population EVPI of Briggs, Claxton &
    Sculpher (2006, ch. 6), ``EVPI x sum_t I_t / (1 + r)^t``. It is ``years`` when
    ``discount_rate`` is 0. (Counting the first year undiscounted instead multiplies this
    by ``1 + discount_rate``.)

    Parameters
    ----------
    years : int, keyword-only
        Years the decision holds (at least 1).
    discount_rate : float, keyword-only
        Annual rate in [0, 1).
    """
    check_count("years", years, 1)
    check_open_unit("discount_rate", discount_rate, closed_low=True)
    if discount_rate == 0:
        return float(years)
    return float((1 - (1 + discount_rate) ** -years) / discount_rate)


def _population_scale(
    population: float | None, years: int, discount_rate: float, research_cost: float | None
) -> float:
    """What EVPI per person is multiplied by (NaN without a population); checks the research cost."""
    if population is not None:
        check_positive_finite("population", population)
        scale = population * annuity_factor(years=years, discount_rate=discount_rate)
    else:
        scale = math.nan
    if research_cost is not None:
        ok = isinstance(research_cost, numbers.Real) and not isinstance(research_cost, bool)
        if not (ok and math.isfinite(research_cost) and research_cost >= 0):
            raise ValueError(
                f"The 'research_cost' must be a finite number of at least 0. "
                f"Got {research_cost!r} instead."
            )
    return scale


def evpi_table(
    incremental_cost: Sequence[float] | np.ndarray,
    incremental_effect: Sequence[float] | np.ndarray,
    *,
    wtp: float | Sequence[float] | np.ndarray,
    population: float | None = None,
    years: int = 1,
    discount_rate: float = 0.0,
    research_cost: float | None = None,
) -> pd.DataFrame:
    """Per-threshold EVPI for results.json: per person and for the commissioner's population.

    Parameters
    ----------
    incremental_cost, incremental_effect : array-like of float
        The cost-effectiveness bootstrap's draws (intervention minus control).
    wtp : float or array-like of float, keyword-only
        The design's willingness-to-pay thresholds.
    population : float or None, keyword-only
        Staff in scope of the decision each year; ``None`` gives per-person figures only.
    years : int, keyword-only
        Years the decision holds.
    discount_rate : float, keyword-only
        Annual discount rate in [0, 1) for every year, the first included
        (see :func:`annuity_factor`).
    research_cost : float or None, keyword-only
        The cost of the further study being considered, to compare with population EVPI.

    Returns
    -------
    DataFrame
        One row per threshold: ``wtp, expected_inb, decision`` (``"intervention"`` when the
        expected incremental net benefit is above 0, else ``"control"``),
        ``prob_cost_effective``, ``evpi_per_person``, ``evpi_population`` (NaN without a
        population) and ``research_may_be_worthwhile`` (population EVPI above the research
        cost; ``None`` when either is not given). EVPI is an upper bound on the value of a
        study, so ``False`` means further research is not worth its cost; ``True`` only
        that it may be.
    """
    evpi = evpi_incremental(incremental_cost, incremental_effect, wtp=wtp)
    thresholds = _thresholds(wtp)
    cost = np.asarray(incremental_cost, dtype=float)
    effect = np.asarray(incremental_effect, dtype=float)
    scale = _population_scale(population, years, discount_rate, research_cost)
    rows = []
    for k, value in zip(thresholds, evpi, strict=True):
        inb = k * effect - cost
        expected = float(inb.mean())
        population_evpi = float(value * scale)
        worthwhile = None
        if research_cost is not None and population is not None:
            worthwhile = bool(population_evpi > research_cost)
        rows.append(
            {
                "wtp": float(k),
                "expected_inb": expected,
                "decision": "intervention" if expected > 0 else "control",
                "prob_cost_effective": float((inb > 0).mean()),
                "evpi_per_person": float(value),
                "evpi_population": population_evpi,
                "research_may_be_worthwhile": worthwhile,
            }
        )
    return pd.DataFrame(rows)


def evpi_table_by_option(
    incremental_costs: np.ndarray,
    incremental_effects: np.ndarray,
    *,
    options: Sequence[str],
    wtp: float | Sequence[float] | np.ndarray,
    population: float | None = None,
    years: int = 1,
    discount_rate: float = 0.0,
    research_cost: float | None = None,
) -> pd.DataFrame:
    """Per-threshold EVPI over every option at once: control and each active arm (multi-arm).

    With one active arm this is :func:`evpi_table` on its draws, row for row.  With
    several, the commissioner chooses among all the options together: per draw
    ``NB_k = wtp x effect_k - cost_k`` for each active arm ``k``, control's 0, and
    ``EVPI = mean over draws of max(0, NB_1, ..., NB_K) - max(0, mean NB_1, ..., mean NB_K)``.

    Parameters
    ----------
    incremental_costs, incremental_effects : array of shape (n_draws, K)
        Each draw's incremental cost and effect (a gain) of each active arm against
        control, all from the same resample (one joint bootstrap).
    options : sequence of str, keyword-only
        The K + 1 options' names: control first, then the active arms in column order.
    wtp, population, years, discount_rate, research_cost
        As :func:`evpi_table`.

    Returns
    -------
    DataFrame
        :func:`evpi_table`'s columns, where with several arms ``expected_inb`` and
        ``prob_cost_effective`` are those of the active arm with the highest expected net
        benefit, and ``decision`` is ``"intervention"`` when that is above 0; and, with
        several arms only, ``best_option`` (the name of the option with the highest expected
        net benefit, control on a tie), ``expected_inb_by_option`` (each active arm's mean
        INB) and ``prob_best_by_option`` (the share of draws in which each option's net
        benefit is the highest, the first listed on a tie).
    """
    cost = _finite_array("incremental_costs", incremental_costs, 2)
    effect = _finite_array("incremental_effects", incremental_effects, 2)
    if cost.shape != effect.shape:
        raise ValueError(
            "The 'incremental_costs' and 'incremental_effects' must have the same shape "
            f"(draws x active arms). Got {cost.shape} and {effect.shape}."
        )
    names = [str(name) for name in options]
    if len(names) != cost.shape[1] + 1 or len(set(names)) != len(names):
        raise ValueError(
            f"The 'options' must name control and each of the {cost.shape[1]} active arms once "
            f"({cost.shape[1] + 1} distinct names). Got {names!r}."
        )
    keywords = {
        "wtp": wtp,
        "population": population,
        "years": years,
        "discount_rate": discount_rate,
        "research_cost": research_cost,
    }
    if cost.shape[1] == 1:
        return evpi_table(cost[:, 0], effect[:, 0], **keywords)
    scale = _population_scale(population, years, discount_rate, research_cost)
    thresholds = _thresholds(wtp)
    evpi = evpi_by_option(
        np.column_stack([np.zeros(len(cost)), cost]),
        np.column_stack([np.zeros(len(effect)), effect]),
        wtp=thresholds,
    )
    rows = []
    for k, value in zip(thresholds, evpi, strict=True):
        inb = k * effect - cost
        means = inb.mean(axis=0)
        arm = int(np.argmax(means))
        nb = np.column_stack([np.zeros(len(inb)), inb])
        winners = np.bincount(np.argmax(nb, axis=1), minlength=nb.shape[1]) / len(nb)
        population_evpi = float(value * scale)
        worthwhile = None
        if research_cost is not None and population is not None:
            worthwhile = bool(population_evpi > research_cost)
        rows.append(
            {
                "wtp": float(k),
                "expected_inb": float(means[arm]),
                "decision": "intervention" if means[arm] > 0 else "control",
                "prob_cost_effective": float((inb[:, arm] > 0).mean()),
                "evpi_per_person": float(value),
                "evpi_population": population_evpi,
                "research_may_be_worthwhile": worthwhile,
                "best_option": names[arm + 1] if means[arm] > 0 else names[0],
                "expected_inb_by_option": dict(zip(names[1:], map(float, means), strict=True)),
                "prob_best_by_option": dict(zip(names, map(float, winners), strict=True)),
            }
        )
    return pd.DataFrame(rows)
