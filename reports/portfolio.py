"""Every trial side by side, and a careful answer to "which of these should we fund?".

:func:`portfolio_view` builds the context of ``reports/templates/portfolio.html.j2``
from the trials' results.json documents: one row per trial (shared outcome,
primary outcome, cost, uptake, strength of evidence), the cost-and-effect chart,
and :func:`portfolio_answer`, paragraphs chosen by rule from the verdicts alone.
Pure: mappings in, a dict out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reports import charts
from reports.consort import consort_flow
from reports.disclosure import (
    DISCLOSURE_FOOTNOTE,
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
    format_percent,
    outcome_noun,
)
from reports.headline import headline_sentences
from reports.lookup import (
    active_arms,
    arm_label,
    arm_labels,
    control_arm,
    itt_estimate,
    primary_outcome,
    shared_outcome,
)
from reports.value_of_information import research_line

__all__ = ["PORTFOLIO_SECTIONS", "portfolio_answer", "portfolio_view"]


PORTFOLIO_SECTIONS = (
    ("answer", "Which of these should we fund?"),
    ("comparison", "The trials side by side"),
    ("ce-comparison", "Cost and effect compared"),
    ("trial-notes", "Uptake and strength of evidence"),
)


#: What "clear" also needs where a trial declares Holm across its arms (reports.evidence)
_CLEAR_WITH_HOLM = (
    " and, for a trial that compares several arms with control and declares Holm's adjustment "
    "across them, the primary outcome's Holm-adjusted p-value is below 0.05"
)


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
    labels = arm_labels(results)
    active = [
        row
        for row in uptake.get("funnel") or []
        if row["arm"] != control_arm(results)
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


def _arm_costs(costs: Mapping, arm: str | None) -> Mapping:
    """The costs of ``arm``: the section itself for its first arm, else its ``other_arms`` entry."""
    if arm is None or costs.get("arm") in (None, arm):
        return costs
    return next((c for c in costs.get("other_arms") or [] if c.get("arm") == arm), {})


def _portfolio_row(results: Mapping, arm: str | None = None) -> dict:
    trial = results.get("trial", {})
    primary = primary_outcome(results)
    shared = shared_outcome(results)
    shared_estimate = itt_estimate(shared, arm) if shared else None
    primary_estimate = itt_estimate(primary, arm) if primary else None
    costs = _arm_costs(results.get("costs") or {}, arm)
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
    title = trial.get("title", trial.get("id"))
    return {
        "id": trial.get("id"),
        # one row per active arm in the side-by-side table when there are several
        "title": f"{title}: {arm_label(results, arm)}" if arm else title,
        "unit": trial.get("unit"),
        "cluster_noun": cluster_noun(results),
        "n_clusters": sum(b.get("allocated") or 0 for b in clusters.values()) or None,
        "shared_label": flagged_label(shared, shared["label"]) if shared else None,
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
        "shared_words": VERDICT_WORDS.get(shared_verdict, "Not measured"),
        "primary_label": flagged_label(primary, primary["label"]) if primary else None,
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
        "primary_words": VERDICT_WORDS[primary_verdict],
        "cost": per.get("randomised"),
        "cost_text": format_money(per.get("randomised")),
        "band": costs.get("eef_band") or "\u2014",
        "uptake": _uptake_line(results),
        "evidence": _evidence_line(results),
        "further_research": research_line(results),
        "headline": " ".join(headline_sentences(results)),
    }


def _arm_rows(results: Mapping) -> list[dict]:
    """The trial's rows of the side-by-side table: one per active arm when it has several,
    each against control, so a second arm's result is compared as the first's is."""
    arms = active_arms(results)
    if len(arms) < 2:
        return [_portfolio_row(results)]
    return [_portfolio_row(results, arm) for arm in arms]


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
    by a caveat (:func:`reports.evidence.evidence_caveats`) is a "possible"
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
    shared = next((shared_outcome(r) for r in results if shared_outcome(r)), None)
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
    noun, _ = _shared_noun(results)
    return _answer([row for r in results for row in _arm_rows(r)], noun)


def portfolio_view(results: Sequence[Mapping]) -> dict:
    """Everything the portfolio template prints: every trial side by side, the chart, the answer.

    Parameters
    ----------
    results : sequence of mapping
        results.json documents, one per trial, in the order to show them.

    Returns
    -------
    dict
        The template context (see ``reports/templates/portfolio.html.j2``).
    """
    rows = [_portfolio_row(r) for r in results]
    table_rows = [row for r in results for row in _arm_rows(r)]
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
            for r in table_rows
        ],
        effect_label=shared_noun,
        chart_id="portfolio",
    )
    not_measured = [r["title"] for r in rows if r["shared_label"] is None]
    # a trial declaring Holm across its arms is "clear" only with the Holm p below 0.05 too
    # (reports.evidence): the definition says so, or it contradicts the verdicts beside it
    holm = any(
        e.get("p_value_holm") is not None
        for r in results
        for e in (primary_outcome(r) or {}).get("estimates", [])
    )
    return {
        "clear_also": _CLEAR_WITH_HOLM if holm else "",
        "multi_arm": any(len(active_arms(r)) > 1 for r in results),
        "title": "Portfolio of staff-wellbeing trials",
        "sections": PORTFOLIO_SECTIONS,
        "rows": rows,
        "table_rows": table_rows,
        "shared_noun": shared_noun,
        "shared_label": shared["label"] if shared else None,
        "not_measured": not_measured,
        "answer": _answer(table_rows, shared_noun),
        "chart": chart,
        "bands": EEF_BANDS,
        "footnote": DISCLOSURE_FOOTNOTE,
        "suppressed": False,
    }
