"""Argument checks shared by every layer, one of each.

Each raises ``ValueError`` naming the argument, the rule and the value given, so a caller
can say what to change (in the spirit of scikit-learn's ``utils/validation.py``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "check_choice",
    "check_count",
    "check_open_unit",
    "check_positive_finite",
    "is_member",
    "is_real_number",
    "require_columns",
]


def check_choice(name: str, value: object, choices: Iterable[str]) -> None:
    """Refuse a ``value`` that is not one of ``choices`` (a table's keys or any iterable).

    Examples
    --------
    >>> check_choice("se_type", "HC9", {"HC0": "", "HC1": ""})
    Traceback (most recent call last):
    ...
    ValueError: The 'se_type' 'HC9' is not known. Choose one of: HC0, HC1. Got 'HC9' instead.
    """
    choices = list(choices)
    if value not in choices:
        raise ValueError(
            f"The '{name}' '{value}' is not known. Choose one of: {', '.join(choices)}. "
            f"Got '{value}' instead."
        )


def is_real_number(value: object) -> bool:
    """Whether ``value`` is a real number: a Python or NumPy int or float, not a bool."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def check_count(name: str, value: object, minimum: int) -> None:
    """Refuse anything but an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(
            f"The '{name}' must be an integer of at least {minimum}. Got {value!r} instead."
        )


def check_positive_finite(name: str, value: object) -> None:
    """Refuse anything but a finite real number above 0."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value > 0):
        raise ValueError(f"The '{name}' must be a positive finite number. Got {value!r} instead.")


def check_open_unit(name: str, value: object, *, closed_low: bool = False) -> None:
    """Refuse a value outside (0, 1), or [0, 1) with ``closed_low``."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and (0 <= value < 1 if closed_low else 0 < value < 1)
    if not ok:
        interval = "[0, 1)" if closed_low else "(0, 1)"
        raise ValueError(f"The '{name}' must lie in {interval}. Got {value!r} instead.")


def require_columns(data: pd.DataFrame, columns: Sequence[str], *, where: str = "the data") -> None:
    """Refuse a frame that lacks any of ``columns``, naming those missing and those present.

    ``where`` names the frame when a function takes several (``"the staff frame"``).
    """
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(
            f"The column(s) {', '.join(repr(c) for c in missing)} are not in {where}. "
            f"Got columns: {', '.join(map(str, data.columns))}."
        )


def is_member(values: Iterable[object], candidates: Collection[object]) -> np.ndarray:
    """Exact set membership as a boolean array, through one hash table.

    pandas' ``isin`` on pyarrow-backed strings is slow for many ids; an object ``Index`` is
    not, and compares ids exactly ('P10 ' is not 'P10').
    """
    candidates = list(candidates) if isinstance(candidates, set | frozenset) else candidates
    found = pd.Index(np.asarray(values, dtype=object), dtype=object).isin(
        np.asarray(candidates, dtype=object)
    )
    return np.asarray(found, dtype=bool)
