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

from reports.charts.costs import ce_plane_chart, ceac_chart
from reports.charts.effects import forest_chart, subgroup_chart, wave_means_chart
from reports.charts.portfolio import portfolio_chart
from reports.charts.style import MAX_WIDTH_PT, PALETTE, TEXT_SIZE, Chart
from reports.charts.uptake import funnel_chart, uptake_chart

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
