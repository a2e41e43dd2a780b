"""Batch scoring of tables of any size: the output columns, and files streamed through a model.

:func:`detect_frame` defines what scoring writes (kept input columns, ``score``, ``anomaly``,
optional ``contrib_<col>``); ``nadkit detect``, :func:`score_file` and the Spark job
(:mod:`nadkit.spark`) all use it. :func:`score_file` streams a CSV/Parquet file in batches and
writes the result batch by batch, atomically, so memory stays flat however large the file.

>>> import numpy as np, pandas as pd, tempfile, os
>>> from nadkit.models import IForest
>>> from nadkit.pipeline import Pipeline
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"id": range(1000), "bytes": rng.lognormal(5, 1, 1000)})
>>> pipe = Pipeline(IForest(random_state=0)).fit(df[["bytes"]])
>>> d = tempfile.mkdtemp()
>>> df.to_parquet(os.path.join(d, "flows.parquet"))
>>> score_file(pipe, os.path.join(d, "flows.parquet"), os.path.join(d, "scores.parquet"),
...            keep_cols=["id"], batch_rows=300)["rows"]
1000
>>> list(pd.read_parquet(os.path.join(d, "scores.parquet")).columns)
['id', 'score', 'anomaly']
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from nadkit.data.preprocess import unseen_categories_once
from nadkit.data.schema import check_keys
from nadkit.errors import DataError
from nadkit.io import BATCH_ROWS, count_rows, iter_table_batches, table_columns, table_writer

if TYPE_CHECKING:  # (the pipeline's detect_input calls this module)
    from nadkit.pipeline import Pipeline


def detect_frame(pipe: Pipeline, df: pd.DataFrame, keep_cols: Sequence[str] = (),
                 contributions: bool = True) -> pd.DataFrame:
    """``pipe.detect(df)`` with the input columns ``keep_cols`` first (renamed
    ``<col>_input`` where they clash with an output column)."""
    result = pipe.detect(df, contributions=contributions)
    if not keep_cols:
        return result
    check_keys(keep_cols, df.columns, "key/keep columns")
    kept = df[list(keep_cols)].reset_index(drop=True)
    kept.columns = [f"{c}_input" if c in result.columns else c for c in kept.columns]
    return pd.concat([kept, result], axis=1)


def file_columns(data: str | os.PathLike[str]) -> list[str]:
    """Column names of a table file as scoring reads it (flow exports: cleaned names)."""
    from nadkit.data.exports import detect_format, iter_export

    fmt = detect_format(data)
    if fmt is None:
        return table_columns(data)
    return list(next(iter_export(data, fmt, 1_000)).columns)


_PORT_KEYS = frozenset({"sport", "dport", "srcport", "dstport", "sourceport", "destinationport",
                        "origport", "respport"})


def key_columns(option: str, columns: list[str]) -> tuple[str, ...]:
    """The columns ``--key-cols`` names: ``auto`` finds ids, times, addresses and ports by name
    (as the flow readers find identifier columns), ``none`` none, else the listed ones."""
    value = option.strip()
    if value.lower() in ("none", ""):
        return ()
    if value.lower() != "auto":
        return tuple(v.strip() for v in value.split(",") if v.strip())
    from nadkit.data.exports import (
        FORMATS,
        LABEL_KEYS,
        column_key,
        format_of_columns,
        looks_like_identifier,
    )

    spec = FORMATS.get(format_of_columns(columns) or "")
    keys = []
    for c in columns:
        name = column_key(c)
        role = spec.role(c) if spec is not None else None
        port = name in _PORT_KEYS
        if name not in LABEL_KEYS and (role in ("identifier", "port") or looks_like_identifier(c) or port):
            keys.append(c)
    return tuple(keys)


def input_types(pipe: Pipeline) -> dict[str, Any]:
    """Arrow types of the model's input columns, so CSV blocks parse the same way: numeric
    features as float64, categorical ones as strings (:meth:`InputSchema.arrow_types`)."""
    return pipe.preprocessor.input_schema().arrow_types()


def score_file(pipe: Pipeline, data: str | os.PathLike[str], output: str | os.PathLike[str],
               keep_cols: Sequence[str] = (), contributions: bool = True,
               batch_rows: int = BATCH_ROWS,
               on_progress: Callable[[int, int | None], None] | None = None) -> dict[str, Any]:
    """Score a CSV/Parquet file of any size batch by batch into ``output`` (.csv or .parquet).

    Only the model's input columns and ``keep_cols`` are read. The output appears atomically
    when every batch has been scored; a bad batch (NaN, wrong types…) raises :class:`DataError`
    and leaves nothing behind. Unseen categories are reported in one warning at the end.
    Flow exports (:mod:`nadkit.data.exports`) are read natively, cleaned as at training time.
    Returns ``{"rows": …, "flagged": …}`` (and ``"notice"`` for a flow export).
    """
    if pipe.detector.input_kind != "table":
        raise DataError("streamed scoring scores rows independently; series models need whole "
                        "series (use Pipeline.detect or nadkit.spark's per-entity scoring)")
    from nadkit.data.exports import FORMATS, ReadReport, detect_format, iter_export

    fmt = detect_format(data)
    report = ReadReport()
    if fmt is not None:  # a flow export: read natively, cleaned as at training time
        batches = iter_export(data, fmt, batch_rows, report=report)
        first = next(batches)
        available = list(first.columns)
    else:
        available = table_columns(data)
    check_keys(keep_cols, available, "--key-cols")
    schema = pipe.preprocessor.input_schema()
    schema.check(available)
    wanted = list(dict.fromkeys([*keep_cols, *schema.columns]))
    total = count_rows(data)
    rows = flagged = 0
    if fmt is not None:
        source = (df[wanted] for df in itertools.chain([first], batches))
    else:
        source = iter_table_batches(data, batch_rows, columns=wanted, types=schema.arrow_types())
    with table_writer(output) as write, unseen_categories_once():
        for df in source:
            result = detect_frame(pipe, df, keep_cols, contributions)
            write(result)
            rows += len(result)
            flagged += int(result["anomaly"].sum())
            if on_progress is not None:
                on_progress(rows, total)
    summary: dict[str, Any] = {"rows": rows, "flagged": flagged}
    if fmt is not None:
        done = report.describe()
        summary["notice"] = f"{os.path.basename(os.fspath(data))}: read as {FORMATS[fmt].title}" + (
            f"; {done}" if done else "")
    return summary
