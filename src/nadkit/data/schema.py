"""``InputSchema``: the columns a fitted model reads, as one value object.

A fitted preprocessor gives it (``Preprocessor.input_schema()``, ``SeriesPreprocessor.
input_schema()``; ``schema()`` is its dict, the one the manifest records). Every consumer checks
input against it with :meth:`InputSchema.check`: ``Preprocessor.transform``, streamed scoring
(:mod:`nadkit.scoring`), Spark (:mod:`nadkit.spark`) and the service's request parsing
(:mod:`nadkit.service.inputs`), so a missing, unexpected or mistyped column is reported in one
wording everywhere.

>>> s = InputSchema(["bytes", "proto"], ["bytes"], {"proto": ["tcp", "udp"]}, optional=["id"])
>>> s.check(["proto", "bytes", "id", "note"])
['note']
>>> s.check({"proto": ["tcp"]})
Traceback (most recent call last):
...
nadkit.errors.DataError: missing feature columns (1): bytes
>>> InputSchema.from_dict(s.to_dict()) == InputSchema(["bytes", "proto"], ["bytes"], {"proto": ["tcp", "udp"]})
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from nadkit.errors import DataError

SHOW = 8  # how many names a message lists

#: dtype names (pandas, Arrow, Spark) a numeric column may not have: not numbers, and not text
#: that parses as numbers (a timestamp would silently become nanoseconds)
_NOT_NUMERIC = ("datetime", "timestamp", "date", "timedelta", "duration", "interval", "time",
                "binary", "array", "struct", "map", "list", "complex")


def shown(names: Sequence[str]) -> str:
    """``a, b, c …``: at most :data:`SHOW` names."""
    return ", ".join(names[:SHOW]) + (" …" if len(names) > SHOW else "")


def check_keys(keys: Iterable[str], available: Iterable[str], label: str = "key columns") -> None:
    """Columns the caller asked to carry through (``--key-cols``, an entity column) must exist."""
    have = set(available)
    missing = [c for c in keys if c not in have]
    if missing:
        raise DataError(f"{label} not in the data: {missing}")


def _names_and_types(data: Any) -> tuple[list[str], dict[str, str] | None]:
    """Column names of a DataFrame (pandas or Spark), a mapping of arrays, a pyarrow schema or
    table, or a plain list of names; and their dtype names where the container knows them."""
    if isinstance(data, str):
        raise TypeError("check() takes a table or a sequence of column names, not one string")
    dtypes = getattr(data, "dtypes", None)
    if dtypes is not None and hasattr(data, "columns"):
        if isinstance(dtypes, list):  # Spark: [(name, "double"), …]
            return [n for n, _ in dtypes], {n: str(t) for n, t in dtypes}
        return [str(c) for c in data.columns], None  # pandas: types are checked where converted
    if hasattr(data, "names") and hasattr(data, "types"):  # a pyarrow schema
        return list(data.names), {n: str(t) for n, t in zip(data.names, data.types, strict=True)}
    if isinstance(data, Mapping):
        return [str(c) for c in data], None
    return [str(c) for c in data], None


@dataclass(frozen=True)
class InputSchema:
    """A model's input columns: ``columns`` (required, in model order), which of them are
    ``numeric`` (the others categorical, with their known ``categories``), ``optional``
    columns a caller may send without their being inputs (an echoed id, a time column), and
    the ``kind`` ("table" rows or "series" channels). Not to be mutated (the lists are
    lists only so that ``frame[schema.columns]`` selects columns)."""

    columns: list[str]
    numeric: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    optional: tuple[str, ...] = ()
    kind: str = "table"

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once (lists, as pandas indexing wants)
        set_(self, "columns", list(self.columns))
        set_(self, "numeric", list(self.numeric))
        set_(self, "categories", {k: list(v) for k, v in self.categories.items()})
        set_(self, "optional", tuple(self.optional))
        stray = [c for c in (*self.numeric, *self.categories) if c not in self._required]
        if stray:
            raise ValueError(f"schema columns {stray} are typed but not listed in columns")

    # -------------------------------------------------------------------------------- build
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSchema:
        """From :meth:`to_dict` / a manifest's ``schema`` (table or series)."""
        if d.get("kind") == "series":
            return cls.of_channels(d["columns"])
        return cls(d["columns"], d.get("numeric", []), d.get("categories", {}))

    @classmethod
    def of_channels(cls, channels: Sequence[str], optional: Sequence[str] = ()) -> InputSchema:
        """A series model's input: numeric channels."""
        return cls(channels, channels, {}, optional, kind="series")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (lists), as ``Preprocessor.schema()`` and the manifest hold it."""
        return {"columns": self.columns, "numeric": self.numeric, "categories": self.categories}

    # ------------------------------------------------------------------------------- lookups
    @cached_property
    def _required(self) -> frozenset[str]:
        return frozenset(self.columns)

    @cached_property
    def _numeric(self) -> frozenset[str]:
        return frozenset(self.numeric)

    @cached_property
    def _known(self) -> dict[str, frozenset[str]]:
        return {k: frozenset(v) for k, v in self.categories.items()}

    def is_numeric(self, column: str) -> bool:
        return column in self._numeric

    @property
    def what(self) -> str:
        """What the columns are called in messages."""
        return "channels" if self.kind == "series" else "feature columns"

    def missing(self, names: Iterable[str]) -> list[str]:
        """The required columns not in ``names``, in model order."""
        have = names if isinstance(names, set | frozenset | Mapping) else set(names)
        return [c for c in self.columns if c not in have]

    def arrow_types(self) -> dict[str, Any]:
        """Arrow types that parse text (CSV) the way the model reads it: numeric columns as
        float64, categorical ones as strings."""
        import pyarrow as pa

        types: dict[str, Any] = {c: pa.float64() for c in self.numeric}
        types.update({c: pa.string() for c in self.categories})
        return types

    # -------------------------------------------------------------------------------- check
    def check(self, data: Any, *, extra: str = "ignore") -> list[str]:
        """Check that ``data`` (a pandas or Spark DataFrame, a mapping of columns, a pyarrow
        schema, or column names) has every required column, none of a type a numeric column
        cannot have (where the container says its types) and, with ``extra="error"``, no
        column the model does not read. Raises :class:`DataError` naming the columns; returns
        the extra column names (neither inputs nor optional)."""
        if extra not in ("ignore", "error"):
            raise ValueError(f"extra must be 'ignore' or 'error', got {extra!r}")
        if isinstance(data, Mapping) and not hasattr(data, "columns"):
            names, types = data, None  # a dict of arrays: membership without a copy (hot path)
        else:
            names, types = _names_and_types(data)
        missing = self.missing(names)
        if missing:
            expects = (f"; the model expects {len(self.columns)} channels {list(self.columns[:5])}"
                       f"{' …' if len(self.columns) > 5 else ''}") if self.kind == "series" else ""
            raise DataError(f"missing {self.what} ({len(missing)}): {shown(missing)}{expects}")
        if types is not None:
            self.check_types(types)
        unknown = [str(c) for c in names if c not in self._required and c not in self.optional]
        if unknown and extra == "error":
            raise DataError(f"columns the model does not read ({len(unknown)}): {shown(unknown)}; "
                            f"its {self.what}: {shown(list(self.columns))}")
        return unknown

    def check_types(self, types: Mapping[str, Any]) -> None:
        """DataError naming the numeric columns whose dtype (name) cannot hold numbers."""
        bad = [f"{c} ({types[c]})" for c in self.numeric
               if c in types and str(types[c]).lower().startswith(_NOT_NUMERIC)]
        if bad:
            raise DataError(f"{self.what} of a type that is not numeric ({len(bad)}): {shown(bad)}; "
                            "the model needs numbers there")

    def unseen_categories(self, frame: Any) -> dict[str, list[str]]:
        """Categories in ``frame`` never seen in training (the model maps them to ``__other__``)."""
        import pandas as pd

        out = {}
        for column, known in self._known.items():
            values = frame[column]
            values = values.unique() if isinstance(values, pd.Series) else set(values.tolist())
            unseen = {str(v) for v in values} - known  # str() as astype(str) does
            if unseen:
                out[column] = sorted(unseen)
        return out
