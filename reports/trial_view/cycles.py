"""The trial report's learning cycles (issue 15.2): the primary effect cycle over cycle.

Shown for results that carry ``cycles`` (a design that declares them): one row per
cycle and one pooled with cycle fixed effects, a sentence with the arm x cycle test,
and the design amendments recorded between cycles.  A cycle's count of fewer than
:data:`reports.disclosure.THRESHOLD` people is hidden, as every small count is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from reports.disclosure import SUPPRESSED_MARK, THRESHOLD
from reports.format import format_ci, format_count, format_effect, format_number, format_p_is
from reports.lookup import active_arms, arm_label, control_arm, outcome_named

__all__ = ["cycles_view"]


def _date(iso: str | None) -> str:
    """2019-10-01 as "1 October 2019"."""
    if not iso:
        return ""
    day = dt.date.fromisoformat(iso[:10])
    return f"{day.day} {day:%B %Y}"


def _row(effect: Mapping, outcome: Mapping) -> dict:
    n = effect.get("n")
    return {
        "cycle": "Pooled, with cycle fixed effects"
        if effect["number"] == 0
        else f"Cycle {effect['number']}: {effect['cycle']}",
        "randomised": _date(effect.get("randomised_on")),
        "n": SUPPRESSED_MARK if n is not None and n < THRESHOLD else format_count(n),
        "estimate": format_effect(effect["estimate"], outcome),
        "ci": format_ci(effect["ci_low"], effect["ci_high"], outcome),
        "p": format_p_is(effect.get("p_value")),
        "pooled": effect["number"] == 0,
    }


def _sentence(results: Mapping, cycles: Mapping, outcome: Mapping) -> str:
    """Cycle over cycle in words, ending on the heterogeneity test."""
    arm = arm_label(results, cycles["arm"])
    control = arm_label(results, control_arm(results))
    label = (outcome.get("label") or cycles["outcome"]).split(" (")[0].lower()
    parts = [
        f"{format_effect(e['estimate'], outcome)} (95% CI {format_ci(e['ci_low'], e['ci_high'], outcome)}) "
        f"in cycle {e['number']} ({e['cycle']})"
        for e in cycles["by_cycle"]
    ]
    listed = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else parts[0]
    text = f"The difference in {label} ({arm} minus {control}) was {listed}."
    pooled, test = cycles.get("pooled"), cycles.get("heterogeneity")
    if pooled:
        text += (
            f" Pooled across cycles with cycle fixed effects it was "
            f"{format_effect(pooled['estimate'], outcome)} (95% CI "
            f"{format_ci(pooled['ci_low'], pooled['ci_high'], outcome)})."
        )
    if test and test.get("p_value") is not None:
        p = test["p_value"]
        verdict = (
            "the effect differs between cycles"
            if p < 0.05
            else "no evidence that the effect differs between cycles"
        )
        text += (
            f" The test of whether it differs between cycles (arm \u00d7 cycle interaction, "
            f"Wald F({test['df_num']}, {format_number(test['df_denom'], 0)}) = "
            f"{format_number(test['statistic'], 2)}, {cycles['se_type']} standard errors) gives "
            f"{format_p_is(p)}: {verdict}."
        )
    elif len(cycles["by_cycle"]) < 2:
        text += " Only one cycle has outcomes so far, so the cycles cannot be compared yet."
    others = [a for a in active_arms(results) if a != cycles["arm"]]
    if others:  # the analysis compares the first active arm only, cycle by cycle
        text += (
            f" Only {arm} is compared with {control} cycle by cycle; "
            + " and ".join(arm_label(results, a) for a in others)
            + (" is" if len(others) == 1 else " are")
            + " not, here: see the outcomes table for every arm, all cycles pooled."
        )
    return text


def _amendments(cycles: Mapping) -> list[str]:
    return [
        f"After cycle {a['after_cycle']}, recorded {_date(a['recorded_at'])}: {a['reason']}"
        + (f" ({'; '.join(a['changes'])})" if a["changes"] else "")
        for a in cycles.get("amendments", [])
    ]


#: What the block says when the analysis read a data file, not the store's records.
_NOT_LOOKED_UP = (
    "Design amendments between cycles were not looked up: this analysis read a data file "
    "(analyse --data), not the trial's store, so whether the design changed between cycles "
    "is not shown here."
)

#: Which estimates pool the cycles with cycle fixed effects, and which do not.
POOLING_NOTE = (
    "Each cycle randomised a new cohort (people not randomised before) under the same design. "
    "The regression models of the outcomes (ITT, CACE, randomisation inference, the "
    "missing-data imputations, subgroups and follow-up waves) pool the cycles with cycle fixed "
    "effects. The attrition bounds do not: they are unadjusted differences over the cycles "
    "pooled, and the arm means and counts add the cycles up as they are. The cycle rows are "
    "each cohort's own estimate."
)


def cycles_view(results: Mapping) -> dict | None:
    """The learning cycles block of the outcomes section; None without cycles.

    Returns
    -------
    dict or None
        ``rows`` (cycle, randomised, n, estimate, ci, p, pooled), ``sentence``,
        ``amendments`` (one line each), ``pooling_note`` (which estimates have cycle
        fixed effects) and ``no_amendments`` (the sentence when
        none was recorded between cycles).
    """
    cycles = results.get("cycles")
    if not cycles or not cycles.get("by_cycle"):
        return None
    outcome = outcome_named(results, cycles["outcome"]) or {}
    rows = [_row(e, outcome) for e in cycles["by_cycle"]]
    if cycles.get("pooled"):
        rows.append(_row(cycles["pooled"], outcome))
    amendments = _amendments(cycles)
    return {
        "outcome": outcome.get("label") or cycles["outcome"],
        "rows": rows,
        "sentence": _sentence(results, cycles, outcome),
        "amendments": amendments,
        "pooling_note": POOLING_NOTE,
        "no_amendments": None
        if amendments
        else _NOT_LOOKED_UP
        if cycles.get("amendments_looked_up") is False
        else "No design amendment was recorded between cycles: every cycle ran under the "
        "same design.",
    }
