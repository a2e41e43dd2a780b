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

#: the capabilities a detector class may declare in ``tags`` (consumers test ``has_tag``)
TAGS: dict[str, str] = {
    "series": "scores time steps of (n_steps, n_channels); has series_info() (else: rows)",
    "feature_scores": "score_features(X) is meaningful (reconstruction / likelihood models)",
    "gaussian": "gaussian(X) -> (mu, sigma) per step and channel (bands, α thresholds)",
    "clusters": "assign_clusters(X) -> a cluster per row (cluster-weighted metrics)",
    "lookahead": "a step's score may depend on later steps: series_info()['lookahead'] says how many",
}


class BaseDetector(BaseEstimator):
    """Base class of every nadkit detector.

    Capabilities are declared, not probed: a subclass lists them in ``tags`` (a subset of
    :data:`TAGS`; a subclass's tags are added to its bases'), and ``input_kind`` /
    ``has_feature_scores`` are derived from them.
    """

    #: declared capabilities, merged with the base classes' (see :data:`TAGS`)
    tags: ClassVar[frozenset[str]] = frozenset()
    #: how a series pipeline scales the input channels: "zscore" or "minmax" (to [−1, 1])
    input_scaling: ClassVar[str] = "zscore"
    #: "table" detectors score rows; "series" detectors score time steps (from ``tags``).
    input_kind: ClassVar[str] = "table"
    #: True when score_features is meaningful (from ``tags``).
    has_feature_scores: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.tags = frozenset(cls.__dict__.get("tags", frozenset())).union(
            *(getattr(b, "tags", frozenset()) for b in cls.__mro__[1:]))
        unknown = cls.tags - TAGS.keys()
        if unknown:
            raise TypeError(f"{cls.__name__}: unknown tags {sorted(unknown)}; known: {list(TAGS)}")
        cls.input_kind = "series" if "series" in cls.tags else "table"
        cls.has_feature_scores = "feature_scores" in cls.tags

    @classmethod
    def has_tag(cls, tag: str) -> bool:
        """Whether this detector class declares capability ``tag`` (one of :data:`TAGS`)."""
        if tag not in TAGS:
            raise ValueError(f"unknown tag {tag!r}; known: {list(TAGS)}")
        return tag in cls.tags

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
        if not self.has_tag("feature_scores"):
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
