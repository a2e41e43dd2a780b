"""CAE: the clustering-based deep autoencoder (Nguyen et al. 2020, the thesis' "M-CEN" variant).

K centres c_1..c_K live in the latent space of the shared autoencoder backbone. Per batch

    L = mean_i (1/n)‖x_i − x̂_i‖² + λ_k · mean_i min_k ‖z_i − c_k‖² + λ_c · centring,

with ``centring`` = mean over the batch's non-empty clusters of ‖m_k‖², m_k the mean of the
batch latents assigned to centre k: the differentiable form of the centres' norm (after a Lloyd
step a centre *is* its cluster's mean), so it pulls the clusters towards the origin through the
encoder. ``legacy=True`` keeps the upstream term mean_k ‖c_k‖² on the constant centres, which
has no gradient and so does not influence training (thesis bug §4.10.1), for parity only.

Centres start from K-means on the latents of a seeded training sample; after every epoch one
Lloyd step moves each non-empty centre to the mean of the latents assigned to it during that
epoch. Score = distance to the nearest centre. Per-cluster thresholds θ_k (``threshold_quantile``
of the training distances within cluster k) are computed after training, in eval mode, on the
training rows (fixing thesis bug §4.10.4); :meth:`CAE.predict` applies them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

from nadkit.errors import ArtifactError
from nadkit.models.ae import AENet
from nadkit.models.sae import default_latent
from nadkit.models.torch_base import TorchDetector
from nadkit.validation import check_matrix


class CAENet(AENet):
    """Backbone + cluster centres (a buffer, moved by Lloyd steps, never by the optimiser).

    Every Lloyd step changes the objective (the distances are to new centres), so the losses
    of different epochs are not comparable: the trainer runs the whole budget and keeps the
    last weights (``select_epoch = False``), as the thesis did.
    """

    select_epoch = False

    def __init__(self, n_features: int, hidden: Sequence[int], latent: int, dropout: float,
                 n_clusters: int, clustering_force: float, centering_force: float,
                 legacy: bool) -> None:
        super().__init__(n_features, hidden, latent, "tanh", dropout, batch_norm=True, init="xavier")
        self.clustering_force = clustering_force
        self.centering_force = centering_force
        self.legacy = legacy
        self.register_buffer("centres", torch.zeros(n_clusters, latent))
        # the current epoch's per-cluster latent sums and counts (for the Lloyd step)
        self.register_buffer("epoch_sums", torch.zeros(n_clusters, latent), persistent=False)
        self.register_buffer("epoch_counts", torch.zeros(n_clusters), persistent=False)

    def squared_distances(self, z: torch.Tensor) -> torch.Tensor:
        """‖z_i − c_k‖² for every row and centre, shape (n, K)."""
        return (z.unsqueeze(1) - self.centres.unsqueeze(0)).square().sum(dim=2)

    def nearest(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(distance to the nearest centre, its index) per row."""
        d2, k = self.squared_distances(self.encode(x)).min(dim=1)
        return d2.sqrt(), k

    def training_loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encode(x)
        rec = (self.decoder(z) - x).square().mean(dim=1).mean()
        d2_min, k = self.squared_distances(z).min(dim=1)
        clustering = d2_min.mean()
        onehot = F.one_hot(k, len(self.centres)).to(z.dtype)              # (n, K)
        counts = onehot.sum(dim=0)
        if self.legacy:
            centring = self.centres.square().sum(dim=1).mean()            # constant: no gradient
        else:
            means = (onehot.T @ z) / counts.clamp(min=1).unsqueeze(1)     # batch cluster means
            present = counts > 0
            centring = means[present].square().sum(dim=1).mean()
        if self.training:
            self.epoch_sums += onehot.T @ z.detach()
            self.epoch_counts += counts.detach()
        loss = rec + self.clustering_force * clustering + self.centering_force * centring
        return {"loss": loss, "reconstruction": rec, "clustering": clustering, "centring": centring}

    @torch.no_grad()
    def lloyd_step(self) -> float:
        """Move each non-empty centre to its epoch mean; return the largest move; reset sums."""
        present = self.epoch_counts > 0
        new = self.centres.clone()
        new[present] = self.epoch_sums[present] / self.epoch_counts[present].unsqueeze(1)
        moved = float((new - self.centres).norm(dim=1).max()) if len(new) else 0.0
        self.centres.copy_(new)
        self.epoch_sums.zero_()
        self.epoch_counts.zero_()
        return moved

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        return {"centre_shift": self.lloyd_step()}


class CAE(TorchDetector):
    """Clustering autoencoder; score = latent distance to the nearest of ``n_clusters`` centres.

    ``clustering_force`` (λ_k) pulls latents to their nearest centre, ``centering_force`` (λ_c)
    pulls the clusters to the origin (differentiably; ``legacy=True``: the upstream constant
    term). ``init_size`` rows (seeded) give the K-means initialisation. ``threshold_quantile``
    sets the per-cluster thresholds ``cluster_thresholds_`` used by :meth:`predict`; the global
    ``threshold_`` (held-out training rows) is what the pipeline and CLI use. Training runs the
    whole ``epochs`` budget and keeps the last weights (:class:`CAENet`), so ``patience`` is
    not used; the held-out rows are still scored for the history and the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(2000, 6)).astype("float32")
    >>> det = CAE(hidden=(16,), latent=3, n_clusters=2, epochs=3).fit(X)
    >>> det.assign_clusters(X[:4]).shape, len(det.cluster_thresholds_)
    ((4,), 2)
    """

    tags = frozenset({"clusters"})

    def __init__(self, hidden: Sequence[int] = (256, 64), latent: int | None = 9,
                 n_clusters: int = 2, clustering_force: float = 300.0, centering_force: float = 1500.0,
                 legacy: bool = False, threshold_quantile: float = 0.99, init_size: int = 4096,
                 dropout: float = 0.0, epochs: int | None = None, batch_size: int = 1024,
                 lr: float = 1e-3, weight_decay: float = 0.0, validation_fraction: float = 0.1,
                 patience: int | None = None, device: str = "auto", random_state: int = 0,
                 verbose: bool = False) -> None:
        self._init_params(locals())

    def _build_net(self, n_features: int) -> CAENet:
        latent = self.latent or default_latent(n_features)
        return CAENet(n_features, list(self.hidden), latent, self.dropout, self.n_clusters,
                      self.clustering_force, self.centering_force, self.legacy)

    def _before_training(self, X_train: np.ndarray) -> None:
        """K-means centres on the training-mode latents of a seeded sample (a copy of the net,
        so the BatchNorm running statistics of the real one stay untouched)."""
        rng = np.random.default_rng(self.random_state)
        take = np.sort(rng.choice(len(X_train), min(self.init_size, len(X_train)), replace=False))
        probe = copy.deepcopy(self.net_).train()
        with torch.no_grad():
            z = probe.encode(torch.from_numpy(X_train[take])).numpy().astype(np.float64)
        k = min(self.n_clusters, len(np.unique(z.round(6), axis=0)))
        km = KMeans(n_clusters=k, n_init=10, random_state=self.random_state).fit(z)
        centres = np.resize(km.cluster_centers_, (self.n_clusters, z.shape[1]))
        self.net_.centres.copy_(torch.from_numpy(centres.astype(np.float32)))

    def _after_training(self, X_train: np.ndarray) -> None:
        dist, k = self._nearest(X_train)
        q = self.threshold_quantile
        overall = float(np.quantile(dist, q))
        self.cluster_thresholds_ = [float(np.quantile(dist[k == c], q)) if (k == c).any() else overall
                                    for c in range(self.n_clusters)]
        self.cluster_sizes_ = np.bincount(k, minlength=self.n_clusters).tolist()

    def _nearest(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self._batched(X, lambda x: torch.stack([t.float() for t in self.net_.nearest(x)], 1))
        return out[:, 0].astype(np.float64), out[:, 1].astype(np.int64)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._batched(X, lambda x: self.net_.nearest(x)[0])

    def assign_clusters(self, X) -> np.ndarray:
        """Index of the nearest latent centre per row."""
        self._check_fitted()
        return self._nearest(check_matrix(X, self.n_features_in_))[1]

    def predict(self, X) -> np.ndarray:
        """0/1 labels: anomaly iff the distance exceeds the threshold of the row's cluster."""
        self._check_fitted()
        dist, k = self._nearest(check_matrix(X, self.n_features_in_))
        return (dist > np.asarray(self.cluster_thresholds_)[k]).astype(np.int8)

    def _extra_state(self) -> dict[str, Any]:
        return {"cluster_thresholds": self.cluster_thresholds_, "cluster_sizes": self.cluster_sizes_}

    def _load_extra_state(self, meta: dict[str, Any]) -> None:
        self.cluster_thresholds_ = [float(v) for v in meta["cluster_thresholds"]]
        if len(self.cluster_thresholds_) != self.n_clusters or not np.isfinite(self.cluster_thresholds_).all():
            raise ArtifactError(f"config.json: cluster_thresholds must hold {self.n_clusters} finite values")
        self.cluster_sizes_ = [int(v) for v in meta.get("cluster_sizes", [])]
