"""Participant ids: one exact rule for the roster and every reader that matches ids.

Readers keep ids exactly as written (:func:`exact_ids`) and match them exactly;
:func:`id_key` finds ids a person would read as one, which must not both exist.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

__all__ = ["exact_ids", "foreign_file_problem", "id_form_problem", "id_key", "id_keys"]


def id_key(value: object) -> str:
    """The form under which two ids read as one to a person: NFKC, case folded, trimmed.

    ``'P10'``, ``'P10 '``, ``'p10'`` and a fullwidth ``'Ｐ10'`` share a key, as do
    ``'Café'`` in NFC and NFD.  The key is never used to *match* ids (matching is
    exact, see :func:`exact_ids`); it finds ids that must not both exist.
    """
    folded = unicodedata.normalize("NFKC", str(value)).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def id_form_problem(value: object) -> str | None:
    """Why an id as written cannot be a participant's id, or None when it can.

    Spaces around an id and control or invisible format characters (a tab, a
    zero-width space, a byte-order mark) cannot be seen in a spreadsheet, so
    an id carrying them is refused rather than silently trimmed.
    """
    text = str(value)
    if text != text.strip():
        return (
            "This staff id has spaces (or tabs) before or after it, which nobody can see in a "
            "spreadsheet; remove them."
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        return (
            "This staff id holds a control or invisible character (a tab, a zero-width space, "
            "a byte-order mark); retype it."
        )
    return None


def exact_ids(values: pd.Series) -> pd.Series:
    """Id cells exactly as written, missing (None) where blank: the one way readers read ids.

    Every reader that matches a file's ids to the trial's participants (the
    roster, the letters' feedback sheet, survey and HR files, delivery logs)
    reads them through this function and then matches *exactly*: nothing is
    trimmed, so ``'P10 '`` never reaches ``'P10'``; it is an unknown id,
    quarantined with its reason.  Only a cell of nothing but spaces counts as
    blank.
    """

    raw = values.to_numpy(dtype=object, na_value=None)
    text = pd.Series(raw, dtype="string")  # vectorised: a roster may hold a million ids
    blank = (text.isna() | (text.str.strip() == "")).to_numpy(dtype=bool, na_value=True)
    out = np.asarray(text.to_numpy(dtype=object, na_value=None), dtype=object)
    out[blank] = None
    return pd.Series(out, index=values.index, dtype=object, name=values.name)


def id_keys(ids: pd.Series) -> pd.Series:
    """:func:`id_key` of every id, vectorised for printable ASCII (a million ids in a second)."""
    text = ids.astype("string")
    keys = text.str.lower().str.strip()  # NFKC leaves printable ASCII as it is
    other = text.str.contains(r"[^\x20-\x7e]", regex=True).fillna(False).to_numpy(dtype=bool)
    if other.any():
        keys[other] = [id_key(v) for v in text[other]]
    return keys.astype(object)


def foreign_file_problem(
    ids: pd.Series, known: np.ndarray, *, file_name: str, trial_id: str, noun: str = "participant"
) -> str | None:
    """Why a file is refused whole when more than half its rows name no one in the trial, else None.

    Such a file is almost surely another trial's, or the wrong export:
    quarantining its rows one by one would store the few that happen to match
    and write a validation file as large as the export.  A blank id names no
    one too.  Half or fewer is left to the row checks (a few mistyped or
    departed staff are quarantined, the rest stored).

    Parameters
    ----------
    ids : Series
        The file's id column as read (:func:`exact_ids`).
    known : ndarray
        Per row, 1.0 for an id of the trial, 0.0 for one that is not, NaN for a
        blank one (:func:`intake.rules.known_flags`).
    """
    n = len(ids)
    flags = np.asarray(known, dtype=float)
    unknown = ~(flags == 1.0)
    n_unknown = int(unknown.sum())
    if not n or 2 * n_unknown <= n:
        return None
    named = ids[unknown & ~np.isnan(flags)]
    example = f"'{named.iloc[0]}'" if len(named) else "a blank id"
    return (
        f"{file_name}: {n_unknown:,} of {n:,} rows ({100 * n_unknown / n:.1f}%) name no {noun} "
        f"of {trial_id}, e.g. {example}: is this another trial's file? Nothing was stored."
    )
