"""Atomic file/directory writes, the output guard, and reading user tables (CSV or Parquet).

Every write goes to a temporary sibling first and is renamed into place, so a crash never leaves
a half-written file or model directory behind; a write that fails (disk full, read-only) raises
:class:`OutputError` and leaves nothing. :func:`check_output` is the guard every command runs on
its ``-o`` before doing any work: it never lets an output replace something that is not a nadkit
output of the same kind, nor an input.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import gzip
import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from nadkit.errors import DataError, NadkitError

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".tsv", ".txt", ".txt.gz")
#: suffixes nadkit can write a table to
OUTPUT_TABLE_SUFFIXES = (".csv", ".csv.gz", ".txt", ".parquet", ".pq")
#: most columns a table may have (checked from the header line before anything is parsed)
MAX_COLUMNS = 10_000
#: longest header line read when checking a CSV's columns
MAX_HEADER_BYTES = 16 << 20


class OutputError(NadkitError):
    """An output cannot be written: it would replace a user's file or an input, its directory is
    missing or read-only, or the disk is full."""


#: errors of a failed write (disk full, quota, file too large, read-only, permissions)
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
_WRITE_MESSAGES = ("No space left", "File too large", "Read-only file system", "Permission denied",
                   "Disk quota")


def _write_failure(exc: OSError) -> bool:
    return exc.errno in _WRITE_ERRNOS or any(m in str(exc) for m in _WRITE_MESSAGES)


def _write_error(target: Path, exc: OSError) -> OutputError:
    why = exc.strerror or _first_line(exc)
    return OutputError(f"cannot write {target}: {why} (nothing was written)")


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
    tmp = _temp_beside(target, directory=False)
    try:
        with _write_errors(target):
            yield tmp
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it replaces ``target`` as a whole."""
    target = Path(target)
    tmp = _temp_beside(target, directory=True)
    try:
        with _write_errors(target):
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


def _temp_beside(target: Path, directory: bool) -> Path:
    """A fresh hidden temporary file (or directory) ``.<name>.*.tmp`` next to ``target``."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if directory:
            return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        return Path(tmp_name)
    except OSError as exc:
        raise _write_error(target, exc) from exc


@contextlib.contextmanager
def _write_errors(target: Path) -> Iterator[None]:
    """A failed write (disk full, read-only, permissions…) → :class:`OutputError` naming ``target``."""
    try:
        yield
    except OSError as exc:
        if not _write_failure(exc):
            raise
        raise _write_error(target, exc) from exc


def write_json(path: str | os.PathLike[str], obj: Any, nan_as_null: bool = False) -> None:
    """Write ``obj`` as indented JSON, atomically. NaN/inf raise ValueError, or become ``null``
    with ``nan_as_null`` (metrics that are undefined, e.g. AUROC on one class)."""
    if nan_as_null:
        obj = json_safe(obj)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf, numpy's too) replaced by None.

    >>> json_safe({"auroc": float("nan"), "per": [1.0, float("inf")]})
    {'auroc': None, 'per': [1.0, None]}
    """
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) or (hasattr(obj, "dtype") and getattr(obj, "ndim", None) == 0
                                  and getattr(obj.dtype, "kind", "") == "f"):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


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


def read_table(path: str | os.PathLike[str], allow_duplicate_columns: bool = False,
               **kwargs: Any) -> pd.DataFrame:
    """Read a CSV (optionally gzipped, BOM-safe) or Parquet file into a DataFrame.

    Raises :class:`DataError` with the file name for a missing, empty, unreadable, truncated or
    non-regular file (a FIFO would block), more than :data:`MAX_COLUMNS` columns (counted on the
    header line before parsing) or duplicate column names.
    """
    path = Path(path)
    check_input_file(path)
    if path.stat().st_size == 0:
        raise DataError(f"file is empty: {path}")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            _check_names(path, pq.read_schema(path).names, allow_duplicate_columns)
            df = pd.read_parquet(path, **kwargs)
        else:
            sep, names = _header(path, kwargs.pop("sep", None))
            _check_names(path, names, allow_duplicate_columns)
            df = pd.read_csv(path, sep=sep, encoding="utf-8-sig", **kwargs)
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"file has no data: {path}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {_read_failure(exc)}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise DataError(f"file has a header but no rows: {path}")
    return df


def check_input_file(path: str | os.PathLike[str], allow_dir: bool = False) -> None:
    """Refuse a missing path, a directory (unless ``allow_dir``) and anything that is not a
    regular file (a FIFO or device would block or never end)."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or _first_line(exc)}") from exc
    if stat.S_ISDIR(st.st_mode):
        if allow_dir:
            return
        raise DataError(f"expected a CSV or Parquet file, got a directory: {path}")
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"not a regular file (a FIFO, socket or device): {path}; give a CSV or Parquet file")


def _read_failure(exc: BaseException) -> str:
    if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)):
        return f"the compressed file is truncated or corrupt ({_first_line(exc)})"
    return _first_line(exc)


def _header(path: Path, sep: str | None = None) -> tuple[str, list[str]]:
    """(separator, column names) from the first line of a possibly gzipped text file; at most
    :data:`MAX_HEADER_BYTES` are read, so a huge one-line file is refused cheaply."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as f:
            head = f.readline(MAX_HEADER_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {_read_failure(exc)}") from exc
    if len(head) >= MAX_HEADER_BYTES and not head.endswith(("\n", "\r")):
        raise DataError(f"{path}: the header line is longer than {MAX_HEADER_BYTES >> 20} MiB")
    head = head.rstrip("\r\n")
    if sep is None:
        counts = {s: head.count(s) for s in (",", ";", "\t")}
        sep = max(counts, key=lambda k: counts[k]) if any(counts.values()) else ","
    if head.count(sep) + 1 > MAX_COLUMNS:
        raise DataError(f"{path}: the header has {head.count(sep) + 1:,} columns; at most "
                        f"{MAX_COLUMNS:,} are supported")
    names = next(csv.reader([head], delimiter=sep), []) if len(sep) == 1 else head.split(sep)
    return sep, names


def _check_names(path: Path, names: list[str], allow_duplicates: bool = False) -> None:
    if len(names) > MAX_COLUMNS:
        raise DataError(f"{path}: {len(names):,} columns; at most {MAX_COLUMNS:,} are supported")
    if allow_duplicates:
        return
    stripped = pd.Series([str(c).strip() for c in names])
    dup = stripped[stripped.duplicated()].unique().tolist()
    if dup:
        raise DataError(f"{path}: duplicate column names {dup[:5]}; every column needs its own name")


def _sniff_separator(path: Path) -> str:
    """Pick ',', ';' or tab from the first line (the header) of a possibly gzipped text file."""
    return _header(path)[0]


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


# ------------------------------------------------------------------------------------ streaming
#: rows per batch when streaming a table (a few tens of MB of features per batch)
BATCH_ROWS = 65_536


def _is_parquet(path: Path) -> bool:
    if path.is_dir():
        return True  # a directory of Parquet part files (as Spark writes them)
    return path.name.lower().endswith((".parquet", ".pq"))


def _check_input(path: Path) -> None:
    check_input_file(path, allow_dir=True)
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"file is empty: {path}")


def _parquet_files(path: Path) -> list[str]:
    """The Parquet file, or the part files of a Parquet directory (``_``/``.`` files skipped)."""
    import pyarrow.dataset as ds

    files = sorted(ds.dataset(path, format="parquet").files) if path.is_dir() else [str(path)]
    if not files:
        raise DataError(f"no Parquet files in {path}")
    return files


def _open_csv(path: Path, types: Mapping[str, Any] | None = None):
    """A streaming CSV reader (gzip by suffix, BOM skipped, separator sniffed)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    stream = pa.input_stream(str(path), compression="detect")
    return pcsv.open_csv(stream, read_options=pcsv.ReadOptions(block_size=4 << 20),
                         parse_options=pcsv.ParseOptions(delimiter=_sniff_separator(path)),
                         convert_options=pcsv.ConvertOptions(column_types=dict(types or {})))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def table_columns(path: str | os.PathLike[str]) -> list[str]:
    """Column names of a CSV/Parquet file, read from its header or metadata only."""
    import pyarrow.parquet as pq

    path = Path(path)
    _check_input(path)
    try:
        if _is_parquet(path):
            names = pq.read_schema(_parquet_files(path)[0]).names
        else:
            _check_names(path, _header(path)[1])
            with _open_csv(path) as reader:
                names = reader.schema.names
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as exc:  # pyarrow's errors derive from these
        raise DataError(f"cannot read {path}: {_read_failure(exc)}") from exc
    _check_names(path, names)
    return [str(c).strip() for c in names]


def count_rows(path: str | os.PathLike[str]) -> int | None:
    """Rows of a Parquet file or directory from its metadata; None for CSV (that needs a read)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not _is_parquet(path):
        return None
    _check_input(path)
    return sum(pq.ParquetFile(f).metadata.num_rows for f in _parquet_files(path))


def iter_table_batches(path: str | os.PathLike[str], batch_rows: int = BATCH_ROWS,
                       columns: list[str] | None = None,
                       types: Mapping[str, Any] | None = None) -> Iterator[pd.DataFrame]:
    """Stream a CSV/Parquet table (or a directory of Parquet part files) as DataFrames of at
    most ``batch_rows`` rows.

    Reading is synchronous, one Parquet row group (or one 4 MiB CSV block) at a time, so
    memory stays bounded by the row group size, whatever the file size. ``columns`` selects columns (Parquet reads
    only those); ``types`` fixes CSV column types (``{"proto": pa.string()}``) so that type
    inference on the first block cannot disagree with a later one.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> pd.DataFrame({"a": range(5)}).to_csv(p, index=False)
    >>> [len(b) for b in iter_table_batches(p, batch_rows=2)]
    [2, 2, 1]
    """

    path = Path(path)
    available = table_columns(path)
    if columns is not None:
        missing = [c for c in columns if c not in available]
        if missing:
            raise DataError(f"{path}: columns not found: {missing[:8]}")
    rows = 0
    try:
        if _is_parquet(path):
            batches = _parquet_batches(path, batch_rows, columns)
        else:
            batches = _csv_batches(path, batch_rows, columns, types)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            df = batch.to_pandas()
            df.columns = [str(c).strip() for c in df.columns]
            rows += len(df)
            yield df
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {_read_failure(exc)}") from exc
    if rows == 0:
        raise DataError(f"file has a header but no rows: {path}")


def _parquet_batches(path: Path, batch_rows: int, columns: list[str] | None):
    import pyarrow.parquet as pq

    for f in _parquet_files(path):
        with pq.ParquetFile(f) as pf:
            # a reader per row group: one reader over all row groups keeps ~2 MB per batch read
            # (measured with pyarrow 26: +90 MB over 5M rows), this stays flat
            for group in range(pf.num_row_groups):
                yield from pf.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns)


def _csv_batches(path: Path, batch_rows: int, columns: list[str] | None, types: Mapping[str, Any] | None):
    with _open_csv(path, types) as reader:
        raw = {str(c).strip(): c for c in reader.schema.names}
        keep = None if columns is None else [raw[c] for c in columns]
        for batch in reader:
            if keep is not None:
                batch = batch.select(keep)
            for start in range(0, batch.num_rows, batch_rows):
                yield batch.slice(start, batch_rows)


@contextlib.contextmanager
def table_writer(path: str | os.PathLike[str]) -> Iterator[Callable[[pd.DataFrame], None]]:
    """Write a CSV or Parquet file batch by batch, atomically: yields ``write(df)``; the file
    appears at ``path`` only when the block ends without an error.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "out.parquet")
    >>> with table_writer(p) as write:
    ...     write(pd.DataFrame({"a": [1, 2]})); write(pd.DataFrame({"a": [3]}))
    >>> pd.read_parquet(p)["a"].tolist()
    [1, 2, 3]
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    name = path.name.lower()
    parquet = name.endswith((".parquet", ".pq"))
    if not parquet and not name.endswith((".csv", ".csv.gz", ".txt")):
        raise DataError(f"unknown output format for {path}: use .csv or .parquet")
    with atomic_path(path) as tmp, contextlib.ExitStack() as stack:
        state: dict[str, Any] = {}

        def write(df: pd.DataFrame) -> None:
            if parquet:
                table = pa.Table.from_pandas(df, preserve_index=False)
                if "writer" not in state:
                    state["writer"] = stack.enter_context(pq.ParquetWriter(tmp, table.schema))
                writer = state["writer"]
                if not table.schema.equals(writer.schema, check_metadata=False):
                    try:
                        table = table.cast(writer.schema)
                    except (ValueError, TypeError) as exc:
                        raise DataError(f"column types changed between batches: {_first_line(exc)}") from exc
                writer.write_table(table)
            else:
                if "file" not in state:
                    opener = gzip.open if name.endswith(".gz") else open
                    state["file"] = stack.enter_context(opener(tmp, "wt", newline=""))
                df.to_csv(state["file"], index=False, header=not state.get("header_written"))
                state["header_written"] = True

        yield write


# --------------------------------------------------------------------------------- output guard
#: marker file nadkit writes into the output directories it owns (reports, bench results)
OUTPUT_MARKER = ".nadkit-output.json"
#: output kinds: directories (model, report, bench, spark) and tables (scores, series, labels)
DIR_KINDS = ("model", "report", "bench", "spark")
TABLE_KINDS = ("scores", "series", "labels", "incidents")
_SYSTEM_DIRS = ("/proc", "/sys", "/dev")
_WHAT = {"model": "model directory", "report": "report directory", "bench": "bench results directory",
         "spark": "Spark output directory", "scores": "scores table", "series": "series table",
         "labels": "labels table", "incidents": "incidents file"}


def output_kind(path: str | os.PathLike[str]) -> str | None:
    """The kind of nadkit output at ``path`` (see :func:`check_output`), or None when it is not
    one (or absent).

    A model directory has a ``manifest.json`` with ``"format": "nadkit-model"``; a report or
    bench directory has the :data:`OUTPUT_MARKER` file (or, written before it existed, a
    ``metrics.json`` with ``model`` and ``threshold_method`` / a ``leaderboard.md``); a Spark
    output has ``_SUCCESS``; a scores table has ``score`` and ``anomaly`` (or ``step`` and
    ``step_flag``) columns, a binned series ``timestamp`` first and a ``flows`` column, a labels
    table exactly ``timestamp, label``.
    """
    path = Path(path)
    if path.is_dir():
        marker = _read_json(path / OUTPUT_MARKER)
        if isinstance(marker, dict) and marker.get("kind") in DIR_KINDS:
            return marker["kind"]
        manifest = _read_json(path / "manifest.json")
        if isinstance(manifest, dict) and manifest.get("format") == "nadkit-model":
            return "model"
        metrics = _read_json(path / "metrics.json")
        if isinstance(metrics, dict) and {"model", "threshold_method"} <= set(metrics):
            return "report"
        if (path / "leaderboard.md").is_file() or (path / "results.json").is_file():
            return "bench"
        if (path / "_SUCCESS").is_file():
            return "spark"
        return None
    if path.is_file() and path.name.lower().endswith(".json"):
        found = _read_json(path)
        return "incidents" if isinstance(found, dict) and found.get("kind") == "incidents" else None
    if not path.is_file() or not is_table_path(path):
        return None
    try:
        cols = table_columns(path)
    except DataError:
        return None
    if {"score", "anomaly"} <= set(cols) or {"step", "step_flag"} <= set(cols):
        return "scores"
    if cols[:1] == ["timestamp"] and "flows" in cols:
        return "series"
    if cols == ["timestamp", "label"]:
        return "labels"
    if {"incident_id", "severity"} <= set(cols):
        return "incidents"
    return None


def _read_json(path: Path) -> Any:
    try:
        if not path.is_file() or path.stat().st_size > (64 << 20):
            return None
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output(path: str | os.PathLike[str], kind: str,
                 inputs: tuple[str | os.PathLike[str] | None, ...] | list = (),
                 force: bool = False) -> Path:
    """Refuse an output path that would destroy something; run before any work is done.

    ``kind`` is one of :data:`DIR_KINDS` or :data:`TABLE_KINDS`. The output may be absent, an
    empty directory (directory kinds) or an empty file (table kinds), or a nadkit output of the
    same ``kind`` (see :func:`output_kind`), which is replaced; replacing a model directory needs
    ``force``. Anything else (a user's file or directory, another kind of output) is never
    replaced, ``force`` or not. An output equal to, inside or containing one of ``inputs`` is
    refused, and so are a missing or read-only parent directory, system directories (/proc, /sys,
    /dev), symbolic links, and table outputs without a .csv/.parquet suffix.
    Raises :class:`OutputError`; returns ``path``.
    """
    if kind not in DIR_KINDS + TABLE_KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    path = Path(path)
    what = _WHAT[kind]
    if str(path) == "" or path.name in ("", ".", ".."):
        raise OutputError(f"output {str(path)!r} is not a usable {what} path; name a new one")
    real = Path(os.path.realpath(path))
    if any(_within(real, Path(d)) for d in _SYSTEM_DIRS):
        raise OutputError(f"cannot write the {what} {path}: {real} is in a system directory")
    if path.is_symlink():
        raise OutputError(f"output {path} is a symbolic link; nadkit does not write through links")
    if kind == "incidents" and not path.name.lower().endswith((".csv", ".json")):
        raise OutputError(f"unknown output format for {path}: use .csv or .json for incidents")
    if kind in TABLE_KINDS and kind != "incidents" and not path.name.lower().endswith(OUTPUT_TABLE_SUFFIXES):
        raise OutputError(f"unknown output format for {path}: use .csv, .csv.gz or .parquet")
    for inp in inputs:
        if inp is None or str(inp) == "" or not os.path.exists(inp):
            continue
        r_in = Path(os.path.realpath(inp))
        same = real == r_in or (path.exists() and os.path.samefile(path, inp))
        if same or _within(real, r_in) or _within(r_in, real):
            rel = "is" if same else "is inside" if _within(real, r_in) else "contains"
            raise OutputError(f"output {path} {rel} the input {inp}; write the {what} elsewhere")
    parent = real.parent
    if not parent.exists():
        raise OutputError(f"cannot write {path}: its directory {path.parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: {path.parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: directory {path.parent} is not writable")
    if not path.exists():
        return path
    st = path.stat()
    if kind in DIR_KINDS:
        if not stat.S_ISDIR(st.st_mode):
            raise OutputError(f"output {path} exists and is a file, not a {what}; nadkit will not "
                              f"replace it: choose a new path")
        if not any(path.iterdir()):
            return path
    else:
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"output {path} is an existing directory; give a file name for the {what}")
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"output {path} is not a regular file (a FIFO, socket or device)")
        if st.st_size == 0:
            return path
    found = output_kind(path)
    if found != kind:
        other = f"a nadkit {_WHAT[found]}" if found else "not a nadkit output"
        raise OutputError(f"refusing to replace {path}: it exists and is {other}, and -o only replaces "
                          f"a {what} nadkit wrote; remove it yourself or choose a new path")
    if kind == "model" and not force:
        raise OutputError(f"model directory {path} exists; pass --force to replace it")
    return path


def write_output_marker(directory: str | os.PathLike[str], kind: str) -> None:
    """Mark ``directory`` as a nadkit output of ``kind`` (so a later run may replace it)."""
    from nadkit import __version__

    write_json(Path(directory) / OUTPUT_MARKER, {"kind": kind, "nadkit": __version__})
