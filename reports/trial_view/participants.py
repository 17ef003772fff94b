"""The trial report's sections about people: key numbers, CONSORT flow, dates and baseline, uptake."""

from __future__ import annotations

import math
from collections.abc import Mapping

from reports import charts
from reports.baseline_rows import baseline_rows
from reports.disclosure import (
    SUPPRESSED_MARK,
    Suppression,
    coarsen_cumulative,
)
from reports.evidence import (
    VERDICT_WORDS,
    caveat_reasons,
    evidence_caveats,
    evidence_verdict,
)
from reports.format import (
    EEF_BANDS,
    cluster_noun,
    flagged_label,
    format_ci,
    format_count,
    format_effect,
    format_money,
    format_number,
    format_p,
    format_p_is,
    format_percent,
    humanise,
)
from reports.lookup import (
    active_arms,
    arm_labels,
    arm_names,
    control_arm,
    itt_estimate,
    primary_outcome,
)
from reports.trial_view._cells import pct, small_decimals, smd

__all__ = ["balance_view", "consort_view", "dates_view", "key_numbers", "uptake_view"]


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


def key_numbers(results: Mapping, flow, sup: Suppression) -> dict:
    primary = primary_outcome(results)
    items = []
    notes = []
    for arm in active_arms(results) or [None]:
        estimate = itt_estimate(primary, arm) if primary else None
        prefix = (
            f" ({arm_labels(results).get(arm, arm)})"
            if arm and len(active_arms(results)) > 1
            else ""
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
                "label": flagged_label(primary, f"Effect on {primary['label']}{prefix}"),
                "value": format_effect(estimate["estimate"], primary),
                "detail": f"95% CI {format_ci(estimate['ci_low'], estimate['ci_high'], primary)}; "
                f"{format_p_is(estimate['p_value'])}. {VERDICT_WORDS[verdict]}"
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
        if row["arm"] == control_arm(results):
            continue
        started = sup.value(("funnel", row["arm"], "started"))
        completed = sup.value(("funnel", row["arm"], "completed"))
        allocated_n = sup.value(("funnel", row["arm"], "allocated"))
        items.append(
            {
                "field": "uptake",
                "label": f"Uptake ({arm_labels(results).get(row['arm'], row['arm'])})",
                "value": f"{pct(started, allocated_n, small_decimals(started, allocated_n))} started",
                "detail": f"{pct(completed, allocated_n, small_decimals(completed, allocated_n))} completed; "
                f"{sup.display(('funnel', row['arm'], 'started'))} of "
                f"{sup.display(('funnel', row['arm'], 'allocated'))} allocated.",
            }
        )
    costs = results.get("costs") or {}
    several = bool(costs.get("other_arms"))  # each active arm's own cost, named
    for arm_costs in [costs, *(costs.get("other_arms") or [])]:
        per = arm_costs.get("per_participant") or {}
        if per.get("randomised") is None:
            continue
        band = arm_costs.get("eef_band")
        arm = arm_costs.get("arm")
        items.append(
            {
                "field": "cost-per-participant",
                "label": "Cost per participant"
                + (f" ({arm_labels(results).get(arm, arm)})" if several else ""),
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
            f"{a.label} {pct(a.lost, a.allocated)}" for a in individuals.arms if a.allocated
        )
        strength.append(
            f"Attrition: {format_percent(100 * lost / randomised)} had no follow-up measure ({per_arm})."
        )
    else:
        strength.append(f"Attrition: {SUPPRESSED_MARK} (small counts).")
    if primary:
        arms = active_arms(results)
        # with several active arms, each one's comparison with control, named
        for arm in arms if len(arms) > 1 else [None]:
            estimate = itt_estimate(primary, arm)
            named = f"{arm_labels(results).get(arm, arm)} against control: " if arm else ""
            if estimate and estimate.get("ri_p_value") is not None:
                model_sig = estimate["p_value"] < 0.05
                ri_sig = estimate["ri_p_value"] < 0.05
                # Holm declared across the arms: the two p-values compared are unadjusted, and
                # the adjusted one decides; the sentence says both, not "below 0.05" alone
                holm = estimate.get("p_value_holm")
                unadjusted = " unadjusted" if holm is not None else ""
                if model_sig == ri_sig:
                    agree = (
                        f"agrees with the model: both{unadjusted} p-values are "
                        + ("below" if model_sig else "at or above")
                        + " 0.05"
                    )
                else:
                    agree = (
                        "disagrees with the model at the 5% level"
                        + (" (unadjusted p-values)" if unadjusted else "")
                        + ", so treat the result with caution"
                    )
                adjusted = (
                    ""
                    if holm is None
                    else "; Holm's adjustment across the arms gives the model "
                    f"{format_p_is(holm)}, " + ("below" if holm < 0.05 else "at or above") + " 0.05"
                )
                strength.append(
                    f"{named}Randomisation inference "
                    f"({format_count(estimate.get('ri_draws'))} re-randomisations) "
                    f"{agree} (model {format_p_is(estimate['p_value'])}, "
                    f"randomisation {format_p_is(estimate['ri_p_value'])}){adjusted}."
                    + _few_allocations_note(results, clusters)
                )
            elif estimate:
                strength.append(f"{named}Randomisation inference was not run.")
        if clusters and clusters.randomised < 20:
            strength.append(
                f"Only {clusters.randomised} {cluster_noun(results, clusters.randomised)} were "
                "randomised, so the standard errors use the small-sample CR2 correction and the "
                "effect is uncertain."
            )
    notes.extend(strength)
    return {"items": items, "strength": strength}


def consort_view(results: Mapping, flow, sup: Suppression) -> dict:
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


def dates_view(results: Mapping) -> list[dict]:
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


def balance_view(results: Mapping, sup: Suppression) -> dict | None:
    balance = results.get("balance") or {}
    table = baseline_rows(balance, results.get("trial", {}).get("control_arm", ""))
    if not table:
        return None
    arms = arm_names(results)
    labels = arm_labels(results)
    active = active_arms(results)
    outcomes = {o["name"]: o for o in results.get("outcomes", [])}
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
        # an outcome's baseline ("wrqol_baseline") is scored as the outcome is: same flag
        outcome = outcomes.get(str(row["variable"]).removesuffix("_baseline"))
        if outcome is not None and str(row["variable"]).endswith("_baseline"):
            label = flagged_label(outcome, label)
        rows.append(
            {
                "variable": label,
                "level": row.get("level"),
                "kind": row.get("kind") or ("categorical" if row.get("level") else "continuous"),
                "cells": cells,
                # a level's proportion can be solved back from the other arm's and the SMD
                "smd": SUPPRESSED_MARK
                if any(c["text"] == SUPPRESSED_MARK for c in cells)
                else smd(row.get("smd", row.get("std_diff"))),
                "smd_value": row.get("smd", row.get("std_diff")),
                "smd_values": [(row.get("smds") or {}).get(a) for a in active],
                "flag": abs(row.get("smd") or 0) > 0.1,
                # with several active arms, each one's against control, in the arms' order
                "smds": [
                    SUPPRESSED_MARK
                    if any(c["text"] == SUPPRESSED_MARK for c in cells)
                    else smd((row.get("smds") or {}).get(a))
                    for a in active
                ],
            }
        )
    rows, many_levels = _collapse_many_levels(rows, len(arms))
    return {
        # one standardised-difference column per active arm when there are several
        "smd_columns": [labels.get(a, a) for a in active] if len(active) > 1 else [],
        "arms": [labels.get(a, a) for a in arms],
        "arm_ns": [sup.display(("consort", a, "allocated")) for a in arms],
        "rows": rows,
        "many_levels": many_levels,
        "auc": balance.get("auc"),
        "auc_text": (
            f"A classifier predicting arm from the baseline variables had a cross-validated AUC of "
            f"{format_number(balance['auc'], 2)} (permutation {format_p_is(balance.get('auc_p_value'))}"
            f"{_auc_subsample(balance.get('auc_detail') or {})}); "
            "0.5 means arm cannot be predicted, as randomisation intends."
            if balance.get("auc") is not None
            else None
        ),
    }


#: A characteristic with more levels than this (200 organisations in a national trial) gets
#: one line in the baseline table, its largest standardised difference, and its levels in a
#: table of their own that a reader opens: 200 rows would bury the rest of the table.
MANY_LEVELS = 12


def _largest(rows: list[dict], raw: str, shown: str) -> str:
    """The standardised difference largest in size among ``rows`` (a suppressed one wins).

    ``raw`` picks each row's number, ``shown`` its cell as printed; a level's suppressed
    difference stays suppressed in the summary, which could otherwise reveal it.
    """
    if any(row[shown] == SUPPRESSED_MARK for row in rows):
        return SUPPRESSED_MARK
    values = [row[raw] for row in rows if row[raw] is not None]
    return smd(max(values, key=abs)) if values else "\u2014"


def _collapse_many_levels(rows: list[dict], n_arms: int) -> tuple[list[dict], list[dict]]:
    """Rows with each many-level characteristic as one summary line; its levels apart."""
    levels: dict[str, list[dict]] = {}
    for row in rows:
        if row["level"] is not None:
            levels.setdefault(row["variable"], []).append(row)
    many = {name for name, found in levels.items() if len(found) > MANY_LEVELS}
    if not many:
        return rows, []
    kept: list[dict] = []
    for row in rows:
        if row["variable"] not in many:
            kept.append(row)
        elif row is levels[row["variable"]][0]:
            found = levels[row["variable"]]
            kept.append(
                {
                    "variable": row["variable"],
                    "level": None,
                    "kind": "many_levels",
                    "n_levels": len(found),
                    "cells": [{"text": "\u2014", "n": None}] * n_arms,
                    "smd": _largest(found, "smd_value", "smd"),
                    "flag": any(r["flag"] for r in found),
                    "smds": [
                        _largest(
                            [{"value": r["smd_values"][i], "shown": r["smds"][i]} for r in found],
                            "value",
                            "shown",
                        )
                        for i in range(len(found[0]["smds"]))
                    ],
                }
            )
    return kept, [{"variable": name, "rows": levels[name]} for name in levels if name in many]


def _auc_subsample(detail: Mapping) -> str:
    """', on a random 20,000 of the 1,300,000 participants' when the test ran on a subsample."""
    if not detail.get("subsample"):
        return ""
    return f", on a random {detail['n']:,} of the {detail['n_total']:,} participants"


def uptake_view(results: Mapping, sup: Suppression) -> dict | None:
    uptake = results.get("uptake") or {}
    funnel = uptake.get("funnel") or []
    if not funnel:
        return None
    labels = arm_labels(results)
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
    for arm in arm_names(results):
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
    # several interventions: an active arm's members with another arm's intervention's events,
    # named as control contamination is counted; the pre-declared uptake stays the arm's own
    cross_arm = [
        f"{sup.display(('cross_arm', r['arm'], r['intervention']))} of the "
        f"{labels.get(r['arm'], r['arm']).lower()} arm's participants have events of "
        f"{r['intervention']}"
        for r in uptake.get("cross_arm_contamination") or []
        if r["participants"]
    ]
    return {
        "cross_arm": cross_arm,
        "rows": rows,
        "funnel_chart": funnel_chart,
        "time_chart": time_chart,
        "dropped_weeks": dropped_weeks,
        "definition": _definition_terms(definition, uptake.get("definitions_by_arm"), labels),
        "contamination": contamination,
        "control_label": labels.get(control_arm(results), control_arm(results)),
    }


def _definition_terms(definition: Mapping, by_arm: Mapping | None, labels: Mapping) -> list[dict]:
    """The uptake definition's terms; each arm's, named, when its intervention counts differently."""
    blocks = {
        arm: {k: v for k, v in block.items() if k != "intervention"}
        for arm, block in (by_arm or {}).items()
    }
    if len({tuple(sorted(map(str, b.items()))) for b in blocks.values()}) < 2:
        return [
            {"term": humanise(k), "value": str(v)} for k, v in definition.items() if v is not None
        ]
    return [
        {"term": f"{labels.get(arm, arm)}: {humanise(k)}", "value": str(v)}
        for arm, block in blocks.items()
        for k, v in block.items()
        if v is not None
    ]
