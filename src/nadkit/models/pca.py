"""PCA: reconstruction error from the top principal components."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from nadkit.artifact_schema import ModelFiles, load_safetensors, state_file
from nadkit.errors import ArtifactError, DataError
from nadkit.models.base import BaseDetector


class PCA(BaseDetector):
    """Principal-component detector.

    ``n_components``: an int, or a float in (0, 1) = the share of variance to keep (default
    0.95), at most all but one component (a single channel keeps none: its score is the squared
    deviation from the training mean). ``score="reconstruction"``: mean squared residual after projecting on the kept
    components (per-feature residuals in ``score_features``). ``score="legacy"`` reproduces the
    Cloudera prototype's Σ_k ‖x − v_k‖ (distance to the component vectors; for parity only).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 2)) @ np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    >>> det = PCA(n_components=2).fit(X)
    >>> bool(det.score([[0.0, 0.0, 5.0]])[0] > det.score(X).max())
    True
    """

    tags = frozenset({"feature_scores"})

    def __init__(self, n_components: int | float = 0.95, score_mode: str = "reconstruction") -> None:
        self._init_params(locals())

    def _calibration_folds(self, n: int) -> int:
        # a few components from ≥ 20 rows per feature: training residuals are practically fresh
        return 0 if n >= 20 * self.n_features_in_ else self.calibration_folds

    def _fit(self, X: np.ndarray) -> None:
        if self.score_mode not in ("reconstruction", "legacy"):
            raise DataError(f"score_mode must be 'reconstruction' or 'legacy', got {self.score_mode!r}")
        X64 = X.astype(np.float64)
        self.mean_ = X64.mean(axis=0)
        _, sing, vt = np.linalg.svd(X64 - self.mean_, full_matrices=False)
        var = sing**2 / max(len(X) - 1, 1)
        if isinstance(self.n_components, float) and 0 < self.n_components < 1:
            ratio = np.cumsum(var) / var.sum() if var.sum() > 0 else np.ones_like(var)
            # keep at least one direction out: with every component kept (one channel, or
            # uncorrelated channels) the residual, hence the score, would be 0 on every row
            k = min(int(np.searchsorted(ratio, self.n_components) + 1), vt.shape[0] - 1)
        else:
            k = int(self.n_components)
            if not 1 <= k <= vt.shape[0]:
                raise DataError(f"n_components={k} must be between 1 and {vt.shape[0]}")
        # fix the sign of each axis so results do not depend on the SVD's sign choice
        signs = np.sign(vt[:k][np.arange(k), np.abs(vt[:k]).argmax(axis=1)])
        self.components_ = (vt[:k] * signs[:, None]).astype(np.float32)
        self.explained_variance_ = var[:k]
        self.n_components_ = k
        return None

    def _residual(self, X: np.ndarray) -> np.ndarray:
        centred = X - self.mean_.astype(np.float32)
        return centred - (centred @ self.components_.T) @ self.components_

    def _score(self, X: np.ndarray) -> np.ndarray:
        if self.score_mode == "legacy":
            return np.stack([np.linalg.norm(X - v, axis=1) for v in self.components_]).sum(axis=0)
        return np.square(self._residual(X)).mean(axis=1)

    def _score_features(self, X: np.ndarray) -> np.ndarray:
        return np.square(self._residual(X)) / X.shape[1]

    required_files = frozenset({"weights.safetensors"})

    def save_state(self, directory: Path) -> dict[str, Any]:
        save_file({"mean": self.mean_, "components": self.components_,
                   "explained_variance": self.explained_variance_},
                  str(Path(directory) / "weights.safetensors"))
        return {"n_features_in": self.n_features_in_, "n_components": self.n_components_}

    def load_state(self, directory: Path | ModelFiles, meta: dict[str, Any]) -> None:
        name = "weights.safetensors"
        arrays = load_safetensors(state_file(directory, name), name, framework="numpy")
        d, k = int(meta["n_features_in"]), int(meta["n_components"])
        shapes = {"mean": (d,), "components": (k, d), "explained_variance": (k,)}
        got = {key: a.shape for key, a in arrays.items()}
        if got != shapes:
            raise ArtifactError(f"{name}: PCA tensors {got} do not fit {d} features and {k} components "
                                f"(expected {shapes})")
        self.mean_ = arrays["mean"]
        self.components_ = arrays["components"]
        self.explained_variance_ = arrays["explained_variance"]
        self.n_components_ = k
        self.n_features_in_ = d
