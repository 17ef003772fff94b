"""Small cell formats the trial report's tables share: a count as a percentage of another, an SMD."""

from __future__ import annotations

from reports.disclosure import (
    SUPPRESSED_MARK,
)
from reports.format import (
    format_number,
    format_percent,
)

__all__ = ["pct", "small_decimals", "smd"]


def pct(numerator: int | None, denominator: int | None, decimals: int = 0) -> str:
    if numerator is None or not denominator:
        return SUPPRESSED_MARK if numerator is None else "\u2014"
    return format_percent(100 * numerator / denominator, decimals)


def small_decimals(numerator: int | None, denominator: int | None) -> int:
    """One decimal for percentages under 10% (1.7% completed), none above."""
    if numerator is None or not denominator:
        return 0
    return 1 if 0 < 100 * numerator / denominator < 10 else 0


def smd(value: float | None) -> str:
    return format_number(value, 2, signed=True) if value is not None else "\u2014"
