"""The trial report's sections about effects: outcomes (ITT), CACE, and missing data."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from reports import charts
from reports.disclosure import (
    SUPPRESSED_MARK,
    Suppression,
)
from reports.evidence import (
    VERDICT_WORDS,
    effect_verdict,
    evidence_verdict,
)
from reports.format import (
    flagged_label,
    format_ci,
    format_effect,
    format_mean,
    format_number,
    format_p,
    format_p_is,
    format_percent,
    humanise,
    placeholder_scoring_note,
)
from reports.lookup import (
    active_arms,
    arm_labels,
    arm_names,
    control_arm,
    itt_estimate,
    primary_outcome,
)
from reports.trial_view._cells import pct
from reports.trial_view.counts import sensitivity_key, subgroup_key

__all__ = ["cace_view", "missing_view", "outcomes_view"]


_METHOD_LABELS = {
    "complete_case": "Complete cases (primary analysis)",
    "ipw": "Inverse-probability weighting",
    "multiple_imputation": "Multiple imputation",
}


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


def outcomes_view(results: Mapping, sup: Suppression) -> dict:
    arms = arm_names(results)
    labels = arm_labels(results)
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
                    # a mean over enough people stays when its n is hidden only to protect
                    # another count (ONS: suppress the small count, not the mean)
                    if mean_hidden or summary.get("n") and not sup.mean_shown(n_key)
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
                    "verdict_words": VERDICT_WORDS["not estimated"],
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
                    # the primary is adjusted only across arms, and only where the design says so
                    "p_holm": "not adjusted"
                    if outcome.get("primary") and estimate.get("p_value_holm") is None
                    else format_p(estimate.get("p_value_holm")),
                    "ri_p": format_p(estimate.get("ri_p_value")),
                    "g": format_number(estimate.get("hedges_g"), 2, signed=True),
                    "n": sup.display(("estimate", outcome["name"], index, "n")),
                    "se_type": estimate.get("se_type", "\u2014"),
                    "direction": "higher is better"
                    if outcome.get("higher_is_better", True)
                    else "lower is better",
                    "verdict": verdict,
                    "verdict_words": VERDICT_WORDS[verdict],
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
                    "label": flagged_label(outcome, outcome["label"]),
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
    several = len({sub.get("arm") for sub in (primary or {}).get("subgroups") or []}) > 1
    for sub in (primary or {}).get("subgroups") or []:
        arm = labels.get(sub.get("arm"), sub.get("arm"))
        subgroups.append(
            {
                "variable": humanise(sub["variable"]),
                # each active arm has its own rows in a multi-arm trial
                "level": f"{sub['level']} ({arm})" if several else sub["level"],
                "n": sup.display(subgroup_key(primary["name"], sub)),
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
        "subgroup_tests": _subgroup_tests(results, primary, labels, sup) if primary else [],
        "multiple_arms": len(active_arms(results)) > 1,
        "control_label": labels.get(control_arm(results), control_arm(results)),
        # the design declared Holm across the arms for the primary (adjust_across_arms: holm)
        "primary_holm": any(
            e.get("p_value_holm") is not None
            for e in (primary or {}).get("estimates", [])
            if e["estimand"] == "ITT"
        ),
    }


def _subgroup_tests(
    results: Mapping, primary: Mapping, labels: Mapping, sup: Suppression
) -> list[dict]:
    """One block per subgroup test: its sentence, its forest plot and any level skipped."""
    # a tertile column <outcome>_baseline is named by the outcome's label
    baselines = {f"{o['name']}_baseline": o["label"] for o in results.get("outcomes", [])}
    blocks = []
    tests = primary.get("subgroup_tests") or []
    several_arms = len({t["arm"] for t in tests}) > 1
    for index, test in enumerate(tests):
        arm = labels.get(test["arm"], test["arm"])
        name = humanise(test["variable"])
        kind = "pre-declared" if test["prespecified"] else "exploratory: not declared in the design"
        if test.get("p_value") is None:
            sentence = f"{name} ({kind}): the interaction was not tested. {test.get('note', '')}"
        else:
            holm = (
                f", {format_p_is(test['p_value_holm'])} after Holm's adjustment across the "
                "declared subgroups"
                if test.get("p_value_holm") is not None
                else ", not adjusted for multiplicity (exploratory)"
            )
            sentence = (
                f"{name} ({kind}"
                + (f", {arm} against control" if several_arms else "")
                + "): does the effect differ between its levels? Interaction test "
                f"{format_p_is(test['p_value'])}{holm}."
            )
        if test.get("cut_points"):
            low, high = test["cut_points"]
            sentence += (
                " The levels are thirds of "
                + (
                    f"baseline {baselines[test['column']]}"
                    if test["column"] in baselines
                    else humanise(test["column"])
                )
                + f" cut at "
                f"{format_number(low, 2)} and {format_number(high, 2)}, over everyone "
                "randomised with a baseline value (both arms pooled, measured before "
                "randomisation)."
            )
        rows = []
        for sub in primary.get("subgroups") or []:
            if sub["variable"] != test["variable"] or sub.get("arm", test["arm"]) != test["arm"]:
                continue
            key = subgroup_key(primary["name"], sub)
            if key in sup.values and not sup.is_shown(key):
                continue  # a hidden count is not drawn as a line whose width would give it away
            rows.append(
                {
                    "label": sub["level"],
                    "value": sub["estimate"],
                    "low": sub["ci_low"],
                    "high": sub["ci_high"],
                    "text": f"{format_effect(sub['estimate'], primary)} "
                    f"(95% CI {format_ci(sub['ci_low'], sub['ci_high'], primary)})",
                }
            )
        p_text = (
            f"Interaction {format_p_is(test['p_value'])}"
            + (f", Holm {format_p_is(test['p_value_holm'])}" if test.get("p_value_holm") else "")
            if test.get("p_value") is not None
            else "Interaction not tested"
        )
        direction = "higher" if primary.get("higher_is_better", True) else "lower"
        blocks.append(
            {
                "sentence": sentence,
                "prespecified": test["prespecified"],
                "chart": charts.subgroup_chart(
                    rows,
                    chart_id=f"subgroup-{index}",
                    subgroup=name.lower(),
                    tests=p_text,
                    unit=f"Difference in {primary['label']} ({direction} is better)",
                )
                if rows
                else None,
                # the count in "fewer than 10 participants (6)" is a small cell: not printed
                "skipped": [
                    f"{s['level']}: no estimate of its own, "
                    f"{re.sub(r' [(][0-9]+[)]$', '', s['reason'])}"
                    for s in test.get("skipped") or []
                ],
            }
        )
    return blocks


_CACE_EXPLAINED = (
    "Each arm's main (ITT) estimate compares everyone offered that arm's intervention with "
    "everyone in control, whether or not they took it up: it is the effect of offering it. Only "
    "some of those offered it took it up (the share is on each arm's cards), so the complier "
    "average causal effect (CACE) asks what it did for the people who take it up when it is "
    "offered. It uses random assignment as an instrument for uptake, which roughly scales the "
    "ITT up by the share who took it up, and it assumes that being offered it, without taking it "
    "up, changes nothing."
)


def cace_view(results: Mapping, sup: Suppression) -> dict:
    primary = primary_outcome(results)
    funnel = (results.get("uptake") or {}).get("funnel") or []
    labels = arm_labels(results)
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
                    "outcome": flagged_label(outcome, outcome["label"]),
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
        several = len({b["arm"] for b in blocks}) > 1
        # with several arms each block names its arm beside the outcome, and the section says
        # once what a CACE is (each block's own paragraph would repeat it per outcome and arm);
        # each arm's ITT and share who took it up are on its own cards
        return {
            "blocks": blocks,
            "note": None,
            "several": several,
            "explanation": _CACE_EXPLAINED if several else None,
        }
    partial = [
        r
        for r in funnel
        if r["arm"] != control_arm(results)
        and r.get("started") is not None
        and r.get("allocated")
        and r["started"] < r["allocated"]
    ]
    nearly_all = [r for r in partial if r["started"] >= 0.95 * r["allocated"]]
    if partial and len(nearly_all) == len(partial):
        shares = [
            f"{pct(sup.value(('funnel', r['arm'], 'started')), r['allocated'])} of "
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
    return {"blocks": [], "note": note, "several": False, "explanation": None}


def missing_view(results: Mapping, flow, sup: Suppression) -> dict:
    labels = arm_labels(results)
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
                    "pct": pct(lost, allocated, 1),
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
                    "pct": pct(lost, arm.allocated, 1),
                }
            )
    test = attrition.get("test") or None
    test_text = None
    if test and test.get("p_value") is not None:
        test_text = (
            f"Test of differential attrition ({test.get('method', 'by arm')}): "
            f"{format_p_is(test['p_value'])}"
            + (
                ". Response differed by arm, so complete-case results may be biased."
                if test["p_value"] < 0.05
                else ". No clear difference in response between arms."
            )
        )
    primary = primary_outcome(results)
    sensitivity = []
    agreements = []
    if primary:
        methods = list(primary.get("sensitivity") or [])
        itt = itt_estimate(primary)
        if itt and not any(m["method"] == "complete_case" for m in methods):
            methods.insert(0, {**itt, "method": "complete_case"})
        # each active arm has its own rows (against control), in the order analysed
        by_arm: dict = {}
        for m in methods:
            by_arm.setdefault(m.get("arm") or (itt or {}).get("arm"), []).append(m)
        several = len(by_arm) > 1
        for arm, rows_of_arm in by_arm.items():
            label = labels.get(arm, arm)
            verdicts = set()
            for m in rows_of_arm:
                verdict = effect_verdict(m, higher_is_better=primary.get("higher_is_better", True))
                verdicts.add(verdict)
                key = sensitivity_key(primary["name"], m, several=several)
                sensitivity.append(
                    {
                        "method": _METHOD_LABELS.get(m["method"], humanise(m["method"]))
                        + (f": {label}" if several else ""),
                        "estimate": format_effect(m["estimate"], primary),
                        "ci": format_ci(m["ci_low"], m["ci_high"], primary),
                        "p": format_p(m.get("p_value")),
                        "n": sup.display(key)
                        if key in sup.values
                        else sup.display(("estimate", primary["name"], 0, "n")),
                        "detail": m.get("detail", ""),
                        "primary": m["method"] == "complete_case",
                    }
                )
            agreement = _agreement(results, primary, arm, rows_of_arm, verdicts)
            if agreement and several:
                agreement = f"For {label} against control, {agreement[0].lower()}{agreement[1:]}"
            if agreement:
                agreements.append(agreement)
    return {
        "rows": rows,
        "test": test_text,
        "sensitivity": sensitivity,
        "agreement": " ".join(agreements) or None,
        "outcome": flagged_label(primary, primary["label"]) if primary else None,
    }


def _agreement(
    results: Mapping, primary: Mapping, arm: str | None, rows: list, verdicts: set
) -> str | None:
    """Whether one arm's conclusion survives every way of handling the missing data."""
    if len(rows) < 2:
        return None
    # The bounds drop the missing-at-random assumption the other rows share: the judgement
    # weighs their 95% intervals too, and says which assumption the agreement rests on.
    higher = primary.get("higher_is_better", True)
    bounds = [
        b
        for b in (results.get("attrition") or {}).get("bounds") or []
        if arm is None or b.get("arm") == arm  # the arm the other rows estimate
    ]
    bound_verdicts = {effect_verdict(b, higher_is_better=higher) for b in bounds}
    if len(verdicts) > 1:
        return (
            "The conclusion depends on how the missing data are handled; read the "
            "primary result with that in mind."
        )
    if not bounds or bound_verdicts == verdicts:
        return "The conclusion is the same under every way of handling the missing data" + (
            ", including the bounds that do not assume it is missing at random." if bounds else "."
        )
    return (
        "The conclusion holds under the methods that assume the missing data are "
        "missing at random, but not under the bounds, which drop that assumption: "
        + (
            "their 95% interval includes no difference."
            if "unclear" in bound_verdicts
            else "their 95% interval points the other way."
            if verdicts - {"unclear"}
            else "their 95% interval excludes no difference, which the others do not."
        )
        + " Read the primary result with that in mind."
    )
