"""kNN: distance to the nearest normal training rows (a capped, seeded reference set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file
from sklearn.neighbors import NearestNeighbors

from nadkit.artifact_schema import ModelFiles, load_safetensors, state_file
from nadkit.errors import ArtifactError, DataError
from nadkit.models.base import BaseDetector

WEIGHTS = "weights.safetensors"
#: query rows per block (bounds the distance matrix held in memory: block × max_reference)
BLOCK = 1024


class KNN(BaseDetector):
    """k-nearest-neighbour detector: score = mean Euclidean distance to the ``n_neighbors``
    nearest rows of a reference set of normal training rows.

    The reference set is every training row, or a seeded sample of ``max_reference`` of them
    (None: no cap); it is saved as a safetensors tensor. Neighbours are found by exact
    brute-force search (BLAS, in blocks); their distances are then recomputed directly as
    ‖x − r‖, so a row scores the same alone or in a batch. With more training rows than the
    cap, the rows left out of the reference set (at most ``max_reference``) calibrate the
    default threshold; otherwise cross-fitted scores do (a row is never its own neighbour).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(1000, 3))
    >>> det = KNN(n_neighbors=1).fit(X)
    >>> bool(det.score([[6.0, 6.0, 6.0]])[0] > det.score(X).max())
    True
    """

    def __init__(self, n_neighbors: int = 1, max_reference: int | None = 20_000,
                 random_state: int = 0) -> None:
        self._init_params(locals())

    def _check_params(self, n: int) -> None:
        k, cap = self.n_neighbors, self.max_reference
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise DataError(f"n_neighbors must be an integer ≥ 1, got {k!r}")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int | np.integer) or cap < k):
            raise DataError(f"max_reference must be None or an integer ≥ n_neighbors ({k}), got {cap!r}")
        if n < k:
            raise DataError(f"kNN with n_neighbors={k} needs at least {k} training rows, got {n}")

    def _fit(self, X: np.ndarray) -> np.ndarray | None:
        self._check_params(len(X))
        cap = self.max_reference
        if cap is not None and len(X) > cap:
            mask = np.zeros(len(X), bool)
            mask[np.random.default_rng(self.random_state).choice(len(X), cap, replace=False)] = True
            self._set_reference(X[mask])
            return self._score(X[np.flatnonzero(~mask)[:cap]])  # never copies all of a memmap
        self._set_reference(X)
        return None

    def _set_reference(self, ref: np.ndarray) -> None:
        self.reference_ = np.ascontiguousarray(ref, dtype=np.float32)
        self._ref64 = self.reference_.astype(np.float64)
        self._index = NearestNeighbors(n_neighbors=self.n_neighbors, algorithm="brute").fit(self._ref64)

    def kneighbors(self, X: np.ndarray) -> np.ndarray:
        """Sorted distances to the ``n_neighbors`` nearest reference rows, shape (n, k)."""
        out = np.empty((len(X), self.n_neighbors))
        for i in range(0, len(X), BLOCK):
            q = np.asarray(X[i:i + BLOCK], dtype=np.float64)
            idx = self._index.kneighbors(q, return_distance=False)
            d = np.sqrt(np.square(q[:, None, :] - self._ref64[idx]).sum(axis=2))
            out[i:i + BLOCK] = np.sort(d, axis=1)
        return out

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self.kneighbors(X).mean(axis=1)

    required_files = frozenset({WEIGHTS})

    def save_state(self, directory: Path) -> dict[str, Any]:
        save_file({"reference": self.reference_}, str(Path(directory) / WEIGHTS))
        return {"n_features_in": self.n_features_in_}

    def load_state(self, directory: Path | ModelFiles, meta: dict[str, Any]) -> None:
        arrays = load_safetensors(state_file(directory, WEIGHTS), WEIGHTS, framework="numpy")
        d, cap, k = int(meta["n_features_in"]), self.max_reference, self.n_neighbors
        ref = arrays.get("reference")
        if set(arrays) != {"reference"} or ref.ndim != 2 or ref.shape[1] != d:
            got = {key: a.shape for key, a in arrays.items()}
            raise ArtifactError(f"{WEIGHTS}: kNN tensors {got} do not fit {d} features "
                                f"(expected {{'reference': (rows, {d})}})")
        if not k <= len(ref) <= (cap if cap is not None else len(ref)):
            raise ArtifactError(f"{WEIGHTS}: {len(ref)} reference rows; n_neighbors={k} and "
                                f"max_reference={cap} allow {k}…{cap if cap is not None else 'any'}")
        self._set_reference(ref)
        self.n_features_in_ = d
