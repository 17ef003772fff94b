"""Uptake charts: the funnel (offered, started, completed by arm) and uptake over time."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.ticker import FuncFormatter

from reports.charts.style import (
    LONGEST,
    PALETTE,
    Chart,
    figure,
    finish,
    legend_below,
    name_marks,
    styled,
    wrap,
)
from reports.disclosure import SUPPRESSED_MARK
from reports.format import format_percent

__all__ = ["funnel_chart", "uptake_chart"]


def funnel_chart(rows: Sequence[dict], *, chart_id: str) -> Chart:
    """Uptake funnel: per arm, the % of those allocated who were offered, started and completed.

    Every arm has a row: an arm offered nothing (the control arm) says so in
    its row rather than disappearing, and a hidden count is drawn as "[c]"
    with its meaning stated under the chart.

    Parameters
    ----------
    rows : sequence of dict
        ``label`` (arm), ``allocated`` (count or None if suppressed) and
        ``stages``: a list of ``(stage name, count or None, percent or None)``.
    """
    # offered to nobody: every share is 0 (a hidden share is not 0; it is drawn as [c])
    not_offered = [r for r in rows if all(pct == 0 for _, _, pct in r["stages"])]
    stage_names = [s[0] for s in rows[0]["stages"]] if rows else []
    suppressed = False
    with styled():
        fig, ax = figure(4.2, 1.2 + 1.0 * max(len(rows), 1))
        height = 0.8 / max(len(stage_names), 1)
        for i, row in enumerate(rows):
            if row in not_offered:
                ax.text(1, i, "Not offered the intervention", va="center")
                continue
            for j, (stage, _count, pct) in enumerate(row["stages"]):
                y = i + (j - (len(stage_names) - 1) / 2) * height
                if pct is None:
                    suppressed = True
                    ax.text(1, y, SUPPRESSED_MARK, va="center")
                    continue
                bar = ax.barh(
                    y,
                    pct,
                    height=height * 0.9,
                    color=PALETTE[j % len(PALETTE)],
                    label=stage if stage not in ax.get_legend_handles_labels()[1] else None,
                )
                name_marks(list(bar), f"series-{i}-{j}")
                ax.text(pct + 1, y, format_percent(pct), va="center")
        ax.set_yticks(range(len(rows)), [wrap(r["label"], 14) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, 125)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel(
            "% of those allocated"
            + (f"\n{SUPPRESSED_MARK}: not shown (fewer than 5 people)" if suppressed else "")
        )
        if ax.get_legend_handles_labels()[1]:
            # under the axes: no bar or label can run into it
            legend_below(fig, ax, ncol=len(stage_names), handlelength=1.0, columnspacing=1.0)
    parts = []
    for row in rows:
        if row in not_offered:
            parts.append(f"{row['label']}: not offered the intervention")
            continue
        stages = ", ".join(
            f"{stage} {SUPPRESSED_MARK if pct is None else format_percent(pct)}"
            for stage, _, pct in row["stages"]
        )
        allocated = SUPPRESSED_MARK if row["allocated"] is None else f"{row['allocated']:,}"
        parts.append(f"{row['label']} ({allocated} allocated): {stages}")
    return finish(
        fig,
        chart_id,
        "Uptake funnel by arm",
        "; ".join(parts) + "." if parts else "No uptake data.",
    )


def uptake_chart(series: Sequence[dict], *, chart_id: str) -> Chart:
    """Cumulative % who had started, by week, one line per arm.

    Parameters
    ----------
    series : sequence of dict
        ``label`` and ``points``: ``(ISO date of the week's Monday, percent)``
        pairs, already coarsened for disclosure control.
    """
    import datetime as dt

    with styled():
        fig, ax = figure(4.4, 2.6)
        described = []
        for k, line in enumerate(series):
            if not line["points"]:
                continue
            days = [dt.date.fromisoformat(p[0]) for p in line["points"]]
            marks = ax.step(
                days,
                [p[1] for p in line["points"]],
                where="post",
                color=PALETTE[k % len(PALETTE)],
                linewidth=2,
                label=wrap(line["label"], LONGEST),
                marker="o",
                markersize=3,
            )
            name_marks(marks, f"series-{k}")
            last = line["points"][-1]
            described.append(
                f"{line['label']}: {format_percent(last[1], 1)} had started by the week of {last[0]}"
                + (
                    " (weeks shown: "
                    + ", ".join(f"{d} {format_percent(v, 1)}" for d, v in line["points"])
                    + ")"
                    if len(line["points"]) > 1
                    else ""
                )
            )
        ax.set_ylabel("% started\n(cumulative)")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}%"))
        # a few horizontal dates with their year ("Mar / 2020"): rotated ISO dates ran into
        # each other on a phone
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=5))
        weeks = sorted({p[0] for line in series for p in line["points"]})
        short = len(weeks) > 1 and (
            dt.date.fromisoformat(weeks[-1]) - dt.date.fromisoformat(weeks[0])
        ) < dt.timedelta(days=75)
        ax.xaxis.set_major_formatter(DateFormatter("%d %b\n%Y" if short else "%b\n%Y"))
        if described:
            # under the axes, one entry a line: a line across the plot never runs through it
            legend_below(fig, ax, ncol=1)
    return finish(
        fig,
        chart_id,
        "Uptake over time",
        "; ".join(described) + "." if described else "No one had started.",
    )
