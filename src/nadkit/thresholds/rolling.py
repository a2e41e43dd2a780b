"""A target-FPR threshold that follows the stream (the series models' default).

:class:`RollingFPR` flags step t when its score exceeds :class:`~nadkit.thresholds.TargetFPR`'s
order statistic of the last ``window`` scores before it: at first the calibration tail's last
scores (``reference_``), then more and more of the scored stream's own. Every past score counts,
flagged or not, so a level shift in the scores stops being flagged after about ``fpr · window``
steps instead of for ever (DSPOT's failure mode), and an event longer than that is flagged from
its start, not to its end. The default window, 250 steps, was chosen by
``benchmarks/series_calibration.py`` (amendments 2 and 3): on the visible SMD, SKAB and NAB
series (DC-VAE's default score) it brings the achieved FPR on test normals from 1.2 % / 60 % /
35 % (a threshold fixed at ``fit``) to 0.83 % / 3.0 % / 0.97 %, and flags 91 % of the labelled
events (78 %).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> t = RollingFPR(fpr=0.01, window=1000).fit(rng.normal(size=2000))
>>> shifted = rng.normal(size=5000) + 6.0          # the normal level moves up by 6σ
>>> flags = t.predict(shifted)
>>> bool(flags[:10].all()), round(float(flags[1000:].mean()), 2)   # flagged ~fpr·window steps, then followed
(True, 0.01)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nadkit.errors import DataError
from nadkit.thresholds.base import percent
from nadkit.thresholds.scalar import TargetFPR, _normal_scores

#: the series models' default window (steps), chosen with the rule in series_calibration.py
DEFAULT_WINDOW = 250
MAX_WINDOW = 100_000
#: elements per partition block (bounds the memory of one block to ~32 MB)
_BLOCK = 1 << 22


def rolling_thresholds(history: np.ndarray, scores: np.ndarray, window: int, fpr: float) -> np.ndarray:
    """Per step t of ``scores``: TargetFPR(``fpr``)'s order statistic of the last ``window``
    finite values of ``[history, scores[:t]]`` (+inf where there is none). Non-finite scores
    never enter the window. Vectorised: one partial sort per block of steps.

    >>> rolling_thresholds(np.array([1.0, 2.0, 3.0]), np.array([10.0, 0.0]), window=3, fpr=0.01)
    array([ 3., 10.])
    """
    history = np.asarray(history, dtype=np.float64)
    history = history[np.isfinite(history)][-window:]
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    v = np.concatenate([np.full(window, -np.inf), history, scores[finite]])
    before = np.cumsum(finite) - finite                 # finite scores strictly before each step
    n = np.minimum(window, len(history) + before)       # real values in each step's window
    k = np.minimum(np.maximum(np.floor(fpr * (n + 1) + 1e-9).astype(np.int64) - 1, 0), np.maximum(n - 1, 0))
    start = len(history) + before                       # the window is v[start : start + window]
    views = sliding_window_view(v, window)
    out = np.empty(len(scores))
    step = max(1, _BLOCK // window)
    for a in range(0, len(scores), step):
        w = views[start[a:a + step]]
        idx = window - 1 - k[a:a + step]                # ascending position of the (k+1)-th largest
        out[a:a + step] = np.partition(w, np.unique(idx), axis=1)[np.arange(len(w)), idx]
    out[n == 0] = np.inf
    return out


class RollingFPR(TargetFPR):
    """Target FPR over the last ``window`` scores of the stream (see the module docs).

    ``fit`` sets ``value_`` and the FPR promise as :class:`TargetFPR` does on the calibration
    scores (the promise holds while the stream looks like them) and keeps their last ``window``
    normal scores, in time order, as ``reference_``. ``predict(scores, history=None)`` takes the
    scores of consecutive steps, shape (n,); ``history`` (the last scores seen before them, e.g.
    a stream's :meth:`recent`) replaces ``reference_`` as the start of the window.
    """

    method = "rolling"
    follows_stream = True

    def __init__(self, fpr: float = 0.01, window: int = DEFAULT_WINDOW) -> None:
        super().__init__(fpr)
        if isinstance(window, bool) or not isinstance(window, int | np.integer) or not 1 <= window <= MAX_WINDOW:
            raise DataError(f"rolling window must be a whole number of steps in [1, {MAX_WINDOW:,}], got {window!r}")
        self.window = int(window)

    def _fit(self, s, y):
        self.reference_ = np.array(_normal_scores(s, y)[-self.window:], dtype=np.float64)
        return super()._fit(s, y)

    def step_thresholds(self, scores, history=None) -> np.ndarray:
        """Each step's threshold (see :func:`rolling_thresholds`)."""
        self._check_fitted()
        s = np.asarray(scores, dtype=np.float64)
        if s.ndim != 1:
            raise DataError(f"the 'rolling' threshold flags one score per step in time order, "
                            f"shape (n,); got shape {s.shape}")
        return rolling_thresholds(self._start(history), s, self.window, self.fpr)

    def predict(self, scores, history=None) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        return (s > self.step_thresholds(s, history)).astype(np.int8)

    def recent(self, history, scores) -> np.ndarray:
        """The window after ``scores``: the last ``window`` finite values of ``[history, scores]``
        (``history`` None: ``reference_``), what a stream keeps between chunks."""
        both = np.concatenate([self._start(history), np.asarray(scores, dtype=np.float64)])
        return both[np.isfinite(both)][-self.window:]

    def _start(self, history) -> np.ndarray:
        """The scores the window starts from: ``history``, or ``reference_`` when None."""
        return self.reference_ if history is None else np.asarray(history, dtype=np.float64)

    def params(self):
        return {"fpr": self.fpr, "window": self.window}

    def label(self) -> str:
        return f"target FPR {percent(self.fpr)} over the last {self.window:,} steps"

    def describe(self) -> str:
        return (super().describe() + f"; it follows the stream: each step's threshold is the target-FPR "
                f"order statistic of the last {self.window:,} scores before it (the calibration "
                "tail's first)")

    def _check_fitted(self) -> None:
        super()._check_fitted()
        if not hasattr(self, "reference_"):
            raise DataError("a 'rolling' threshold needs its reference scores")

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "reference": self.reference_.tolist()}

    def _load_state(self, d: dict[str, Any]) -> None:
        super()._load_state(d)
        ref = np.asarray(d.get("reference") or [], dtype=np.float64)
        if not 1 <= ref.size <= self.window or not np.all(np.isfinite(ref)):
            raise DataError(f"saved 'rolling' threshold needs 1 to {self.window:,} finite reference scores, "
                            f"got {ref.size}")
        self.reference_ = ref
