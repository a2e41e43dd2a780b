"""Request bodies → a raw feature DataFrame checked against a model's input schema.

Accepted bodies (the schema is the one a model directory's manifest records):

* JSON records ``{"data": [{"duration": 0, "protocol_type": "tcp", ...}, ...]}`` (the Cloudera
  ``/predict`` payload); a record may carry an ``"id"`` that is echoed back;
* JSON rows ``{"instances": [[0, "tcp", ...], ...]}`` in the schema's column order;
* a CSV (UTF-8, ``,``/``;``/tab), Parquet or Arrow IPC stream file, as the raw body or as the
  ``file`` part of a multipart form. Columns the model does not use are ignored (and named in
  the response's ``warnings``), like ``nadkit detect`` does.

JSON is parsed with orjson and converted column by column (one numpy conversion per column,
no per-value Python checks on the happy path); the slow diagnosis runs only to name a
problem. Problems raise :class:`RequestError` subclasses carrying the HTTP status:
400 malformed body, 413 too many rows, 422 wrong/missing field, wrong type, null/NaN, empty.

>>> schema = TableSchema(["bytes", "proto"], ["bytes"], {"proto": ["tcp", "udp"]})
>>> df, ids, notes = frame_from_json(b'{"data": [{"bytes": 10, "proto": "tcp", "id": "a"}]}', schema)
>>> df.to_dict("records"), ids
([{'bytes': 10, 'proto': 'tcp'}], ['a'])
>>> frame_from_json(b'{"data": [{"bytes": "ten", "proto": "tcp"}]}', schema)
Traceback (most recent call last):
...
nadkit.service.inputs.RequestError: field 'bytes' must be a number; record 0 has 'ten' (a string)
"""

from __future__ import annotations

import io
import json
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from nadkit.data.schema import InputSchema
from nadkit.errors import DataError

ID_FIELD = "id"
SHOW = 8  # how many names an error message lists

#: body content types → file kind (multipart parts are recognised by these or by file name)
FILE_TYPES = {
    "text/csv": "csv", "application/csv": "csv", "text/plain": "csv",
    "application/vnd.apache.parquet": "parquet", "application/x-parquet": "parquet",
    "application/parquet": "parquet", "application/octet-stream": None,
    "application/vnd.apache.arrow.stream": "arrow",
}
SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
            ".arrow": "arrow", ".arrows": "arrow"}


class RequestError(DataError):
    """The request cannot be scored; ``status`` is the HTTP status to answer with."""

    status = 422


class MalformedBody(RequestError):
    """The body is not valid JSON / CSV / Parquet / Arrow."""

    status = 400


class TooLarge(RequestError):
    """More rows than the server accepts in one request."""

    status = 413


class TableSchema(InputSchema):
    """A model's :class:`~nadkit.data.schema.InputSchema` as the service reads requests with it:
    plus ``echo``, the optional record key echoed back (a flow's "id", a point's "time")."""

    def __init__(self, columns: list[str], numeric: list[str], categories: dict[str, list[str]],
                 echo: str = ID_FIELD, kind: str = "table") -> None:
        super().__init__(columns, numeric, categories, optional=(echo,), kind=kind)

    @property
    def echo(self) -> str:
        return self.optional[0]

    @classmethod
    def from_manifest(cls, schema: dict[str, Any]) -> TableSchema:
        return cls(schema["columns"], schema.get("numeric", []), schema.get("categories", {}))

    @classmethod
    def channels(cls, names: list[str]) -> TableSchema:
        """A series model's points: numeric channels, with an optional ``time`` per point."""
        return cls(names, names, {}, echo="time", kind="series")

    def id_field(self) -> str | None:
        """The record key echoed back (none when that name is itself a model input)."""
        return None if self.echo in self._required else self.echo


# --------------------------------------------------------------------------------------- JSON
def parse_json(body: bytes) -> Any:
    """orjson, with a message naming the problem (NaN/Infinity literals, position) on failure."""
    if not body.strip():
        raise MalformedBody("empty request body: send JSON {\"data\": [...]} or {\"instances\": [...]}, or a CSV/Parquet file")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as fast_error:
        def reject(constant: str) -> None:
            raise MalformedBody(f"{constant} is not a valid JSON number (NaN/inf values cannot be scored)")

        try:
            # only to name the problem: the standard parser reports NaN/Infinity literals
            # and accepts integers beyond 64 bits (which orjson refuses)
            doc = json.loads(body, parse_constant=reject)
        except json.JSONDecodeError as exc:
            raise MalformedBody(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
        except UnicodeDecodeError as exc:
            raise MalformedBody(f"malformed JSON: body is not UTF-8 ({fast_error})") from exc
        except RecursionError as exc:
            raise MalformedBody("malformed JSON: nested too deeply") from exc
        try:  # the standard parser keeps a lone "\ud800" escape, which is not text
            json.dumps(doc, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:
            raise MalformedBody("malformed JSON: a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), "
                                f"which is not text ({fast_error})") from exc
        return doc


def frame_from_json(body: bytes, schema: TableSchema, max_rows: int | None = None, as_frame: bool = True
                    ) -> tuple[pd.DataFrame | dict[str, np.ndarray], list | None, list[str]]:
    """Parse a JSON body into (features, ids or None, notes). With ``as_frame=False`` the
    features are a dict of column arrays (what ``Preprocessor.transform`` takes without pandas)."""
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise RequestError("the JSON body must be an object: {\"data\": [records]} or {\"instances\": [rows]}")
    given = [k for k in ("data", "instances") if k in doc]
    unknown = sorted(set(doc) - {"data", "instances"})
    if unknown:
        raise RequestError(f"unknown key(s) in the JSON body: {_names(unknown)}; use 'data' (records) or 'instances' (rows)")
    if len(given) != 1:
        raise RequestError("the JSON body needs exactly one of 'data' (records) or 'instances' (rows in schema column order)")
    key = given[0]
    rows = doc[key]
    if not isinstance(rows, list):
        raise RequestError(f"'{key}' must be a list, got {_type(rows)}")
    if not rows:
        raise RequestError(f"empty batch: '{key}' has no rows")
    check_rows(len(rows), max_rows)
    if key == "data":
        columns, ids = _columns_from_records(rows, schema)
        what = "record"
    else:
        columns, ids = _columns_from_instances(rows, schema), None
        what = "row"
    arrays = {c: _column_array(c, v, schema, what) for c, v in zip(schema.columns, columns, strict=True)}
    return (pd.DataFrame(arrays, copy=False) if as_frame else arrays), ids, []


def _columns_from_records(records: list, schema: TableSchema) -> tuple[list, list | None]:
    try:  # one C-level lookup of all fields per record, then a transpose
        columns = list(zip(*map(itemgetter(*schema.columns), records), strict=True)) if len(schema.columns) > 1 \
            else [[r[schema.columns[0]] for r in records]]
    except (KeyError, TypeError, IndexError):
        _diagnose_records(records, schema)
        raise  # pragma: no cover - _diagnose_records always raises
    id_field = schema.id_field()
    n = len(schema.columns)
    ids = None
    if id_field is not None and any(id_field in r for r in records):
        ids = [r.get(id_field) for r in records]
        if not all(isinstance(i, str | int | float | None) for i in ids):
            raise RequestError(f"'{id_field}' must be a string or a number")
        bad = next((i for i, r in enumerate(records) if len(r) - (id_field in r) != n), None)
    else:
        bad = next((i for i, r in enumerate(records) if len(r) != n), None)
    if bad is not None:
        known = {*schema.columns, id_field}
        extra = [k for k in records[bad] if k not in known]
        raise RequestError(f"record {bad} has unknown field(s) {_names(extra)}; the model's fields are listed at GET /v1/models")
    return columns, ids


def _diagnose_records(records: list, schema: TableSchema) -> None:
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise RequestError(f"record {i} must be an object of named fields, got {_type(r)}")
        missing = schema.missing(r)
        if missing:
            raise RequestError(f"record {i} is missing field(s) {_names(missing)} ({len(missing)} of {len(schema.columns)})")
    raise RequestError("records do not match the model's schema")


def _columns_from_instances(rows: list, schema: TableSchema) -> list:
    n = len(schema.columns)
    if not all(type(r) is list for r in rows):
        i = next(i for i, r in enumerate(rows) if type(r) is not list)
        raise RequestError(f"row {i} of 'instances' must be a list of {n} values in schema column order, got {_type(rows[i])}")
    if any(len(r) != n for r in rows):
        i = next(i for i, r in enumerate(rows) if len(r) != n)
        raise RequestError(f"row {i} of 'instances' has {len(rows[i])} values; the model expects {n} "
                           f"({_names(schema.columns)}, in this order)")
    return list(zip(*rows, strict=True))


def _column_array(column: str, values: list | tuple, schema: TableSchema, what: str) -> np.ndarray:
    """One column's values as a numpy array, or a RequestError naming the field and the row."""
    numeric = schema.is_numeric(column)
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):  # ragged nested lists
        arr = np.empty(0, dtype=object)
    kind = arr.dtype.kind
    if kind in "iuf" and bool in set(map(type, values)):  # numpy reads true/false among numbers as 1/0
        kind = "b"
    if arr.ndim == 1:
        if numeric and kind in "iuf":
            return arr
        if not numeric and kind == "U" and set(map(type, values)) <= {str, int}:
            return arr.astype(object)
        if not numeric and kind in "iu":
            return arr
        if numeric and kind == "O" and all(type(v) in (int, float) for v in values):
            return arr.astype(np.float64)  # integers beyond 64 bits
    _raise_bad_value(column, values, numeric, what)
    raise AssertionError  # pragma: no cover


def _raise_bad_value(column: str, values, numeric: bool, what: str) -> None:
    want = "a number" if numeric else "a string (category)"
    for i, v in enumerate(values):
        if v is None:
            raise RequestError(f"field '{column}' is null in {what} {i}: missing values (NaN) cannot be scored")
        ok = type(v) in (int, float) if numeric else type(v) in (str, int)
        if not ok:
            shown = repr(v) if isinstance(v, str | bool | float) and len(repr(v)) < 40 else _type(v)
            raise RequestError(f"field '{column}' must be {want}; {what} {i} has {shown} ({_type(v)})")
    raise RequestError(f"field '{column}' has values of mixed types")


# -------------------------------------------------------------------------------------- files
def file_kind(content_type: str | None, filename: str | None = None) -> str | None:
    """'csv' | 'parquet' | 'arrow' from a content type or a file name (None = unknown)."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    kind = FILE_TYPES.get(base)
    if kind is None and filename:
        name = filename.lower()
        kind = next((k for s, k in SUFFIXES.items() if name.endswith(s)), None)
    return kind


def frame_from_file(data: bytes, kind: str, schema: TableSchema, max_rows: int | None = None
                    ) -> tuple[pd.DataFrame, list | None, list[str]]:
    """Read a CSV/Parquet/Arrow upload; columns not in the schema are ignored (and noted)."""
    if not data:
        raise RequestError(f"empty {kind} upload")
    readers = {"csv": _read_csv, "parquet": _read_parquet, "arrow": _read_arrow}
    table = readers[kind](data, max_rows)
    if table.num_rows == 0:
        raise RequestError(f"the {kind} upload has a header but no rows")
    check_rows(table.num_rows, max_rows)
    try:
        names = [str(c).strip().lstrip("\ufeff") for c in table.column_names]
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"the {kind} upload's column names are not UTF-8 text") from exc
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise RequestError(f"duplicate column names in the upload: {_names(dup)}")
    table = table.rename_columns(names)
    notes = []
    extra = [c for c in names if c not in schema.columns]
    if extra:
        notes.append(f"ignored columns the model does not use: {_names(extra)}")
    if not schema.missing(names):
        table = table.select(schema.columns)
    # (missing columns are reported by the model's Preprocessor, in its words)
    return table.to_pandas(), None, notes


def _read_csv(data: bytes, max_rows: int | None) -> pa.Table:
    from pyarrow import csv

    if b"\n" not in data.strip():
        raise RequestError("the csv upload has a header but no rows")
    first = data[:4096].split(b"\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=lambda s: first.count(s.encode()))
    try:
        return csv.read_csv(io.BytesIO(data), parse_options=csv.ParseOptions(delimiter=delimiter),
                            convert_options=csv.ConvertOptions(strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"cannot read the CSV upload: {_first_line(exc)}") from exc


def _read_parquet(data: bytes, max_rows: int | None) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        f = pq.ParquetFile(io.BytesIO(data))
        check_rows(f.metadata.num_rows, max_rows)  # before decompressing anything
        return f.read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise MalformedBody(f"cannot read the Parquet upload: {_first_line(exc)}") from exc


def _read_arrow(data: bytes, max_rows: int | None) -> pa.Table:
    try:
        reader = pa.ipc.open_stream(io.BytesIO(data))
        batches, n = [], 0
        for batch in reader:
            n += batch.num_rows
            check_rows(n, max_rows)
            batches.append(batch)
        return pa.Table.from_batches(batches, schema=reader.schema)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise MalformedBody(f"cannot read the Arrow IPC stream upload: {_first_line(exc)}") from exc


# ------------------------------------------------------------------------------------ helpers
def check_rows(n: int, max_rows: int | None) -> None:
    if max_rows is not None and n > max_rows:
        raise TooLarge(f"too many rows: {n:,} in one request; this server accepts at most {max_rows:,} "
                       "(split the batch)")


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:SHOW])
    return shown + (f" … (+{len(names) - SHOW})" if len(names) > SHOW else "")


def _type(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
