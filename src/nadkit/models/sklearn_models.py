"""One-Class SVM and Isolation Forest on scikit-learn, saved with skops (never pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import skops.io as sio
from sklearn.ensemble import IsolationForest
from sklearn.svm import OneClassSVM

from nadkit.artifact_schema import ModelFiles, read_plain, state_file
from nadkit.errors import ArtifactError
from nadkit.models.base import BaseDetector

SKOPS_FILE = "model.skops"
#: the only types a saved scikit-learn model may contain beyond skops' defaults: the tree of
#: IsolationForest, and the KD-tree + metric of LocalOutlierFactor (SAE's LOF head)
TRUSTED_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
})


class SklearnDetector(BaseDetector):
    """Common skops persistence and seeded subsampling for scikit-learn detectors."""

    estimator_class: ClassVar[type]
    #: most rows the estimator fits on (the rest calibrate the threshold); None: all. A
    #: hyper-parameter where a subclass lists it (OCSVM)
    max_samples_fit: int | None = None

    def _subsample(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows to fit on, rows left out) under ``max_samples_fit`` (seeded)."""
        limit = self.max_samples_fit
        if limit is not None and len(X) > limit:
            mask = np.zeros(len(X), bool)
            mask[np.random.default_rng(self.random_state).choice(len(X), limit, replace=False)] = True
            return X[mask], X[~mask][:limit]
        return X, X[:0]

    required_files = frozenset({SKOPS_FILE})

    def save_state(self, directory: Path) -> dict[str, Any]:
        self._check_fitted()
        (Path(directory) / SKOPS_FILE).write_bytes(sio.dumps(self.estimator_))
        return {"n_features_in": self.n_features_in_}

    def load_state(self, directory: Path | ModelFiles, meta: dict[str, Any]) -> None:
        est = load_estimator(state_file(directory, SKOPS_FILE), self.estimator_class, SKOPS_FILE)
        n = int(meta["n_features_in"])
        if getattr(est, "n_features_in_", n) != n:
            raise ArtifactError(f"{SKOPS_FILE}: the estimator takes {est.n_features_in_} features, "
                                f"config.json says {n}")
        for attr in ("support_vectors_", "dual_coef_", "intercept_", "offset_"):
            value = getattr(est, attr, None)
            if value is not None and not np.isfinite(np.asarray(value, dtype=np.float64)).all():
                raise ArtifactError(f"{SKOPS_FILE}: {attr} holds NaN or infinite values")
        self.estimator_ = est
        self.n_features_in_ = n


def dump_estimator(obj: Any) -> bytes:
    """skops bytes of a fitted scikit-learn object (or a list/dict of them); never pickle."""
    return sio.dumps(obj)


def load_skops(source: Path | bytes, name: str | None = None) -> Any:
    """Load a skops file (a path, read as a plain file, or its bytes), refusing any type outside
    skops' defaults and :data:`TRUSTED_TYPES`."""
    if isinstance(source, bytes | bytearray):
        data, name = bytes(source), name or "skops data"
    else:
        path = Path(source)
        data, name = read_plain(path.parent, path.name, missing=f"{path} is missing"), path.name
    try:
        untrusted = set(sio.get_untrusted_types(data=data))
        if not untrusted <= TRUSTED_TYPES:
            raise ArtifactError(f"{name} contains types nadkit does not trust: {sorted(untrusted - TRUSTED_TYPES)}")
        return sio.loads(data, trusted=sorted(untrusted))
    except ArtifactError:
        raise
    except Exception as exc:  # skops raises many kinds on a corrupt file
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ArtifactError(f"cannot load {name}: {type(exc).__name__}: {first}") from exc


def load_estimator(source: Path | bytes, expected: type, name: str | None = None) -> Any:
    """:func:`load_skops` and check the object is an ``expected`` instance."""
    est = load_skops(source, name)
    if not isinstance(est, expected):
        shown = name or Path(source).name if not isinstance(source, bytes | bytearray) else name or "skops data"
        raise ArtifactError(f"{shown} holds a {type(est).__name__}, expected {expected.__name__}")
    return est


class OCSVM(SklearnDetector):
    """One-Class SVM (RBF kernel); score = −decision_function.

    Defaults (ν = 0.05, γ = 3) were chosen on a KDDTrain+ validation split for features scaled
    to [0, 1] by :class:`~nadkit.data.Preprocessor`; use ``gamma="scale"`` for other scalings.
    Kernel SVMs scale quadratically, so at most ``max_samples_fit`` rows (seeded sample) are
    used for fitting; None uses every row.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 3))
    >>> det = OCSVM(nu=0.05).fit(X)
    >>> bool(det.score([[6.0, 6.0, 6.0]])[0] > np.quantile(det.score(X), 0.99))
    True
    """

    estimator_class = OneClassSVM
    calibration_folds = 3  # kernel SVMs fit in quadratic time: 3 folds cost ~1.3 extra fits

    def __init__(self, nu: float = 0.05, gamma: float | str = 3.0, kernel: str = "rbf",
                 max_samples_fit: int | None = 20_000, random_state: int = 0) -> None:
        self._init_params(locals())

    def _fit(self, X: np.ndarray) -> np.ndarray | None:
        fit_rows, left_out = self._subsample(X)
        self.estimator_ = OneClassSVM(nu=self.nu, gamma=self.gamma, kernel=self.kernel,
                                      cache_size=1000).fit(fit_rows)
        return self._score(left_out) if len(left_out) else None

    def _score(self, X: np.ndarray) -> np.ndarray:
        return -self.estimator_.decision_function(X)


class IForest(SklearnDetector):
    """Isolation Forest; score = −score_samples (higher = easier to isolate).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 3))
    >>> det = IForest(random_state=0).fit(X)
    >>> bool(det.score([[6.0, 6.0, 6.0]])[0] > det.score(X).max())
    True
    """

    estimator_class = IsolationForest

    def __init__(self, n_estimators: int = 200, max_samples: int | str = 1024,
                 max_features: float = 1.0, n_jobs: int | None = None, random_state: int = 0) -> None:
        self._init_params(locals())

    def _calibration_folds(self, n: int) -> int:
        # each row is in max_samples_/n of the trees' samples: at ≥ 10 rows per sampled row the
        # training scores are practically out-of-sample
        return 0 if n >= 10 * self.estimator_.max_samples_ else self.calibration_folds

    def _fit(self, X: np.ndarray) -> None:
        self.estimator_ = IsolationForest(
            n_estimators=self.n_estimators, max_samples=self.max_samples,
            max_features=self.max_features, n_jobs=self.n_jobs, random_state=self.random_state,
        ).fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return -self.estimator_.score_samples(X)
