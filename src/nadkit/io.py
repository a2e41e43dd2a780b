"""Atomic file/directory writes and reading user tables (CSV or Parquet).

Every write goes to a temporary sibling first and is renamed into place, so a crash never leaves
a half-written file or model directory behind.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from nadkit.errors import DataError

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".tsv", ".txt", ".txt.gz")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` only on success.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "out.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "out.txt").read_text()
    'done'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it replaces ``target`` as a whole."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def is_table_path(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names a CSV/TSV/Parquet file by its suffix."""
    name = str(path).lower()
    return name.endswith(TABLE_SUFFIXES)


def read_table(path: str | os.PathLike[str], **kwargs: Any) -> pd.DataFrame:
    """Read a CSV (optionally gzipped, BOM-safe) or Parquet file into a DataFrame.

    Raises :class:`DataError` with the file name for a missing, empty or unreadable file.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"expected a CSV or Parquet file, got a directory: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"file is empty: {path}")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            df = pd.read_parquet(path, **kwargs)
        else:
            sep = kwargs.pop("sep", None) or _sniff_separator(path)
            df = pd.read_csv(path, sep=sep, encoding="utf-8-sig", **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"file has no data: {path}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {path}: {first}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise DataError(f"file has a header but no rows: {path}")
    return df


def _sniff_separator(path: Path) -> str:
    """Pick ',', ';' or tab from the first line (the header) of a possibly gzipped text file."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as f:
            head = f.readline()
    except OSError:
        return ","
    counts = {sep: head.count(sep) for sep in (",", ";", "\t")}
    return max(counts, key=lambda k: counts[k]) if any(counts.values()) else ","


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``df`` to CSV or Parquet (by suffix), atomically."""
    path = Path(path)
    name = path.name.lower()
    with atomic_path(path) as tmp:
        if name.endswith((".parquet", ".pq")):
            df.to_parquet(tmp, index=False)
        elif name.endswith((".csv", ".csv.gz", ".txt")):
            df.to_csv(tmp, index=False, compression="gzip" if name.endswith(".gz") else None)
        else:
            raise DataError(f"unknown output format for {path}: use .csv or .parquet")
