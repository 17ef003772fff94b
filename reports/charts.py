"""Charts as inline, accessible SVG strings (matplotlib; pure: numbers in, markup out).

Every chart is an ``<svg role="img">`` whose ``<title>`` states the chart's
numbers, so a screen reader, a search, or a black-and-white printout loses
nothing.  SVGs carry a ``viewBox`` and no fixed size, so they scale with the
page (200% zoom, phones, print).  Element ids are prefixed with the chart's
id, so several charts can share a page.  Output is deterministic: the same
numbers give byte-identical SVG.

Counts passed in have already been through disclosure control: a suppressed
count arrives as ``None`` and is drawn as "[c]", never as a bar whose length
would give it away.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import matplotlib
from markupsafe import Markup

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from reports.disclosure import SUPPRESSED_MARK  # noqa: E402
from reports.format import format_money, format_number, format_percent  # noqa: E402

__all__ = [
    "PALETTE",
    "Chart",
    "ceac_chart",
    "ce_plane_chart",
    "forest_chart",
    "funnel_chart",
    "portfolio_chart",
    "subgroup_chart",
    "uptake_chart",
    "wave_means_chart",
]

#: Colour-blind-safe hues darkened to at least 4.5:1 on white, so they also work as text.
PALETTE = ("#0b5394", "#9a4a00", "#1b6e37", "#a0256b", "#5b4a9e")
_INK = "#1a1a1a"
#: At most this many bootstrap replicates are drawn on a cost-effectiveness plane.
_MAX_PLANE_POINTS = 2_000
_GRID = "#6b6b6b"

_STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 10,
    "text.color": _INK,
    "axes.labelcolor": _INK,
    "axes.edgecolor": _GRID,
    "xtick.color": _INK,
    "ytick.color": _INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",  # real text: selectable, searchable, and much smaller
    "svg.hashsalt": "trialflow-reports",  # stable ids: identical input, identical SVG
    # every label comes from data (outcome and trial names, money): literal text, never TeX,
    # so 'Feeling valued ($\frac{a}{$ scale)' or '$100 to $200' draws as written
    "text.parse_math": False,
    "text.usetex": False,
}


@dataclass(frozen=True)
class Chart:
    """An SVG chart (:class:`markupsafe.Markup`), its short title and its text alternative."""

    svg: Markup
    title: str
    description: str


def _finish(fig, chart_id: str, title: str, description: str) -> Chart:
    buffer = io.StringIO()
    with plt.rc_context(_STYLE):  # svg.* settings are read when saving
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None}, dpi=144)
    plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    # ids: prefix so that two charts on one page never clash
    svg = re.sub(r'id="([^"]+)"', rf'id="{chart_id}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{chart_id}-\1)", svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{chart_id}-\1"', svg)
    # size: drop the fixed width/height; the viewBox keeps the shape
    svg = re.sub(r'^<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)
    label_id = f"{chart_id}-title"
    svg = svg.replace(
        "<svg",
        f'<svg role="img" aria-labelledby="{label_id}" class="chart" '
        'preserveAspectRatio="xMidYMid meet"',
        1,
    )
    close = svg.index(">") + 1
    text = f"{title}. {description}"
    svg = svg[:close] + f'<title id="{label_id}">{escape(text)}</title>' + svg[close:]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    # Markup: the one value templates print unescaped, trusted here where it is made
    # (matplotlib escapes the text it draws; the title is escaped above)
    return Chart(svg=Markup(svg.strip()), title=title, description=description)


def _money_tick(value: float, _position: int) -> str:
    """Axis labels in pounds, without pence when the tick is a whole number of pounds."""
    return format_money(value, decimals=0 if float(value).is_integer() else None)


def _figure(width: float, height: float):
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def forest_chart(
    rows: Sequence[dict], *, chart_id: str, axis_label: str = "Effect in standard deviations"
) -> Chart:
    """Effect and 95% CI for each outcome on one standardised axis, right = better for staff.

    Parameters
    ----------
    rows : sequence of dict
        ``label``, ``value``, ``low``, ``high`` (standardised, oriented so
        that positive is better), ``primary`` (bool) and ``text`` (the
        effect as the outcomes table states it, for the text alternative).
    chart_id : str
        Unique on the page.
    """
    rows = [r for r in rows if r.get("value") is not None]
    with plt.rc_context(_STYLE):
        fig, ax = _figure(7.0, 0.9 + 0.42 * max(len(rows), 1))
        for i, row in enumerate(rows):
            colour = PALETTE[0] if row.get("primary") else PALETTE[1]
            ax.plot([row["low"], row["high"]], [i, i], color=colour, linewidth=2.2)
            ax.plot(
                row["value"],
                i,
                marker="D" if row.get("primary") else "o",
                color=colour,
                markersize=7 if row.get("primary") else 6,
            )
        ax.axvline(0, color=_GRID, linewidth=1, linestyle="--")
        ax.set_yticks(
            range(len(rows)),
            [("Primary: " if r.get("primary") else "") + r["label"] for r in rows],
        )
        ax.set_ylim(len(rows) - 0.5, -0.5)
        span = max([abs(r["low"]) for r in rows] + [abs(r["high"]) for r in rows] + [0.25])
        ax.set_xlim(-span * 1.1, span * 1.1)
        ax.set_xlabel(f"{axis_label} (95% CI)\n\u2190 worse for staff    better for staff \u2192")
        ax.grid(axis="x", color="#d9d9d9", linewidth=0.6)
    description = "; ".join(
        f"{r['label']}: {format_number(r['value'], 2, signed=True)} SD "
        f"(95% CI {format_number(r['low'], 2)} to {format_number(r['high'], 2)})"
        + (f", that is {r['text']}" if r.get("text") else "")
        for r in rows
    )
    return _finish(
        fig,
        chart_id,
        "Forest plot: effect on each outcome, standardised, right of zero is better",
        (description + ".") if rows else "No outcome could be estimated.",
    )


def subgroup_chart(
    rows: Sequence[dict], *, chart_id: str, subgroup: str, tests: str, unit: str
) -> Chart:
    """Forest plot of one subgroup: each level's effect and 95% CI, in the outcome's units.

    Parameters
    ----------
    rows : sequence of dict
        ``label`` (the level), ``value``, ``low``, ``high`` (the effect and its 95% CI,
        outcome units, not re-oriented) and ``text`` (as the subgroup table states it).
    subgroup : str
        The subgroup's name for readers.
    tests : str
        The interaction p and its Holm adjustment as a sentence fragment, printed under
        the axis and in the text alternative.
    unit : str
        The axis label: the outcome and which direction is better.
    """
    rows = [r for r in rows if r.get("value") is not None]
    with plt.rc_context(_STYLE):
        fig, ax = _figure(7.0, 1.1 + 0.42 * max(len(rows), 1))
        for i, row in enumerate(rows):
            ax.plot([row["low"], row["high"]], [i, i], color=PALETTE[0], linewidth=2.2)
            ax.plot(row["value"], i, marker="s", color=PALETTE[0], markersize=6)
        ax.axvline(0, color=_GRID, linewidth=1, linestyle="--")
        ax.set_yticks(range(len(rows)), [r["label"] for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        span = max([abs(r["low"]) for r in rows] + [abs(r["high"]) for r in rows] + [0.25])
        ax.set_xlim(-span * 1.1, span * 1.1)
        ax.set_xlabel(f"{unit} (95% CI)\n{tests}")
        ax.grid(axis="x", color="#d9d9d9", linewidth=0.6)
    description = "; ".join(f"{r['label']}: {r['text']}" for r in rows)
    return _finish(
        fig,
        chart_id,
        f"Forest plot: effect within each {subgroup} level, zero is no difference",
        (description + f". {tests}.") if rows else "No level could be estimated.",
    )


def funnel_chart(rows: Sequence[dict], *, chart_id: str) -> Chart:
    """Uptake funnel: per arm, the % of those allocated who were offered, started and completed.

    Parameters
    ----------
    rows : sequence of dict
        ``label`` (arm), ``allocated`` (count or None if suppressed) and
        ``stages``: a list of ``(stage name, count or None, percent or None)``.
    """
    not_offered = [r for r in rows if all(not pct for _, _, pct in r["stages"])]
    rows = [r for r in rows if r not in not_offered]
    stage_names = [s[0] for s in rows[0]["stages"]] if rows else []
    with plt.rc_context(_STYLE):
        fig, ax = _figure(7.0, 0.9 + 1.3 * max(len(rows), 1))
        height = 0.8 / max(len(stage_names), 1)
        for i, row in enumerate(rows):
            for j, (stage, _count, pct) in enumerate(row["stages"]):
                y = i + (j - (len(stage_names) - 1) / 2) * height
                if pct is None:
                    ax.text(1, y, SUPPRESSED_MARK, va="center", fontsize=8)
                    continue
                ax.barh(
                    y,
                    pct,
                    height=height * 0.9,
                    color=PALETTE[j % len(PALETTE)],
                    label=stage if i == 0 else None,
                )
                ax.text(pct + 1, y, format_percent(pct), va="center", fontsize=9)
        ax.set_yticks(range(len(rows)), [r["label"] for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, 112)
        ax.set_xlabel("% of those allocated")
        if rows:
            ax.legend(
                frameon=False,
                fontsize=9,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.28 if len(rows) == 1 else -0.15),
                ncol=len(stage_names),
            )
    parts = []
    for row in rows:
        stages = ", ".join(
            f"{stage} {SUPPRESSED_MARK if pct is None else format_percent(pct)}"
            for stage, _, pct in row["stages"]
        )
        allocated = SUPPRESSED_MARK if row["allocated"] is None else f"{row['allocated']:,}"
        parts.append(f"{row['label']} ({allocated} allocated): {stages}")
    parts += [f"{row['label']}: not offered the intervention" for row in not_offered]
    return _finish(
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

    with plt.rc_context(_STYLE):
        fig, ax = _figure(7.0, 3.0)
        described = []
        for k, line in enumerate(series):
            if not line["points"]:
                continue
            days = [dt.date.fromisoformat(p[0]) for p in line["points"]]
            ax.step(
                days,
                [p[1] for p in line["points"]],
                where="post",
                color=PALETTE[k % len(PALETTE)],
                linewidth=2,
                label=line["label"],
                marker="o",
                markersize=3,
            )
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
        ax.set_ylabel("% started (cumulative)")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}%"))
        fig.autofmt_xdate()
        if described:
            ax.legend(frameon=False, fontsize=8, loc="upper left")
    return _finish(
        fig,
        chart_id,
        "Uptake over time",
        "; ".join(described) + "." if described else "No one had started.",
    )


def ce_plane_chart(
    points: Sequence[dict], *, point: dict, effect_label: str, chart_id: str
) -> Chart:
    """Cost-effectiveness plane: bootstrap replicates of (incremental effect, incremental cost)."""
    n = len(points)
    # a cloud of thousands of replicates is drawn as one embedded bitmap: vector markers would
    # make the SVG large and the PDF slow, and the numbers are in the text alternative anyway
    drawn = points[:: max(1, math.ceil(n / _MAX_PLANE_POINTS))]
    with plt.rc_context(_STYLE):
        fig, ax = _figure(6.0, 4.2)
        if n:
            ax.scatter(
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
        ax.plot(
            point["effect"],
            point["cost"],
            "D",
            color=PALETTE[1],
            markersize=8,
            label="Point estimate",
        )
        ax.axhline(0, color=_GRID, linewidth=1)
        ax.axvline(0, color=_GRID, linewidth=1)
        ax.set_xlabel(f"Incremental effect ({effect_label})")
        ax.set_ylabel("Incremental cost per participant")
        ax.yaxis.set_major_formatter(FuncFormatter(_money_tick))
        ax.legend(frameon=False, fontsize=8, loc="best")
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
    return _finish(fig, chart_id, f"Cost-effectiveness plane ({effect_label})", description)


def ceac_chart(
    curve: Sequence[dict], *, effect_label: str, chart_id: str, unit: str = "point gained"
) -> Chart:
    """Cost-effectiveness acceptability curve: P(cost-effective) against willingness to pay.

    ``unit`` is what the willingness to pay is per ("point gained",
    "percentage point avoided").
    """
    with plt.rc_context(_STYLE):
        fig, ax = _figure(6.0, 3.2)
        ax.plot(
            [c["wtp"] for c in curve],
            [c["probability"] for c in curve],
            color=PALETTE[2],
            linewidth=2.2,
        )
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"Willingness to pay per {unit}: {effect_label}")
        ax.set_ylabel("Probability cost-effective")
        ax.xaxis.set_major_formatter(FuncFormatter(_money_tick))
        ax.grid(color="#d9d9d9", linewidth=0.6)
    picks = [curve[i] for i in sorted({0, len(curve) // 4, len(curve) // 2, len(curve) - 1})]
    description = "; ".join(
        f"at {format_money(c['wtp'])}: {format_percent(100 * c['probability'])}" for c in picks
    )
    return _finish(
        fig,
        chart_id,
        f"Cost-effectiveness acceptability curve ({effect_label})",
        f"Probability that the intervention is cost-effective {description}."
        if curve
        else "No data.",
    )


def wave_means_chart(
    series: Sequence[dict], *, timepoints: Sequence[str], unit: str, chart_id: str
) -> Chart:
    """Each arm's mean at each timepoint with its 95% CI, one line per arm.

    Parameters
    ----------
    series : sequence of dict
        ``label`` (the arm) and ``points``: dicts with ``timepoint``, ``mean``, ``low``,
        ``high`` (numbers, the CI ends may be None) and ``text`` (as the table states it);
        a point hidden for disclosure control is left out.
    timepoints : sequence of str
        The x axis, in time order (baseline, the waves, endline).
    unit : str
        The y axis label: the outcome.
    """
    # 4.6 inches at font size 10: drawn 390 px wide, every label stays at least 11 px
    with plt.rc_context(_STYLE):
        fig, ax = _figure(4.6, 3.0)
        position = {t: k for k, t in enumerate(timepoints)}
        # arms side by side at each timepoint, so their intervals do not hide each other
        spread = len(series) - 1
        offsets = [0.16 * k / spread - 0.08 for k in range(len(series))] if spread else [0.0]
        described = []
        for k, line in enumerate(series):
            points = [p for p in line["points"] if p["timepoint"] in position]
            if not points:
                continue
            x = [position[p["timepoint"]] + offsets[k] for p in points]
            colour = PALETTE[k % len(PALETTE)]
            ax.plot(
                x,
                [p["mean"] for p in points],
                color=colour,
                marker="o",
                markersize=5,
                linewidth=2,
                label=line["label"],
            )
            for xi, p in zip(x, points, strict=True):
                if p["low"] is not None and p["high"] is not None:
                    ax.plot([xi, xi], [p["low"], p["high"]], color=colour, linewidth=1.4)
            described.append(
                f"{line['label']}: " + "; ".join(f"{p['timepoint']} {p['text']}" for p in points)
            )
        ax.set_xticks(range(len(timepoints)), list(timepoints))
        ax.set_xlim(-0.4, len(timepoints) - 0.6)
        ax.set_ylabel(f"{unit}\n(mean, 95% CI)")
        ax.grid(axis="y", color="#d9d9d9", linewidth=0.6)
        if described:
            ax.legend(frameon=False, loc="best")
    return _finish(
        fig,
        chart_id,
        "Mean by wave, each arm",
        ". ".join(described) + "." if described else "No mean can be shown.",
    )


def _labels_below(rows: Sequence[dict], *, decades: float = 0.15) -> set[int]:
    """Which points' labels go under them, so labels of trials at nearly the same cost
    (within ``decades`` on the log scale) do not overlap.

    From the dearest down, a label goes above its point unless the next dearer
    trial is that close, in which case it takes the other side from that one's.
    """
    order = sorted(range(len(rows)), key=lambda k: rows[k]["cost"], reverse=True)
    below: set[int] = set()
    for dearer, cheaper in zip(order, order[1:], strict=False):
        close = math.log10(rows[dearer]["cost"]) - math.log10(rows[cheaper]["cost"]) < decades
        if close and dearer not in below:
            below.add(cheaper)
    return below


def portfolio_chart(rows: Sequence[dict], *, effect_label: str, chart_id: str) -> Chart:
    """Cost per participant (log scale) against the effect on the shared outcome, with 95% CIs.

    Parameters
    ----------
    rows : sequence of dict
        ``label``, ``cost`` (per participant), ``effect``, ``low``, ``high``
        (in the shared outcome's points; ``effect`` None when the trial did
        not measure it).
    """
    drawn = [r for r in rows if r.get("effect") is not None and r.get("cost")]
    below = _labels_below(drawn)
    with plt.rc_context(_STYLE):
        fig, ax = _figure(7.0, 4.4)
        for k, row in enumerate(drawn):
            colour = PALETTE[k % len(PALETTE)]
            ax.errorbar(
                row["effect"],
                row["cost"],
                xerr=[[row["effect"] - row["low"]], [row["high"] - row["effect"]]],
                fmt="o",
                color=colour,
                ecolor=colour,
                capsize=4,
                markersize=8,
                linewidth=2,
            )
            ax.annotate(
                row["label"],
                (row["effect"], row["cost"]),
                textcoords="offset points",
                xytext=(8, -15) if k in below else (8, 7),
                fontsize=9,
                color=colour,
            )
        ax.axvline(0, color=_GRID, linewidth=1, linestyle="--")
        if drawn:
            ax.set_yscale("log")
            low = min(r["cost"] for r in drawn)
            high = max(r["cost"] for r in drawn)
            ax.set_ylim(10 ** math.floor(math.log10(low)), 10 ** math.ceil(math.log10(high)) * 1.2)
            span = max(max(abs(r["low"]), abs(r["high"])) for r in drawn)
            ax.set_xlim(-span * 1.15, span * 1.6)
        ax.yaxis.set_major_formatter(FuncFormatter(_money_tick))
        ax.set_xlabel(f"Effect on {effect_label} (points, 95% CI); right of zero is better")
        ax.set_ylabel("Cost per participant (log scale)")
        ax.grid(color="#e3e3e3", linewidth=0.6)
    described = [
        f"{r['label']}: {format_number(r['effect'], 2, signed=True)} points "
        f"(95% CI {format_number(r['low'], 2)} to {format_number(r['high'], 2)}) "
        f"at {format_money(r['cost'])} per participant"
        for r in drawn
    ]
    missing = [r["label"] for r in rows if r not in drawn]
    text = "; ".join(described) + "." if described else "No trial measured it."
    if missing:
        text += f" Not shown (not measured or no cost): {', '.join(missing)}."
    return _finish(fig, chart_id, f"Cost and effect on {effect_label}, by trial", text)
