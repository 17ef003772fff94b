"""Every count of people the trial report prints or implies, under one disclosure control.

:func:`trial_suppression` gathers the counts of every section (CONSORT boxes,
uptake, baseline levels, attrition, ...) and the sums that link them, so that
a small count hidden in one table cannot be worked out from another.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from reports.baseline_rows import baseline_rows
from reports.consort import consort_counts, consort_relations
from reports.disclosure import (
    Relation,
    Suppression,
    suppress_counts,
)

__all__ = ["sensitivity_key", "subgroup_key", "trial_suppression"]


def subgroup_key(outcome: str, sub: Mapping) -> tuple:
    """The count key of one subgroup level's n: per arm, since each arm's comparison has its own."""
    key = ("subgroup", outcome, sub["variable"], sub["level"])
    return (*key, sub["arm"]) if sub.get("arm") else key


def sensitivity_key(outcome: str, row: Mapping, *, several: bool) -> tuple:
    """The count key of one missing-data sensitivity row's n: per arm when there are several."""
    key = ("sensitivity", outcome, row["method"])
    return (*key, row.get("arm")) if several else key


def _equal(relations: list, counts: Mapping, a: Hashable, b: Hashable) -> None:
    """Tie two cells that hold the same number, so hiding one and showing the other cannot happen."""
    if counts.get(a) is not None and counts.get(a) == counts.get(b):
        relations.append(Relation(a, (b,)))


def trial_suppression(results: Mapping, flow) -> Suppression:
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
    for row in uptake.get("cross_arm_contamination") or []:  # several interventions only
        counts[("cross_arm", row["arm"], row["intervention"])] = row["participants"]

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
            counts[subgroup_key(name, sub)] = sub.get("n")
        sensitivity = outcome.get("sensitivity") or []
        several = len({sens.get("arm") for sens in sensitivity}) > 1
        for sens in sensitivity:
            counts[sensitivity_key(name, sens, several=several)] = sens.get("n")

    control = results.get("trial", {}).get("control_arm", "")
    balance = baseline_rows(results.get("balance"), control)
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
        # printed in effect: any shown level's count over its percentage gives it back
        # (109 at 62.6% is 174), so it cannot stand in for a hidden cell
        counts[whole] = observed if observed is not None else total
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
