"""Plain-language headlines generated from the numbers.

A commissioner reads the headline and little else, so the words are chosen by
rule from the estimate and its confidence interval, never typed by hand:

- a 95% CI that excludes zero gives a direction word ("raised", "reduced");
- a CI that spans zero gives "no clear effect", never "no effect": a trial
  that cannot tell is not evidence that nothing happened;
- whether a change is good or bad comes from the outcome's
  ``higher_is_better`` flag, so "reduced psychological distress" is a benefit
  and "reduced wellbeing" is a harm, and a harm is said to be one;
- a result is no bolder than its weakest support: when randomisation
  inference, multiple imputation or inverse-probability weighting disagree
  with the model at the 5% level, or an arm has fewer than 5 clusters
  (:func:`evidence_caveats`), the first sentence says so ("may have
  reduced ..., but the evidence is weak: ...") and the verdict is "possible
  benefit", never "benefit".

Numbers are formatted by :mod:`reports.format` and the caveats found by
:mod:`reports.evidence`; this module only puts them into sentences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reports.amendments import post_hoc_plan_sentence
from reports.evidence import (
    Caveat,
    caveat_reasons,
    effect_verdict,
    evidence_caveats,
    evidence_verdict,
)
from reports.format import (
    cluster_noun,
    format_ci,
    format_count,
    format_effect,
    format_money,
    format_number,
    format_p,
    format_percent,
    outcome_noun,
    outcome_units,
    placeholder_scoring_note,
    reporting_scale,
)
from reports.lookup import (
    active_arms,
    arm_label,
    itt_estimate,
    primary_outcome,
    shared_outcome,
)

__all__ = ["headline", "headline_sentences"]


#: Fewer clusters than this and the headline warns that only large effects are detectable.
_FEW_CLUSTERS = 10
#: Uptake below this share of the active arm gets its own headline sentence.
_LOW_UPTAKE_PCT = 50.0


def _headline_decimals(values: Sequence[float], *, keep_sign: bool) -> int:
    """Fewest decimals (1 to 3) at which no shown value rounds to zero.

    A CI that excludes zero must not be printed as "0.0 to 0.7"; a CI that
    spans zero only needs its estimate to stay visible.
    """
    for decimals in (1, 2, 3):
        shown = [round(v, decimals) for v in values]
        if keep_sign and all(s != 0 for s in shown) or not keep_sign and shown[0] != 0:
            return decimals
    return 3


def _weak_effect_sentences(
    subject: str, results: Mapping, outcome: Mapping, estimate: Mapping, caveats: Sequence[Caveat]
) -> list[str]:
    """A clear CI undercut by a caveat: the caveat first, the model's numbers second."""
    factor = reporting_scale(outcome)
    value = estimate["estimate"] * factor
    low, high = sorted((abs(estimate["ci_low"] * factor), abs(estimate["ci_high"] * factor)))
    decimals = _headline_decimals([value, low, high], keep_sign=True)
    verb = "raised" if value > 0 else "reduced"
    first = (
        f"{subject} may have {verb} {outcome_noun(outcome, with_instrument=False)}, but the "
        f"evidence is weak: {caveat_reasons(results, caveats)}."
    )
    p = estimate.get("p_value")
    p_text = "" if p is None else "; p < 0.001" if p < 0.001 else f"; p = {format_p(p)}"
    second = (
        f"The model's estimate is {'an increase' if value > 0 else 'a reduction'} of "
        f"{format_number(abs(value), decimals)} {outcome_units(outcome)} (95% CI "
        f"{format_number(low, decimals)} to {format_number(high, decimals)}{p_text})."
    )
    higher_is_better = bool(outcome.get("higher_is_better", True))
    if effect_verdict(estimate, higher_is_better=higher_is_better) == "harm":
        better = "Higher" if higher_is_better else "Lower"
        second += f" {better} scores are better on this measure, so this would be a worse result."
    return [first, second]


def _unclear_with_caveats_sentences(
    subject: str, results: Mapping, outcome: Mapping, estimate: Mapping, caveats: Sequence[Caveat]
) -> list[str]:
    """A CI that spans zero, with a caveat: an alternative analysis that finds an effect, or few clusters."""
    factor = reporting_scale(outcome)
    value = estimate["estimate"] * factor
    low, high = estimate["ci_low"] * factor, estimate["ci_high"] * factor
    decimals = _headline_decimals([value, low, high], keep_sign=False)
    mixed = any(c.p_value is not None for c in caveats)
    first = (
        f"{subject} had no clear effect on {outcome_noun(outcome, with_instrument=False)}, and the "
        f"evidence is {'mixed' if mixed else 'weak'}: {caveat_reasons(results, caveats)}."
    )
    second = (
        f"The estimate was {format_number(value, decimals, signed=True)} {outcome_units(outcome)} "
        f"(95% CI {format_number(low, decimals)} to {format_number(high, decimals)}), "
        "a range that includes no difference."
    )
    return [first, second]


def _clear_effect_sentence(subject: str, outcome: Mapping, estimate: Mapping) -> str:
    factor = reporting_scale(outcome)
    value = estimate["estimate"] * factor
    low, high = sorted((abs(estimate["ci_low"] * factor), abs(estimate["ci_high"] * factor)))
    decimals = _headline_decimals([value, low, high], keep_sign=True)
    verb = "raised" if value > 0 else "reduced"
    sentence = (
        f"{subject} {verb} {outcome_noun(outcome, with_instrument=False)} by {format_number(abs(value), decimals)} "
        f"{outcome_units(outcome)} (95% CI {format_number(low, decimals)} to {format_number(high, decimals)})."
    )
    higher_is_better = bool(outcome.get("higher_is_better", True))
    if effect_verdict(estimate, higher_is_better=higher_is_better) == "harm":
        better = "Higher" if higher_is_better else "Lower"
        sentence += f" {better} scores are better on this measure, so this is a worse result."
    return sentence


def _unclear_effect_sentence(subject: str, outcome: Mapping, estimate: Mapping) -> str:
    factor = reporting_scale(outcome)
    value = estimate["estimate"] * factor
    low, high = estimate["ci_low"] * factor, estimate["ci_high"] * factor
    decimals = _headline_decimals([value, low, high], keep_sign=False)
    return (
        f"{subject} had no clear effect on {outcome_noun(outcome, with_instrument=False)}: "
        "the estimate was "
        f"{format_number(value, decimals, signed=True)} {outcome_units(outcome)} "
        f"(95% CI {format_number(low, decimals)} to {format_number(high, decimals)}), "
        "a range that includes no difference."
    )


def _subject(results: Mapping, arm: str) -> str:
    """The trial title names the intervention when there is one active arm; else the arm."""
    if len(active_arms(results)) <= 1:
        return results.get("trial", {}).get("title") or arm_label(results, arm)
    return arm_label(results, arm)


def _not_estimated_sentence(results: Mapping, outcome: Mapping, arm: str) -> str:
    box = results.get("consort", {}).get("individuals", {}).get(arm, {})
    noun = outcome_noun(outcome)
    if box and box.get("analysed") == 0:
        return (
            f"The effect on {noun} could not be estimated: no one in the "
            f"{arm_label(results, arm)} arm was followed up "
            f"(0 of {format_count(box.get('allocated'))} analysed)."
        )
    return f"The effect on {noun} could not be estimated from these results."


def _uptake_sentence(results: Mapping) -> str | None:
    uptake = results.get("uptake") or {}
    control = results.get("trial", {}).get("control_arm")
    shares = []
    for row in uptake.get("funnel") or []:
        if row.get("arm") == control or not row.get("allocated"):
            continue
        pct = row.get("started_pct")
        if pct is None and row.get("started") is not None:
            pct = 100 * row["started"] / row["allocated"]
        if pct is not None:
            shares.append((row["arm"], pct))
    if len(active_arms(results)) > 1 and len(shares) > 1:
        # each arm's own share: "it" would leave the reader to guess which arm's it was
        if not any(pct < _LOW_UPTAKE_PCT for _, pct in shares):
            return None
        each = [
            f"{format_percent(pct)} in the {arm_label(results, arm)} arm" for arm, pct in shares
        ]
        return f"Of those offered it, {', '.join(each[:-1])} and {each[-1]} took it up."
    for _, pct in shares:
        if pct < _LOW_UPTAKE_PCT:
            return f"Only {format_percent(pct)} of those offered it took it up."
    return None


def _few_clusters_sentence(results: Mapping) -> str | None:
    if results.get("trial", {}).get("unit") != "cluster":
        return None
    clusters = (results.get("consort") or {}).get("clusters") or {}
    count = sum(box.get("allocated") or 0 for box in clusters.values())
    if 0 < count < _FEW_CLUSTERS:
        return (
            f"With only {count} {cluster_noun(results, count)} randomised, "
            "the trial could detect only large effects."
        )
    return None


def _cost_sentence(results: Mapping) -> str | None:
    costs = results.get("costs") or {}
    per = costs.get("per_participant") or {}
    if per.get("randomised") is None:
        return None
    if costs.get("other_arms"):  # several active arms: each one's, named, or the reader guesses
        each = [
            f"{format_money(c['per_participant']['randomised'])} in the "
            f"{arm_label(results, c.get('arm'))} arm"
            for c in (costs, *costs["other_arms"])
            if (c.get("per_participant") or {}).get("randomised") is not None
        ]
        if len(each) > 1:
            return f"The cost per participant was {', '.join(each[:-1])} and {each[-1]}."
    sentence = f"The cost was {format_money(per['randomised'])} per participant"
    if per.get("per_attendee_per_round") is not None:
        sentence += f" ({format_money(per['per_attendee_per_round'])} per attendee per Round)"
    return sentence + "."


def headline_sentences(results: Mapping) -> tuple[str, ...]:
    """The headline as sentences: primary effect per active arm, shared wellbeing outcome, uptake, cost.

    Parameters
    ----------
    results : mapping
        A results.json document (schema ``analysis/results.schema.json``).

    Returns
    -------
    tuple of str
        Plain-language sentences, each ending with a full stop.

    Notes
    -----
    For each active arm the primary ITT estimate :math:`\\hat\\tau` with 95% CI
    :math:`[l, u]` gives a "clear" sentence when :math:`0 \\notin [l, u]`
    ("raised" if :math:`\\hat\\tau > 0`, else "reduced", followed by a warning
    when that direction is worse for staff) and a "no clear effect" sentence
    otherwise.  Numbers use the fewest decimals (1 to 3) that keep every
    shown bound away from zero.  Proportions are stated in percentage points.

    When :func:`evidence_caveats` finds a caveat (an alternative analysis
    that disagrees with the model at the 5% level, or fewer than 5 clusters
    in an arm), the first sentence carries it: "may have reduced ..., but
    the evidence is weak: ..." for a clear CI, "had no clear effect ..., and
    the evidence is mixed: ..." for one that spans zero; the model's numbers
    follow in a second sentence.

    An amendment that changed the analysis plan after outcome data were stored
    (:func:`reports.amendments.post_hoc_plan_changes`) puts "The analysis plan
    was changed after outcome data were collected: ..." first, before any result.
    """
    # a plan changed after the outcomes were in comes before any result (reports.amendments)
    post_hoc = post_hoc_plan_sentence(results)
    sentences: list[str] = [post_hoc] if post_hoc else []
    primary = primary_outcome(results)
    arms = active_arms(results) or [None]
    few_clusters_said = False
    if primary is None:
        sentences.append("No primary outcome was analysed.")
    else:
        for arm in arms:
            estimate = itt_estimate(primary, arm)
            subject = _subject(results, estimate["arm"] if estimate else (arm or ""))
            verdict = effect_verdict(
                estimate, higher_is_better=bool(primary.get("higher_is_better", True))
            )
            caveats = evidence_caveats(
                results, outcome=primary, arm=estimate["arm"] if estimate else arm
            )
            few_clusters_said |= any(c.kind == "few_clusters" for c in caveats)
            if verdict == "not estimated":
                sentences.append(_not_estimated_sentence(results, primary, arm))
            elif caveats and verdict == "unclear":
                sentences += _unclear_with_caveats_sentences(
                    subject, results, primary, estimate, caveats
                )
            elif caveats:
                sentences += _weak_effect_sentences(subject, results, primary, estimate, caveats)
            elif verdict == "unclear":
                sentences.append(_unclear_effect_sentence(subject, primary, estimate))
            else:
                sentences.append(_clear_effect_sentence(subject, primary, estimate))
    if primary is not None and placeholder_scoring_note(primary):
        sentences.append(
            f"Read the {outcome_noun(primary)} result with care: it is "
            f"{placeholder_scoring_note(primary)}."
        )
    shared = shared_outcome(results, include_primary=False)
    if shared is not None:
        estimate = itt_estimate(shared)
        verdict = evidence_verdict(results, shared, estimate)
        if verdict == "unclear":
            sentences.append(f"There was no clear effect on {outcome_noun(shared)}.")
        elif verdict in ("benefit", "harm"):
            sentences.append(
                _clear_effect_sentence(_subject(results, estimate["arm"]), shared, estimate)
            )
        elif verdict.startswith("possible"):
            reasons = caveat_reasons(
                results, evidence_caveats(results, outcome=shared, arm=estimate["arm"])
            )
            sentences.append(
                f"It may also have {'raised' if estimate['estimate'] > 0 else 'reduced'} "
                f"{outcome_noun(shared)} ({format_effect(estimate['estimate'], shared)}, 95% CI "
                f"{format_ci(estimate['ci_low'], estimate['ci_high'], shared)}), but the evidence "
                f"is weak: {reasons}."
            )
    for extra in (
        None if few_clusters_said else _few_clusters_sentence(results),
        _uptake_sentence(results),
        _cost_sentence(results),
    ):
        if extra:
            sentences.append(extra)
    return tuple(sentences)


def headline(results: Mapping) -> str:
    """The headline as one paragraph (see :func:`headline_sentences`)."""
    return " ".join(headline_sentences(results))
