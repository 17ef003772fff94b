"""The portfolio chart: each trial's effect on the shared outcome, labelled with its cost."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.ticker import MaxNLocator

from reports.charts.style import (
    GRID,
    PALETTE,
    Chart,
    figure,
    finish,
    name_marks,
    styled,
    wrap,
)
from reports.format import format_money, format_number

__all__ = ["portfolio_chart"]


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
    labels = [f"{wrap(r['label'])}\n{format_money(r['cost'])} per participant" for r in drawn]
    lines = sum(label.count("\n") + 1 for label in labels)
    with styled():
        fig, ax = figure(2.9, 1.3 + 0.2 * max(lines, 1) + 0.15 * len(drawn))
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
            name_marks(list(bars.lines), f"series-{k}-interval")
        ax.axvline(0, color=GRID, linewidth=1, linestyle="--")
        ax.set_yticks(range(len(drawn)), labels)
        ax.set_ylim(len(drawn) - 0.5, -0.5)
        if drawn:
            span = max(max(abs(r["low"]), abs(r["high"])) for r in drawn)
            ax.set_xlim(-span * 1.1, span * 1.1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))
        ax.set_xlabel(
            wrap(f"Effect on {effect_label} (points, 95% CI)", 30)
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
    return finish(fig, chart_id, f"Cost and effect on {effect_label}, by trial", text)
