"""Cost-effectiveness charts: the plane of bootstrap replicates and the acceptability curve."""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.ticker import FuncFormatter, MaxNLocator

from reports.charts.style import (
    GRID,
    PALETTE,
    Chart,
    figure,
    finish,
    legend_below,
    money_tick,
    name_marks,
    styled,
    wrap,
)
from reports.format import format_money, format_number, format_percent

__all__ = ["ce_plane_chart", "ceac_chart"]

#: At most this many bootstrap replicates are drawn on a cost-effectiveness plane.
_MAX_PLANE_POINTS = 2_000


def ce_plane_chart(
    points: Sequence[dict], *, point: dict, effect_label: str, chart_id: str
) -> Chart:
    """Cost-effectiveness plane: bootstrap replicates of (incremental effect, incremental cost)."""
    n = len(points)
    # a cloud of thousands of replicates is drawn as one embedded bitmap: vector markers would
    # make the SVG large and the PDF slow, and the numbers are in the text alternative anyway
    drawn = points[:: max(1, math.ceil(n / _MAX_PLANE_POINTS))]
    with styled():
        fig, ax = figure(3.4, 2.8)
        if n:
            cloud = ax.scatter(
                [p["effect"] for p in drawn],
                [p["cost"] for p in drawn],
                s=6,
                alpha=0.45,
                color=PALETTE[0],
                linewidths=0,
                label=f"{n:,} bootstrap replicates"
                + (f" ({len(drawn):,} drawn)" if len(drawn) < n else ""),
                rasterized=True,
            )
            cloud.set_gid("cloud")
        marks = ax.plot(
            point["effect"],
            point["cost"],
            "D",
            color=PALETTE[1],
            markersize=8,
            label="Point estimate",
        )
        name_marks(marks, "series-0")
        ax.axhline(0, color=GRID, linewidth=1)
        ax.axvline(0, color=GRID, linewidth=1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_xlabel(wrap(f"Incremental effect ({effect_label})", 34))
        ax.set_ylabel("Incremental cost\nper participant")
        ax.yaxis.set_major_formatter(FuncFormatter(money_tick))
        legend_below(fig, ax, ncol=1)
    quadrants = {
        "more effective and more costly": sum(1 for p in points if p["effect"] > 0 <= p["cost"]),
        "more effective and cheaper": sum(1 for p in points if p["effect"] > 0 > p["cost"]),
        "less effective and more costly": sum(1 for p in points if p["effect"] <= 0 <= p["cost"]),
        "less effective and cheaper": sum(1 for p in points if p["effect"] <= 0 > p["cost"]),
    }
    shares = ", ".join(
        f"{format_percent(100 * v / n)} {k}" for k, v in quadrants.items() if n and v
    )
    description = (
        f"Point estimate: {format_money(point['cost'])} per participant for "
        f"{format_number(point['effect'], 2, signed=True)} {effect_label}."
        + (f" Of {n:,} bootstrap replicates: {shares}." if n else "")
    )
    return finish(fig, chart_id, f"Cost-effectiveness plane ({effect_label})", description)


def ceac_chart(
    curve: Sequence[dict], *, effect_label: str, chart_id: str, unit: str = "point gained"
) -> Chart | None:
    """Cost-effectiveness acceptability curve: P(cost-effective) against willingness to pay.

    ``unit`` is what the willingness to pay is per ("point gained",
    "percentage point avoided").  None for an empty curve: with no points there is
    no curve to draw (nor willingness to pay to label its text alternative with).
    """
    if not curve:
        return None
    with styled():
        fig, ax = figure(3.4, 2.4)
        marks = ax.plot(
            [c["wtp"] for c in curve],
            [c["probability"] for c in curve],
            color=PALETTE[2],
            linewidth=2.2,
        )
        name_marks(marks, "series-0")
        ax.set_ylim(0, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.set_xlabel(wrap(f"Willingness to pay per {unit}: {effect_label}", 34))
        ax.set_ylabel("Probability\ncost-effective")
        ax.xaxis.set_major_formatter(FuncFormatter(money_tick))
        ax.grid(color="#d9d9d9", linewidth=0.6)
    picks = [curve[i] for i in sorted({0, len(curve) // 4, len(curve) // 2, len(curve) - 1})]
    description = "; ".join(
        f"at {format_money(c['wtp'])}: {format_percent(100 * c['probability'])}" for c in picks
    )
    return finish(
        fig,
        chart_id,
        f"Cost-effectiveness acceptability curve ({effect_label})",
        f"Probability that the intervention is cost-effective {description}.",
    )
