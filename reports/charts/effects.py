"""Effect charts: the forest plot of every outcome, one subgroup's levels, and the means by wave."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.ticker import MaxNLocator

from reports.charts.style import (
    GRID,
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
from reports.format import format_number

__all__ = ["forest_chart", "subgroup_chart", "wave_means_chart"]


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
    labels = [wrap(("Primary: " if r.get("primary") else "") + r["label"]) for r in rows]
    lines = sum(label.count("\n") + 1 for label in labels)
    with styled():
        fig, ax = figure(3.0, 1.2 + 0.22 * max(lines, 1) + 0.12 * len(rows))
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
            name_marks(marks, f"series-{i}-interval")
        ax.axvline(0, color=GRID, linewidth=1, linestyle="--")
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
    return finish(
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
    labels = [wrap(r["label"]) for r in rows]
    lines = sum(label.count("\n") + 1 for label in labels)
    # as the forest plot: narrow, labels and axis text wrapped, so it fits a phone at 11 pt
    # "p = 0.630" stays on one line
    glued = tests.replace(" = ", "\u00a0=\u00a0")
    xlabel = wrap(f"{unit} (95% CI)", 34) + "\n" + wrap(glued, 34)
    with styled():
        fig, ax = figure(3.0, 1.4 + 0.22 * max(lines, 1) + 0.12 * len(rows))
        for i, row in enumerate(rows):
            marks = ax.plot([row["low"], row["high"]], [i, i], color=PALETTE[0], linewidth=2.2)
            marks += ax.plot(row["value"], i, marker="s", color=PALETTE[0], markersize=6)
            name_marks(marks, f"series-{i}-interval")
        ax.axvline(0, color=GRID, linewidth=1, linestyle="--")
        ax.set_yticks(range(len(rows)), labels)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        span = max([abs(r["low"]) for r in rows] + [abs(r["high"]) for r in rows] + [0.25])
        ax.set_xlim(-span * 1.1, span * 1.1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", color="#d9d9d9", linewidth=0.6)
    description = "; ".join(f"{r['label']}: {r['text']}" for r in rows)
    return finish(
        fig,
        chart_id,
        f"Forest plot: effect within each {subgroup} level, zero is no difference",
        (description + f". {tests}.") if rows else "No level could be estimated.",
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
    # narrowed to at most MAX_WIDTH_PT by finish(), so every text stays 11 pt on a phone
    with styled():
        fig, ax = figure(4.6, 3.0)
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
            marks = ax.plot(
                x,
                [p["mean"] for p in points],
                color=colour,
                marker="o",
                markersize=5,
                linewidth=2,
                label=wrap(line["label"], LONGEST),
            )
            name_marks(marks, f"series-{k}")
            intervals = []
            for xi, p in zip(x, points, strict=True):
                if p["low"] is not None and p["high"] is not None:
                    intervals += ax.plot(
                        [xi, xi], [p["low"], p["high"]], color=colour, linewidth=1.4
                    )
            name_marks(intervals, f"series-{k}-interval")
            described.append(
                f"{line['label']}: " + "; ".join(f"{p['timepoint']} {p['text']}" for p in points)
            )
        ax.set_xticks(range(len(timepoints)), list(timepoints))
        ax.set_xlim(-0.4, len(timepoints) - 0.6)
        ax.set_ylabel(f"{wrap(unit)}\n(mean, 95% CI)")
        ax.grid(axis="y", color="#d9d9d9", linewidth=0.6)
        if described:
            # under the axes, one arm a line: no mean or interval can run through it
            legend_below(fig, ax, ncol=1)
    return finish(
        fig,
        chart_id,
        "Mean by wave, each arm",
        ". ".join(described) + "." if described else "No mean can be shown.",
    )
