"""The costs stage's summary for finance and commissioners: markdown, and the figures it leads with.

The costs are computed with the analysis (results.json's ``costs`` section);
this module only words them: :func:`costs_markdown` is the markdown the costs
stage publishes (total, the EEF band, cost per participant undiscounted and
discounted, each ICER with its interval), :func:`cost_summary` the figures a
coordinator reads first.  Pure: a mapping in, text or a dict out.
"""

from __future__ import annotations

from collections.abc import Mapping

from reports.format import format_money

__all__ = ["cost_summary", "costs_markdown"]

#: The per-participant figures the table shows, in order, with their row labels.
_PER_PARTICIPANT_LABELS = {
    "randomised": "per participant randomised to the intervention",
    "took_up": "per participant who took it up",
    "completed": "per completer",
    "per_round": "per Round (direct running costs)",
    "per_attendee_per_round": "per attendee per Round",
    "per_round_including_staff_time": "per Round, with every attendee's staff time",
    "per_attendee_per_round_including_staff_time": "per attendee per Round, with their staff time",
}


def _pounds(value: float | None) -> str:
    # pounds and pence, as finance reads costs, even above £1,000: "£1,598.00"
    return format_money(value, decimals=2)


def costs_markdown(title: str, costs: Mapping) -> str:
    """The cost summary in words and a table: per participant, per taker and completer, each ICER.

    With several active arms (``other_arms``) each arm has its own heading, EEF band,
    table and ICERs.

    Parameters
    ----------
    title : str
        The trial's title.
    costs : mapping
        results.json's ``costs`` section.
    labels : mapping, optional
        Arm name -> its label (results.json's ``trial.arms``), for ``by_arm``'s ``label``;
        an arm not in it is labelled by its name.

    Returns
    -------
    str
        Markdown, ending with a newline.
    """
    totals = costs["totals"]
    # sessions open to others: the trial's participants bear only their share of the head count
    borne = (
        f" (the trial's participants bear {_pounds(totals['participants_total'])}: their share "
        f"of each session's head count and their own time)"
        if totals.get("participants_total") is not None
        and abs(totals["participants_total"] - totals["total"]) > 0.005
        else ""
    )
    others = costs.get("other_arms") or []
    lines = [
        f"## Costs: {title}",
        "",
        f"Total {_pounds(totals['total'])} ({costs.get('currency_year')} prices){borne}; "
        + (
            f"EEF cost band **{costs.get('eef_band')}**."
            if not others
            else f"{len(others) + 1} active arms, each costed below."
        ),
    ]
    for block in (costs, *others):
        if others:
            lines += [
                "",
                f"### {block.get('arm')}",
                "",
                f"EEF cost band **{block.get('eef_band')}**.",
            ]
        lines += _arm_lines(block)
    return "\n".join(lines) + "\n"


def _arm_lines(block: Mapping) -> list[str]:
    """One active arm's table of costs per head and its ICERs, as markdown lines."""
    per = block.get("per_participant") or {}
    lines = [
        "",
        "| figure | undiscounted | discounted |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {label} | {_pounds(per.get(key))} | {_pounds(per.get(f'{key}_discounted'))} |"
        for key, label in _PER_PARTICIPANT_LABELS.items()
        if key in per
    ]
    for row in block.get("cost_effectiveness") or []:
        interval = (
            f"{_pounds(row['icer_ci_low'])} to {_pounds(row['icer_ci_high'])}"
            if row.get("icer_ci_low") is not None and row.get("icer_ci_high") is not None
            else "not bounded"
        )
        lines += ["", f"- **{row['effect_label']}**: {row['sentence']} (95% interval {interval})"]
    return lines


def cost_summary(costs: Mapping, *, labels: Mapping[str, str] | None = None) -> dict:
    """The figures a coordinator reads first: total, per participant, EEF band, each verdict.

    Parameters
    ----------
    costs : mapping
        results.json's ``costs`` section.
    labels : mapping, optional
        Arm name -> its label (results.json's ``trial.arms``), for ``by_arm``'s ``label``;
        an arm not in it is labelled by its name.

    Returns
    -------
    dict
        ``total``, ``currency_year``, ``per_participant_randomised``,
        ``eef_band`` and ``cost_effectiveness`` (each row's sentence), the first
        active arm's; with several active arms also ``by_arm``: each arm's
        ``arm``, ``label``, ``per_participant_randomised``, ``eef_band`` and
        ``cost_effectiveness``.
    """
    labels = labels or {}
    summary = {
        "total": costs["totals"]["total"],
        "currency_year": costs.get("currency_year"),
        **_arm_summary(costs),
    }
    if costs.get("other_arms"):
        summary["by_arm"] = [
            {
                "arm": block.get("arm"),
                "label": labels.get(block.get("arm"), block.get("arm")),
                **_arm_summary(block),
            }
            for block in (costs, *costs["other_arms"])
        ]
    return summary


def _arm_summary(block: Mapping) -> dict:
    per = block.get("per_participant") or {}
    return {
        "per_participant_randomised": per.get("randomised"),
        "eef_band": block.get("eef_band"),
        "cost_effectiveness": [
            row["sentence"] for row in block.get("cost_effectiveness") or [] if row.get("sentence")
        ],
    }
