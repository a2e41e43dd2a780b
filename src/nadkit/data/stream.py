"""Training tables larger than memory: two streamed passes over a CSV/Parquet file.

1. :func:`fit_preprocessor` feeds the batches to :meth:`Preprocessor.partial_fit` (the state is
   the one ``fit`` gives on the whole table).
2. :func:`transform_to_memmap` writes the preprocessed float32 rows to a ``.npy`` file and
   returns it memory-mapped; the trainer gathers each batch from it by row index, so only the
   batches in use are in memory (the OS page cache does the rest).

Why a memory-mapped matrix rather than an ``IterableDataset`` with a shuffle buffer: the
trainer keeps its exact semantics — true uniform shuffling, the seeded validation split,
``DistributedSampler`` shards under DDP (ranks re-open the file instead of receiving a copy),
early stopping over whole epochs — and the result is bit-identical to training on the same
rows in memory. The cost is one float32 copy of the training rows on disk (n × d × 4 bytes).

>>> import numpy as np, pandas as pd, tempfile, os
>>> d = tempfile.mkdtemp()
>>> pd.DataFrame({"bytes": np.arange(10.0), "label": [0] * 8 + [1] * 2}).to_parquet(f"{d}/t.parquet")
>>> pre, info = fit_preprocessor(Preprocessor(), f"{d}/t.parquet", label_col="label", batch_rows=3)
>>> info["rows"], pre.feature_names_out_
(8, ['bytes'])
>>> X = transform_to_memmap(pre, f"{d}/t.parquet", f"{d}/X.npy", label_col="label", batch_rows=3)
>>> X.shape, float(X.max())
((8, 1), 1.0)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nadkit.data.loaders import parse_labels
from nadkit.data.preprocess import Preprocessor, unseen_categories_once
from nadkit.errors import DataError
from nadkit.io import BATCH_ROWS, iter_table_batches, table_columns


def feature_batches(path: str | os.PathLike[str], label_col: str | None = None,
                    drop_cols: Sequence[str] = (), normal_only: bool = True,
                    batch_rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """Feature columns of a streamed table, batch by batch; with ``label_col`` and
    ``normal_only`` only the normal rows (label 0 / "normal" / "benign")."""
    columns = table_columns(path)
    if label_col is not None and label_col not in columns:
        raise DataError(f"{Path(path).name}: label column {label_col!r} not found; columns are {columns[:20]}")
    missing = [c for c in drop_cols if c not in columns]
    if missing:
        raise DataError(f"{Path(path).name}: columns to drop not found: {missing}")
    drop = [*drop_cols, *([label_col] if label_col else [])]
    if len(set(columns) - set(drop)) == 0:
        raise DataError(f"{Path(path).name}: no feature columns left")
    for df in iter_table_batches(path, batch_rows):
        if label_col is not None and normal_only:
            y, _ = parse_labels(df[label_col], name=f"{Path(path).name}: column {label_col!r}")
            df = df[y == 0]
        yield df.drop(columns=drop).reset_index(drop=True)


def fit_preprocessor(pre: Preprocessor, path: str | os.PathLike[str], label_col: str | None = None,
                     drop_cols: Sequence[str] = (), normal_only: bool = True,
                     batch_rows: int = BATCH_ROWS) -> tuple[Preprocessor, dict[str, Any]]:
    """Fit ``pre`` over the streamed (normal) rows of ``path``.

    Returns the preprocessor and ``{"rows": n, "hash": h}`` where ``h`` equals
    :func:`nadkit.pipeline.hash_frame` of the whole feature table.
    """
    pre._stats = None  # a fresh fit, as Preprocessor.fit would start
    h, n, names = hashlib.sha256(), 0, None
    for df in feature_batches(path, label_col, drop_cols, normal_only, batch_rows):
        if len(df) == 0:
            continue
        if names is None:
            names = list(df.columns)
            h.update("\x1f".join(map(str, names)).encode())
        pre.partial_fit(df)
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
        n += len(df)
    if n == 0:
        raise DataError(f"no (normal) rows to train on in {path}")
    return pre, {"rows": n, "hash": h.hexdigest()[:16]}


def transform_to_memmap(pre: Preprocessor, path: str | os.PathLike[str], out: str | os.PathLike[str],
                        label_col: str | None = None, drop_cols: Sequence[str] = (),
                        normal_only: bool = True, batch_rows: int = BATCH_ROWS,
                        rows: int | None = None) -> np.memmap:
    """Write ``pre.transform`` of the streamed (normal) rows to ``out`` (.npy, float32) and
    return it memory-mapped read-only. ``rows`` (from :func:`fit_preprocessor`) saves a pass."""
    if rows is None:
        rows = sum(len(df) for df in feature_batches(path, label_col, drop_cols, normal_only, batch_rows))
    d = len(pre.feature_names_out_)
    X = np.lib.format.open_memmap(out, mode="w+", dtype=np.float32, shape=(rows, d))
    at = 0
    with unseen_categories_once():
        for df in feature_batches(path, label_col, drop_cols, normal_only, batch_rows):
            if len(df) == 0:
                continue
            if at + len(df) > rows:
                raise DataError(f"{path} changed while it was being read (more rows than counted)")
            X[at:at + len(df)] = pre.transform(df)
            at += len(df)
    if at != rows:
        raise DataError(f"{path} changed while it was being read ({at} rows, expected {rows})")
    X.flush()
    del X
    return np.load(out, mmap_mode="r")
