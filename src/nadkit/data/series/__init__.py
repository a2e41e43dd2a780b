"""Multivariate time series: the ``SeriesData`` container, loaders (SMD, SKAB, NAB, any
CSV/Parquet time table, the DC-VAE layout), gap filling, causal sliding windows and the
``SeriesPreprocessor``."""

from nadkit.data.series.container import SeriesData
from nadkit.data.series.flows import flows_to_series
from nadkit.data.series.gaps import detect_step, regularize
from nadkit.data.series.loaders import (
    attach_labels,
    frame_to_series,
    read_nab,
    read_series,
    read_skab,
    read_smd,
)
from nadkit.data.series.preprocess import SeriesPreprocessor
from nadkit.data.series.windows import (
    blocked_split,
    chronological_split,
    chunks,
    sliding_windows,
    window_fetch,
)

__all__ = [
    "SeriesData",
    "SeriesPreprocessor",
    "attach_labels",
    "blocked_split",
    "chronological_split",
    "chunks",
    "detect_step",
    "flows_to_series",
    "frame_to_series",
    "read_nab",
    "read_series",
    "read_skab",
    "read_smd",
    "regularize",
    "sliding_windows",
    "window_fetch",
]
