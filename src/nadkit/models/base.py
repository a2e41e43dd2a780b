"""The detector contract (scikit-learn / PyOD style).

* ``__init__`` stores hyper-parameters only (``self._init_params(locals())``); fitted state
  ends in ``_``.
* ``fit(X, y=None) -> self``; ``score(X)`` returns one score per row, higher = more anomalous,
  and is a pure function of the fitted state (``decision_function`` is an alias).
* ``score_features(X)`` (reconstruction models) returns each feature's share of the score.
* ``threshold_`` is set by ``fit``: :class:`~nadkit.thresholds.TargetFPR` at
  :data:`DEFAULT_FPR` (1 %) on scores of normal rows the scoring model did not fit on, with its
  interval of the FPR on fresh normals. Models that hold rows out (torch models'
  ``validation_fraction``, OCSVM beyond ``max_samples_fit``) use those; models fitted on every
  row get out-of-fold scores from :data:`CALIBRATION_FOLDS` cross-fitted copies (the fitted
  model itself, and so its scores, is the one fitted on all rows), unless their training scores
  are practically out-of-sample (PCA with ≥ 20 rows per feature, IForest with ≥ 10 rows per
  row of a tree's sample), where those are used (cross-fitting, whose copies see fewer rows,
  would set the threshold too high: measured on NSL-KDD, FPR 0.8 % for a 1 % target). :meth:`calibrate` replaces it; ``predict`` applies it. ``calibration_scores_`` keeps
  those scores (not saved) and ``calibration_source_`` says which they are.
* ``save_state``/``load_state`` write and read the fitted state as safetensors/JSON (or skops);
  ``state_files()`` names the files ``save_state`` writes (an artifact listing others is refused).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from nadkit.errors import NotFittedError
from nadkit.thresholds import Threshold, make_threshold
from nadkit.validation import check_matrix

#: the capabilities a detector class may declare in ``tags`` (consumers test ``has_tag``)
TAGS: dict[str, str] = {
    "series": "scores time steps of (n_steps, n_channels); has series_info() (else: rows)",
    "feature_scores": "score_features(X) is meaningful (reconstruction / likelihood models)",
    "gaussian": "gaussian(X) -> (mu, sigma) per step and channel (bands, α thresholds)",
    "clusters": "assign_clusters(X) -> a cluster per row (cluster-weighted metrics)",
    "lookahead": "a step's score may depend on later steps: series_info()['lookahead'] says how many",
}

#: the false-positive rate the default threshold that ``fit`` sets aims for
DEFAULT_FPR = 0.01
#: folds of the cross-fitted calibration scores of models that fit on every row
CALIBRATION_FOLDS = 5
#: fewer held-out rows than this are not used for calibration (cross-fitting instead)
MIN_HELD_OUT = 50


def default_threshold(scores: np.ndarray, serial: bool = False) -> Threshold:
    """The threshold ``fit`` sets: a target FPR of :data:`DEFAULT_FPR` on ``scores``: method
    "fpr" for rows, "rolling" for ``serial`` scores (steps of a series in time order, see
    ``Threshold.serial``), whose threshold then follows the scored stream
    (:class:`~nadkit.thresholds.RollingFPR`)."""
    threshold = make_threshold("rolling" if serial else "fpr", fpr=DEFAULT_FPR)
    threshold.serial = serial
    return threshold.fit(scores)


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
    #: folds of the cross-fitted default-threshold scores (models that fit on every row)
    calibration_folds: ClassVar[int] = CALIBRATION_FOLDS
    #: the state files ``save_state`` always writes, besides the three JSON files (each
    #: detector class declares its own; see :meth:`state_files`)
    required_files: ClassVar[frozenset[str]]
    #: the state files ``save_state`` writes for some settings or fits only
    optional_files: ClassVar[frozenset[str]] = frozenset()
    #: hyper-parameters added after model files were written, with the value such an older
    #: file meant; ``artifact.load`` fills them in where ``config.json`` lacks them
    params_added: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.tags = frozenset(cls.__dict__.get("tags", frozenset())).union(
            *(getattr(b, "tags", frozenset()) for b in cls.__mro__[1:]))
        unknown = cls.tags - TAGS.keys()
        if unknown:
            raise TypeError(f"{cls.__name__}: unknown tags {sorted(unknown)}; known: {list(TAGS)}")
        cls.input_kind = "series" if "series" in cls.tags else "table"
        cls.has_feature_scores = "feature_scores" in cls.tags

    def _init_params(self, args: Mapping[str, Any]) -> None:
        """Store the ``__init__`` arguments as attributes: ``self._init_params(locals())`` is the
        whole body of a detector's ``__init__`` (scikit-learn's contract: hyper-parameters
        stored unchanged under their own names, read back by ``get_params``)."""
        for name in self._get_param_names():
            setattr(self, name, args[name])

    @classmethod
    def has_tag(cls, tag: str) -> bool:
        """Whether this detector class declares capability ``tag`` (one of :data:`TAGS`)."""
        if tag not in TAGS:
            raise ValueError(f"unknown tag {tag!r}; known: {list(TAGS)}")
        return tag in cls.tags

    # ------------------------------------------------------------------------------ contract
    def fit(self, X, y=None) -> BaseDetector:
        """Fit on (mostly) normal rows; ``y`` is ignored. Sets the default threshold (module docs)."""
        X = check_matrix(X, what="training data")
        self.n_features_in_ = X.shape[1]
        held_out = self._fit(X)
        if held_out is not None and len(held_out) >= MIN_HELD_OUT:
            self.calibration_scores_, self.calibration_source_ = held_out, "held-out training rows"
        elif self._holds_out_rows() or (folds := self._calibration_folds(len(X))) < 2 or len(X) < 2 * folds:
            self.calibration_scores_, self.calibration_source_ = self.score(X), "training rows"
        else:
            self.calibration_scores_ = self._cross_fitted_scores(X, folds)
            self.calibration_source_ = f"training rows, out-of-fold ({folds}-fold cross-fit)"
        self.threshold_ = default_threshold(self.calibration_scores_)
        return self

    def _holds_out_rows(self) -> bool:
        """True for models that choose their own held-out rows (a ``validation_fraction``): they
        are not cross-fitted (too costly), their held-out scores calibrate them."""
        return "validation_fraction" in self.get_params()

    def _calibration_folds(self, n: int) -> int:
        """Folds for the cross-fitted calibration scores of ``n`` training rows; 0 when the
        model's scores of its own training rows are practically out-of-sample (a subclass knows:
        e.g. few components for many rows)."""
        return self.calibration_folds

    def _cross_fitted_scores(self, X: np.ndarray, folds: int = CALIBRATION_FOLDS) -> np.ndarray:
        """Out-of-fold scores of every row of ``X``: each fold is scored by a copy of this model
        (same hyper-parameters) fitted on the other folds (seeded split). ``self`` is untouched.
        Models fitted on fewer rows score fresh rows a little higher, so the FPR the threshold
        achieves for the model fitted on all rows is, if anything, below its target."""
        from sklearn.base import clone

        seed = self.get_params().get("random_state", 0)
        fold = np.random.default_rng(seed if isinstance(seed, int) else 0).permutation(len(X)) % folds
        out = np.empty(len(X), dtype=np.float64)
        for k in range(folds):
            rows = fold == k
            part = clone(self)
            part._fit(X[~rows])
            part.n_features_in_ = X.shape[1]
            out[rows] = part._score(X[rows])
        return out

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

    def state_files(self) -> tuple[frozenset[str], frozenset[str]]:
        """(required, optional): the state files a saved model of this detector has besides
        config/preprocessor/threshold.json (``artifact.load`` refuses a manifest listing others).
        The class's :attr:`required_files`/:attr:`optional_files`, unless they depend on
        hyper-parameters (the ensemble's members)."""
        return self.required_files, self.optional_files

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() first")

    def describe(self) -> str:
        return f"{type(self).__name__}({json.dumps(self.get_params(), default=str)})"
