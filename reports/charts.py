"""Charts as inline, accessible SVG strings (matplotlib; pure: numbers in, markup out).

Every chart is an ``<svg role="img">`` whose ``<title>`` states the chart's
numbers, so a screen reader, a search, or a black-and-white printout loses
nothing.  SVGs carry a ``viewBox`` and no fixed size, so they scale with the
page (200% zoom, phones, print), but never beyond their natural size (an inline
``max-width``), where the text is :data:`TEXT_SIZE` pt.  Every text is that one
size, and every chart is at most :data:`MAX_WIDTH_PT` wide, so on a 390 px
phone (358 px of column) chart text is still at least 11 px, and in a PDF at
least 8 pt.  Legends sit outside the plotting area, so no data line crosses
them.  The data marks are groups with ids ``<chart>-series-<k>`` (error bars
``<chart>-series-<k>-interval``) so that a browser test can find them.  Element
ids are prefixed with the chart's id, so several charts can share a page.
Output is deterministic: the same numbers give byte-identical SVG.

Counts passed in have already been through disclosure control: a suppressed
count arrives as ``None`` and is drawn as "[c]", never as a bar whose length
would give it away.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import matplotlib
from markupsafe import Markup

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.dates import AutoDateLocator, DateFormatter  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from reports.disclosure import SUPPRESSED_MARK  # noqa: E402
from reports.format import format_money, format_number, format_percent  # noqa: E402

__all__ = [
    "MAX_WIDTH_PT",
    "PALETTE",
    "TEXT_SIZE",
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
#: The size of every chart text, in points at the chart's natural size.
TEXT_SIZE = 11
#: The widest a chart may be at its natural size (pt): 11 pt text scaled to a 358 px column
#: stays at 11 px while the chart is no wider than 358 pt.
MAX_WIDTH_PT = 356
#: Wrap long tick labels (outcome and trial names) at this many characters.
_WRAP = 24
#: No line of a label is longer than this many characters (about 230 pt at 11 pt).
_LONGEST = 36
#: The plotting area keeps at least this width (inches) however long the labels are.
_MIN_WIDTH_IN = 1.2

_STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": TEXT_SIZE,
    "legend.fontsize": TEXT_SIZE,
    "xtick.labelsize": TEXT_SIZE,
    "ytick.labelsize": TEXT_SIZE,
    "axes.labelsize": TEXT_SIZE,
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


def _fit_width(fig) -> None:
    """Narrow the plotting area until the whole chart, labels included, is at most
    MAX_WIDTH_PT wide: long labels take room from the axes, never from the text size."""
    for _ in range(4):
        # savefig(bbox_inches="tight") adds 0.1 in of padding on each side
        width = fig.get_tightbbox(fig.canvas.get_renderer()).width * 72 + 14.4  # pt
        if width <= MAX_WIDTH_PT - 8:
            return
        inches = fig.get_size_inches()
        narrower = max(inches[0] - (width - MAX_WIDTH_PT + 12) / 72, _MIN_WIDTH_IN)
        if narrower >= inches[0]:
            return  # labels alone are this wide: keep the plot readable rather than fail
        fig.set_size_inches(narrower, inches[1])


def _finish(fig, chart_id: str, title: str, description: str) -> Chart:
    with plt.rc_context(_STYLE):
        _fit_width(fig)
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
    # size: drop the fixed width/height; the viewBox keeps the shape, and the natural width
    # is the most the chart grows to, so its text is never drawn larger than TEXT_SIZE pt
    svg = re.sub(r'^<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)
    natural = float(re.search(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+) ', svg).group(1))
    label_id = f"{chart_id}-title"
    svg = svg.replace(
        "<svg",
        f'<svg role="img" aria-labelledby="{label_id}" class="chart" '
        f'style="max-width: {natural:.0f}pt" preserveAspectRatio="xMidYMid meet"',
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


def _wrap(label: str, width: int = _WRAP) -> str:
    """A long label on several lines, so it does not widen the chart past what a phone shows.

    Bracketed groups stay whole and on one line with the groups that follow them,
    so "(WRQoL total) [placeholder scoring]" keeps the flag beside what it flags.
    """
    glued = re.sub(
        r"[(\[][^()\[\]]*[)\]](?:\s+[(\[][^()\[\]]*[)\]])*",
        lambda m: m.group(0).replace(" ", "\u00a0"),
        label,
    )
    # a word (or bracketed group) longer than _LONGEST is cut, so no label outgrows a phone
    words = [
        word[i : i + _LONGEST] for word in glued.split(" ") for i in range(0, len(word), _LONGEST)
    ]
    lines = textwrap.wrap(" ".join(words), width, break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines).replace("\u00a0", " ") or label


def _legend_below(fig, ax, **options) -> None:
    """The legend under the axes and their labels, left-aligned: no data line can cross it
    and no axis label runs into it, however many lines the labels take."""
    _fit_width(fig)
    renderer = fig.canvas.get_renderer()
    box = ax.get_tightbbox(renderer).transformed(fig.transFigure.inverted())
    fig.legend(
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(box.x0, box.y0 - 0.02),
        borderaxespad=0,
        **options,
    )


def _flatten(artists) -> list:
    if not isinstance(artists, list | tuple):
        return [artists]
    return [a for part in artists for a in _flatten(part)]


def _name(artists, gid: str) -> None:
    """Give data marks ids (``<chart>-<gid>-<i>`` in the SVG) so a browser can find them."""
    for i, artist in enumerate(_flatten(artists)):
        artist.set_gid(f"{gid}-{i}")


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
    labels = [_wrap(("Primary: " if r.get("primary") else "") + r["label"]) for r in rows]
    lines = sum(label.count("\n") + 1 for label in labels)
    with plt.rc_context(_STYLE):
        fig, ax = _figure(3.0, 1.2 + 0.22 * max(lines, 1) + 0.12 * len(rows))
        for i, row in enumerate(rows):
            colour = PALETTE[0] if row.get("primary") else PALETTE[1]
            marks = ax.plot([row["low"], row["high"]], [i, i], color=colour, linewidth=2.2)
            marks += ax.plot(
                row["value"],
                i,
                marker="D" if row.get("primary") else "o",
                color=colour,
                markersize=7 if row.get("primary") else 6,
            )
            _name(marks, f"series-{i}-interval")
        ax.axvline(0, color=_GRID, linewidth=1, linestyle="--")
        ax.set_yticks(range(len(rows)), labels)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        span = max([abs(r["low"]) for r in rows] + [abs(r["high"]) for r in rows] + [0.25])
        ax.set_xlim(-span * 1.1, span * 1.1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))
        ax.set_xlabel(f"{axis_label}\n(95% CI)\n\u2190 worse\u2003\u2003better \u2192")
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
    with plt.rc_context(_STYLE):
        fig, ax = _figure(4.2, 1.2 + 1.0 * max(len(rows), 1))
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
                _name(list(bar), f"series-{i}-{j}")
                ax.text(pct + 1, y, format_percent(pct), va="center")
        ax.set_yticks(range(len(rows)), [_wrap(r["label"], 14) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, 125)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel(
            "% of those allocated"
            + (f"\n{SUPPRESSED_MARK}: not shown (fewer than 5 people)" if suppressed else "")
        )
        if ax.get_legend_handles_labels()[1]:
            # under the axes: no bar or label can run into it
            _legend_below(fig, ax, ncol=len(stage_names), handlelength=1.0, columnspacing=1.0)
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
        fig, ax = _figure(4.4, 2.6)
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
                label=_wrap(line["label"], _LONGEST),
                marker="o",
                markersize=3,
            )
            _name(marks, f"series-{k}")
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
            _legend_below(fig, ax, ncol=1)
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
        fig, ax = _figure(3.4, 2.8)
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
        _name(marks, "series-0")
        ax.axhline(0, color=_GRID, linewidth=1)
        ax.axvline(0, color=_GRID, linewidth=1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_xlabel(_wrap(f"Incremental effect ({effect_label})", 34))
        ax.set_ylabel("Incremental cost\nper participant")
        ax.yaxis.set_major_formatter(FuncFormatter(_money_tick))
        _legend_below(fig, ax, ncol=1)
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
        fig, ax = _figure(3.4, 2.4)
        marks = ax.plot(
            [c["wtp"] for c in curve],
            [c["probability"] for c in curve],
            color=PALETTE[2],
            linewidth=2.2,
        )
        _name(marks, "series-0")
        ax.set_ylim(0, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.set_xlabel(_wrap(f"Willingness to pay per {unit}: {effect_label}", 34))
        ax.set_ylabel("Probability\ncost-effective")
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


def portfolio_chart(rows: Sequence[dict], *, effect_label: str, chart_id: str) -> Chart:
    """Effect on the shared outcome with its 95% CI, one row per trial, cheapest first.

    Each trial has its own row, labelled with its cost per participant, so no
    two intervals or labels can overlap however close the trials' costs are
    (on a log-cost axis, trials of nearly the same cost drew their intervals
    on top of each other).

    Parameters
    ----------
    rows : sequence of dict
        ``label``, ``cost`` (per participant), ``effect``, ``low``, ``high``
        (in the shared outcome's points; ``effect`` None when the trial did
        not measure it).
    """
    drawn = sorted(
        (r for r in rows if r.get("effect") is not None and r.get("cost")),
        key=lambda r: r["cost"],
    )
    labels = [f"{_wrap(r['label'])}\n{format_money(r['cost'])} per participant" for r in drawn]
    lines = sum(label.count("\n") + 1 for label in labels)
    with plt.rc_context(_STYLE):
        fig, ax = _figure(2.9, 1.3 + 0.2 * max(lines, 1) + 0.15 * len(drawn))
        for k, row in enumerate(drawn):
            colour = PALETTE[k % len(PALETTE)]
            bars = ax.errorbar(
                row["effect"],
                k,
                xerr=[[row["effect"] - row["low"]], [row["high"] - row["effect"]]],
                fmt="o",
                color=colour,
                ecolor=colour,
                capsize=4,
                markersize=7,
                linewidth=2,
            )
            _name(list(bars.lines), f"series-{k}-interval")
        ax.axvline(0, color=_GRID, linewidth=1, linestyle="--")
        ax.set_yticks(range(len(drawn)), labels)
        ax.set_ylim(len(drawn) - 0.5, -0.5)
        if drawn:
            span = max(max(abs(r["low"]), abs(r["high"])) for r in drawn)
            ax.set_xlim(-span * 1.1, span * 1.1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))
        ax.set_xlabel(
            _wrap(f"Effect on {effect_label} (points, 95% CI)", 30)
            + "\n\u2190 worse\u2003\u2003better \u2192"
        )
        ax.grid(axis="x", color="#e3e3e3", linewidth=0.6)
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
