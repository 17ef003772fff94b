"""The trial report's attrition bounds: beside IPW and MI, bounds that do not assume MAR (issue 15.3).

IPW and multiple imputation assume that, given what they model, who answered the endline
survey is unrelated to their outcome.  results.json's ``attrition.bounds`` drop that
assumption (Lee bounds under monotone attrition for a continuous primary, worst/best-case
bounds for a binary one); this module writes them as rows of the sensitivity table and as
sentences that name what each still assumes.  Pure: a mapping in, a dict out.
"""

from __future__ import annotations

from collections.abc import Mapping

from reports.format import format_ci, format_effect
from reports.lookup import arm_labels, control_arm, itt_estimate, primary_outcome

__all__ = ["bounds_view"]

_METHOD = {
    "lee": "Lee bounds (monotone attrition)",
    "worst_best": "Worst/best-case bounds",
}


def _between(low: float, high: float, outcome: Mapping) -> str:
    """ "-2.20 and -0.43", "-5.0 and 3.0 pp": the two bounds in the outcome's reporting units."""
    return format_ci(low, high, outcome).replace(" to ", " and ", 1)


def _sentence(row: Mapping, outcome: Mapping, arm: str, control: str) -> str:
    bounds = _between(row["lower"], row["upper"], outcome)
    interval = format_ci(row["ci_low"], row["ci_high"], outcome)
    # The bounds are of the raw difference in means, the primary result is covariate-adjusted:
    # the two can differ, even in sign, so the sentence names which one it bounds.
    if row["kind"] == "lee":
        text = (
            f"Without assuming the missing answers are like the ones given, the unadjusted "
            f"difference in means between {arm} and {control} lies between {bounds} (Lee "
            f"bounds; 95% CI {interval}), if being offered {arm} moved everyone's chance of "
            "answering the same way (monotone attrition)."
        )
    else:
        text = (
            f"Setting every missing answer to the worst and then the best case, the unadjusted "
            f"difference in means between {arm} and {control} lies between {bounds} (95% CI "
            f"{interval}); this assumes nothing about who answered, so it is wide."
        )
    adjusted = (
        " These bounds are of the unadjusted difference in means, not of the covariate-adjusted "
        "primary estimate, so they can differ from it."
    )
    if not (row["lower"] > 0 or row["upper"] < 0):
        return (
            f"{text} The bounds include no difference: without the missing-at-random "
            f"assumption the data cannot rule out no effect.{adjusted}"
        )
    primary = itt_estimate(outcome, row["arm"])
    sign = 1 if row["lower"] > 0 else -1
    if primary is not None and primary["estimate"] * sign <= 0:
        return (
            f"{text} They lie on the other side of no difference from the covariate-adjusted "
            f"primary estimate ({format_effect(primary['estimate'], outcome)}), so the two "
            "disagree on the direction of the difference and neither settles it."
            f"{adjusted}"
        )
    if row["ci_low"] > 0 or row["ci_high"] < 0:
        return (
            f"{text} The bounds have the primary estimate's sign, and even at their least "
            f"favourable end the difference keeps it.{adjusted}"
        )
    return (
        f"{text} The bounds have the primary estimate's sign, but their 95% interval includes "
        f"no difference.{adjusted}"
    )


def bounds_view(results: Mapping) -> dict:
    """Rows for the sensitivity table, one sentence per active arm and the clustering caveat."""
    primary = primary_outcome(results)
    bounds = (results.get("attrition") or {}).get("bounds") or []
    if primary is None or not bounds:
        return {"rows": [], "sentences": [], "caveat": None}
    labels = arm_labels(results)
    control = labels.get(control_arm(results), control_arm(results))
    several = len(bounds) > 1
    rows, sentences = [], []
    for row in bounds:
        arm = labels.get(row["arm"], row["arm"])
        method = _METHOD[row["kind"]] + (f": {arm}" if several else "")
        trimmed = (
            f"{row['trim_share']:.{0 if row['trim_share'] >= 0.01 else 1}%} of the "
            "better-followed arm's answers trimmed from either end"
            if row["kind"] == "lee" and row.get("trimmed_arm")
            else "missing answers set to 0 and to 1"
            if row["kind"] == "worst_best"
            else "equal follow-up: nothing trimmed"
        )
        rows.append(
            {
                "method": method,
                "estimate": f"{format_effect(row['lower'], primary)} to "
                f"{format_effect(row['upper'], primary)}",
                "ci": format_ci(row["ci_low"], row["ci_high"], primary),
                "p": "\u2014",
                "n": f"{row['n_treatment'] + row['n_control']:,}",
                "detail": f"Unadjusted difference in means; {trimmed}; Imbens-Manski interval.",
            }
        )
        sentences.append(_sentence(row, primary, arm, control))
    caveat = None
    if any(row.get("se_ignores_clustering") for row in bounds):
        trial = results.get("trial", {})
        grouping = trial.get("cluster_by") or trial.get("cluster_se_by") or "cluster"
        caveat = (
            "The bounds' intervals treat staff as independent although their outcomes are "
            f"clustered by {grouping.replace('_', ' ')}, so they are too narrow; the bounds "
            "themselves do not depend on it."
        )
    return {"rows": rows, "sentences": sentences, "caveat": caveat}
