"""Seq2Seq: an LSTM encoder–decoder that reconstructs windows of a multivariate series
(EncDec-AD, Malhotra et al. 2016).

Each window (``window`` steps × all channels) is read by the encoder LSTM; its final state
starts the decoder, which reconstructs the window in reverse order (most recent step first).
Training uses teacher forcing: the decoder's input at each step is the true previous target
(zeros for the first). Unlike the Cloudera AMP (which fed one 18-feature row as an 18-step
univariate sequence, seeds-spec §2.2), a sequence here is a stretch of time and every step
carries all channels.

Score: the reconstruction of the **last step** of the window ending at t, which is the
decoder's first output and needs no teacher input, so scoring is one batched encoder pass per
window plus one decoder step (no per-sample Python loop, causal: ``context_ = window``).
``μ`` is that reconstruction; ``σ`` is a per-channel residual scale, the root-mean-square
reconstruction error on the validation tail of the training series (normal data), so the
channel score ``|x − μ|/σ`` is the standardised reconstruction error and the per-channel α
bands (``nadkit calibrate --method alpha``) work as for DC-VAE.

Examples
--------
>>> import numpy as np
>>> t = np.arange(2000, dtype="float32")
>>> X = np.stack([np.sin(t / 10), np.cos(t / 15)], axis=1)
>>> det = Seq2Seq(window=16, hidden=16, epochs=2, random_state=0).fit(X)
>>> det.score(X).shape, det.residual_scale_.shape
((2000,), (2,))
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nadkit.models.nn.blocks import TrainableNet
from nadkit.models.series_base import TorchSeriesDetector
from nadkit.models.torch_base import ReconstructionDetector


class Seq2SeqNet(TrainableNet):
    """LSTM encoder and reverse-order LSTM decoder with a linear read-out; windows are (b, c, T)."""

    def __init__(self, n_channels: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        drop = dropout if layers > 1 else 0.0
        self.encoder = nn.LSTM(n_channels, hidden, num_layers=layers, batch_first=True, dropout=drop)
        self.decoder = nn.LSTM(n_channels, hidden, num_layers=layers, batch_first=True, dropout=drop)
        self.readout = nn.Linear(hidden, n_channels)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced reconstruction, (b, T, c) in reverse time order (x_T first)."""
        seq = x.transpose(1, 2).flip(1)                       # (b, T, c): x_T, x_{T-1}, …, x_1
        _, state = self.encoder(x.transpose(1, 2))
        inputs = torch.cat([torch.zeros_like(seq[:, :1]), seq[:, :-1]], dim=1)
        out, _ = self.decoder(inputs, state)
        return self.readout(out)

    def training_loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        target = x.transpose(1, 2).flip(1)
        return {"loss": (self.reconstruct(x) - target).square().mean()}

    def last_step(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of each window's last step (b, c): the decoder's first output."""
        _, state = self.encoder(x.transpose(1, 2))
        out, _ = self.decoder(torch.zeros(x.shape[0], 1, x.shape[1], dtype=x.dtype, device=x.device), state)
        return self.readout(out[:, 0])


class Seq2Seq(TorchSeriesDetector):
    """LSTM encoder–decoder over windows of a multivariate series (see the module docs)."""

    def __init__(self, window: int = 64, hidden: int = 64, layers: int = 1, dropout: float = 0.0,
                 aggregate: str = "mean", epochs: int | None = None, step_budget: int = 1000,
                 batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
                 validation_fraction: float = 0.2, train_stride: int = 4, patience: int | None = 5,
                 device: str = "auto", random_state: int = 0, verbose: bool = False) -> None:
        self._init_params(locals())

    def _build_net(self, n_features: int) -> nn.Module:
        return Seq2SeqNet(n_features, self.hidden, self.layers, self.dropout)

    def _expected(self, X: np.ndarray) -> np.ndarray:
        return self._windows(X, lambda w: (self.net_.last_step(w),))[0]

    def _mu_sigma(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = self._expected(X)
        return mu, np.broadcast_to(self.residual_scale_, mu.shape)


class RowSeq2SeqNet(Seq2SeqNet):
    """:class:`Seq2SeqNet` over table rows: each row of d features is a univariate d-step sequence."""

    def __init__(self, hidden: int, layers: int, dropout: float) -> None:
        super().__init__(1, hidden, layers, dropout)

    def squared_errors(self, x: torch.Tensor) -> torch.Tensor:
        """Per-feature squared error of the teacher-forced reconstruction, (b, d) in feature order."""
        recon = self.reconstruct(x.unsqueeze(1))[..., 0].flip(1)
        return (recon - x).square()

    def training_loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": self.squared_errors(batch).mean()}


class RowSeq2Seq(ReconstructionDetector):
    """Seq2Seq on flow records, as the Cloudera prototype used it (seeds-spec §2.2): each row's
    features, in column order, are read as a univariate sequence and reconstructed by the LSTM
    encoder–decoder; score = mean squared reconstruction error over the features.

    Fixes against upstream: the target is the sequence itself (no circular roll), and scoring
    is one batched teacher-forced pass (each step predicted from the true previous feature)
    instead of a per-row greedy decode, so the whole test split is scored, not 480 resampled rows.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(2000, 8)).astype("float32")
    >>> det = RowSeq2Seq(hidden=8, epochs=2, random_state=0).fit(X)
    >>> det.score(X).shape
    (2000,)
    """

    def __init__(self, hidden: int = 32, layers: int = 1, dropout: float = 0.0,
                 epochs: int | None = None, batch_size: int = 512, lr: float = 3e-3,
                 weight_decay: float = 0.0, validation_fraction: float = 0.1,
                 patience: int | None = 10, device: str = "auto", random_state: int = 0,
                 verbose: bool = False) -> None:
        self._init_params(locals())

    def _build_net(self, n_features: int) -> nn.Module:
        return RowSeq2SeqNet(self.hidden, self.layers, self.dropout)
