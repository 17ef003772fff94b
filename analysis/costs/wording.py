"""The words results.json carries about costs, written in one place.

results.json stores, beside the numbers, a sentence on each cost-effectiveness result
(``cost_effectiveness[].sentence``), a note on its ICER interval (``icer_ci_note``) and how
each unit cost was varied in the sensitivity table (``sensitivity[].item``).  Those strings
are part of the results file, which the reports and ``trialflow costs`` print as they are, so
they are built where the results are built; analysis itself returns numbers and coded
outcomes (:data:`analysis.costs.COST_EFFECT_VERDICTS`) and this module turns those into the
stored words.  Nothing else should rebuild them.

Money here is always in pounds and pence (``£1,234.50``), unlike the reports' figures,
which drop the pence from £1,000 up: the stored sentences keep the form they were first
written in.
"""

from __future__ import annotations

import math

__all__ = [
    "cost_effect_sentence",
    "icer_interval_note",
    "pounds_and_pence",
    "relative_variation",
    "unit_cost_range",
]


def pounds_and_pence(value: float) -> str:
    """The size of an amount in pounds and pence, without its sign: ``£1,234.50``."""
    return f"£{abs(value):,.2f}"


def _size(value: float) -> str:
    """The size of an effect: three significant figures below 1, else two decimals."""
    return f"{abs(value):,.3g}" if abs(value) < 1 else f"{abs(value):,.2f}"


def cost_effect_sentence(
    incremental_cost: float,
    incremental_effect: float,
    *,
    verdict: str,
    outcome_label: str,
    effect_unit: str,
    higher_is_better: bool,
    subject: str = "The intervention",
) -> str:
    """The cost-effectiveness point estimates in one sentence.

    Parameters
    ----------
    incremental_cost, incremental_effect : float
        Per participant, intervention minus control; the effect as a gain (see
        :func:`analysis.costs.bootstrap_cost_effect`).
    verdict : str
        :func:`analysis.costs.cost_effect_verdict` of the two.
    outcome_label, effect_unit : str
        e.g. ``"SWEMWBS"`` and ``"point"`` (pluralised with an s).
    higher_is_better : bool
        Whether the outcome is "improved" / "worsened" or "reduced" / "increased".
    subject : str
        What is priced: "The intervention" with one active arm; with several, the arm's
        label ("Course plus manager reminders"), so each arm's sentence says which it is.

    Returns
    -------
    str
        e.g. "The intervention costs £24.99 more per participant and improves SWEMWBS by
        1.20 points: £20.83 per point gained."
    """
    delta_c, delta_e = incremental_cost, incremental_effect
    better, worse = ("improves", "worsens") if higher_is_better else ("reduces", "increases")
    gained, lost = ("gained", "lost") if higher_is_better else ("avoided", "added")
    units = effect_unit if _size(delta_e) in ("1", "1.00") else f"{effect_unit}s"
    cost_words = (
        "costs the same per participant"
        if delta_c == 0
        else f"costs {pounds_and_pence(delta_c)} {'more' if delta_c > 0 else 'less'} per participant"
    )
    if verdict == "no difference":
        return f"{subject} {cost_words} and does not change {outcome_label}."
    effect_words = f"{better if delta_e > 0 else worse} {outcome_label} by {_size(delta_e)} {units}"
    ratio = pounds_and_pence(delta_c / delta_e)
    if verdict == "dominant":
        return f"{subject} is dominant: it {cost_words} and {effect_words}."
    if verdict == "dominated":
        return f"{subject} is dominated: it {cost_words} and {effect_words}."
    if delta_e > 0:
        return f"{subject} {cost_words} and {effect_words}: {ratio} per {effect_unit} {gained}."
    return f"{subject} {cost_words} and {effect_words}: {ratio} saved per {effect_unit} {lost}."


def icer_interval_note(
    *,
    ci_level: float,
    effect_ci: tuple[float, float],
    icer_ci: tuple[float, float],
) -> str:
    """How the ICER's interval was found, or why it is undefined (its effect CI includes 0)."""
    if effect_ci[0] > 0 or effect_ci[1] < 0:
        return (
            f"Percentile {100 * ci_level:g}% interval of the bootstrap ICERs, ordered by angle on the plane"
            + (
                "; a bound is unbounded because replicates reach zero effect."
                if math.isinf(icer_ci[0]) or math.isinf(icer_ci[1])
                else "."
            )
        )
    return (
        f"Undefined: the {100 * ci_level:g}% CI of the effect ({effect_ci[0]:.3g} to {effect_ci[1]:.3g}) "
        "includes zero, so the ICER's replicates pass through infinity. See the plane and the CEAC."
    )


def unit_cost_range(low: float, high: float) -> str:
    """A unit cost moved between declared bounds: ``£25.00 to £40.00``."""
    return f"£{low:,.2f} to £{high:,.2f}"


def relative_variation(vary: float) -> str:
    """A unit cost moved by a fraction of itself either way: ``±25%``."""
    return f"±{100 * vary:g}%"
