"""Safe outputs: atomic writes, formula-free CSVs, per-person file names, paths kept in place.

Every file trialflow writes (HTML, PDF, CSV, JSON, archived inputs) goes
through :func:`atomic_path`: it is written under a temporary name in the
same folder, flushed to disk, then renamed over the final name.  A crash or
``kill -9`` part-way leaves the final name absent or as it was, never a
truncated file that a rerun would trust.

CSV files go through :func:`write_csv`, which neutralises text cells a
spreadsheet would run as a formula (OWASP "CSV injection").

Names built from data go through :func:`participant_slug` (one name per
exact participant id), :func:`check_trial_id` and :func:`inside` (a path
built from a name stays in its folder).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pydantic

from trial_designs.sections import Identifier

__all__ = [
    "FORMULA_PREFIXES",
    "UnsafePathError",
    "atomic_path",
    "check_trial_id",
    "copy_file",
    "inside",
    "neutralise_formulas",
    "participant_slug",
    "write_bytes",
    "write_csv",
    "write_csv_chunks",
    "write_text",
]

#: A text cell starting with one of these is run as a formula by Excel, LibreOffice or Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A plain number ("-1.5", "+3", "2e-3") is data, not a formula: it stays as written.
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_SLUG_LENGTH = 40
_HASH_LENGTH = 12


class UnsafePathError(ValueError):
    """A name that would put a file outside its folder, or is not a valid id."""


# -- atomic writes ----------------------------------------------------------------------
def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the folder's entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - filesystems that refuse fsync on a directory
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Write the file's content to the yielded path (with any writer that takes
    a path).  When the block ends normally the file is fsync'ed and renamed
    to ``path`` with :func:`os.replace`; when it raises, the temporary file is
    removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or Path
        The final name.  Its folder is created if needed.

    Yields
    ------
    Path
        The temporary name (``.<name>.<random>.tmp`` in the same folder, so the
        rename never crosses a filesystem and globs such as ``*.pdf`` miss it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            # not tempfile.mkstemp: its 0600 would survive the rename; 0666 minus the umask is
            # what a plain open() gives, so outputs keep the permissions they always had
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:  # pragma: no cover - 48 random bits already taken
            continue
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_path`)."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return path


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_path`)."""
    return write_bytes(path, text.encode(encoding))


def copy_file(source: str | Path, target: str | Path) -> Path:
    """Copy ``source`` to ``target`` atomically (:func:`atomic_path`)."""
    target = Path(target)
    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)
    return target


# -- CSV --------------------------------------------------------------------------------
def _neutralise(value: object) -> object:
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_PREFIXES)
        and not _PLAIN_NUMBER.match(value)
    ):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as spreadsheet formulas (pure).

    A text cell (in an object or string column) that starts with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return gets a leading single
    quote, as OWASP recommends, unless it is a plain number such as ``-1.5``.
    Numeric columns are untouched, so they stay numeric.  Column names are
    treated like cells.

    Parameters
    ----------
    frame : DataFrame
        Any table.

    Returns
    -------
    DataFrame
        The same shape and dtypes.
    """
    out = frame.copy()
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            out.isetitem(position, column.map(_neutralise, na_action="ignore"))
    out.columns = [_neutralise(c) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, **to_csv) -> Path:
    """Write ``frame`` as CSV, formula-safe (:func:`neutralise_formulas`) and atomically.

    Parameters
    ----------
    frame : DataFrame
        The table.
    path : str or Path
        Where to write.
    **to_csv
        Passed to :meth:`pandas.DataFrame.to_csv`; ``index`` defaults to False.

    Returns
    -------
    Path
        ``path``.
    """
    return write_csv_chunks([frame], path, **to_csv)


def write_csv_chunks(frames: Iterable[pd.DataFrame], path: str | Path, **to_csv) -> Path:
    """:func:`write_csv` of a table read a chunk at a time, never whole in memory.

    The frames (same columns; the first may be empty) are written one after
    another, formula-safe, under one header, and renamed into place at the end
    (:func:`atomic_path`): text columns give the bytes :func:`write_csv` of
    their concatenation gives.

    Parameters
    ----------
    frames : iterable of DataFrame
        The table's chunks, in order; at least one.
    path : str or Path
        Where to write.
    **to_csv
        Passed to :meth:`pandas.DataFrame.to_csv`; ``index`` defaults to False.

    Returns
    -------
    Path
        ``path``.
    """
    to_csv.setdefault("index", False)
    path = Path(path)
    with atomic_path(path) as temporary:
        for i, frame in enumerate(frames):
            neutralise_formulas(frame).to_csv(
                temporary, **to_csv, header=i == 0, mode="w" if i == 0 else "a"
            )
    return path


# -- names ------------------------------------------------------------------------------
def participant_slug(participant_id: object) -> str:
    """A file-name-safe name unique to one exact participant id.

    A readable slug (ASCII letters and digits, lower case, at most 40
    characters) and the first 12 hex digits of the SHA-256 of the exact id,
    e.g. ``col-4-3f0c9e1d2a7b``.  Ids that differ only by punctuation
    (``COL.4``/``COL-4``), case, unicode normalisation (NFC/NFD ``Café``) or
    beyond the 40th character share a slug but not a hash, so they never
    share a file name or a PDF anchor.  Use it for every per-participant
    output name.
    """
    exact = str(participant_id)
    ascii_text = unicodedata.normalize("NFKD", exact).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:_SLUG_LENGTH].strip("-")
    digest = hashlib.sha256(exact.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH]
    return f"{slug or 'id'}-{digest}"


_TRIAL_ID = pydantic.TypeAdapter(Identifier)


def check_trial_id(trial_id: object) -> str:
    """``trial_id`` if it is a valid trial id (the rule of a design's ``id``), else raise.

    Raises
    ------
    UnsafePathError
        Naming the rule and the value, for ``../evil``, absolute paths, slashes, etc.
    """
    try:
        return _TRIAL_ID.validate_python(trial_id)
    except pydantic.ValidationError:
        raise UnsafePathError(
            f"The trial id {str(trial_id)!r} is not valid: a trial id is a lower-case letter "
            "followed by lower-case letters, digits or underscores (at most 64 characters), "
            f"like a design's 'id'. Got {str(trial_id)!r} instead."
        ) from None


def inside(folder: str | Path, name: str) -> Path:
    """``folder / name``, refused if it resolves outside ``folder``.

    Raises
    ------
    UnsafePathError
        When ``name`` is absolute, empty, or climbs out with ``..`` or a link.
    """
    base = Path(folder).resolve()
    target = (base / name).resolve()
    if not name or Path(name).is_absolute() or not target.is_relative_to(base) or target == base:
        raise UnsafePathError(
            f"The output name {name!r} must stay inside the folder {str(base)!r}: no absolute "
            f"paths, '..' or links out. Got {str(target)!r} instead."
        )
    return Path(folder) / name
