"""Input checks shared by detectors and thresholds: clear messages instead of silent bad scores."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nadkit.errors import DataError


def check_matrix(X, n_features: int | None = None, what: str = "X") -> np.ndarray:
    """Return ``X`` as a finite 2-D float32 array, or raise :class:`DataError` saying why.

    >>> check_matrix([[1, 2], [3, 4]]).dtype
    dtype('float32')
    """
    if isinstance(X, pd.DataFrame):
        non_num = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        if non_num:
            raise DataError(f"{what} has non-numeric columns {non_num[:5]}; use a Preprocessor first")
        X = X.to_numpy()
    try:
        arr = X if isinstance(X, np.memmap) and X.dtype == np.float32 else np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be numeric: {exc}") from exc
    if arr.ndim == 1:
        raise DataError(f"{what} must be 2-D (rows × features); got a 1-D array of length {arr.shape[0]}")
    if arr.ndim != 2:
        raise DataError(f"{what} must be 2-D (rows × features); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise DataError(f"{what} has no rows")
    if n_features is not None and arr.shape[1] != n_features:
        raise DataError(f"{what} has {arr.shape[1]} features; the model was fitted on {n_features}")
    # checked in row blocks: a memory-mapped X larger than memory is never loaded whole
    bad_rows, bad_cols = 0, np.zeros(arr.shape[1], bool)
    for start in range(0, arr.shape[0], _CHECK_ROWS):
        bad = ~np.isfinite(arr[start:start + _CHECK_ROWS])
        if bad.any():
            bad_rows += int(bad.any(axis=1).sum())
            bad_cols |= bad.any(axis=0)
    if bad_rows:
        cols = np.flatnonzero(bad_cols)[:5].tolist()
        raise DataError(f"{what} has NaN/inf in {bad_rows} rows (feature indices {cols})")
    return arr if isinstance(arr, np.memmap) else np.ascontiguousarray(arr)


_CHECK_ROWS = 1 << 16


def check_scores(scores, what: str = "scores") -> np.ndarray:
    """Return a finite 1-D float64 score array or raise :class:`DataError`."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise DataError(f"{what} must be a non-empty 1-D array; got shape {s.shape}")
    if not np.isfinite(s).all():
        raise DataError(f"{what} contain {int((~np.isfinite(s)).sum())} NaN/inf values")
    return s


def check_labels(y, n: int, what: str = "labels") -> np.ndarray:
    """Return 0/1 labels of length ``n`` as int8 or raise :class:`DataError`."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise DataError(f"{what} have shape {y.shape}; expected ({n},) to match the scores")
    if not np.isin(y, (0, 1)).all():
        raise DataError(f"{what} must be 0 (normal) or 1 (anomaly)")
    return y.astype(np.int8)
