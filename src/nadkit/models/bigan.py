"""BiGAN: encoder, generator and a discriminator on (x, z), scored as in Efficient-GAN.

Training (Donahue et al. 2017; Zenati et al. 2018 "Efficient GAN-based anomaly detection"):
the discriminator D learns to tell real pairs (x, E(x)) from generated pairs (G(z), z),
z ~ N(0, I); the encoder E and generator G are trained together to fool it. Each batch makes
one D step and one E/G step (manual optimisation in the shared trainer), over real epochs.

Score of a row (higher = more anomalous)::

    A(x) = (1 − w) · ‖x − G(E(x))‖₁ + w · L_D(x)

with L_D per row: ``"cross-entropy"`` = −log σ(D(x, E(x))) (how fake the real pair looks to
D), or ``"feature-matching"`` = ‖f_D(x, E(x)) − f_D(G(E(x)), E(x))‖₁ on D's last hidden
layer. Scores are deterministic (E, G and D in eval mode, no sampling).

Differences from the Cloudera prototype (seeds-spec §2.2), which this fixes: real epochs
instead of one batch per "epoch"; the intended LeakyReLU + dropout on D's inputs (upstream
dropped the LeakyReLU); L_D per row instead of one batch-averaged scalar; separate
optimisers for D and for E+G.

``cycle=True`` adds ALAD's cycle discriminator D_xx (Zenati et al. 2018, "Adversarially learned
anomaly detection"): it tells (x, x) from (x, G(E(x))), so E and G learn to reconstruct — the
BiGAN objective alone inverts G only approximately.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nadkit.errors import DataError
from nadkit.models.nn.blocks import TrainableNet, mlp
from nadkit.models.torch_base import TorchDetector

SCORE_MODES = ("cross-entropy", "feature-matching")
OUTPUTS = ("sigmoid", "linear")


class _Discriminator(nn.Module):
    """D(x, z): LeakyReLU + dropout on each input, concat, dense feature layers, one logit."""

    def __init__(self, n_features: int, latent: int, hidden: Sequence[int], input_dropout: float,
                 dropout: float) -> None:
        super().__init__()
        self.inputs = nn.Sequential(nn.LeakyReLU(0.2), nn.Dropout(input_dropout))
        layers: list[nn.Module] = []
        width = n_features + latent
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.1), nn.Dropout(dropout)]
            width = h
        self.features = nn.Sequential(*layers)
        self.logit = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(torch.cat([self.inputs(x), self.inputs(z)], dim=1))
        return self.logit(f).squeeze(1), f


class BiGANNet(TrainableNet):
    """Encoder ``d → hidden → latent`` (LeakyReLU), generator ``latent → hidden → d`` (ReLU,
    sigmoid or linear output) and the discriminator on (x, z)."""

    manual_optimization = True

    def __init__(self, n_features: int, latent: int, hidden: Sequence[int],
                 disc_hidden: Sequence[int], output: str, input_dropout: float, dropout: float,
                 score_weight: float, score_mode: str, cycle: bool = False) -> None:
        super().__init__()
        self.latent = latent
        self.encoder = mlp([n_features, *hidden, latent], "leaky_relu")
        self.generator = nn.Sequential(mlp([latent, *reversed(hidden), n_features], "relu"),
                                       nn.Sigmoid() if output == "sigmoid" else nn.Identity())
        self.disc = _Discriminator(n_features, latent, disc_hidden, input_dropout, dropout)
        # ALAD's D_xx on (x, x'): real (x, x), fake (x, G(E(x)))
        self.disc_xx = (_Discriminator(n_features, n_features, disc_hidden, input_dropout, dropout)
                        if cycle else None)
        self.score_weight = score_weight
        self.score_mode = score_mode

    # ------------------------------------------------------------------------------ training
    @staticmethod
    def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    def _pair_logits(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """D's logits for the real pair (x, E(x)) and the generated pair (G(z), z)."""
        real, _ = self.disc(x, self.encoder(x))
        fake, _ = self.disc(self.generator(z), z)
        return real, fake

    def manual_step(self, batch: torch.Tensor, optimizers: Sequence[torch.optim.Optimizer],
                    backward: Callable[[torch.Tensor], None]) -> dict[str, torch.Tensor]:
        opt_d, opt_ge = optimizers
        x = batch
        z = torch.randn(len(x), self.latent, device=x.device, dtype=x.dtype)
        discs = [d for d in (self.disc, self.disc_xx) if d is not None]
        # discriminators: real pairs → 1, generated pairs → 0 (E and G fixed)
        with torch.no_grad():
            z_hat, x_fake = self.encoder(x), self.generator(z)
        real, _ = self.disc(x, z_hat)
        fake, _ = self.disc(x_fake, z)
        d_loss = 0.5 * (self._bce(real, 1.0) + self._bce(fake, 0.0))
        if self.disc_xx is not None:
            with torch.no_grad():
                x_rec = self.generator(z_hat)
            same, _ = self.disc_xx(x, x)
            rec, _ = self.disc_xx(x, x_rec)
            d_loss = d_loss + 0.5 * (self._bce(same, 1.0) + self._bce(rec, 0.0))
        opt_d.zero_grad()
        backward(d_loss)
        opt_d.step()
        # encoder + generator: the flipped labels (discriminators fixed)
        for d in discs:
            d.requires_grad_(False)
        real, fake = self._pair_logits(x, z)
        ge_loss = 0.5 * (self._bce(fake, 1.0) + self._bce(real, 0.0))
        if self.disc_xx is not None:
            rec, _ = self.disc_xx(x, self.generator(self.encoder(x)))
            ge_loss = ge_loss + self._bce(rec, 1.0)
        opt_ge.zero_grad()
        backward(ge_loss)
        opt_ge.step()
        for d in discs:
            d.requires_grad_(True)
        with torch.no_grad():
            rec = (x - self.generator(self.encoder(x))).abs().sum(dim=1).mean()
        return {"loss": rec, "d_loss": d_loss.detach(), "ge_loss": ge_loss.detach()}

    def validation_loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Monitored on held-out normal rows: L1 reconstruction (``loss``) and the score."""
        residual, ld = self.score_terms(x)
        rec = residual.sum(dim=1)
        return {"loss": rec.mean(), "score": self.combine(rec, ld).mean()}

    def configure_optimizers(self, lr: float, weight_decay: float, total_steps: int,
                             scheduler: str | None) -> Any:
        """Adam (β₁ = 0.5, the usual GAN setting) for D and for E+G, each with its own schedule."""
        ge_params = [*self.encoder.parameters(), *self.generator.parameters()]
        d_params = [*self.disc.parameters(),
                    *(self.disc_xx.parameters() if self.disc_xx is not None else ())]
        opts = [torch.optim.Adam(p, lr=lr, betas=(0.5, 0.999), weight_decay=weight_decay)
                for p in (d_params, ge_params)]
        if scheduler in (None, "none") or total_steps <= 0:
            return opts
        if scheduler != "cosine":
            raise ValueError(f"unknown scheduler {scheduler!r}")
        scheds = [{"scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total_steps),
                   "interval": "step"} for o in opts]
        return opts, scheds

    # ------------------------------------------------------------------------------- scoring
    def score_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(|x − G(E(x))| per feature, L_D per row)."""
        z = self.encoder(x)
        x_rec = self.generator(z)
        if self.score_mode == "cross-entropy":
            logit, _ = self.disc(x, z)
            ld = F.softplus(-logit)  # = BCE(D(x, E(x)), 1)
        else:
            _, f_real = self.disc(x, z)
            _, f_rec = self.disc(x_rec, z)
            ld = (f_real - f_rec).abs().sum(dim=1)
        return (x - x_rec).abs(), ld

    def combine(self, rec: torch.Tensor, ld: torch.Tensor) -> torch.Tensor:
        return (1.0 - self.score_weight) * rec + self.score_weight * ld

    def score(self, x: torch.Tensor) -> torch.Tensor:
        residual, ld = self.score_terms(x)
        return self.combine(residual.sum(dim=1), ld)

    def feature_scores(self, x: torch.Tensor) -> torch.Tensor:
        """The score split over features in proportion to each feature's L1 residual."""
        residual, ld = self.score_terms(x)
        total = residual.sum(dim=1, keepdim=True)
        share = torch.where(total > 0, residual / total.clamp_min(1e-30),
                            torch.full_like(residual, 1.0 / residual.shape[1]))
        return (1.0 - self.score_weight) * residual + self.score_weight * ld.unsqueeze(1) * share


class BiGAN(TorchDetector):
    """BiGAN anomaly detector (Efficient-GAN score), trained in the shared trainer.

    Parameters beyond the common torch ones (see :class:`TorchDetector`): ``latent`` (size of
    z), ``hidden`` (encoder widths; the generator mirrors them), ``disc_hidden`` (D's feature
    layers), ``output`` ("sigmoid" for inputs scaled to [0, 1], the Preprocessor default, or
    "linear"), ``input_dropout``/``dropout`` in D, ``score_weight`` (w in the score),
    ``score_mode`` ("cross-entropy" or "feature-matching"). The held-out normal rows
    (``validation_fraction``) are monitored by their L1 reconstruction error, which picks the
    epoch whose weights are kept. ``cycle=True`` (default) adds ALAD's D_xx cycle
    discriminator; ``cycle=False`` is the plain BiGAN. ``ema`` (a decay such as 0.999, None =
    off) keeps an exponential moving average of the weights during training; the average is
    what is validated and kept (weight averaging steadies GAN training, Yazıcı et al. 2019).
    The defaults (cycle, lr 2e-4) were chosen on the Cloudera protocol's validation split
    (docs/benchmarks.md).

    ``score_features`` splits each row's score over the features in proportion to their L1
    residual |x − G(E(x))|, so a row's contributions sum to its score.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(0.3, 0.7, size=(3000, 6)).astype("float32")
    >>> det = BiGAN(latent=2, epochs=5, random_state=0).fit(X)
    >>> outlier = np.full((1, 6), 1.0, dtype="float32")
    >>> bool(det.score(outlier)[0] > np.quantile(det.score(X), 0.99))
    True
    """

    tags = frozenset({"feature_scores"})
    step_budget = 10_000  # epochs=None: about 10,000 steps (a GAN needs more than an AE)

    def __init__(self, latent: int = 8, hidden: Sequence[int] = (128,),
                 disc_hidden: Sequence[int] = (128,), output: str = "sigmoid",
                 input_dropout: float = 0.2, dropout: float = 0.2, score_weight: float = 0.1,
                 score_mode: str = "cross-entropy", cycle: bool = True, ema: float | None = None,
                 epochs: int | None = None,
                 batch_size: int = 256, lr: float = 2e-4, weight_decay: float = 0.0,
                 validation_fraction: float = 0.1, patience: int | None = None,
                 device: str = "auto", random_state: int = 0, verbose: bool = False) -> None:
        self._init_params(locals())

    def _check_score_params(self) -> None:
        if self.score_mode not in SCORE_MODES:
            raise DataError(f"score_mode must be one of {SCORE_MODES}, got {self.score_mode!r}")
        if not 0.0 <= self.score_weight <= 1.0:
            raise DataError(f"score_weight must be in [0, 1], got {self.score_weight}")

    def _build_net(self, n_features: int) -> nn.Module:
        self._check_score_params()
        if self.output not in OUTPUTS:
            raise DataError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        return BiGANNet(n_features, self.latent, list(self.hidden), list(self.disc_hidden),
                        self.output, self.input_dropout, self.dropout, self.score_weight,
                        self.score_mode, bool(self.cycle))

    @property
    def _trainer_overrides(self) -> dict[str, Any]:
        return {"ema": self.ema}

    def _scoring_net(self) -> BiGANNet:
        """The net, scoring with the detector's current ``score_weight`` and ``score_mode``: they
        only combine what the trained networks compute, so they may be set after fitting (e.g.
        ``set_params(score_weight=w)`` chosen on a labelled validation split)."""
        self._check_score_params()
        self.net_.score_weight, self.net_.score_mode = float(self.score_weight), self.score_mode
        return self.net_

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._batched(X, self._scoring_net().score)

    def _score_features(self, X: np.ndarray) -> np.ndarray:
        return self._batched(X, self._scoring_net().feature_scores)
