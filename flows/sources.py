"""Reading input files: the I/O seam between trialflow and the outside world.

Sources are files today (CSV or XLSX) and may be an HR system tomorrow; every
reader returns a DataFrame with a ``source_row`` column holding the row's line
number in the file (the header is line 1), so problems can be reported by row.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd

from flows.safe_io import atomic_path

__all__ = [
    "SourceError",
    "archive_file",
    "file_hash",
    "read_table",
    "rename_to_canonical",
    "require_file",
]


class SourceError(ValueError):
    """A file that cannot be read at all."""


def require_file(path: str | Path) -> Path:
    """``path`` as a Path, if it is a file that can be opened.

    Raises
    ------
    SourceError
        Naming the path when it does not exist, is a folder or cannot be read:
        the person gave the wrong path, which no retry will fix.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(f"File {path} does not exist.")
    if path.is_dir():
        raise SourceError(f"{path} is a folder, not a file: give the CSV or XLSX file itself.")
    if not path.is_file():
        raise SourceError(f"{path} is not a regular file: give the CSV or XLSX file itself.")
    return path


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes.

    Raises
    ------
    SourceError
        When ``path`` is missing, a folder or unreadable (see :func:`require_file`).
    """
    path = require_file(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except PermissionError:
        raise SourceError(
            f"File {path} cannot be read: permission denied. Ask its owner to share it."
        ) from None
    return digest.hexdigest()


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or XLSX file as text columns, adding ``source_row``.

    Everything is read as strings so that a bad value (``"five"`` in a number
    column) reaches the checks, which name it, instead of failing the read.
    """
    path = require_file(path)
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise SourceError(
            f"File {path.name} is empty (0 bytes): a table needs a header row naming its "
            "columns and one row per record. Was it saved or copied completely?"
        )
    try:
        if suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, dtype=str)
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        else:
            raise SourceError(
                f"File {path.name}: unknown file type '{suffix}'. Choose .csv or .xlsx."
            )
    except pd.errors.EmptyDataError:
        raise SourceError(
            f"File {path.name} has only blank lines: a table needs a header row naming its "
            "columns and one row per record."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, SourceError):
            raise
        raise SourceError(f"File {path.name} could not be read: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame["source_row"] = range(2, len(frame) + 2)
    return frame


def rename_to_canonical(
    frame: pd.DataFrame, mapping: dict[str, str], *, file_name: str
) -> pd.DataFrame:
    """Rename mapped columns (canonical -> file column) to their canonical names.

    Raises
    ------
    SourceError
        Naming every mapped column the file lacks.
    """
    missing = [
        f"'{col}' (for {field})" for field, col in mapping.items() if col not in frame.columns
    ]
    if missing:
        raise SourceError(
            f"File {file_name}: column(s) {', '.join(missing)} named in the design are missing. "
            f"Got columns {[c for c in frame.columns if c != 'source_row']} instead."
        )
    return frame.rename(columns={col: field for field, col in mapping.items()})


def archive_file(path: str | Path, archive_dir: Path, digest: str) -> Path:
    """Copy a raw input file into the archive under its content hash (idempotent).

    An archive already under that name is reused only if its bytes still
    hash to ``digest``: a copy cut short (``kill -9``, a full disk) is
    replaced, never trusted.  The copy is made under a temporary name,
    checked against ``digest``, fsync'ed and renamed into place, so the
    final name only ever holds the whole file.

    Raises
    ------
    SourceError
        When the file's bytes no longer hash to ``digest`` (it changed after
        it was read); nothing is archived.
    """
    path = Path(path)
    archive_dir.mkdir(parents=True, exist_ok=True)
    target = archive_dir / f"{digest}{path.suffix.lower()}"
    if target.is_file() and file_hash(target) == digest:
        return target
    with atomic_path(target) as temporary:
        shutil.copyfile(path, temporary)
        if file_hash(temporary) != digest:
            raise SourceError(
                f"File {path.name} changed while it was being archived: its SHA-256 is no "
                f"longer {digest[:12]}... as when it was read. Send it again once it is "
                "complete; nothing was archived."
            )
    return target
