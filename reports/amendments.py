"""Design amendments in the report: the headline's caveat and the methods appendix's list.

The rule (a trial statistician's): an amendment is a **post hoc change of the
analysis plan** when it changed an analysis-plan field (results.json's
``analysis_changes``: anything under ``analysis``, which outcome is primary,
``follow_up.primary_timepoint``) *and* outcome data were already stored when it
was recorded (``outcome_data_stored``).  Storage, not analysis, is the line:
once outcomes are in the store anyone may have looked at them, and the
pipeline cannot show that nobody did.  Every such amendment counts, even one a
later amendment undid: the reader is told the plan moved after the data, and
the appendix lists every amendment with its diff, so an undoing is visible.
A plan changed before any outcome data were stored is still declared before
the data: it is listed in the appendix, not put in the headline.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["amendments_view", "post_hoc_plan_changes", "post_hoc_plan_sentence"]


def post_hoc_plan_changes(results: Mapping) -> list[Mapping]:
    """The amendments that changed the analysis plan after outcome data were stored (the rule above)."""
    return [
        a
        for a in results.get("amendments") or []
        if a.get("analysis_changes") and a.get("outcome_data_stored")
    ]


def _when_who_why(amendment: Mapping) -> str:
    return (
        f"amended {str(amendment.get('recorded_at', ''))[:10]} by {amendment.get('who')}, "
        f"reason: \u201c{amendment.get('reason')}\u201d"
    )


def post_hoc_plan_sentence(results: Mapping) -> str | None:
    """The headline's first sentence when the plan changed after outcome data, else None."""
    post_hoc = post_hoc_plan_changes(results)
    if not post_hoc:
        return None
    parts = "; and ".join(
        f"{'; '.join(a['analysis_changes'])} ({_when_who_why(a)})" for a in post_hoc
    )
    return (
        f"The analysis plan was changed after outcome data were collected: {parts}; the "
        "results below follow the changed plan, not the one declared before the data, so "
        "read them as not pre-specified."
    )


def amendments_view(results: Mapping) -> dict | None:
    """The appendix's list of amendments, and whether any changed the analysis plan; None if none."""
    amendments = results.get("amendments") or []
    if not amendments:
        return None
    items = []
    for a in amendments:
        timing = (
            "after outcome data were stored"
            if a.get("outcome_data_stored")
            else "before any outcome data were stored"
        )
        plan = " It changed the analysis plan." if a.get("analysis_changes") else ""
        items.append(
            {
                "summary": f"{str(a.get('recorded_at', '')).replace('T', ' ')} UTC, {timing}, "
                f"by {a.get('who')}: \u201c{a.get('reason')}\u201d "
                f"(design {str(a.get('old_hash', ''))[:12]} \u2192 "
                f"{str(a.get('new_hash', ''))[:12]}).{plan}",
                "changes": list(a.get("changes") or []),
            }
        )
    return {
        "items": items,
        "plan_changed": any(a.get("analysis_changes") for a in amendments),
        "post_hoc": bool(post_hoc_plan_changes(results)),
    }
