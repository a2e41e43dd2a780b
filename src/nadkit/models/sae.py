"""SAE: the shrink autoencoder (Cao, Nicolau & McDermott 2019) with a one-class head on its latents.

The network is the shared autoencoder backbone (:class:`~nadkit.models.ae.AENet`: tanh,
BatchNorm, Xavier-uniform weights, bias 0.01, hidden sizes like [256, 64, d_z]) trained on

    ℓ(x) = (1/n)‖x − x̂‖² + λ‖z‖²,

which squeezes normal rows towards the origin of the latent space. After training, a one-class
head scores the latents z of the (eval-mode) network:

* ``"cen"``: distance to the centroid μ of the training latents, ‖z − μ‖₂;
* ``"lof"``: Local Outlier Factor (novelty mode) on a seeded sample of training latents;
* ``"ocsvm"``: One-Class SVM (RBF) on the same sample;
* ``"re"``: the reconstruction error (1/n)‖x − x̂‖² (with ``lmb=0`` this is the thesis' AE(RE)).

The thesis squashed scores with tanh or 1 − sigmoid; both are monotone, so they change no
ranking, and are left out (tanh saturates to ties in float arithmetic). LOF/OCSVM scores are
``-decision_function``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import OneClassSVM

from nadkit.artifact_schema import ModelFiles, state_file
from nadkit.errors import DataError
from nadkit.models.ae import AENet
from nadkit.models.sklearn_models import dump_estimator, load_estimator
from nadkit.models.torch_base import TorchDetector

HEADS = ("cen", "lof", "ocsvm", "re")
HEAD_FILE = "head.skops"


def default_latent(n_features: int) -> int:
    """Bottleneck width ⌊√n⌋ + 1 (Cao et al.'s rule used in the thesis' tuning).

    >>> default_latent(121)
    12
    """
    return math.isqrt(n_features) + 1


class SAENet(AENet):
    """Backbone + shrink penalty λ·‖z‖² (λ = 0: a plain MSE autoencoder)."""

    def __init__(self, n_features: int, hidden: Sequence[int], latent: int, dropout: float,
                 lmb: float) -> None:
        super().__init__(n_features, hidden, latent, "tanh", dropout, batch_norm=True, init="xavier")
        self.lmb = lmb
        self.register_buffer("centroid", torch.zeros(latent))

    def training_loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encode(x)
        rec = (self.decoder(z) - x).square().mean(dim=1).mean()
        shrink = z.square().sum(dim=1).mean()
        return {"loss": rec + self.lmb * shrink, "reconstruction": rec, "shrink": shrink}


class SAE(TorchDetector):
    """Shrink autoencoder with a one-class head on its latent space.

    ``hidden`` are the encoder's hidden widths and ``latent`` the bottleneck (None: ⌊√d⌋ + 1);
    ``lmb`` weights the shrink penalty; ``head`` ∈ {"cen", "lof", "ocsvm", "re"};
    ``head_fit_size`` caps the seeded sample of training latents LOF/OCSVM are fitted on;
    ``n_neighbors`` (LOF) and ``nu``/``gamma`` (OCSVM) configure the heads. Training goes
    through the shared trainer (AdamW, cosine schedule; ``epochs=None`` ≈ 2,000 steps).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(2000, 6)).astype("float32")
    >>> det = SAE(hidden=(16,), latent=3, epochs=3, head="cen").fit(X)
    >>> det.score(X[:3]).shape, det.latents(X[:3]).shape
    ((3,), (3, 3))
    """

    def __init__(self, hidden: Sequence[int] = (256, 64), latent: int | None = 9,
                 lmb: float = 50.0, head: str = "cen", dropout: float = 0.0,
                 head_fit_size: int = 15_000, n_neighbors: int = 200, nu: float = 0.05,
                 gamma: float | str = "scale", epochs: int | None = None, batch_size: int = 1024,
                 lr: float = 1e-3, weight_decay: float = 0.0, validation_fraction: float = 0.1,
                 patience: int | None = 10, device: str = "auto", random_state: int = 0,
                 verbose: bool = False) -> None:
        self._init_params(locals())

    # ----------------------------------------------------------------------------- network
    def _build_net(self, n_features: int) -> SAENet:
        if self.head not in HEADS:
            raise DataError(f"head must be one of {HEADS}, got {self.head!r}")
        latent = self.latent or default_latent(n_features)
        return SAENet(n_features, list(self.hidden), latent, self.dropout, self.lmb)

    def latents(self, X: np.ndarray) -> np.ndarray:
        """The eval-mode latent codes z of ``X`` (float32, shape (n, d_z))."""
        return self._batched(X, self.net_.encode)

    def _after_training(self, X_train: np.ndarray) -> None:
        self.head_estimator_ = None
        if self.head == "re":
            return
        z = self.latents(X_train)
        if self.head == "cen":
            self.net_.centroid.copy_(torch.from_numpy(z.mean(axis=0)))
            return
        if len(z) > self.head_fit_size:
            rng = np.random.default_rng(self.random_state)
            z = z[np.sort(rng.choice(len(z), self.head_fit_size, replace=False))]
        if self.head == "lof":
            est = LocalOutlierFactor(n_neighbors=min(self.n_neighbors, len(z) - 1), novelty=True,
                                     algorithm="kd_tree")
        else:
            est = OneClassSVM(nu=self.nu, gamma=self.gamma, cache_size=1000)
        self.head_estimator_ = est.fit(z.astype(np.float64))

    # ----------------------------------------------------------------------------- scoring
    def _score(self, X: np.ndarray) -> np.ndarray:
        net = self.net_
        if self.head == "re":
            return self._batched(X, lambda x: net.squared_errors(x).mean(dim=1))
        if self.head == "cen":
            return self._batched(X, lambda x: (net.encode(x) - net.centroid).norm(dim=1))
        z = self.latents(X).astype(np.float64)
        return -self.head_estimator_.decision_function(z)

    # ------------------------------------------------------------------------- persistence
    optional_files = frozenset({HEAD_FILE})  # with a LOF/OCSVM head

    def save_state(self, directory: Path) -> dict[str, Any]:
        meta = super().save_state(directory)
        if getattr(self, "head_estimator_", None) is not None:
            (Path(directory) / HEAD_FILE).write_bytes(dump_estimator(self.head_estimator_))
        return meta

    def load_state(self, directory: Path | ModelFiles, meta: dict[str, Any]) -> None:
        super().load_state(directory, meta)
        self.head_estimator_ = None
        if self.head in ("lof", "ocsvm"):
            self.head_estimator_ = load_estimator(state_file(directory, HEAD_FILE), HEAD_ESTIMATORS[self.head],
                                                  HEAD_FILE)

    def _load_extra_state(self, meta: dict[str, Any]) -> None:
        if self.head not in HEADS:
            raise DataError(f"head must be one of {HEADS}, got {self.head!r}")


HEAD_ESTIMATORS: dict[str, type] = {"lof": LocalOutlierFactor, "ocsvm": OneClassSVM}
