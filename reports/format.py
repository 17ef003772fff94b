"""Formatting of numbers, money and names for every report (pure: values in, strings out)."""

from __future__ import annotations

__all__ = ["humanise"]


def humanise(key: str) -> str:
    """A field name as a label: ``"years_in_post"`` -> ``"Years in post"``."""
    text = key.replace("_", " ")
    return text[:1].upper() + text[1:]
