"""``Preprocessor``: raw feature table → float32 matrix, fitted on training data only.

Categoricals are one-hot encoded with one extra ``<col>=__other__`` column that takes unseen
and rare categories; heavy-tailed non-negative counts get ``log1p``; every column is scaled;
columns constant on the training data are dropped. The fitted state is plain JSON.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from nadkit.artifact_schema import OTHER  # one definition, shared with the model-file schema
from nadkit.data.schema import InputSchema
from nadkit.errors import DataError, NotFittedError


class UnknownCategoryWarning(UserWarning):
    """Categories never seen during fitting were mapped to the ``__other__`` column."""


@contextlib.contextmanager
def unseen_categories_once() -> Iterator[None]:
    """Around code that transforms many batches: one :class:`UnknownCategoryWarning` (the
    first batch's, with a count of the others) instead of one per batch."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnknownCategoryWarning)
        yield
    unseen = []
    for w in caught:
        if issubclass(w.category, UnknownCategoryWarning):
            unseen.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if unseen:
        more = f" (and in {len(unseen) - 1} more batches)" if len(unseen) > 1 else ""
        warnings.warn(unseen[0] + more, UnknownCategoryWarning, stacklevel=3)


class Preprocessor:
    """Turn a raw feature DataFrame into a scaled float32 matrix.

    Parameters
    ----------
    categorical : list of column names, or None to treat object/category/bool columns as categorical.
    log_transform : "auto" applies log1p to non-negative numeric columns whose maximum exceeds
        ``log_min_max`` (counts, bytes, durations, not rates in [0, 1]); a list names the
        columns; False disables it.
    scaling : "minmax" (to [0, 1] on training data), "standard" (z-score) or None.
    max_categories : keep at most this many most-frequent categories per column; the rest → other.
    min_frequency : categories seen fewer times than this in training → other.
    strict_categories : raise instead of warning when transform meets unseen categories.

    Examples
    --------
    >>> df = pd.DataFrame({"proto": ["tcp", "udp", "tcp"], "bytes": [10, 2000, 30], "c": [1, 1, 1]})
    >>> pre = Preprocessor().fit(df)
    >>> pre.feature_names_out_
    ['bytes', 'proto=tcp', 'proto=udp', 'proto=__other__']
    >>> pre.transform(df).shape
    (3, 4)
    """

    def __init__(self, categorical: list[str] | None = None,
                 log_transform: Literal["auto"] | list[str] | bool = "auto",
                 log_min_max: float = 1.0,
                 scaling: Literal["minmax", "standard"] | None = "minmax",
                 max_categories: int = 100, min_frequency: int = 1,
                 strict_categories: bool = False) -> None:
        self.categorical = categorical
        self.log_transform = log_transform
        self.log_min_max = log_min_max
        self.scaling = scaling
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.strict_categories = strict_categories

    # ------------------------------------------------------------------------------- fitting
    def fit(self, df: pd.DataFrame) -> Preprocessor:
        """Fit on the whole table ``df`` (same as one :meth:`partial_fit` on a fresh object)."""
        self._stats = None
        return self.partial_fit(df)

    def partial_fit(self, df: pd.DataFrame) -> Preprocessor:
        """Add the rows of ``df`` to the fit, for tables streamed in batches.

        Every statistic the state needs is mergeable (row count, per-column min/max/mean/M2 of
        the raw and the log1p values, category counts), so fitting batch by batch gives the
        state :meth:`fit` gives on the concatenated table: identical for min/max scaling,
        categories and log columns; equal to rounding (~1e-15) for standard scaling. The state
        is usable after every call. Category ties at the ``max_categories`` cut are broken by
        name. The running statistics are not saved: a loaded preprocessor cannot continue.

        >>> df = pd.DataFrame({"proto": ["tcp", "udp", "tcp", "icmp"], "bytes": [10, 2000, 30, 5]})
        >>> pre = Preprocessor().partial_fit(df[:2]).partial_fit(df[2:])
        >>> pre.to_dict()["state"] == Preprocessor().fit(df).to_dict()["state"]
        True
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError("Preprocessor.fit expects a pandas DataFrame")
        stats = getattr(self, "_stats", None)
        if stats is None:
            if hasattr(self, "feature_names_out_") and not hasattr(self, "_stats"):
                raise DataError("this preprocessor was loaded from a file; partial_fit needs a new one")
            stats = self._stats = _FitStats.start(df, self.categorical)
        stats.add(df)
        self._finish_fit(stats)
        return self

    def _finish_fit(self, st: _FitStats) -> None:
        """Derive the fitted state from the running statistics."""
        if st.n == 0:
            raise DataError("cannot fit a preprocessor on an empty table")
        num, cat = st.numeric, st.categorical
        raw, logs = st.raw, st.log
        if self.log_transform == "auto":
            log_cols = [c for c, lo, hi in zip(num, raw.lo, raw.hi, strict=True)
                        if lo >= 0 and hi > self.log_min_max]
        elif self.log_transform in (False, None):
            log_cols = []
        elif self.log_transform is True:
            log_cols = [c for c, lo in zip(num, raw.lo, strict=True) if lo >= 0]
        else:
            log_cols = list(self.log_transform)
            unknown = [c for c in log_cols if c not in num]
            if unknown:
                raise DataError(f"log_transform names columns that are not numeric inputs: {unknown}")
        use_log = np.array([c in log_cols for c in num], bool)
        moments = _Moments.where(use_log, logs, raw)

        categories: dict[str, list[str]] = {}
        for c in cat:
            kept = sorted(((-k, v) for v, k in st.counts[c].items() if k >= self.min_frequency))
            categories[c] = sorted(v for _, v in kept[: self.max_categories])
        counts = [np.array([*(st.counts[c][v] for v in categories[c]),
                            st.n - sum(st.counts[c][v] for v in categories[c])], float) for c in cat]
        full = _Moments.concat([moments, *(_Moments.of_counts(k, st.n) for k in counts)])

        names = num + [f"{c}={v}" for c in cat for v in [*categories[c], OTHER]]
        if self.scaling == "minmax":
            offset, scale = full.lo, full.hi - full.lo
        elif self.scaling == "standard":
            offset, scale = full.mean, np.sqrt(full.m2 / st.n)
        elif self.scaling is None:
            offset, scale = np.zeros(len(names)), np.ones(len(names))
        else:
            raise ValueError(f"unknown scaling {self.scaling!r}")
        # drop columns constant in training, but keep each "__other__" column: it is zero in
        # training by construction and is where unseen categories land later
        keep = (full.hi - full.lo > 0) | np.array([n.endswith(f"={OTHER}") for n in names], bool)
        self.columns_in_ = list(st.columns)
        self.numeric_ = num
        self.categories_ = categories
        self.log_columns_ = log_cols
        self.feature_names_out_ = [n for n, k in zip(names, keep, strict=True) if k]
        self.keep_ = keep.tolist()
        self.offset_ = offset[keep].tolist()
        self.scale_ = np.where(scale[keep] > 0, scale[keep], 1.0).tolist()

    # ----------------------------------------------------------------------------- transform
    def transform(self, df: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """Validate ``df`` against the training schema and return a float32 matrix.

        ``df`` may also be a mapping of column name → 1-D numpy array (numbers for numeric
        columns, strings or integers for categorical ones): the same values without building a
        DataFrame, which dominates the cost of scoring one row (the service's JSON path)."""
        self._check_fitted()
        if isinstance(df, Mapping):
            return self._transform_columns(df)
        if not isinstance(df, pd.DataFrame):
            raise DataError("expected a pandas DataFrame of raw features")
        if len(df) == 0:
            raise DataError("no rows to transform")
        if not all(type(c) is str and c == c.strip() for c in df.columns):
            df = df.rename(columns=lambda c: str(c).strip())
        self._check_columns(df)
        return self._finish(self._numeric_frame(df, self.numeric_, self.input_schema()), lambda: self._onehot(df, check_unknown=True))

    def _transform_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_columns(columns)
        arrays = [np.asarray(columns[c]) for c in self.columns_in_]
        n = len(arrays[0]) if arrays else 0
        if any(a.ndim != 1 or len(a) != n for a in arrays):
            raise DataError("every column must be a 1-D array of the same length")
        if any(np.asarray(columns[c]).dtype.kind not in "iuf" for c in self.numeric_):
            return self.transform(pd.DataFrame(dict(columns)))  # the frame path names the problem
        if n == 0:
            raise DataError("no rows to transform")
        numeric = np.empty((n, len(self.numeric_)))
        for j, c in enumerate(self.numeric_):
            numeric[:, j] = columns[c]
        strings = {c: np.asarray(columns[c]).astype(str) for c in self.categories_}
        return self._finish(numeric, lambda: self._onehot_values(strings.__getitem__, n, check_unknown=True))

    def _check_columns(self, df: pd.DataFrame | Mapping[str, Any]) -> None:
        self.input_schema().check(df)

    def _finish(self, numeric: np.ndarray, onehot_blocks) -> np.ndarray:
        """Checked numeric block + ``onehot_blocks()`` → the scaled float32 model input."""
        _check_finite(numeric, self.numeric_)
        numeric = _apply_log(numeric, [self.numeric_.index(c) for c in self.log_columns_])
        onehot = onehot_blocks()
        full = np.hstack([numeric, onehot]) if onehot.size else numeric
        full = full[:, np.asarray(self.keep_, bool)]
        out = (full - np.asarray(self.offset_)) / np.asarray(self.scale_)
        return out.astype(np.float32)

    def fit_transform(self, df: pd.DataFrame) -> np.ndarray:
        return self.fit(df).transform(df)

    def feature_groups(self) -> dict[str, list[int]]:
        """Input column → indices of the output columns made from it (for contributions)."""
        self._check_fitted()
        groups: dict[str, list[int]] = {c: [] for c in self.columns_in_}
        for i, name in enumerate(self.feature_names_out_):
            col = name if name in groups else name.split("=", 1)[0]
            groups[col].append(i)
        return groups

    def group_contributions(self, per_feature: np.ndarray) -> pd.DataFrame:
        """Sum output-column contributions (n, d_out) back onto input columns (n, d_in)."""
        cache = self.__dict__.get("_groups_cache")
        if cache is None or cache[0] is not self.feature_names_out_:
            groups = self.feature_groups()  # computed once: scoring one row calls this per request
            cache = self.__dict__["_groups_cache"] = (self.feature_names_out_, list(groups), list(groups.values()))
        _, columns, indices = cache
        # the dtype a frame of these columns had: float64 as soon as one input column has no
        # output column (a zero column), else the contributions' own dtype
        dtype = np.float64 if not all(indices) else per_feature.dtype
        out = np.empty((len(per_feature), len(columns)), dtype=dtype)
        for j, idx in enumerate(indices):
            out[:, j] = per_feature[:, idx].sum(axis=1) if idx else 0.0
        return pd.DataFrame(out, columns=columns, copy=False)

    # ------------------------------------------------------------------------- serialization
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "kind": "table",
            "params": self.get_params(),
            "state": {k: getattr(self, k) for k in (
                "columns_in_", "numeric_", "categories_", "log_columns_", "feature_names_out_",
                "keep_", "offset_", "scale_")},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        """Rebuild from :meth:`to_dict`'s output; every field is checked first (DataError)."""
        from nadkit.artifact_schema import validate_preprocessor
        from nadkit.errors import ArtifactError

        try:
            validate_preprocessor(d if isinstance(d, dict) and "kind" in d else {"kind": "table", **d},
                                  "saved preprocessor")
        except (ArtifactError, TypeError) as exc:
            raise DataError(str(exc)) from None
        obj = cls(**d["params"])
        for k, v in d["state"].items():
            setattr(obj, k, v)
        return obj

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "categorical", "log_transform", "log_min_max", "scaling", "max_categories",
            "min_frequency", "strict_categories")}

    def input_schema(self) -> InputSchema:
        """The input schema (:class:`~nadkit.data.schema.InputSchema`): column order, numeric
        columns and known categories; built once per fitted state."""
        self._check_fitted()
        state = (self.columns_in_, self.numeric_, self.categories_)
        cache = self.__dict__.get("_schema_cache")
        if cache is None or any(a is not b for a, b in zip(cache[0], state, strict=True)):
            cache = self.__dict__["_schema_cache"] = (state, InputSchema(*state))
        return cache[1]

    def schema(self) -> dict[str, Any]:
        """The input schema as JSON (what the manifest records): ``input_schema().to_dict()``."""
        return self.input_schema().to_dict()

    # ------------------------------------------------------------------------------- helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_names_out_"):
            raise NotFittedError("Preprocessor is not fitted; call fit() first")

    @staticmethod
    def _numeric_frame(df: pd.DataFrame, cols: list[str], schema: InputSchema | None = None) -> np.ndarray:
        if not cols:
            return np.empty((len(df), 0))
        block = df[cols]
        if block.shape[1] == len(cols) and all(_is_numeric_dtype(t) for t in block.dtypes):
            # one conversion for the whole block (the per-column path below costs ~40 µs a
            # column, which dominates scoring a single row); the values are the same
            return block.to_numpy(dtype=np.float64, na_value=np.nan)
        if schema is not None:  # transform: a timestamp in a numeric column is refused, not cast
            schema.check_types({c: df[c].dtype for c in cols if not _is_numeric(df[c])})
        bad = []
        arrays = []
        for c in cols:
            s = df[c]
            if not _is_numeric(s):
                conv = pd.to_numeric(s, errors="coerce")
                if conv.isna().sum() > s.isna().sum():
                    example = s[conv.isna() & s.notna()].iloc[0]
                    bad.append(f"{c} (e.g. {example!r})")
                    continue
                s = conv
            arrays.append(s.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad:
            raise DataError(f"non-numeric values in numeric columns: {', '.join(bad[:5])}")
        return np.column_stack(arrays)

    def _category_index(self, column: str, cats: list[str]) -> pd.Index:
        """``pd.Index(cats)``, built once per category list (hashing it dominates one-row transforms)."""
        cache = self.__dict__.setdefault("_index_cache", {})
        hit = cache.get(column)
        if hit is None or hit[0] is not cats or hit[1] != len(cats):
            hit = cache[column] = (cats, len(cats), pd.Index(cats))
        return hit[2]

    def _onehot(self, df: pd.DataFrame, check_unknown: bool = False) -> np.ndarray:
        return self._onehot_values(lambda c: df[c].astype(str), len(df), check_unknown)

    def _onehot_values(self, strings, n: int, check_unknown: bool = False) -> np.ndarray:
        """One-hot blocks of the categorical columns; ``strings(column)`` gives its values as text."""
        blocks = []
        unknown: dict[str, list[str]] = {}
        for c, cats in self.categories_.items():
            values = strings(c)
            codes = self._category_index(c, cats).get_indexer(values).astype(np.int64)
            other = codes < 0
            if check_unknown and other.any():
                unseen = sorted({str(v) for v in values[other]} - set(cats))
                if unseen:
                    unknown[c] = unseen
            codes[other] = len(cats)
            block = np.zeros((n, len(cats) + 1))
            block[np.arange(n), codes] = 1.0
            blocks.append(block)
        if unknown:
            msg = "unseen categories mapped to __other__: " + "; ".join(
                f"{c}: {', '.join(map(repr, v[:5]))}{' …' if len(v) > 5 else ''}" for c, v in unknown.items())
            if self.strict_categories:
                raise DataError(msg)
            warnings.warn(msg, UnknownCategoryWarning, stacklevel=6)  # the caller of transform()
        return np.hstack(blocks) if blocks else np.empty((n, 0))


def _is_numeric(s: pd.Series) -> bool:
    return _is_numeric_dtype(s.dtype)


def _is_numeric_dtype(dtype) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _apply_log(a: np.ndarray, idx: list[int]) -> np.ndarray:
    if idx:
        a = a.copy()
        a[:, idx] = np.log1p(np.maximum(a[:, idx], 0.0))
    return a


def _check_finite(a: np.ndarray, cols: list[str]) -> None:
    if a.size == 0:
        return
    bad = ~np.isfinite(a)
    if bad.any():
        per_col = bad.sum(axis=0)
        named = [f"{cols[i]} ({int(per_col[i])} rows)" for i in np.flatnonzero(per_col)[:5]]
        kinds = "NaN" if np.isnan(a[bad]).all() else "NaN/inf"
        raise DataError(f"{kinds} values in {int(bad.any(axis=1).sum())} rows: {', '.join(named)}")


class _Moments:
    """Per-column count, min, max, mean and M2 (sum of squared deviations), mergeable
    (Chan et al.'s pairwise update)."""

    def __init__(self, n: int, lo: np.ndarray, hi: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> None:
        self.n, self.lo, self.hi, self.mean, self.m2 = n, lo, hi, mean, m2

    @classmethod
    def of(cls, a: np.ndarray) -> _Moments:
        mean = a.mean(axis=0)
        return cls(len(a), a.min(axis=0), a.max(axis=0), mean, ((a - mean) ** 2).sum(axis=0))

    @classmethod
    def of_counts(cls, counts: np.ndarray, n: int) -> _Moments:
        """Moments of one-hot columns whose ones are counted by ``counts``."""
        p = counts / n
        return cls(n, (counts >= n).astype(float), (counts > 0).astype(float), p,
                   counts * (1 - p) ** 2 + (n - counts) * p ** 2)

    @classmethod
    def where(cls, mask: np.ndarray, a: _Moments, b: _Moments) -> _Moments:
        return cls(a.n, *(np.where(mask, getattr(a, k), getattr(b, k)) for k in ("lo", "hi", "mean", "m2")))

    @classmethod
    def concat(cls, parts: list[_Moments]) -> _Moments:
        return cls(parts[0].n, *(np.concatenate([getattr(p, k) for p in parts])
                                 for k in ("lo", "hi", "mean", "m2")))

    def merge(self, o: _Moments) -> _Moments:
        if self.n == 0:
            return o
        n = self.n + o.n
        delta = o.mean - self.mean
        return _Moments(n, np.minimum(self.lo, o.lo), np.maximum(self.hi, o.hi),
                        self.mean + delta * (o.n / n), self.m2 + o.m2 + delta ** 2 * (self.n * o.n / n))


class _FitStats:
    """Running statistics of :meth:`Preprocessor.partial_fit` (the columns are fixed by the
    first batch; every later batch must have the same ones)."""

    def __init__(self, columns: list[str], categorical: list[str]) -> None:
        self.columns = columns
        self.categorical = categorical
        self.numeric = [c for c in columns if c not in categorical]
        self.n = 0
        empty = np.zeros(len(self.numeric))
        self.raw = _Moments(0, empty, empty, empty, empty)
        self.log = self.raw
        self.counts: dict[str, dict[str, int]] = {c: {} for c in categorical}

    @classmethod
    def start(cls, df: pd.DataFrame, categorical: list[str] | None) -> _FitStats:
        cols = [str(c) for c in df.columns]
        if len(set(cols)) != len(cols):
            dup = sorted({c for c in cols if cols.count(c) > 1})
            raise DataError(f"duplicate column names: {dup}")
        if categorical is None:
            cat = [c for c in cols if not _is_numeric(df[c])]
        else:
            unknown = [c for c in categorical if c not in cols]
            if unknown:
                raise DataError(f"categorical columns not in the data: {unknown}")
            cat = list(categorical)
        return cls(cols, cat)

    def add(self, df: pd.DataFrame) -> None:
        cols = [str(c) for c in df.columns]
        if cols != self.columns:
            if sorted(cols) != sorted(self.columns):
                missing, extra = sorted(set(self.columns) - set(cols)), sorted(set(cols) - set(self.columns))
                raise DataError(f"this batch's columns differ from the first batch's: missing {missing}, "
                                f"extra {extra}")
            df = df[self.columns]
        if len(df) == 0:
            return
        numeric = Preprocessor._numeric_frame(df, self.numeric)
        _check_finite(numeric, self.numeric)
        self.raw = self.raw.merge(_Moments.of(numeric))
        self.log = self.log.merge(_Moments.of(np.log1p(np.maximum(numeric, 0.0))))
        for c in self.categorical:
            counts = self.counts[c]
            for v, k in df[c].astype(str).value_counts(sort=False).items():
                counts[v] = counts.get(v, 0) + int(k)
        self.n += len(df)

