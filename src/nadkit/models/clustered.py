"""KSAE and BAE: cluster the input space, train one autoencoder per cluster, route rows.

* KSAE (K-means Shrink AE, Bui et al. 2019): K-means in input space, one :class:`SAE` (with its
  own one-class head) per cluster.
* BAE (BIRCH AE, Wang, Nie & Chen 2023): BIRCH in input space, one reconstruction-error AE
  (``SAE(lmb=0, head="re")``: the same backbone) per cluster.

Both fit the clustering on a seeded trimmed subsample of the training rows: rows whose L2
norm is above the ``cluster_fit_quantile`` quantile are dropped and at most ``cluster_fit_size``
of the rest are drawn. The fitted clustering is kept as plain arrays, ``route_centres_`` and
``route_cluster_``: a row goes to the cluster of its nearest routing centre (the K-means
centres; BIRCH's subcluster centres and their labels, exactly as ``Birch.predict`` routes).

Clusters that receive fewer than ``min_cluster_size`` training rows (BIRCH can leave a cluster
empty; the upstream BAE crashed on it) are dropped: their routing centres are removed, so their
rows go to the nearest remaining cluster. A cluster that receives no rows at scoring time is
simply not used.

Scores: each sub-model's score is divided by its own default threshold (the
``threshold_quantile`` quantile of its held-out training scores) when ``normalize=True``, so
scores of different clusters share one scale (1 = the cluster's threshold) and the *global*
AUROC is meaningful; ``normalize=False`` returns raw sub-model scores (the thesis, whose
cluster-size-weighted AUROC does not compare scores across clusters).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.torch import save_file
from sklearn.cluster import Birch, KMeans
from sklearn.metrics import pairwise_distances_argmin

from nadkit import track
from nadkit.artifact_schema import (
    ModelFiles,
    has_state_file,
    load_safetensors,
    state_file,
    validate_params,
)
from nadkit.errors import ArtifactError, DataError
from nadkit.models.base import BaseDetector
from nadkit.models.sae import HEAD_ESTIMATORS, SAE
from nadkit.models.sklearn_models import dump_estimator, load_skops
from nadkit.models.torch_base import WEIGHTS, TrainingParams
from nadkit.thresholds import Quantile
from nadkit.validation import check_matrix

HEADS_FILE = "heads.skops"


def trimmed_sample(X: np.ndarray, quantile: float, size: int, seed: int) -> np.ndarray:
    """Rows with L2 norm ≤ the ``quantile`` quantile, then at most ``size`` of them (seeded).

    >>> X = np.arange(20, dtype="float32").reshape(10, 2)
    >>> trimmed_sample(X, 0.5, 3, 0).shape
    (3, 2)
    """
    norms = np.linalg.norm(X, axis=1)
    keep = np.flatnonzero(norms <= np.quantile(norms, quantile)) if quantile < 1 else np.arange(len(X))
    if len(keep) > size:
        keep = np.sort(np.random.default_rng(seed).choice(keep, size, replace=False))
    return X[keep]


class ClusteredAE(TrainingParams, BaseDetector):
    """Base of KSAE and BAE: routing, per-cluster sub-models, normalisation, persistence.

    Subclasses list their hyper-parameters in ``__init__``, say how to cluster
    (:meth:`_routing`) and which sub-model parameters to use (:meth:`_submodel_params`).
    """

    tags = frozenset({"clusters"})
    #: SAE hyper-parameters a subclass passes through unchanged
    passthrough: ClassVar[tuple[str, ...]] = (
        "hidden", "latent", "dropout", "batch_size", "lr", "weight_decay", "validation_fraction",
        "patience", "device", "verbose")

    # ------------------------------------------------------------------------------ fitting
    def _routing(self, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(routing centres (M, d), cluster of each centre (M,)) from the clustering sample."""
        raise NotImplementedError

    def _submodel_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.passthrough}

    def _fit(self, X: np.ndarray) -> np.ndarray:
        sample = trimmed_sample(X, self.cluster_fit_quantile, self.cluster_fit_size, self.random_state)
        centres, labels = self._routing(sample)
        self.route_centres_ = np.ascontiguousarray(centres, dtype=np.float32)
        self.route_cluster_ = np.unique(labels, return_inverse=True)[1].astype(np.int64)
        cluster = self._assign(X)
        sizes = np.bincount(cluster, minlength=self.route_cluster_.max() + 1)
        kept = np.flatnonzero(sizes >= self.min_cluster_size)
        if len(kept) == 0:
            raise DataError(f"no cluster has {self.min_cluster_size} training rows; lower "
                            f"min_cluster_size or n_clusters ({len(X)} rows)")
        self.dropped_clusters_ = int(len(sizes) - len(kept))
        if self.dropped_clusters_:
            remap = np.full(len(sizes), -1)
            remap[kept] = np.arange(len(kept))
            use = remap[self.route_cluster_] >= 0
            self.route_centres_, self.route_cluster_ = self.route_centres_[use], remap[self.route_cluster_[use]]
            cluster = self._assign(X)
        self.cluster_sizes_ = np.bincount(cluster, minlength=len(kept)).tolist()
        base = self._submodel_params()
        n_mean = len(X) / len(kept)
        self.models_, held = [], []
        for k in range(len(kept)):
            params = dict(base, random_state=self.random_state + k, epochs=None)
            if self.epochs is not None:  # the thesis: smaller clusters train up to 3× longer
                params["epochs"] = int(np.rint(self.epochs * np.clip(n_mean / self.cluster_sizes_[k], 1, 3)))
            sub = SAE(**params)
            # one tracked child run per sub-model (MLflow under --track; a no-op otherwise):
            # its parameters, per-epoch losses (through the shared trainer) and its scale
            with track.nested_run(f"cluster_{k}", {**params, "cluster": k, "rows": self.cluster_sizes_[k]}):
                sub.fit(X[cluster == k])
                held.append(sub.calibration_scores_)
                track.log_metrics({"scale": self._scale_of(held[-1]), "rows": self.cluster_sizes_[k],
                                   "epochs_run": len(sub.history_)})
            self.models_.append(sub)
        self.scales_ = np.array([self._scale_of(s) for s in held], dtype=np.float64)
        return np.concatenate([s / c for s, c in zip(held, self.scales_, strict=True)])

    def _scale_of(self, calibration_scores: np.ndarray) -> float:
        if not self.normalize:
            return 1.0
        value = Quantile(self.threshold_quantile).fit(calibration_scores).value_
        return float(value) if value > 0 else 1.0

    # ------------------------------------------------------------------------------ scoring
    def _assign(self, X: np.ndarray) -> np.ndarray:
        nearest = pairwise_distances_argmin(X, self.route_centres_)
        return self.route_cluster_[nearest]

    def assign_clusters(self, X) -> np.ndarray:
        """The cluster (sub-model index) each row is routed to."""
        self._check_fitted()
        return self._assign(check_matrix(X, self.n_features_in_))

    def _score(self, X: np.ndarray) -> np.ndarray:
        cluster = self._assign(X)
        out = np.empty(len(X), dtype=np.float64)
        for k, model in enumerate(self.models_):
            rows = cluster == k
            if rows.any():
                out[rows] = model.score(X[rows]) / self.scales_[k]
        return out

    # --------------------------------------------------------------------------- persistence
    required_files = frozenset({WEIGHTS})
    optional_files = frozenset({HEADS_FILE})  # SAE heads with a LOF/OCSVM head

    def save_state(self, directory: Path) -> dict[str, Any]:
        """One safetensors file (``cluster<k>.<tensor>`` + routing arrays), the LOF/OCSVM heads
        in one skops file, and JSON metadata."""
        self._check_fitted()
        tensors = {"route.centres": torch.from_numpy(self.route_centres_),
                   "route.cluster": torch.from_numpy(self.route_cluster_),
                   "scales": torch.from_numpy(self.scales_)}
        for k, model in enumerate(self.models_):
            tensors.update({f"cluster{k}.{name}": t for name, t in model.state_tensors().items()})
        save_file(tensors, str(Path(directory) / WEIGHTS))
        heads = [getattr(m, "head_estimator_", None) for m in self.models_]
        if any(h is not None for h in heads):
            (Path(directory) / HEADS_FILE).write_bytes(dump_estimator(heads))
        return {"n_features_in": self.n_features_in_, "cluster_sizes": self.cluster_sizes_,
                "dropped_clusters": self.dropped_clusters_,
                "submodels": [dict(m.state_meta(), params=_jsonable(m.get_params()))
                              for m in self.models_]}

    def load_state(self, directory: Path | ModelFiles, meta: dict[str, Any]) -> None:
        tensors = dict(load_safetensors(state_file(directory, WEIGHTS), WEIGHTS))
        try:
            subs = meta["submodels"]
            centres = tensors.pop("route.centres").numpy()
            route = tensors.pop("route.cluster").numpy()
            scales = tensors.pop("scales").numpy()
        except KeyError as exc:
            raise ArtifactError(f"{WEIGHTS}: {exc.args[0]!r} is missing") from exc
        d, k = int(meta["n_features_in"]), len(subs)
        if k == 0 or centres.ndim != 2 or centres.shape[1] != d or route.shape != (len(centres),) \
                or scales.shape != (k,):
            raise ArtifactError(f"{WEIGHTS}: routing tensors (centres {centres.shape}, cluster "
                                f"{route.shape}, scales {scales.shape}) do not fit {k} clusters of {d} features")
        if route.dtype.kind not in "iu" or (len(route) and (route.min() < 0 or route.max() >= k)) \
                or not (scales > 0).all():
            raise ArtifactError(f"{WEIGHTS}: route.cluster must index the {k} clusters and scales be > 0")
        self.route_centres_, self.route_cluster_, self.scales_ = centres, route, scales
        heads: list[Any] = [None] * len(subs)
        if has_state_file(directory, HEADS_FILE):
            heads = load_skops(state_file(directory, HEADS_FILE), HEADS_FILE)
        self.models_ = []
        for k, sub_meta in enumerate(subs):
            params = validate_params(SAE, sub_meta["params"], f"config.json (sub-model {k})")
            model = SAE(**params)
            prefix = f"cluster{k}."
            model.restore_state({n[len(prefix):]: t for n, t in tensors.items() if n.startswith(prefix)},
                                sub_meta)
            head = heads[k] if isinstance(heads, list) and k < len(heads) else None
            expected = HEAD_ESTIMATORS.get(model.head)
            if (expected is None) != (head is None) or (expected and not isinstance(head, expected)):
                raise ArtifactError(f"{HEADS_FILE}: head of cluster {k} is not a {model.head} head")
            model.head_estimator_ = head
            self.models_.append(model)
        self.n_features_in_ = d
        self.cluster_sizes_ = [int(v) for v in meta["cluster_sizes"]]
        self.dropped_clusters_ = int(meta.get("dropped_clusters", 0))


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


class KSAE(ClusteredAE):
    """K-means shrink autoencoder: K-means in input space, one :class:`SAE` per cluster.

    ``n_clusters`` K; ``cluster_fit_quantile``/``cluster_fit_size`` trim and cap the K-means
    sample; ``min_cluster_size``: smaller clusters are merged into their neighbours;
    ``normalize``: see the module notes; the other parameters are the sub-models' (:class:`SAE`;
    with ``epochs`` given, a cluster smaller than average trains up to 3× more epochs).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (1500, 5)), rng.normal(6, 1, (1500, 5))]).astype("float32")
    >>> det = KSAE(n_clusters=2, hidden=(16,), latent=3, epochs=2).fit(X)
    >>> det.cluster_sizes_
    [1500, 1500]
    """

    passthrough = (*ClusteredAE.passthrough, "lmb", "head", "head_fit_size", "n_neighbors", "nu", "gamma")

    def __init__(self, n_clusters: int = 3, cluster_fit_quantile: float = 0.9,
                 cluster_fit_size: int = 15_000, min_cluster_size: int = 64,
                 normalize: bool = True, threshold_quantile: float = 0.99,
                 hidden: Sequence[int] = (256, 64), latent: int | None = 9, lmb: float = 50.0,
                 head: str = "cen", dropout: float = 0.0, head_fit_size: int = 15_000,
                 n_neighbors: int = 200, nu: float = 0.05, gamma: float | str = "scale",
                 epochs: int | None = None, batch_size: int = 1024, lr: float = 1e-3,
                 weight_decay: float = 0.0, validation_fraction: float = 0.1,
                 patience: int | None = 10, device: str = "auto", random_state: int = 0,
                 verbose: bool = False) -> None:
        self._init_params(locals())

    def _routing(self, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        km = KMeans(n_clusters=self.n_clusters, n_init=10, random_state=self.random_state).fit(sample)
        return km.cluster_centers_, np.arange(self.n_clusters)


class BAE(ClusteredAE):
    """BIRCH autoencoder: BIRCH in input space, one reconstruction-error AE per cluster.

    ``n_clusters`` K (BIRCH's global step), ``birch_threshold`` (subcluster radius, in the
    units of the preprocessed features) and ``branching_factor`` configure BIRCH; the other
    parameters are as in :class:`KSAE`, and each sub-model is ``SAE(lmb=0, head="re")``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (1500, 5)), rng.normal(8, 1, (1500, 5))]).astype("float32")
    >>> det = BAE(n_clusters=2, birch_threshold=1.0, hidden=(16,), latent=3, epochs=2).fit(X)
    >>> sorted(det.cluster_sizes_)
    [1500, 1500]
    """

    def __init__(self, n_clusters: int = 2, birch_threshold: float = 0.5,
                 branching_factor: int = 50, cluster_fit_quantile: float = 0.9,
                 cluster_fit_size: int = 15_000, min_cluster_size: int = 64,
                 normalize: bool = True, threshold_quantile: float = 0.99,
                 hidden: Sequence[int] = (256, 64), latent: int | None = 9, dropout: float = 0.0,
                 epochs: int | None = None, batch_size: int = 1024, lr: float = 3e-3,
                 weight_decay: float = 0.0, validation_fraction: float = 0.1,
                 patience: int | None = 10, device: str = "auto", random_state: int = 0,
                 verbose: bool = False) -> None:
        self._init_params(locals())

    def _submodel_params(self) -> dict[str, Any]:
        return dict(super()._submodel_params(), lmb=0.0, head="re")

    def _routing(self, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        birch = Birch(threshold=self.birch_threshold, branching_factor=self.branching_factor,
                      n_clusters=self.n_clusters).fit(sample.astype(np.float64))
        return birch.subcluster_centers_, birch.subcluster_labels_
