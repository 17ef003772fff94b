"""What further research would be worth: the EVPI of results.json's costs, in words (issue 15.6).

The analysis writes, at each willingness to pay the design declares, the expected value of
perfect information per person and for the population the decision covers
(``costs.value_of_information``).  EVPI is an upper bound on what any further study could be
worth, so the words say no more than that: research costing more than the population EVPI
is not worth its cost; research costing less *may* be worth up to the EVPI, never that it is.
When the bootstrap behind the EVPI resampled fewer than ``FEW_CLUSTERS_PER_ARM`` clusters in
an arm, its draws understate the uncertainty: the EVPI cannot be assessed reliably, so the
words say that first and give no verdict on further research.
Pure: a mapping in, text out.
"""

from __future__ import annotations

from collections.abc import Mapping

from reports.evidence import FEW_CLUSTERS_PER_ARM
from reports.format import cluster_noun, format_money, format_percent, outcome_noun
from reports.lookup import arm_label, outcome_named

__all__ = ["evpi_view", "research_line"]


def _declared(results: Mapping) -> Mapping | None:
    return ((results.get("costs") or {}).get("value_of_information")) or None


def _money(value: float) -> str:
    """A threshold in whole pounds when it is one (£150), else with pence."""
    return format_money(value, decimals=0) if float(value).is_integer() else format_money(value)


def _fewest_clusters(results: Mapping, voi: Mapping) -> int | None:
    """The fewest clusters the EVPI's bootstrap resampled in an arm, when too few; else None.

    With several active arms the EVPI prices every arm's draws, so every arm's row counts.
    """
    costs = results.get("costs") or {}
    counts = [
        n
        for block in (costs, *(costs.get("other_arms") or []))
        for r in block.get("cost_effectiveness") or []
        if r.get("outcome") == voi.get("outcome")
        for n in (r.get("n_clusters_per_arm") or {}).values()
    ]
    if not counts or min(counts) >= FEW_CLUSTERS_PER_ARM:
        return None
    return int(min(counts))


def _few_clusters(results: Mapping, voi: Mapping) -> str | None:
    """A caveat, to be read first, when the bootstrap resampled too few clusters per arm.

    Resampling 2 or 3 whole clusters gives few distinct replicates, so the draws understate
    the uncertainty (a 100% chance of cost-effectiveness, an EVPI near 0): the EVPI computed
    from them is too low, not too high, and cannot say research is not worth its cost.
    """
    fewest = _fewest_clusters(results, voi)
    if fewest is None:
        return None
    return (
        f"The value of further research cannot be assessed reliably: the bootstrap resampled "
        f"only {fewest} {cluster_noun(results)} in an arm (fewer than {FEW_CLUSTERS_PER_ARM}), "
        "so its draws understate the uncertainty and the EVPI computed from them may be too low."
    )


def _per_unit(results: Mapping, voi: Mapping) -> str:
    """ "per GHQ-12 point avoided per participant": what the thresholds pay for."""
    outcome = outcome_named(results, voi.get("outcome"))
    direction = "gained" if outcome.get("higher_is_better", True) else "avoided"
    noun = outcome_noun(outcome) if outcome else voi.get("outcome")
    return f"per {voi.get('effect_unit') or 'point'} of {noun} {direction} per participant"


def _choice(results: Mapping, voi: Mapping) -> str:
    """ " of the choice among control, A and B": several active arms are decided among at once."""
    options = voi.get("options") or []
    if len(options) < 3:
        return ""
    names = [arm_label(results, o) for o in options]
    return f" of the choice among {', '.join(names[:-1])} and {names[-1]}"


def _population_words(voi: Mapping) -> str:
    years = voi["years"]
    rate = voi.get("discount_rate") or 0
    return (
        f"the {voi['population']:,} staff in scope over {years} year{'s' if years != 1 else ''}"
        + (
            f" (each year, the first included, discounted at {format_percent(100 * rate, 1)})"
            if rate
            else ""
        )
    )


def _verdict(row: Mapping, research_cost: float | None, *, reliable: bool) -> str:
    if not reliable:
        return "cannot be assessed reliably (too few clusters)"
    if research_cost is None:
        return f"may be worth up to {format_money(row['evpi_population'])}"
    if row.get("research_may_be_worthwhile"):
        return f"may be worth up to {format_money(row['evpi_population'])}"
    return "not worth its cost"


def evpi_view(results: Mapping) -> dict | None:
    """The trial report's value-of-information rows and sentences; None when not declared."""
    voi = _declared(results)
    if not voi or not voi.get("by_threshold"):
        return None
    research_cost = voi.get("research_cost")
    caveat = _few_clusters(results, voi)
    rows = [
        {
            "wtp": _money(row["wtp"]),
            # several active arms: the best option by name, and its chance of being the best
            "decision": arm_label(results, row["best_option"])
            if row.get("best_option")
            else "Intervention"
            if row["decision"] == "intervention"
            else "Control",
            "probability": format_percent(
                100 * row["prob_best_by_option"][row["best_option"]]
                if row.get("best_option")
                else 100 * row["prob_cost_effective"]
            ),
            "per_person": format_money(row["evpi_per_person"]),
            "population": format_money(row["evpi_population"]),
            "verdict": _verdict(row, research_cost, reliable=caveat is None),
        }
        for row in voi["by_threshold"]
    ]
    best = max(voi["by_threshold"], key=lambda r: r["evpi_population"] or 0)
    intro = (
        f"Value of further research: at each amount a commissioner might pay "
        f"{_per_unit(results, voi)}, the expected value of perfect information (EVPI) is what "
        f"removing all uncertainty about the cost-effectiveness{_choice(results, voi)} would be "
        "worth, per person and "
        f"for {_population_words(voi)}. "
        + (
            "With reliable draws it would be an upper bound on what any study could be worth; "
            "from these draws it is not."
            if caveat
            else "It is an upper bound: no study can be worth more."
        )
    )
    if caveat:
        conclusion = (
            f"From these draws the population EVPI is at most "
            f"{format_money(best['evpi_population'])}"
            + (
                f", against the {format_money(research_cost)} a further study would cost"
                if research_cost is not None
                else ""
            )
            + ", but with so few clusters that figure cannot show whether more research is "
            "worth its cost."
        )
    elif research_cost is None:
        conclusion = (
            f"Further research may be worth up to {format_money(best['evpi_population'])} (at "
            f"{_money(best['wtp'])}); the design names no research cost to compare it with."
        )
    elif any(r.get("research_may_be_worthwhile") for r in voi["by_threshold"]):
        worth = [r for r in voi["by_threshold"] if r.get("research_may_be_worthwhile")]
        conclusion = (
            f"At {', '.join(_money(r['wtp']) for r in worth)}, the population EVPI is more "
            f"than the {format_money(research_cost)} a further study would cost, so it may be "
            f"worth up to {format_money(max(r['evpi_population'] for r in worth))}; at other "
            "thresholds it is not worth its cost."
            if len(worth) < len(voi["by_threshold"])
            else f"At every threshold the population EVPI is more than the "
            f"{format_money(research_cost)} a further study would cost, so it may be worth "
            f"up to {format_money(best['evpi_population'])}."
        )
    else:
        conclusion = (
            f"At every threshold declared the population EVPI (at most "
            f"{format_money(best['evpi_population'])}) is less than the "
            f"{format_money(research_cost)} a further study would cost: more research is not "
            "worth its cost at these thresholds."
        )
    return {
        "rows": rows,
        # the caveat comes first: it governs how every figure after it is read
        "sentences": [*([caveat] if caveat else []), intro, conclusion],
        "unreliable": (
            f"Unreliable: the bootstrap resampled only {_fewest_clusters(results, voi)} "
            f"{cluster_noun(results)} in an arm, so the chances and EVPIs below understate "
            "the uncertainty."
            if caveat
            else None
        ),
        "research_cost": format_money(research_cost) if research_cost is not None else None,
        "per_unit": _per_unit(results, voi),
        "draws": voi.get("n_boot"),
        # several active arms: the options the EVPI chooses among (None with one)
        "options": [arm_label(results, o) for o in voi["options"]]
        if len(voi.get("options") or []) > 2
        else None,
    }


def research_line(results: Mapping) -> str:
    """The portfolio's one line: is more research on this trial's question worth its cost?"""
    voi = _declared(results)
    if not voi or not voi.get("by_threshold"):
        return (
            "Not assessed: the design declares no willingness to pay and population, so no "
            "value of information was computed."
        )
    rows = voi["by_threshold"]
    research_cost = voi.get("research_cost")
    best = max(rows, key=lambda r: r["evpi_population"] or 0)
    thresholds = f"{_money(rows[0]['wtp'])} to {_money(rows[-1]['wtp'])}"
    if len(rows) == 1:
        thresholds = _money(rows[0]["wtp"])
    caveat = _few_clusters(results, voi)
    if caveat:
        # too few clusters: the draws understate the uncertainty, so no verdict either way
        return (
            f"{caveat} From these draws, at {thresholds} {_per_unit(results, voi)}, the EVPI "
            f"for {_population_words(voi)} is at most {format_money(best['evpi_population'])}"
            + (
                f", against the {format_money(research_cost)} a further study would cost."
                if research_cost is not None
                else "; no research cost declared."
            )
        )
    if research_cost is None:
        return (
            f"May be worth up to {format_money(best['evpi_population'])} (the EVPI at "
            f"{_money(best['wtp'])} {_per_unit(results, voi)}); no research cost declared."
        )
    worth = [r for r in rows if r.get("research_may_be_worthwhile")]
    if not worth:
        return (
            f"Not worth its cost: at {thresholds} {_per_unit(results, voi)}, the EVPI for "
            f"{_population_words(voi)} is at most {format_money(best['evpi_population'])}, "
            f"less than the {format_money(research_cost)} a further study would cost."
        )
    top = max(worth, key=lambda r: r["evpi_population"])
    # the thresholds where even the upper bound falls short: there research is not worth its
    # cost, which the line must say, or "may be worth" reads as holding at every threshold
    short = [r for r in rows if not r.get("research_may_be_worthwhile")]
    not_worth = (
        f" At {_join([_money(r['wtp']) for r in short])} the EVPI is at most "
        f"{format_money(max(r['evpi_population'] or 0 for r in short))}, less than that cost, "
        "so there further research is not worth its cost."
        if short
        else ""
    )
    return (
        f"May be worth up to {format_money(top['evpi_population'])} (the EVPI at "
        f"{_money(top['wtp'])} {_per_unit(results, voi)}), more than the "
        f"{format_money(research_cost)} a further study would cost; EVPI is an upper bound, so "
        "this says only that it may be worth doing." + not_worth
    )


def _join(items: list[str]) -> str:
    """'£50', '£50 and £150', '£50, £150 and £300'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
