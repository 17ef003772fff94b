"""The trial report's costs section: cost per participant, the EEF band, cost-effectiveness."""

from __future__ import annotations

from collections.abc import Mapping

from reports import charts
from reports.evidence import (
    FEW_CLUSTERS_PER_ARM,
)
from reports.format import (
    EEF_BANDS,
    cluster_noun,
    flagged_label,
    format_money,
    format_number,
    format_percent,
    humanise,
    is_proportion,
    outcome_noun,
)
from reports.lookup import (
    arm_label,
    outcome_named,
)
from reports.value_of_information import evpi_view

__all__ = ["costs_view"]


def _ce_scaled(results: Mapping, row: Mapping) -> dict:
    """A cost-effectiveness row with ``unit`` words ("percentage point avoided"), in the report's units.

    results.json from before ``effect_unit`` priced a proportion (turnover) per
    0-1 unit: "0.000694 leavers, -£13,397 each".  Such a row is restated per
    percentage point (effect x 100, ICER and willingness to pay / 100), and its
    analysis sentence, in the old units, is replaced by the report's own.
    """
    row = dict(row)
    outcome = outcome_named(results, row.get("outcome"))
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


def _arm_view(results: Mapping, block: Mapping, position: int) -> dict:
    """One active arm's cost per person, EEF band, sensitivity and cost-effectiveness rows.

    ``position`` 0 is the section's own (first) arm, whose chart ids stay as they were
    before multi-arm costs; a further arm's carry its name.
    """
    arm = block.get("arm")
    prefix = "" if position == 0 or not arm else f"{arm}-"
    per = block.get("per_participant") or {}
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
    for index, row in enumerate(block.get("cost_effectiveness") or []):
        row = _ce_scaled(results, row)
        point = {"cost": row.get("incremental_cost"), "effect": row.get("incremental_effect")}
        label = row.get("effect_label") or row.get("outcome") or "effect"
        few = _few_bootstrap_clusters(results, row)
        ce.append(
            {
                "label": flagged_label(outcome_named(results, row.get("outcome")), label),
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
                    chart_id=f"ce-plane-{prefix}{index}",
                )
                if point["cost"] is not None and point["effect"] is not None
                else None,
                "ceac": charts.ceac_chart(
                    row.get("ceac") or [],
                    effect_label=label,
                    chart_id=f"ceac-{prefix}{index}",
                    unit=row["unit"],
                )
                if row.get("ceac")
                else None,
            }
        )
    band = block.get("eef_band")
    return {
        "arm": arm,
        "label": arm_label(results, arm) if arm else None,
        "per": per_rows,
        "band": band,
        "band_range": dict(EEF_BANDS).get(band),
        "ce": ce,
        "sensitivity": [
            {
                "item": humanise(str(r.get("item"))),
                "low": format_money(r.get("low")),
                "high": format_money(r.get("high")),
            }
            for r in block.get("sensitivity") or []
        ],
    }


def costs_view(results: Mapping) -> dict | None:
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
            "item": humanise(str(item)),
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
                    "item": humanise(str(item)),
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
    blocks = [costs, *(costs.get("other_arms") or [])]
    arms = [_arm_view(results, block, index) for index, block in enumerate(blocks)]
    first = arms[0]
    return {
        "currency_year": costs.get("currency_year"),
        "discount_rate": format_percent(100 * costs["discount_rate"], 1)
        if costs.get("discount_rate") is not None
        else None,
        "ledger": ledger_rows,
        "by_site": by_site,
        "totals": total_rows,
        # the first (with one active arm, the only) arm's figures, as before multi-arm costs
        **{k: first[k] for k in ("per", "band", "band_range", "ce", "sensitivity")},
        "bands": EEF_BANDS,
        # several active arms: each one's figures under its label (None with one)
        "arms": arms if len(arms) > 1 else None,
        "evpi": evpi_view(results),
    }
