"""The detector contract (scikit-learn / PyOD style).

* ``__init__`` stores hyper-parameters only; fitted state ends in ``_``.
* ``fit(X, y=None) -> self``; ``score(X)`` returns one score per row, higher = more anomalous,
  and is a pure function of the fitted state (``decision_function`` is an alias).
* ``score_features(X)`` (reconstruction models) returns each feature's share of the score.
* ``threshold_`` is set by ``fit`` (99th percentile of held-out normal scores where the model
  holds rows out, else of training scores) and can be replaced by :meth:`calibrate`;
  ``predict`` applies it. ``calibration_scores_`` keeps those scores (not saved) and
  ``calibration_source_`` says which they are.
* ``save_state``/``load_state`` write and read the fitted state as safetensors/JSON (or skops).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from nadkit.errors import NotFittedError
from nadkit.thresholds import Quantile, Threshold, make_threshold
from nadkit.validation import check_matrix


class BaseDetector(BaseEstimator):
    """Base class of every nadkit detector."""

    #: "table" detectors score rows; "series" detectors score time steps of (n_steps, n_channels).
    input_kind: ClassVar[str] = "table"
    #: True when score_features is meaningful (reconstruction / likelihood models).
    has_feature_scores: ClassVar[bool] = False

    # ------------------------------------------------------------------------------ contract
    def fit(self, X, y=None) -> BaseDetector:
        """Fit on (mostly) normal rows; ``y`` is ignored."""
        X = check_matrix(X, what="training data")
        self.n_features_in_ = X.shape[1]
        held_out = self._fit(X)
        if held_out is None or len(held_out) < 50:
            self.calibration_scores_, self.calibration_source_ = self.score(X), "training rows"
        else:
            self.calibration_scores_, self.calibration_source_ = held_out, "held-out training rows"
        self.threshold_ = Quantile(0.99).fit(self.calibration_scores_)
        return self

    def score(self, X) -> np.ndarray:
        """Anomaly score per row (higher = more anomalous)."""
        self._check_fitted()
        X = check_matrix(X, self.n_features_in_)
        return np.asarray(self._score(X), dtype=np.float64)

    def decision_function(self, X) -> np.ndarray:
        """Alias of :meth:`score` (PyOD / scikit-learn naming)."""
        return self.score(X)

    def score_features(self, X) -> np.ndarray:
        """Per-feature share of the score, shape (n, d); rows sum to the score where defined."""
        if not self.has_feature_scores:
            raise NotImplementedError(f"{type(self).__name__} has no per-feature scores")
        self._check_fitted()
        X = check_matrix(X, self.n_features_in_)
        return np.asarray(self._score_features(X), dtype=np.float64)

    def calibrate(self, X, y=None, method: str | Threshold = "quantile", **params: Any) -> BaseDetector:
        """Fit ``threshold_`` on scores of ``X`` (normal rows, or a labelled validation split)."""
        threshold = method if isinstance(method, Threshold) else make_threshold(method, **params)
        self.threshold_ = threshold.fit(self.score(X), y)
        return self

    def predict(self, X) -> np.ndarray:
        """0/1 labels from :meth:`score` and ``threshold_``."""
        self._check_fitted()
        return self.threshold_.predict(self.score(X))

    # ---------------------------------------------------------------------------- subclasses
    def _fit(self, X: np.ndarray) -> np.ndarray | None:
        """Fit the model; may return scores of training rows it did not fit on (for thresholds)."""
        raise NotImplementedError

    def _score(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _score_features(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # --------------------------------------------------------------------------- persistence
    def save_state(self, directory: Path) -> dict[str, Any]:
        """Write fitted state files into ``directory``; return JSON-able metadata."""
        raise NotImplementedError

    def load_state(self, directory: Path, meta: dict[str, Any]) -> None:
        """Restore fitted state written by :meth:`save_state`."""
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() first")

    def describe(self) -> str:
        return f"{type(self).__name__}({json.dumps(self.get_params(), default=str)})"
