"""How the store writes a cell: the time now, a missing value, text and JSON scalars."""

from __future__ import annotations

import datetime as dt

import pandas as pd

__all__ = ["is_present", "json_scalar", "text_or_none", "utc_now"]


def utc_now() -> dt.datetime:
    """The time now in UTC, without a time zone (every DateTime column holds UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def is_present(value: object) -> bool:
    """Whether a roster or file cell holds a value (not None, NaN or NaT)."""
    return (
        value is not None
        and not (isinstance(value, float) and pd.isna(value))
        and value is not pd.NaT
    )


def text_or_none(value: object) -> str | None:
    """A cell as text for a Text column, or None (NULL) when it is missing."""
    return str(value) if is_present(value) else None


def json_scalar(value: object) -> object:
    """A cell as a value ``json.dumps`` accepts: numpy scalars as Python ones, missing as None."""
    if not is_present(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
