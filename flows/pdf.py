"""WeasyPrint set up for trialflow's PDFs: the same files, written three times faster, quietly.

Without the system library HarfBuzz-Subset, WeasyPrint subsets each font of
each PDF with fontTools, and logs a warning each time (967 lines in one demo).
fontTools 4.68 decompiles a font's whole GSUB and GPOS tables before
subsetting (``_compact_layout_tables``), although WeasyPrint asks it to drop
both; for DejaVu that is most of the time of a letter's PDF (profiled: 0.55 s
of 0.56 s per font, 193 letter PDFs x 5 fonts in the demo).

:func:`prepare_weasyprint` removes the two tables (and the legacy ``kern``
table fontTools would drop beside GPOS) before fontTools sees them when they
are to be dropped anyway, so the subset fonts are table-for-table identical
(checked: every embedded font table but ``head``'s timestamp has the same
bytes) and drops the HarfBuzz-Subset notice (see :mod:`flows.logs`).
Installing the system's HarfBuzz-Subset (``libharfbuzz-subset0`` on Debian)
makes WeasyPrint skip fontTools altogether.
"""

from __future__ import annotations

__all__ = ["prepare_weasyprint"]

_PATCHED = "_trialflow_drops_layout_first"


def _drop_dropped_layout_tables(subsetter, font) -> None:  # noqa: ANN001 - fontTools objects
    drop = subsetter.options.drop_tables
    if "GPOS" in font and "GPOS" in drop and not subsetter.options.legacy_kern and "kern" in font:
        del font["kern"]  # fontTools drops 'kern' when GPOS is present; keep that outcome
    for tag in ("GSUB", "GPOS"):
        if tag in drop and tag in font:
            del font[tag]


def prepare_weasyprint() -> None:
    """Quiet WeasyPrint's HarfBuzz-Subset notice and skip fontTools' wasted layout work (idempotent)."""
    from fontTools import subset

    from flows.logs import quiet_weasyprint

    quiet_weasyprint()
    if getattr(subset.Subsetter.subset, _PATCHED, False):
        return
    original = subset.Subsetter.subset

    def subset_font(self, font):  # noqa: ANN001, ANN202 - fontTools' signature
        _drop_dropped_layout_tables(self, font)
        return original(self, font)

    setattr(subset_font, _PATCHED, True)
    subset.Subsetter.subset = subset_font
