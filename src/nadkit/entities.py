"""Series models over many entities (hosts, sites, interfaces) from one table with an entity
column: ``nadkit train/detect --entity-col host``.

The design is Spark's (:func:`nadkit.spark.score_dataframe`): **one model for every entity**,
and each entity's rows are **one series**, ordered by time, so a window never holds steps of
two entities.

* Scoring: the table is split by entity (in order of first appearance), each entity's rows are
  put on their time grid (:func:`~nadkit.data.series.loaders.frame_to_series`) and scored as a
  series of their own; the outputs are stacked with the entity as their first column and
  ``step`` counted within the entity (the first ``window - 1`` steps of *every* entity are
  unscored).
* Training: the model is fitted once on the entities' series joined end to end (each one put on
  its grid first), with the preprocessing (per-channel scaling) fitted on all of them. Only the
  ``window - 1`` training windows that span a join mix two entities; a warning says when they
  are more than 5 % of the windows (few steps per entity), where one model per entity (each
  trained on that entity's rows alone) is the sounder choice. Entities therefore share
  one notion of normal: use it for entities of one kind (the interfaces of one router type, the
  valves of one plant), not to mix a core router with a laptop.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from nadkit.data.series import SeriesData
from nadkit.errors import DataError

#: joins between entities may make up at most this share of the training windows without a warning
MAX_JOIN_SHARE = 0.05


def split_entities(df: pd.DataFrame, entity_col: str) -> list[tuple[str, pd.DataFrame]]:
    """``(entity, its rows without the entity column)`` in order of first appearance."""
    if entity_col not in df.columns:
        raise DataError(f"entity column {entity_col!r} not in the data; columns are {list(df.columns)[:20]}")
    ent = df[entity_col]
    if ent.isna().any():
        row = int(np.flatnonzero(ent.isna().to_numpy())[0])
        raise DataError(f"entity column {entity_col!r} is empty in {int(ent.isna().sum())} row(s) (e.g. row {row + 1})")
    keys = ent.astype(str)
    return [(str(k), g.drop(columns=[entity_col]).reset_index(drop=True))
            for k, g in df.groupby(keys, sort=False)]


def entity_series(df: pd.DataFrame, entity_col: str, time_col: str | None = "auto", label_col: str | None = None,
                  drop_cols: Iterable[str] = (), max_gap: int = 0, channels: Iterable[str] | None = None,
                  name: str = "series") -> list[tuple[str, SeriesData]]:
    """Each entity's rows as a :class:`SeriesData` on its own time grid (the CLI's readers'
    rules: time column, labels, gap filling, a model's ``channels``)."""
    from nadkit.data.series.loaders import find_time_col, frame_to_series

    out = []
    for entity, rows in split_entities(df, entity_col):
        tcol = find_time_col(rows, time_col or None)
        if tcol is not None:  # each entity's rows in time order (the table may interleave them)
            rows = rows.sort_values(tcol, kind="stable").reset_index(drop=True)
        out.append((entity, frame_to_series(rows, time_col=time_col or None, label_col=label_col,
                                            drop_cols=drop_cols, name=f"{name} [{entity_col}={entity}]",
                                            max_gap=max_gap, channels=channels)))
    return out


def read_entities(path: str, entity_col: str, **kw: Any) -> list[tuple[str, SeriesData]]:
    """:func:`entity_series` of a CSV/Parquet file."""
    from pathlib import Path

    from nadkit.io import read_table

    if not Path(path).is_file():
        raise DataError(f"--entity-col reads a CSV/Parquet file; {path} is not one")
    return entity_series(read_table(path), entity_col, name=Path(path).name, **kw)


def joined(series: list[tuple[str, SeriesData]], window: int) -> SeriesData:
    """The entities' series end to end, to fit one model on (see the module notes)."""
    if not series:
        raise DataError("no entities to train on")
    short = [e for e, s in series if len(s) < window]
    if short:
        raise DataError(f"{len(short)} entit{'y has' if len(short) == 1 else 'ies have'} fewer steps than the "
                        f"model's window ({window}): {', '.join(short[:5])}")
    X = pd.concat([s.X for _, s in series], ignore_index=True)
    windows = len(X) - window + 1
    joins = (len(series) - 1) * (window - 1)
    if windows and joins / windows > MAX_JOIN_SHARE:
        warnings.warn(f"{joins:,} of the {windows:,} training windows ({joins / windows:.0%}) span the join of two "
                      f"entities: the entities are short for window {window}; train on longer series or one "
                      "model per entity", stacklevel=2)
    steps = {s.meta.get("step") for _, s in series}
    if len(steps) > 1:
        raise DataError(f"the entities' series have different steps ({', '.join(sorted(map(str, steps)))}); "
                        "one model needs one step")
    names = ", ".join(e for e, _ in series[:5]) + (" …" if len(series) > 5 else "")
    return SeriesData(X, name=f"{len(series)} entities ({names})",
                      meta={"entities": [e for e, _ in series], "step": steps.pop()})


def detect_entities(pipe: Any, series: list[tuple[str, SeriesData]], entity_col: str,
                    layout: str = "long") -> pd.DataFrame:
    """``pipe.detect`` on each entity's series, stacked, with ``entity_col`` first."""
    parts = []
    for entity, s in series:
        if len(s) < pipe.detector.window:
            raise DataError(f"entity {entity!r} has {len(s)} steps, fewer than the model's window "
                            f"({pipe.detector.window})")
        part = pipe.detect(s, layout=layout)
        part.insert(0, entity_col, entity)
        parts.append(part)
    if not parts:
        raise DataError("no entities to score")
    out = pd.concat(parts, ignore_index=True)
    if "channel" in out.columns:  # keep the channel categorical across entities
        out["channel"] = pd.Categorical(out["channel"], categories=list(pipe.preprocessor.channels_))
    return out


def score_rows(pipe: Any, rows: pd.DataFrame, keep_cols: Iterable[str] = (), contributions: bool = False
               ) -> pd.DataFrame:
    """One entity's rows (consecutive steps, in time order) scored as one series, one output row
    per input row: ``keep_cols``, ``score`` (the step score; NaN for the first ``window - 1``),
    ``anomaly`` (the step flag) and, with ``contributions``, ``contrib_<channel>`` (each
    channel's score). The per-entity scoring of :func:`nadkit.spark.score_dataframe`."""
    channels = list(pipe.preprocessor.channels_)
    missing = [c for c in channels if c not in rows.columns]
    if missing:
        raise DataError(f"missing channels ({len(missing)}): {', '.join(missing[:8])}")
    keep = list(keep_cols)
    if len(rows) < pipe.detector.window:
        out = pd.DataFrame({"score": np.full(len(rows), np.nan), "anomaly": np.zeros(len(rows), np.int8)})
        per = np.full((len(rows), len(channels)), np.nan)
    else:
        b = pipe.bands(rows[channels].reset_index(drop=True))
        out = pd.DataFrame({"score": b["step_score"], "anomaly": b["step_flag"]})
        per = b["score"]
    if contributions:
        out = pd.concat([out, pd.DataFrame(per, columns=[f"contrib_{c}" for c in channels])], axis=1)
    if keep:
        kept = rows[keep].reset_index(drop=True)
        kept.columns = [f"{c}_input" if c in out.columns else c for c in kept.columns]
        out = pd.concat([kept, out], axis=1)
    return out
