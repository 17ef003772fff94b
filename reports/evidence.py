"""How strong a result is: its verdict, and the caveats that weaken it beyond its CI.

A result is no bolder than its weakest support: when randomisation inference,
multiple imputation or inverse-probability weighting disagree with the model
at the 5% level, or an arm has fewer than 5 clusters (:func:`evidence_caveats`),
a clear benefit becomes a "possible benefit" (:func:`evidence_verdict`), and
the headline, the trial report and the portfolio all say why
(:func:`caveat_reasons`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reports.format import cluster_noun, format_p
from reports.lookup import active_arms, arm_label, itt_estimate, primary_outcome

__all__ = [
    "CAVEAT_KINDS",
    "FEW_CLUSTERS_PER_ARM",
    "VERDICT_WORDS",
    "Caveat",
    "caveat_reasons",
    "effect_verdict",
    "evidence_caveats",
    "evidence_verdict",
]

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
    "holm_across_arms": "Holm's adjustment across the arms",
}

#: A verdict as a table cell says it.
VERDICT_WORDS = {
    "benefit": "Clear benefit",
    "harm": "Clear harm",
    # a clear CI undercut by a caveat (evidence_caveats): never "Clear"
    "possible benefit": "Possible benefit (weak evidence)",
    "possible harm": "Possible harm (weak evidence)",
    "unclear": "No clear effect",
    "not estimated": "Not estimated",
}


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
        In the order a sentence names them: few clusters, Holm across the
        arms, randomisation inference, multiple imputation,
        inverse-probability weighting.  Empty when nothing weakens the result
        or it was not estimated.

    Notes
    -----
    Three checks, each of which alone is a caveat:

    - an alternative analysis *disagrees with the model at the 5% level*: one
      of the model's p-value and the alternative's is below 0.05 and the other
      is not.  The alternatives are randomisation inference (``ri_p_value``)
      and the primary's missing-data sensitivity analyses (multiple
      imputation, IPW), which are run for each active arm against control;
    - a cluster trial with fewer than 5 clusters allocated to the control arm
      or to ``arm``: CR2 intervals then rest on a handful of clusters and a
      cluster bootstrap has almost nothing to resample;
    - the primary of a multi-arm design that declares Holm across its arms
      (``p_value_holm`` on its ITT): the adjusted p-value is at or above 0.05
      while the model's CI excludes zero.  The trial compared several arms
      with control, so one comparison's unadjusted 5% says more than it may.
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
    holm = estimate.get("p_value_holm") if outcome.get("primary") else None
    if holm is not None and model and holm >= _ALPHA:
        caveats.append(Caveat("holm_across_arms", p_value=holm))
    ri = estimate.get("ri_p_value")
    if ri is not None and (ri < _ALPHA) != model:
        caveats.append(Caveat("randomisation_inference", p_value=ri))
    active = active_arms(results)
    for method in ("multiple_imputation", "ipw"):
        # each active arm has its own rows; a row without an arm (older results) is the first's
        row = next(
            (
                m
                for m in outcome.get("sensitivity") or []
                if m.get("method") == method
                and (m.get("arm") or (active[0] if active else None)) in (None, estimate.get("arm"))
            ),
            None,
        )
        if row is None or row.get("p_value") is None:
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
    several = len(active_arms(results)) > 1
    per_arm = ", ".join(
        f"{n} {'control' if a == control else (arm_label(results, a) if several else 'intervention')}"
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
