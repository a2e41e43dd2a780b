"""Threshold objects: fitted on scores of normal (or labelled validation) data, never test labels.

A scalar threshold turns one score per row into 0/1 with the rule ``anomaly iff score >
value_``; the per-channel ``alpha`` threshold flags each step and channel outside a band around
the model's μ, σ. Each saves as JSON (``to_dict``/``threshold_from_dict``), recording the
method, its parameters, what it fitted and how many scores (and which data hash) set it.

Modules: :mod:`~nadkit.thresholds.base` (the :class:`Threshold` contract, saving, FPR
helpers), :mod:`~nadkit.thresholds.scalar` (quantile, fpr, best-f1, best-accuracy, pot, fixed),
:mod:`~nadkit.thresholds.rolling` (rolling: target FPR over the stream's last scores, the
series default), :mod:`~nadkit.thresholds.channel` (alpha) with its grid search in
:mod:`~nadkit.thresholds.alpha_grid`, :mod:`~nadkit.thresholds.tail` (the normal-score tail
sketch) and :mod:`~nadkit.thresholds.registry` (method name → class).

>>> import numpy as np
>>> normal = np.random.default_rng(0).normal(size=10_000)
>>> t = TargetFPR(0.01).fit(normal)
>>> round(float(np.mean(t.predict(normal))), 3)
0.01
"""

from nadkit.thresholds.base import (
    FPR_INTERVAL_LEVEL,
    CalibrationWarning,
    Promise,
    Threshold,
    fpr_interval,
    min_calibration_rows,
)
from nadkit.thresholds.channel import SIGMA_FLOOR, ChannelAlpha
from nadkit.thresholds.registry import METHODS, make_threshold, threshold_from_dict
from nadkit.thresholds.rolling import DEFAULT_WINDOW, RollingFPR
from nadkit.thresholds.scalar import (
    POT,
    BestAccuracy,
    BestF1,
    Fixed,
    OrderStatistic,
    Quantile,
    ScalarThreshold,
    TargetFPR,
)
from nadkit.thresholds.tail import TAIL_POINTS, excess_scale, normal_tail

__all__ = [
    "DEFAULT_WINDOW", "FPR_INTERVAL_LEVEL", "METHODS", "POT", "SIGMA_FLOOR", "TAIL_POINTS", "BestAccuracy",
    "BestF1", "CalibrationWarning", "ChannelAlpha", "Fixed", "OrderStatistic", "Promise", "Quantile",
    "RollingFPR", "ScalarThreshold", "TargetFPR", "Threshold", "excess_scale", "fpr_interval",
    "make_threshold", "min_calibration_rows", "normal_tail", "threshold_from_dict",
]
