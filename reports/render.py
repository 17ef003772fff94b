"""Render results.json documents as self-contained HTML reports (pure: dicts in, HTML out).

:func:`render_trial` gives one trial's report for commissioners and
evaluators, in the order the issue sets out (headline, key numbers, CONSORT,
dates and baseline, uptake, outcomes, CACE, missing data, costs, methods).
:func:`render_portfolio` puts every trial side by side and answers "which of
these should we fund?" as far as the numbers allow.

Nothing here reads the store or any file but the packaged templates.  Every
count of people passes through :func:`reports.disclosure.suppress_counts`
before it is printed; charts receive the suppressed values.  The HTML has
inline CSS and SVG only: no scripts, fonts or images to fetch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import jinja2

from reports import charts
from reports.consort import consort_counts, consort_flow, consort_relations
from reports.disclosure import (
    DISCLOSURE_FOOTNOTE,
    SUPPRESSED_MARK,
    Relation,
    Suppression,
    coarsen_cumulative,
    suppress_counts,
)
from reports.format import humanise
from reports.headline import (
    FEW_CLUSTERS_PER_ARM,
    caveat_reasons,
    cluster_noun,
    effect_verdict,
    evidence_caveats,
    evidence_verdict,
    format_ci,
    format_count,
    format_effect,
    format_mean,
    format_money,
    format_number,
    format_p,
    format_percent,
    headline_sentences,
    is_proportion,
    itt_estimate,
    outcome_noun,
    placeholder_scoring_note,
    primary_outcome,
)
from reports.normalise import normalise_results
from reports.sap import sap_view
from reports.templating import html_environment

__all__ = [
    "EEF_BANDS",
    "SECTIONS",
    "PORTFOLIO_SECTIONS",
    "portfolio_answer",
    "render_portfolio",
    "render_trial",
    "trial_view",
]

#: The trial report's sections, in order: (id, heading).
SECTIONS = (
    ("headline", "Headline"),
    ("key-numbers", "Key numbers"),
    ("consort", "Participant flow (CONSORT)"),
    ("dates-baseline", "Dates and baseline"),
    ("uptake", "Delivery and uptake"),
    ("outcomes", "Outcomes"),
    ("cace", "Effect on those who took it up (CACE)"),
    ("missing-data", "Missing data"),
    ("costs", "Costs"),
    ("methods", "Methods appendix"),
)
PORTFOLIO_SECTIONS = (
    ("answer", "Which of these should we fund?"),
    ("comparison", "The trials side by side"),
    ("ce-comparison", "Cost and effect compared"),
    ("trial-notes", "Uptake and strength of evidence"),
)
#: EEF cost bands: per participant per year, upper bounds (inclusive) in pounds.
EEF_BANDS = (
    ("very low", "under £80"),
    ("low", "£80 to £200"),
    ("moderate", "£200 to £720"),
    ("high", "£720 to £1,200"),
    ("very high", "over £1,200"),
)
_SHARED_INSTRUMENTS = ("swemwbs", "wemwbs")
_RULE_REASONS = {
    "date_in_window": "response dated outside the follow-up window",
    "duplicate_response": "a second response from the same person at the same time point",
    "known_participant": "participant ID not in the trial",
    "item_in_range": "an item score outside the instrument's range",
    "known_cluster": "cluster not in the trial",
    "valid_event_type": "event type not declared in the design",
}
_METHOD_LABELS = {
    "complete_case": "Complete cases (primary analysis)",
    "ipw": "Inverse-probability weighting",
    "multiple_imputation": "Multiple imputation",
}
_METHOD_KEYS = {
    "itt": "ITT (primary analysis)",
    "cace": "CACE",
    "icc": "ICC",
    "standard_errors": "Standard errors",
    "randomisation_inference": "Randomisation inference",
}
_VERDICT_WORDS = {
    "benefit": "Clear benefit",
    "harm": "Clear harm",
    # a clear CI undercut by a caveat (reports.headline.evidence_caveats): never "Clear"
    "possible benefit": "Possible benefit (weak evidence)",
    "possible harm": "Possible harm (weak evidence)",
    "unclear": "No clear effect",
    "not estimated": "Not estimated",
}
_TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def _environment() -> jinja2.Environment:
    env = html_environment(
        _TEMPLATES,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


# --------------------------------------------------------------------------- helpers


def _flagged(outcome: Mapping, text: str) -> str:
    """``text`` (an outcome's label) with the placeholder-scoring flag when the outcome has one."""
    note = placeholder_scoring_note(outcome)
    return f"{text} [{note}]" if note else text


def _outcome_named(results: Mapping, name: str | None) -> Mapping:
    return next((o for o in results.get("outcomes", []) if o.get("name") == name), {})


def _arm_labels(results: Mapping) -> dict[str, str]:
    return {
        a["name"]: a.get("label") or a["name"] for a in results.get("trial", {}).get("arms", [])
    }


def _arms(results: Mapping) -> list[str]:
    return [a["name"] for a in results.get("trial", {}).get("arms", [])]


def _control(results: Mapping) -> str:
    return results.get("trial", {}).get("control_arm", "")


def _active(results: Mapping) -> list[str]:
    return [a for a in _arms(results) if a != _control(results)]


def _pct(numerator: int | None, denominator: int | None, decimals: int = 0) -> str:
    if numerator is None or not denominator:
        return SUPPRESSED_MARK if numerator is None else "\u2014"
    return format_percent(100 * numerator / denominator, decimals)


def _p_is(value: float | None) -> str:
    """ "p = 0.013", or "p < 0.001" (never "p = <0.001")."""
    text = format_p(value)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def _small_decimals(numerator: int | None, denominator: int | None) -> int:
    """One decimal for percentages under 10% (1.7% completed), none above."""
    if numerator is None or not denominator:
        return 0
    return 1 if 0 < 100 * numerator / denominator < 10 else 0


def _smd(value: float | None) -> str:
    return format_number(value, 2, signed=True) if value is not None else "\u2014"


def _shared_outcome(results: Mapping) -> Mapping | None:
    return next(
        (
            o
            for o in results.get("outcomes", [])
            if str(o.get("instrument", "")).lower() in _SHARED_INSTRUMENTS
        ),
        None,
    )


def _standardised(outcome: Mapping, estimate: Mapping) -> tuple[float, float, float] | None:
    """Hedges' g and CI, or the effect over the pooled SD, oriented so positive is better."""
    sign = 1.0 if outcome.get("higher_is_better", True) else -1.0
    if estimate.get("hedges_g") is not None and estimate.get("hedges_g_ci_low") is not None:
        values = (estimate["hedges_g"], estimate["hedges_g_ci_low"], estimate["hedges_g_ci_high"])
    else:
        arms = [a for a in outcome.get("arms", []) if a.get("sd") and a.get("n", 0) > 1]
        if len(arms) < 2:
            return None
        pooled = math.sqrt(
            sum((a["n"] - 1) * a["sd"] ** 2 for a in arms) / sum(a["n"] - 1 for a in arms)
        )
        if pooled == 0:
            return None
        values = tuple(estimate[k] / pooled for k in ("estimate", "ci_low", "ci_high"))
    value, low, high = (sign * v for v in values)
    return value, min(low, high), max(low, high)


# --------------------------------------------------------------------------- disclosure


def _equal(relations: list, counts: Mapping, a: Hashable, b: Hashable) -> None:
    """Tie two cells that hold the same number, so hiding one and showing the other cannot happen."""
    if counts.get(a) is not None and counts.get(a) == counts.get(b):
        relations.append(Relation(a, (b,)))


def _disclosure(results: Mapping, flow) -> Suppression:
    """Every count of people the trial report prints or implies, and the sums that link them."""
    counts: dict[Hashable, int | None] = dict(consort_counts(flow))
    relations: list[Relation] = list(consort_relations(flow))
    hidden: set[Hashable] = set()

    def implied(key: Hashable, value: int | None) -> None:
        counts[key] = value
        hidden.add(key)

    individuals = flow.level("individuals")
    allocated = {a.arm: a.allocated for a in individuals.arms}

    uptake = results.get("uptake") or {}
    for row in uptake.get("funnel") or []:
        arm = row["arm"]
        stages = ["allocated", "offered", "started", "completed"]
        for stage in stages:
            counts[("funnel", arm, stage)] = row.get(stage)
        for upper, lower in zip(stages, stages[1:], strict=False):
            if row.get(upper) is not None and row.get(lower) is not None:
                gap = ("funnel", arm, f"{upper}-not-{lower}")
                implied(gap, row[upper] - row[lower])
                relations.append(Relation(("funnel", arm, upper), (("funnel", arm, lower), gap)))
        _equal(relations, counts, ("funnel", arm, "allocated"), ("consort", arm, "allocated"))
        _equal(relations, counts, ("funnel", arm, "started"), ("consort", arm, "received"))
    if uptake.get("contamination") is not None:
        counts[("contamination",)] = uptake["contamination"]

    for outcome in results.get("outcomes", []):
        name = outcome["name"]
        for summary in outcome.get("arms", []):
            arm = summary["arm"]
            key = ("outcome", name, arm, "n")
            counts[key] = summary.get("n")
            if arm in allocated and summary.get("n") is not None:
                missing = ("outcome", name, arm, "missing")
                implied(missing, allocated[arm] - summary["n"])
                relations.append(Relation(("consort", arm, "allocated"), (key, missing)))
            if outcome.get("binary") and summary.get("mean") is not None and summary.get("n"):
                events = round(summary["mean"] * summary["n"])
                counts[("events", name, arm)] = events
                implied(("non-events", name, arm), summary["n"] - events)
                relations.append(Relation(key, (("events", name, arm), ("non-events", name, arm))))
        for index, estimate in enumerate(outcome.get("estimates", [])):
            total = ("estimate", name, index, "n")
            counts[total] = estimate.get("n")
            parts = []
            for arm, n in (estimate.get("n_per_arm") or {}).items():
                counts[("estimate", name, index, arm)] = n
                parts.append(("estimate", name, index, arm))
                if outcome.get("primary"):
                    _equal(
                        relations,
                        counts,
                        ("estimate", name, index, arm),
                        ("consort", arm, "analysed"),
                    )
                _equal(
                    relations, counts, ("estimate", name, index, arm), ("outcome", name, arm, "n")
                )
            if parts and sum(counts[p] or 0 for p in parts) == estimate.get("n"):
                relations.append(Relation(total, tuple(parts)))
        for sub in outcome.get("subgroups") or []:
            counts[("subgroup", name, sub["variable"], sub["level"])] = sub.get("n")
        for sens in outcome.get("sensitivity") or []:
            counts[("sensitivity", name, sens["method"])] = sens.get("n")

    balance = (results.get("balance") or {}).get("table") or []
    by_variable: dict[tuple[str, str], list[Hashable]] = {}
    for row in balance:
        for arm, cell in (row.get("arms") or {}).items():
            key = ("balance", row["variable"], row.get("level"), arm)
            counts[key] = cell.get("n")
            if row.get("level") is not None:
                by_variable.setdefault((row["variable"], arm), []).append(key)
            elif arm in allocated and cell.get("n") is not None:
                missing = ("balance", row["variable"], None, arm, "missing")
                implied(missing, allocated[arm] - cell["n"])
                relations.append(Relation(("consort", arm, "allocated"), (key, missing)))
    observed_by_variable = {
        (row["variable"], arm): cell.get("n_observed")
        for row in balance
        if row.get("level") is not None
        for arm, cell in (row.get("arms") or {}).items()
    }
    for (variable, arm), keys in by_variable.items():
        total = sum(counts[k] or 0 for k in keys)
        observed = observed_by_variable.get((variable, arm))
        if observed is None and arm in allocated and total == allocated[arm]:
            relations.append(Relation(("consort", arm, "allocated"), tuple(keys)))
            continue
        whole = ("balance", variable, "observed", arm)
        implied(whole, observed if observed is not None else total)
        parts = tuple(keys)
        if observed is not None and observed != total:
            # levels not listed (the other value of a yes/no item) are implied
            rest = ("balance", variable, "rest", arm)
            implied(rest, observed - total)
            parts += (rest,)
        relations.append(Relation(whole, parts))
        if observed is not None and arm in allocated:
            missing = ("balance", variable, "missing", arm)
            implied(missing, allocated[arm] - observed)
            relations.append(Relation(("consort", arm, "allocated"), (whole, missing)))

    validation = results.get("data_validation") or {}
    rule_keys = []
    for index, rule in enumerate(validation.get("by_rule") or []):
        counts[("validation", index)] = rule.get("rows")
        rule_keys.append(("validation", index))
    counts[("validation", "total")] = validation.get("rows_quarantined")
    if rule_keys and sum(counts[k] or 0 for k in rule_keys) == validation.get("rows_quarantined"):
        relations.append(Relation(("validation", "total"), tuple(rule_keys)))

    for row in (results.get("attrition") or {}).get("by_arm") or []:
        arm = row.get("arm")
        for field, consort_field in (
            ("allocated", "allocated"),
            ("followed_up", "followed_up"),
            ("lost", "lost"),
        ):
            counts[("attrition", arm, field)] = row.get(field)
            _equal(relations, counts, ("attrition", arm, field), ("consort", arm, consort_field))
        if all(row.get(f) is not None for f in ("allocated", "followed_up", "lost")):
            relations.append(
                Relation(
                    ("attrition", arm, "allocated"),
                    (("attrition", arm, "followed_up"), ("attrition", arm, "lost")),
                )
            )
    return suppress_counts(counts, relations, hidden=hidden)


# --------------------------------------------------------------------------- sections


def _few_allocations_note(results: Mapping, clusters) -> str:
    """With few unstratified clusters, say how small the randomisation p-value can ever be."""
    if not clusters or results.get("trial", {}).get("strata"):
        return ""
    sizes = [arm.allocated for arm in clusters.arms]
    possible = math.factorial(sum(sizes))
    for size in sizes:
        possible //= math.factorial(size)
    if possible > 1000:
        return ""
    return (
        f" With {sum(sizes)} {cluster_noun(results, sum(sizes))} there are only {possible} "
        f"possible allocations, so randomisation inference cannot give a p-value below "
        f"{format_p(1 / possible)}."
    )


def _key_numbers(results: Mapping, flow, sup: Suppression) -> dict:
    primary = primary_outcome(results)
    items = []
    notes = []
    for arm in _active(results) or [None]:
        estimate = itt_estimate(primary, arm) if primary else None
        prefix = (
            f" ({_arm_labels(results).get(arm, arm)})" if arm and len(_active(results)) > 1 else ""
        )
        if estimate is None:
            items.append(
                {
                    "field": "primary-estimate",
                    "label": f"Effect on {primary['label'] if primary else 'the primary outcome'}{prefix}",
                    "value": "Not estimated",
                    "detail": "There were no follow-up data to compare in this arm.",
                }
            )
            continue
        verdict = evidence_verdict(results, primary, estimate)
        caveats = evidence_caveats(results, outcome=primary, arm=estimate["arm"])
        items.append(
            {
                "field": "primary-estimate",
                "label": _flagged(primary, f"Effect on {primary['label']}{prefix}"),
                "value": format_effect(estimate["estimate"], primary),
                "detail": f"95% CI {format_ci(estimate['ci_low'], estimate['ci_high'], primary)}; "
                f"{_p_is(estimate['p_value'])}. {_VERDICT_WORDS[verdict]}"
                + (
                    f": {caveat_reasons(results, caveats)}."
                    if caveats and verdict != "unclear"
                    else "."
                ),
                "verdict": verdict,
                "ci": format_ci(estimate["ci_low"], estimate["ci_high"], primary),
            }
        )
        if estimate.get("hedges_g") is not None:
            items.append(
                {
                    "field": "hedges-g",
                    "label": f"Hedges' g{prefix}",
                    "value": format_number(estimate["hedges_g"], 2, signed=True),
                    "detail": "95% CI "
                    + format_ci(
                        estimate.get("hedges_g_ci_low"), estimate.get("hedges_g_ci_high"), {}
                    )
                    + " (standardised; 0.2 is conventionally small)",
                }
            )
    funnel = (results.get("uptake") or {}).get("funnel") or []
    for row in funnel:
        if row["arm"] == _control(results):
            continue
        started = sup.value(("funnel", row["arm"], "started"))
        completed = sup.value(("funnel", row["arm"], "completed"))
        allocated_n = sup.value(("funnel", row["arm"], "allocated"))
        items.append(
            {
                "field": "uptake",
                "label": f"Uptake ({_arm_labels(results).get(row['arm'], row['arm'])})",
                "value": f"{_pct(started, allocated_n, _small_decimals(started, allocated_n))} started",
                "detail": f"{_pct(completed, allocated_n, _small_decimals(completed, allocated_n))} completed; "
                f"{sup.display(('funnel', row['arm'], 'started'))} of "
                f"{sup.display(('funnel', row['arm'], 'allocated'))} allocated.",
            }
        )
    costs = results.get("costs") or {}
    per = costs.get("per_participant") or {}
    if per.get("randomised") is not None:
        band = costs.get("eef_band")
        items.append(
            {
                "field": "cost-per-participant",
                "label": "Cost per participant",
                "value": format_money(per["randomised"]),
                "detail": (
                    f"EEF cost band: {band} ({dict(EEF_BANDS).get(band, '')} per participant per year)."
                    if band
                    else "No EEF band given."
                ),
                "band": band,
            }
        )
    # evidence strength
    individuals = flow.level("individuals")
    randomised = individuals.randomised
    lost = sum(a.lost for a in individuals.arms)
    clusters = flow.level("clusters")
    strength = [
        f"{sup.display(('consort', 'randomised'))} staff randomised"
        + (
            f" in {clusters.randomised} {cluster_noun(results, clusters.randomised)}"
            if clusters
            else " individually"
        )
        + "."
    ]
    lost_shown = all(sup.is_shown(("consort", a.arm, "lost")) for a in individuals.arms)
    if lost_shown and randomised:
        per_arm = ", ".join(
            f"{a.label} {_pct(a.lost, a.allocated)}" for a in individuals.arms if a.allocated
        )
        strength.append(
            f"Attrition: {format_percent(100 * lost / randomised)} had no follow-up measure ({per_arm})."
        )
    else:
        strength.append(f"Attrition: {SUPPRESSED_MARK} (small counts).")
    if primary:
        estimate = itt_estimate(primary)
        if estimate and estimate.get("ri_p_value") is not None:
            model_sig = estimate["p_value"] < 0.05
            ri_sig = estimate["ri_p_value"] < 0.05
            if model_sig == ri_sig:
                agree = (
                    "agrees with the model: both p-values are "
                    + ("below" if model_sig else "at or above")
                    + " 0.05"
                )
            else:
                agree = "disagrees with the model at the 5% level, so treat the result with caution"
            strength.append(
                f"Randomisation inference ({format_count(estimate.get('ri_draws'))} re-randomisations) "
                f"{agree} (model {_p_is(estimate['p_value'])}, "
                f"randomisation {_p_is(estimate['ri_p_value'])})."
                + _few_allocations_note(results, clusters)
            )
        elif estimate:
            strength.append("Randomisation inference was not run.")
        if clusters and clusters.randomised < 20:
            strength.append(
                f"Only {clusters.randomised} {cluster_noun(results, clusters.randomised)} were "
                "randomised, so the standard errors use the small-sample CR2 correction and the "
                "effect is uncertain."
            )
    notes.extend(strength)
    return {"items": items, "strength": strength}


def _consort_view(results: Mapping, flow, sup: Suppression) -> dict:
    levels = []
    for level in flow.levels:
        people = level.level == "individuals"
        noun = (
            "staff"
            if people
            else cluster_noun(results, 2).capitalize()
            if results.get("trial", {}).get("cluster_by")
            else "Clusters"
        )

        def show(arm: str, box: str, value, people=people) -> str:
            if not people:
                return format_count(value)
            return sup.display(("consort", arm, box))

        arms = []
        for arm in level.arms:
            boxes = [
                ("Allocated", show(arm.arm, "allocated", arm.allocated)),
            ]
            if arm.received is not None:
                boxes.append(("Received the intervention", show(arm.arm, "received", arm.received)))
            if arm.not_received is not None:
                boxes.append(
                    ("Did not receive it", show(arm.arm, "not_received", arm.not_received))
                )
            follow = [("Lost to follow-up (no endline measure)", show(arm.arm, "lost", arm.lost))]
            analysis = []
            if arm.excluded is not None:
                analysis.append(
                    (
                        "Excluded from analysis (missing baseline or covariate)",
                        show(arm.arm, "excluded", arm.excluded),
                    )
                )
            analysis.append(("Analysed (primary outcome)", show(arm.arm, "analysed", arm.analysed)))
            arms.append(
                {
                    "arm": arm.arm,
                    "label": arm.label,
                    "allocation": boxes,
                    "follow_up": follow,
                    "analysis": analysis,
                }
            )
        if people:
            assessed = (
                sup.display(("consort", "assessed"))
                if level.assessed is not None
                else "not recorded (the roster held only eligible staff)"
            )
            excluded = sup.display(("consort", "excluded")) if level.excluded is not None else None
            randomised = sup.display(("consort", "randomised"))
        else:
            assessed, excluded, randomised = None, None, format_count(level.randomised)
        levels.append(
            {
                "name": level.level,
                "heading": f"{'Individuals' if people else 'Clusters'} ({noun})",
                "assessed": assessed,
                "excluded": excluded,
                "randomised": randomised,
                "arms": arms,
            }
        )
    summary = "; ".join(
        f"{a['label']}: "
        + ", ".join(
            f"{name.lower()} {value}"
            for name, value in a["allocation"] + a["follow_up"] + a["analysis"]
        )
        for level in levels
        if level["name"] == "individuals"
        for a in level["arms"]
    )
    return {"levels": levels, "problems": list(flow.problems), "summary": summary}


def _dates_view(results: Mapping) -> list[dict]:
    order = [
        ("recruitment_start", "Recruitment started"),
        ("baseline", "Baseline survey"),
        ("randomisation", "Randomisation"),
        ("window_start", "Follow-up window opens"),
        ("endline", "Endline survey"),
        ("window_end", "Follow-up window closes"),
    ]
    dates = results.get("dates") or {}
    rows = [{"label": label, "date": dates[key]} for key, label in order if dates.get(key)]
    rows += [
        {"label": humanise(key), "date": value}
        for key, value in dates.items()
        if value and key not in dict(order)
    ]
    return sorted(rows, key=lambda r: r["date"])


def _balance_view(results: Mapping, sup: Suppression) -> dict | None:
    balance = results.get("balance") or {}
    table = balance.get("table") or []
    if not table:
        return None
    arms = _arms(results)
    labels = _arm_labels(results)
    rows = []
    for row in table:
        cells = []
        for arm in arms:
            cell = (row.get("arms") or {}).get(arm) or {}
            key = ("balance", row["variable"], row.get("level"), arm)
            if row.get("level") is None:
                text = (
                    f"{format_number(cell.get('mean'), 2)} ({format_number(cell.get('sd'), 2)})"
                    if cell.get("mean") is not None
                    else "\u2014"
                )
                cells.append({"text": text, "n": sup.display(key)})
            elif sup.is_shown(key):
                pct = cell.get("pct")
                cells.append(
                    {
                        "text": f"{format_count(cell.get('n'))} ({format_percent(pct, 1)})",
                        "n": None,
                    }
                )
            else:
                cells.append({"text": SUPPRESSED_MARK, "n": None})
        label = row.get("label") or humanise(row["variable"])
        rows.append(
            {
                "variable": label,
                "level": row.get("level"),
                "kind": row.get("kind") or ("categorical" if row.get("level") else "continuous"),
                "cells": cells,
                # a level's proportion can be solved back from the other arm's and the SMD
                "smd": SUPPRESSED_MARK
                if any(c["text"] == SUPPRESSED_MARK for c in cells)
                else _smd(row.get("smd", row.get("std_diff"))),
                "flag": abs(row.get("smd") or 0) > 0.1,
            }
        )
    return {
        "arms": [labels.get(a, a) for a in arms],
        "arm_ns": [sup.display(("consort", a, "allocated")) for a in arms],
        "rows": rows,
        "auc": balance.get("auc"),
        "auc_text": (
            f"A classifier predicting arm from the baseline variables had a cross-validated AUC of "
            f"{format_number(balance['auc'], 2)} (permutation {_p_is(balance.get('auc_p_value'))}); "
            "0.5 means arm cannot be predicted, as randomisation intends."
            if balance.get("auc") is not None
            else None
        ),
    }


def _uptake_view(results: Mapping, sup: Suppression) -> dict | None:
    uptake = results.get("uptake") or {}
    funnel = uptake.get("funnel") or []
    if not funnel:
        return None
    labels = _arm_labels(results)
    rows, chart_rows = [], []
    stages = ("offered", "started", "completed")
    for row in funnel:
        arm = row["arm"]
        allocated = sup.value(("funnel", arm, "allocated"))
        cells = []
        chart_stages = []
        for stage in stages:
            key = ("funnel", arm, stage)
            value = sup.value(key)
            pct = None if value is None or not allocated else 100 * value / allocated
            cells.append(
                {
                    "count": sup.display(key),
                    "pct": format_percent(pct) if pct is not None else SUPPRESSED_MARK,
                }
            )
            chart_stages.append((stage, value, pct))
        rows.append(
            {
                "label": labels.get(arm, arm),
                "allocated": sup.display(("funnel", arm, "allocated")),
                "cells": cells,
                "mean_dose": format_number(row.get("mean_dose"), 2),
            }
        )
        chart_rows.append(
            {"label": labels.get(arm, arm), "allocated": allocated, "stages": chart_stages}
        )
    funnel_chart = charts.funnel_chart(chart_rows, chart_id="funnel")
    series = []
    over_time = uptake.get("over_time") or []
    dropped_weeks = False
    for arm in _arms(results):
        points = sorted((r for r in over_time if r.get("arm") == arm), key=lambda r: r["week"])
        if not points:
            continue
        cumulative = [int(p.get("started") or 0) for p in points]
        if any(b < a for a, b in zip(cumulative, cumulative[1:], strict=False)):
            # weekly counts, not running totals
            running, cumulative = 0, []
            for p in points:
                running += int(p.get("started") or 0)
                cumulative.append(running)
        if not sup.is_shown(("funnel", arm, "started")) and any(cumulative):
            keep = []
        else:
            keep = coarsen_cumulative(cumulative)
        dropped_weeks = dropped_weeks or len(keep) < len(points)
        denominator = next((r["allocated"] for r in funnel if r["arm"] == arm), None)
        series.append(
            {
                "label": labels.get(arm, arm),
                "points": [
                    (points[i]["week"], 100 * cumulative[i] / denominator)
                    for i in keep
                    if denominator
                ],
            }
        )
    time_chart = charts.uptake_chart(series, chart_id="uptake-time") if series else None
    definition = uptake.get("definition") or {}
    contamination = None
    if uptake.get("contamination") is not None:
        contamination = sup.display(("contamination",))
    return {
        "rows": rows,
        "funnel_chart": funnel_chart,
        "time_chart": time_chart,
        "dropped_weeks": dropped_weeks,
        "definition": [
            {"term": humanise(k), "value": str(v)} for k, v in definition.items() if v is not None
        ],
        "contamination": contamination,
        "control_label": labels.get(_control(results), _control(results)),
    }


def _outcomes_view(results: Mapping, sup: Suppression) -> dict:
    arms = _arms(results)
    labels = _arm_labels(results)
    rows, forest = [], []
    iccs = []
    for outcome in results.get("outcomes", []):
        means = []
        for arm in arms:
            summary = next((a for a in outcome.get("arms", []) if a["arm"] == arm), None)
            if summary is None:
                means.append({"mean": "\u2014", "n": "\u2014"})
                continue
            n_key = ("outcome", outcome["name"], arm, "n")
            mean_hidden = outcome.get("binary") and not sup.is_shown(
                ("events", outcome["name"], arm)
            )
            means.append(
                {
                    "mean": SUPPRESSED_MARK
                    if mean_hidden or not sup.is_shown(n_key) and summary.get("n")
                    else format_mean(summary.get("mean"), outcome),
                    "n": sup.display(n_key),
                }
            )
        itts = [
            (i, e) for i, e in enumerate(outcome.get("estimates", [])) if e["estimand"] == "ITT"
        ]
        if not itts:
            rows.append(
                {
                    "name": outcome["name"],
                    "label": outcome["label"],
                    "flag": placeholder_scoring_note(outcome),
                    "primary": outcome.get("primary", False),
                    "prespecified": outcome.get("prespecified", True),
                    "arm": "",
                    "means": means,
                    "estimate": "Not estimated",
                    "ci": "\u2014",
                    "p": "\u2014",
                    "p_holm": "\u2014",
                    "ri_p": "\u2014",
                    "g": "\u2014",
                    "n": "\u2014",
                    "se_type": "\u2014",
                    "direction": "higher is better"
                    if outcome.get("higher_is_better", True)
                    else "lower is better",
                    "verdict": "not estimated",
                    "verdict_words": _VERDICT_WORDS["not estimated"],
                }
            )
            continue
        for index, estimate in itts:
            verdict = evidence_verdict(results, outcome, estimate)
            rows.append(
                {
                    "name": outcome["name"],
                    "label": outcome["label"],
                    "flag": placeholder_scoring_note(outcome),
                    "primary": outcome.get("primary", False),
                    "prespecified": outcome.get("prespecified", True),
                    "arm": labels.get(estimate["arm"], estimate["arm"]),
                    "means": means,
                    "estimate": format_effect(estimate["estimate"], outcome),
                    "ci": format_ci(estimate["ci_low"], estimate["ci_high"], outcome),
                    "p": format_p(estimate["p_value"]),
                    "p_holm": "not adjusted"
                    if outcome.get("primary")
                    else format_p(estimate.get("p_value_holm")),
                    "ri_p": format_p(estimate.get("ri_p_value")),
                    "g": format_number(estimate.get("hedges_g"), 2, signed=True),
                    "n": sup.display(("estimate", outcome["name"], index, "n")),
                    "se_type": estimate.get("se_type", "\u2014"),
                    "direction": "higher is better"
                    if outcome.get("higher_is_better", True)
                    else "lower is better",
                    "verdict": verdict,
                    "verdict_words": _VERDICT_WORDS[verdict],
                }
            )
            standard = _standardised(outcome, estimate)
            if standard:
                label = outcome["label"] + (
                    f" ({labels.get(estimate['arm'], estimate['arm'])})" if len(itts) > 1 else ""
                )
                if placeholder_scoring_note(outcome):
                    label += " [placeholder scoring]"
                forest.append(
                    {
                        "label": label,
                        "value": standard[0],
                        "low": standard[1],
                        "high": standard[2],
                        "primary": outcome.get("primary", False),
                        "text": f"{format_effect(estimate['estimate'], outcome)} "
                        f"(95% CI {format_ci(estimate['ci_low'], estimate['ci_high'], outcome)})",
                    }
                )
        if outcome.get("icc") is not None:
            iccs.append(
                {
                    "label": _flagged(outcome, outcome["label"]),
                    "primary": outcome.get("primary", False),
                    "icc": format_number(outcome["icc"], 3),
                    "ci": format_ci(
                        outcome.get("icc_ci_low"), outcome.get("icc_ci_high"), {}
                    ).replace("0.00 ", "0.000 ")
                    if outcome.get("icc_ci_low") is not None
                    else "\u2014",
                }
            )
    forest_chart = charts.forest_chart(forest, chart_id="forest") if forest else None
    subgroups = []
    primary = primary_outcome(results)
    for sub in (primary or {}).get("subgroups") or []:
        subgroups.append(
            {
                "variable": humanise(sub["variable"]),
                "level": sub["level"],
                "n": sup.display(("subgroup", primary["name"], sub["variable"], sub["level"])),
                "estimate": format_effect(sub["estimate"], primary),
                "ci": format_ci(sub["ci_low"], sub["ci_high"], primary),
                "p": format_p(sub.get("interaction_p_value")),
            }
        )
    return {
        "arms": [labels.get(a, a) for a in arms],
        "rows": rows,
        "forest_chart": forest_chart,
        "iccs": iccs,
        "cluster": results.get("trial", {}).get("unit") == "cluster",
        "subgroups": subgroups,
        "multiple_arms": len(_active(results)) > 1,
    }


def _cace_view(results: Mapping, sup: Suppression) -> dict:
    primary = primary_outcome(results)
    funnel = (results.get("uptake") or {}).get("funnel") or []
    labels = _arm_labels(results)
    blocks = []
    for outcome in results.get("outcomes", []):
        for estimate in outcome.get("estimates", []):
            if estimate["estimand"] != "CACE":
                continue
            row = next((r for r in funnel if r["arm"] == estimate["arm"]), None)
            started = sup.value(("funnel", estimate["arm"], "started")) if row else None
            share = (
                format_percent(100 * started / row["allocated"])
                if row and started is not None and row["allocated"]
                else SUPPRESSED_MARK
            )
            itt = itt_estimate(outcome, estimate["arm"])
            itt_text = format_effect(itt["estimate"], outcome) if itt else "not available"
            weak = estimate.get("weak_instrument")
            f_value = estimate.get("first_stage_f")
            strength = (
                "a weak instrument (F under 10): the CACE may be badly biased and its CI too narrow"
                if weak
                else "a strong instrument (F well above 10)"
                if f_value is not None
                else "instrument strength not reported"
            )
            blocks.append(
                {
                    "outcome": _flagged(outcome, outcome["label"]),
                    "primary": outcome.get("primary", False),
                    "arm": labels.get(estimate["arm"], estimate["arm"]),
                    "estimate": format_effect(estimate["estimate"], outcome),
                    "ci": format_ci(estimate["ci_low"], estimate["ci_high"], outcome),
                    "p": format_p(estimate["p_value"]),
                    "first_stage_f": format_number(f_value, 1),
                    "strength": strength,
                    "itt": itt_text,
                    "share": share,
                    "explanation": (
                        f"The main (ITT) estimate, {itt_text}, "
                        f"compares everyone offered the {labels.get(estimate['arm'], estimate['arm']).lower()} "
                        "with everyone not offered it, whether or not they took it up: it is the effect "
                        "of offering it. Only "
                        f"{share} of those offered it took it up, so the complier average causal effect "
                        "(CACE) asks what it did for the people who take it up when it is offered. It "
                        "uses random assignment as an instrument for uptake, which roughly scales the "
                        "ITT up by the share who took it up, and it assumes that being offered it, "
                        "without taking it up, changes nothing."
                    ),
                }
            )
    if blocks:
        return {"blocks": blocks, "note": None}
    partial = [
        r
        for r in funnel
        if r["arm"] != _control(results)
        and r.get("started") is not None
        and r.get("allocated")
        and r["started"] < r["allocated"]
    ]
    nearly_all = [r for r in partial if r["started"] >= 0.95 * r["allocated"]]
    if partial and len(nearly_all) == len(partial):
        shares = [
            f"{_pct(sup.value(('funnel', r['arm'], 'started')), r['allocated'])} of "
            f"{labels.get(r['arm'], r['arm'])}"
            for r in nearly_all
            if sup.is_shown(("funnel", r["arm"], "started"))
        ]
        note = (
            "Not estimated: nearly everyone allocated to the intervention received it"
            + (f" ({', '.join(shares)})" if shares else "")
            + ", so the effect of offering it (ITT) and the effect of receiving it are close."
        )
    elif partial:
        note = (
            "Uptake was partial, but no CACE was estimated in these results; the ITT above is the "
            "effect of offering the intervention."
        )
    elif funnel:
        note = (
            "Not estimated: everyone allocated to the intervention received it, so the effect of "
            "offering it (ITT) and the effect of receiving it are the same."
        )
    else:
        note = "Not estimated: there are no uptake data in these results."
    if primary is None:
        note = "Not estimated: no primary outcome."
    return {"blocks": [], "note": note}


def _missing_view(results: Mapping, flow, sup: Suppression) -> dict:
    labels = _arm_labels(results)
    attrition = results.get("attrition") or {}
    rows = []
    by_arm = attrition.get("by_arm") or []
    if by_arm:
        for row in by_arm:
            arm = row.get("arm")
            lost = sup.value(("attrition", arm, "lost"))
            allocated = sup.value(("attrition", arm, "allocated"))
            rows.append(
                {
                    "label": labels.get(arm, arm),
                    "allocated": sup.display(("attrition", arm, "allocated")),
                    "followed_up": sup.display(("attrition", arm, "followed_up")),
                    "lost": sup.display(("attrition", arm, "lost")),
                    "pct": _pct(lost, allocated, 1),
                }
            )
    else:
        for arm in flow.level("individuals").arms:
            lost = sup.value(("consort", arm.arm, "lost"))
            rows.append(
                {
                    "label": arm.label,
                    "allocated": sup.display(("consort", arm.arm, "allocated")),
                    "followed_up": sup.display(("consort", arm.arm, "followed_up")),
                    "lost": sup.display(("consort", arm.arm, "lost")),
                    "pct": _pct(lost, arm.allocated, 1),
                }
            )
    test = attrition.get("test") or None
    test_text = None
    if test and test.get("p_value") is not None:
        test_text = (
            f"Test of differential attrition ({test.get('method', 'by arm')}): "
            f"{_p_is(test['p_value'])}"
            + (
                ". Response differed by arm, so complete-case results may be biased."
                if test["p_value"] < 0.05
                else ". No clear difference in response between arms."
            )
        )
    primary = primary_outcome(results)
    sensitivity = []
    agreement = None
    if primary:
        methods = list(primary.get("sensitivity") or [])
        itt = itt_estimate(primary)
        if itt and not any(m["method"] == "complete_case" for m in methods):
            methods.insert(0, {**itt, "method": "complete_case"})
        verdicts = set()
        for index, m in enumerate(methods):
            verdict = effect_verdict(m, higher_is_better=primary.get("higher_is_better", True))
            verdicts.add(verdict)
            sensitivity.append(
                {
                    "method": _METHOD_LABELS.get(m["method"], humanise(m["method"])),
                    "estimate": format_effect(m["estimate"], primary),
                    "ci": format_ci(m["ci_low"], m["ci_high"], primary),
                    "p": format_p(m.get("p_value")),
                    "n": sup.display(("sensitivity", primary["name"], m["method"]))
                    if ("sensitivity", primary["name"], m["method"]) in sup.values
                    else sup.display(("estimate", primary["name"], 0, "n")),
                    "detail": m.get("detail", ""),
                    "primary": index == 0,
                }
            )
        if len(sensitivity) > 1:
            agreement = (
                "The conclusion is the same under every way of handling the missing data."
                if len(verdicts) == 1
                else "The conclusion depends on how the missing data are handled; read the primary "
                "result with that in mind."
            )
    return {
        "rows": rows,
        "test": test_text,
        "sensitivity": sensitivity,
        "agreement": agreement,
        "outcome": _flagged(primary, primary["label"]) if primary else None,
    }


def _ce_scaled(results: Mapping, row: Mapping) -> dict:
    """A cost-effectiveness row with ``unit`` words ("percentage point avoided"), in the report's units.

    results.json from before ``effect_unit`` priced a proportion (turnover) per
    0-1 unit: "0.000694 leavers, -£13,397 each".  Such a row is restated per
    percentage point (effect x 100, ICER and willingness to pay / 100), and its
    analysis sentence, in the old units, is replaced by the report's own.
    """
    row = dict(row)
    outcome = _outcome_named(results, row.get("outcome"))
    direction = "gained" if outcome.get("higher_is_better", True) else "avoided"
    if row.get("effect_unit") is None and outcome and is_proportion(outcome):
        for key in ("incremental_effect", "effect_ci_low", "effect_ci_high"):
            if row.get(key) is not None:
                row[key] = 100 * row[key]
        for key in ("icer", "icer_ci_low", "icer_ci_high"):
            if row.get(key) is not None:
                row[key] = row[key] / 100
        row["plane"] = [{**p, "effect": 100 * p["effect"]} for p in row.get("plane") or []]
        row["ceac"] = [{**c, "wtp": c["wtp"] / 100} for c in row.get("ceac") or []]
        row["sentence"] = None
        row["effect_unit"] = "percentage point"
        row["effect_label"] = (
            f"{outcome_noun(outcome, with_instrument=False)} (percentage points {direction})"
        )
    row["unit"] = f"{row.get('effect_unit') or 'point'} {direction}"
    return row


def _few_bootstrap_clusters(results: Mapping, row: Mapping) -> int | None:
    """The fewest clusters an arm gave the cost bootstrap, when under 5 (else None)."""
    counts = row.get("n_clusters_per_arm")
    if not counts and results.get("trial", {}).get("unit") == "cluster":
        boxes = (results.get("consort") or {}).get("clusters") or {}
        counts = {a: b.get("allocated") or 0 for a, b in boxes.items()}
    if counts and min(counts.values()) < FEW_CLUSTERS_PER_ARM:
        return int(min(counts.values()))
    return None


def _dominance_words(row: Mapping) -> str:
    """Dominance in words, from the signs of the incremental cost and effect."""
    cost, effect = row.get("incremental_cost"), row.get("incremental_effect")
    verdict = row.get("verdict")
    if verdict == "dominant" or (cost is not None and effect is not None and cost <= 0 < effect):
        text = "Dominant: at the point estimate it is both cheaper and more effective."
    elif verdict == "dominated" or (cost is not None and effect is not None and cost > 0 > effect):
        text = "Dominated: at the point estimate it costs more and achieves less."
    elif cost is not None and effect is not None and cost <= 0 and effect <= 0:
        text = "A trade-off: at the point estimate it saves money but achieves less."
    else:
        text = "A trade-off: it costs more and, at the point estimate, achieves more."
    if not row.get("sentence") and row.get("icer") is not None:
        low = row.get("effect_ci_low")
        text += (
            f" The cost per {row.get('unit', 'point gained')} is {format_money(row['icer'])}"
            + (
                "."
                if low is not None and low > 0
                else ", but the effect's interval includes zero, so that figure is not reliable."
            )
        )
    return text


def _costs_view(results: Mapping) -> dict | None:
    costs = results.get("costs") or None
    if not costs:
        return None
    ledger = costs.get("ledger") or []
    grouped: dict[tuple, dict] = {}
    sites: list[str] = []
    for row in ledger:
        key = (row.get("item"), row.get("category"), row.get("kind"))
        entry = grouped.setdefault(
            key, {"quantity": 0.0, "cost": 0.0, "unit_costs": set(), "by_site": {}}
        )
        entry["quantity"] += row.get("quantity") or 0
        entry["cost"] += row.get("cost") or 0
        if row.get("unit_cost") is not None:
            entry["unit_costs"].add(row["unit_cost"])
        site = row.get("site") or "all"
        entry["by_site"][site] = entry["by_site"].get(site, 0.0) + (row.get("cost") or 0)
        if site not in sites:
            sites.append(site)
    ledger_rows = [
        {
            "item": item,
            "category": "Set-up" if category == "setup" else "Running",
            "kind": "Staff time" if kind == "staff_time" else "Direct",
            "quantity": format_number(
                entry["quantity"], 0 if float(entry["quantity"]).is_integer() else 1
            ),
            "unit_cost": format_money(next(iter(entry["unit_costs"])))
            if len(entry["unit_costs"]) == 1
            else "varies by site",
            "cost": format_money(entry["cost"]),
        }
        for (item, category, kind), entry in grouped.items()
    ]
    by_site = None
    if len(sites) > 1:
        by_site = {
            "sites": sites,
            "rows": [
                {
                    "item": item,
                    "cells": [
                        format_money(entry["by_site"][s]) if s in entry["by_site"] else "\u2014"
                        for s in sites
                    ],
                }
                for (item, _, _), entry in grouped.items()
            ],
            "totals": [
                format_money(
                    sum(r.get("cost") or 0 for r in ledger if (r.get("site") or "all") == s)
                )
                for s in sites
            ],
        }
    totals = costs.get("totals") or {}
    total_rows = [
        (label, format_money(totals[key]))
        for key, label in (
            ("total", "Total"),
            ("setup", "Set-up (one-off)"),
            ("running", "Running"),
            ("direct", "Direct costs"),
            ("staff_time", "Staff time"),
            ("total_discounted", "Total, discounted"),
            # sessions open to others: what the trial's participants bear, and what they do not
            (
                "participants_total",
                "Borne by the trial's participants (their share of each session's head count, and their own time)",
            ),
            (
                "others_staff_time",
                "Staff time of attendees outside the trial (a cost to the employer, not per participant)",
            ),
        )
        if totals.get(key) is not None
    ]
    per = costs.get("per_participant") or {}
    per_labels = (
        ("randomised", "Per participant allocated to the intervention"),
        ("took_up", "Per participant who took it up"),
        ("completed", "Per completer"),
        ("per_cluster", "Per cluster"),
        ("per_round", "Per Round (direct running costs, excluding training)"),
        ("per_attendee_per_round", "Per attendee per Round"),
        ("per_round_including_staff_time", "Per Round, with every attendee's staff time"),
        (
            "per_attendee_per_round_including_staff_time",
            "Per attendee per Round, with their staff time",
        ),
    )
    per_rows = [
        {
            "field": key,
            "label": label,
            "value": format_money(per[key]),
            "discounted": format_money(per.get(f"{key}_discounted")),
        }
        for key, label in per_labels
        if per.get(key) is not None
    ]
    per_rows += [
        {
            "field": key,
            "label": humanise(key),
            "value": format_money(value),
            "discounted": format_money(per.get(f"{key}_discounted")),
        }
        for key, value in per.items()
        if key not in dict(per_labels) and not key.endswith("_discounted") and value is not None
    ]
    ce = []
    for index, row in enumerate(costs.get("cost_effectiveness") or []):
        row = _ce_scaled(results, row)
        point = {"cost": row.get("incremental_cost"), "effect": row.get("incremental_effect")}
        label = row.get("effect_label") or row.get("outcome") or "effect"
        few = _few_bootstrap_clusters(results, row)
        ce.append(
            {
                "label": _flagged(_outcome_named(results, row.get("outcome")), label),
                "sentence": row.get("sentence"),
                "dominance": _dominance_words(row),
                "unit": row["unit"],
                "icer": format_money(row.get("icer")),
                # a negative ratio is no price: it mixes "cheaper and better" with "dearer and worse"
                "icer_negative": row.get("icer") is not None and row["icer"] < 0,
                "icer_ci": f"{format_money(row['icer_ci_low'])} to {format_money(row['icer_ci_high'])}"
                if row.get("icer_ci_low") is not None
                else "not bounded (the effect's interval includes zero)",
                # next to the number, not in the warnings at the back: with so few clusters the
                # bootstrap has almost nothing to resample
                "unreliable": f"unreliable: the bootstrap resamples whole "
                f"{cluster_noun(results)} and an arm has only {few}"
                if few is not None and row.get("icer_ci_low") is not None
                else None,
                "few_clusters": few is not None,
                "plane": charts.ce_plane_chart(
                    row.get("plane") or [],
                    point=point,
                    effect_label=label,
                    chart_id=f"ce-plane-{index}",
                )
                if point["cost"] is not None and point["effect"] is not None
                else None,
                "ceac": charts.ceac_chart(
                    row.get("ceac") or [],
                    effect_label=label,
                    chart_id=f"ceac-{index}",
                    unit=row["unit"],
                )
                if row.get("ceac")
                else None,
            }
        )
    band = costs.get("eef_band")
    return {
        "currency_year": costs.get("currency_year"),
        "discount_rate": format_percent(100 * costs["discount_rate"], 1)
        if costs.get("discount_rate") is not None
        else None,
        "ledger": ledger_rows,
        "by_site": by_site,
        "totals": total_rows,
        "per": per_rows,
        "band": band,
        "band_range": dict(EEF_BANDS).get(band),
        "bands": EEF_BANDS,
        "ce": ce,
        "sensitivity": [
            {
                "item": r.get("item"),
                "low": format_money(r.get("low")),
                "high": format_money(r.get("high")),
            }
            for r in costs.get("sensitivity") or []
        ],
    }


def _methods_view(results: Mapping, sup: Suppression) -> dict:
    trial = results.get("trial", {})
    randomisation = trial.get("randomisation", {})
    design = [
        ("Design hash (SHA-256)", trial.get("design_hash")),
        (
            "Unit of randomisation",
            trial.get("unit", "").capitalize()
            + (f" ({trial['cluster_by']})" if trial.get("cluster_by") else ""),
        ),
        ("Randomisation method", randomisation.get("method")),
        ("Seed", str(randomisation.get("seed"))),
        ("Algorithm version", randomisation.get("algorithm_version")),
    ]
    if randomisation.get("block_sizes"):
        design.append(("Block sizes", ", ".join(str(b) for b in randomisation["block_sizes"])))
    if trial.get("strata"):
        design.append(("Strata", ", ".join(trial["strata"])))
    if trial.get("cluster_se_by"):
        # individually randomised, but people share a team: SEs are clustered by it
        design.append(("Standard errors clustered by", trial["cluster_se_by"]))
    if randomisation.get("balance_score") is not None:
        design.append(
            (
                "Balance score of the chosen allocation",
                format_number(randomisation["balance_score"], 3),
            )
        )
    design.append(
        (
            "Arms",
            "; ".join(
                f"{a.get('label') or a['name']} (ratio {a.get('ratio', 1)}{', control' if a['name'] == trial.get('control_arm') else ''})"
                for a in trial.get("arms", [])
            ),
        )
    )
    if trial.get("data_source"):
        design.append(("Data source", trial["data_source"]))
    design.append(("Results schema version", results.get("schema_version")))
    methods = results.get("methods") or {}
    se_types = sorted(
        {
            f"{e['estimand']}: {e['se_type']}"
            + (
                f", clustered by {e['se_clustered_by']} ({e['n_clusters']} clusters)"
                if e.get("se_clustered_by") and e.get("n_clusters")
                else ""
            )
            for o in results.get("outcomes", [])
            for e in o.get("estimates", [])
        }
    )
    outcomes = [
        {
            "label": _flagged(o, o["label"]),
            "role": "Primary" if o.get("primary") else "Secondary",
            "status": "Pre-specified" if o.get("prespecified", True) else "Exploratory",
        }
        for o in results.get("outcomes", [])
    ]
    validation = results.get("data_validation") or {}
    rules = [
        {
            "rule": r.get("rule"),
            "kind": humanise(str(r.get("kind", ""))),
            "reason": r.get("reason")
            or _RULE_REASONS.get(r.get("rule"), humanise(str(r.get("rule")))),
            "rows": sup.display(("validation", i)),
        }
        for i, r in enumerate(validation.get("by_rule") or [])
    ]
    return {
        "design": design,
        "methods": [
            (_METHOD_KEYS.get(k, humanise(k)), v if isinstance(v, str) else str(v))
            for k, v in methods.items()
        ],
        "se_types": se_types,
        "outcomes": outcomes,
        "quarantined": sup.display(("validation", "total")),
        "rules": rules,
        "warnings": list(results.get("warnings") or []),
    }


def trial_view(results: Mapping) -> dict:
    """Everything the trial template prints, already formatted and disclosure-controlled.

    Parameters
    ----------
    results : mapping
        A results.json document.

    Returns
    -------
    dict
        The template context (see ``reports/templates/trial.html.j2``).
    """
    results = normalise_results(results)
    flow = consort_flow(results)
    sup = _disclosure(results, flow)
    trial = results.get("trial", {})
    return {
        "title": trial.get("title", trial.get("id", "Trial")),
        "trial_id": trial.get("id"),
        "question": trial.get("question"),
        "design_hash": trial.get("design_hash", ""),
        "unit": trial.get("unit"),
        "sections": SECTIONS,
        "headline": list(headline_sentences(results)),
        "key": _key_numbers(results, flow, sup),
        "consort": _consort_view(results, flow, sup),
        "dates": _dates_view(results),
        "balance": _balance_view(results, sup),
        "uptake": _uptake_view(results, sup),
        "outcomes": _outcomes_view(results, sup),
        "cace": _cace_view(results, sup),
        "missing": _missing_view(results, flow, sup),
        "costs": _costs_view(results),
        "methods": _methods_view(results, sup),
        "sap": sap_view(results),
        # an exploratory reanalysis (analyse --label): banner, page margins and methods say so
        "exploratory": results.get("exploratory")
        if results.get("analysis_status") == "exploratory"
        else None,
        "suppressed": sup.any,
        "footnote": DISCLOSURE_FOOTNOTE,
        "mark": SUPPRESSED_MARK,
    }


def render_trial(results: Mapping) -> str:
    """One trial's report as a self-contained HTML page.

    Parameters
    ----------
    results : mapping
        A results.json document (schema ``analysis/results.schema.json``).

    Returns
    -------
    str
        HTML with inline CSS and SVG; no scripts and no external assets.
    """
    return _environment().get_template("trial.html.j2").render(**trial_view(results))


# --------------------------------------------------------------------------- portfolio


def _evidence_line(results: Mapping) -> str:
    flow = consort_flow(results)
    individuals = flow.level("individuals")
    clusters = flow.level("clusters")
    randomised = individuals.randomised
    lost = sum(a.lost for a in individuals.arms)
    parts = [
        (
            f"{format_count(randomised)} staff in {clusters.randomised} "
            f"{cluster_noun(results, clusters.randomised)}"
            if clusters
            else f"{format_count(randomised)} staff randomised individually"
        )
    ]
    if randomised and 0 < lost < 5:
        parts.append("fewer than 5 lost to follow-up")
    elif randomised:
        parts.append(f"{format_percent(100 * lost / randomised)} lost to follow-up")
    primary = primary_outcome(results)
    estimate = itt_estimate(primary) if primary else None
    if estimate and estimate.get("ri_p_value") is not None:
        same = (estimate["p_value"] < 0.05) == (estimate["ri_p_value"] < 0.05)
        parts.append(
            "randomisation inference agrees with the model"
            if same
            else "randomisation inference disagrees with the model"
        )
    attrition = lost / randomised if randomised else 0.0
    # thresholds in the spirit of the EEF padlocks: few clusters and heavy attrition weaken a trial
    if estimate is None:
        strength = "none for the primary outcome: it could not be estimated"
    elif clusters and clusters.randomised < 10:
        strength = "weak: too few clusters to detect anything but a large effect"
    elif attrition > 0.4:
        strength = "weak: more than 40% lost to follow-up"
    elif clusters and clusters.randomised < 20:
        strength = "moderate: few clusters"
    elif attrition > 0.2:
        strength = "moderate: more than 20% lost to follow-up"
    elif randomised < 300:
        strength = "moderate: a small trial"
    else:
        strength = "good"
    return f"{strength[:1].upper()}{strength[1:]} ({'; '.join(parts)}). A single trial."


def _uptake_line(results: Mapping) -> str:
    uptake = results.get("uptake") or {}
    labels = _arm_labels(results)
    active = [
        row
        for row in uptake.get("funnel") or []
        if row["arm"] != _control(results)
        and row.get("allocated")
        and row.get("started") is not None
    ]
    lines = []
    for row in active:
        started, completed = row["started"], row.get("completed")
        started_text = (
            "fewer than 5 people"
            if 0 < started < 5
            else format_percent(100 * started / row["allocated"])
        )
        text = f"{started_text} of those offered it took it up"
        if completed is not None and completed != started:
            completed_text = (
                "fewer than 5 people"
                if 0 < completed < 5
                else format_percent(100 * completed / row["allocated"], 1)
            )
            text += f" and {completed_text} completed it"
        if len(active) > 1:
            text = f"{labels.get(row['arm'], row['arm'])}: {text}"
        lines.append(text)
    return ("; ".join(lines) + ".") if lines else "No uptake data."


def _portfolio_row(results: Mapping) -> dict:
    trial = results.get("trial", {})
    primary = primary_outcome(results)
    shared = _shared_outcome(results)
    shared_estimate = itt_estimate(shared) if shared else None
    primary_estimate = itt_estimate(primary) if primary else None
    costs = results.get("costs") or {}
    per = costs.get("per_participant") or {}
    shared_verdict = (
        evidence_verdict(results, shared, shared_estimate) if shared else "not measured"
    )
    primary_verdict = (
        evidence_verdict(results, primary, primary_estimate) if primary else "not estimated"
    )
    caveats = (
        evidence_caveats(results, outcome=primary, arm=primary_estimate["arm"])
        if primary_estimate
        else []
    )
    shared_caveats = (
        evidence_caveats(results, outcome=shared, arm=shared_estimate["arm"])
        if shared_estimate
        else []
    )
    clusters = (results.get("consort") or {}).get("clusters") or {}
    return {
        "id": trial.get("id"),
        "title": trial.get("title", trial.get("id")),
        "unit": trial.get("unit"),
        "cluster_noun": cluster_noun(results),
        "n_clusters": sum(b.get("allocated") or 0 for b in clusters.values()) or None,
        "shared_label": _flagged(shared, shared["label"]) if shared else None,
        "shared_is_primary": bool(shared and shared.get("primary")),
        "shared_effect": format_effect(shared_estimate["estimate"], shared)
        if shared_estimate
        else "\u2014",
        "shared_ci": format_ci(shared_estimate["ci_low"], shared_estimate["ci_high"], shared)
        if shared_estimate
        else "\u2014",
        "shared_values": (
            shared_estimate["estimate"],
            shared_estimate["ci_low"],
            shared_estimate["ci_high"],
        )
        if shared_estimate
        else None,
        "shared_verdict": shared_verdict,
        "shared_words": _VERDICT_WORDS.get(shared_verdict, "Not measured"),
        "primary_label": _flagged(primary, primary["label"]) if primary else None,
        "caveats": caveat_reasons(results, caveats) if caveats else None,
        "shared_caveats": caveat_reasons(results, shared_caveats) if shared_caveats else None,
        "few_clusters": any(c.kind == "few_clusters" for c in caveats + shared_caveats),
        "primary_noun": outcome_noun(primary) if primary else None,
        "primary_effect": format_effect(primary_estimate["estimate"], primary)
        if primary_estimate
        else "\u2014",
        "primary_ci": format_ci(primary_estimate["ci_low"], primary_estimate["ci_high"], primary)
        if primary_estimate
        else "\u2014",
        "primary_verdict": primary_verdict,
        "primary_words": _VERDICT_WORDS[primary_verdict],
        "cost": per.get("randomised"),
        "cost_text": format_money(per.get("randomised")),
        "band": costs.get("eef_band") or "\u2014",
        "uptake": _uptake_line(results),
        "evidence": _evidence_line(results),
        "headline": " ".join(headline_sentences(results)),
    }


def _join(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _answer(rows: Sequence[dict], shared_noun: str) -> list[str]:
    """The careful answer to "which of these should we fund?", from the verdicts alone.

    Only a 95% CI that excludes zero counts as a benefit or a harm; trials
    that cannot tell are said to be unable to tell, and the cheapest clear
    benefit is named with the limits of a single trial.  A clear CI undercut
    by a caveat (:func:`reports.headline.evidence_caveats`) is a "possible"
    benefit: it is never recommended for funding, only for testing further.
    """
    paragraphs = []
    shared_benefit = [r for r in rows if r["shared_verdict"] == "benefit"]
    primary_benefit = [
        r for r in rows if r["primary_verdict"] == "benefit" and r not in shared_benefit
    ]
    harms = [
        r for r in rows if {"harm", "possible harm"} & {r["shared_verdict"], r["primary_verdict"]}
    ]
    weak = [
        r
        for r in rows
        if "possible benefit" in (r["shared_verdict"], r["primary_verdict"])
        and r not in shared_benefit + primary_benefit + harms
    ]
    unclear = [
        r
        for r in rows
        if r not in shared_benefit and r not in primary_benefit and r not in harms + weak
    ]
    if shared_benefit:
        paragraphs.append(
            f"On the outcome the trials share, {shared_noun}, "
            + _join(
                [
                    f"{r['title']} showed a clear improvement ({r['shared_effect']} points, 95% CI "
                    f"{r['shared_ci']}) at {r['cost_text']} per participant"
                    for r in shared_benefit
                ]
            )
            + "."
        )
    else:
        paragraphs.append(
            f"None of these trials showed a clear improvement in {shared_noun}, the outcome they "
            "share. That is not proof that none of them works: several were too small, or lost too "
            "many people to follow-up, to detect the modest effects that are realistic for "
            "workplace wellbeing."
        )
    for r in primary_benefit:
        shared_clause = (
            f", but showed no clear effect on {shared_noun}"
            if r["shared_verdict"] == "unclear"
            else ""
        )
        paragraphs.append(
            f"{r['title']} clearly improved its own primary outcome, {r['primary_noun']} "
            f"({r['primary_effect']}, 95% CI {r['primary_ci']}), at {r['cost_text']} per "
            f"participant{shared_clause}."
        )
    for r in weak:
        on_primary = r["primary_verdict"] == "possible benefit"
        what, effect, ci, reasons = (
            (
                f"its primary outcome, {r['primary_noun']}",
                r["primary_effect"],
                r["primary_ci"],
                r["caveats"],
            )
            if on_primary
            else (shared_noun, r["shared_effect"], r["shared_ci"], r["shared_caveats"])
        )
        more = f" with more {r['cluster_noun']}" if r["few_clusters"] else ""
        paragraphs.append(
            f"{r['title']} may have improved {what} ({effect}, 95% CI {ci}), but the evidence "
            f"is weak: {reasons}. Test further before funding: a larger trial{more} would show "
            "whether the effect is real."
        )
    for r in harms:
        primary_harm = r["primary_verdict"] in ("harm", "possible harm")
        which = r["primary_noun"] if primary_harm else shared_noun
        possible = (r["primary_verdict"] if primary_harm else r["shared_verdict"]).startswith(
            "possible"
        )
        reasons = r["caveats"] if primary_harm else r["shared_caveats"]
        paragraphs.append(
            (
                f"{r['title']} may have made {which} worse; the evidence is weak ({reasons}), "
                if possible
                else f"{r['title']} made {which} clearly worse. "
            )
            + ("but do" if possible else "Do")
            + " not fund it further without understanding why."
        )
    if unclear:
        paragraphs.append(
            _join([r["title"] for r in unclear])
            + " showed no clear effect on "
            + ("its" if len(unclear) == 1 else "their")
            + " primary outcome. That evidence does not support funding at scale, nor does it "
            "rule out a worthwhile effect; a larger trial would be needed to tell."
        )
    candidates = sorted(
        [r for r in shared_benefit + primary_benefit if r["cost"] is not None],
        key=lambda r: r["cost"],
    )
    if candidates:
        best = candidates[0]
        noun = shared_noun if best in shared_benefit else best["primary_noun"]
        text = (
            f"On this evidence the strongest case is for {best['title']}: a clear benefit on "
            f"{noun} for {best['cost_text']} per participant"
            + (
                ", the lowest cost of the options with a clear benefit"
                if len(candidates) > 1
                else ""
            )
            + "."
        )
        if best not in shared_benefit and best["shared_verdict"] == "unclear":
            text += f" Fund it for {best['primary_noun']}, not as a way to raise {shared_noun}."
        text += " It rests on a single trial, so keep measuring where you fund it."
        paragraphs.append(text)
    else:
        paragraphs.append(
            "On this evidence no option stands out. If you must choose, prefer the cheapest "
            "options whose intervals include worthwhile gains, fund them as further trials rather "
            "than as proven programmes, and keep measuring."
        )
    return paragraphs


def _shared_noun(results: Sequence[Mapping]) -> tuple[str, Mapping | None]:
    shared = next((_shared_outcome(r) for r in results if _shared_outcome(r)), None)
    return (outcome_noun(shared) if shared else "wellbeing"), shared


def portfolio_answer(results: Sequence[Mapping]) -> list[str]:
    """The portfolio's answer to "which of these should we fund?", as paragraphs.

    Parameters
    ----------
    results : sequence of mapping
        results.json documents, one per trial.

    Returns
    -------
    list of str
    """
    results = [normalise_results(r) for r in results]
    noun, _ = _shared_noun(results)
    return _answer([_portfolio_row(r) for r in results], noun)


def render_portfolio(results: Sequence[Mapping]) -> str:
    """Every trial side by side: shared outcome, cost, cost-effectiveness, uptake, evidence.

    Parameters
    ----------
    results : sequence of mapping
        results.json documents, one per trial, in the order to show them.

    Returns
    -------
    str
        A self-contained HTML page.
    """
    results = [normalise_results(r) for r in results]
    rows = [_portfolio_row(r) for r in results]
    shared_noun, shared = _shared_noun(results)
    chart = charts.portfolio_chart(
        [
            {
                "label": r["title"],
                "cost": r["cost"],
                "effect": r["shared_values"][0] if r["shared_values"] else None,
                "low": r["shared_values"][1] if r["shared_values"] else None,
                "high": r["shared_values"][2] if r["shared_values"] else None,
            }
            for r in rows
        ],
        effect_label=shared_noun,
        chart_id="portfolio",
    )
    not_measured = [r["title"] for r in rows if r["shared_label"] is None]
    return (
        _environment()
        .get_template("portfolio.html.j2")
        .render(
            title="Portfolio of staff-wellbeing trials",
            sections=PORTFOLIO_SECTIONS,
            rows=rows,
            shared_noun=shared_noun,
            shared_label=shared["label"] if shared else None,
            not_measured=not_measured,
            answer=_answer(rows, shared_noun),
            chart=chart,
            bands=EEF_BANDS,
            footnote=DISCLOSURE_FOOTNOTE,
            suppressed=False,
        )
    )
