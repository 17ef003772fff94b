"""Numbers made safe for JSON: one rule for every results.json writer.

JSON has no NaN or infinity, so a number that is not finite is written as ``null``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["json_float", "json_value"]


def json_float(value: object) -> float | None:
    """``value`` as a float, or ``None`` when it is missing, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def json_value(value: object) -> object:
    """Booleans, strings and ``None`` as they are; integers as ``int``; other numbers by
    :func:`json_float`."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    return json_float(value)
