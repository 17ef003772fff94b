"""Plain-language headlines generated from the numbers, and the number formats every report uses.

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

The formatting functions here are the single source of how a number looks in
a report; the tests format fixture values with them and look for the result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "CAVEAT_KINDS",
    "MINUS",
    "Caveat",
    "cluster_noun",
    "effect_verdict",
    "evidence_caveats",
    "evidence_verdict",
    "format_ci",
    "format_count",
    "format_effect",
    "format_money",
    "format_number",
    "format_p",
    "format_percent",
    "caveat_reasons",
    "headline",
    "headline_sentences",
    "is_proportion",
    "outcome_noun",
    "placeholder_scoring_note",
    "primary_outcome",
    "itt_estimate",
]

#: The typographic minus sign: a hyphen is easy to miss in a printed CI.
MINUS = "\u2212"

#: Instruments whose plain-language name and scale are fixed (label text is free).
_INSTRUMENT_NOUNS = {
    "swemwbs": ("wellbeing", "SWEMWBS"),
    "wemwbs": ("wellbeing", "WEMWBS"),
    "ghq12": ("psychological distress", "GHQ-12"),
    "wrqol": ("quality of working life", "WRQoL"),
    "turnover": ("staff turnover", None),
    "absence": ("sickness absence", None),
}
_INSTRUMENT_SCALES = {
    "swemwbs": ("SWEMWBS", 7, 35),
    "wemwbs": ("WEMWBS", 14, 70),
    "ghq12": ("GHQ-12", 0, 36),
    "wrqol": ("WRQoL", 23, 115),
}
#: Fewer clusters than this and the headline warns that only large effects are detectable.
_FEW_CLUSTERS = 10
#: Uptake below this share of the active arm gets its own headline sentence.
_LOW_UPTAKE_PCT = 50.0
#: Fewer clusters than this in an arm and the model's interval (and a cluster bootstrap) is not trusted.
FEW_CLUSTERS_PER_ARM = 5
#: The level at which the model and an alternative analysis must agree.
_ALPHA = 0.05
#: What can weaken a result, with the words that name it in a sentence.
CAVEAT_KINDS = {
    "randomisation_inference": "randomisation inference",
    "multiple_imputation": "multiple imputation",
    "ipw": "inverse-probability weighting",
    "few_clusters": "fewer than 5 clusters in an arm",
}


# --------------------------------------------------------------------------- numbers


def format_number(value: float | None, decimals: int = 2, *, signed: bool = False) -> str:
    """A number with a fixed number of decimals, a true minus sign, and "+" if ``signed``.

    ``None`` (a value that could not be computed) is shown as an em dash.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "\u2014"
    text = f"{abs(value):,.{decimals}f}"
    if float(text.replace(",", "")) == 0:
        return text
    if value < 0:
        return MINUS + text
    return "+" + text if signed else text


def format_count(value: int | None) -> str:
    """A count with thousands separators (1,315)."""
    return "\u2014" if value is None else f"{int(value):,}"


def format_percent(value: float | None, decimals: int = 0) -> str:
    """A value already in percent (20.5 -> "20.5%" or "20%")."""
    if value is None:
        return "\u2014"
    if 0 < abs(value) < 0.5 * 10**-decimals:
        return f"<{10**-decimals:g}%"
    return f"{format_number(value, decimals)}%"


def format_money(value: float | None) -> str:
    """Pounds: pence below £1,000 (£3.10), whole pounds from £1,000 (£1,598)."""
    if value is None:
        return "\u2014"
    decimals = 0 if abs(value) >= 1000 else 2
    text = f"£{abs(value):,.{decimals}f}"
    return MINUS + text if value < 0 else text


def format_p(value: float | None) -> str:
    """A p-value: three decimals, or "<0.001"."""
    if value is None:
        return "\u2014"
    if value < 0.001:
        return "<0.001"
    return f"{value:.3f}"


def is_proportion(outcome: Mapping) -> bool:
    """Binary outcomes and HR rates are proportions: effects are shown in percentage points."""
    if outcome.get("binary"):
        return True
    if outcome.get("source") != "hr":
        return False
    means = [a.get("mean") for a in outcome.get("arms", []) if a.get("mean") is not None]
    return bool(means) and all(0 <= m <= 1 for m in means)


def _scale_factor(outcome: Mapping) -> float:
    return 100.0 if is_proportion(outcome) else 1.0


def format_effect(value: float | None, outcome: Mapping, *, signed: bool = True) -> str:
    """An effect in the outcome's reporting units: 2 decimals, or percentage points (1 decimal)."""
    if value is None:
        return "\u2014"
    if is_proportion(outcome):
        return format_number(100 * value, 1, signed=signed) + " pp"
    return format_number(value, 2, signed=signed)


def format_ci(low: float | None, high: float | None, outcome: Mapping) -> str:
    """A 95% CI in the outcome's reporting units: "0.09 to 0.75", "−2.1 to 5.3 pp"."""
    if low is None or high is None:
        return "\u2014"
    if is_proportion(outcome):
        return f"{format_number(100 * low, 1)} to {format_number(100 * high, 1)} pp"
    return f"{format_number(low, 2)} to {format_number(high, 2)}"


def format_mean(value: float | None, outcome: Mapping) -> str:
    """An arm mean: a percentage for proportions, 2 decimals otherwise."""
    if value is None:
        return "\u2014"
    if is_proportion(outcome):
        return format_percent(100 * value, 1)
    return format_number(value, 2)


# --------------------------------------------------------------------------- words


def primary_outcome(results: Mapping) -> Mapping | None:
    """The primary outcome (the first one flagged primary), or ``None``."""
    return next((o for o in results.get("outcomes", []) if o.get("primary")), None)


def itt_estimate(outcome: Mapping | None, arm: str | None = None) -> Mapping | None:
    """The ITT estimate for ``arm`` (default: the first active arm estimated)."""
    if not outcome:
        return None
    return next(
        (
            e
            for e in outcome.get("estimates", [])
            if e.get("estimand") == "ITT" and (arm is None or e.get("arm") == arm)
        ),
        None,
    )


def outcome_noun(outcome: Mapping, *, with_instrument: bool = True) -> str:
    """What the outcome measures, in words that fit mid-sentence ("wellbeing (SWEMWBS)").

    ``with_instrument=False`` drops the instrument's name, for sentences whose
    units name it already ("points on the 7-35 SWEMWBS scale").
    """
    instrument = str(outcome.get("instrument", "")).lower()
    if instrument in _INSTRUMENT_NOUNS:
        noun, name = _INSTRUMENT_NOUNS[instrument]
        return f"{noun} ({name})" if name and with_instrument else noun
    label = re.sub(r"\s*\([^)]*\)\s*$", "", str(outcome.get("label") or outcome.get("name")))
    if len(label) > 1 and label[1].islower():
        label = label[0].lower() + label[1:]
    return label.strip()


def _units(outcome: Mapping) -> str:
    if is_proportion(outcome):
        return "percentage points"
    instrument = str(outcome.get("instrument", "")).lower()
    if instrument in _INSTRUMENT_SCALES:
        name, low, high = _INSTRUMENT_SCALES[instrument]
        return f"points on the {low}\u2013{high} {name} scale"
    low, high = outcome.get("scale_min"), outcome.get("scale_max")
    if low is not None and high is not None:
        return f"points on a {low:g}\u2013{high:g} scale"
    return "points"


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


def effect_verdict(estimate: Mapping | None, *, higher_is_better: bool) -> str:
    """'benefit', 'harm', 'unclear' (the 95% CI spans zero) or 'not estimated'."""
    if not estimate:
        return "not estimated"
    low, high = estimate.get("ci_low"), estimate.get("ci_high")
    if low is None or high is None:
        return "not estimated"
    if low <= 0 <= high:
        return "unclear"
    rose = low > 0
    return "benefit" if rose == higher_is_better else "harm"


# --------------------------------------------------------------------------- caveats


@dataclass(frozen=True)
class Caveat:
    """One reason a result is weaker than its confidence interval suggests.

    Attributes
    ----------
    kind : str
        A key of :data:`CAVEAT_KINDS`.
    p_value : float or None
        The alternative analysis's p-value (None for ``few_clusters``).
    clusters : dict or None
        For ``few_clusters``: clusters allocated per arm, control first.
    """

    kind: str
    p_value: float | None = None
    clusters: Mapping[str, int] | None = None


def _significant(row: Mapping) -> bool | None:
    """Whether a row's result is significant at 5%: its p-value, else its 95% CI."""
    if row.get("p_value") is not None:
        return row["p_value"] < _ALPHA
    low, high = row.get("ci_low"), row.get("ci_high")
    if low is None or high is None:
        return None
    return not low <= 0 <= high


def _clusters_per_arm(results: Mapping, arm: str | None) -> dict[str, int] | None:
    """Clusters allocated to the control arm and ``arm`` (a cluster trial only), control first."""
    trial = results.get("trial", {})
    boxes = (results.get("consort") or {}).get("clusters") or {}
    if trial.get("unit") != "cluster" or not boxes:
        return None
    control = trial.get("control_arm")
    arms = [a for a in (control, arm) if a in boxes] or list(boxes)
    return {a: int(boxes[a].get("allocated") or 0) for a in arms}


def evidence_caveats(
    results: Mapping, *, outcome: Mapping | None = None, arm: str | None = None
) -> list[Caveat]:
    """What weakens an outcome's ITT result beyond its confidence interval.

    Parameters
    ----------
    results : mapping
        A results.json document.
    outcome : mapping, optional
        One of its outcomes (default: the primary).
    arm : str, optional
        The active arm (default: the first one estimated).

    Returns
    -------
    list of Caveat
        In the order a sentence names them: few clusters, randomisation
        inference, multiple imputation, inverse-probability weighting.  Empty
        when nothing weakens the result or it was not estimated.

    Notes
    -----
    Three checks, each of which alone is a caveat:

    - an alternative analysis *disagrees with the model at the 5% level*: one
      of the model's p-value and the alternative's is below 0.05 and the other
      is not.  The alternatives are randomisation inference (``ri_p_value``)
      and the primary's missing-data sensitivity analyses (multiple
      imputation, IPW), which are run for the first active arm;
    - a cluster trial with fewer than 5 clusters allocated to the control arm
      or to ``arm``: CR2 intervals then rest on a handful of clusters and a
      cluster bootstrap has almost nothing to resample.
    """
    outcome = outcome if outcome is not None else primary_outcome(results)
    estimate = itt_estimate(outcome, arm)
    if not outcome or not estimate:
        return []
    caveats: list[Caveat] = []
    clusters = _clusters_per_arm(results, estimate.get("arm"))
    if clusters and min(clusters.values()) < FEW_CLUSTERS_PER_ARM:
        caveats.append(Caveat("few_clusters", clusters=clusters))
    model = _significant(estimate)
    if model is None:
        return caveats
    ri = estimate.get("ri_p_value")
    if ri is not None and (ri < _ALPHA) != model:
        caveats.append(Caveat("randomisation_inference", p_value=ri))
    active = _active_arms(results)
    for method in ("multiple_imputation", "ipw"):
        row = next((m for m in outcome.get("sensitivity") or [] if m.get("method") == method), None)
        if row is None or row.get("p_value") is None:
            continue
        # the sensitivity analyses are for the first active arm unless a row says otherwise
        if (row.get("arm") or (active[0] if active else None)) not in (None, estimate.get("arm")):
            continue
        if (row["p_value"] < _ALPHA) != model:
            caveats.append(Caveat(method, p_value=row["p_value"]))
    return caveats


def caveat_reasons(results: Mapping, caveats: Sequence[Caveat]) -> str:
    """The caveats as one clause: "with 5 organisations (3 control, 2 intervention), randomisation
    inference gives p = 0.095 and multiple imputation p = 0.149"."""
    few = next((c for c in caveats if c.kind == "few_clusters"), None)
    tests = [c for c in caveats if c.p_value is not None]
    parts = [
        f"{CAVEAT_KINDS[c.kind]} {'gives ' if i == 0 else ''}p = {format_p(c.p_value)}"
        for i, c in enumerate(tests)
    ]
    text = (
        ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + (parts[-1] if parts else "")
    )
    if few is None:
        return text
    total = sum(few.clusters.values())
    control = results.get("trial", {}).get("control_arm")
    several = len(_active_arms(results)) > 1
    per_arm = ", ".join(
        f"{n} {'control' if a == control else (_arm_label(results, a) if several else 'intervention')}"
        for a, n in few.clusters.items()
    )
    # with several active arms the count is of this comparison's clusters, not the trial's
    counted = f"{total} {cluster_noun(results, total)}{' in this comparison' if several else ''} ({per_arm})"
    if text:
        return f"with {counted}, {text}"
    verb = "" if several else " were randomised"
    return f"only {counted}{verb}, too few to trust the confidence interval"


def evidence_verdict(results: Mapping, outcome: Mapping, estimate: Mapping | None) -> str:
    """:func:`effect_verdict`, made "possible benefit" / "possible harm" by any caveat."""
    verdict = effect_verdict(estimate, higher_is_better=bool(outcome.get("higher_is_better", True)))
    if verdict in ("benefit", "harm") and evidence_caveats(
        results, outcome=outcome, arm=estimate.get("arm")
    ):
        return f"possible {verdict}"
    return verdict


def placeholder_scoring_note(outcome: Mapping) -> str | None:
    """The flag shown beside a score computed with a placeholder scoring map (WRQoL), or None."""
    if not outcome.get("scoring_placeholder"):
        return None
    name = _INSTRUMENT_NOUNS.get(str(outcome.get("instrument", "")).lower(), (None, None))[1]
    return (
        f"scored with the placeholder {name or 'scoring'} item map, not the licensed one, so "
        "the total is right only if its reversed items are"
    )


def _weak_effect_sentences(
    subject: str, results: Mapping, outcome: Mapping, estimate: Mapping, caveats: Sequence[Caveat]
) -> list[str]:
    """A clear CI undercut by a caveat: the caveat first, the model's numbers second."""
    factor = _scale_factor(outcome)
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
        f"{format_number(abs(value), decimals)} {_units(outcome)} (95% CI "
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
    factor = _scale_factor(outcome)
    value = estimate["estimate"] * factor
    low, high = estimate["ci_low"] * factor, estimate["ci_high"] * factor
    decimals = _headline_decimals([value, low, high], keep_sign=False)
    mixed = any(c.p_value is not None for c in caveats)
    first = (
        f"{subject} had no clear effect on {outcome_noun(outcome, with_instrument=False)}, and the "
        f"evidence is {'mixed' if mixed else 'weak'}: {caveat_reasons(results, caveats)}."
    )
    second = (
        f"The estimate was {format_number(value, decimals, signed=True)} {_units(outcome)} "
        f"(95% CI {format_number(low, decimals)} to {format_number(high, decimals)}), "
        "a range that includes no difference."
    )
    return [first, second]


def _clear_effect_sentence(subject: str, outcome: Mapping, estimate: Mapping) -> str:
    factor = _scale_factor(outcome)
    value = estimate["estimate"] * factor
    low, high = sorted((abs(estimate["ci_low"] * factor), abs(estimate["ci_high"] * factor)))
    decimals = _headline_decimals([value, low, high], keep_sign=True)
    verb = "raised" if value > 0 else "reduced"
    sentence = (
        f"{subject} {verb} {outcome_noun(outcome, with_instrument=False)} by {format_number(abs(value), decimals)} "
        f"{_units(outcome)} (95% CI {format_number(low, decimals)} to {format_number(high, decimals)})."
    )
    higher_is_better = bool(outcome.get("higher_is_better", True))
    if effect_verdict(estimate, higher_is_better=higher_is_better) == "harm":
        better = "Higher" if higher_is_better else "Lower"
        sentence += f" {better} scores are better on this measure, so this is a worse result."
    return sentence


def _unclear_effect_sentence(subject: str, outcome: Mapping, estimate: Mapping) -> str:
    factor = _scale_factor(outcome)
    value = estimate["estimate"] * factor
    low, high = estimate["ci_low"] * factor, estimate["ci_high"] * factor
    decimals = _headline_decimals([value, low, high], keep_sign=False)
    return (
        f"{subject} had no clear effect on {outcome_noun(outcome, with_instrument=False)}: "
        "the estimate was "
        f"{format_number(value, decimals, signed=True)} {_units(outcome)} "
        f"(95% CI {format_number(low, decimals)} to {format_number(high, decimals)}), "
        "a range that includes no difference."
    )


def _arm_label(results: Mapping, arm: str) -> str:
    for entry in results.get("trial", {}).get("arms", []):
        if entry.get("name") == arm:
            return entry.get("label") or arm
    return arm


def _active_arms(results: Mapping) -> list[str]:
    trial = results.get("trial", {})
    control = trial.get("control_arm")
    return [a["name"] for a in trial.get("arms", []) if a.get("name") != control]


def _subject(results: Mapping, arm: str) -> str:
    """The trial title names the intervention when there is one active arm; else the arm."""
    if len(_active_arms(results)) <= 1:
        return results.get("trial", {}).get("title") or _arm_label(results, arm)
    return _arm_label(results, arm)


def _not_estimated_sentence(results: Mapping, outcome: Mapping, arm: str) -> str:
    box = results.get("consort", {}).get("individuals", {}).get(arm, {})
    noun = outcome_noun(outcome)
    if box and box.get("analysed") == 0:
        return (
            f"The effect on {noun} could not be estimated: no one in the "
            f"{_arm_label(results, arm)} arm was followed up "
            f"(0 of {format_count(box.get('allocated'))} analysed)."
        )
    return f"The effect on {noun} could not be estimated from these results."


def _shared_outcome(results: Mapping) -> Mapping | None:
    return next(
        (
            o
            for o in results.get("outcomes", [])
            if str(o.get("instrument", "")).lower() in ("swemwbs", "wemwbs")
            and not o.get("primary")
        ),
        None,
    )


def _uptake_sentence(results: Mapping) -> str | None:
    uptake = results.get("uptake") or {}
    control = results.get("trial", {}).get("control_arm")
    for row in uptake.get("funnel") or []:
        if row.get("arm") == control or not row.get("allocated"):
            continue
        pct = row.get("started_pct")
        if pct is None and row.get("started") is not None:
            pct = 100 * row["started"] / row["allocated"]
        if pct is not None and pct < _LOW_UPTAKE_PCT:
            return f"Only {format_percent(pct)} of those offered it took it up."
    return None


def cluster_noun(results: Mapping, count: int | None = None) -> str:
    """The plural (or singular, for a count of 1) name of the trial's clusters: "buildings"."""
    name = str(results.get("trial", {}).get("cluster_by") or "cluster").replace("_", " ")
    if count == 1:
        return name
    if name.endswith("s"):
        return name
    if name.endswith("y") and name[-2:-1] not in tuple("aeiou"):
        return name[:-1] + "ies"  # local authority -> local authorities
    return name + "s"


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
    per = ((results.get("costs") or {}).get("per_participant")) or {}
    if per.get("randomised") is None:
        return None
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
    """
    sentences: list[str] = []
    primary = primary_outcome(results)
    arms = _active_arms(results) or [None]
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
    shared = _shared_outcome(results)
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
