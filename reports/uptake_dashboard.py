"""The uptake dashboard and the uptake stage's markdown, from an uptake summary (pure).

:func:`render_uptake_dashboard` gives the self-contained HTML page coordinators
open (funnel and weekly charts as inline SVG, tables per organisation and
team, contamination); :func:`uptake_markdown` the funnel as the markdown the
uptake stage publishes.  Both take the design and
:class:`analysis.uptake.UptakeSummary`; nothing here reads the store or
writes a file.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from analysis.uptake import UptakeSummary
from reports.templating import environment
from trial_designs.design import TrialDesign
from trial_designs.sections import Intervention

__all__ = ["definition_in_words", "render_uptake_dashboard", "uptake_markdown"]

_STAGE_WORDS = {
    "offered": "Offered",
    "started": "Started",
    "completed": "Completed",
}


def definition_in_words(design: TrialDesign) -> list[str]:
    """The design's uptake definition (offered, started, dose, completed) as sentences.

    With one intervention per active arm, each arm's (its label first) unless
    they all count uptake alike, when the words are said once.
    """
    labels = _arm_labels(design)
    own = [_intervention_words(i) for i in design.interventions]
    if all(words == own[0] for words in own):
        return own[0]
    return [
        f"{labels[i.arm]}: {line}"
        for i, words in zip(design.interventions, own, strict=True)
        for line in words
    ]


def _intervention_words(intervention: Intervention) -> list[str]:
    definition = intervention.uptake
    started = definition["started"]
    words = [
        f"Offered: a '{definition.get('offered', started)}' event reached the participant"
        + (" or their cluster." if intervention.unit == "cluster" else "."),
        f"Started: a '{started}' event"
        + (
            f", and no '{definition['not_received']}' event."
            if definition.get("not_received")
            else "."
        ),
    ]
    if definition.get("dose"):
        words.append(f"Dose: the number of distinct '{definition['dose']}' events.")
    if definition.get("completed_at_dose"):
        words.append(f"Completed: a dose of {definition['completed_at_dose']} or more.")
    elif definition.get("completed"):
        words.append(f"Completed: a '{definition['completed']}' event.")
    return words


def _arm_labels(design: TrialDesign) -> dict[str, str]:
    return {a.name: a.label or a.name for a in design.arms}


def _funnel_chart_rows(summary: UptakeSummary, labels: dict[str, str]) -> list[dict]:
    return [
        {
            "label": labels[row["arm"]],
            "allocated": int(row["allocated"]),
            "stages": [
                (
                    words,
                    int(row[stage]),
                    None if pd.isna(row[f"{stage}_pct"]) else float(row[f"{stage}_pct"]),
                )
                for stage, words in _STAGE_WORDS.items()
            ],
        }
        for row in summary.funnel.to_dict("records")
    ]


def _time_series(summary: UptakeSummary, labels: dict[str, str]) -> list[dict]:
    series = []
    for arm, rows in summary.over_time.groupby("arm", sort=False):
        points = [
            (str(r["week"]), float(r["started_pct"]))
            for r in rows.to_dict("records")
            if pd.notna(r["started_pct"])
        ]
        series.append({"label": labels[arm], "points": points})
    return series


def _side_by_side(rows: list[dict], by: str, design: TrialDesign) -> list[dict]:
    """Rows ordered by group, then arm in the design's order, so arms sit next to each other."""
    order = {arm: i for i, arm in enumerate(design.arm_names)}
    return sorted(rows, key=lambda r: (str(r[by]), order[r["arm"]]))


def _cross_arm(summary: UptakeSummary, labels: dict) -> list[str]:
    """With several interventions: "N of the <arm> arm's participants have events of <other>"."""
    return [
        f"{r['participants']} of the {labels.get(r['arm'], r['arm']).lower()} arm's participants "
        f"have events of {r['intervention']}"
        for r in summary.cross_arm or []
        if r["participants"]
    ]


def uptake_markdown(design: TrialDesign, summary: UptakeSummary) -> str:
    """The funnel per arm as a markdown table, the uptake definition, and contamination.

    Parameters
    ----------
    design : TrialDesign
        The trial's design (arm labels, the uptake definition).
    summary : UptakeSummary
        :func:`analysis.uptake.summarise_uptake`'s result.

    Returns
    -------
    str
        Markdown.
    """
    labels = _arm_labels(design)

    def pct(value: object) -> str:
        return "–" if value is None or pd.isna(value) else f"{value:.1f}%"

    lines = [
        f"# Uptake: {design.title}",
        "",
        "| Arm | Allocated | Offered | Started | Completed | Mean dose (starters) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in summary.to_dict()["funnel"]:
        dose = row["mean_dose_started"]
        lines.append(
            f"| {labels[row['arm']]} | {row['allocated']} | {row['offered']} ({pct(row['offered_pct'])}) "
            f"| {row['started']} ({pct(row['started_pct'])}) | {row['completed']} ({pct(row['completed_pct'])}) "
            f"| {'–' if dose is None else f'{dose:.2f}'} |"
        )
    lines += ["", *[f"- {w}" for w in definition_in_words(design)], ""]
    n_flagged = len(summary.contamination)
    lines.append(
        f"**Contamination:** {n_flagged} control-arm unit(s) received some of the intervention "
        "(kept and flagged; the analysis stays by allocated arm)."
        if n_flagged
        else "**Contamination:** none recorded."
    )
    if between := _cross_arm(summary, labels):
        lines.append(
            f"**Contamination between active arms:** {'; '.join(between)} (kept in their "
            "allocated arm; their uptake counts only their own arm's intervention)."
        )
    return "\n".join(lines)


def render_uptake_dashboard(
    design: TrialDesign, summary: UptakeSummary, n_events: int, *, updated: dt.datetime
) -> str:
    """The uptake dashboard as a self-contained HTML page.

    Parameters
    ----------
    design : TrialDesign
        The trial's design.
    summary : UptakeSummary
        :func:`analysis.uptake.summarise_uptake`'s result.
    n_events : int
        How many delivery events the summary was computed from.
    updated : datetime
        When the figures were computed (printed as "Updated ...").

    Returns
    -------
    str
        HTML with inline CSS and SVG.
    """
    from reports.charts import funnel_chart, uptake_chart  # matplotlib: only when drawing

    labels = _arm_labels(design)
    data = summary.to_dict()
    funnel_rows = _funnel_chart_rows(summary, labels)
    anything = any(pct for row in funnel_rows for _, _, pct in row["stages"])
    funnel_svg = funnel_chart(funnel_rows, chart_id="uptake-funnel") if anything else None
    series = _time_series(summary, labels)
    time_svg = uptake_chart(series, chart_id="uptake-time") if series else None
    active = [a for a in design.arm_names if a != design.control_arm]
    doses = summary.doses[summary.doses["arm"].isin(active)]
    return (
        environment()
        .get_template("uptake.html.j2")
        .render(
            trial=design,
            intervention=design.interventions[0],
            interventions=design.interventions,
            labels=labels,
            definition=definition_in_words(design),
            funnel=data["funnel"],
            funnel_svg=funnel_svg.svg if funnel_svg else None,
            time_svg=time_svg.svg if time_svg else None,
            weeks=data["over_time"],
            doses=[]
            if not design.interventions[0].uptake.get("dose")
            else doses.to_dict("records"),
            by_organisation=_side_by_side(data["by_organisation"], "organisation", design),
            by_team=_side_by_side(
                [{**r} for r in summary.by_team.to_dict("records")], "team", design
            ),
            contamination=data["contaminated_units"],
            cross_arm=_cross_arm(summary, labels),
            n_events=n_events,
            updated=updated.strftime("%d %B %Y, %H:%M"),
        )
    )
