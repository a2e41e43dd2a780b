"""Putting a series on a fixed step: detect the step, find missing timestamps and values, fill
short gaps (forward fill, then backward fill for a leading gap) or refuse with a clear error.

Policy: ``max_gap`` is the longest run of consecutive missing steps (or missing values in one
channel) that may be filled; 0 (the default) fills nothing, so any gap is an error that says
how to allow filling. Inserted steps inherit the labels of the step before them. How many
steps and values were filled is recorded in ``meta["filled_steps"]`` / ``meta["filled_values"]``.

>>> import numpy as np, pandas as pd
>>> from nadkit.data.series import SeriesData
>>> t = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:05", "2024-01-01 00:15"])
>>> d = SeriesData(pd.DataFrame({"cpu": [1.0, 2.0, 4.0]}), time=t.to_numpy())
>>> r = regularize(d, max_gap=1)
>>> r.X["cpu"].tolist(), r.meta["step"], r.meta["filled_steps"]
([1.0, 2.0, 2.0, 4.0], '0 days 00:05:00', 1)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from nadkit.data.series.container import SeriesData
from nadkit.errors import DataError


def detect_step(time: np.ndarray) -> pd.Timedelta:
    """The most common positive difference between consecutive (sorted) timestamps."""
    t = pd.DatetimeIndex(time).as_unit("ns")
    if len(t) < 2:
        raise DataError("cannot detect the sampling step of a series with fewer than 2 timestamps")
    diffs = np.diff(t.asi8)
    diffs = diffs[diffs > 0]
    if diffs.size == 0:
        raise DataError("all timestamps are equal; cannot detect the sampling step")
    values, counts = np.unique(diffs, return_counts=True)
    return pd.Timedelta(int(values[np.argmax(counts)]), unit="ns")


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of each run of True in a 1-D boolean array."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts = np.flatnonzero(edges == 1)
    return starts, np.flatnonzero(edges == -1) - starts


def _gap_hint(max_gap: int, longest: int) -> str:
    if max_gap == 0:
        return f"pass a fill limit (--fill-gaps {longest}) to forward-fill gaps of up to that many steps"
    return f"the fill limit is {max_gap} steps; raise it (--fill-gaps {longest}) or clean the data"


def regularize(data: SeriesData, max_gap: int = 0, step: str | pd.Timedelta | None = None) -> SeriesData:
    """Return ``data`` on a regular time grid with no missing values, or raise ``DataError``.

    Rows are sorted by time first; duplicate or unparseable timestamps and timestamps off the
    grid are errors. Without timestamps only missing values are handled.
    """
    if max_gap < 0:
        raise DataError(f"fill limit must be ≥ 0, got {max_gap}")
    meta = dict(data.meta)
    X, y, cl = data.X, data.y, data.channel_labels
    t = None
    if data.time is not None:
        t = pd.DatetimeIndex(pd.to_datetime(data.time, errors="coerce")).as_unit("ns")
        if t.isna().any():
            first = int(np.flatnonzero(t.isna())[0])
            raise DataError(f"{data.name}: {int(t.isna().sum())} timestamps could not be parsed "
                            f"(first at row {first})")
        if not t.is_monotonic_increasing:
            order = np.argsort(t.asi8, kind="stable")
            t, X = t[order], X.iloc[order].reset_index(drop=True)
            y = None if y is None else y[order]
            cl = None if cl is None else cl[order]
            meta["sorted"] = True
        if t.has_duplicates:
            dup = t[t.duplicated()][0]
            raise DataError(f"{data.name}: duplicate timestamps ({int(t.duplicated().sum())}, first {dup})")
    X, filled_values = _fill_values(X, max_gap, data.name)
    filled_steps = 0
    if t is not None:
        step_td = pd.Timedelta(step) if step is not None else detect_step(t)
        if step_td <= pd.Timedelta(0):
            raise DataError(f"step must be positive, got {step_td}")
        offset = t.asi8 - t.asi8[0]
        off_grid = offset % step_td.value != 0
        if off_grid.any():
            i = int(np.flatnonzero(off_grid)[0])
            raise DataError(f"{data.name}: timestamps are not on a regular {step_td} step "
                            f"({int(off_grid.sum())} off the grid, first {t[i]})")
        pos = offset // step_td.value
        n_full = int(pos[-1]) + 1
        if n_full != len(t):
            present = np.zeros(n_full, bool)
            present[pos] = True
            starts, lengths = _runs(~present)
            longest = int(lengths.max())
            where = t[0] + step_td * int(starts[np.argmax(lengths)])
            if longest > max_gap:
                raise DataError(
                    f"{data.name}: {n_full - len(t)} timestamps are missing on the {step_td} grid "
                    f"(longest gap {longest} steps at {where}); {_gap_hint(max_gap, longest)}")
            # every inserted step copies the last present step before it (values and labels)
            source = np.maximum.accumulate(np.where(present, np.arange(n_full), 0))
            row_of = np.cumsum(present) - 1
            take = row_of[source]
            X = X.iloc[take].reset_index(drop=True)
            y = None if y is None else y[take]
            cl = None if cl is None else cl[take]
            filled_steps = n_full - len(t)
            t = pd.date_range(t[0], periods=n_full, freq=step_td)
        meta["step"] = str(step_td)
    meta["filled_steps"] = filled_steps + int(meta.get("filled_steps", 0))
    meta["filled_values"] = filled_values + int(meta.get("filled_values", 0))
    return replace(data, X=X, time=None if t is None else t.to_numpy(), y=y, channel_labels=cl, meta=meta)


def _fill_values(X: pd.DataFrame, max_gap: int, name: str) -> tuple[pd.DataFrame, int]:
    """Forward- then backward-fill missing values whose runs are at most ``max_gap`` long."""
    missing = X.isna().to_numpy()
    if not missing.any():
        return X, 0
    longest, column = 0, ""
    for j in np.flatnonzero(missing.any(axis=0)):
        _, lengths = _runs(missing[:, j])
        if lengths.max() > longest:
            longest, column = int(lengths.max()), X.columns[j]
    if longest > max_gap:
        raise DataError(f"{name}: {int(missing.sum())} missing values (longest run {longest} "
                        f"steps in channel {column!r}); {_gap_hint(max_gap, longest)}")
    return X.ffill().bfill(), int(missing.sum())
