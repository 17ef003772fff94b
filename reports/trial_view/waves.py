"""The trial report's follow-up waves (issue 15.1): each arm's mean by wave, per-wave and pooled effects.

Shown for every outcome whose results carry ``waves`` (a design that declares follow-up
waves). Means of fewer than :data:`reports.disclosure.THRESHOLD` answers are hidden, as
every small count is.
"""

from __future__ import annotations

from collections.abc import Mapping

from reports import charts
from reports.disclosure import SUPPRESSED_MARK, THRESHOLD
from reports.format import (
    cluster_noun,
    flagged_label,
    format_ci,
    format_effect,
    format_mean,
    format_p,
    format_p_is,
    outcome_units,
    placeholder_scoring_note,
)
from reports.lookup import arm_labels, arm_names

__all__ = ["waves_view"]


def _caveat(results: Mapping, outcome: Mapping) -> str:
    """What the pooled estimate rests on, in one sentence (two with few clusters)."""
    waves = outcome["waves"]
    text = (
        "The pooled estimate averages the waves' effects in one mixed model that assumes a "
        "missed wave is missing at random given the waves a person answered, and its 95% "
        "interval is normal-based, without a small-sample correction; the differences between "
        "waves were not tested as pre-specified hypotheses, so read them as description."
    )
    if waves.get("n_clusters"):
        text += (
            f" With only {waves['n_clusters']} {cluster_noun(results, waves['n_clusters'])} "
            "randomised, that interval is likely too narrow: the per-wave intervals, which "
            "allow for few clusters, are the ones to read first."
        )
    return text


def _sentence(results: Mapping, outcome: Mapping, labels: Mapping) -> str:
    waves = outcome["waves"]
    multiple = len(waves["pooled"]) > 1
    parts = []
    for pooled in waves["pooled"]:
        arm = f" for {labels.get(pooled['arm'], pooled['arm'])}" if multiple else ""
        effects = [
            f"{format_effect(e['estimate'], outcome)} "
            f"(95% CI {format_ci(e['ci_low'], e['ci_high'], outcome)}) at {e['timepoint']}"
            for e in waves["effects"]
            if e["arm"] == pooled["arm"]
        ]
        per_wave = ", ".join(effects[:-1]) + f" and {effects[-1]}"
        parts.append(
            f"The difference{arm}, in {outcome_units(outcome)}, was {per_wave}. Averaged over "
            f"{' and '.join(waves['timepoints'])}, the pooled repeated-measures estimate is "
            f"{format_effect(pooled['estimate'], outcome)} "
            f"(95% CI {format_ci(pooled['ci_low'], pooled['ci_high'], outcome)}, "
            f"{format_p_is(pooled['p_value'])})."
        )
    parts.append(
        f"The headline uses {waves['primary_timepoint']}, the timepoint the design declared "
        "before the data were seen."
    )
    note = placeholder_scoring_note(outcome)
    if note:  # every number of a placeholder-scored outcome carries the flag
        parts.append(f"These numbers are {note}.")
    return " ".join(parts)


def waves_view(results: Mapping) -> list[dict]:
    """One block per outcome measured at several waves: sentence, chart, table and caveat."""
    labels = arm_labels(results)
    blocks = []
    for outcome in results.get("outcomes", []):
        waves = outcome.get("waves")
        if not waves:
            continue
        timepoints = ["baseline", *waves["timepoints"]]
        series = []
        for arm in arm_names(results):
            points = []
            for mean in waves["means"]:
                if mean["arm"] != arm or mean["n"] < THRESHOLD:
                    continue  # a mean of a handful of answers can give them away
                ci = (
                    format_ci(mean["ci_low"], mean["ci_high"], outcome)
                    if mean.get("ci_low") is not None
                    else "not estimable"
                )
                points.append(
                    {
                        "timepoint": mean["timepoint"],
                        "mean": mean["mean"],
                        "low": mean.get("ci_low"),
                        "high": mean.get("ci_high"),
                        "text": f"{format_mean(mean['mean'], outcome)} (95% CI {ci})",
                    }
                )
            series.append({"label": labels.get(arm, arm), "arm": arm, "points": points})
        rows = [
            {
                "arm": labels.get(e["arm"], e["arm"]),
                "timepoint": e["timepoint"] + (" (pre-declared)" if e["primary"] else ""),
                "estimate": format_effect(e["estimate"], outcome),
                "ci": format_ci(e["ci_low"], e["ci_high"], outcome),
                "p": format_p(e["p_value"]),
                "method": "ANCOVA on baseline",
            }
            for e in waves["effects"]
        ] + [
            {
                "arm": labels.get(p["arm"], p["arm"]),
                "timepoint": "pooled over " + ", ".join(waves["timepoints"]),
                "estimate": format_effect(p["estimate"], outcome),
                "ci": format_ci(p["ci_low"], p["ci_high"], outcome),
                "p": format_p(p["p_value"]),
                "method": "mixed model (REML), normal CI",
            }
            for p in waves["pooled"]
        ]
        blocks.append(
            {
                "name": outcome["name"],
                "label": flagged_label(outcome, outcome["label"]),
                "primary": outcome["primary"],
                "sentence": _sentence(results, outcome, labels),
                "chart": charts.wave_means_chart(
                    series,
                    timepoints=timepoints,
                    # the heading above names the outcome (with any scoring flag)
                    unit="Score",
                    chart_id=f"waves-{outcome['name']}",
                ),
                "table": [
                    {
                        "label": line["label"],
                        "cells": [
                            next(
                                (p["text"] for p in line["points"] if p["timepoint"] == t),
                                SUPPRESSED_MARK,
                            )
                            for t in timepoints
                        ],
                    }
                    for line in series
                ],
                "timepoints": timepoints,
                "rows": rows,
                "multiple_arms": len(waves["pooled"]) > 1
                or len({e["arm"] for e in waves["effects"]}) > 1,
                "caveat": _caveat(results, outcome),
            }
        )
    return blocks
