"""AE: a dense autoencoder scored by mean squared reconstruction error."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nadkit.models.nn.blocks import TrainableNet, mlp
from nadkit.models.torch_base import ReconstructionDetector


class AENet(TrainableNet):
    """Encoder ``d → hidden… → latent`` and mirrored decoder with a linear output.

    The shared autoencoder backbone: AE uses it as is; the clustering autoencoders (SAE, CAE,
    KSAE, BAE) subclass it with their latent-space losses (tanh, BatchNorm, ``init="xavier"``).
    """

    def __init__(self, n_features: int, hidden: Sequence[int], latent: int, activation: str,
                 dropout: float, batch_norm: bool, init: str | None = None) -> None:
        super().__init__()
        sizes = [n_features, *hidden, latent]
        self.encoder = mlp(sizes, activation, dropout, batch_norm, init=init)
        self.decoder = mlp(sizes[::-1], activation, dropout, batch_norm, init=init)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def squared_errors(self, x: torch.Tensor) -> torch.Tensor:
        return (self(x) - x).square()

    def training_loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": self.squared_errors(batch).mean()}


class AE(ReconstructionDetector):
    """Dense autoencoder; score = mean squared reconstruction error over features.

    ``score_features`` gives each feature's squared error divided by the number of features,
    so a row's contributions sum to its score. Dropout 0.2 and batch norm are on by default:
    chosen by benchmarks/flow_candidates.py's leave-one-dataset-out rule over NSL-KDD, KDD Cup 99
    and UNSW-NB15, because the regularised network's scores drift least when the normal traffic
    of the test files moves away from that of the training files (docs/benchmarks.md).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 6)).astype("float32")
    >>> det = AE(hidden=(16,), latent=3, epochs=3, random_state=0).fit(X)
    >>> outlier = X[:1] + 8
    >>> bool(det.score(outlier)[0] > det.score(X).max())
    True
    """

    def __init__(self, hidden: Sequence[int] = (64, 32), latent: int = 16, activation: str = "relu",
                 dropout: float = 0.2, batch_norm: bool = True, epochs: int | None = None,
                 batch_size: int = 1024, lr: float = 3e-3, weight_decay: float = 0.0,
                 validation_fraction: float = 0.1, patience: int | None = 10,
                 device: str = "auto", random_state: int = 0, verbose: bool = False) -> None:
        self._init_params(locals())

    def _build_net(self, n_features: int) -> nn.Module:
        return AENet(n_features, list(self.hidden), self.latent, self.activation,
                     self.dropout, self.batch_norm)
