"""What every chart shares: the 11 pt text style, the palette, the fit-to-width rule and the
figure-to-SVG step (ids prefixed, no fixed size, a ``<title>`` text alternative).

Each chart family (:mod:`.uptake`, :mod:`.effects`, :mod:`.costs`, :mod:`.portfolio`) draws
with :func:`figure` under :data:`STYLE` and hands the figure to :func:`finish`.
"""

from __future__ import annotations

import io
import re
import textwrap
from dataclasses import dataclass
from html import escape

import matplotlib
from markupsafe import Markup

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from reports.format import format_money  # noqa: E402

__all__ = [
    "GRID",
    "INK",
    "LONGEST",
    "MAX_WIDTH_PT",
    "PALETTE",
    "STYLE",
    "TEXT_SIZE",
    "WRAP",
    "Chart",
    "figure",
    "finish",
    "fit_width",
    "legend_below",
    "money_tick",
    "name_marks",
    "styled",
    "wrap",
]

#: Colour-blind-safe hues darkened to at least 4.5:1 on white, so they also work as text.
PALETTE = ("#0b5394", "#9a4a00", "#1b6e37", "#a0256b", "#5b4a9e")
INK = "#1a1a1a"
GRID = "#6b6b6b"
#: The size of every chart text, in points at the chart's natural size.
TEXT_SIZE = 11
#: The widest a chart may be at its natural size (pt): 11 pt text scaled to a 358 px column
#: stays at 11 px while the chart is no wider than 358 pt.
MAX_WIDTH_PT = 356
#: Wrap long tick labels (outcome and trial names) at this many characters.
WRAP = 24
#: No line of a label is longer than this many characters (about 230 pt at 11 pt).
LONGEST = 36
#: The plotting area keeps at least this width (inches) however long the labels are.
MIN_WIDTH_IN = 1.2

STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": TEXT_SIZE,
    "legend.fontsize": TEXT_SIZE,
    "xtick.labelsize": TEXT_SIZE,
    "ytick.labelsize": TEXT_SIZE,
    "axes.labelsize": TEXT_SIZE,
    "text.color": INK,
    "axes.labelcolor": INK,
    "axes.edgecolor": GRID,
    "xtick.color": INK,
    "ytick.color": INK,
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


def fit_width(fig) -> None:
    """Narrow the plotting area until the whole chart, labels included, is at most
    MAX_WIDTH_PT wide: long labels take room from the axes, never from the text size."""
    for _ in range(4):
        # savefig(bbox_inches="tight") adds 0.1 in of padding on each side
        width = fig.get_tightbbox(fig.canvas.get_renderer()).width * 72 + 14.4  # pt
        if width <= MAX_WIDTH_PT - 8:
            return
        inches = fig.get_size_inches()
        narrower = max(inches[0] - (width - MAX_WIDTH_PT + 12) / 72, MIN_WIDTH_IN)
        if narrower >= inches[0]:
            return  # labels alone are this wide: keep the plot readable rather than fail
        fig.set_size_inches(narrower, inches[1])


def finish(fig, chart_id: str, title: str, description: str) -> Chart:
    with plt.rc_context(STYLE):
        fit_width(fig)
    buffer = io.StringIO()
    with plt.rc_context(STYLE):  # svg.* settings are read when saving
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


def money_tick(value: float, _position: int) -> str:
    """Axis labels in pounds, without pence when the tick is a whole number of pounds."""
    return format_money(value, decimals=0 if float(value).is_integer() else None)


def styled():
    """The chart style as a context (11 pt text everywhere, real SVG text, stable ids): draw
    inside it, since matplotlib reads most settings when an artist is made."""
    return plt.rc_context(STYLE)


def figure(width: float, height: float):
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def _glue_brackets(match: re.Match) -> str:
    """Bracketed groups kept whole, and together while they fit on one line: an outcome's
    "(SWEMWBS metric score)" and an arm's "(Course plus manager reminders)" are too long
    for one line, so each stays whole on its own instead of being cut mid-word."""
    text = match.group(0)
    if len(text) <= LONGEST:
        return text.replace(" ", "\u00a0")
    return re.sub(r"[(\[][^()\[\]]*[)\]]", lambda g: g.group(0).replace(" ", "\u00a0"), text)


def wrap(label: str, width: int = WRAP) -> str:
    """A long label on several lines, so it does not widen the chart past what a phone shows.

    Bracketed groups stay whole and on one line with the groups that follow them,
    so "(WRQoL total) [placeholder scoring]" keeps the flag beside what it flags.
    """
    glued = re.sub(
        r"[(\[][^()\[\]]*[)\]](?:\s+[(\[][^()\[\]]*[)\]])*",
        _glue_brackets,
        label,
    )
    # a word (or bracketed group) longer than LONGEST is cut, so no label outgrows a phone
    words = [
        word[i : i + LONGEST] for word in glued.split(" ") for i in range(0, len(word), LONGEST)
    ]
    lines = textwrap.wrap(" ".join(words), width, break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines).replace("\u00a0", " ") or label


def legend_below(fig, ax, **options) -> None:
    """The legend under the axes and their labels, left-aligned: no data line can cross it
    and no axis label runs into it, however many lines the labels take."""
    fit_width(fig)
    renderer = fig.canvas.get_renderer()
    box = ax.get_tightbbox(renderer).transformed(fig.transFigure.inverted())
    fig.legend(
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(box.x0, box.y0 - 0.02),
        borderaxespad=0,
        **options,
    )


def flatten(artists) -> list:
    """Matplotlib artists, however nested in lists and tuples, as one flat list."""
    if not isinstance(artists, list | tuple):
        return [artists]
    return [a for part in artists for a in flatten(part)]


def name_marks(artists, gid: str) -> None:
    """Give data marks ids (``<chart>-<gid>-<i>`` in the SVG) so a browser can find them."""
    for i, artist in enumerate(flatten(artists)):
        artist.set_gid(f"{gid}-{i}")
