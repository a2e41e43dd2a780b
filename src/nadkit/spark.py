"""Batch scoring on Apache Spark: any saved nadkit model over a Parquet/CSV table of any size.

The model directory is read once on the driver and broadcast; each Python worker process
rebuilds the pipeline from it once (verifying every file against the manifest, as
:func:`nadkit.artifact.load` always does) and keeps it for every later task and batch. Rows
reach the model as Arrow batches through ``mapInPandas`` (``batch_rows`` per batch) and are
scored by the same :func:`nadkit.scoring.detect_frame` as ``nadkit detect``, with the
preprocessing saved in the artifact, so Spark scores equal single-machine scores.

Table models score rows independently (``mapInPandas``). Series models score per entity:
rows are grouped by ``entity_col`` (e.g. a host), ordered by ``time_col`` and each group is
scored as one series (``groupBy(...).applyInPandas``).

>>> from pyspark.sql import SparkSession                                  # doctest: +SKIP
>>> spark = SparkSession.builder.master("local[2]").getOrCreate()         # doctest: +SKIP
>>> score_table(spark, "models/ae", "flows.parquet", "scores.parquet",
...             key_cols=["flow_id"])                                    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from nadkit.errors import ArtifactError, DataError
from nadkit.pipeline import Pipeline

if TYPE_CHECKING:  # pyspark is an optional dependency (the "spark" extra)
    from pyspark.broadcast import Broadcast
    from pyspark.sql import DataFrame, SparkSession

#: rows per Arrow batch handed to the model (Spark's default is 10,000)
BATCH_ROWS = 65_536

# per Python worker process: model digest → pipeline (built once, reused by every task)
_PIPELINES: dict[str, Pipeline] = {}
_LOADS: dict[str, int] = {}


# --------------------------------------------------------------------------------- the model
def model_files(model_dir: str | os.PathLike[str]) -> dict[str, bytes]:
    """The files of a model directory as bytes, to broadcast to the workers."""
    path = Path(model_dir)
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def _digest(files: dict[str, bytes]) -> str:
    return hashlib.sha256(files["manifest.json"]).hexdigest()


def worker_pipeline(files: dict[str, bytes]) -> Pipeline:
    """The pipeline of a broadcast model, built once per Python process."""
    key = _digest(files)
    if key not in _PIPELINES:
        from nadkit import artifact

        with tempfile.TemporaryDirectory(prefix="nadkit-model-") as tmp:
            for name, data in files.items():
                Path(tmp, name).write_bytes(data)
            _PIPELINES[key] = artifact.load(tmp)
        _LOADS[key] = _LOADS.get(key, 0) + 1
    return _PIPELINES[key]


def worker_loads() -> dict[str, int]:
    """How many times this process built each model (1 per model when caching works)."""
    return dict(_LOADS)


# ------------------------------------------------------------------------------ the schemas
def _output_schema(df: DataFrame, pipe: Pipeline, keep_cols: Sequence[str], contributions: bool):
    from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

    fields = [StructField("score", DoubleType()), StructField("anomaly", IntegerType())]
    if contributions and pipe.detector.has_tag("feature_scores"):
        fields += [StructField(f"contrib_{c}", DoubleType()) for c in pipe.preprocessor.schema()["columns"]]
    outputs = {f.name for f in fields}
    kept = [StructField(f"{c}_input" if c in outputs else c, df.schema[c].dataType) for c in keep_cols]
    return StructType(kept + fields)


def _check_columns(df: DataFrame, pipe: Pipeline, keep_cols: Sequence[str]) -> None:
    from nadkit.data.schema import check_keys

    check_keys(keep_cols, df.columns)
    pipe.preprocessor.input_schema().check(df)  # names and (Spark) types of the feature columns


# ------------------------------------------------------------------------------ the scoring
def _score_batches(batches: Iterator[pd.DataFrame], model: Broadcast, keep_cols: list[str],
                   contributions: bool) -> Iterator[pd.DataFrame]:
    from nadkit.data.preprocess import unseen_categories_once

    pipe = worker_pipeline(model.value)
    with unseen_categories_once():  # one warning per task in the executor's log, not per batch
        for df in batches:
            if len(df):
                out = pipe.score_rows(df, keep_cols, contributions)
                yield out.astype({"anomaly": "int32"})


def _score_entity(group: pd.DataFrame, model: Broadcast, keep_cols: list[str], time_col: str,
                  contributions: bool) -> pd.DataFrame:
    pipe = worker_pipeline(model.value)
    group = group.sort_values(time_col, kind="stable").reset_index(drop=True)
    return pipe.score_rows(group, keep_cols, contributions).astype({"anomaly": "int32"})


def score_dataframe(df: DataFrame, model_dir: str | os.PathLike[str], key_cols: Sequence[str] = (),
                    contributions: bool = False, entity_col: str | None = None,
                    time_col: str | None = None) -> DataFrame:
    """Lazily score a Spark DataFrame with a saved model: columns ``key_cols``, ``score``,
    ``anomaly`` (0/1) and, with ``contributions``, ``contrib_<col>`` per input column.

    Series models need ``entity_col`` (one series per value) and ``time_col`` (the order);
    both are kept in the output. Arrow batch size is Spark's
    ``spark.sql.execution.arrow.maxRecordsPerBatch`` when the result is computed.
    """
    from nadkit import artifact

    pipe = artifact.load(model_dir)  # a bad model fails here with its message, not in a worker
    files = model_files(model_dir)
    series = not pipe.independent_rows  # one entity's rows per batch, in time order
    keys = list(dict.fromkeys(key_cols))
    if series:
        if entity_col is None or time_col is None:
            raise DataError("a series model scores one series per entity: give entity_col and time_col "
                            "(--entity-col, --time-col)")
        keys = list(dict.fromkeys([entity_col, time_col, *keys]))
    _check_columns(df, pipe, keys)
    schema = _output_schema(df, pipe, keys, contributions)
    model = df.sparkSession.sparkContext.broadcast(files)
    needed = list(dict.fromkeys([*keys, *pipe.preprocessor.schema()["columns"]]))
    df = df.select(*[_column(c) for c in needed])
    if series:
        def score_entity(group: pd.DataFrame) -> pd.DataFrame:
            return _score_entity(group, model, keys, time_col, contributions)

        return df.groupBy(entity_col).applyInPandas(score_entity, schema)

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        yield from _score_batches(batches, model, keys, contributions)

    return df.mapInPandas(score, schema)


def _column(name: str):
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def read_table(spark: SparkSession, path: str | os.PathLike[str]) -> DataFrame:
    """A Parquet file/directory or a CSV (header row, optionally gzipped) as a Spark DataFrame."""
    name = str(path).lower().rstrip("/")
    if not Path(path).exists() and "://" not in str(path):
        raise DataError(f"file not found: {path}")
    if name.endswith((".csv", ".csv.gz", ".txt", ".txt.gz", ".tsv")):
        df = spark.read.options(header=True, inferSchema=True, sep="\t" if ".tsv" in name else ",",
                                encoding="UTF-8").csv(str(path))
        return df.toDF(*[c.strip().lstrip("\ufeff") for c in df.columns])
    return spark.read.parquet(str(path))


def score_table(spark: SparkSession, model_dir: str | os.PathLike[str], input: str | os.PathLike[str],
                output: str | os.PathLike[str], key_cols: Sequence[str] = (), contributions: bool = False,
                entity_col: str | None = None, time_col: str | None = None,
                batch_rows: int = BATCH_ROWS, overwrite: bool = False) -> str:
    """Score the table at ``input`` with the model in ``model_dir`` and write ``output``.

    ``output`` is a Parquet directory (or CSV when it ends in ``.csv``) written by Spark's
    committer: it appears complete or not at all. Errors in the data (missing columns, NaN,
    unseen categories under ``strict_categories``) raise :class:`DataError`.
    """
    if not overwrite and Path(output).exists():
        raise DataError(f"output exists: {output} (remove it or pass overwrite=True / --overwrite)")
    df = read_table(spark, input)
    scored = score_dataframe(df, model_dir, key_cols, contributions, entity_col, time_col)
    writer = scored.write.mode("overwrite" if overwrite else "errorifexists")
    conf = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(conf, None)
    spark.conf.set(conf, str(int(batch_rows)))
    try:
        if str(output).lower().endswith(".csv"):
            writer.option("header", True).csv(str(output))
        else:
            writer.parquet(str(output))
    except Exception as exc:
        raise _user_error(exc) from exc
    finally:
        if before is None:
            spark.conf.unset(conf)
        else:
            spark.conf.set(conf, before)
    return str(output)


def _user_error(exc: Exception) -> Exception:
    """A nadkit error raised in a Python worker comes back as a long Spark exception: find
    its one-line message again (anything else is passed on unchanged)."""
    text = str(exc)
    for cls in (DataError, ArtifactError):
        marker = f"{cls.__module__}.{cls.__name__}: "
        if marker in text:
            return cls(text.split(marker, 1)[1].splitlines()[0].strip())
    return exc


@contextlib.contextmanager
def session(master: str | None = None, app_name: str = "nadkit",
            config: dict[str, str] | None = None) -> Iterator[SparkSession]:
    """The active SparkSession, or a new one on ``master`` (default ``local[*]``, UI off) that
    is stopped when the block ends. Local Python workers use this interpreter, so they import
    this nadkit; on a cluster the executors' Python must have nadkit installed."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    master = master or "local[*]"
    settings = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "8", **(config or {})}
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # read by SparkContext at start
    builder = SparkSession.builder.appName(app_name).master(master)
    for k, v in settings.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    try:
        yield spark
    finally:
        spark.stop()


def worker_report(spark: SparkSession, partitions: int = 4) -> list[dict[str, Any]]:
    """Each Python worker's pid and model loads (to check that models load once per worker)."""
    import json

    def probe(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for _ in batches:
            pass
        yield pd.DataFrame({"pid": [os.getpid()], "loads": [json.dumps(worker_loads())]})

    rows = spark.range(partitions, numPartitions=partitions).mapInPandas(probe, "pid long, loads string")
    return [{"pid": r.pid, "loads": json.loads(r.loads)} for r in rows.collect()]
