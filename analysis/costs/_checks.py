"""Checks and labels the modules of :mod:`analysis.costs` share (package-private)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from common.validation import is_real_number

__all__ = ["check_at_least", "check_ledger", "text_label"]


def check_at_least(value: object, name: str, *, minimum: int = 0, whole: bool = True) -> None:
    """Refuse a count (or, with ``whole=False``, an amount) that is not a number at least ``minimum``.

    Not :func:`common.validation.check_count`: a count here may arrive as a whole float (3.0,
    summed from a DataFrame), and attendances need not be whole.
    """
    ok = is_real_number(value) and math.isfinite(value) and value >= minimum
    if whole:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"'{name}' must be {kind} at least {minimum}. Got {value!r} instead.")


def check_ledger(ledger: pd.DataFrame) -> None:
    """Refuse anything but a ledger with the columns :func:`~analysis.costs.build_ledger` gives."""
    if not isinstance(ledger, pd.DataFrame):
        raise ValueError(
            f"'ledger' must be the DataFrame build_ledger returns. Got {type(ledger).__name__} instead."
        )
    missing = [c for c in ("category", "kind", "cost", "cost_discounted") if c not in ledger]
    if missing:
        raise ValueError(
            f"The ledger needs the columns {', '.join(missing)} (as build_ledger returns). "
            f"Got columns {', '.join(map(str, ledger.columns))} instead."
        )


def text_label(value: object) -> str | None:
    """A site or organisation as text; 3.0 (an integer label read with missing values) as '3'."""
    if pd.isna(value):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
