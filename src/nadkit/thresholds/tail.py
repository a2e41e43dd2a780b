"""The upper tail of normal scores that a fitted threshold keeps, for incident severity
(:func:`nadkit.incidents.tail_probability`), and the exponential-tail scale beyond the largest
score (also the ensemble's extrapolation past its calibration maximum)."""

from __future__ import annotations

from typing import Any

import numpy as np

#: points of the normal-tail sketch a threshold keeps (geometrically spaced ranks from the top)
TAIL_POINTS = 128


def normal_tail(scores: np.ndarray, points: int = TAIL_POINTS) -> dict[str, Any] | None:
    """A small sketch of the upper tail of normal scores, for incident severity
    (:func:`nadkit.incidents.tail_probability`): scores at geometrically spaced ranks from the
    top with their tail probability ``p(v) = (#{normal > v} + 1) / (n + 1)``, and the mean excess
    of the top 1 % (at least 10) over the score below them (an exponential tail beyond the
    largest normal score). None without finite scores.

    >>> t = normal_tail(np.arange(1000.0))
    >>> t["n"], t["scores"][-1], round(t["p"][-1], 4)
    (1000, 999.0, 0.001)
    """
    s = np.sort(np.asarray(scores, dtype=np.float64))
    s = s[np.isfinite(s)]
    n = s.size
    if n == 0:
        return None
    ranks = np.unique(np.round(np.geomspace(1, n, min(points, n))).astype(int))
    values = np.unique(s[n - ranks])
    p = (n - np.searchsorted(s, values, side="right") + 1) / (n + 1)
    return {"n": int(n), "scores": values.tolist(), "p": p.tolist(), "excess_scale": excess_scale(s)}


def excess_scale(sorted_scores: np.ndarray) -> float:
    """Scale of an exponential tail beyond the largest score: the mean excess of the top 1 %
    (at least 10) of ``sorted_scores`` (ascending, finite) over the score just below them;
    0.0 with fewer than two scores.

    >>> excess_scale(np.arange(1000.0))
    5.5
    """
    n = len(sorted_scores)
    k = min(n - 1, max(10, int(np.ceil(0.01 * n))))
    return float(np.mean(sorted_scores[n - k:] - sorted_scores[n - k - 1])) if k >= 1 else 0.0
